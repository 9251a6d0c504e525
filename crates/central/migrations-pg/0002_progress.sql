-- Schema version 2: campaign progress (proto/reports-v1.md).
-- What progress counts of each record, kept beside its bytes: the unit and
-- local day of its visit, the place and reason, and the record that
-- corrects it. NULL for records kept sealed.
ALTER TABLE records ADD COLUMN visit_unit TEXT;
ALTER TABLE records ADD COLUMN visit_day DATE;
ALTER TABLE records ADD COLUMN visit_place TEXT;
ALTER TABLE records ADD COLUMN visit_reason TEXT;
ALTER TABLE records ADD COLUMN superseded_by UUID;

-- Records held from before this version: read from their canonical bytes
-- (canonical-v1: `visit.at` starts with its local date).
UPDATE records SET
    visit_unit   = doc -> 'body' -> 'visit' ->> 'unit_code',
    visit_day    = substr(doc -> 'body' -> 'visit' ->> 'at', 1, 10)::date,
    visit_place  = doc -> 'body' -> 'visit' ->> 'place',
    visit_reason = doc -> 'body' -> 'visit' ->> 'reason'
FROM (SELECT record_id AS id, convert_from(canonical, 'UTF8')::jsonb AS doc
      FROM records WHERE NOT sealed) AS parsed
WHERE records.record_id = parsed.id;

-- Confirmed records that count, per kind, visit unit, day, place and
-- reason ('' when none): reports read this, never the records.
CREATE TABLE visit_counts (
    kind      TEXT   NOT NULL,
    day       DATE   NOT NULL,
    unit_code TEXT   NOT NULL,
    place     TEXT   NOT NULL,
    reason    TEXT   NOT NULL DEFAULT '',
    n         BIGINT NOT NULL,
    PRIMARY KEY (kind, day, unit_code, place, reason)
);

INSERT INTO visit_counts (kind, day, unit_code, place, reason, n)
SELECT kind, visit_day, visit_unit, visit_place, coalesce(visit_reason, ''), count(*)
FROM records
WHERE visit_unit IS NOT NULL AND visit_day IS NOT NULL AND visit_place IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

-- Campaign targets as imported (`doorstep central campaign import`).
CREATE TABLE campaign_targets (
    campaign    TEXT   NOT NULL,
    metric      TEXT   NOT NULL,
    unit_code   TEXT   NOT NULL,
    target      BIGINT NOT NULL CHECK (target >= 1),
    start       DATE   NOT NULL,
    deadline    DATE   NOT NULL,
    imported_at TEXT   NOT NULL,
    PRIMARY KEY (campaign, metric, unit_code)
);
