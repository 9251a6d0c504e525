//! Numbered schema migrations keyed on `PRAGMA user_version`, all applied
//! in one transaction. A database newer than this build is refused.

use rusqlite::Connection;
use std::path::Path;

use crate::error::StoreError;

/// The migrations, in order: index `i` takes the schema from version `i`
/// to `i + 1`. Never edit a released step; add a new one.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_custody.sql"),
    include_str!("../migrations/0003_sync_log.sql"),
    include_str!("../migrations/0004_no_body_key_index.sql"),
    include_str!("../migrations/0005_journal.sql"),
    include_str!("../migrations/0006_identity.sql"),
    include_str!("../migrations/0007_signatures.sql"),
    include_str!("../migrations/0008_protection.sql"),
    include_str!("../migrations/0009_attachments.sql"),
    include_str!("../migrations/0010_worklist.sql"),
];

/// Schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Reads `PRAGMA user_version`.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema to [`latest_version`]; returns the version found.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, StoreError> {
    let found = crate::sqlite::apply_migrations(conn, path, MIGRATIONS)?;
    crate::field::journal::finish_migration(conn, path)?;
    Ok(found)
}
