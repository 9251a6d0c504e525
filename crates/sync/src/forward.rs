//! A station forwarding what it holds to central: read a page of records
//! upstream has not answered, send it as one batch (sender role `station`,
//! each record with its origin device, sequence and hash untouched), retry
//! until central answers, record the answers in one transaction, go on.
//! A crash anywhere only means records are sent again and answered
//! `duplicate`.

use chrono::Utc;
use doorstep_central::SqliteCentral;
use doorstep_central::sqlite::{ForwardItem, UpstreamAck};
use doorstep_wire::{MAX_BATCH_RECORDS, NodeRole, Outcome, OutcomeCounts, Receipt, Sender};
use uuid::Uuid;

use crate::client::Client;
use crate::push::{SyncError, SyncOptions, encode_batch};
use crate::witness::WitnessError;
use doorstep_wire::log::LogEntry;

/// What one forwarding round did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ForwardReport {
    pub batches: u64,
    pub records: u64,
    pub counts: OutcomeCounts,
    pub retries: u64,
    /// Held records upstream has not answered yet, after the round.
    pub backlog: u64,
    pub error: Option<String>,
    /// Central's log failed a witness check: an alarm was stored.
    pub log_alarm: bool,
    /// Sealed blobs central now holds whole because this round relayed them.
    pub blobs_relayed: u64,
    /// Bytes of blob chunks sent, re-sent ones included.
    pub blob_bytes_sent: u64,
    /// Sealed blobs central refused for good this round (code per blob).
    pub blobs_refused: Vec<(String, String)>,
    /// Records central holds without all their attachments, after the round.
    pub incomplete: u64,
}

/// Forwards everything `store` holds that upstream has not answered.
/// Stops at the first batch that cannot be delivered (retries used up)
/// and says why in [`ForwardReport::error`]; `Err` only for local failures.
pub async fn forward_all(
    store: &SqliteCentral,
    client: &Client,
    name: Option<String>,
    opts: &SyncOptions,
) -> Result<ForwardReport, doorstep_central::CentralError> {
    let mut report = ForwardReport::default();
    let sender = Sender {
        node_id: doorstep_central::CentralStore::node_id(store),
        role: NodeRole::Station,
        name,
        client_version: concat!("doorstep/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    let session_id = Uuid::now_v7();
    let per_batch = opts.batch_records.clamp(1, MAX_BATCH_RECORDS);
    // A registered station signs every request as itself.
    let signed;
    let client = match tokio::task::block_in_place(|| store.identity_signer())? {
        Some(key) => {
            signed = client.clone().with_identity(sender.node_id, key);
            &signed
        }
        None => client,
    };
    // Is central's log an extension of what this station saw last time?
    match crate::witness::check_current_head(&mut &*store, client, &opts.retry).await {
        Ok(_) => {}
        Err(crate::witness::WitnessError::Store(e)) => return Err(e),
        Err(e) => {
            report.log_alarm = matches!(e, crate::witness::WitnessError::Alarm { .. });
            report.error = Some(e.to_string());
            report.backlog = tokio::task::block_in_place(|| store.forward_backlog())?;
            return Ok(report);
        }
    }
    let mut after = None;
    loop {
        let items = tokio::task::block_in_place(|| store.to_forward(after, per_batch))?;
        let Some(last) = items.last() else { break };
        after = Some((last.device_id, last.device_seq));
        match forward_batch(
            store,
            client,
            opts,
            &sender,
            session_id,
            &items,
            &mut report,
        )
        .await
        {
            Ok(()) => {}
            Err(ForwardError::Local(e)) => return Err(e),
            Err(ForwardError::Delivery(e)) => {
                report.error = Some(e);
                break;
            }
            Err(ForwardError::Alarm(e)) => {
                report.log_alarm = true;
                report.error = Some(e);
                break;
            }
        }
    }
    if report.error.is_none() {
        crate::relay::relay_blobs(store, client, opts, &mut report).await?;
    }
    report.backlog = tokio::task::block_in_place(|| store.forward_backlog())?;
    report.incomplete = tokio::task::block_in_place(|| store.incomplete_upstream_count())?;
    Ok(report)
}

enum ForwardError {
    Local(doorstep_central::CentralError),
    Delivery(String),
    /// Central's log failed a witness check (the alarm is stored).
    Alarm(String),
}

fn witness_error(e: WitnessError<doorstep_central::CentralError>) -> ForwardError {
    match e {
        WitnessError::Store(e) => ForwardError::Local(e),
        WitnessError::Alarm { .. } => ForwardError::Alarm(e.to_string()),
        WitnessError::Fetch(_) => ForwardError::Delivery(e.to_string()),
    }
}

async fn forward_batch(
    store: &SqliteCentral,
    client: &Client,
    opts: &SyncOptions,
    sender: &Sender,
    session_id: Uuid,
    items: &[ForwardItem],
    report: &mut ForwardReport,
) -> Result<(), ForwardError> {
    let batch_id = Uuid::now_v7();
    let body = encode_batch(
        batch_id,
        session_id,
        sender,
        None,
        items.iter().map(|i| {
            (
                i.device_seq,
                &i.content_hash,
                if i.sealed {
                    &[]
                } else {
                    i.canonical.as_slice()
                },
                i.sealed.then_some(i.canonical.as_slice()),
                i.signature.as_ref(),
            )
        }),
        opts.zstd_level,
    )
    .map_err(|e| ForwardError::Delivery(e.to_string()))?;
    let mut retry = 0;
    let receipt = loop {
        match client.post_batch(body.clone(), opts.zstd_level > 0).await {
            Ok((receipt, _raw)) => break receipt,
            Err(e) => {
                let text = e.to_string();
                tokio::task::block_in_place(|| {
                    store.log_forward_failure(
                        client.server(),
                        batch_id,
                        items.len(),
                        &text,
                        Utc::now(),
                    )
                })
                .map_err(ForwardError::Local)?;
                if !e.is_retryable() || retry >= opts.retry.retries {
                    return Err(ForwardError::Delivery(text));
                }
                retry += 1;
                report.retries += 1;
                let delay = opts.retry.delay(retry);
                tracing::info!(retry, ?delay, error = %text, "forwarding: batch not delivered; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    };
    let acks = check_forward_receipt(&receipt, batch_id, items).map_err(|detail| {
        ForwardError::Delivery(
            SyncError::BadReceipt {
                server: client.server().to_owned(),
                detail,
            }
            .to_string(),
        )
    })?;
    // Central's answers count only if its log says the same.
    let entry = LogEntry::new(
        batch_id,
        session_id,
        sender,
        None,
        &receipt.received_at,
        &receipt.records,
    );
    crate::witness::check_receipt(&mut &*store, client, &receipt, &entry, &opts.retry)
        .await
        .map_err(witness_error)?;
    tokio::task::block_in_place(|| {
        store.apply_upstream(
            client.server(),
            batch_id,
            &acks,
            &receipt.counts,
            Utc::now(),
        )
    })
    .map_err(ForwardError::Local)?;
    report.batches += 1;
    report.records += items.len() as u64;
    report.counts.merge(&receipt.counts);
    Ok(())
}

/// Upstream's answers per record; only central's answers settle a record.
fn check_forward_receipt(
    receipt: &Receipt,
    batch_id: Uuid,
    items: &[ForwardItem],
) -> Result<Vec<(Uuid, UpstreamAck)>, String> {
    crate::push::check_lines(
        receipt,
        batch_id,
        items.iter().map(|i| (i.record_id, &i.content_hash)),
    )?;
    if receipt.issuer.role != NodeRole::Central {
        return Err(format!(
            "upstream is a {} node; a station forwards to central",
            receipt.issuer.role.as_str()
        ));
    }
    let mut acks = Vec::with_capacity(items.len());
    for (line, item) in receipt.records.iter().zip(items) {
        let ack = match line.outcome {
            // Central holds the record but lacks attachments: not
            // confirmed until the station (or the laptop) delivers them.
            Outcome::Accepted | Outcome::Duplicate if !line.missing_attachments.is_empty() => {
                UpstreamAck::Incomplete {
                    missing: line.missing_attachments.clone(),
                }
            }
            Outcome::Accepted | Outcome::Duplicate => UpstreamAck::Confirmed,
            Outcome::Conflict | Outcome::Invalid => UpstreamAck::Rejected {
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
