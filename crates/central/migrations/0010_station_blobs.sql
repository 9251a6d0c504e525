-- Schema version 10: stations relay attachment blobs
-- (proto/attachments-v1.md section 7).
-- A forwarded record central holds without all its attachments keeps
-- `upstream_status` NULL and lists what central lacks here (space
-- separated SHA-256s, as central gave them): it is not forwarded again,
-- its blobs are relayed, and custody is asked until central confirms it.
ALTER TABLE records ADD COLUMN upstream_missing TEXT;

-- At a station, `sealed_blobs` holds the sealed objects laptops uploaded
-- (bytes in `blobs/` by `sealed_sha256`) with the `sha256` the uploader
-- claimed. Delivered: central holds it whole (the bytes are then deleted,
-- the row stays so a laptop asking is told `complete`). Refused: central
-- refused it for good, with its code.
ALTER TABLE sealed_blobs ADD COLUMN delivered_at TEXT;
ALTER TABLE sealed_blobs ADD COLUMN refused_code TEXT;
CREATE INDEX IF NOT EXISTS sealed_blobs_by_claim ON sealed_blobs(sha256);
