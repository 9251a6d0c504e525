-- Schema version 2: per-record custody and delivery bookkeeping, so every
-- record's state and last error are visible (a stuck queue is never a mystery).
ALTER TABLE records ADD COLUMN held_by TEXT;
ALTER TABLE records ADD COLUMN reject_code TEXT;
ALTER TABLE records ADD COLUMN reject_reason TEXT;
ALTER TABLE records ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN last_error TEXT;
ALTER TABLE records ADD COLUMN last_attempt_at TEXT;

CREATE UNIQUE INDEX records_superseded_once ON records(supersedes) WHERE supersedes IS NOT NULL;

-- The outbox: every record central has not acknowledged yet, in sequence order.
CREATE VIEW outbox AS
    SELECT device_seq, record_id, kind, content_hash, canonical, status, attempts, last_error
    FROM records
    WHERE status IN ('pending', 'held')
    ORDER BY device_seq;
