//! What a witness keeps about a log it checks (the laptop's store and a
//! station's store both keep it): the last verified signed tree head, with
//! the log's public key pinned at first contact, and alarms raised when a
//! log broke its promises.

use uuid::Uuid;

/// A verified signed tree head of one log, with the log's pinned key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLogHead {
    pub log_id: Uuid,
    pub public_key: [u8; 32],
    pub tree_size: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    pub root_hash: [u8; 32],
    pub signature: [u8; 64],
    pub checked_at: String,
}

/// Evidence that a log is not what it claimed to be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogAlarm {
    pub id: u64,
    pub at: String,
    pub log_id: Uuid,
    pub server: String,
    /// e.g. `not_an_extension`, `bad_signature`, `key_changed`, `not_included`.
    pub kind: String,
    pub detail: String,
    /// What was seen before and what was shown now (JSON).
    pub evidence: String,
}

/// Reads a stored head row: (log_id, public_key, tree_size, timestamp,
/// root_hash, signature, checked_at).
pub(crate) fn head_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLogHead> {
    let blob = |i: usize, n: usize| -> rusqlite::Result<Vec<u8>> {
        let v: Vec<u8> = r.get(i)?;
        if v.len() == n {
            Ok(v)
        } else {
            Err(rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Blob,
                format!("expected {n} bytes, found {}", v.len()).into(),
            ))
        }
    };
    let id: String = r.get(0)?;
    let mut public_key = [0u8; 32];
    public_key.copy_from_slice(&blob(1, 32)?);
    let mut root_hash = [0u8; 32];
    root_hash.copy_from_slice(&blob(4, 32)?);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&blob(5, 64)?);
    Ok(StoredLogHead {
        log_id: Uuid::parse_str(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        public_key,
        tree_size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        timestamp: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        root_hash,
        signature,
        checked_at: r.get(6)?,
    })
}

/// The stored head of `log_id` in `table` (`log_heads` on a laptop,
/// `upstream_heads` on a station).
pub fn load_head(
    conn: &rusqlite::Connection,
    table: &str,
    log_id: Uuid,
) -> rusqlite::Result<Option<StoredLogHead>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(&format!(
        "SELECT log_id, public_key, tree_size, timestamp, root_hash, signature, checked_at
         FROM {table} WHERE log_id = ?1"
    ))?
    .query_row([log_id.to_string()], head_from_row)
    .optional()
}

/// Stores `head` as the last verified head of its log in `table`.
pub fn save_head(
    conn: &rusqlite::Connection,
    table: &str,
    head: &StoredLogHead,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO {table} (log_id, public_key, tree_size, timestamp, root_hash, signature, checked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(log_id) DO UPDATE SET public_key = excluded.public_key,
            tree_size = excluded.tree_size, timestamp = excluded.timestamp,
            root_hash = excluded.root_hash, signature = excluded.signature,
            checked_at = excluded.checked_at"
    ))?
    .execute(rusqlite::params![
        head.log_id.to_string(),
        &head.public_key[..],
        i64::try_from(head.tree_size).unwrap_or(i64::MAX),
        i64::try_from(head.timestamp).unwrap_or(i64::MAX),
        &head.root_hash[..],
        &head.signature[..],
        head.checked_at,
    ])?;
    Ok(())
}

/// Records an alarm (table `log_alarms`).
pub fn save_alarm(conn: &rusqlite::Connection, alarm: &LogAlarm) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO log_alarms (at, log_id, server, kind, detail, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            alarm.at,
            alarm.log_id.to_string(),
            alarm.server,
            alarm.kind,
            alarm.detail,
            alarm.evidence
        ],
    )?;
    Ok(())
}

/// Every alarm, oldest first.
pub fn load_alarms(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<LogAlarm>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, log_id, server, kind, detail, evidence FROM log_alarms ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(LogAlarm {
            id: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            at: r.get(1)?,
            log_id: Uuid::parse_str(&r.get::<_, String>(2)?).unwrap_or_default(),
            server: r.get(3)?,
            kind: r.get(4)?,
            detail: r.get(5)?,
            evidence: r.get(6)?,
        })
    })?;
    rows.collect()
}
