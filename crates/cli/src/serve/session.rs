//! Sessions of the local API: the officer's passphrase opens the store's
//! key and a session (cookie for the app, bearer token for scripts); the
//! key is dropped again on `POST /api/lock` or after a spell without a
//! request from a session. Citizen data is read or written only in a
//! session; the background sync needs none (docs/adr/0014).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorstep_store::StoreError;
use serde_json::{Value, json};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::{App, ReqLang, internal, problem, store_problem};
use crate::lang::Lang;

/// The session cookie's name.
pub const COOKIE: &str = "doorstep_session";
/// Requests with this header (the app's status polling) are not activity.
pub const BACKGROUND_HEADER: &str = "x-doorstep-background";
/// Shortest passphrase a new store takes (as `field init`).
const MIN_PASSPHRASE_CHARS: usize = 8;
/// Longest wait after a wrong passphrase.
const MAX_WRONG_DELAY: Duration = Duration::from_secs(5);
/// Paths open without a session.
const OPEN_PATHS: &[&str] = &["/api/session", "/api/unlock", "/api/lock"];

/// The open sessions and the time of the last activity.
#[derive(Debug)]
pub struct Sessions {
    inner: Mutex<Inner>,
    pub lock_after: Duration,
}

#[derive(Debug)]
struct Inner {
    /// Tokens of the open sessions (hex of 32 random bytes).
    tokens: HashSet<String>,
    last_activity: Instant,
    /// Wrong passphrases in a row: each waits longer.
    wrong: u32,
}

impl Sessions {
    pub fn new(lock_after: Duration) -> Sessions {
        Sessions {
            inner: Mutex::new(Inner {
                tokens: HashSet::new(),
                last_activity: Instant::now(),
                wrong: 0,
            }),
            lock_after,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn open(&self) -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let token = hex::encode(bytes);
        self.with(|s| {
            s.tokens.insert(token.clone());
            s.last_activity = Instant::now();
            s.wrong = 0;
        });
        Ok(token)
    }

    fn is_open(&self, token: &str) -> bool {
        self.with(|s| s.tokens.contains(token))
    }

    fn touch(&self) {
        self.with(|s| s.last_activity = Instant::now());
    }

    pub fn idle(&self) -> Duration {
        self.with(|s| s.last_activity.elapsed())
    }

    pub fn any_open(&self) -> bool {
        self.with(|s| !s.tokens.is_empty())
    }

    fn close_all(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// Counts a wrong passphrase; how long to wait before answering.
    fn wrong_try(&self) -> Duration {
        let tries = self.with(|s| {
            s.wrong = s.wrong.saturating_add(1);
            s.wrong
        });
        Duration::from_millis(500u64.saturating_mul(u64::from(tries))).min(MAX_WRONG_DELAY)
    }
}

/// The session token a request carries: `Authorization: Bearer …`, else
/// the cookie.
fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// True when the request belongs to an open session.
fn in_session(app: &App, headers: &HeaderMap) -> bool {
    request_token(headers).is_some_and(|t| app.sessions.is_open(&t))
}

/// Lets a request to `/api/…` through only in a session (a few paths are
/// open); counts it as activity unless it says it is background polling.
pub async fn require_session(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/") || OPEN_PATHS.contains(&path) {
        return next.run(req).await;
    }
    if !in_session(&app, req.headers()) {
        let lang = super::request_lang(req.uri(), req.headers());
        return problem(
            StatusCode::UNAUTHORIZED,
            "session.required",
            lang,
            "Cần mở khóa bằng mật khẩu của cán bộ",
            "Unlock with the officer's passphrase first",
            Some("POST /api/unlock".into()),
        )
        .into_response();
    }
    if !req.headers().contains_key(BACKGROUND_HEADER) {
        app.sessions.touch();
    }
    next.run(req).await
}

#[derive(serde::Deserialize)]
pub struct UnlockBody {
    passphrase: Zeroizing<String>,
    #[serde(default)]
    confirm: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for UnlockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockBody { .. }")
    }
}

/// `POST /api/unlock`.
pub async fn unlock(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    body: Result<axum::Json<UnlockBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "body.malformed",
                lang,
                "Cần {\"passphrase\": \"…\"}",
                "Expected {\"passphrase\": \"…\"}",
                Some(e.body_text()),
            )
            .into_response();
        }
    };
    let app2 = Arc::clone(&app);
    let unlocked = tokio::task::spawn_blocking(move || {
        let mut store = app2.store.lock().unwrap_or_else(PoisonError::into_inner);
        if !store.has_passphrase()? {
            let chars = body.passphrase.chars().count();
            if chars < MIN_PASSPHRASE_CHARS {
                return Ok(Err(("short", chars)));
            }
            if body.confirm.as_deref() != Some(&*body.passphrase) {
                return Ok(Err(("mismatch", chars)));
            }
        }
        store.unlock(&body.passphrase, chrono::Utc::now()).map(Ok)
    })
    .await;
    let report = match unlocked {
        Err(e) => return internal(lang, e.to_string()).into_response(),
        Ok(Err(StoreError::WrongPassphrase { .. })) => {
            tokio::time::sleep(app.sessions.wrong_try()).await;
            return problem(
                StatusCode::UNAUTHORIZED,
                "passphrase.wrong",
                lang,
                "Sai mật khẩu",
                "Wrong passphrase",
                None,
            )
            .into_response();
        }
        Ok(Err(e)) => return store_problem(&e, lang).into_response(),
        Ok(Ok(Err((why, chars)))) => {
            let detail = match (why, lang) {
                ("short", Lang::Vi) => format!(
                    "mật khẩu mới cần ít nhất {MIN_PASSPHRASE_CHARS} ký tự (mới có {chars})"
                ),
                ("short", Lang::En) => format!(
                    "a new passphrase needs at least {MIN_PASSPHRASE_CHARS} characters ({chars} given)"
                ),
                (_, Lang::Vi) => "hai lần nhập mật khẩu mới không khớp (`confirm`)".to_owned(),
                (_, Lang::En) => "the new passphrase and `confirm` differ".to_owned(),
            };
            return problem(
                StatusCode::BAD_REQUEST,
                "passphrase.invalid",
                lang,
                "Mật khẩu mới không hợp lệ",
                "The new passphrase is not acceptable",
                Some(detail),
            )
            .into_response();
        }
        Ok(Ok(Ok(report))) => report,
    };
    let token = match app.sessions.open() {
        Ok(t) => t,
        Err(e) => {
            return internal(lang, format!("no randomness for a session: {e}")).into_response();
        }
    };
    // What waited for the key (the worklist download) can go now.
    follow_keys(&app, true);
    tracing::info!("store unlocked by the officer");
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut resp = axum::Json(json!({
        "token": token,
        "lock_after_seconds": app.sessions.lock_after.as_secs(),
        "unlock": report,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Ends every session and drops the key from memory.
pub fn lock_now(app: &Arc<App>, why: &str) {
    app.sessions.close_all();
    app.store
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .lock();
    follow_keys(app, false);
    tracing::info!(why, "store locked");
}

/// Gives the sync connection the API connection's keys as they are when
/// it is free (a sync run in progress keeps them until it ends): opened
/// after an unlock, dropped after a lock, whichever came last.
fn follow_keys(app: &Arc<App>, wake: bool) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut sync_store = app.syncer.store.lock().await;
        let api_store = app.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = sync_store.adopt_keys(&api_store) {
            tracing::error!(error = %e, "the sync connection did not follow the keys");
        }
        drop(api_store);
        drop(sync_store);
        if wake {
            app.syncer.wake.notify_one();
        }
    });
}

/// `POST /api/lock`.
pub async fn lock(State(app): State<Arc<App>>) -> Response {
    lock_now(&app, "locked by the officer");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /api/session`.
pub async fn session(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    headers: HeaderMap,
) -> Response {
    let session = in_session(&app, &headers);
    if session && !headers.contains_key(BACKGROUND_HEADER) {
        app.sessions.touch();
    }
    let app2 = Arc::clone(&app);
    let state = tokio::task::spawn_blocking(move || {
        let store = app2.store.lock().unwrap_or_else(PoisonError::into_inner);
        let device = store.device().clone();
        let registered = store.identity()?.central_id.is_some();
        Ok::<_, StoreError>((
            store.is_unlocked(),
            store.has_passphrase()?,
            device,
            registered,
        ))
    })
    .await;
    let (unlocked, passphrase_set, device, registered) = match state {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return store_problem(&e, lang).into_response(),
        Err(e) => return internal(lang, e.to_string()).into_response(),
    };
    let unit_name = app.units.get(&device.unit_code).map(|u| u.name.clone());
    let doc: Value = json!({
        "unlocked": unlocked && app.sessions.any_open(),
        "session": session,
        "passphrase_set": passphrase_set,
        "lock_after_seconds": app.sessions.lock_after.as_secs(),
        "idle_seconds": app.sessions.idle().as_secs(),
        "device": {
            "device_id": device.device_id,
            "device_name": device.device_name,
            "unit_code": device.unit_code,
            "unit_name": unit_name,
            "registered": registered,
            "server": app.syncer.snapshot().server,
        },
        "version": env!("CARGO_PKG_VERSION"),
    });
    axum::Json(doc).into_response()
}

/// Locks the store after `lock_after` without activity. Stops with `stop`.
pub async fn idle_lock_loop(app: Arc<App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let tick =
        (app.sessions.lock_after / 10).clamp(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(tick) => {}
        }
        if app.sessions.any_open() && app.sessions.idle() >= app.sessions.lock_after {
            lock_now(&app, "locked after inactivity");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_comes_before_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; doorstep_session=abc; b=2"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("xyz"));
        assert_eq!(request_token(&HeaderMap::new()), None);
    }

    #[test]
    fn wrong_tries_wait_longer_up_to_a_bound() {
        let s = Sessions::new(Duration::from_secs(60));
        assert_eq!(s.wrong_try(), Duration::from_millis(500));
        assert_eq!(s.wrong_try(), Duration::from_millis(1000));
        for _ in 0..20 {
            s.wrong_try();
        }
        assert_eq!(s.wrong_try(), MAX_WRONG_DELAY);
        let token = s.open().unwrap_or_default();
        assert!(s.is_open(&token));
        assert_eq!(s.wrong_try(), Duration::from_millis(500));
        s.close_all();
        assert!(!s.is_open(&token));
    }
}
