//! The laptop's blob uploader (`proto/attachments-v1.md` section 5.5):
//! every blob named by a record some node holds, not yet held whole by
//! the server, is sent in checksummed chunks from the offset the server
//! says it holds. A cut connection costs at most the chunk in flight.

use doorstep_store::{FieldStore, StoreError};
use doorstep_wire::NodeRole;
use sha2::{Digest, Sha256};

use crate::backoff::RetryPolicy;
use crate::client::{BlobHead, BlobPatched, Client, SendError};

/// Chunk size sent (the protocol's largest).
pub const CHUNK: usize = doorstep_wire::blobs::MAX_CHUNK;
/// A chunk refused by its checksum is sent again at most this many times in a row.
const CHECKSUM_RETRIES: u32 = 3;

/// What an upload run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UploadReport {
    /// Blobs the server now holds whole (sent, or found already held).
    pub blobs_done: u64,
    /// Bytes of chunk bodies sent, re-sent ones included.
    pub bytes_sent: u64,
    /// Blobs refused for good, with the code.
    pub refused: Vec<(String, String)>,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
}

/// Uploads every queued blob to the server `client` talks to. Does
/// nothing on a server that does not take attachments.
pub async fn upload_blobs(
    store: &mut FieldStore,
    client: &Client,
    retry: &RetryPolicy,
) -> Result<UploadReport, StoreError> {
    let mut report = UploadReport::default();
    let health = match client.health().await {
        Ok(h) => h,
        Err(e) => {
            report.error = Some(e.to_string());
            return Ok(report);
        }
    };
    if !health
        .features
        .iter()
        .any(|f| f == doorstep_wire::blobs::FEATURE)
    {
        return Ok(report);
    }
    let node = health.node_id.to_string();
    let central = health.role == NodeRole::Central;
    for blob in store.blobs_to_send(&node)? {
        let object = match store.blob_object(&blob.name) {
            Ok(o) => o,
            Err(e @ StoreError::Locked { .. }) => {
                report.error = Some(e.to_string());
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        if hex::encode(Sha256::digest(&object)) != blob.sealed_sha256 {
            store.mark_blob_refused(&blob.name, "local.object_damaged")?;
            report
                .refused
                .push((blob.sha256.clone(), "local.object_damaged".into()));
            continue;
        }
        match send_one(
            client,
            &blob.sha256,
            &blob.sealed_sha256,
            &object,
            retry,
            &mut report,
        )
        .await
        {
            Ok(()) => {
                store.mark_blob_delivered(&blob.name, &node, central)?;
                report.blobs_done += 1;
            }
            Err(Stop::Refused(code)) => {
                store.mark_blob_refused(&blob.name, &code)?;
                report.refused.push((blob.sha256.clone(), code));
            }
            Err(Stop::Failed(e)) => {
                report.error = Some(e);
                return Ok(report);
            }
        }
    }
    Ok(report)
}

pub(crate) enum Stop {
    /// Refused for good (a 4xx this uploader does not resolve itself).
    Refused(String),
    /// The server could not be reached or kept failing: try another run.
    Failed(String),
}

/// Sends one object from the offset the server holds; `Ok` once the
/// server holds it whole. Bytes sent are counted in `report`.
pub(crate) async fn send_one(
    client: &Client,
    sha256: &str,
    sealed_sha256: &str,
    object: &[u8],
    retry: &RetryPolicy,
    report: &mut UploadReport,
) -> Result<(), Stop> {
    let length = object.len() as u64;
    let mut failures = 0u32;
    let mut bad_checksums = 0u32;
    let mut restarted = false;
    let mut offset = None;
    loop {
        let at = match offset {
            Some(at) => at,
            None => match client.blob_head(sha256, sealed_sha256).await {
                Ok(BlobHead::Complete) => return Ok(()),
                Ok(BlobHead::At(at)) => at,
                Err(e) => {
                    wait_or_stop(&e, &mut failures, retry).await?;
                    continue;
                }
            },
        };
        let start = usize::try_from(at).unwrap_or(usize::MAX).min(object.len());
        let end = (start + CHUNK).min(object.len());
        let chunk = object[start..end].to_vec();
        let sent = chunk.len() as u64;
        match client
            .blob_patch(sha256, sealed_sha256, at, length, chunk)
            .await
        {
            Ok(BlobPatched::Complete(_)) => {
                report.bytes_sent += sent;
                return Ok(());
            }
            Ok(BlobPatched::At(next)) => {
                report.bytes_sent += sent;
                failures = 0;
                bad_checksums = 0;
                offset = Some(next);
            }
            Err(SendError::Problem { problem, .. }) if problem.code == "upload.offset_mismatch" => {
                offset = problem.offset;
            }
            Err(SendError::Problem { problem, .. }) if problem.code == "chunk.bad_checksum" => {
                report.bytes_sent += sent;
                bad_checksums += 1;
                if bad_checksums > CHECKSUM_RETRIES {
                    return Err(Stop::Failed(format!(
                        "blob {sha256}: a chunk was refused by its checksum {bad_checksums} times in a row"
                    )));
                }
                offset = Some(at);
            }
            Err(SendError::Problem { problem, .. })
                if problem.code == "blob.sealed_mismatch" && !restarted =>
            {
                restarted = true;
                offset = Some(0);
            }
            Err(e) if e.is_retryable() => {
                report.bytes_sent += sent;
                // Where the server stands is asked again after the wait.
                offset = None;
                wait_or_stop(&e, &mut failures, retry).await?;
            }
            Err(SendError::Problem { problem, .. }) => return Err(Stop::Refused(problem.code)),
            Err(e) => return Err(Stop::Failed(e.to_string())),
        }
    }
}

async fn wait_or_stop(e: &SendError, failures: &mut u32, retry: &RetryPolicy) -> Result<(), Stop> {
    if !e.is_retryable() {
        return Err(match e {
            SendError::Problem { problem, .. } => Stop::Refused(problem.code.clone()),
            other => Stop::Failed(other.to_string()),
        });
    }
    *failures += 1;
    if *failures > retry.retries {
        return Err(Stop::Failed(e.to_string()));
    }
    tokio::time::sleep(retry.delay(*failures)).await;
    Ok(())
}
