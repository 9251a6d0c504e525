-- Schema version 2: the same store serves a commune station. A station
-- holds what laptops send it and forwards it upstream; these columns keep
-- what upstream answered for each record. On central they stay NULL.
ALTER TABLE node ADD COLUMN role TEXT NOT NULL DEFAULT 'central'
    CHECK (role IN ('central', 'station'));
ALTER TABLE node ADD COLUMN upstream TEXT;

ALTER TABLE records ADD COLUMN upstream_status TEXT
    CHECK (upstream_status IN ('confirmed', 'rejected'));
ALTER TABLE records ADD COLUMN upstream_code TEXT;
ALTER TABLE records ADD COLUMN upstream_reason TEXT;
ALTER TABLE records ADD COLUMN upstream_reason_vi TEXT;
ALTER TABLE records ADD COLUMN upstream_at TEXT;
-- What is still to forward, in each device's order.
CREATE INDEX records_to_forward ON records(device_id, device_seq) WHERE upstream_status IS NULL;

-- One row per batch forwarded upstream (or attempt that failed).
CREATE TABLE forward_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,
    upstream  TEXT    NOT NULL,
    batch_id  TEXT    NOT NULL,
    records   INTEGER NOT NULL,
    accepted  INTEGER NOT NULL DEFAULT 0,
    duplicate INTEGER NOT NULL DEFAULT 0,
    conflict  INTEGER NOT NULL DEFAULT 0,
    invalid   INTEGER NOT NULL DEFAULT 0,
    error     TEXT
);
