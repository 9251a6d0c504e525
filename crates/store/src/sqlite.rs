//! SQLite plumbing shared by every Doorstep database (laptop, station,
//! central): opening with WAL and full fsync, and numbered migrations keyed
//! on `PRAGMA user_version`, all applied in one transaction.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::StoreError;

/// How long a writer waits for another connection's transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (or with `create`, creates with mode 0600) a database file in WAL
/// mode with `synchronous=FULL`: a commit is on disk before it returns.
pub fn open_wal(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    #[cfg(unix)]
    if create {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    if create {
        // Before WAL is switched on: 16 KiB pages suit ~700-byte records
        // (fewer splits and WAL frames per record in bulk inserts).
        conn.execute_batch("PRAGMA page_size = 16384;")
            .map_err(err)?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    )
    .map_err(err)?;
    Ok(conn)
}

/// Brings a database to the last of `steps` (index `i` takes version `i`
/// to `i + 1`) in one transaction; a database newer than `steps` is
/// refused untouched. Returns the version found.
pub fn apply_migrations(
    conn: &mut Connection,
    path: &Path,
    steps: &[&str],
) -> Result<i64, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    let latest = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    if found > latest {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: latest,
        });
    }
    for (i, step) in steps.iter().enumerate().skip(found.max(0) as usize) {
        tracing::info!(path = %path.display(), from = i, to = i + 1, "migrating database");
        tx.execute_batch(step).map_err(err)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(found)
}

/// `PRAGMA integrity_check`: `["ok"]` for a sound file.
pub fn integrity_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}
