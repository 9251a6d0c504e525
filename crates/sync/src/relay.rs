//! A station relaying attachment blobs to central (`proto/attachments-v1.md`
//! section 7): after its records are forwarded, for each one central holds
//! without all its attachments, the station uploads the sealed objects it
//! holds under the missing hashes (resumable, like a laptop, signed as the
//! station), then asks central where those records stand. Objects central
//! holds whole are deleted here; the record rows keep the answer for the
//! laptops' custody queries.

use std::collections::BTreeSet;

use chrono::Utc;
use doorstep_central::{CentralError, CentralStore, SqliteCentral};
use doorstep_wire::{CustodyKey, CustodyQuery, MAX_BATCH_RECORDS, PROTOCOL_VERSION};
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::forward::ForwardReport;
use crate::push::SyncOptions;
use crate::upload::{Stop, UploadReport, send_one};

/// Relays what central lacks and settles the records it completes.
/// Delivery problems end the step with [`ForwardReport::error`] set;
/// `Err` only for local failures.
pub async fn relay_blobs(
    store: &SqliteCentral,
    client: &Client,
    opts: &SyncOptions,
    report: &mut ForwardReport,
) -> Result<(), CentralError> {
    let Some(bytes) = store.blobs() else {
        return Ok(());
    };
    // Every hash central lacks for a forwarded record, once.
    let mut wanted = BTreeSet::new();
    let mut after = None;
    loop {
        let page =
            tokio::task::block_in_place(|| store.incomplete_upstream(after, MAX_BATCH_RECORDS))?;
        let Some(last) = page.last() else { break };
        after = Some((last.device_id, last.device_seq));
        wanted.extend(page.into_iter().flat_map(|r| r.missing));
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut sent = UploadReport::default();
    for sha256 in &wanted {
        for object in tokio::task::block_in_place(|| store.sealed_to_relay(sha256))? {
            let Some(data) = bytes
                .get(&object.sealed_sha256)
                .await
                .map_err(CentralError::Blob)?
            else {
                // The row says held but the bytes are gone: the laptop's
                // copy is the one left; refuse this one so it is not tried again.
                tokio::task::block_in_place(|| {
                    store.mark_sealed_refused(&object.sealed_sha256, "local.object_missing")
                })?;
                report
                    .blobs_refused
                    .push((sha256.clone(), "local.object_missing".into()));
                continue;
            };
            if hex::encode(Sha256::digest(&data)) != object.sealed_sha256 {
                tokio::task::block_in_place(|| {
                    store.mark_sealed_refused(&object.sealed_sha256, "local.object_damaged")
                })?;
                report
                    .blobs_refused
                    .push((sha256.clone(), "local.object_damaged".into()));
                continue;
            }
            match send_one(
                client,
                sha256,
                &object.sealed_sha256,
                &data,
                &opts.retry,
                &mut sent,
            )
            .await
            {
                Ok(()) => {
                    tokio::task::block_in_place(|| {
                        store.mark_sealed_delivered(&object.sealed_sha256, Utc::now())
                    })?;
                    // Central holds it whole: the station's copy has done its job.
                    bytes
                        .delete(&object.sealed_sha256)
                        .await
                        .map_err(CentralError::Blob)?;
                    report.blobs_relayed += 1;
                    break;
                }
                Err(Stop::Refused(code)) => {
                    tokio::task::block_in_place(|| {
                        store.mark_sealed_refused(&object.sealed_sha256, &code)
                    })?;
                    report.blobs_refused.push((sha256.clone(), code));
                }
                Err(Stop::Failed(e)) => {
                    report.blob_bytes_sent += sent.bytes_sent;
                    report.error = Some(e);
                    return Ok(());
                }
            }
        }
    }
    report.blob_bytes_sent += sent.bytes_sent;
    ask_custody(store, client, report).await
}

/// Asks central where every incomplete forwarded record stands now.
async fn ask_custody(
    store: &SqliteCentral,
    client: &Client,
    report: &mut ForwardReport,
) -> Result<(), CentralError> {
    let mut after = None;
    loop {
        let page =
            tokio::task::block_in_place(|| store.incomplete_upstream(after, MAX_BATCH_RECORDS))?;
        let Some(last) = page.last() else { break };
        after = Some((last.device_id, last.device_seq));
        let query = CustodyQuery {
            protocol: PROTOCOL_VERSION,
            records: page
                .iter()
                .map(|r| CustodyKey {
                    record_id: r.record_id,
                    content_hash: r.content_hash.to_hex(),
                })
                .collect(),
        };
        let answer = match client.custody(&query).await {
            Ok(a) => a,
            Err(e) => {
                report.error = Some(e.to_string());
                return Ok(());
            }
        };
        let lines_match = answer.records.len() == page.len()
            && answer
                .records
                .iter()
                .zip(&page)
                .all(|(l, r)| l.record_id == r.record_id);
        if !lines_match {
            report.error = Some(format!(
                "{}: the custody answer does not list the {} records asked about, in order",
                client.server(),
                page.len()
            ));
            return Ok(());
        }
        tokio::task::block_in_place(|| store.apply_upstream_custody(&answer.records, Utc::now()))?;
    }
    Ok(())
}
