-- Schema version 9: attachments (proto/attachments-v1.md).
-- The attachments each held record names (written when it is accepted),
-- and the blobs held whole: plaintext at central, in the content-addressed
-- directory `blobs/` beside this database, written and synced before the
-- row that says it is held commits. A record is complete when every blob
-- it names has a row in `blobs`.
CREATE TABLE IF NOT EXISTS record_attachments (
    record_id TEXT    NOT NULL,
    sha256    TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (record_id, sha256)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_attachments_by_blob ON record_attachments(sha256);

CREATE TABLE IF NOT EXISTS blobs (
    sha256    TEXT    PRIMARY KEY,
    size      INTEGER NOT NULL,
    stored_at TEXT    NOT NULL
) WITHOUT ROWID;

-- Sealed objects received (central: the object each completed blob came
-- in, and from whom).
CREATE TABLE IF NOT EXISTS sealed_blobs (
    sealed_sha256 TEXT    PRIMARY KEY,
    sha256        TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    sender_id     TEXT    NOT NULL,
    received_at   TEXT    NOT NULL
) WITHOUT ROWID;
