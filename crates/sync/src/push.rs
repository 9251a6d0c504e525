//! Pushing the outbox: read a page of records from SQLite, send it as one
//! batch (retrying), store the receipt and apply it in one transaction,
//! move on. Memory holds one batch at a time, whatever the backlog.

use std::time::Duration;

use chrono::Utc;
use doorstep_store::{
    Ack, FieldStore, OutboxItem, ReceiptToStore, StoreError, SyncEvent, SyncEventKind,
};
use doorstep_wire::log::{JournalHead, LogEntry};
use doorstep_wire::{
    Batch, BatchRecord, CustodyKey, CustodyQuery, CustodyState, MAX_BATCH_RECORDS, NodeRole,
    Outcome, PROTOCOL_VERSION, Receipt, Sender,
};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::backoff::RetryPolicy;
use crate::client::{Client, SendError};

/// SQLite page cache while syncing, in KiB.
pub const SYNC_PAGE_CACHE_KIB: u32 = 4 * 1024;

/// Records per batch unless told otherwise.
pub const DEFAULT_BATCH_RECORDS: usize = 1_000;

/// How to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub batch_records: usize,
    pub retry: RetryPolicy,
    /// zstd level for request bodies (0: send uncompressed).
    pub zstd_level: i32,
    /// Upload attachment blobs after the records (off: records only, e.g.
    /// on a link too poor for images; the blobs wait for a later sync).
    pub blobs: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch_records: DEFAULT_BATCH_RECORDS,
            retry: RetryPolicy::default(),
            zstd_level: 3,
            blobs: true,
        }
    }
}

/// What one sync run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub session_id: Uuid,
    pub server: String,
    /// Records in the outbox when the run started.
    pub outbox_before: u64,
    /// Records still in the outbox at the end (pending + held).
    pub outbox_after: u64,
    /// Records never acknowledged at the end: the run succeeded when 0.
    pub pending_after: u64,
    /// Records a station holds, waiting for central's answer.
    pub held_after: u64,
    /// Role of the server that answered (`central` or `station`).
    pub server_role: Option<String>,
    pub batches: u64,
    pub records_sent: u64,
    pub accepted: u64,
    pub duplicate: u64,
    pub conflict: u64,
    pub invalid: u64,
    /// Records whose outcome this build does not know (left queued).
    pub unknown: u64,
    pub confirmed: u64,
    pub held: u64,
    pub rejected: u64,
    pub bytes_sent: u64,
    pub retries: u64,
    /// Attachment blobs the server now holds whole after this run's uploads.
    pub blobs_uploaded: u64,
    /// Bytes of blob chunks sent (re-sent ones included).
    pub blob_bytes_sent: u64,
    /// Blobs the server refused for good (`field status` shows them).
    pub blobs_refused: u64,
    /// Records central holds without all their attachments at the end.
    pub incomplete_after: u64,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// The server's log failed a witness check: an alarm was stored.
    pub log_alarm: bool,
    /// Size of the server's log as last checked.
    pub log_size: Option<u64>,
    /// Set when the run stopped because the server's TLS certificate is
    /// not trusted ([`SendError::Untrusted`]; nothing more was sent): what
    /// was wrong with it, e.g. "invalid peer certificate: UnknownIssuer".
    pub certificate_untrusted: Option<String>,
}

/// Progress callbacks for a terminal progress bar.
pub trait Progress {
    fn start(&mut self, _outbox: u64) {}
    fn sent(&mut self, _records: u64) {}
    fn retrying(&mut self, _retry: u32, _delay: Duration, _why: &str) {}
}

/// No progress display.
impl Progress for () {}

/// Why a sync run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(#[from] Box<SendError>),
    #[error("the receipt from {server} does not match the batch sent: {detail}")]
    BadReceipt { server: String, detail: String },
    #[error("cannot encode a batch: {0}")]
    Encode(String),
    /// The server's log failed a check (the alarm is stored) or could not
    /// be checked.
    #[error("{0}")]
    Log(String),
}

impl SyncError {
    /// When the server's TLS certificate is not trusted (retrying cannot
    /// help, the laptop needs the right CA certificate): why.
    pub fn untrusted_detail(&self) -> Option<&str> {
        match self {
            SyncError::Send(e) => e.untrusted_detail(),
            _ => None,
        }
    }
}

impl From<crate::witness::WitnessError<StoreError>> for SyncError {
    fn from(e: crate::witness::WitnessError<StoreError>) -> Self {
        match e {
            crate::witness::WitnessError::Store(e) => SyncError::Store(e),
            other => SyncError::Log(other.to_string()),
        }
    }
}

/// Pushes the whole outbox of `store` to `client`'s server. Returns a
/// report when the run went to the end or stopped on a delivery failure
/// (see [`SyncReport::error`]); an `Err` only for local failures (store).
pub async fn sync_outbox(
    store: &mut FieldStore,
    client: &Client,
    opts: &SyncOptions,
    progress: &mut (dyn Progress + Send),
) -> Result<SyncReport, StoreError> {
    let session_id = Uuid::now_v7();
    let server = client.server().to_owned();
    // A provisioned laptop signs every request as itself.
    let signed;
    let client = match store.signer()? {
        Some(key) => {
            signed = client.clone().with_identity(store.device().device_id, key);
            &signed
        }
        None => client,
    };
    // The outbox is read once, in order: a small page cache keeps the
    // client's memory flat however long the queue.
    store.limit_page_cache(SYNC_PAGE_CACHE_KIB)?;
    let outbox_before = store.status()?.outbox;
    let mut report = SyncReport {
        session_id,
        server: server.clone(),
        outbox_before,
        ..SyncReport::default()
    };
    progress.start(outbox_before);
    store.log_sync_event(
        &SyncEvent::new(session_id, SyncEventKind::SessionStarted, &server),
        Utc::now(),
    )?;
    let sender = Sender {
        node_id: store.device().device_id,
        role: NodeRole::Field,
        name: Some(store.device().device_name.clone()),
        client_version: concat!("doorstep/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    let per_batch = opts.batch_records.clamp(1, MAX_BATCH_RECORDS);
    // Before anything is sent: is the server's log an extension of what
    // this laptop saw last time?
    // Reaching the server is retried like a batch would be.
    let mut retry = 0;
    let checked = loop {
        match crate::witness::check_current_head(store, client, &opts.retry).await {
            Err(crate::witness::WitnessError::Fetch(e))
                if e.is_retryable() && retry < opts.retry.retries =>
            {
                retry += 1;
                report.retries += 1;
                let delay = opts.retry.delay(retry);
                tracing::info!(retry, ?delay, error = %e, "server not reached; retrying");
                progress.retrying(retry, delay, &e.to_string());
                tokio::time::sleep(delay).await;
            }
            other => break other,
        }
    };
    match checked {
        Ok(head) => report.log_size = Some(head.tree_size),
        Err(crate::witness::WitnessError::Store(e)) => return Err(e),
        Err(e) => {
            report.log_alarm = matches!(e, crate::witness::WitnessError::Alarm { .. });
            if let crate::witness::WitnessError::Fetch(f) = &e {
                report.certificate_untrusted = f.untrusted_detail().map(str::to_owned);
            }
            let text = e.to_string();
            if let crate::witness::WitnessError::Fetch(_) = e {
                // Nothing could be sent: say so on the records waiting, as a
                // failed batch would (attempts, last error, sync log).
                let waiting = store.pending_outbox(0, per_batch as u64)?;
                if !waiting.is_empty() {
                    let ids: Vec<Uuid> = waiting.iter().map(|i| i.record_id).collect();
                    let mut ev = SyncEvent::new(session_id, SyncEventKind::BatchFailed, &server);
                    ev.records = ids.len() as u64;
                    ev.detail = Some(text.clone());
                    store.record_failed_attempt(&ids, &ev, Utc::now())?;
                }
            }
            report.error = Some(text);
            return finish(store, report);
        }
    }
    // Send what was never acknowledged, then ask about what a station
    // holds; records central turns out not to hold yet are sent to it
    // directly (once per run).
    for round in 0..2 {
        let delivered = send_pending(
            store,
            client,
            opts,
            &sender,
            session_id,
            per_batch,
            &mut report,
            progress,
        )
        .await?;
        if !delivered {
            break;
        }
        let requeued = match ask_custody(store, client, session_id, &mut report).await {
            Ok(n) => n,
            Err(SyncError::Store(e)) => return Err(e),
            Err(e) => {
                if let Some(detail) = e.untrusted_detail() {
                    report.certificate_untrusted = Some(detail.to_owned());
                }
                report.error = Some(e.to_string());
                break;
            }
        };
        if requeued == 0 || round == 1 {
            break;
        }
    }
    if report.error.is_none() && opts.blobs {
        upload_and_confirm(store, client, opts, session_id, &mut report).await?;
    }
    finish(store, report)
}

/// Uploads the blobs of records the server holds, then asks again where
/// the records waiting for them stand (`incomplete` → `confirmed`).
async fn upload_and_confirm(
    store: &mut FieldStore,
    client: &Client,
    opts: &SyncOptions,
    session_id: Uuid,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let uploaded = crate::upload::upload_blobs(store, client, &opts.retry).await?;
    report.blobs_uploaded = uploaded.blobs_done;
    report.blob_bytes_sent = uploaded.bytes_sent;
    report.blobs_refused = uploaded.refused.len() as u64;
    if let Some(e) = uploaded.error {
        report.error = Some(e);
        return Ok(());
    }
    match ask_custody_of(store, client, session_id, report, true).await {
        Ok(_) => Ok(()),
        Err(SyncError::Store(e)) => Err(e),
        Err(e) => {
            report.error = Some(e.to_string());
            Ok(())
        }
    }
}

/// Final counts and the session's last sync log event.
fn finish(store: &mut FieldStore, mut report: SyncReport) -> Result<SyncReport, StoreError> {
    // Blobs of records now confirmed (directly, or through a station):
    // their hashes leave the upload queue.
    store.forget_settled_blob_hashes()?;
    let session_id = report.session_id;
    let server = report.server.clone();
    let st = store.status()?;
    let count = |name: &str| st.by_status.iter().find(|s| s.0 == name).map_or(0, |s| s.1);
    report.pending_after = count("pending");
    report.held_after = count("held");
    report.incomplete_after = count("incomplete");
    report.outbox_after = st.outbox;
    let mut done = SyncEvent::new(session_id, SyncEventKind::SessionFinished, &server);
    done.records = report.records_sent;
    done.accepted = report.accepted;
    done.duplicate = report.duplicate;
    done.conflict = report.conflict;
    done.invalid = report.invalid;
    done.bytes_sent = report.bytes_sent;
    done.detail = Some(match &report.error {
        Some(e) => format!("stopped: {e}; {} records still queued", report.outbox_after),
        None => format!("{} records still queued", report.outbox_after),
    });
    store.log_sync_event(&done, Utc::now())?;
    Ok(report)
}

/// Sends every pending record; false when a batch could not be delivered
/// (the reason is in the report).
#[allow(clippy::too_many_arguments)]
async fn send_pending(
    store: &mut FieldStore,
    client: &Client,
    opts: &SyncOptions,
    sender: &Sender,
    session_id: Uuid,
    per_batch: usize,
    report: &mut SyncReport,
    progress: &mut (dyn Progress + Send),
) -> Result<bool, StoreError> {
    let mut after_seq = 0;
    loop {
        let items = store.pending_outbox(after_seq, per_batch as u64)?;
        let Some(last) = items.last() else {
            return Ok(true);
        };
        after_seq = last.device_seq;
        match send_batch(
            store, client, opts, sender, session_id, &items, report, progress,
        )
        .await
        {
            Ok(()) => {}
            Err(SyncError::Store(e)) => return Err(e),
            Err(e) => {
                report.log_alarm |= matches!(&e, SyncError::Log(m) if m.starts_with("AUDIT ALARM"));
                if let Some(detail) = e.untrusted_detail() {
                    report.certificate_untrusted = Some(detail.to_owned());
                }
                report.error = Some(e.to_string());
                return Ok(false);
            }
        }
    }
}

/// Asks the server where the records it (or a station) holds stand and
/// applies the answers: confirmed, rejected. Returns how many held records
/// were put back to pending because central does not hold them yet.
async fn ask_custody(
    store: &mut FieldStore,
    client: &Client,
    session_id: Uuid,
    report: &mut SyncReport,
) -> Result<usize, SyncError> {
    ask_custody_of(store, client, session_id, report, false).await
}

/// [`ask_custody`] about the `held` records, or about the `incomplete`
/// ones (central holds them, waiting for attachments).
async fn ask_custody_of(
    store: &mut FieldStore,
    client: &Client,
    session_id: Uuid,
    report: &mut SyncReport,
    incomplete: bool,
) -> Result<usize, SyncError> {
    let mut after_seq = 0;
    let mut requeue = Vec::new();
    loop {
        let held = if incomplete {
            store.incomplete_records(after_seq, MAX_BATCH_RECORDS as u64)?
        } else {
            store.held_records(after_seq, MAX_BATCH_RECORDS as u64)?
        };
        let Some(last) = held.last() else { break };
        after_seq = last.0;
        let query = CustodyQuery {
            protocol: PROTOCOL_VERSION,
            records: held
                .iter()
                .map(|(_, id, hash)| CustodyKey {
                    record_id: *id,
                    content_hash: hash.to_hex(),
                })
                .collect(),
        };
        let answer = match client.custody(&query).await {
            Ok(a) => a,
            // A server without custody queries: nothing to learn from it.
            Err(SendError::Problem { status: 404, .. }) => return Ok(0),
            Err(e) => return Err(Box::new(e).into()),
        };
        report.server_role = Some(answer.issuer.role.as_str().to_owned());
        if answer.records.len() != held.len() {
            return Err(SyncError::BadReceipt {
                server: client.server().to_owned(),
                detail: format!(
                    "{} custody lines for {} records",
                    answer.records.len(),
                    held.len()
                ),
            });
        }
        let mut acks = Vec::new();
        for (line, (_, id, _)) in answer.records.iter().zip(&held) {
            if line.record_id != *id {
                return Err(SyncError::BadReceipt {
                    server: client.server().to_owned(),
                    detail: format!("custody line for {} where {id} was asked", line.record_id),
                });
            }
            match line.state {
                CustodyState::Confirmed => acks.push((*id, Ack::Confirmed)),
                CustodyState::Incomplete => acks.push((
                    *id,
                    Ack::Incomplete {
                        by: answer.issuer.node_id.to_string(),
                    },
                )),
                CustodyState::Rejected => acks.push((
                    *id,
                    Ack::Rejected {
                        code: line.code.clone().unwrap_or_else(|| "rejected".into()),
                        reason: line.reason.clone().unwrap_or_default(),
                        reason_vi: line
                            .reason_vi
                            .clone()
                            .or_else(|| line.reason.clone())
                            .unwrap_or_default(),
                    },
                )),
                CustodyState::Unknown if answer.issuer.role == NodeRole::Central => {
                    requeue.push(*id);
                }
                _ => {}
            }
        }
        if !acks.is_empty() {
            let mut ev = SyncEvent::new(session_id, SyncEventKind::BatchSent, client.server());
            ev.detail = Some(format!(
                "custody: {} of {} held records answered",
                acks.len(),
                held.len()
            ));
            let counts = store.apply_receipt(None, &acks, &ev, Utc::now())?;
            report.confirmed += counts.confirmed;
            report.rejected += counts.rejected;
        }
    }
    Ok(store.requeue_held(&requeue, Utc::now())?)
}

/// Sends one page of the outbox until it has a receipt, then applies it.
#[allow(clippy::too_many_arguments)]
async fn send_batch(
    store: &mut FieldStore,
    client: &Client,
    opts: &SyncOptions,
    sender: &Sender,
    session_id: Uuid,
    items: &[OutboxItem],
    report: &mut SyncReport,
    progress: &mut (dyn Progress + Send),
) -> Result<(), SyncError> {
    let batch_id = Uuid::now_v7();
    let journal = store.journal_head()?.map(|h| JournalHead {
        seq: h.seq,
        hash: h.hash,
    });
    let body = encode_batch(
        batch_id,
        session_id,
        sender,
        journal,
        items.iter().map(|i| {
            (
                i.device_seq,
                &i.content_hash,
                i.canonical.as_slice(),
                i.sealed.as_deref(),
                i.signature.as_ref(),
            )
        }),
        opts.zstd_level,
    )?;
    let bytes = body.len() as u64;
    let ids: Vec<Uuid> = items.iter().map(|i| i.record_id).collect();
    let mut retry = 0;
    let (receipt, raw) = loop {
        report.bytes_sent += bytes;
        match client.post_batch(body.clone(), opts.zstd_level > 0).await {
            Ok(ok) => break ok,
            Err(e) => {
                let retryable = e.is_retryable();
                let mut ev =
                    SyncEvent::new(session_id, SyncEventKind::BatchFailed, client.server());
                ev.batch_id = Some(batch_id);
                ev.records = items.len() as u64;
                ev.bytes_sent = bytes;
                ev.detail = Some(e.to_string());
                store.record_failed_attempt(&ids, &ev, Utc::now())?;
                if !retryable || retry >= opts.retry.retries {
                    return Err(Box::new(e).into());
                }
                retry += 1;
                report.retries += 1;
                let delay = opts.retry.delay(retry);
                tracing::info!(retry, ?delay, error = %e, "batch not delivered; retrying");
                progress.retrying(retry, delay, &e.to_string());
                tokio::time::sleep(delay).await;
            }
        }
    };
    let acks =
        check_receipt(&receipt, batch_id, items).map_err(|detail| SyncError::BadReceipt {
            server: client.server().to_owned(),
            detail,
        })?;
    // The receipt is applied only if the log says what it says.
    let entry = LogEntry::new(
        batch_id,
        session_id,
        sender,
        journal,
        &receipt.received_at,
        &receipt.records,
    );
    crate::witness::check_receipt(store, client, &receipt, &entry, &opts.retry).await?;
    if let Some(log) = &receipt.log {
        report.log_size = Some(log.tree_head.tree_size);
    }
    let mut ev = SyncEvent::new(session_id, SyncEventKind::BatchSent, client.server());
    ev.batch_id = Some(batch_id);
    ev.records = items.len() as u64;
    ev.sent = items
        .iter()
        .map(|i| (i.record_id, i.content_hash))
        .collect();
    ev.accepted = receipt.counts.accepted;
    ev.duplicate = receipt.counts.duplicate;
    ev.conflict = receipt.counts.conflict;
    ev.invalid = receipt.counts.invalid;
    ev.bytes_sent = bytes;
    // Receipts are kept compressed: they are mostly IDs and hashes.
    let stored = zstd::bulk::compress(&raw, 3).map_err(|e| SyncError::Encode(e.to_string()))?;
    report.server_role = Some(receipt.issuer.role.as_str().to_owned());
    let counts = store.apply_receipt(
        Some(&ReceiptToStore {
            batch_id,
            session_id,
            issuer_id: receipt.issuer.node_id,
            issuer_role: receipt.issuer.role.as_str(),
            received_at: &receipt.received_at,
            encoding: "zstd",
            body: &stored,
            log_index: receipt.log.as_ref().map(|l| l.index),
            tree_size: receipt.log.as_ref().map(|l| l.tree_head.tree_size),
        }),
        &acks,
        &ev,
        Utc::now(),
    )?;
    report.batches += 1;
    report.records_sent += items.len() as u64;
    report.accepted += receipt.counts.accepted;
    report.duplicate += receipt.counts.duplicate;
    report.conflict += receipt.counts.conflict;
    report.invalid += receipt.counts.invalid;
    report.unknown += receipt
        .records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Unknown(_)))
        .count() as u64;
    report.confirmed += counts.confirmed;
    report.held += counts.held;
    report.rejected += counts.rejected;
    progress.sent(items.len() as u64);
    Ok(())
}

/// One record to put in a batch: sequence number (for messages), content
/// hash, canonical bytes (empty when sealed), the record as sealed
/// (`SealedRecord` JSON) if it is, and the device's signature.
pub type BatchItem<'a> = (
    u64,
    &'a doorstep_core::ContentHash,
    &'a [u8],
    Option<&'a [u8]>,
    Option<&'a [u8; 64]>,
);

/// The request body of one batch: canonical records embedded verbatim,
/// sealed records as they were sealed.
pub fn encode_batch<'a>(
    batch_id: Uuid,
    session_id: Uuid,
    sender: &Sender,
    journal: Option<JournalHead>,
    items: impl Iterator<Item = BatchItem<'a>>,
    zstd_level: i32,
) -> Result<Vec<u8>, SyncError> {
    let mut records = Vec::new();
    for (seq, hash, canonical, sealed, signature) in items {
        let (record, sealed) = match sealed {
            Some(sealed) => (
                None,
                Some(
                    serde_json::from_slice(sealed)
                        .map_err(|e| SyncError::Encode(format!("sealed record #{seq}: {e}")))?,
                ),
            ),
            None => {
                let text = String::from_utf8(canonical.to_vec())
                    .map_err(|_| SyncError::Encode(format!("record #{seq} is not UTF-8")))?;
                let raw = RawValue::from_string(text)
                    .map_err(|e| SyncError::Encode(format!("record #{seq}: {e}")))?;
                (Some(raw), None)
            }
        };
        records.push(BatchRecord {
            content_hash: hash.to_hex(),
            record,
            sealed,
            signature: signature.map(hex::encode),
        });
    }
    let batch = Batch {
        protocol: PROTOCOL_VERSION,
        batch_id,
        session_id,
        sender: sender.clone(),
        journal,
        records,
    };
    let json = serde_json::to_vec(&batch).map_err(|e| SyncError::Encode(e.to_string()))?;
    if zstd_level == 0 {
        return Ok(json);
    }
    zstd::bulk::compress(&json, zstd_level).map_err(|e| SyncError::Encode(e.to_string()))
}

/// Checks that `receipt` answers the batch of `sent` records (record ID,
/// content hash) line by line: same batch, one line per record in order,
/// same hash, same record ID when the line names one.
pub fn check_lines<'a>(
    receipt: &Receipt,
    batch_id: Uuid,
    sent: impl ExactSizeIterator<Item = (Uuid, &'a doorstep_core::ContentHash)>,
) -> Result<(), String> {
    if receipt.batch_id != batch_id {
        return Err(format!(
            "receipt for batch {}, sent batch {batch_id}",
            receipt.batch_id
        ));
    }
    if receipt.records.len() != sent.len() {
        return Err(format!(
            "{} receipt lines for {} records",
            receipt.records.len(),
            sent.len()
        ));
    }
    for (i, (line, (id, hash))) in receipt.records.iter().zip(sent).enumerate() {
        if line.index as usize != i || line.content_hash != hash.to_hex() {
            return Err(format!("line {i} does not answer record {id}"));
        }
        if line.record_id.is_some_and(|named| named != id) {
            return Err(format!("line {i} names another record ID"));
        }
    }
    Ok(())
}

/// Turns a receipt that answers the batch sent into acknowledgements. A
/// receipt that does not match is not applied.
fn check_receipt(
    receipt: &Receipt,
    batch_id: Uuid,
    items: &[OutboxItem],
) -> Result<Vec<(Uuid, Ack)>, String> {
    check_lines(
        receipt,
        batch_id,
        items.iter().map(|i| (i.record_id, &i.content_hash)),
    )?;
    let mut acks = Vec::with_capacity(items.len());
    for (line, item) in receipt.records.iter().zip(items) {
        let ack = match line.outcome {
            Outcome::Accepted | Outcome::Duplicate => match receipt.issuer.role {
                // Held, but not confirmed until central holds every attachment.
                NodeRole::Central if !line.missing_attachments.is_empty() => Ack::Incomplete {
                    by: receipt.issuer.node_id.to_string(),
                },
                NodeRole::Central => Ack::Confirmed,
                NodeRole::Station | NodeRole::Field => Ack::Held {
                    by: receipt.issuer.node_id.to_string(),
                },
            },
            Outcome::Conflict | Outcome::Invalid => Ack::Rejected {
                code: line
                    .code
                    .clone()
                    .unwrap_or_else(|| line.outcome.as_str().to_owned()),
                reason: line.reason.clone().unwrap_or_default(),
                reason_vi: line.reason_vi.clone().unwrap_or_default(),
            },
            Outcome::Unknown(_) => continue,
        };
        acks.push((item.record_id, ack));
    }
    Ok(acks)
}
