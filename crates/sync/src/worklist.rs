//! Down-syncing the laptop's worklist (`doorstep_wire::worklist`): ask
//! for a page, apply it (one transaction with the download's progress),
//! ask for the next, until the server says there is no more. A cut
//! connection or a crash loses nothing: the next pull resumes after the
//! last applied page.

use chrono::Utc;
use doorstep_store::{FieldStore, StoreError};
use serde::Serialize;

use crate::backoff::RetryPolicy;
use crate::client::{Client, SendError};

/// Most requests in one pull: a bound, not an expected size (500 people a
/// page by default).
pub const MAX_PAGES: u32 = 10_000;

/// Most times one pull starts over because the assignments changed under
/// it: beyond that they keep changing, and the next sync tries again.
const MAX_RESTARTS: u32 = 3;

/// [`PullReport::skipped`] for a laptop not registered with central.
pub const SKIP_NOT_REGISTERED: &str = "this laptop is not registered with central";
/// [`PullReport::skipped`] for a store whose key is not open.
pub const SKIP_LOCKED: &str = "the store is locked: the worklist is stored encrypted";
/// [`PullReport::skipped`] for a server without worklists (older, or its
/// store cannot keep them).
pub const SKIP_NO_WORKLISTS: &str = "the server keeps no worklists";

/// What one pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullReport {
    /// The download was full (first one, or the assignments changed).
    pub full: bool,
    /// Pages applied.
    pub pages: u64,
    /// People added or replaced.
    pub put: u64,
    /// People the server removed.
    pub removed: u64,
    /// People a full download did not send, removed at its end.
    pub dropped: u64,
    /// People on the laptop's worklist afterwards.
    pub people: u64,
    /// Bytes of the server's answers.
    pub bytes: u64,
    /// Requests sent again after a network or server error.
    pub retries: u64,
    /// Times the download started over (assignments changed under it).
    pub restarts: u64,
    /// Why nothing was downloaded, when nothing was asked or the server
    /// keeps no worklists.
    pub skipped: Option<String>,
}

/// Why a pull stopped. Pages applied before stay applied.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(#[from] Box<SendError>),
    #[error("{server} answered a worklist page that does not move on (cursor {cursor})")]
    NoProgress { server: String, cursor: u64 },
    #[error("the worklist download did not end within {pages} requests; the next sync resumes it")]
    TooLong { pages: u32 },
    #[error(
        "the assignments of this laptop kept changing during the worklist download; the next sync tries again"
    )]
    KeepsChanging,
}

impl PullError {
    /// The server refused this laptop as revoked: it receives nothing.
    pub fn is_revoked(&self) -> bool {
        matches!(self, PullError::Send(e) if matches!(&**e, SendError::Problem { problem, .. } if problem.code == "auth.revoked"))
    }

    /// When the server's TLS certificate is not trusted: why.
    pub fn untrusted_detail(&self) -> Option<&str> {
        match self {
            PullError::Send(e) => e.untrusted_detail(),
            _ => None,
        }
    }
}

/// Downloads what changed in this laptop's worklist since its last
/// complete download (everything the first time), `limit` people a page.
/// A laptop not registered, or a locked store, pulls nothing
/// ([`PullReport::skipped`]); so does a server that keeps no worklists.
pub async fn pull_worklist(
    client: &Client,
    store: &mut FieldStore,
    limit: Option<u32>,
    retry: &RetryPolicy,
) -> Result<PullReport, PullError> {
    let mut report = PullReport::default();
    let skip = |store: &FieldStore, mut report: PullReport, why: &str| {
        report.skipped = Some(why.to_owned());
        report.people = store.worklist_state()?.people;
        Ok(report)
    };
    // Worklists go to registered devices only, over signed requests.
    let Some(key) = store.signer()? else {
        return skip(store, report, SKIP_NOT_REGISTERED);
    };
    if !store.is_unlocked() {
        return skip(store, report, SKIP_LOCKED);
    }
    let client = client.clone().with_identity(store.device().device_id, key);
    let mut done = false;
    for _ in 0..MAX_PAGES {
        let request = store.worklist_request(limit)?;
        let mut attempt = 0;
        let (page, bytes) = loop {
            match client.worklist(&request).await {
                Ok(answer) => break answer,
                Err(e) if keeps_no_worklists(&e) => {
                    return skip(store, report, SKIP_NO_WORKLISTS);
                }
                Err(e) if e.is_retryable() && attempt < retry.retries => {
                    attempt += 1;
                    report.retries += 1;
                    let delay = retry.delay(attempt);
                    tracing::info!(attempt, ?delay, error = %e, "worklist page not received; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(PullError::Send(Box::new(e))),
            }
        };
        report.bytes += bytes;
        if page.more && request.after.is_some_and(|after| page.cursor <= after) {
            return Err(PullError::NoProgress {
                server: client.server().to_owned(),
                cursor: page.cursor,
            });
        }
        let applied = store.apply_worklist_page(&request, &page, bytes, Utc::now())?;
        if applied.restart {
            report.restarts += 1;
            if report.restarts > u64::from(MAX_RESTARTS) {
                return Err(PullError::KeepsChanging);
            }
            continue;
        }
        report.pages += 1;
        report.full |= page.full;
        report.put += applied.put;
        report.removed += applied.removed;
        report.dropped += applied.dropped_at_end;
        if applied.done {
            done = true;
            break;
        }
    }
    if !done {
        return Err(PullError::TooLong { pages: MAX_PAGES });
    }
    report.people = store.worklist_state()?.people;
    Ok(report)
}

/// An older server (no such endpoint) or one whose store cannot keep
/// worklists: nothing to download, nothing wrong.
fn keeps_no_worklists(e: &SendError) -> bool {
    matches!(
        e,
        SendError::Problem { status, .. } | SendError::Unexpected { status, .. }
            if *status == 404 || *status == 501
    )
}
