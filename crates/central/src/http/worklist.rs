//! `POST /v1/worklist` (`proto/worklist-v1.md`): a registered device
//! downloads its worklist, one signed request per page. Only the device's
//! own assignment is ever sent; a revoked device is refused before
//! anything is read. `GET /v1/reports/coverage`: coverage per unit,
//! aggregates only.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorstep_wire::PROTOCOL_VERSION;
use doorstep_wire::worklist::{MAX_WORKLIST_PAGE, WORKLIST_PATH, WorklistRequest};
use serde::Deserialize;

use super::log::{bad_query, query};
use super::{AppState, ProblemResponse, auth, check_content_type, decode_body, read_body};
use crate::error::CentralError;
use crate::store::CentralStore;

pub(crate) const COVERAGE_PATH: &str = "/v1/reports/coverage";

fn answer(e: &CentralError) -> ProblemResponse {
    match e {
        CentralError::Unsupported(what) => ProblemResponse::new(
            StatusCode::NOT_IMPLEMENTED,
            "worklist.unsupported",
            "This server keeps no worklists",
            Some(format!("this server does not take {what}")),
        ),
        other => super::unavailable(other),
    }
}

pub(crate) async fn post_worklist<S: CentralStore>(
    State(state): State<AppState<S>>,
    req: Request,
) -> Response {
    let zstd = accepts_zstd(req.headers());
    match worklist(state.clone(), req).await {
        Ok(page) => answer_page(&page, zstd),
        Err(problem) => {
            state.metrics.count_problem(&problem.0.code);
            problem.into_response()
        }
    }
}

/// Whether the client takes a zstd-compressed answer (`accept-encoding`).
fn accepts_zstd(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "zstd"))
}

/// The page as JSON, zstd-compressed when the client takes it: people's
/// records repeat their keys and units, and compress about sixfold, which
/// matters on the mobile networks teams sync over.
fn answer_page(page: &doorstep_wire::worklist::WorklistPage, zstd: bool) -> Response {
    let Ok(json) = serde_json::to_vec(page) else {
        return super::unavailable(&CentralError::Inconsistent(
            "a worklist page could not be encoded".into(),
        ))
        .into_response();
    };
    let (body, encoding) = match zstd.then(|| zstd::bulk::compress(&json, 3)) {
        Some(Ok(packed)) => (packed, Some("zstd")),
        _ => (json, None),
    };
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(e) = encoding {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

async fn worklist<S: CentralStore>(
    state: AppState<S>,
    req: Request,
) -> Result<doorstep_wire::worklist::WorklistPage, ProblemResponse> {
    let (parts, body) = req.into_parts();
    check_content_type(&parts.headers)?;
    let raw = read_body(body).await?;
    let Some(device) =
        auth::authenticate(&state, &parts.headers, "POST", WORKLIST_PATH, &raw).await?
    else {
        return Err(ProblemResponse::new(
            StatusCode::UNAUTHORIZED,
            "auth.required",
            "Worklists are sent to registered devices only",
            Some("sign the request as a device this server knows (doorstep field register)".into()),
        ));
    };
    let decoded = decode_body(&parts.headers, raw)?;
    let request: WorklistRequest = serde_json::from_slice(&decoded).map_err(|e| {
        ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "worklist.malformed",
            "The body is not a v1 worklist request",
            Some(e.to_string()),
        )
    })?;
    if request.protocol != PROTOCOL_VERSION {
        return Err(ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "protocol.unsupported",
            "Unsupported protocol version",
            Some(format!(
                "this server speaks protocol {PROTOCOL_VERSION}, the request says {}",
                request.protocol
            )),
        ));
    }
    if request
        .limit
        .is_some_and(|l| l == 0 || l > MAX_WORKLIST_PAGE)
    {
        return Err(ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "worklist.bad_limit",
            "The page size is out of range",
            Some(format!("limit must be 1 to {MAX_WORKLIST_PAGE}")),
        ));
    }
    state
        .store
        .worklist_page(device, request)
        .await
        .map_err(|e| answer(&e))
}

#[derive(Debug, Deserialize)]
pub(crate) struct CoverageParams {
    unit: Option<String>,
}

pub(crate) async fn coverage<S: CentralStore>(
    State(state): State<AppState<S>>,
    q: Result<Query<CoverageParams>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let q = query(q)?;
    let unit = q.unit.filter(|u| !u.is_empty());
    if let Some(u) = &unit
        && !state.store.units().contains(u)
    {
        return Err(bad_query(format!(
            "unit: `{u}` is not in this server's unit list"
        )));
    }
    let report = state
        .store
        .coverage(unit, false)
        .await
        .map_err(|e| answer(&e))?;
    Ok(axum::Json(report).into_response())
}
