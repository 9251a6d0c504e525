//! The audit log on SQLite: appending entries inside a batch's
//! transaction, signed tree heads, proofs read from the stored nodes.

use doorstep_core::merkle::{self, Hash, MerkleError, NodeSource};
use doorstep_wire::log::{
    ConsistencyAnswer, InclusionAnswer, LogEntry, LogEntryLine, SignedTreeHead,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;

use crate::error::CentralError;
use crate::signing::LogSigner;

use super::{to_i64, to_u64};

/// Stored perfect-subtree hashes, read through a connection (or a
/// transaction, which derefs to one).
pub(crate) struct SqlNodes<'c> {
    pub conn: &'c Connection,
}

impl NodeSource for SqlNodes<'_> {
    type Error = rusqlite::Error;

    fn node(&mut self, level: u32, index: u64) -> Result<Hash, rusqlite::Error> {
        let bytes: Vec<u8> = self
            .conn
            .prepare_cached("SELECT hash FROM log_nodes WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, to_i64(index)], |r| r.get(0))?;
        to_hash(bytes, "log_nodes.hash")
    }
}

fn to_hash(bytes: Vec<u8>, column: &str) -> Result<Hash, rusqlite::Error> {
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            bytes.len(),
            rusqlite::types::Type::Blob,
            format!("{column} should be 32 bytes").into(),
        )
    })
}

fn merkle_error(path: &std::path::Path, e: MerkleError<rusqlite::Error>) -> CentralError {
    match e {
        MerkleError::Source(e) => CentralError::sqlite(path, e),
        other => CentralError::OutOfRange(other.to_string()),
    }
}

/// Number of entries in the log.
pub(crate) fn size(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(to_u64)
}

/// Appends one entry (inside the caller's transaction); returns its index.
pub(crate) fn append(
    conn: &Connection,
    path: &std::path::Path,
    entry: &LogEntry,
) -> Result<u64, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let index = size(conn).map_err(err)?;
    let bytes = entry.to_bytes();
    let leaf = merkle::leaf_hash(&bytes);
    conn.prepare_cached(
        "INSERT INTO log_entries (idx, batch_id, entry, leaf_hash) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| {
        s.execute(params![
            to_i64(index),
            entry.batch_id.to_string(),
            bytes,
            &leaf[..]
        ])
    })
    .map_err(err)?;
    let nodes = merkle::nodes_completed_by(&mut SqlNodes { conn }, index, leaf)
        .map_err(|e| merkle_error(path, e))?;
    let mut insert = conn
        .prepare_cached("INSERT INTO log_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
        .map_err(err)?;
    for (level, idx, hash) in nodes {
        insert
            .execute(params![level, to_i64(idx), &hash[..]])
            .map_err(err)?;
    }
    Ok(index)
}

/// Signs and stores the head of the log as it stands (inside the
/// caller's transaction).
pub(crate) fn sign_head(
    conn: &Connection,
    path: &std::path::Path,
    signer: &LogSigner,
    timestamp: u64,
) -> Result<SignedTreeHead, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let tree_size = size(conn).map_err(err)?;
    let root =
        merkle::root(&mut SqlNodes { conn }, tree_size).map_err(|e| merkle_error(path, e))?;
    // Heads never go back in time, even if the clock does.
    let last: Option<i64> = conn
        .query_row("SELECT MAX(timestamp) FROM tree_heads", [], |r| r.get(0))
        .map_err(err)?;
    let timestamp = timestamp.max(last.map(to_u64).unwrap_or(0));
    let head = signer.sign(tree_size, timestamp, root);
    conn.prepare_cached(
        "INSERT INTO tree_heads (tree_size, timestamp, root_hash, signature) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(tree_size) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            to_i64(tree_size),
            to_i64(head.timestamp),
            &head.root_hash[..],
            &head.signature[..]
        ])
    })
    .map_err(err)?;
    // An existing head for this size (no entry since) stays the one issued.
    stored_head(conn, signer.log_id(), tree_size)
        .map_err(err)?
        .ok_or_else(|| CentralError::Inconsistent(format!("no tree head of size {tree_size}")))
}

/// The stored head of a tree of `tree_size` entries.
pub(crate) fn stored_head(
    conn: &Connection,
    log_id: uuid::Uuid,
    tree_size: u64,
) -> rusqlite::Result<Option<SignedTreeHead>> {
    conn.prepare_cached(
        "SELECT timestamp, root_hash, signature FROM tree_heads WHERE tree_size = ?1",
    )?
    .query_row([to_i64(tree_size)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })
    .optional()?
    .map(|(timestamp, root, signature)| {
        Ok(SignedTreeHead {
            log_id,
            tree_size,
            timestamp: to_u64(timestamp),
            root_hash: to_hash(root, "tree_heads.root_hash")?,
            signature: <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
                rusqlite::Error::FromSqlConversionFailure(
                    signature.len(),
                    rusqlite::types::Type::Blob,
                    "tree_heads.signature should be 64 bytes".into(),
                )
            })?,
        })
    })
    .transpose()
}

/// The newest signed head.
pub(crate) fn latest_head(
    conn: &Connection,
    log_id: uuid::Uuid,
) -> rusqlite::Result<Option<SignedTreeHead>> {
    let size: Option<i64> =
        conn.query_row("SELECT MAX(tree_size) FROM tree_heads", [], |r| r.get(0))?;
    match size {
        Some(size) => stored_head(conn, log_id, to_u64(size)),
        None => Ok(None),
    }
}

/// Inclusion proof of entry `index` in the tree of `tree_size` entries.
pub(crate) fn inclusion(
    conn: &Connection,
    path: &std::path::Path,
    index: u64,
    tree_size: u64,
) -> Result<InclusionAnswer, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let current = size(conn).map_err(err)?;
    if tree_size > current {
        return Err(CentralError::OutOfRange(format!(
            "tree size {tree_size} is beyond the log's {current} entries"
        )));
    }
    let mut src = SqlNodes { conn };
    let path_hashes =
        merkle::inclusion_proof(&mut src, index, tree_size).map_err(|e| merkle_error(path, e))?;
    let leaf_hash = src.node(0, index).map_err(err)?;
    Ok(InclusionAnswer {
        index,
        tree_size,
        leaf_hash,
        path: path_hashes,
    })
}

/// Consistency proof from the tree of `first` entries to that of `second`.
pub(crate) fn consistency(
    conn: &Connection,
    path: &std::path::Path,
    first: u64,
    second: u64,
) -> Result<ConsistencyAnswer, CentralError> {
    let current = size(conn).map_err(|e| CentralError::sqlite(path, e))?;
    if second > current {
        return Err(CentralError::OutOfRange(format!(
            "tree size {second} is beyond the log's {current} entries"
        )));
    }
    let proof = merkle::consistency_proof(&mut SqlNodes { conn }, first, second)
        .map_err(|e| merkle_error(path, e))?;
    Ok(ConsistencyAnswer {
        first,
        second,
        path: proof,
    })
}

/// Entries `start..end` (end exclusive), as stored.
pub(crate) fn entries(
    conn: &Connection,
    path: &std::path::Path,
    start: u64,
    end: u64,
) -> Result<Vec<LogEntryLine>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare_cached("SELECT idx, leaf_hash, entry FROM log_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
        .map_err(err)?;
    let rows = stmt
        .query_map(params![to_i64(start), to_i64(end)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (idx, leaf, entry) = row.map_err(err)?;
        let text = String::from_utf8(entry).map_err(|_| {
            CentralError::Inconsistent(format!("log entry {idx} is not UTF-8 text"))
        })?;
        let entry = RawValue::from_string(text)
            .map_err(|_| CentralError::Inconsistent(format!("log entry {idx} is not JSON")))?;
        out.push(LogEntryLine {
            index: to_u64(idx),
            leaf_hash: to_hash(leaf, "log_entries.leaf_hash").map_err(err)?,
            entry,
        });
    }
    Ok(out)
}

/// Loads (or, for a new store, makes) the log signing key, checks it
/// against the public key stored with the log, and makes sure the log has
/// a signed head. A store made before the log existed gets one first
/// entry listing every record it already held, so every record is covered.
pub(crate) fn open_log(
    conn: &Connection,
    path: &std::path::Path,
    dir: &std::path::Path,
    node_id: uuid::Uuid,
    role: doorstep_wire::NodeRole,
    now: &chrono::DateTime<chrono::Utc>,
) -> Result<LogSigner, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let at = doorstep_core::canonical::format_utc_millis(now);
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT public_key FROM log_key WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(err)?;
    let key_path = LogSigner::key_path(dir);
    let signer = match (stored, key_path.exists()) {
        (Some(public), true) => {
            let signer = LogSigner::load(dir, node_id)?;
            if public.as_slice() != signer.public_key().as_slice() {
                return Err(CentralError::KeyMismatch { path: key_path });
            }
            signer
        }
        (Some(_), false) => return Err(CentralError::KeyMissing { path: key_path }),
        (None, exists) => {
            let signer = if exists {
                LogSigner::load(dir, node_id)?
            } else {
                LogSigner::create(dir, node_id)?
            };
            conn.execute(
                "INSERT INTO log_key (id, public_key, created_at) VALUES (1, ?1, ?2)",
                params![&signer.public_key()[..], at],
            )
            .map_err(err)?;
            signer
        }
    };
    let heads: i64 = conn
        .query_row("SELECT COUNT(*) FROM tree_heads", [], |r| r.get(0))
        .map_err(err)?;
    if heads == 0 {
        let held = held_before_log(conn).map_err(err)?;
        if !held.is_empty() {
            let entry = LogEntry {
                batch_id: uuid::Uuid::nil(),
                journal: None,
                received_at: at.clone(),
                records: held,
                sender_id: node_id,
                sender_role: role,
                session_id: uuid::Uuid::nil(),
                v: 1,
            };
            append(conn, path, &entry)?;
        }
        let timestamp = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        sign_head(conn, path, &signer, timestamp)?;
    }
    Ok(signer)
}

/// Every record held by a store made before the log, as accepted.
fn held_before_log(conn: &Connection) -> rusqlite::Result<Vec<doorstep_wire::log::LogRecord>> {
    let mut stmt = conn.prepare(
        "SELECT record_id, device_id, device_seq, content_hash FROM records ORDER BY device_id, device_seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, device, seq, hash) = row?;
        out.push(doorstep_wire::log::LogRecord {
            content_hash: hex::encode(hash),
            device_id: uuid::Uuid::parse_str(&device).ok(),
            device_seq: Some(to_u64(seq)),
            outcome: doorstep_wire::Outcome::Accepted,
            record_id: uuid::Uuid::parse_str(&id).ok(),
        });
    }
    Ok(out)
}

/// Sync sessions for `audit log`, newest first.
pub(crate) fn sessions(
    conn: &Connection,
    path: &std::path::Path,
    query: &crate::store::SessionQuery,
) -> Result<Vec<doorstep_wire::log::SessionLine>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.session_id, s.node_id, s.role, d.name, s.client_version, s.started_at,
                    s.last_batch_at, s.batches, s.accepted, s.duplicate, s.conflict, s.invalid, s.bytes_in
             FROM sessions s LEFT JOIN devices d ON d.device_id = s.node_id
             WHERE (?1 IS NULL OR s.node_id = ?1) AND (?2 IS NULL OR s.last_batch_at >= ?2)
             ORDER BY s.last_batch_at DESC, s.session_id LIMIT ?3",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map(
            params![
                query.node_id.map(|u| u.to_string()),
                query.since,
                to_i64(query.limit)
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    doorstep_wire::log::SessionLine {
                        session_id: uuid::Uuid::nil(),
                        node_id: uuid::Uuid::nil(),
                        role: r.get(2)?,
                        name: r.get(3)?,
                        client_version: r.get(4)?,
                        started_at: r.get(5)?,
                        last_batch_at: r.get(6)?,
                        batches: to_u64(r.get(7)?),
                        counts: doorstep_wire::OutcomeCounts {
                            accepted: to_u64(r.get(8)?),
                            duplicate: to_u64(r.get(9)?),
                            conflict: to_u64(r.get(10)?),
                            invalid: to_u64(r.get(11)?),
                        },
                        bytes_in: to_u64(r.get(12)?),
                    },
                ))
            },
        )
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (sid, nid, mut line) = row.map_err(err)?;
        line.session_id = parse_uuid(&sid)?;
        line.node_id = parse_uuid(&nid)?;
        out.push(line);
    }
    Ok(out)
}

/// What is held from one device, for `audit reconcile`.
pub(crate) fn device_records(
    conn: &Connection,
    path: &std::path::Path,
    device_id: uuid::Uuid,
    after_seq: u64,
    limit: u64,
) -> Result<doorstep_wire::log::DeviceRecordsAnswer, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT device_seq, record_id, content_hash FROM records
             WHERE device_id = ?1 AND device_seq > ?2 ORDER BY device_seq LIMIT ?3",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map(
            params![device_id.to_string(), to_i64(after_seq), to_i64(limit)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )
        .map_err(err)?;
    let mut records = Vec::new();
    for row in rows {
        let (seq, id, hash) = row.map_err(err)?;
        records.push(doorstep_wire::log::HeldRecordLine {
            device_seq: to_u64(seq),
            record_id: parse_uuid(&id)?,
            content_hash: to_hash(hash, "records.content_hash").map_err(err)?,
        });
    }
    Ok(doorstep_wire::log::DeviceRecordsAnswer { records })
}

fn parse_uuid(s: &str) -> Result<uuid::Uuid, CentralError> {
    uuid::Uuid::parse_str(s).map_err(|_| CentralError::Inconsistent(format!("`{s}` is not a UUID")))
}
