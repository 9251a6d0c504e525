//! `doorstep audit verify`: recompute the whole log from the stored
//! entries, compare it with every stored node and signed tree head, and
//! match the records table against what the log says was accepted. Reads
//! only: the store is opened without migrations and never written.

use std::collections::HashMap;
use std::path::Path;

use doorstep_core::merkle::{self, MemoryTree};
use doorstep_wire::Outcome;
use doorstep_wire::log::{LogEntry, tree_head_message};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{MIGRATIONS, to_u64};
use crate::error::CentralError;

/// Problems listed in full; beyond this only counted.
const MAX_LISTED: usize = 100;

/// One thing that does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// Stable code, e.g. `entry.altered`, `record.missing`.
    pub code: &'static str,
    /// What it is about: `log entry 17`, `record 019a…`, `tree head 40`.
    pub location: String,
    pub detail: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    pub entries: u64,
    pub nodes: u64,
    pub tree_heads: u64,
    pub records: u64,
    /// The newest signed head: size and root (hex).
    pub latest_head: Option<(u64, String)>,
    /// The first problems found, in the order checked (entries, nodes,
    /// tree heads, records).
    pub problems: Vec<AuditProblem>,
    pub problems_total: u64,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems_total == 0
    }

    fn problem(&mut self, code: &'static str, location: String, detail: String) {
        self.problems_total += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(AuditProblem {
                code,
                location,
                detail,
            });
        }
    }
}

/// Which part of the check is running, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStage {
    Entries,
    Nodes,
    TreeHeads,
    Records,
}

/// Checks the central (or station) store in `dir`. `progress` is called
/// with the stage, items done and items in the stage.
pub fn verify(
    dir: &Path,
    progress: &mut dyn FnMut(AuditStage, u64, u64),
) -> Result<AuditReport, CentralError> {
    let path = super::SqliteCentral::db_path(dir);
    if !path.exists() {
        return Err(CentralError::NotInitialized {
            path: dir.to_path_buf(),
        });
    }
    let err = |e| CentralError::sqlite(&path, e);
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    let latest = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version != latest {
        return Err(CentralError::Inconsistent(format!(
            "{} has schema version {version}, this build checks version {latest}: {}",
            path.display(),
            if version < latest {
                "start the node once with this build to migrate it"
            } else {
                "use a newer build"
            }
        )));
    }
    // Read everything from one snapshot, even while the node serves.
    conn.execute_batch("BEGIN").map_err(err)?;
    let public_key: Option<Vec<u8>> = conn
        .query_row("SELECT public_key FROM log_key WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(err)?;
    let count = |sql: &str| -> Result<u64, CentralError> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(to_u64)
            .map_err(err)
    };
    let mut report = AuditReport::default();
    let key = match public_key
        .as_deref()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
    {
        Some(k) => Some(k),
        None => {
            report.problem(
                "key.missing",
                "log_key".into(),
                "no valid public key is stored with the log: no tree head can be checked".into(),
            );
            None
        }
    };

    // 1. Entries: recompute every leaf and the tree; note what each entry
    //    says was accepted.
    let total_entries = count("SELECT COUNT(*) FROM log_entries")?;
    let mut tree = MemoryTree::new();
    let mut accepted: HashMap<u128, ([u8; 32], u64)> = HashMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT idx, batch_id, entry, leaf_hash FROM log_entries ORDER BY idx")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut expected: u64 = 0;
        while let Some(row) = rows.next().map_err(err)? {
            let idx = to_u64(row.get(0).map_err(err)?);
            let batch_id = text(row, 1);
            let entry = bytes(row, 2);
            let stored_leaf = bytes(row, 3);
            if idx != expected {
                report.problem(
                    "entry.missing",
                    format!("log entry {expected}"),
                    format!("entries {expected}..{idx} are missing: the log was cut"),
                );
                expected = idx;
            }
            let leaf = merkle::leaf_hash(&entry);
            if stored_leaf.as_slice() != leaf.as_slice() {
                report.problem(
                    "entry.altered",
                    format!("log entry {idx}"),
                    "the entry's bytes do not hash to its stored leaf hash: the entry or its hash was edited".into(),
                );
            }
            tree.push(leaf);
            match serde_json::from_slice::<LogEntry>(&entry) {
                Ok(e) => {
                    if e.batch_id.to_string() != batch_id {
                        report.problem(
                            "entry.altered",
                            format!("log entry {idx}"),
                            format!(
                                "stored under batch {batch_id}, the entry names batch {}",
                                e.batch_id
                            ),
                        );
                    }
                    for r in &e.records {
                        if r.outcome != Outcome::Accepted {
                            continue;
                        }
                        let (Some(id), Some(hash)) = (r.record_id, parse_hash(&r.content_hash))
                        else {
                            report.problem(
                                "entry.unreadable",
                                format!("log entry {idx}"),
                                "an accepted record without a record ID or a valid content hash"
                                    .into(),
                            );
                            continue;
                        };
                        if let Some((_, first)) = accepted.insert(id.as_u128(), (hash, idx)) {
                            report.problem(
                                "record.accepted_twice",
                                format!("record {id}"),
                                format!("accepted in log entries {first} and {idx}"),
                            );
                        }
                    }
                }
                Err(e) => report.problem(
                    "entry.unreadable",
                    format!("log entry {idx}"),
                    format!("not a log entry: {e}"),
                ),
            }
            expected += 1;
            if expected.is_multiple_of(4096) {
                progress(AuditStage::Entries, expected, total_entries);
            }
        }
        progress(AuditStage::Entries, expected, total_entries);
        report.entries = tree.size();
    }
    let size = tree.size();

    // 2. Stored nodes: each must be the recomputed one, none missing.
    {
        let total = count("SELECT COUNT(*) FROM log_nodes")?;
        let mut stmt = conn
            .prepare("SELECT level, idx, hash FROM log_nodes")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut seen: u64 = 0;
        while let Some(row) = rows.next().map_err(err)? {
            let level: i64 = row.get(0).map_err(err)?;
            let idx = to_u64(row.get(1).map_err(err)?);
            let hash = bytes(row, 2);
            let expected = u32::try_from(level).ok().and_then(|l| tree.get(l, idx));
            match expected {
                Some(h) if h.as_slice() == hash.as_slice() => {}
                Some(_) => report.problem(
                    "node.altered",
                    format!("tree node {level}/{idx}"),
                    "the stored hash differs from the one recomputed from the entries".into(),
                ),
                None => report.problem(
                    "node.extra",
                    format!("tree node {level}/{idx}"),
                    format!("no such complete subtree in a log of {size} entries"),
                ),
            }
            seen += 1;
            if seen.is_multiple_of(65536) {
                progress(AuditStage::Nodes, seen, total);
            }
        }
        progress(AuditStage::Nodes, seen, total);
        report.nodes = seen;
        let mut wanted: u64 = 0;
        let mut level_size = size;
        while level_size > 0 {
            wanted += level_size;
            level_size /= 2;
        }
        if seen < wanted {
            report.problem(
                "node.missing",
                "log_nodes".into(),
                format!(
                    "{} stored tree nodes are missing ({seen} of {wanted})",
                    wanted - seen
                ),
            );
        }
    }

    // 3. Signed tree heads: each root recomputed, each signature checked.
    {
        let total = count("SELECT COUNT(*) FROM tree_heads")?;
        let log_id: Option<String> = conn
            .query_row("SELECT node_id FROM node WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let log_id = log_id
            .and_then(|s| uuid::Uuid::parse_str(&s).ok())
            .unwrap_or_default();
        let mut stmt = conn
            .prepare("SELECT tree_size, timestamp, root_hash, signature FROM tree_heads ORDER BY tree_size")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let (mut seen, mut last_time, mut largest) = (0u64, 0u64, None::<u64>);
        while let Some(row) = rows.next().map_err(err)? {
            let tree_size = to_u64(row.get(0).map_err(err)?);
            let timestamp = to_u64(row.get(1).map_err(err)?);
            let root = bytes(row, 2);
            let signature = bytes(row, 3);
            let location = format!("tree head of size {tree_size}");
            largest = Some(tree_size);
            match tree.root_at(tree_size) {
                None => report.problem(
                    "head.beyond_log",
                    location.clone(),
                    format!("signed for {tree_size} entries, the log holds {size}: entries were deleted"),
                ),
                Some(r) if r.as_slice() != root.as_slice() => report.problem(
                    "head.root_mismatch",
                    location.clone(),
                    "the signed root differs from the root recomputed from the entries: an entry up to this size was edited, deleted or inserted".into(),
                ),
                Some(_) => {}
            }
            if let Some(key) = &key {
                let ok = <[u8; 32]>::try_from(root.as_slice())
                    .ok()
                    .zip(<[u8; 64]>::try_from(signature.as_slice()).ok())
                    .is_some_and(|(root, sig)| {
                        key.verify(
                            &tree_head_message(&log_id, tree_size, timestamp, &root),
                            &Signature::from_bytes(&sig),
                        )
                        .is_ok()
                    });
                if !ok {
                    report.problem(
                        "head.bad_signature",
                        location.clone(),
                        "the signature does not verify with the log's public key".into(),
                    );
                }
            }
            if timestamp < last_time {
                report.problem(
                    "head.time_backwards",
                    location,
                    "signed earlier than the head of a smaller tree".into(),
                );
            }
            last_time = timestamp;
            report.latest_head = Some((tree_size, hex::encode(root)));
            seen += 1;
            if seen.is_multiple_of(4096) {
                progress(AuditStage::TreeHeads, seen, total);
            }
        }
        progress(AuditStage::TreeHeads, seen, total);
        report.tree_heads = seen;
        if largest.is_none_or(|l| l < size) {
            report.problem(
                "entry.unsigned",
                format!("log entry {}", largest.unwrap_or(0)),
                format!(
                    "the log holds {size} entries but the largest signed head covers {}: entries were added outside the node",
                    largest.unwrap_or(0)
                ),
            );
        }
    }

    // 4. Records: each one's bytes hash to its content hash, and it is the
    //    record the log says was accepted; none is missing.
    {
        let total = count("SELECT COUNT(*) FROM records")?;
        let mut stmt = conn
            .prepare("SELECT record_id, content_hash, canonical FROM records")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut seen: u64 = 0;
        while let Some(row) = rows.next().map_err(err)? {
            let id = text(row, 0);
            let hash = bytes(row, 1);
            let canonical = bytes(row, 2);
            let location = format!("record {id}");
            if Sha256::digest(&canonical).as_slice() != hash.as_slice() {
                report.problem(
                    "record.altered",
                    location.clone(),
                    "the stored bytes do not hash to the stored content hash".into(),
                );
            }
            match uuid::Uuid::parse_str(&id)
                .ok()
                .and_then(|u| accepted.remove(&u.as_u128()))
            {
                None => report.problem(
                    "record.not_in_log",
                    location,
                    "held, but no log entry accepted it: the row was inserted outside the node"
                        .into(),
                ),
                Some((logged, idx)) if logged.as_slice() != hash.as_slice() => report.problem(
                    "record.differs_from_log",
                    location,
                    format!(
                        "log entry {idx} accepted content hash {}, the row holds {}",
                        hex::encode(logged),
                        hex::encode(&hash)
                    ),
                ),
                Some(_) => {}
            }
            seen += 1;
            if seen.is_multiple_of(4096) {
                progress(AuditStage::Records, seen, total);
            }
        }
        progress(AuditStage::Records, seen, total);
        report.records = seen;
        let mut missing: Vec<(u64, u128)> = accepted
            .into_iter()
            .map(|(id, (_, idx))| (idx, id))
            .collect();
        missing.sort_unstable();
        for (idx, id) in missing {
            report.problem(
                "record.missing",
                format!("record {}", uuid::Uuid::from_u128(id)),
                format!("accepted in log entry {idx}, no longer held: the row was deleted"),
            );
        }
    }
    conn.execute_batch("COMMIT").map_err(err)?;
    Ok(report)
}

/// A column's bytes whatever its stored type: a row edited by hand may
/// hold text where bytes belong, and that is a finding, not an error.
fn bytes(row: &rusqlite::Row<'_>, i: usize) -> Vec<u8> {
    use rusqlite::types::ValueRef;
    match row.get_ref(i) {
        Ok(ValueRef::Blob(b) | ValueRef::Text(b)) => b.to_vec(),
        Ok(ValueRef::Integer(n)) => n.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

fn text(row: &rusqlite::Row<'_>, i: usize) -> String {
    String::from_utf8_lossy(&bytes(row, i)).into_owned()
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}
