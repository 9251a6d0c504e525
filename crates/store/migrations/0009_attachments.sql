-- Schema version 9: attachments (proto/attachments-v1.md).
--
-- A record central holds while it still lacks some of the record's
-- attachments is `incomplete`: out of the batch outbox, its blobs in the
-- upload queue. SQLite cannot change a CHECK constraint in place, so the
-- records table is rebuilt with the new state (the same columns, rows,
-- indexes and view). The new table names itself in its `supersedes`
-- reference, so dropping the old one breaks no foreign key; the rename
-- points the reference back at `records`.
CREATE TABLE records_v9 (
    device_seq       INTEGER PRIMARY KEY,
    record_id        TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    content_hash     BLOB    NOT NULL,
    -- The keyed hash of the canonical body: the same capture enrolled
    -- twice is found through body_key (its first 8 bytes as an integer)
    -- and confirmed on the full hash.
    body_hash        BLOB    NOT NULL,
    body_key         INTEGER NOT NULL,
    canonical        BLOB    NOT NULL,
    enrolled_at      TEXT    NOT NULL,
    supersedes       TEXT    REFERENCES records_v9(record_id),
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'held', 'incomplete', 'confirmed', 'rejected')),
    status_at        TEXT    NOT NULL,
    held_by          TEXT,
    reject_code      TEXT,
    reject_reason    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_attempt_at  TEXT,
    reject_reason_vi TEXT,
    signature        BLOB,
    protected        INTEGER NOT NULL DEFAULT 0,
    sealed           BLOB,
    purged_at        TEXT
);
INSERT INTO records_v9
    SELECT device_seq, record_id, kind, content_hash, body_hash, body_key, canonical, enrolled_at,
           supersedes, status, status_at, held_by, reject_code, reject_reason, attempts, last_error,
           last_attempt_at, reject_reason_vi, signature, protected, sealed, purged_at
    FROM records;
DROP VIEW outbox;
DROP TABLE records;
ALTER TABLE records_v9 RENAME TO records;
CREATE INDEX records_by_status ON records(status, device_seq);
CREATE UNIQUE INDEX records_superseded_once ON records(supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX records_plain ON records(device_seq) WHERE protected = 0;
CREATE INDEX records_unsealed ON records(status, device_seq)
    WHERE sealed IS NULL AND purged_at IS NULL;
CREATE INDEX records_to_purge ON records(status_at)
    WHERE status = 'confirmed' AND purged_at IS NULL;
CREATE VIEW outbox AS
    SELECT device_seq, record_id, kind, content_hash, canonical, status, attempts, last_error,
           signature, protected, sealed
    FROM records
    WHERE status IN ('pending', 'held')
    ORDER BY device_seq;

-- Attachment blobs, stored once per laptop however many records name
-- them. `name` is a keyed hash of the plaintext SHA-256 (BLAKE3 under a
-- key derived from the store's data key), so the disk does not show which
-- records share an image. `stored` is the blob encrypted under the store's
-- key (bound to its SHA-256); `sealed` the blob sealed to central
-- (proto/attachments-v1.md section 4.2), made when it is stored, so
-- uploading needs no passphrase. `sha256` is kept in the clear only while
-- the blob still has to be uploaded (upload paths name it).
CREATE TABLE blobs (
    name          BLOB    PRIMARY KEY,
    sha256        BLOB,
    size          INTEGER NOT NULL,
    media_type    TEXT    NOT NULL,
    stored        BLOB,
    sealed        BLOB,
    sealed_sha256 BLOB,
    -- The node (central or a station) that answered it holds the blob whole.
    delivered_to  TEXT,
    -- Why the last upload was refused (a problem code), not retried automatically.
    refused_code  TEXT,
    created_at    TEXT    NOT NULL,
    purged_at     TEXT
);
-- Which records name which blobs, in the record's attachment order.
CREATE TABLE record_blobs (
    device_seq INTEGER NOT NULL REFERENCES records(device_seq),
    position   INTEGER NOT NULL,
    name       BLOB    NOT NULL REFERENCES blobs(name),
    PRIMARY KEY (device_seq, position)
) WITHOUT ROWID;
CREATE INDEX record_blobs_by_name ON record_blobs(name);

-- Which biometrics an id_card_application must carry on this laptop
-- (a policy spelling: `none`, `face,all`, `face,right_index,left_index`):
-- set by its campaign at provisioning or by `field init --biometrics`.
ALTER TABLE device ADD COLUMN biometrics TEXT NOT NULL DEFAULT 'none';
