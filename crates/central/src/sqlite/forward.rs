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
    /// The canonical record, or the record as sealed when `sealed`.
    pub canonical: Vec<u8>,
    pub sealed: bool,
    /// The enrolling device's signature, forwarded unchanged.
    pub signature: Option<[u8; 64]>,
}

/// What upstream answered for one forwarded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAck {
    Confirmed,
    /// Central holds the record but lacks these attachments (SHA-256s):
    /// the station relays them and asks custody until it is confirmed.
    Incomplete {
        missing: Vec<String>,
    },
    Rejected {
        code: String,
        reason: String,
        reason_vi: String,
    },
}

/// The (device, sequence) key a page of station records starts after, as
/// bound in SQL (`("", -1)`: from the first).
pub(super) fn page_after(after: Option<(Uuid, u64)>) -> (String, i64) {
    after.map_or((String::new(), -1), |(d, s)| {
        (d.to_string(), i64::try_from(s).unwrap_or(i64::MAX))
    })
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
        let (dev, seq) = page_after(after);
        let mut stmt = conn
            .prepare_cached(
                "SELECT record_id, device_id, device_seq, content_hash, canonical, signature, sealed FROM records
                 WHERE upstream_status IS NULL AND upstream_missing IS NULL
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
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, Option<Vec<u8>>>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                },
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, device, seq, hash, canonical, signature, sealed) = row.map_err(err)?;
            let bad = |what: &str| CentralError::Inconsistent(format!("record {id}: bad {what}"));
            out.push(ForwardItem {
                record_id: Uuid::parse_str(&id).map_err(|_| bad("record_id"))?,
                device_id: Uuid::parse_str(&device).map_err(|_| bad("device_id"))?,
                device_seq: u64::try_from(seq).map_err(|_| bad("device_seq"))?,
                content_hash: <[u8; 32]>::try_from(hash.as_slice())
                    .map(ContentHash)
                    .map_err(|_| bad("content_hash"))?,
                canonical,
                sealed,
                signature: signature
                    .map(|s| <[u8; 64]>::try_from(s.as_slice()).map_err(|_| bad("signature")))
                    .transpose()?,
            });
        }
        Ok(out)
    }

    /// Number of held records upstream has not answered yet (not counting
    /// those central holds without all their attachments).
    pub fn forward_backlog(&self) -> Result<u64, CentralError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT COUNT(*) FROM records WHERE upstream_status IS NULL AND upstream_missing IS NULL",
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
            let mut incomplete = tx
                .prepare_cached(
                    "UPDATE records SET upstream_missing = ?2, upstream_at = ?3
                     WHERE record_id = ?1 AND upstream_status IS NULL",
                )
                .map_err(err)?;
            for (id, ack) in acks {
                let (status, code, reason, reason_vi) = match ack {
                    UpstreamAck::Incomplete { missing } => {
                        incomplete
                            .execute(params![
                                id.to_string(),
                                super::relay::join_missing(missing),
                                at
                            ])
                            .map_err(err)?;
                        continue;
                    }
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
                "SELECT content_hash, upstream_status, upstream_code, upstream_reason, upstream_reason_vi,
                        upstream_missing
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
                        r.get::<_, Option<String>>(5)?,
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
                missing_attachments: Vec::new(),
            };
            let answer = match row {
                Some((hash, status, code, reason, reason_vi, upstream_missing))
                    if hex::encode(&hash) == key.content_hash =>
                {
                    match (role, status.as_deref()) {
                        // Central holds it, lacking attachments: its list, as it gave it.
                        (NodeRole::Station, None) if upstream_missing.is_some() => {
                            let mut l = line(CustodyState::Incomplete, None, None, None);
                            l.missing_attachments = super::relay::split_missing(
                                upstream_missing.as_deref().unwrap_or_default(),
                            );
                            l
                        }
                        (NodeRole::Station, None) => line(CustodyState::Held, None, None, None),
                        // A station confirms only what central confirmed whole.
                        (NodeRole::Station, Some("confirmed")) => {
                            line(CustodyState::Confirmed, None, None, None)
                        }
                        (NodeRole::Station, Some("rejected")) => {
                            line(CustodyState::Rejected, code, reason, reason_vi)
                        }
                        _ => {
                            // Confirmed only with every attachment held whole.
                            let missing = super::attachments::missing(&tx, &id).map_err(err)?;
                            if missing.is_empty() {
                                line(CustodyState::Confirmed, None, None, None)
                            } else {
                                let mut l = line(CustodyState::Incomplete, None, None, None);
                                l.missing_attachments = missing;
                                l
                            }
                        }
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

/// Per device, what a station received and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StationDeviceReport {
    pub device_id: Uuid,
    pub name: Option<String>,
    pub received: u64,
    pub forwarded_confirmed: u64,
    pub forwarded_rejected: u64,
    pub waiting: u64,
    /// Records this device sent again that the station already held.
    pub duplicates: u64,
    pub contiguous_seq: u64,
    pub max_seq: u64,
    pub gaps: Vec<(u64, u64)>,
}

/// Records about the same citizen and kind from more than one device:
/// flagged for review, never dropped.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SameCitizen {
    pub personal_id: String,
    pub kind: String,
    pub records: Vec<(Uuid, Uuid)>,
}

/// `doorstep station report`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StationReport {
    pub node_id: Uuid,
    pub devices: Vec<StationDeviceReport>,
    pub same_citizen: Vec<SameCitizen>,
}

impl SqliteCentral {
    /// The merge report of a station (or of central: nothing forwarded).
    pub async fn station_report(&self) -> Result<StationReport, CentralError> {
        let status = doorstep_central_status(self).await?;
        let node_id = self.node_id;
        self.blocking(move |conn, path| {
            let err = |e| CentralError::sqlite(path, e);
            let tx = conn.transaction().map_err(err)?;
            let mut devices = Vec::new();
            for d in status.devices {
                let id = d.device_id.to_string();
                let n = |sql: &str| -> Result<u64, CentralError> {
                    tx.query_row(sql, [&id], |r| r.get::<_, i64>(0))
                        .map(|v| u64::try_from(v).unwrap_or(0))
                        .map_err(err)
                };
                devices.push(StationDeviceReport {
                    received: n("SELECT COUNT(*) FROM records WHERE device_id = ?1")?,
                    forwarded_confirmed: n(
                        "SELECT COUNT(*) FROM records WHERE device_id = ?1 AND upstream_status = 'confirmed'",
                    )?,
                    forwarded_rejected: n(
                        "SELECT COUNT(*) FROM records WHERE device_id = ?1 AND upstream_status = 'rejected'",
                    )?,
                    waiting: n(
                        "SELECT COUNT(*) FROM records WHERE device_id = ?1 AND upstream_status IS NULL",
                    )?,
                    duplicates: n(
                        "SELECT COALESCE(SUM(duplicate), 0) FROM sessions WHERE node_id = ?1",
                    )?,
                    device_id: d.device_id,
                    name: d.name,
                    contiguous_seq: d.contiguous_seq,
                    max_seq: d.max_seq,
                    gaps: d.gaps,
                });
            }
            let mut same_citizen = Vec::new();
            {
                let mut stmt = tx
                    .prepare(
                        "WITH c AS (SELECT record_id, device_id, kind,
                                           json_extract(CAST(canonical AS TEXT), '$.body.citizen.personal_id') AS pid
                                    FROM records WHERE sealed = 0)
                         SELECT c.pid, c.kind, c.record_id, c.device_id FROM c
                         JOIN (SELECT pid, kind FROM c GROUP BY pid, kind HAVING COUNT(DISTINCT device_id) > 1) m
                           ON m.pid = c.pid AND m.kind = c.kind
                         ORDER BY c.pid, c.kind, c.device_id",
                    )
                    .map_err(err)?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    })
                    .map_err(err)?;
                for row in rows {
                    let (pid, kind, rid, did) = row.map_err(err)?;
                    let pair = (
                        Uuid::parse_str(&rid).unwrap_or_default(),
                        Uuid::parse_str(&did).unwrap_or_default(),
                    );
                    match same_citizen.last_mut() {
                        Some(SameCitizen {
                            personal_id,
                            kind: k,
                            records,
                        }) if *personal_id == pid && *k == kind => records.push(pair),
                        _ => same_citizen.push(SameCitizen {
                            personal_id: pid,
                            kind,
                            records: vec![pair],
                        }),
                    }
                }
            }
            Ok(StationReport {
                node_id,
                devices,
                same_citizen,
            })
        })
        .await
    }
}

async fn doorstep_central_status(
    store: &SqliteCentral,
) -> Result<crate::store::CentralStatus, CentralError> {
    crate::store::CentralStore::status(store).await
}
