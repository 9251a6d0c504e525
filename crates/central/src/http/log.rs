//! `GET` endpoints of the audit log (`proto/sync-v1.md` section 14): the
//! signed tree head, entries, proofs, sessions, devices and what is held
//! from one device.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

pub(crate) use doorstep_wire::log::{
    CONSISTENCY_PATH, DEVICE_RECORDS_PATH, DEVICES_PATH, ENTRIES_PATH, INCLUSION_PATH,
    SESSIONS_PATH, TREE_HEAD_PATH,
};
use doorstep_wire::log::{
    DeviceLine, DevicesAnswer, LogEntriesAnswer, MAX_DEVICE_RECORDS_PER_PAGE, MAX_ENTRIES_PER_PAGE,
    SessionsAnswer,
};

use super::{AppState, ProblemResponse};
use crate::error::CentralError;
use crate::store::{CentralStore, SessionQuery};

/// Most sessions one `GET /v1/log/sessions` returns.
const MAX_SESSIONS: u64 = 1_000;

pub(super) fn bad_query(detail: String) -> ProblemResponse {
    ProblemResponse::new(
        StatusCode::BAD_REQUEST,
        "query.invalid",
        "The query parameters are not valid",
        Some(detail),
    )
}

fn answer(e: CentralError) -> ProblemResponse {
    match e {
        CentralError::OutOfRange(detail) => ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "log.out_of_range",
            "The proof asked for is outside the log",
            Some(detail),
        ),
        other => {
            tracing::error!(error = %other, "reading the log failed");
            ProblemResponse::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store.unavailable",
                "The server could not read its store. Retry later",
                Some(other.to_string()),
            )
        }
    }
}

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ProblemResponse> {
    q.map(|Query(t)| t).map_err(|e| bad_query(e.body_text()))
}

pub(crate) async fn tree_head<S: CentralStore>(State(state): State<AppState<S>>) -> Response {
    match state.store.tree_head().await {
        Ok(head) => axum::Json(head).into_response(),
        Err(e) => answer(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EntriesQuery {
    start: u64,
    end: u64,
}

pub(crate) async fn entries<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    if q.end <= q.start {
        return Err(bad_query(format!(
            "end ({}) must be above start ({})",
            q.end, q.start
        )));
    }
    // Long ranges are cut, not refused: the client asks again from where it got to.
    let end = q.end.min(q.start.saturating_add(MAX_ENTRIES_PER_PAGE));
    let entries = state
        .store
        .log_entries(q.start, end)
        .await
        .map_err(answer)?;
    Ok(axum::Json(LogEntriesAnswer { entries }).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct InclusionQuery {
    index: u64,
    tree_size: u64,
}

pub(crate) async fn inclusion<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    let proof = state
        .store
        .inclusion_proof(q.index, q.tree_size)
        .await
        .map_err(answer)?;
    Ok(axum::Json(proof).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsistencyQuery {
    first: u64,
    second: u64,
}

pub(crate) async fn consistency<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    let proof = state
        .store
        .consistency_proof(q.first, q.second)
        .await
        .map_err(answer)?;
    Ok(axum::Json(proof).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionsQuery {
    device: Option<Uuid>,
    since: Option<String>,
    limit: Option<u64>,
}

pub(crate) async fn sessions<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    if let Some(since) = &q.since {
        chrono::DateTime::parse_from_rfc3339(since)
            .map_err(|e| bad_query(format!("since: `{since}` is not an RFC 3339 time ({e})")))?;
    }
    let sessions = state
        .store
        .sessions(SessionQuery {
            node_id: q.device,
            // Stored times are UTC with a `Z`: compare like with like.
            since: q.since.as_deref().and_then(normalise_time),
            limit: q.limit.unwrap_or(100).clamp(1, MAX_SESSIONS),
        })
        .await
        .map_err(answer)?;
    Ok(axum::Json(SessionsAnswer { sessions }).into_response())
}

fn normalise_time(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| doorstep_core::canonical::format_utc_millis(&t.with_timezone(&chrono::Utc)))
}

pub(crate) async fn devices<S: CentralStore>(
    State(state): State<AppState<S>>,
) -> Result<Response, ProblemResponse> {
    let devices = state
        .store
        .devices()
        .await
        .map_err(answer)?
        .into_iter()
        .map(|d| DeviceLine {
            device_id: d.device_id,
            name: d.name,
            records: d.records,
            contiguous_seq: d.contiguous_seq,
            max_seq: d.max_seq,
            gaps: d.gaps,
            first_seen_at: d.first_seen_at,
            last_sync_at: d.last_sync_at,
            journal: d.journal,
        })
        .collect();
    Ok(axum::Json(DevicesAnswer { devices }).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeviceRecordsQuery {
    after_seq: Option<u64>,
    limit: Option<u64>,
}

pub(crate) async fn device_records<S: CentralStore>(
    State(state): State<AppState<S>>,
    Path(device_id): Path<String>,
    q: Result<Query<DeviceRecordsQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    let device_id = Uuid::parse_str(&device_id)
        .map_err(|_| bad_query(format!("`{device_id}` is not a device ID (a UUID)")))?;
    let answer_lines = state
        .store
        .device_records(
            device_id,
            q.after_seq.unwrap_or(0),
            q.limit
                .unwrap_or(MAX_DEVICE_RECORDS_PER_PAGE)
                .clamp(1, MAX_DEVICE_RECORDS_PER_PAGE),
        )
        .await
        .map_err(answer)?;
    Ok(axum::Json(answer_lines).into_response())
}
