//! `GET /v1/reports/*` (`proto/reports-v1.md`): campaign progress, sync
//! activity, what awaits review and the audit's state. Aggregates only.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use doorstep_core::UnitLevel;
use doorstep_core::campaign::{Metric, is_campaign_id};
use doorstep_core::progress::{ProgressError, ProgressQuery};
use serde::Deserialize;

use super::log::{bad_query, query};
use super::{AppState, ProblemResponse};
use crate::error::CentralError;
use crate::reports::{self, CampaignsAnswer, ReportError};
use crate::store::CentralStore;

pub(crate) const CAMPAIGNS_PATH: &str = "/v1/reports/campaigns";
pub(crate) const PROGRESS_PATH: &str = "/v1/reports/progress";
pub(crate) const ACTIVITY_PATH: &str = "/v1/reports/activity";
pub(crate) const REVIEW_PATH: &str = "/v1/reports/review";
pub(crate) const AUDIT_PATH: &str = "/v1/reports/audit";

fn unavailable(e: CentralError) -> ProblemResponse {
    tracing::error!(error = %e, "reading a report failed");
    ProblemResponse::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store.unavailable",
        "The server could not read its store. Retry later",
        Some(e.to_string()),
    )
}

pub(crate) async fn campaigns<S: CentralStore>(
    State(state): State<AppState<S>>,
) -> Result<Response, ProblemResponse> {
    let campaigns = state.store.campaigns().await.map_err(unavailable)?;
    Ok(axum::Json(CampaignsAnswer { campaigns }).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProgressParams {
    campaign: Option<String>,
    unit: Option<String>,
    level: Option<String>,
    metric: Option<String>,
    as_of: Option<String>,
}

pub(crate) async fn progress<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<ProgressParams>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    let campaign = q
        .campaign
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad_query("campaign: required (a campaign ID)".into()))?;
    if !is_campaign_id(&campaign) {
        return Err(bad_query(format!(
            "campaign: `{campaign}` is not a campaign ID"
        )));
    }
    let level = match q.level.as_deref().filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(UnitLevel::parse(l).ok_or_else(|| {
            bad_query(format!(
                "level: `{l}` is not one of province | district | commune"
            ))
        })?),
    };
    let metric = match q.metric.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(Metric::parse(m).ok_or_else(|| {
            bad_query(format!("metric: `{m}` is not one of {}", Metric::allowed()))
        })?),
    };
    let as_of = match q.as_of.as_deref().filter(|d| !d.is_empty()) {
        None => reports::today_in_vietnam(Utc::now()),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| bad_query(format!("as_of: `{d}` is not a date (YYYY-MM-DD)")))?,
    };
    let pq = ProgressQuery {
        scope: q.unit.filter(|u| !u.is_empty()),
        level,
        metric,
    };
    match reports::progress_report(state.store.as_ref(), &campaign, &pq, as_of).await {
        Ok(report) => Ok(axum::Json(report).into_response()),
        Err(ReportError::UnknownCampaign(c)) => Err(ProblemResponse::new(
            StatusCode::NOT_FOUND,
            "campaign.unknown",
            "No such campaign",
            Some(format!("campaign `{c}` is not known here: import it first")),
        )),
        Err(ReportError::Query(e)) => Err(match e {
            ProgressError::UnknownUnit(_) => ProblemResponse::new(
                StatusCode::BAD_REQUEST,
                "unit.unknown",
                "The unit is not in this server's unit list",
                Some(e.to_string()),
            ),
            other => bad_query(other.to_string()),
        }),
        Err(ReportError::Store(e)) => Err(unavailable(e)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActivityParams {
    hours: Option<u32>,
}

pub(crate) async fn activity<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<ActivityParams>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let hours = query(q)?.hours.unwrap_or(48);
    if !(1..=720).contains(&hours) {
        return Err(bad_query(format!("hours: {hours} is not within 1..=720")));
    }
    let answer = reports::activity(state.store.as_ref(), Utc::now(), hours)
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(answer).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReviewParams {
    limit: Option<u64>,
}

pub(crate) async fn review<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<ReviewParams>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let limit = query(q)?.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad_query(format!("limit: {limit} is not within 1..=1000")));
    }
    let answer = reports::review(state.store.as_ref(), limit)
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(answer).into_response())
}

pub(crate) async fn audit<S: CentralStore>(State(state): State<AppState<S>>) -> Response {
    axum::Json(state.audit.latest()).into_response()
}
