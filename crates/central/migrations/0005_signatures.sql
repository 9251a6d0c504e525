-- Schema version 5: each record's signature by its enrolling device, as
-- received; a station forwards it unchanged so central can verify it.
ALTER TABLE records ADD COLUMN signature BLOB;
