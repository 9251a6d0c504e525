-- Schema version 3: what the sync client did, and every receipt it got.
-- One row per event of a sync session (started, batch sent, batch failed,
-- finished), so "why is my queue not empty?" always has an answer.
CREATE TABLE sync_log (
    id         INTEGER PRIMARY KEY,
    session_id TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    event      TEXT    NOT NULL
               CHECK (event IN ('session_started', 'batch_sent', 'batch_failed', 'session_finished')),
    server     TEXT    NOT NULL,
    batch_id   TEXT,
    records    INTEGER NOT NULL DEFAULT 0,
    accepted   INTEGER NOT NULL DEFAULT 0,
    duplicate  INTEGER NOT NULL DEFAULT 0,
    conflict   INTEGER NOT NULL DEFAULT 0,
    invalid    INTEGER NOT NULL DEFAULT 0,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    detail     TEXT
);
CREATE INDEX sync_log_by_session ON sync_log(session_id, id);

-- The refusal reason in Vietnamese, beside the English one, for officers.
ALTER TABLE records ADD COLUMN reject_reason_vi TEXT;

-- Receipts as received (the issuer's exact bytes, possibly compressed),
-- stored in the same transaction that marks their records acknowledged.
CREATE TABLE receipts (
    batch_id    TEXT    PRIMARY KEY,
    session_id  TEXT    NOT NULL,
    issuer_id   TEXT    NOT NULL,
    issuer_role TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    stored_at   TEXT    NOT NULL,
    encoding    TEXT    NOT NULL CHECK (encoding IN ('identity', 'zstd')),
    body        BLOB    NOT NULL
) WITHOUT ROWID;
