-- Schema version 8: citizen data protected at rest (docs/adr/0009).
-- The store's data key, wrapped by a key derived from the officer's
-- passphrase with Argon2id; the passphrase is never stored.
CREATE TABLE vault (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    kdf        TEXT    NOT NULL CHECK (kdf = 'argon2id'),
    m_kib      INTEGER NOT NULL,
    t_cost     INTEGER NOT NULL,
    p_cost     INTEGER NOT NULL,
    salt       BLOB    NOT NULL,
    wrapped    BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    changed_at TEXT    NOT NULL
);

-- 1: `canonical` holds the record encrypted under the store's key (bound
-- to `content_hash`) and `body_hash` is keyed; 0: a record stored before
-- this version, in plaintext until the store is first unlocked.
ALTER TABLE records ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;
-- The record sealed to central's key (JSON, proto/sync-v1.md §17): what
-- sync and bundles send. NULL before the laptop knows central's key.
ALTER TABLE records ADD COLUMN sealed BLOB;
-- When the citizen data of a confirmed record was purged (retention):
-- `canonical` is then empty and `sealed` NULL; IDs, hashes, signature,
-- journal and receipts stay.
ALTER TABLE records ADD COLUMN purged_at TEXT;

-- What sync and retention look for, without reading every record: rows
-- still in plaintext (stores from before this version), rows not sealed to
-- central yet, and confirmed rows whose citizen data is still here. Each
-- is empty in the steady state of a provisioned laptop, so enroll pays
-- nothing for them there.
CREATE INDEX records_plain ON records(device_seq) WHERE protected = 0;
CREATE INDEX records_unsealed ON records(status, device_seq)
    WHERE sealed IS NULL AND purged_at IS NULL;
CREATE INDEX records_to_purge ON records(status_at)
    WHERE status = 'confirmed' AND purged_at IS NULL;

-- Central's X25519 key records are sealed to (from registration).
ALTER TABLE device ADD COLUMN seal_key BLOB;
-- Days a confirmed record's citizen data is kept before it is purged.
ALTER TABLE device ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 7;

DROP VIEW outbox;
CREATE VIEW outbox AS
    SELECT device_seq, record_id, kind, content_hash, canonical, status, attempts, last_error,
           signature, protected, sealed
    FROM records
    WHERE status IN ('pending', 'held')
    ORDER BY device_seq;
