//! Reports for campaign leaders and the dashboard (`proto/reports-v1.md`):
//! campaign progress made by the core from what the store counted at
//! ingest, sync activity, what awaits review, and the audit's state.
//! Backend-neutral: every store answers the same small queries.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use doorstep_core::RecordKind;
use doorstep_core::campaign::{Metric, Target};
use doorstep_core::progress::{self, ProgressError, ProgressQuery, ProgressReport, VisitCount};
use doorstep_core::record::{VisitPlace, VisitReason};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CentralError;
use crate::store::{CentralStore, SessionQuery, VisitFacts};

/// A campaign as imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSummary {
    pub campaign: String,
    pub metrics: Vec<Metric>,
    pub start: NaiveDate,
    /// The latest deadline of its targets.
    pub deadline: NaiveDate,
    /// Target rows.
    pub targets: u64,
    pub imported_at: String,
}

/// `GET /v1/reports/campaigns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignsAnswer {
    pub campaigns: Vec<CampaignSummary>,
}

/// What an import replaced, per campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedCampaign {
    pub campaign: String,
    /// Target rows stored now.
    pub targets: u64,
    /// Target rows it had before (replaced).
    pub replaced: u64,
}

/// A record refused as a conflict, awaiting a person's review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictLine {
    pub at: String,
    pub batch_id: String,
    pub sender_id: String,
    pub device_id: Option<String>,
    pub device_seq: Option<u64>,
    pub record_id: Option<String>,
    pub code: String,
    pub reason: String,
}

/// `GET /v1/reports/review`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAnswer {
    pub conflicts_total: u64,
    pub conflicts: Vec<ConflictLine>,
    pub gaps_total: u64,
    pub gaps: Vec<GapLine>,
}

/// Sequence numbers of one device central has never seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapLine {
    pub device_id: Uuid,
    pub name: Option<String>,
    pub from: u64,
    pub to: u64,
    pub last_sync_at: String,
}

/// `GET /v1/reports/activity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityAnswer {
    pub since: String,
    pub bucket_seconds: u64,
    pub nodes: Vec<NodeActivity>,
}

/// One laptop's or station's sync sessions over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeActivity {
    pub node_id: Uuid,
    pub name: Option<String>,
    pub role: String,
    pub buckets: Vec<ActivityBucket>,
}

/// Sessions started within one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityBucket {
    pub at: String,
    pub sessions: u64,
    pub batches: u64,
    pub accepted: u64,
    pub duplicate: u64,
    pub conflict: u64,
    pub invalid: u64,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("campaign `{0}` is not known here: import it with `doorstep central campaign import`")]
    UnknownCampaign(String),
    #[error(transparent)]
    Query(#[from] ProgressError),
    #[error(transparent)]
    Store(#[from] CentralError),
}

/// One bucket of the progress counts: kind, day, unit, place, reason
/// (`""` for none).
pub(crate) type CountKey = (&'static str, String, String, &'static str, &'static str);

/// The change to the progress counts that accepting these records makes.
pub(crate) fn count_changes<'a>(
    records: impl Iterator<Item = (&'static str, Option<&'a VisitFacts>)>,
) -> HashMap<CountKey, i64> {
    let mut out: HashMap<CountKey, i64> = HashMap::new();
    for (kind, visit) in records {
        if let Some(v) = visit {
            *out.entry(count_key(kind, v)).or_default() += 1;
        }
    }
    out
}

pub(crate) fn count_key(kind: &'static str, v: &VisitFacts) -> CountKey {
    (
        kind,
        v.day.to_string(),
        v.unit_code.clone(),
        v.place.as_str(),
        v.reason.map_or("", |r| r.as_str()),
    )
}

/// A stored count, back in domain terms; rows a newer build wrote with
/// values this one does not know are skipped, not guessed.
pub(crate) fn visit_count(
    kind: &str,
    day: &str,
    unit_code: String,
    place: &str,
    reason: &str,
    n: i64,
) -> Option<VisitCount> {
    Some(VisitCount {
        kind: RecordKind::parse(kind)?,
        unit_code,
        day: NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?,
        place: VisitPlace::parse(place)?,
        reason: if reason.is_empty() {
            None
        } else {
            Some(VisitReason::parse(reason)?)
        },
        n: u64::try_from(n).ok()?,
    })
}

/// Targets by campaign: an import replaces each campaign named whole.
pub(crate) fn by_campaign(targets: &[Target]) -> BTreeMap<&str, Vec<&Target>> {
    let mut out: BTreeMap<&str, Vec<&Target>> = BTreeMap::new();
    for t in targets {
        out.entry(&t.campaign).or_default().push(t);
    }
    out
}

/// Today in Vietnam (UTC+7 all year): the default "as of" date.
pub fn today_in_vietnam(now: DateTime<Utc>) -> NaiveDate {
    (now + Duration::hours(7)).date_naive()
}

/// A campaign's progress report.
pub async fn progress_report<S: CentralStore + ?Sized>(
    store: &S,
    campaign: &str,
    query: &ProgressQuery,
    as_of: NaiveDate,
) -> Result<ProgressReport, ReportError> {
    let targets: Vec<Target> = store.campaign_targets(campaign).await?;
    let Some(start) = targets.iter().map(|t| t.start).min() else {
        return Err(ReportError::UnknownCampaign(campaign.to_owned()));
    };
    let mut kinds: Vec<RecordKind> = targets.iter().map(|t| t.metric.kind()).collect();
    kinds.sort();
    kinds.dedup();
    let counts = if as_of < start {
        Vec::new()
    } else {
        store.visit_counts(kinds, start, as_of).await?
    };
    Ok(progress::progress(
        &targets,
        &counts,
        &store.units(),
        query,
        as_of,
    )?)
}

/// Sync sessions per node, by the hour they started, over the last `hours`.
pub async fn activity<S: CentralStore + ?Sized>(
    store: &S,
    now: DateTime<Utc>,
    hours: u32,
) -> Result<ActivityAnswer, CentralError> {
    let since = (now - Duration::hours(i64::from(hours)))
        .duration_trunc(Duration::hours(1))
        .unwrap_or(now);
    let since_text = doorstep_core::canonical::format_utc_millis(&since);
    let sessions = store
        .sessions(SessionQuery {
            node_id: None,
            since: Some(since_text.clone()),
            limit: 100_000,
        })
        .await?;
    let mut nodes: BTreeMap<Uuid, NodeActivity> = BTreeMap::new();
    let mut buckets: HashMap<(Uuid, String), ActivityBucket> = HashMap::new();
    for s in &sessions {
        let Ok(started) = DateTime::parse_from_rfc3339(&s.started_at) else {
            continue;
        };
        let hour = started
            .with_timezone(&Utc)
            .duration_trunc(Duration::hours(1))
            .unwrap_or(since);
        let at = doorstep_core::canonical::format_utc_millis(&hour.max(since));
        nodes.entry(s.node_id).or_insert_with(|| NodeActivity {
            node_id: s.node_id,
            name: s.name.clone(),
            role: if s.role == "station" {
                "station"
            } else {
                "laptop"
            }
            .to_owned(),
            buckets: Vec::new(),
        });
        let b = buckets
            .entry((s.node_id, at.clone()))
            .or_insert_with(|| ActivityBucket {
                at,
                ..ActivityBucket::default()
            });
        b.sessions += 1;
        b.batches += s.batches;
        b.accepted += s.counts.accepted;
        b.duplicate += s.counts.duplicate;
        b.conflict += s.counts.conflict;
        b.invalid += s.counts.invalid;
    }
    for ((node, _), bucket) in buckets {
        if let Some(n) = nodes.get_mut(&node) {
            n.buckets.push(bucket);
        }
    }
    let mut nodes: Vec<NodeActivity> = nodes.into_values().collect();
    for n in &mut nodes {
        n.buckets.sort_by(|a, b| a.at.cmp(&b.at));
    }
    nodes.sort_by(|a, b| {
        (a.role.as_str(), a.name.as_deref(), a.node_id).cmp(&(
            b.role.as_str(),
            b.name.as_deref(),
            b.node_id,
        ))
    });
    Ok(ActivityAnswer {
        since: since_text,
        bucket_seconds: 3600,
        nodes,
    })
}

/// Conflicts (newest first, up to `limit`) and every device's gaps.
pub async fn review<S: CentralStore + ?Sized>(
    store: &S,
    limit: u64,
) -> Result<ReviewAnswer, CentralError> {
    let (conflicts_total, conflicts) = store.conflicts(limit).await?;
    let mut gaps = Vec::new();
    for d in store.devices().await? {
        for &(from, to) in &d.gaps {
            gaps.push(GapLine {
                device_id: d.device_id,
                name: d.name.clone(),
                from,
                to,
                last_sync_at: d.last_sync_at.clone(),
            });
        }
    }
    Ok(ReviewAnswer {
        conflicts_total,
        conflicts,
        gaps_total: gaps.len() as u64,
        gaps,
    })
}
