//! A station downloads its commune's worklist from central
//! (`proto/worklist-v1.md` §6): the people of the units central assigned
//! it, the laptops registered under it with their keys, and what central
//! assigned them. Each page is applied in one transaction with the
//! download's progress, so a cut connection resumes where it stopped.

use doorstep_central::SqliteCentral;
use serde::Serialize;

use crate::client::{Client, SendError};

/// Most pages in one round: a bound, not an expected size.
const MAX_PAGES: u32 = 10_000;

/// What a station's download did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StationPullReport {
    pub pages: u32,
    pub full: bool,
    pub put: u64,
    pub removed: u64,
    pub dropped: u64,
    pub devices: u64,
    pub bytes: u64,
    /// Why nothing was downloaded (not registered, central keeps no worklists).
    pub skipped: Option<String>,
}

/// Why a station's download stopped.
#[derive(Debug, thiserror::Error)]
pub enum StationPullError {
    #[error(transparent)]
    Store(#[from] doorstep_central::CentralError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Downloads what changed since the station's last download.
pub async fn pull_station_worklist(
    store: &SqliteCentral,
    client: &Client,
    limit: Option<u32>,
) -> Result<StationPullReport, StationPullError> {
    let mut report = StationPullReport::default();
    let node = doorstep_central::CentralStore::node_id(store);
    let Some(key) = tokio::task::block_in_place(|| store.identity_signer())? else {
        report.skipped = Some("the station is not registered with central".into());
        return Ok(report);
    };
    let client = client.clone().with_identity(node, key);
    for _ in 0..MAX_PAGES {
        let request = tokio::task::block_in_place(|| store.worklist_upstream_request(limit))?;
        let (page, bytes) = match client.worklist(&request).await {
            Ok(answer) => answer,
            Err(SendError::Problem { status, .. } | SendError::Unexpected { status, .. })
                if status == 404 || status == 501 =>
            {
                report.skipped = Some("central keeps no worklists".into());
                return Ok(report);
            }
            Err(e) => return Err(e.into()),
        };
        report.pages += 1;
        report.bytes += bytes;
        report.full |= page.full;
        let applied = tokio::task::block_in_place(|| {
            store.apply_worklist_upstream(&request, &page, chrono::Utc::now())
        })?;
        report.put += applied.put;
        report.removed += applied.removed;
        report.dropped += applied.dropped;
        report.devices += applied.devices;
        if applied.done {
            break;
        }
    }
    Ok(report)
}
