//! The station side of the store: what is still to forward upstream, what
//! upstream answered, and custody answers for laptops.

use std::path::Path;

use chrono::{DateTime, Utc};
use doorstep_core::ContentHash;
use doorstep_core::canonical::format_utc_millis;
use doorstep_wire::{CustodyKey, CustodyLine, CustodyState, NodeRole, OutcomeCounts};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::SqliteCentral;
use crate::error::CentralError;

/// A held record not yet answered by upstream.
#[derive(Debug, Clone)]
pub struct ForwardItem {
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub content_hash: ContentHash,
    pub canonical: Vec<u8>,
}

/// What upstream answered for one forwarded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAck {
    Confirmed,
    Rejected {
        code: String,
        reason: String,
        reason_vi: String,
    },
}

impl SqliteCentral {
    /// Up to `limit` records not yet answered by upstream, in (device,
    /// sequence) order after `after`.
    pub fn to_forward(
        &self,
        after: Option<(Uuid, u64)>,
        limit: usize,
    ) -> Result<Vec<ForwardItem>, CentralError> {
        let conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let (dev, seq) = after.map_or((String::new(), -1), |(d, s)| {
            (d.to_string(), i64::try_from(s).unwrap_or(i64::MAX))
        });
        let mut stmt = conn
            .prepare_cached(
                "SELECT record_id, device_id, device_seq, content_hash, canonical FROM records
                 WHERE upstream_status IS NULL AND (device_id, device_seq) > (?1, ?2)
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
                        r.get::<_, Vec<u8>>(4)?,
                    ))
                },
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, device, seq, hash, canonical) = row.map_err(err)?;
            let bad = |what: &str| CentralError::Inconsistent(format!("record {id}: bad {what}"));
            out.push(ForwardItem {
                record_id: Uuid::parse_str(&id).map_err(|_| bad("record_id"))?,
                device_id: Uuid::parse_str(&device).map_err(|_| bad("device_id"))?,
                device_seq: u64::try_from(seq).map_err(|_| bad("device_seq"))?,
                content_hash: <[u8; 32]>::try_from(hash.as_slice())
                    .map(ContentHash)
                    .map_err(|_| bad("content_hash"))?,
                canonical,
            });
        }
        Ok(out)
    }

    /// Number of held records upstream has not answered yet.
    pub fn forward_backlog(&self) -> Result<u64, CentralError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT COUNT(*) FROM records WHERE upstream_status IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// Records upstream's answers and logs the forwarded batch, in one
    /// transaction. An answer already recorded is not changed.
    pub fn apply_upstream(
        &self,
        upstream: &str,
        batch_id: Uuid,
        acks: &[(Uuid, UpstreamAck)],
        counts: &OutcomeCounts,
        now: DateTime<Utc>,
    ) -> Result<(), CentralError> {
        let mut conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let at = format_utc_millis(&now);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE records SET upstream_status = ?2, upstream_code = ?3, upstream_reason = ?4,
                            upstream_reason_vi = ?5, upstream_at = ?6
                     WHERE record_id = ?1 AND upstream_status IS NULL",
                )
                .map_err(err)?;
            for (id, ack) in acks {
                let (status, code, reason, reason_vi) = match ack {
                    UpstreamAck::Confirmed => ("confirmed", None, None, None),
                    UpstreamAck::Rejected {
                        code,
                        reason,
                        reason_vi,
                    } => (
                        "rejected",
                        Some(code.as_str()),
                        Some(reason.as_str()),
                        Some(reason_vi.as_str()),
                    ),
                };
                stmt.execute(params![id.to_string(), status, code, reason, reason_vi, at])
                    .map_err(err)?;
            }
        }
        insert_forward_log(&tx, &at, upstream, batch_id, acks.len(), counts, None).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Logs a forwarding attempt that got no receipt.
    pub fn log_forward_failure(
        &self,
        upstream: &str,
        batch_id: Uuid,
        records: usize,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CentralError> {
        let conn = self.lock()?;
        insert_forward_log(
            &conn,
            &format_utc_millis(&now),
            upstream,
            batch_id,
            records,
            &OutcomeCounts::default(),
            Some(error),
        )
        .map_err(|e| CentralError::sqlite(&self.path, e))
    }
}

fn insert_forward_log(
    conn: &Connection,
    at: &str,
    upstream: &str,
    batch_id: Uuid,
    records: usize,
    c: &OutcomeCounts,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO forward_log (at, upstream, batch_id, records, accepted, duplicate, conflict, invalid, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        at,
        upstream,
        batch_id.to_string(),
        n(records as u64),
        n(c.accepted),
        n(c.duplicate),
        n(c.conflict),
        n(c.invalid),
        error
    ])?;
    Ok(())
}

/// Custody answers for `keys` (see [`CustodyState`]).
pub(super) fn custody(
    conn: &mut Connection,
    path: &Path,
    role: NodeRole,
    keys: &[CustodyKey],
) -> Result<Vec<CustodyLine>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let tx = conn.transaction().map_err(err)?;
    let mut out = Vec::with_capacity(keys.len());
    {
        let mut held = tx
            .prepare_cached(
                "SELECT content_hash, upstream_status, upstream_code, upstream_reason, upstream_reason_vi
                 FROM records WHERE record_id = ?1",
            )
            .map_err(err)?;
        let mut refused = tx
            .prepare_cached(
                "SELECT code, reason FROM refusals WHERE record_id = ?1 AND content_hash = ?2
                 ORDER BY id DESC LIMIT 1",
            )
            .map_err(err)?;
        for key in keys {
            let id = key.record_id.to_string();
            let row = held
                .query_row([&id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .optional()
                .map_err(err)?;
            let line = |state, code, reason, reason_vi| CustodyLine {
                record_id: key.record_id,
                state,
                code,
                reason,
                reason_vi,
            };
            let answer = match row {
                Some((hash, status, code, reason, reason_vi))
                    if hex::encode(&hash) == key.content_hash =>
                {
                    match (role, status.as_deref()) {
                        (NodeRole::Station, None) => line(CustodyState::Held, None, None, None),
                        (NodeRole::Station, Some("rejected")) => {
                            line(CustodyState::Rejected, code, reason, reason_vi)
                        }
                        _ => line(CustodyState::Confirmed, None, None, None),
                    }
                }
                _ => match refused
                    .query_row(params![id, key.content_hash], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .optional()
                    .map_err(err)?
                {
                    Some((code, reason)) => {
                        line(CustodyState::Rejected, Some(code), Some(reason), None)
                    }
                    None => line(CustodyState::Unknown, None, None, None),
                },
            };
            out.push(answer);
        }
    }
    Ok(out)
}
