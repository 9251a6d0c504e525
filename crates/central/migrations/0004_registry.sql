-- Schema version 4: provisioning. Central issues one-time tokens; a laptop
-- or station that presents one registers the Ed25519 public key it made.

-- Tokens by the SHA-256 of their text: the token itself is shown once and
-- never stored. A token is used at most once and expires.
CREATE TABLE enrollment_tokens (
    token_hash BLOB    PRIMARY KEY,
    role       TEXT    NOT NULL CHECK (role IN ('field', 'station')),
    unit_code  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    -- A laptop provisioned to sync through this station.
    station_id TEXT,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used_at    TEXT,
    used_by    TEXT
) WITHOUT ROWID;

-- Registered nodes and their keys. Revoked nodes stay listed (their past
-- records and signatures remain verifiable).
CREATE TABLE node_keys (
    node_id        TEXT    PRIMARY KEY,
    role           TEXT    NOT NULL CHECK (role IN ('field', 'station')),
    public_key     BLOB    NOT NULL UNIQUE,
    unit_code      TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    station_id     TEXT,
    registered_at  TEXT    NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
) WITHOUT ROWID;
CREATE INDEX node_keys_by_station ON node_keys(station_id) WHERE station_id IS NOT NULL;
