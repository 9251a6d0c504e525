-- Schema version 7: records sealed to central's key (proto/sync-v1.md §17).
-- Central's X25519 public sealing key (the secret half is the file
-- seal.key in the data directory). Stations have none: they cannot open
-- what they relay.
CREATE TABLE seal_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    public_key BLOB    NOT NULL,
    created_at TEXT    NOT NULL
);
-- 1: `canonical` holds the record as sealed (SealedRecord JSON), as a
-- station keeps what it relays; 0: the canonical record bytes.
ALTER TABLE records ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
