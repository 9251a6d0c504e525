-- Schema version 12: worklists (proto/worklist-v1.md). The roster of
-- residents still to reach, what teams reported about each of them, the
-- devices' assignments, and the revision counter the down-sync feed is
-- ordered by. On a station the roster is the copy central sent it.

-- One row per resident. The derived columns (status … flagged) are
-- core::worklist::derive over the person's events, recomputed whenever
-- the row or an event changes; every change takes the next revision.
CREATE TABLE roster (
    person_id      INTEGER PRIMARY KEY,
    personal_id    TEXT    NOT NULL UNIQUE,
    full_name      TEXT    NOT NULL,
    date_of_birth  TEXT    NOT NULL,
    sex            TEXT    NOT NULL,
    unit_code      TEXT    NOT NULL,
    address_detail TEXT,
    household      TEXT,
    -- ';'-joined needs: card, eid_registration, eid_activation.
    needs          TEXT    NOT NULL,
    -- 0 once a newer import no longer lists the person: the row and its
    -- outcomes stay, the person leaves every worklist.
    in_extract     INTEGER NOT NULL DEFAULT 1,
    imported_at    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    reason         TEXT,
    closed_by      TEXT,
    worklist_unit  TEXT    NOT NULL,
    referred_to    TEXT,
    covered        TEXT    NOT NULL DEFAULT '',
    visits         INTEGER NOT NULL DEFAULT 0,
    last_visit_at  TEXT,
    flagged        TEXT,
    rev            INTEGER NOT NULL,
    -- A station: the download from central that last sent the row.
    generation     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX roster_by_rev ON roster (rev);
CREATE INDEX roster_by_worklist_unit ON roster (worklist_unit);
CREATE INDEX roster_by_unit ON roster (unit_code);

-- Every accepted record that names a personal ID and matters to a
-- worklist (enrollments and visit outcomes), whether or not the person is
-- on the roster yet: a later import links them.
CREATE TABLE person_events (
    record_id   TEXT    PRIMARY KEY,
    personal_id TEXT    NOT NULL,
    device_id   TEXT    NOT NULL,
    device_seq  INTEGER NOT NULL,
    at          TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    result      TEXT,
    unit_code   TEXT
) WITHOUT ROWID;
CREATE INDEX person_events_by_person ON person_events (personal_id);

-- Where a person was before a change that took them off some worklists:
-- an incremental download tells a device to remove people it may hold.
CREATE TABLE worklist_moves (
    rev           INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL,
    old_unit      TEXT    NOT NULL,
    old_household TEXT
);
CREATE INDEX worklist_moves_by_person ON worklist_moves (person_id, rev);

-- What each device is assigned. source: 'central' (central assign, or
-- on a station what central sent) or 'station' (a station's sub-assignment).
CREATE TABLE assignments (
    device_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('unit', 'household')),
    value       TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('central', 'station')),
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (device_id, kind, value, source)
) WITHOUT ROWID;

CREATE TABLE worklist_counter (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
);
INSERT INTO worklist_counter (id, rev) VALUES (1, 0);

-- A station: the laptops registered under it as central reported them,
-- so it can authenticate their worklist requests.
CREATE TABLE station_devices (
    device_id  TEXT    PRIMARY KEY,
    public_key BLOB    NOT NULL,
    unit_code  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    revoked    INTEGER NOT NULL,
    updated_at TEXT    NOT NULL
) WITHOUT ROWID;

-- A station: where its own download from central stands.
CREATE TABLE worklist_upstream (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    since_rev     INTEGER,
    since_scope   TEXT,
    pending_after INTEGER,
    pending_full  INTEGER,
    pending_scope TEXT,
    generation    INTEGER NOT NULL DEFAULT 0,
    -- What central assigned the station (JSON): its sub-assignments stay within it.
    assignment    TEXT,
    updated_at    TEXT
);
INSERT INTO worklist_upstream (id) VALUES (1);

-- Records accepted before this version: their enrollments count too.
INSERT OR IGNORE INTO person_events (record_id, personal_id, device_id, device_seq, at, kind)
SELECT record_id, json_extract(canonical, '$.body.citizen.personal_id'), device_id, device_seq,
       json_extract(canonical, '$.body.visit.at'), kind
FROM records
WHERE sealed = 0 AND superseded_by IS NULL
  AND kind IN ('id_card_application', 'eid_registration', 'eid_activation')
  AND json_valid(canonical);
