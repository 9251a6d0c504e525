//! The HTTP face of an ingest node: `POST /v1/batches`, `POST /v1/custody`,
//! the audit log under `/v1/log/` and `/v1/devices`, `GET /healthz`,
//! `GET /metrics`. Every error is `application/problem+json` with a stable
//! code; nothing a client sends produces a 500.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use doorstep_core::canonical::format_utc_millis;
use doorstep_wire::{
    BATCHES_PATH, Batch, CUSTODY_PATH, CustodyAnswer, CustodyQuery, HEALTH_PATH, Health, Issuer,
    MAX_BATCH_RECORDS, MAX_BODY_BYTES, MAX_DECODED_BODY_BYTES, NodeRole, OutcomeCounts,
    PROBLEM_JSON, PROTOCOL_VERSION, Problem, Receipt,
};

use crate::error::CentralError;
use crate::metrics::Metrics;
use crate::store::CentralStore;

mod auth;
mod blobs;
mod log;
mod register;
mod reports;
mod worklist;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState<S> {
    pub store: Arc<S>,
    pub metrics: Arc<Metrics>,
    pub role: NodeRole,
    /// Refuse records of unregistered devices ([`crate::check::Policy`])
    /// and unsigned requests.
    pub require_registration: bool,
    /// Request nonces seen recently (replay refusal).
    pub nonces: Arc<auth::Nonces>,
    /// The latest check of the audit log (`GET /v1/reports/audit`).
    pub audit: Arc<crate::audit_watch::AuditWatch>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            store: Arc::clone(&self.store),
            metrics: Arc::clone(&self.metrics),
            role: self.role,
            require_registration: self.require_registration,
            nonces: Arc::clone(&self.nonces),
            audit: Arc::clone(&self.audit),
        }
    }
}

impl<S: CentralStore> AppState<S> {
    /// Central, refusing records of devices it has not registered.
    pub fn new(store: Arc<S>) -> AppState<S> {
        AppState {
            store,
            metrics: Arc::new(Metrics::new()),
            role: NodeRole::Central,
            require_registration: true,
            nonces: Arc::new(auth::Nonces::default()),
            audit: Arc::default(),
        }
    }
}

/// The router of an ingest node.
pub fn router<S: CentralStore>(state: AppState<S>) -> Router {
    Router::new()
        .route(BATCHES_PATH, post(post_batch::<S>))
        .route(CUSTODY_PATH, post(post_custody::<S>))
        .route(
            blobs::BLOB_PATH,
            axum::routing::head(blobs::head::<S>).patch(blobs::patch::<S>),
        )
        .route(HEALTH_PATH, get(health::<S>))
        .route("/metrics", get(metrics::<S>))
        .route(register::REGISTER_PATH, post(register::post_register::<S>))
        .route(log::TREE_HEAD_PATH, get(log::tree_head::<S>))
        .route(log::ENTRIES_PATH, get(log::entries::<S>))
        .route(log::INCLUSION_PATH, get(log::inclusion::<S>))
        .route(log::CONSISTENCY_PATH, get(log::consistency::<S>))
        .route(log::SESSIONS_PATH, get(log::sessions::<S>))
        .route(log::DEVICES_PATH, get(log::devices::<S>))
        .route(log::DEVICE_RECORDS_PATH, get(log::device_records::<S>))
        .route(reports::CAMPAIGNS_PATH, get(reports::campaigns::<S>))
        .route(reports::PROGRESS_PATH, get(reports::progress::<S>))
        .route(reports::ACTIVITY_PATH, get(reports::activity::<S>))
        .route(reports::REVIEW_PATH, get(reports::review::<S>))
        .route(reports::AUDIT_PATH, get(reports::audit::<S>))
        .route(
            doorstep_wire::worklist::WORKLIST_PATH,
            post(worklist::post_worklist::<S>),
        )
        .route(worklist::COVERAGE_PATH, get(worklist::coverage::<S>))
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// An error answer: status, problem body, counted in the metrics.
#[derive(Debug)]
pub struct ProblemResponse(pub Problem);

impl ProblemResponse {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> Self {
        ProblemResponse(Problem::new(status.as_u16(), code, title, detail))
    }
}

impl IntoResponse for ProblemResponse {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

async fn not_found() -> ProblemResponse {
    ProblemResponse::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such endpoint",
        Some("see proto/openapi.yaml for the endpoints of protocol v1".into()),
    )
}

async fn method_not_allowed() -> ProblemResponse {
    ProblemResponse::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed on this endpoint",
        None,
    )
}

async fn health<S: CentralStore>(State(state): State<AppState<S>>) -> Response {
    axum::Json(Health {
        status: "ok".into(),
        node_id: state.store.node_id(),
        role: state.role,
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL_VERSION,
        features: if state.store.blobs().is_some() {
            vec![doorstep_wire::blobs::FEATURE.to_owned()]
        } else {
            Vec::new()
        },
    })
    .into_response()
}

async fn metrics<S: CentralStore>(State(state): State<AppState<S>>) -> Response {
    let mut resp = state.metrics.encode().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn post_batch<S: CentralStore>(State(state): State<AppState<S>>, req: Request) -> Response {
    let started = Instant::now();
    let metrics = Arc::clone(&state.metrics);
    match ingest(state, req).await {
        Ok(receipt) => {
            metrics.batches.inc();
            for (name, n) in [
                ("accepted", receipt.counts.accepted),
                ("duplicate", receipt.counts.duplicate),
                ("conflict", receipt.counts.conflict),
                ("invalid", receipt.counts.invalid),
            ] {
                metrics.count_outcome(name, n);
            }
            metrics
                .batch_seconds
                .observe(started.elapsed().as_secs_f64());
            axum::Json(receipt).into_response()
        }
        Err(problem) => {
            metrics.count_problem(&problem.0.code);
            if problem.0.status >= 500 {
                tracing::warn!(code = %problem.0.code, detail = ?problem.0.detail, "batch failed");
            } else {
                tracing::info!(code = %problem.0.code, detail = ?problem.0.detail, "batch refused");
            }
            problem.into_response()
        }
    }
}

async fn post_custody<S: CentralStore>(State(state): State<AppState<S>>, req: Request) -> Response {
    match custody(state.clone(), req).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(problem) => {
            state.metrics.count_problem(&problem.0.code);
            problem.into_response()
        }
    }
}

async fn custody<S: CentralStore>(
    state: AppState<S>,
    req: Request,
) -> Result<CustodyAnswer, ProblemResponse> {
    let (parts, body) = req.into_parts();
    check_content_type(&parts.headers)?;
    let raw = read_body(body).await?;
    auth::authenticate(&state, &parts.headers, "POST", CUSTODY_PATH, &raw).await?;
    let decoded = decode_body(&parts.headers, raw)?;
    let query: CustodyQuery = serde_json::from_slice(&decoded).map_err(|e| {
        ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "custody.malformed",
            "The body is not a v1 custody query",
            Some(e.to_string()),
        )
    })?;
    if query.protocol != PROTOCOL_VERSION {
        return Err(ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "protocol.unsupported",
            "Unsupported protocol version",
            Some(format!(
                "this server speaks protocol {PROTOCOL_VERSION}, the query says {}",
                query.protocol
            )),
        ));
    }
    if query.records.len() > MAX_BATCH_RECORDS {
        return Err(ProblemResponse::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "custody.too_many_records",
            "Too many records in one custody query",
            Some(format!(
                "{} records; at most {MAX_BATCH_RECORDS} per query",
                query.records.len()
            )),
        ));
    }
    // The shape of sync-v1.md 3.4: a content hash is 64 lower-case hex
    // digits. Anything else is a malformed query, not a record "unknown".
    if let Some(i) = query
        .records
        .iter()
        .position(|k| !is_sha256_hex(&k.content_hash))
    {
        return Err(ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "custody.malformed",
            "The body is not a v1 custody query",
            Some(format!(
                "records[{i}].content_hash is not a SHA-256 (64 lower-case hex digits)"
            )),
        ));
    }
    let records = state
        .store
        .custody(query.records)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(CustodyAnswer {
        protocol: PROTOCOL_VERSION,
        issuer: Issuer {
            node_id: state.store.node_id(),
            role: state.role,
        },
        records,
    })
}

async fn ingest<S: CentralStore>(
    state: AppState<S>,
    req: Request,
) -> Result<Receipt, ProblemResponse> {
    let (parts, body) = req.into_parts();
    check_content_type(&parts.headers)?;
    let raw = read_body(body).await?;
    let bytes_in = raw.len() as u64;
    let signer = auth::authenticate(&state, &parts.headers, "POST", BATCHES_PATH, &raw).await?;
    let decoded = decode_body(&parts.headers, raw)?;
    let batch: Batch = serde_json::from_slice(&decoded).map_err(|e| {
        ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "batch.malformed",
            "The body is not a v1 batch",
            Some(e.to_string()),
        )
    })?;
    drop(decoded);
    if batch.protocol != PROTOCOL_VERSION {
        return Err(ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "protocol.unsupported",
            "Unsupported protocol version",
            Some(format!(
                "this server speaks protocol {PROTOCOL_VERSION}, the batch says {}",
                batch.protocol
            )),
        ));
    }
    if let Some(node) = signer
        && node != batch.sender.node_id
    {
        return Err(ProblemResponse::new(
            StatusCode::FORBIDDEN,
            "auth.sender_mismatch",
            "The batch names another sender than the one who signed it",
            Some(format!(
                "signed by {node}, the batch says sender {}",
                batch.sender.node_id
            )),
        ));
    }
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(ProblemResponse::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch.too_many_records",
            "Too many records in one batch",
            Some(format!(
                "{} records; at most {MAX_BATCH_RECORDS} per batch",
                batch.records.len()
            )),
        ));
    }
    let batch_id = batch.batch_id;
    let units = state.store.units();
    let now = Utc::now();
    // What central knows of the devices the batch speaks for decides what
    // it may submit (signatures, revocation, units, relaying).
    let grants = state
        .store
        .grants(crate::check::nodes_of(&batch))
        .await
        .map_err(|e| unavailable(&e))?;
    let policy = crate::check::Policy {
        grants,
        require_registration: state.require_registration,
        opener: state.store.opener(),
    };
    let incoming = tokio::task::spawn_blocking(move || {
        crate::check::check_batch_with(batch, &units, now, bytes_in, &policy)
    })
    .await
    .map_err(|e| unavailable(&CentralError::Task(e.to_string())))?;
    let mut incoming = incoming;
    if state.store.blobs().is_none() {
        crate::check::refuse_attachments(&mut incoming);
    }
    state.metrics.bytes_in.inc_by(bytes_in);
    let applied = state
        .store
        .apply(incoming)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut counts = OutcomeCounts::default();
    for r in &applied.lines {
        counts.add(r.outcome);
    }
    Ok(Receipt {
        protocol: PROTOCOL_VERSION,
        batch_id,
        issuer: Issuer {
            node_id: state.store.node_id(),
            role: state.role,
        },
        received_at: format_utc_millis(&now),
        counts,
        records: applied.lines,
        log: Some(applied.log),
    })
}

/// 64 lower-case hex digits.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn unavailable(e: &CentralError) -> ProblemResponse {
    tracing::error!(error = %e, "storage failed");
    ProblemResponse::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store.unavailable",
        "The server could not store the batch; nothing of it was applied. Retry later",
        Some(e.to_string()),
    )
}

pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ProblemResponse> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if ok {
        Ok(())
    } else {
        Err(ProblemResponse::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type.unsupported",
            "A batch is sent as application/json",
            None,
        ))
    }
}

pub(crate) async fn read_body(body: Body) -> Result<Bytes, ProblemResponse> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            // The length limit is the only failure a client causes on purpose;
            // anything else is a broken upload, which the client sees as a
            // network error and retries.
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util_limit::LengthLimitError>());
            if too_large || e.to_string().contains("length limit") {
                ProblemResponse::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "batch.too_large",
                    "The request body is too large",
                    Some(format!("at most {MAX_BODY_BYTES} bytes as sent")),
                )
            } else {
                ProblemResponse::new(
                    StatusCode::BAD_REQUEST,
                    "body.unreadable",
                    "The request body could not be read",
                    Some(e.to_string()),
                )
            }
        })
}

mod http_body_util_limit {
    pub use http_body_util::LengthLimitError;
}

/// Undoes `Content-Encoding: zstd` with a bound on the decoded size.
pub(crate) fn decode_body(headers: &HeaderMap, raw: Bytes) -> Result<Bytes, ProblemResponse> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => {
            if raw.len() > MAX_DECODED_BODY_BYTES {
                return Err(too_large_decoded());
            }
            Ok(raw)
        }
        Some("zstd") => {
            let decoder = zstd::stream::read::Decoder::new(&raw[..]).map_err(bad_zstd)?;
            let mut out =
                Vec::with_capacity(raw.len().saturating_mul(4).min(MAX_DECODED_BODY_BYTES));
            decoder
                .take(MAX_DECODED_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(bad_zstd)?;
            if out.len() > MAX_DECODED_BODY_BYTES {
                return Err(too_large_decoded());
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(ProblemResponse::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "encoding.unsupported",
            "Unsupported Content-Encoding",
            Some(format!("`{other}`; use zstd or none")),
        )),
    }
}

fn bad_zstd(e: std::io::Error) -> ProblemResponse {
    ProblemResponse::new(
        StatusCode::BAD_REQUEST,
        "encoding.invalid",
        "The body is not valid zstd",
        Some(e.to_string()),
    )
}

fn too_large_decoded() -> ProblemResponse {
    ProblemResponse::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "batch.too_large",
        "The decoded request body is too large",
        Some(format!(
            "at most {MAX_DECODED_BODY_BYTES} bytes once decoded"
        )),
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes
/// the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Like [`serve`], over TLS (`config` from [`crate::tls::TlsFiles`]):
/// HTTPS only. When `shutdown` resolves no new connection is accepted,
/// connections still in their handshake are dropped and the requests in
/// flight finish first.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(None);
    });
    let config = axum_server::tls_rustls::RustlsConfig::from_config(config);
    axum_server::from_tcp_rustls(listener.into_std()?, config)?
        .handle(handle)
        .accept_error_handler(|peer, e| {
            // A client that does not trust this certificate, or does not
            // speak TLS: its connection is closed, the server goes on.
            tracing::debug!(?peer, error = %e, "TLS connection not accepted");
        })
        .serve(router.into_make_service())
        .await
}
