-- Schema version 6: a station's identity at central (provisioning). The
-- secret half of its key is the file node.key in the data directory.
ALTER TABLE node ADD COLUMN identity_key BLOB;
ALTER TABLE node ADD COLUMN registered_with TEXT;
ALTER TABLE node ADD COLUMN registered_at TEXT;
ALTER TABLE node ADD COLUMN registered_server TEXT;
