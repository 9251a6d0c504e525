//! `doorstep audit verify` on SQLite: streams the store's log entries,
//! tree nodes, signed heads and records into the shared
//! [`Auditor`](crate::audit::Auditor). Reads only: the store is opened
//! without migrations and never written.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{MIGRATIONS, to_u64};
use crate::audit::Auditor;
pub use crate::audit::{AuditProblem, AuditReport, AuditStage};
use crate::error::CentralError;

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
    let log_id: Option<String> = conn
        .query_row("SELECT node_id FROM node WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(err)?;
    let log_id = log_id
        .and_then(|s| uuid::Uuid::parse_str(&s).ok())
        .unwrap_or_default();
    let count = |sql: &str| -> Result<u64, CentralError> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(to_u64)
            .map_err(err)
    };
    let mut audit = Auditor::new(public_key.as_deref(), log_id);

    let total = count("SELECT COUNT(*) FROM log_entries")?;
    let mut stmt = conn
        .prepare("SELECT idx, batch_id, entry, leaf_hash FROM log_entries ORDER BY idx")
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let idx = to_u64(row.get(0).map_err(err)?);
        audit.entry(idx, &text(row, 1), &bytes(row, 2), &bytes(row, 3));
        if audit.entries_seen().is_multiple_of(4096) {
            progress(AuditStage::Entries, audit.entries_seen(), total);
        }
    }
    progress(AuditStage::Entries, audit.entries_seen(), total);
    drop(rows);
    drop(stmt);

    let total = count("SELECT COUNT(*) FROM log_nodes")?;
    let mut stmt = conn
        .prepare("SELECT level, idx, hash FROM log_nodes")
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut seen: u64 = 0;
    while let Some(row) = rows.next().map_err(err)? {
        let level: i64 = row.get(0).map_err(err)?;
        let idx = to_u64(row.get(1).map_err(err)?);
        audit.node(level, idx, &bytes(row, 2));
        seen += 1;
        if seen.is_multiple_of(65536) {
            progress(AuditStage::Nodes, seen, total);
        }
    }
    progress(AuditStage::Nodes, seen, total);
    audit.end_nodes();
    drop(rows);
    drop(stmt);

    let total = count("SELECT COUNT(*) FROM tree_heads")?;
    let mut stmt = conn
        .prepare(
            "SELECT tree_size, timestamp, root_hash, signature FROM tree_heads ORDER BY tree_size",
        )
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut seen: u64 = 0;
    while let Some(row) = rows.next().map_err(err)? {
        let tree_size = to_u64(row.get(0).map_err(err)?);
        let timestamp = to_u64(row.get(1).map_err(err)?);
        audit.head(tree_size, timestamp, &bytes(row, 2), &bytes(row, 3));
        seen += 1;
        if seen.is_multiple_of(4096) {
            progress(AuditStage::TreeHeads, seen, total);
        }
    }
    progress(AuditStage::TreeHeads, seen, total);
    audit.end_heads();
    drop(rows);
    drop(stmt);

    let total = count("SELECT COUNT(*) FROM records")?;
    let mut stmt = conn
        .prepare("SELECT record_id, content_hash, canonical, sealed FROM records")
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut seen: u64 = 0;
    while let Some(row) = rows.next().map_err(err)? {
        let sealed = row.get::<_, Option<bool>>(3).map_err(err)?.unwrap_or(false);
        audit.record(&text(row, 0), &bytes(row, 1), &bytes(row, 2), sealed);
        seen += 1;
        if seen.is_multiple_of(4096) {
            progress(AuditStage::Records, seen, total);
        }
    }
    progress(AuditStage::Records, seen, total);
    drop(rows);
    drop(stmt);
    conn.execute_batch("COMMIT").map_err(err)?;
    Ok(audit.finish())
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
