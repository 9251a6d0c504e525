-- Schema version 6: the laptop's identity at central (provisioning). The
-- secret half of the key is the file device.key in the data directory.
ALTER TABLE device ADD COLUMN public_key BLOB;
-- The central this laptop registered with, when, through which address,
-- and the station it syncs through if it was provisioned for one.
ALTER TABLE device ADD COLUMN central_id TEXT;
ALTER TABLE device ADD COLUMN registered_at TEXT;
ALTER TABLE device ADD COLUMN registered_server TEXT;
ALTER TABLE device ADD COLUMN station_id TEXT;
