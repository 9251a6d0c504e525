-- Schema version 7: each record's Ed25519 signature by this laptop over
-- its content hash (proto/canonical-v1.md, "Signatures"), kept beside the
-- canonical bytes so hashes never change. NULL for records of a laptop
-- not provisioned yet (signed when it registers).
ALTER TABLE records ADD COLUMN signature BLOB;

DROP VIEW outbox;
CREATE VIEW outbox AS
    SELECT device_seq, record_id, kind, content_hash, canonical, status, attempts, last_error, signature
    FROM records
    WHERE status IN ('pending', 'held')
    ORDER BY device_seq;
