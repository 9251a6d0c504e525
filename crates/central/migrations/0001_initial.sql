-- Doorstep central store, schema version 1.
-- This node's identity.
CREATE TABLE node (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    node_id    TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

-- The unit list records are validated against, kept verbatim.
CREATE TABLE unit_list (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    source    TEXT    NOT NULL,
    sha256    TEXT    NOT NULL,
    csv       BLOB    NOT NULL,
    loaded_at TEXT    NOT NULL
);

-- Every accepted record, as the canonical bytes the laptop made.
CREATE TABLE records (
    record_id    TEXT    PRIMARY KEY,
    device_id    TEXT    NOT NULL,
    device_seq   INTEGER NOT NULL,
    content_hash BLOB    NOT NULL,
    kind         TEXT    NOT NULL,
    canonical    BLOB    NOT NULL,
    enrolled_at  TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    batch_id     TEXT    NOT NULL,
    -- The station that relayed it, when it did not come straight from the laptop.
    relayed_by   TEXT,
    UNIQUE (device_id, device_seq)
) WITHOUT ROWID;

-- Records refused as `conflict` or `invalid`, kept for the audit: what was
-- sent, by whom, and why it was refused.
CREATE TABLE refusals (
    id           INTEGER PRIMARY KEY,
    at           TEXT    NOT NULL,
    batch_id     TEXT    NOT NULL,
    sender_id    TEXT    NOT NULL,
    record_id    TEXT,
    device_id    TEXT,
    device_seq   INTEGER,
    content_hash TEXT    NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('conflict', 'invalid')),
    code         TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    canonical    BLOB
);
CREATE INDEX refusals_by_device ON refusals(device_id, device_seq);

-- Per device: the highest device_seq up to which every number has been
-- seen (accepted, or refused as invalid), the highest seen at all, and the
-- last sync. Numbers between the two that were never seen are the gaps.
CREATE TABLE devices (
    device_id      TEXT    PRIMARY KEY,
    name           TEXT,
    role           TEXT    NOT NULL,
    first_seen_at  TEXT    NOT NULL,
    last_sync_at   TEXT    NOT NULL,
    contiguous_seq INTEGER NOT NULL DEFAULT 0,
    max_seq        INTEGER NOT NULL DEFAULT 0,
    records        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- One row per sync session (a `field sync` run, a station's forwarding run).
CREATE TABLE sessions (
    session_id     TEXT    PRIMARY KEY,
    node_id        TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    client_version TEXT    NOT NULL,
    started_at     TEXT    NOT NULL,
    last_batch_at  TEXT    NOT NULL,
    batches        INTEGER NOT NULL DEFAULT 0,
    accepted       INTEGER NOT NULL DEFAULT 0,
    duplicate      INTEGER NOT NULL DEFAULT 0,
    conflict       INTEGER NOT NULL DEFAULT 0,
    invalid        INTEGER NOT NULL DEFAULT 0,
    bytes_in       INTEGER NOT NULL DEFAULT 0,
    busy_ms        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX sessions_by_node ON sessions(node_id, last_batch_at);
