-- Doorstep field store, schema version 1.
-- One row describing this laptop (the device) and its sequence counter.
CREATE TABLE device (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    device_id   TEXT    NOT NULL,
    device_name TEXT    NOT NULL,
    unit_code   TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    -- Highest device_seq handed out; bumped in the same transaction as the
    -- record insert, so the sequence is gap-free.
    last_seq    INTEGER NOT NULL DEFAULT 0
);

-- The administrative unit list the records are validated against, kept
-- verbatim so validation never depends on a file outside the store.
CREATE TABLE unit_list (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    source     TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    csv        BLOB    NOT NULL,
    loaded_at  TEXT    NOT NULL
);

-- Every enrollment record, immutable once written: corrections are new
-- rows that supersede older ones. `canonical` holds the canonical bytes
-- whose SHA-256 is `content_hash`.
CREATE TABLE records (
    device_seq   INTEGER PRIMARY KEY,
    record_id    TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    content_hash BLOB    NOT NULL,
    -- SHA-256 of the canonical body: the same capture enrolled twice is
    -- found through body_key (its first 8 bytes as an integer: a small
    -- index that stays cached) and confirmed on the full hash.
    body_hash    BLOB    NOT NULL,
    body_key     INTEGER NOT NULL,
    canonical    BLOB    NOT NULL,
    enrolled_at  TEXT    NOT NULL,
    supersedes   TEXT    REFERENCES records(record_id),
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'held', 'confirmed', 'rejected')),
    status_at    TEXT    NOT NULL
);
CREATE INDEX records_by_status ON records(status, device_seq);
CREATE INDEX records_by_body_key ON records(body_key);
