//! `doorstep field serve`: the officer app and the laptop's local HTTP API,
//! and a background loop that syncs the outbox whenever central is
//! reachable.
//!
//! Two connections to the same store file (SQLite WAL lets them work side
//! by side): one for the API, behind a mutex and used only on blocking
//! threads; one owned by the sync loop (and `POST /api/sync`), behind an
//! async mutex so only one sync runs at a time. The API is described in
//! `docs/LOCAL-API.md`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use doorstep_central::http::ProblemResponse;
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::violation::Violation;
use doorstep_core::{Units, ValidationContext, validate};
use doorstep_store::{EnrollOutcome, FieldStore, PreparedBody, StatusReport, StoreError};
use doorstep_sync::{
    Client, PullError, PullReport, RetryPolicy, SyncOptions, SyncReport, pull_worklist, sync_outbox,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use uuid::Uuid;

use crate::cli::ServeArgs;
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

mod form_api;
mod records_api;
mod session;
mod summary;
mod webapp;
mod worklist_api;

use session::Sessions;

/// Largest request body accepted by `POST /api/records`.
const MAX_BODY_BYTES: usize = 32 << 20;
/// Most records in one `POST /api/records`.
const MAX_RECORDS: usize = 10_000;
/// Default and largest `limit` of `GET /api/sync-log`.
const SYNC_LOG_DEFAULT: u64 = 50;
const SYNC_LOG_MAX: u64 = 10_000;
/// After an enroll, the loop waits this long for more before it syncs, so
/// an officer saving records one by one does not start a sync per record.
const DEBOUNCE: Duration = Duration::from_secs(1);
/// How long requests in flight may take to finish after Ctrl-C / SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub fn run(args: ServeArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let server = crate::sync_cmd::check_server_url(&args.server, lang)?;
    let api_store = FieldStore::open(&args.dir.data_dir)?;
    api_store.verify()?;
    let sync_store = FieldStore::open(&args.dir.data_dir)?;
    // No passphrase at start: the officer unlocks in the app (a session),
    // and what sync sends stays readable while locked.
    let client = crate::sync_cmd::client(
        &server,
        Duration::from_secs(args.timeout.max(1)),
        &args.tls,
        lang,
    )?;
    let interval = Duration::from_secs(args.sync_interval.max(1));
    let syncer = Arc::new(Syncer {
        store: tokio::sync::Mutex::new(sync_store),
        client,
        opts: SyncOptions {
            batch_records: args.batch_size.max(1),
            // Short: the loop itself tries again later, and `POST /api/sync`
            // should answer while the officer is still looking.
            retry: RetryPolicy {
                retries: 2,
                cap: Duration::from_secs(5),
                ..RetryPolicy::default()
            },
            ..SyncOptions::default()
        },
        state: Mutex::new(SyncState {
            server: server.clone(),
            interval_seconds: interval.as_secs(),
            ..SyncState::default()
        }),
        wake: Notify::new(),
        interval,
        max_backoff: Duration::from_secs(args.max_backoff).max(interval),
    });
    let app = Arc::new(App {
        unit_index: doorstep_core::unit_search::UnitIndex::new(api_store.units()),
        units: api_store.units_shared(),
        device_id: api_store.device().device_id,
        device_unit: api_store.device().unit_code.clone(),
        store: Mutex::new(api_store),
        syncer: Arc::clone(&syncer),
        sessions: Sessions::new(Duration::from_secs(args.lock_after)),
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| UserError(format!("--listen {}: {e}", args.listen)))?;
        let addr = listener.local_addr().context("no local address")?;
        println!("listening on http://{addr}");
        {
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        if !addr.ip().is_loopback() {
            eprintln!(
                "{}",
                lang.pick(
                    "cảnh báo: máy khác trong mạng này mở được trang đăng nhập (dữ liệu vẫn cần mật khẩu, \
                     nhưng kết nối không mã hóa); chỉ nghe trên địa chỉ điểm phát Wi-Fi của chính máy này",
                    "warning: other machines on this network can reach the unlock page (data still needs \
                     the passphrase, but the connection is not encrypted); listen only on this laptop's own hotspot address"
                )
            );
        }
        eprintln!(
            "{} {server} {} {}s",
            lang.pick("đồng bộ nền với", "background sync with"),
            lang.pick("mỗi", "every"),
            interval.as_secs()
        );
        tracing::info!(%addr, server = %server, "field API listening");

        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            crate::central_cmd::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let sync_task = tokio::spawn(sync_loop(Arc::clone(&syncer), stop_rx.clone()));
        tokio::spawn(session::idle_lock_loop(Arc::clone(&app), stop_rx.clone()));
        eprintln!(
            "{} http://{addr}/ ({})",
            lang.pick("ứng dụng cho cán bộ:", "officer app:"),
            lang.pick(
                &format!("khóa sau {} giây không dùng", args.lock_after),
                &format!("locks after {} s without use", args.lock_after)
            )
        );

        let app = router(app, addr);
        let mut graceful = stop_rx.clone();
        let server_fut = doorstep_central::http::serve(listener, app, async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        let mut grace = stop_rx.clone();
        tokio::select! {
            res = server_fut => res.context("the HTTP server stopped")?,
            () = async move {
                let _ = grace.wait_for(|stop| *stop).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("requests still running after the grace period; stopping anyway");
            }
        }
        // The loop stops at the same signal; a sync cut short is safe (records
        // are acknowledged only with their stored receipt) and resumes next start.
        if tokio::time::timeout(Duration::from_secs(5), sync_task)
            .await
            .is_err()
        {
            tracing::warn!("the sync loop did not stop in time");
        }
        eprintln!(
            "{}",
            lang.pick("API cục bộ đã dừng", "the local API stopped")
        );
        anyhow::Ok(())
    })?;
    Ok(Outcome::Ok)
}

/// What the handlers share.
#[derive(Debug)]
struct App {
    /// The API's own connection; used only inside `spawn_blocking`.
    store: Mutex<FieldStore>,
    units: Arc<Units>,
    /// The units' full names folded for the unit picker, made once.
    unit_index: doorstep_core::unit_search::UnitIndex,
    device_id: Uuid,
    /// The unit the laptop is provisioned for (searches start there).
    device_unit: String,
    syncer: Arc<Syncer>,
    sessions: Sessions,
}

impl App {
    /// Runs `f` with the API store on a blocking thread.
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        lang: Lang,
        f: impl FnOnce(&mut FieldStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ProblemResponse> {
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut store = app.store.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut store)
        })
        .await
        .map_err(|e| internal(lang, e.to_string()))?
        .map_err(|e| store_problem(&e, lang))
    }
}

/// The background sync: its own store connection, the client, and what
/// `GET /api/status` shows about it.
#[derive(Debug)]
struct Syncer {
    /// Held for the whole of a sync run: one at a time.
    store: tokio::sync::Mutex<FieldStore>,
    client: Client,
    opts: SyncOptions,
    state: Mutex<SyncState>,
    /// Signalled after records are stored.
    wake: Notify,
    interval: Duration,
    max_backoff: Duration,
}

/// The background sync's state, as shown by `GET /api/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct SyncState {
    server: String,
    interval_seconds: u64,
    /// A sync run is sending records right now.
    running: bool,
    /// Whether central answered the last check (`None`: not checked yet).
    central_reachable: Option<bool>,
    central_node_id: Option<Uuid>,
    last_check_at: Option<String>,
    next_check_at: Option<String>,
    last_attempt_at: Option<String>,
    last_success_at: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<String>,
    /// Failed checks or runs in a row; the wait between checks doubles with each.
    consecutive_failures: u32,
    last_report: Option<SyncReport>,
    /// The last worklist download (after a push that went through, and at
    /// each check while nothing is queued).
    last_worklist: Option<PullReport>,
    last_worklist_at: Option<String>,
    /// Why the last worklist download stopped, if it did (it never counts
    /// against a push that went through, except for a revoked laptop).
    worklist_error: Option<String>,
    /// Where the run in progress is (`None` between runs).
    progress: Option<SyncProgress>,
    /// How far central's clock (its `Date` at the last check) is ahead
    /// of the laptop's, in seconds; negative when behind.
    clock_skew_seconds: Option<i64>,
    /// The skew is past [`summary::CLOCK_WARNING_SECONDS`].
    clock_warning: bool,
    /// The warning in the server's words, by language.
    clock_message: Option<ClockMessage>,
}

/// A sync run in progress, as `GET /api/status` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct SyncProgress {
    /// `sending` the outbox, then downloading the `worklist`.
    phase: &'static str,
    outbox: u64,
    sent: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
struct ClockMessage {
    vi: String,
    en: String,
}

/// Progress callbacks of a run, into the shared state.
struct StateProgress<'a>(&'a Syncer);

impl doorstep_sync::Progress for StateProgress<'_> {
    fn start(&mut self, outbox: u64) {
        self.0.update(|s| {
            s.progress = Some(SyncProgress {
                phase: "sending",
                outbox,
                sent: 0,
            });
        });
    }

    fn sent(&mut self, records: u64) {
        self.0.update(|s| {
            if let Some(p) = &mut s.progress {
                p.sent = p.sent.saturating_add(records);
            }
        });
    }
}

impl Syncer {
    fn update(&self, f: impl FnOnce(&mut SyncState)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state);
    }

    fn snapshot(&self) -> SyncState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn failed(&self, error: String) {
        self.update(|s| {
            s.last_error = Some(error);
            s.last_error_at = Some(now_text());
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        });
    }

    /// One sync run of the whole outbox (waits for a run in progress to end
    /// first). Delivery failures are in the report; `Err` is a local store error.
    async fn run_sync(&self) -> Result<SyncReport, StoreError> {
        let mut store = self.store.lock().await;
        self.update(|s| {
            s.running = true;
            s.last_attempt_at = Some(now_text());
        });
        let result = sync_outbox(
            &mut store,
            &self.client,
            &self.opts,
            &mut StateProgress(self),
        )
        .await;
        // Retention: confirmed records' citizen data goes after its period.
        let result = match result {
            Ok(report) => tokio::task::block_in_place(|| store.purge_confirmed(chrono::Utc::now()))
                .map(|_| report),
            Err(e) => Err(e),
        };
        // The worklist comes down in the same run, once the records went up.
        let revoked = match &result {
            Ok(report) if report.error.is_none() => {
                self.update(|s| {
                    if let Some(p) = &mut s.progress {
                        p.phase = "worklist";
                    }
                });
                !self.pull_worklist(&mut store).await
            }
            _ => false,
        };
        drop(store);
        self.update(|s| {
            s.running = false;
            s.progress = None;
        });
        match &result {
            Ok(report) => match &report.error {
                None => self.update(|s| {
                    s.central_reachable = Some(true);
                    s.last_success_at = Some(now_text());
                    s.consecutive_failures = 0;
                    s.last_report = Some(report.clone());
                }),
                Some(e) => {
                    self.failed(e.clone());
                    self.update(|s| s.last_report = Some(report.clone()));
                }
            },
            Err(e) => self.failed(format!("local store: {e}")),
        }
        if revoked {
            // A revoked laptop is a failure whatever the push did: the
            // loop backs off, and `/api/status` says why.
            if let Some(e) = self.snapshot().worklist_error {
                self.failed(e);
            }
        }
        result
    }

    /// Downloads the worklist with the sync store (held by the caller);
    /// what happened goes into the state. False only when the server
    /// refused this laptop as revoked.
    async fn pull_worklist(&self, store: &mut FieldStore) -> bool {
        let pulled = pull_worklist(&self.client, store, None, &self.opts.retry).await;
        let revoked = pulled.as_ref().err().is_some_and(PullError::is_revoked);
        self.update(|s| {
            s.last_worklist_at = Some(now_text());
            match pulled {
                Ok(report) => {
                    s.last_worklist = Some(report);
                    s.worklist_error = None;
                }
                Err(e) => s.worklist_error = Some(e.to_string()),
            }
        });
        if let Some(e) = self.snapshot().worklist_error {
            tracing::info!(error = %e, "worklist not downloaded");
        }
        !revoked
    }

    /// Asks central whether it is there; when it is and records are
    /// queued, syncs. True when everything went well.
    async fn check_and_sync(&self) -> bool {
        self.update(|s| s.last_check_at = Some(now_text()));
        match self.client.health_and_clock().await {
            Ok((health, date)) => self.update(|s| {
                s.central_reachable = Some(true);
                s.central_node_id = Some(health.node_id);
                // The header has whole seconds: a second of rounding.
                s.clock_skew_seconds = date.map(|d| (d - Utc::now()).num_seconds());
                s.clock_warning = s
                    .clock_skew_seconds
                    .is_some_and(|k| k.abs() > summary::CLOCK_WARNING_SECONDS);
                s.clock_message =
                    s.clock_skew_seconds
                        .filter(|_| s.clock_warning)
                        .map(|k| ClockMessage {
                            vi: summary::clock_message(k, Lang::Vi),
                            en: summary::clock_message(k, Lang::En),
                        });
            }),
            Err(e) => {
                self.update(|s| s.central_reachable = Some(false));
                self.failed(e.to_string());
                return false;
            }
        }
        let queued = {
            let store = self.store.lock().await;
            store.status().map(|st| st.outbox)
        };
        match queued {
            Ok(0) => {
                // Nothing to send: the worklist may still have changed.
                let mut store = self.store.lock().await;
                if self.pull_worklist(&mut store).await {
                    self.update(|s| s.consecutive_failures = 0);
                    true
                } else {
                    let e = self.snapshot().worklist_error.unwrap_or_default();
                    self.failed(e);
                    false
                }
            }
            Ok(_) => matches!(self.run_sync().await, Ok(r) if r.error.is_none()),
            Err(e) => {
                self.failed(format!("local store: {e}"));
                false
            }
        }
    }

    /// Wait before the next check: the interval, doubled after each failure
    /// in a row up to the longest backoff.
    fn next_delay(&self) -> Duration {
        let failures = self.snapshot().consecutive_failures;
        if failures == 0 {
            return self.interval;
        }
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.interval.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Every interval (sooner after an enroll, later while central is
/// unreachable): check central, sync when records are queued. Never stops
/// on a failure; stops when `stop` turns true.
async fn sync_loop(syncer: Arc<Syncer>, mut stop: watch::Receiver<bool>) {
    let mut due = Instant::now();
    let mut last_check: Option<Instant> = None;
    loop {
        let woken = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep_until(due) => false,
            () = syncer.wake.notified() => true,
        };
        if woken {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(DEBOUNCE) => {}
            }
            // While central is unreachable an enroll does not shorten the
            // backoff below one interval between checks.
            let unreachable = syncer.snapshot().central_reachable == Some(false);
            if unreachable && last_check.is_some_and(|t| t.elapsed() < syncer.interval) {
                continue;
            }
        }
        last_check = Some(Instant::now());
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            ok = syncer.check_and_sync() => {
                if !ok {
                    tracing::info!(error = ?syncer.snapshot().last_error, "background sync did not get through");
                }
            }
        }
        let delay = syncer.next_delay();
        due = Instant::now() + delay;
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        syncer.update(|s| s.next_check_at = Some(format_utc_millis(&at)));
    }
}

fn now_text() -> String {
    format_utc_millis(&Utc::now())
}

fn router(app: Arc<App>, addr: SocketAddr) -> Router {
    Router::new()
        .route("/", get(webapp::index))
        .route("/app/{file}", get(webapp::app_file))
        .route("/api/session", get(session::session))
        .route("/api/unlock", post(session::unlock))
        .route("/api/lock", post(session::lock))
        .route("/api/form", get(form_api::form))
        .route("/api/units", get(form_api::units))
        .route("/api/validate", post(form_api::validate))
        .route("/api/records", post(post_records).get(records_api::list))
        .route("/api/records/{id}", get(records_api::one))
        .route("/api/attachments/{sha256}", get(records_api::attachment))
        .route("/api/worklist", get(worklist_api::worklist))
        .route("/api/visits", post(worklist_api::visit))
        .route("/api/summary", get(summary::summary))
        .route("/api/status", get(get_status))
        .route("/api/sync", post(post_sync))
        .route("/api/sync-log", get(get_sync_log))
        .route("/api/bundle", post(post_bundle))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            session::require_session,
        ))
        .with_state(app)
        .layer(middleware::from_fn(webapp::security_headers))
        .layer(middleware::from_fn_with_state(addr, check_host))
}

/// The language of people-facing messages in a request: `?lang=`, else
/// `Accept-Language`, else Vietnamese.
#[derive(Debug, Clone, Copy)]
struct ReqLang(Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ReqLang(request_lang(&parts.uri, &parts.headers)))
    }
}

fn request_lang(uri: &Uri, headers: &HeaderMap) -> Lang {
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.strip_prefix("lang="))
            .find_map(Lang::parse)
    });
    from_query
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(accept_language)
        })
        .unwrap_or_default()
}

/// The preferred of vi / en in an `Accept-Language` header.
fn accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        let Some(lang) = Lang::parse(primary) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

/// Refuses requests whose `Host` is not this server's own address or
/// `localhost`: a web page elsewhere cannot reach the API through DNS
/// rebinding.
async fn check_host(State(addr): State<SocketAddr>, req: Request, next: Next) -> Response {
    if addr.ip().is_unspecified() {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(host_without_port);
    let allowed = match host {
        None => true,
        Some(h) => {
            h.eq_ignore_ascii_case("localhost")
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || ip == addr.ip())
        }
    };
    if allowed {
        next.run(req).await
    } else {
        let lang = request_lang(req.uri(), req.headers());
        problem(
            StatusCode::MISDIRECTED_REQUEST,
            "host.not_allowed",
            lang,
            "Địa chỉ máy chủ (Host) không được phép",
            "Host not allowed",
            Some(format!(
                "use http://{addr} or http://localhost:{}",
                addr.port()
            )),
        )
        .into_response()
    }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8760
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn problem(
    status: StatusCode,
    code: &str,
    lang: Lang,
    vi: &str,
    en: &str,
    detail: Option<String>,
) -> ProblemResponse {
    ProblemResponse::new(status, code, lang.pick(vi, en), detail)
}

fn internal(lang: Lang, detail: String) -> ProblemResponse {
    tracing::error!(%detail, "internal error");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        lang,
        "Lỗi nội bộ",
        "Internal error",
        Some(detail),
    )
}

fn store_problem(e: &StoreError, lang: Lang) -> ProblemResponse {
    let detail = match lang {
        Lang::Vi => crate::messages::store_error_vi(e).unwrap_or_else(|| e.to_string()),
        Lang::En => e.to_string(),
    };
    if matches!(e, StoreError::Busy { .. }) {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "store.busy",
            lang,
            "Kho dữ liệu đang bận; hãy thử lại",
            "The store is busy; retry",
            Some(detail),
        )
    } else {
        tracing::error!(error = %e, "store failed");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store.failed",
            lang,
            "Không đọc/ghi được kho dữ liệu",
            "The store failed",
            Some(detail),
        )
    }
}

fn bad_query(lang: Lang, detail: String) -> ProblemResponse {
    problem(
        StatusCode::BAD_REQUEST,
        "query.invalid",
        lang,
        "Tham số truy vấn không hợp lệ",
        "Invalid query parameter",
        Some(detail),
    )
}

async fn not_found(ReqLang(lang): ReqLang) -> ProblemResponse {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        lang,
        "Không có địa chỉ này",
        "No such endpoint",
        Some("see docs/LOCAL-API.md".into()),
    )
}

async fn method_not_allowed(ReqLang(lang): ReqLang) -> ProblemResponse {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        lang,
        "Phương thức không được phép ở địa chỉ này",
        "Method not allowed on this endpoint",
        None,
    )
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "device_id": app.device_id,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// Violations as the API answers them, in the request's language.
fn violations_json(vs: &[Violation], lang: Lang) -> Vec<Value> {
    vs.iter()
        .map(|v| json!({"path": v.path, "code": v.code, "message": v.message_in(lang)}))
        .collect()
}

/// One record's outcome in a `POST /api/records` answer.
fn outcome_json(index: usize, result: Result<EnrollOutcome, Vec<Violation>>, lang: Lang) -> Value {
    let violations = |vs: &[Violation]| violations_json(vs, lang);
    match result {
        Ok(EnrollOutcome::Stored {
            record_id,
            device_seq,
            content_hash,
        }) => json!({
            "index": index, "status": "stored", "record_id": record_id,
            "device_seq": device_seq, "content_hash": content_hash.to_hex(),
        }),
        Ok(EnrollOutcome::AlreadyStored {
            record_id,
            device_seq,
        }) => json!({
            "index": index, "status": "already_stored", "record_id": record_id,
            "device_seq": device_seq,
        }),
        Ok(EnrollOutcome::Refused(v)) => json!({
            "index": index, "status": "refused", "violations": violations(std::slice::from_ref(&v)),
        }),
        Err(vs) => json!({"index": index, "status": "invalid", "violations": violations(&vs)}),
    }
}

/// The records of a JSON request (`Content-Type: application/json`, one
/// object or an array).
async fn read_json_records(req: Request, lang: Lang) -> Result<Vec<Value>, ProblemResponse> {
    let (parts, body) = req.into_parts();
    let json_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type.unsupported",
            lang,
            "Hồ sơ phải được gửi dạng application/json",
            "Records are sent as application/json",
            None,
        ));
    }
    read_records(body, lang).await
}

async fn post_records(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    req: Request,
) -> Result<Response, ProblemResponse> {
    let values = read_json_records(req, lang).await?;
    let units = Arc::clone(&app.units);
    let results = app
        .with_store(lang, move |store| enroll_values(store, &units, values))
        .await?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut items = Vec::with_capacity(results.len());
    for (index, result) in results.into_iter().enumerate() {
        let item = outcome_json(index, result, lang);
        if let Some(s) = item["status"].as_str() {
            let key = match s {
                "stored" => "stored",
                "already_stored" => "already_stored",
                "refused" => "refused",
                _ => "invalid",
            };
            *counts.entry(key).or_default() += 1;
        }
        items.push(item);
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    if count("stored") > 0 {
        app.syncer.wake.notify_one();
    }
    let status = if count("invalid") + count("refused") > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let doc = json!({
        "stored": count("stored"), "already_stored": count("already_stored"),
        "invalid": count("invalid"), "refused": count("refused"), "results": items,
    });
    Ok((status, axum::Json(doc)).into_response())
}

/// Validates records given as JSON values and stores the valid ones, as
/// `POST /api/records` does (and `field visit`, for its one record): each
/// value's outcome, in order.
pub(crate) fn enroll_values(
    store: &mut FieldStore,
    units: &Units,
    values: Vec<Value>,
) -> Result<Vec<Result<EnrollOutcome, Vec<Violation>>>, StoreError> {
    let now = Utc::now();
    let mut bodies = Vec::new();
    let mut invalid: Vec<Option<Vec<Violation>>> = Vec::with_capacity(values.len());
    for value in values {
        match prepare_value(store, units, value, now)? {
            Ok(body) => {
                bodies.push(body);
                invalid.push(None);
            }
            Err(vs) => invalid.push(Some(vs)),
        }
    }
    let mut outcomes = if bodies.is_empty() {
        Vec::new()
    } else {
        store.enroll(&bodies, now)?
    }
    .into_iter();
    Ok(invalid
        .into_iter()
        .map(|slot| match slot {
            Some(vs) => Err(vs),
            None => outcomes.next().ok_or_else(|| {
                vec![Violation::new(
                    "$",
                    "internal",
                    "internal error: no outcome for this record",
                    "lỗi nội bộ: không có kết quả cho hồ sơ này",
                )]
            }),
        })
        .collect())
}

/// One record checked by the core rules (with the laptop's biometric
/// policy) and made ready for the store, its inline attachments decoded,
/// encrypted and sealed; or every rule it breaks. `Err` only when the
/// store fails (no key for attachments: the store is locked).
pub(crate) fn prepare_value(
    store: &FieldStore,
    units: &Units,
    value: Value,
    now: chrono::DateTime<Utc>,
) -> Result<Result<PreparedBody, Vec<Violation>>, StoreError> {
    let ctx = ValidationContext::new(units, now).with_biometrics(store.biometrics());
    if !crate::enroll_files::has_item_sources(&value) {
        return Ok(validate(&value, &ctx).map(PreparedBody::new));
    }
    let protection = store.protection("storing attachments")?;
    match crate::enroll_files::validate_with_files(
        value,
        crate::enroll_files::ItemSource::Inline,
        &ctx,
        &protection,
    ) {
        Ok(with) => Ok(Ok(PreparedBody::new(with.body).with_blobs(with.blobs))),
        Err(crate::enroll_files::Rejected::Invalid(vs)) => Ok(Err(vs)),
        Err(crate::enroll_files::Rejected::Failed(e)) => Err(e),
    }
}

/// The body of `POST /api/records`: one record object or an array of them.
async fn read_records(body: Body, lang: Lang) -> Result<Vec<Value>, ProblemResponse> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let too_large = e.to_string().contains("length limit")
                || std::error::Error::source(&e)
                    .is_some_and(|s| s.to_string().contains("length limit"));
            if too_large {
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body.too_large",
                    lang,
                    "Nội dung gửi lên quá lớn",
                    "The request body is too large",
                    Some(format!("at most {MAX_BODY_BYTES} bytes")),
                )
            } else {
                problem(
                    StatusCode::BAD_REQUEST,
                    "body.unreadable",
                    lang,
                    "Không đọc được nội dung gửi lên",
                    "The request body could not be read",
                    Some(e.to_string()),
                )
            }
        })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "body.malformed",
            lang,
            "Nội dung gửi lên không phải JSON hợp lệ",
            "The body is not valid JSON",
            Some(e.to_string()),
        )
    })?;
    let values = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "body.not_records",
                lang,
                "Cần một hồ sơ (đối tượng JSON) hoặc một mảng hồ sơ",
                "Expected one record (a JSON object) or an array of records",
                None,
            ));
        }
    };
    if values.len() > MAX_RECORDS {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body.too_many_records",
            lang,
            "Quá nhiều hồ sơ trong một lần gửi",
            "Too many records in one request",
            Some(format!(
                "{} records; at most {MAX_RECORDS} per request",
                values.len()
            )),
        ));
    }
    Ok(values)
}

fn parse_limit(raw: Option<&str>, lang: Lang) -> Result<Option<u64>, ProblemResponse> {
    raw.map(|l| {
        l.trim()
            .parse::<u64>()
            .map_err(|_| bad_query(lang, format!("limit `{l}`: expected a whole number")))
    })
    .transpose()
}

/// `field status --json`'s document (counts as objects).
fn status_json(report: &StatusReport) -> Value {
    let map = |pairs: &[(String, u64)]| -> serde_json::Map<String, Value> {
        pairs.iter().map(|(k, n)| (k.clone(), json!(n))).collect()
    };
    json!({
        "device": report.device, "total": report.total, "by_status": map(&report.by_status),
        "by_kind": map(&report.by_kind), "outbox": report.outbox,
        "last_enrolled_at": report.last_enrolled_at, "schema_version": report.schema_version,
        "units_source": report.units_source, "units_count": report.units_count,
    })
}

async fn get_status(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
) -> Result<Response, ProblemResponse> {
    let (report, worklist) = app
        .with_store(lang, |s| Ok((s.status()?, s.worklist_state()?)))
        .await?;
    let mut doc = status_json(&report);
    doc["sync"] = json!(app.syncer.snapshot());
    doc["worklist"] = json!(worklist);
    Ok(axum::Json(doc).into_response())
}

/// Runs one sync now. A run already in progress (the background loop's)
/// is waited for, then this one sends whatever is still queued.
async fn post_sync(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
) -> Result<Response, ProblemResponse> {
    // On its own task: a client that hangs up does not cut the run short.
    let syncer = Arc::clone(&app.syncer);
    let report = tokio::spawn(async move { syncer.run_sync().await })
        .await
        .map_err(|e| internal(lang, e.to_string()))?
        .map_err(|e| store_problem(&e, lang))?;
    Ok(axum::Json(report).into_response())
}

/// Exports the outbox as a bundle file download (204: nothing queued).
async fn post_bundle(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
) -> Result<Response, ProblemResponse> {
    let app2 = Arc::clone(&app);
    let built = tokio::task::spawn_blocking(move || {
        let mut store = app2.store.lock().unwrap_or_else(PoisonError::into_inner);
        let built = crate::bundle_cmd::build_bundle(&mut store)?;
        if let Some(b) = &built {
            crate::bundle_cmd::journal_bundle(&mut store, b)?;
        }
        Ok::<_, anyhow::Error>((built, store.device().clone()))
    })
    .await
    .map_err(|e| internal(lang, e.to_string()))?
    .map_err(|e| match e.downcast::<StoreError>() {
        Ok(e) => store_problem(&e, lang),
        Err(e) => internal(lang, format!("{e:#}")),
    })?;
    let (Some(built), device) = built else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    // `doorstep-<device name>-<date>.dsbundle`, ASCII only for every browser.
    let name: String = doorstep_core::text::fold_key(&device.device_name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let file = format!(
        "doorstep-{}-{}-seq{}-{}.dsbundle",
        name.trim_matches('-'),
        summary::vietnam_today(Utc::now()),
        built.seq_from,
        built.seq_to
    );
    let disposition = format!("attachment; filename=\"{file}\"");
    let mut resp = (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        built.bytes,
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(v) = axum::http::HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    for (k, v) in [
        ("x-doorstep-records", built.count.to_string()),
        ("x-doorstep-sha256", built.sha256.clone()),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(resp)
}

#[derive(Debug, serde::Deserialize)]
struct LogQuery {
    limit: Option<String>,
}

async fn get_sync_log(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let Query(q) = query.map_err(|e| bad_query(lang, e.body_text()))?;
    let limit = parse_limit(q.limit.as_deref(), lang)?
        .unwrap_or(SYNC_LOG_DEFAULT)
        .min(SYNC_LOG_MAX);
    let entries = app.with_store(lang, move |s| s.sync_log(limit)).await?;
    Ok(axum::Json(entries).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_known_language() {
        assert_eq!(accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(accept_language("vi-VN,vi;q=0.9,en;q=0.8"), Some(Lang::Vi));
        assert_eq!(accept_language("fr, en;q=0.5, vi;q=0.7"), Some(Lang::Vi));
        assert_eq!(accept_language("fr"), None);
        assert_eq!(accept_language("en;q=0"), None);
    }

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(host_without_port("127.0.0.1:8760"), "127.0.0.1");
        assert_eq!(host_without_port("localhost"), "localhost");
        assert_eq!(host_without_port("[::1]:8760"), "::1");
    }
}
