-- Central on PostgreSQL: the same data as the SQLite schema (migrations/
-- 0001..0007, central role only; stations stay on their embedded SQLite),
-- with native types. Times are stored as the canonical UTC text
-- (2026-11-23T08:21:18.382Z) both backends answer with, so answers are
-- byte-identical whatever the backend; the text sorts as time.

CREATE TABLE node (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    node_id      UUID     NOT NULL,
    created_at   TEXT     NOT NULL,
    log_key      BYTEA    NOT NULL,
    seal_key     BYTEA    NOT NULL
);

CREATE TABLE unit_list (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    source    TEXT  NOT NULL,
    sha256    TEXT  NOT NULL,
    csv       BYTEA NOT NULL,
    loaded_at TEXT  NOT NULL
);

CREATE TABLE records (
    record_id    UUID    PRIMARY KEY,
    device_id    UUID    NOT NULL,
    device_seq   BIGINT  NOT NULL,
    content_hash BYTEA   NOT NULL,
    kind         TEXT    NOT NULL,
    canonical    BYTEA   NOT NULL,
    enrolled_at  TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    batch_id     UUID    NOT NULL,
    relayed_by   UUID,
    signature    BYTEA,
    sealed       BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (device_id, device_seq)
);

CREATE TABLE refusals (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TEXT   NOT NULL,
    batch_id     UUID   NOT NULL,
    sender_id    UUID   NOT NULL,
    record_id    UUID,
    device_id    UUID,
    device_seq   BIGINT,
    content_hash TEXT   NOT NULL,
    outcome      TEXT   NOT NULL CHECK (outcome IN ('conflict', 'invalid')),
    code         TEXT   NOT NULL,
    reason       TEXT   NOT NULL,
    canonical    BYTEA
);
CREATE INDEX refusals_by_device ON refusals (device_id, device_seq);

CREATE TABLE devices (
    device_id      UUID   PRIMARY KEY,
    name           TEXT,
    role           TEXT   NOT NULL,
    first_seen_at  TEXT   NOT NULL,
    last_sync_at   TEXT   NOT NULL,
    contiguous_seq BIGINT NOT NULL DEFAULT 0,
    max_seq        BIGINT NOT NULL DEFAULT 0,
    records        BIGINT NOT NULL DEFAULT 0,
    journal_seq    BIGINT,
    journal_hash   BYTEA
);

CREATE TABLE sessions (
    session_id     UUID   PRIMARY KEY,
    node_id        UUID   NOT NULL,
    role           TEXT   NOT NULL,
    client_version TEXT   NOT NULL,
    started_at     TEXT   NOT NULL,
    last_batch_at  TEXT   NOT NULL,
    batches        BIGINT NOT NULL DEFAULT 0,
    accepted       BIGINT NOT NULL DEFAULT 0,
    duplicate      BIGINT NOT NULL DEFAULT 0,
    conflict       BIGINT NOT NULL DEFAULT 0,
    invalid        BIGINT NOT NULL DEFAULT 0,
    bytes_in       BIGINT NOT NULL DEFAULT 0,
    busy_ms        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_node ON sessions (node_id, last_batch_at);
CREATE INDEX sessions_by_time ON sessions (last_batch_at);

-- The log's one row every ingest node locks (FOR UPDATE) to append: log
-- order is commit order, whichever node a batch lands on.
CREATE TABLE log_state (
    id             SMALLINT PRIMARY KEY CHECK (id = 1),
    tree_size      BIGINT NOT NULL,
    last_timestamp BIGINT NOT NULL
);

CREATE TABLE log_entries (
    idx       BIGINT PRIMARY KEY,
    batch_id  UUID   NOT NULL,
    entry     BYTEA  NOT NULL,
    leaf_hash BYTEA  NOT NULL
);

CREATE TABLE log_nodes (
    level SMALLINT NOT NULL,
    idx   BIGINT   NOT NULL,
    hash  BYTEA    NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE tree_heads (
    tree_size BIGINT PRIMARY KEY,
    timestamp BIGINT NOT NULL,
    root_hash BYTEA  NOT NULL,
    signature BYTEA  NOT NULL
);

CREATE TABLE enrollment_tokens (
    token_hash BYTEA PRIMARY KEY,
    role       TEXT  NOT NULL CHECK (role IN ('field', 'station')),
    unit_code  TEXT  NOT NULL,
    name       TEXT  NOT NULL,
    station_id UUID,
    created_at TEXT  NOT NULL,
    expires_at TEXT  NOT NULL,
    used_at    TEXT,
    used_by    UUID
);

CREATE TABLE node_keys (
    node_id        UUID  PRIMARY KEY,
    role           TEXT  NOT NULL CHECK (role IN ('field', 'station')),
    public_key     BYTEA NOT NULL UNIQUE,
    unit_code      TEXT  NOT NULL,
    name           TEXT  NOT NULL,
    station_id     UUID,
    registered_at  TEXT  NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE INDEX node_keys_by_station ON node_keys (station_id) WHERE station_id IS NOT NULL;
