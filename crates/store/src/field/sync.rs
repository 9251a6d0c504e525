//! The laptop side of sync: applying a receipt (custody states) in the same
//! transaction that stores it, recording failed attempts, and the local
//! sync log.

use chrono::{DateTime, Utc};
use doorstep_core::canonical::format_utc_millis;
use rusqlite::{TransactionBehavior, params};
use uuid::Uuid;

use super::FieldStore;
use crate::error::StoreError;

/// What a receipt says about one record, for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Central holds it (accepted or duplicate): never sent again.
    Confirmed,
    /// A station holds it and will forward it.
    Held { by: String },
    /// Central (`by`) holds the record but not every attachment it names:
    /// never sent again; its blobs are uploaded, then custody asked again.
    Incomplete { by: String },
    /// Refused for good (conflict or invalid), with why.
    Rejected {
        code: String,
        reason: String,
        reason_vi: String,
    },
}

/// A receipt as received, stored before its acknowledgements count.
#[derive(Debug, Clone)]
pub struct ReceiptToStore<'a> {
    pub batch_id: Uuid,
    pub session_id: Uuid,
    pub issuer_id: Uuid,
    pub issuer_role: &'a str,
    pub received_at: &'a str,
    /// `identity` or `zstd`.
    pub encoding: &'a str,
    pub body: &'a [u8],
    /// Where the batch's entry sits in the issuer's audit log, and the
    /// size of the signed head that proved it (checked before storing).
    pub log_index: Option<u64>,
    pub tree_size: Option<u64>,
}

/// Kinds of sync log events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncEventKind {
    SessionStarted,
    BatchSent,
    BatchFailed,
    SessionFinished,
}

impl SyncEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncEventKind::SessionStarted => "session_started",
            SyncEventKind::BatchSent => "batch_sent",
            SyncEventKind::BatchFailed => "batch_failed",
            SyncEventKind::SessionFinished => "session_finished",
        }
    }

    fn parse(s: &str) -> Option<SyncEventKind> {
        [
            SyncEventKind::SessionStarted,
            SyncEventKind::BatchSent,
            SyncEventKind::BatchFailed,
            SyncEventKind::SessionFinished,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One line of the local sync log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncEvent {
    pub session_id: Uuid,
    pub event: SyncEventKind,
    pub server: String,
    pub batch_id: Option<Uuid>,
    pub records: u64,
    pub accepted: u64,
    pub duplicate: u64,
    pub conflict: u64,
    pub invalid: u64,
    pub bytes_sent: u64,
    pub detail: Option<String>,
    /// For `BatchSent`: every record of the batch (ID, content hash), in
    /// batch order; the journal's `sent` entry digests them. Not logged.
    #[serde(skip)]
    pub sent: Vec<(Uuid, doorstep_core::ContentHash)>,
}

impl SyncEvent {
    /// An event with no counts.
    pub fn new(session_id: Uuid, event: SyncEventKind, server: &str) -> SyncEvent {
        SyncEvent {
            session_id,
            event,
            server: server.to_owned(),
            batch_id: None,
            records: 0,
            accepted: 0,
            duplicate: 0,
            conflict: 0,
            invalid: 0,
            bytes_sent: 0,
            detail: None,
            sent: Vec::new(),
        }
    }
}

/// A sync log line as read back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncLogEntry {
    pub at: String,
    #[serde(flatten)]
    pub event: SyncEvent,
}

/// How many records a receipt moved to each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AckCounts {
    pub confirmed: u64,
    pub held: u64,
    /// Held at central, attachments still to upload.
    pub incomplete: u64,
    pub rejected: u64,
}

impl FieldStore {
    /// Stores `receipt` and applies its acknowledgements in one
    /// transaction: records count as acknowledged only once the receipt
    /// that says so is on disk. A confirmed record never changes state
    /// again; a rejected one changes only to confirmed.
    pub fn apply_receipt(
        &mut self,
        receipt: Option<&ReceiptToStore<'_>>,
        acks: &[(Uuid, Ack)],
        event: &SyncEvent,
        now: DateTime<Utc>,
    ) -> Result<AckCounts, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let at = format_utc_millis(&now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some(receipt) = receipt {
            tx.execute(
            "INSERT INTO receipts (batch_id, session_id, issuer_id, issuer_role, received_at, stored_at, encoding, body,
                                   log_index, tree_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(batch_id) DO UPDATE SET session_id = excluded.session_id,
                issuer_id = excluded.issuer_id, issuer_role = excluded.issuer_role,
                received_at = excluded.received_at, stored_at = excluded.stored_at,
                encoding = excluded.encoding, body = excluded.body,
                log_index = excluded.log_index, tree_size = excluded.tree_size",
            params![
                receipt.batch_id.to_string(),
                receipt.session_id.to_string(),
                receipt.issuer_id.to_string(),
                receipt.issuer_role,
                receipt.received_at,
                at,
                receipt.encoding,
                receipt.body,
                receipt.log_index.and_then(|v| i64::try_from(v).ok()),
                receipt.tree_size.and_then(|v| i64::try_from(v).ok()),
            ],
        )
        .map_err(err)?;
        }
        let mut counts = AckCounts::default();
        {
            let mut confirm = tx
                .prepare_cached(
                    "UPDATE records SET status = 'confirmed', status_at = ?2, last_error = NULL
                     WHERE record_id = ?1 AND status <> 'confirmed'",
                )
                .map_err(err)?;
            let mut hold = tx
                .prepare_cached(
                    "UPDATE records SET status = 'held', status_at = ?2, held_by = ?3, last_error = NULL
                     WHERE record_id = ?1 AND status = 'pending'",
                )
                .map_err(err)?;
            let mut incomplete = tx
                .prepare_cached(
                    "UPDATE records SET status = 'incomplete', status_at = ?2, held_by = ?3, last_error = NULL
                     WHERE record_id = ?1 AND status IN ('pending', 'held')",
                )
                .map_err(err)?;
            let mut reject = tx
                .prepare_cached(
                    "UPDATE records SET status = 'rejected', status_at = ?2, reject_code = ?3,
                            reject_reason = ?4, reject_reason_vi = ?5
                     WHERE record_id = ?1 AND status IN ('pending', 'held')",
                )
                .map_err(err)?;
            for (id, ack) in acks {
                let id = id.to_string();
                match ack {
                    Ack::Confirmed => {
                        counts.confirmed += confirm.execute(params![id, at]).map_err(err)? as u64;
                    }
                    Ack::Held { by } => {
                        counts.held += hold.execute(params![id, at, by]).map_err(err)? as u64;
                    }
                    Ack::Incomplete { by } => {
                        counts.incomplete +=
                            incomplete.execute(params![id, at, by]).map_err(err)? as u64;
                    }
                    Ack::Rejected {
                        code,
                        reason,
                        reason_vi,
                    } => {
                        counts.rejected += reject
                            .execute(params![id, at, code, reason, reason_vi])
                            .map_err(err)? as u64;
                    }
                }
            }
        }
        super::journal::after_receipt(
            &tx,
            &path,
            receipt.map(|r| r.batch_id).or(event.batch_id),
            event,
            acks,
            &at,
        )?;
        insert_event(&tx, event, &at).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(counts)
    }

    /// Records a failed delivery attempt on the records of a batch (their
    /// attempt count and last error) and the failure in the sync log.
    pub fn record_failed_attempt(
        &mut self,
        ids: &[Uuid],
        event: &SyncEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let at = format_utc_millis(&now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE records SET attempts = attempts + 1, last_error = ?2, last_attempt_at = ?3
                     WHERE record_id = ?1 AND status IN ('pending', 'held')",
                )
                .map_err(err)?;
            for id in ids {
                stmt.execute(params![id.to_string(), event.detail, at])
                    .map_err(err)?;
            }
        }
        insert_event(&tx, event, &at).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// Appends one event to the sync log.
    pub fn log_sync_event(
        &mut self,
        event: &SyncEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = format_utc_millis(&now);
        if event.event == SyncEventKind::BatchSent {
            return super::journal::log_with_sent(
                &mut self.conn,
                &self.path,
                event,
                &at,
                insert_event,
            );
        }
        insert_event(&self.conn, event, &at).map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// The newest `limit` sync log lines, oldest first.
    pub fn sync_log(&self, limit: u64) -> Result<Vec<SyncLogEntry>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, session_id, event, server, batch_id, records, accepted, duplicate, conflict,
                        invalid, bytes_sent, detail
                 FROM (SELECT * FROM sync_log ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    [
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                    ],
                    r.get::<_, Option<String>>(11)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (at, session, event, server, batch, n, detail) = row.map_err(err)?;
            let n = n.map(|v| u64::try_from(v).unwrap_or(0));
            out.push(SyncLogEntry {
                at,
                event: SyncEvent {
                    session_id: Uuid::parse_str(&session).unwrap_or_default(),
                    event: SyncEventKind::parse(&event).ok_or_else(|| {
                        StoreError::Inconsistent(format!("unknown sync event `{event}`"))
                    })?,
                    server,
                    batch_id: batch.and_then(|b| Uuid::parse_str(&b).ok()),
                    records: n[0],
                    accepted: n[1],
                    duplicate: n[2],
                    conflict: n[3],
                    invalid: n[4],
                    bytes_sent: n[5],
                    detail,
                    sent: Vec::new(),
                },
            });
        }
        Ok(out)
    }

    /// Records never acknowledged (`pending`), in sequence order after
    /// `after_seq`: what a sync sends.
    pub fn pending_outbox(
        &self,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<super::OutboxItem>, StoreError> {
        self.page_in_state(super::RecordStatus::Pending, after_seq, limit, true)
    }

    /// Records a station holds for this laptop (`held`), after `after_seq`:
    /// (sequence, record ID, content hash).
    pub fn held_records(
        &self,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<(u64, Uuid, doorstep_core::ContentHash)>, StoreError> {
        Ok(self
            .page_in_state(super::RecordStatus::Held, after_seq, limit, false)?
            .into_iter()
            .map(|i| (i.device_seq, i.record_id, i.content_hash))
            .collect())
    }

    /// Up to `limit` records in `status` after `after_seq`, in sequence
    /// order; their canonical bytes are read only `with_bytes`.
    pub(crate) fn page_in_state(
        &self,
        status: super::RecordStatus,
        after_seq: u64,
        limit: u64,
        with_bytes: bool,
    ) -> Result<Vec<super::OutboxItem>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT device_seq, record_id, content_hash,
                        CASE WHEN ?4 AND sealed IS NULL THEN canonical ELSE x'' END, signature, protected,
                        CASE WHEN ?4 THEN sealed END
                 FROM records WHERE status = ?3 AND device_seq > ?1 ORDER BY device_seq LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                params![
                    i64::try_from(after_seq).unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    status.as_str(),
                    with_bytes
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<Vec<u8>>>(6)?,
                    ))
                },
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, hash, canonical, signature, protected, sealed) = row.map_err(err)?;
            let bad =
                || StoreError::Inconsistent(format!("record #{seq} has a malformed ID or hash"));
            let content_hash = <[u8; 32]>::try_from(hash.as_slice())
                .map(doorstep_core::ContentHash)
                .map_err(|_| bad())?;
            let canonical = if with_bytes {
                self.payload(seq, &content_hash, protected, canonical, &sealed)?
            } else {
                Vec::new()
            };
            out.push(super::OutboxItem {
                device_seq: u64::try_from(seq).unwrap_or(0),
                record_id: Uuid::parse_str(&id).map_err(|_| bad())?,
                content_hash,
                canonical,
                sealed,
                status,
                signature: super::stored_signature(seq, signature)?,
            });
        }
        Ok(out)
    }

    /// Puts held records back to pending so they are sent again (to
    /// central directly, when it does not hold them yet). Resending is
    /// always safe: the record ID is central's key.
    pub fn requeue_held(&mut self, ids: &[Uuid], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let at = format_utc_millis(&now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE records SET status = 'pending', status_at = ?2 WHERE record_id = ?1 AND status = 'held'",
                )
                .map_err(err)?;
            for id in ids {
                n += stmt.execute(params![id.to_string(), at]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }

    /// Caps SQLite's page cache of this connection (the store opens with a
    /// large cache for bulk enrolls; a sync only streams through the outbox
    /// once and needs little).
    pub fn limit_page_cache(&self, kib: u32) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib};"))
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Number of receipts stored.
    pub fn receipt_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM receipts", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }
}

fn insert_event(conn: &rusqlite::Connection, e: &SyncEvent, at: &str) -> rusqlite::Result<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO sync_log (session_id, at, event, server, batch_id, records, accepted, duplicate,
                               conflict, invalid, bytes_sent, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        e.session_id.to_string(),
        at,
        e.event.as_str(),
        e.server,
        e.batch_id.map(|b| b.to_string()),
        n(e.records),
        n(e.accepted),
        n(e.duplicate),
        n(e.conflict),
        n(e.invalid),
        n(e.bytes_sent),
        e.detail,
    ])?;
    Ok(())
}
