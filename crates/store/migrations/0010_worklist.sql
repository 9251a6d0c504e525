-- Schema version 10: the worklist (crates/wire/src/worklist.rs), the
-- residents central assigned this laptop to reach, down-synced page by page.
--
-- One row per person, keyed by central's roster ID. The person (name,
-- personal ID, date of birth, address) is stored only encrypted under the
-- store's key, bound to the roster ID; `person_key` is a keyed hash of the
-- personal ID (found without decrypting every row, useless to a thief
-- without the key). Unit codes are not personal data: `worklist_unit` stays
-- readable so the list can be filtered by unit. `generation` tells which
-- full download last wrote the row: when a full download ends, rows of
-- other generations are the people it did not send, and go.
CREATE TABLE worklist (
    person_id     INTEGER PRIMARY KEY,
    worklist_unit TEXT    NOT NULL,
    person_key    BLOB    NOT NULL,
    item          BLOB    NOT NULL,
    rev           INTEGER NOT NULL,
    generation    INTEGER NOT NULL
);
CREATE INDEX worklist_by_person_key ON worklist(person_key);
CREATE INDEX worklist_by_unit ON worklist(worklist_unit);

-- Where the down-sync stands (one row). The checkpoint is that of the last
-- complete download; `pending_*` is a download some of whose pages are
-- applied (written with each page, in its transaction, so a cut download
-- resumes after its last applied page). Figures of the last complete
-- download are kept for `field status`.
CREATE TABLE worklist_sync (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    checkpoint_rev      INTEGER,
    checkpoint_scope    TEXT,
    issuer              TEXT,
    assignment          TEXT,
    -- Generation of the rows of the last complete full download.
    generation          INTEGER NOT NULL DEFAULT 0,
    pending             INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
    pending_since_rev   INTEGER,
    pending_since_scope TEXT,
    pending_after       INTEGER,
    pending_full        INTEGER,
    pending_scope       TEXT,
    pending_generation  INTEGER,
    pending_started_at  TEXT,
    pending_pages       INTEGER NOT NULL DEFAULT 0,
    pending_changes     INTEGER NOT NULL DEFAULT 0,
    pending_bytes       INTEGER NOT NULL DEFAULT 0,
    last_page_at        TEXT,
    last_complete_at    TEXT,
    last_full           INTEGER,
    last_pages          INTEGER,
    last_changes        INTEGER,
    last_bytes          INTEGER
);
INSERT INTO worklist_sync (id) VALUES (1);
