//! Attachments in the embedded store (`proto/attachments-v1.md` sections
//! 8 and 11): which blobs each held record names, which blobs are held
//! whole, and so which records are complete. The blob bytes themselves are
//! in [`crate::blobs::DirBlobs`] beside the database.

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::store::{BlobCompletion, BlobFacts};

/// Notes the attachments a newly accepted record names.
pub(super) fn insert(
    conn: &Connection,
    record_id: &str,
    list: &[(String, u64)],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO record_attachments (record_id, sha256, size) VALUES (?1, ?2, ?3)",
    )?;
    for (sha, size) in list {
        stmt.execute(params![
            record_id,
            sha,
            i64::try_from(*size).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(())
}

/// The attachments of a held record not held whole yet, by hash.
pub(super) fn missing(conn: &Connection, record_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ra.sha256 FROM record_attachments ra
         WHERE ra.record_id = ?1 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = ra.sha256)
         ORDER BY ra.sha256",
    )?;
    let rows = stmt.query_map([record_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Held whole (and its size), and the size held records give it.
pub(super) fn facts(conn: &Connection, sha256: &str) -> rusqlite::Result<BlobFacts> {
    let held: Option<i64> = conn
        .prepare_cached("SELECT size FROM blobs WHERE sha256 = ?1")?
        .query_row([sha256], |r| r.get(0))
        .optional()?;
    let named: Option<i64> = conn
        .prepare_cached("SELECT size FROM record_attachments WHERE sha256 = ?1 LIMIT 1")?
        .query_row([sha256], |r| r.get(0))
        .optional()?;
    Ok(BlobFacts {
        held: held.map(|s| u64::try_from(s).unwrap_or(0)),
        named_size: named.map(|s| u64::try_from(s).unwrap_or(0)),
    })
}

/// Marks a blob held whole (its bytes are on disk already), notes the
/// sealed object it came in, and returns the held records now complete.
pub(super) fn completed(
    conn: &mut Connection,
    c: &BlobCompletion,
) -> rusqlite::Result<Vec<(Uuid, String)>> {
    let tx = conn.transaction()?;
    let at = doorstep_core::canonical::format_utc_millis(&c.at);
    let size = i64::try_from(c.size).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT OR IGNORE INTO blobs (sha256, size, stored_at) VALUES (?1, ?2, ?3)",
        params![c.sha256, size, at],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO sealed_blobs (sealed_sha256, sha256, size, sender_id, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            c.sealed_sha256,
            c.sha256,
            i64::try_from(c.object_size).unwrap_or(i64::MAX),
            c.sender.to_string(),
            at
        ],
    )?;
    let mut completes = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT r.record_id, r.content_hash FROM record_attachments ra
             JOIN records r ON r.record_id = ra.record_id
             WHERE ra.sha256 = ?1
               AND NOT EXISTS (SELECT 1 FROM record_attachments o
                               WHERE o.record_id = ra.record_id
                                 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = o.sha256))
             ORDER BY r.device_id, r.device_seq",
        )?;
        let rows = stmt.query_map([&c.sha256], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (id, hash) = row?;
            if let Ok(id) = Uuid::parse_str(&id) {
                completes.push((id, hex::encode(hash)));
            }
        }
    }
    tx.commit()?;
    Ok(completes)
}
