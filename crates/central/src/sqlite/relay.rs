//! A station relaying attachment blobs (`proto/attachments-v1.md` section
//! 7): the sealed objects laptops uploaded, which forwarded records central
//! still lacks blobs for, and what became of each relayed object.

use chrono::{DateTime, Utc};
use doorstep_core::ContentHash;
use doorstep_core::canonical::format_utc_millis;
use doorstep_wire::{CustodyLine, CustodyState};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::SqliteCentral;
use crate::error::CentralError;
use crate::store::BlobCompletion;

/// A forwarded record central holds without all its attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteUpstream {
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub content_hash: ContentHash,
    /// SHA-256s central said it lacks, as it gave them.
    pub missing: Vec<String>,
}

/// A sealed object this station holds and central may lack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedToRelay {
    /// The plaintext SHA-256 the uploader claimed (the upload's address).
    pub sha256: String,
    pub sealed_sha256: String,
    /// Size of the sealed object.
    pub size: u64,
}

/// Size of a sealed object held whole here, by its own hash.
pub(super) fn sealed_held(conn: &Connection, sealed_sha256: &str) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT size FROM sealed_blobs WHERE sealed_sha256 = ?1")?
        .query_row([sealed_sha256], |r| r.get::<_, i64>(0))
        .optional()
        .map(|s| s.map(|s| u64::try_from(s).unwrap_or(0)))
}

/// Notes a sealed object received whole (its bytes are on disk already).
pub(super) fn sealed_received(conn: &Connection, c: &BlobCompletion) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO sealed_blobs (sealed_sha256, sha256, size, sender_id, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        c.sealed_sha256,
        c.sha256,
        i64::try_from(c.object_size).unwrap_or(i64::MAX),
        c.sender.to_string(),
        format_utc_millis(&c.at)
    ])?;
    Ok(())
}

/// The list stored in `records.upstream_missing`.
pub(super) fn join_missing(missing: &[String]) -> String {
    missing.join(" ")
}

pub(super) fn split_missing(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_owned).collect()
}

impl SqliteCentral {
    /// Forwarded records central holds without all their attachments, in
    /// (device, sequence) order after `after`.
    pub fn incomplete_upstream(
        &self,
        after: Option<(Uuid, u64)>,
        limit: usize,
    ) -> Result<Vec<IncompleteUpstream>, CentralError> {
        let conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let (dev, seq) = super::forward::page_after(after);
        let mut stmt = conn
            .prepare_cached(
                "SELECT record_id, device_id, device_seq, content_hash, upstream_missing FROM records
                 WHERE upstream_status IS NULL AND upstream_missing IS NOT NULL
                   AND (device_id, device_seq) > (?1, ?2)
                 ORDER BY device_id, device_seq LIMIT ?3",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                params![dev, seq, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, device, seq, hash, missing) = row.map_err(err)?;
            let bad = |what: &str| CentralError::Inconsistent(format!("record {id}: bad {what}"));
            out.push(IncompleteUpstream {
                record_id: Uuid::parse_str(&id).map_err(|_| bad("record_id"))?,
                device_id: Uuid::parse_str(&device).map_err(|_| bad("device_id"))?,
                device_seq: u64::try_from(seq).map_err(|_| bad("device_seq"))?,
                content_hash: <[u8; 32]>::try_from(hash.as_slice())
                    .map(ContentHash)
                    .map_err(|_| bad("content_hash"))?,
                missing: split_missing(&missing),
            });
        }
        Ok(out)
    }

    /// Number of forwarded records central holds without all attachments.
    pub fn incomplete_upstream_count(&self) -> Result<u64, CentralError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT COUNT(*) FROM records WHERE upstream_status IS NULL AND upstream_missing IS NOT NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Sealed objects held here, claimed to be the blob `sha256`, that
    /// were neither delivered to central nor refused by it.
    pub fn sealed_to_relay(&self, sha256: &str) -> Result<Vec<SealedToRelay>, CentralError> {
        let conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let mut stmt = conn
            .prepare_cached(
                "SELECT sealed_sha256, size FROM sealed_blobs
                 WHERE sha256 = ?1 AND delivered_at IS NULL AND refused_code IS NULL
                 ORDER BY received_at, sealed_sha256",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([sha256], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (sealed_sha256, size) = row.map_err(err)?;
            out.push(SealedToRelay {
                sha256: sha256.to_owned(),
                sealed_sha256,
                size: u64::try_from(size).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Central holds the object's blob whole: the object need not be kept.
    pub fn mark_sealed_delivered(
        &self,
        sealed_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CentralError> {
        let conn = self.lock()?;
        conn.execute(
            "UPDATE sealed_blobs SET delivered_at = ?2 WHERE sealed_sha256 = ?1 AND delivered_at IS NULL",
            params![sealed_sha256, format_utc_millis(&now)],
        )
        .map(|_| ())
        .map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Central refused the object for good (`code`): it is not sent again.
    pub fn mark_sealed_refused(&self, sealed_sha256: &str, code: &str) -> Result<(), CentralError> {
        let conn = self.lock()?;
        conn.execute(
            "UPDATE sealed_blobs SET refused_code = ?2 WHERE sealed_sha256 = ?1",
            params![sealed_sha256, code],
        )
        .map(|_| ())
        .map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Records central's custody answers for incomplete forwarded records,
    /// in one transaction: `confirmed` and `rejected` settle a record,
    /// `incomplete` updates what central lacks, `unknown` (central does
    /// not hold it after all) queues it to be forwarded again.
    pub fn apply_upstream_custody(
        &self,
        lines: &[CustodyLine],
        now: DateTime<Utc>,
    ) -> Result<(), CentralError> {
        let mut conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let at = format_utc_millis(&now);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut settle = tx
                .prepare_cached(
                    "UPDATE records SET upstream_status = ?2, upstream_code = ?3, upstream_reason = ?4,
                            upstream_reason_vi = ?5, upstream_at = ?6, upstream_missing = NULL
                     WHERE record_id = ?1 AND upstream_status IS NULL",
                )
                .map_err(err)?;
            let mut missing = tx
                .prepare_cached(
                    "UPDATE records SET upstream_missing = ?2
                     WHERE record_id = ?1 AND upstream_status IS NULL",
                )
                .map_err(err)?;
            for line in lines {
                let id = line.record_id.to_string();
                match line.state {
                    CustodyState::Confirmed => {
                        settle
                            .execute(params![
                                id,
                                "confirmed",
                                None::<String>,
                                None::<String>,
                                None::<String>,
                                at
                            ])
                            .map_err(err)?;
                    }
                    CustodyState::Rejected => {
                        settle
                            .execute(params![
                                id,
                                "rejected",
                                line.code.as_deref().unwrap_or("rejected"),
                                line.reason.as_deref().unwrap_or_default(),
                                line.reason_vi.as_deref().unwrap_or_default(),
                                at
                            ])
                            .map_err(err)?;
                    }
                    CustodyState::Incomplete if !line.missing_attachments.is_empty() => {
                        missing
                            .execute(params![id, join_missing(&line.missing_attachments)])
                            .map_err(err)?;
                    }
                    CustodyState::Unknown => {
                        missing.execute(params![id, None::<String>]).map_err(err)?;
                    }
                    // Nothing new (or nothing this station can act on).
                    _ => {}
                }
            }
        }
        tx.commit().map_err(err)
    }
}
