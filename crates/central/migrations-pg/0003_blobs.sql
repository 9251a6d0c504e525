-- Schema version 3: attachments (proto/attachments-v1.md, sections 5 and 11).
-- IF NOT EXISTS throughout: a database whose recorded version was set back
-- (as the migration tests do) gets the missing objects, not an error.

-- Blob bytes (crate::blobs::PgBlobs). Complete objects, named by the
-- SHA-256 of their bytes, in rows of at most 1 MiB numbered from 0.
CREATE TABLE IF NOT EXISTS blob_data (
    name      TEXT        PRIMARY KEY,
    size      BIGINT      NOT NULL CHECK (size >= 0),
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS blob_chunks (
    name TEXT    NOT NULL REFERENCES blob_data (name) ON DELETE CASCADE,
    n    INTEGER NOT NULL,
    data BYTEA   NOT NULL,
    PRIMARY KEY (name, n)
);

-- Partial uploads, by (plaintext hash, hash of the object as sent): the
-- declared length, the bytes held, and one row per appended chunk.
CREATE TABLE IF NOT EXISTS uploads (
    sha256        TEXT        NOT NULL,
    sealed_sha256 TEXT        NOT NULL,
    length        BIGINT      NOT NULL CHECK (length >= 0),
    "offset"      BIGINT      NOT NULL CHECK ("offset" >= 0 AND "offset" <= length),
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sha256, sealed_sha256)
);
CREATE TABLE IF NOT EXISTS upload_chunks (
    sha256        TEXT   NOT NULL,
    sealed_sha256 TEXT   NOT NULL,
    "offset"      BIGINT NOT NULL,
    data          BYTEA  NOT NULL,
    PRIMARY KEY (sha256, sealed_sha256, "offset"),
    FOREIGN KEY (sha256, sealed_sha256) REFERENCES uploads (sha256, sealed_sha256) ON DELETE CASCADE
);
-- Images and ciphertext do not compress: keep them out of line as they are.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Attachment metadata: which records name which blob, the blobs held
-- (plaintext), and the sealed objects received.
CREATE TABLE IF NOT EXISTS record_attachments (record_id uuid NOT NULL, sha256 text NOT NULL, size bigint NOT NULL, PRIMARY KEY (record_id, sha256));
CREATE INDEX IF NOT EXISTS record_attachments_by_blob ON record_attachments (sha256);
CREATE TABLE IF NOT EXISTS blobs (sha256 text PRIMARY KEY, size bigint NOT NULL, stored_at text NOT NULL);
CREATE TABLE IF NOT EXISTS sealed_blobs (sealed_sha256 text PRIMARY KEY, sha256 text NOT NULL, size bigint NOT NULL, sender_id uuid NOT NULL, received_at text NOT NULL, state text NOT NULL DEFAULT 'held');
