-- Schema version 5: the laptop's hash-chained journal of local events
-- (proto/journal-v1.md), and the tables for checking the logs batches go to.

-- One row per local event, chained: each entry names the hash of the one
-- before it, so an edited, removed or inserted entry breaks the chain, and
-- the head (seq, hash) travelling with each sync batch pins the history.
-- `detail` holds the entry's exact bytes (JCS), `hash` their SHA-256 with
-- the domain prefix; `at` and `event` are copies for listing.
CREATE TABLE journal (
    seq    INTEGER PRIMARY KEY,
    at     TEXT    NOT NULL,
    event  TEXT    NOT NULL
           CHECK (event IN ('enrolled', 'corrected', 'exported', 'sent', 'held',
                            'confirmed', 'rejected', 'purged')),
    detail BLOB    NOT NULL,
    hash   BLOB    NOT NULL
);

-- Present only between this step and the first open that finishes it: the
-- store then writes one `enrolled` entry marked `"migrated": true` covering
-- the records stored before the journal existed (hashing needs Rust code),
-- and drops this table in the same transaction.
CREATE TABLE journal_migration (pending INTEGER NOT NULL);

-- The last signed tree head of each log (the server a batch went to) this
-- device checked, with the log's Ed25519 key pinned at first contact.
CREATE TABLE log_heads (
    log_id     TEXT    PRIMARY KEY,
    public_key BLOB    NOT NULL,
    tree_size  INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    root_hash  BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    checked_at TEXT    NOT NULL
) WITHOUT ROWID;

-- Evidence that a log broke its promises (a head that is not an extension
-- of one seen before, a bad signature, a failed inclusion proof).
CREATE TABLE log_alarms (
    id       INTEGER PRIMARY KEY,
    at       TEXT    NOT NULL,
    log_id   TEXT    NOT NULL,
    server   TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    detail   TEXT    NOT NULL,
    evidence TEXT    NOT NULL
);

-- Where the receipt's batch sits in the server's log: its leaf index and
-- the tree size of the head it was checked against (NULL before logs).
ALTER TABLE receipts ADD COLUMN log_index INTEGER;
ALTER TABLE receipts ADD COLUMN tree_size INTEGER;
