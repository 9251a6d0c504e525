//! Central checks its own audit log in the background (the checks of
//! `doorstep audit verify`) and keeps the latest result for the dashboard
//! (`GET /v1/reports/audit`).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use doorstep_core::canonical::format_utc_millis;
use serde::{Deserialize, Serialize};

use crate::audit::AuditReport;
use crate::store::CentralStore;

/// The latest verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    /// `pending` (not checked yet), `verified`, `problems` or `failed`.
    pub state: String,
    pub checked_at: Option<String>,
    pub took_ms: Option<u64>,
    pub tree_size: Option<u64>,
    pub entries: Option<u64>,
    pub records: Option<u64>,
    pub problems_total: u64,
    /// The first problems, as `code at location: detail`.
    pub problems: Vec<String>,
    /// Why the check could not run (`failed`).
    pub error: Option<String>,
}

impl Default for AuditState {
    fn default() -> Self {
        AuditState {
            state: "pending".into(),
            checked_at: None,
            took_ms: None,
            tree_size: None,
            entries: None,
            records: None,
            problems_total: 0,
            problems: Vec::new(),
            error: None,
        }
    }
}

/// Holds the latest [`AuditState`].
#[derive(Debug, Default)]
pub struct AuditWatch {
    latest: RwLock<AuditState>,
}

impl AuditWatch {
    pub fn latest(&self) -> AuditState {
        self.latest.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Verifies the log now and keeps the result.
    pub async fn check<S: CentralStore + ?Sized>(&self, store: &S) -> AuditState {
        let started = Instant::now();
        let result = store.verify_log().await;
        let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let checked_at = Some(format_utc_millis(&Utc::now()));
        let state = match result {
            Ok(report) => state_of(&report, checked_at, took_ms),
            Err(e) => AuditState {
                state: "failed".into(),
                checked_at,
                took_ms: Some(took_ms),
                error: Some(e.to_string()),
                ..AuditState::default()
            },
        };
        if state.state != "verified" {
            tracing::error!(state = %state.state, problems = state.problems_total, error = ?state.error, "the audit log did not verify");
        }
        if let Ok(mut latest) = self.latest.write() {
            *latest = state.clone();
        }
        state
    }

    /// Checks now and then every `every`, until the task is dropped.
    pub fn spawn<S: CentralStore>(
        self: &Arc<Self>,
        store: Arc<S>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let watch = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                watch.check(store.as_ref()).await;
                tokio::time::sleep(every).await;
            }
        })
    }
}

fn state_of(report: &AuditReport, checked_at: Option<String>, took_ms: u64) -> AuditState {
    AuditState {
        state: if report.is_clean() {
            "verified"
        } else {
            "problems"
        }
        .into(),
        checked_at,
        took_ms: Some(took_ms),
        tree_size: Some(report.latest_head.as_ref().map_or(0, |h| h.0)),
        entries: Some(report.entries),
        records: Some(report.records),
        problems_total: report.problems_total,
        problems: report
            .problems
            .iter()
            .map(|p| format!("{} at {}: {}", p.code, p.location, p.detail))
            .collect(),
        error: None,
    }
}
