-- Schema version 3: the audit log (proto/sync-v1.md section 14).
-- Every applied batch appends one entry; the entries are the leaves of an
-- RFC 9162 Merkle tree whose heads this node signs with its Ed25519 key.

-- The log's public key (the secret half is the file log-signing.key).
CREATE TABLE log_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    public_key BLOB    NOT NULL,
    created_at TEXT    NOT NULL
);

-- The entries, by leaf index from 0: the exact bytes hashed into the tree.
CREATE TABLE log_entries (
    idx       INTEGER PRIMARY KEY,
    batch_id  TEXT    NOT NULL,
    entry     BLOB    NOT NULL,
    leaf_hash BLOB    NOT NULL
);

-- Every complete (perfect) subtree's root: level 0 holds the leaf hashes,
-- node (level, idx) covers leaves [idx * 2^level, (idx + 1) * 2^level).
-- Proofs for any tree size are composed from these rows.
CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every tree head this node signed (one per applied batch).
CREATE TABLE tree_heads (
    tree_size INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    root_hash BLOB    NOT NULL,
    signature BLOB    NOT NULL
);

-- A station witnesses its upstream's log: the last head it checked, with
-- the upstream's key pinned at first contact.
CREATE TABLE upstream_heads (
    log_id     TEXT    PRIMARY KEY,
    public_key BLOB    NOT NULL,
    tree_size  INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    root_hash  BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    checked_at TEXT    NOT NULL
) WITHOUT ROWID;

-- Evidence that an upstream log broke its promises.
CREATE TABLE log_alarms (
    id       INTEGER PRIMARY KEY,
    at       TEXT    NOT NULL,
    log_id   TEXT    NOT NULL,
    server   TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    evidence TEXT    NOT NULL
);

-- The journal head each laptop last sent (proto/journal-v1.md).
ALTER TABLE devices ADD COLUMN journal_seq INTEGER;
ALTER TABLE devices ADD COLUMN journal_hash BLOB;
