-- Schema version 11: the biometrics each laptop's card applications must
-- carry (proto/attachments-v1.md section 3.1), set on the token by
-- `central provision --biometrics` and kept with the node it registers:
-- central checks every record against its device's policy.
ALTER TABLE enrollment_tokens ADD COLUMN biometrics TEXT NOT NULL DEFAULT 'none';
ALTER TABLE node_keys ADD COLUMN biometrics TEXT NOT NULL DEFAULT 'none';
