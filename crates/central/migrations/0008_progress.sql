-- Schema version 8: campaign progress (proto/reports-v1.md).
-- What progress counts of each record, kept beside its bytes: the unit and
-- local day of its visit, the place and reason, and the record that
-- corrects it. NULL for records kept sealed (a station relaying).
ALTER TABLE records ADD COLUMN visit_unit TEXT;
ALTER TABLE records ADD COLUMN visit_day TEXT;
ALTER TABLE records ADD COLUMN visit_place TEXT;
ALTER TABLE records ADD COLUMN visit_reason TEXT;
ALTER TABLE records ADD COLUMN superseded_by TEXT;

-- Records held from before this version: read from their canonical bytes
-- (canonical-v1: `body.visit.at` is "YYYY-MM-DDTHH:MM:SS±HH:MM", so its first
-- ten characters are the local date).
UPDATE records SET
    visit_unit   = json_extract(canonical, '$.body.visit.unit_code'),
    visit_day    = substr(json_extract(canonical, '$.body.visit.at'), 1, 10),
    visit_place  = json_extract(canonical, '$.body.visit.place'),
    visit_reason = json_extract(canonical, '$.body.visit.reason')
WHERE sealed = 0 AND json_valid(canonical);

-- Confirmed records that count, per kind, visit unit, day, place and
-- reason ('' when none): reports read this, never the records.
CREATE TABLE visit_counts (
    kind      TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    unit_code TEXT    NOT NULL,
    place     TEXT    NOT NULL,
    reason    TEXT    NOT NULL DEFAULT '',
    n         INTEGER NOT NULL,
    PRIMARY KEY (kind, day, unit_code, place, reason)
) WITHOUT ROWID;

INSERT INTO visit_counts (kind, day, unit_code, place, reason, n)
SELECT kind, visit_day, visit_unit, visit_place, coalesce(visit_reason, ''), count(*)
FROM records
WHERE visit_unit IS NOT NULL AND visit_day IS NOT NULL AND visit_place IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

-- Campaign targets as imported (`doorstep central campaign import`).
CREATE TABLE campaign_targets (
    campaign    TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    unit_code   TEXT    NOT NULL,
    target      INTEGER NOT NULL CHECK (target >= 1),
    start       TEXT    NOT NULL,
    deadline    TEXT    NOT NULL,
    imported_at TEXT    NOT NULL,
    PRIMARY KEY (campaign, metric, unit_code)
) WITHOUT ROWID;
