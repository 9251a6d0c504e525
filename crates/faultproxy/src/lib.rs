#![forbid(unsafe_code)]
//! A fault-injecting HTTP/1.1 proxy between two Doorstep nodes (laptop →
//! station, station → central, laptop → central), for reliability tests.
//!
//! Each connection and each request draws from one seeded random stream
//! (ChaCha8): with probability `rate` it suffers one of the enabled
//! [`Fault`]s, else it is forwarded untouched. The same seed and the same
//! order of arrival give the same faults. Faults that reach the upstream
//! node before failing (a reset mid-response, a 5xx after forwarding, a
//! duplicated request) are the ones that test exactly-once delivery: the
//! server applied the request, the client cannot know it.
//!
//! Loopback only: both the listening address and the upstream must be on
//! this machine. The proxy runs on its own thread and runtime and stops
//! when its handle is dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;

mod fault;

pub use fault::{Fault, FaultCounts};

/// What the proxy does, and how often.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Seed of the decisions.
    pub seed: u64,
    /// Share of connections and requests that suffer a fault, 0 to 1.
    pub rate: f64,
    /// The faults drawn from (uniformly); empty means all of them.
    pub faults: Vec<Fault>,
    /// A `delay` fault waits between these two, in milliseconds.
    pub delay_ms: (u64, u64),
}

impl Plan {
    /// Every fault, at `rate`, seeded.
    pub fn all(seed: u64, rate: f64) -> Plan {
        Plan {
            seed,
            rate,
            faults: Fault::ALL.to_vec(),
            delay_ms: (50, 1_000),
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "the fault proxy only runs between nodes on this machine: {0} is not a loopback address"
    )]
    NotLoopback(String),
    #[error("upstream `{0}` is not an http://IP:PORT URL")]
    BadUpstream(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the proxy's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot make the proxy's HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// What the running proxy shares between its tasks.
#[derive(Debug)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    rng: Mutex<ChaCha8Rng>,
    faults: Vec<Fault>,
    delay_ms: (u64, u64),
    /// The rate in millionths, changeable while running.
    rate_ppm: AtomicU64,
    counts: FaultCounts,
}

impl Shared {
    /// One draw: a fault among `allowed` (intersected with the plan's), or none.
    fn draw(&self, allowed: &[Fault]) -> Option<(Fault, u64)> {
        let rate = self.rate_ppm.load(Ordering::Relaxed);
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = rng.random_range(0..1_000_000u64) < rate;
        let delay = rng.random_range(self.delay_ms.0..=self.delay_ms.1.max(self.delay_ms.0));
        if !hit {
            return None;
        }
        let choices: Vec<Fault> = self
            .faults
            .iter()
            .copied()
            .filter(|f| allowed.contains(f))
            .collect();
        if choices.is_empty() {
            return None;
        }
        let fault = choices[rng.random_range(0..choices.len())];
        Some((fault, delay))
    }
}

/// A running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on `listen` (loopback; port 0 picks one) and forwards to
    /// `upstream` (`http://127.0.0.1:PORT`), injecting faults per `plan`.
    pub fn start(
        listen: SocketAddr,
        upstream: &str,
        plan: &Plan,
    ) -> Result<FaultProxy, ProxyError> {
        if !listen.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(listen.to_string()));
        }
        let up: SocketAddr = upstream
            .strip_prefix("http://")
            .map(|s| s.trim_end_matches('/'))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ProxyError::BadUpstream(upstream.to_owned()))?;
        if !up.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(up.to_string()));
        }
        let std_listener =
            std::net::TcpListener::bind(listen).map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        let addr = std_listener
            .local_addr()
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(ProxyError::Client)?;
        let shared = Arc::new(Shared {
            upstream: format!("http://{up}"),
            client,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(plan.seed)),
            faults: if plan.faults.is_empty() {
                Fault::ALL.to_vec()
            } else {
                plan.faults.clone()
            },
            delay_ms: plan.delay_ms,
            rate_ppm: AtomicU64::new(rate_ppm(plan.rate)),
            counts: FaultCounts::default(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(ProxyError::Runtime)?;
        let (stop, stopped) = watch::channel(false);
        let task_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("faultproxy-{addr}"))
            .spawn(move || {
                runtime.block_on(accept_loop(std_listener, task_shared, stopped));
            })
            .map_err(ProxyError::Runtime)?;
        Ok(FaultProxy {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: where clients connect.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the share of faulty connections and requests (0 stops faults).
    pub fn set_rate(&self, rate: f64) {
        self.shared
            .rate_ppm
            .store(rate_ppm(rate), Ordering::Relaxed);
    }

    /// What was done so far.
    pub fn counts(&self) -> fault::CountsSnapshot {
        self.shared.counts.snapshot()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rate_ppm(rate: f64) -> u64 {
    // Clamped, so the cast cannot overflow; NaN counts as 0.
    let r = if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    };
    (r * 1_000_000.0).round() as u64
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        shared.counts.connection();
        if let Some((Fault::Refuse, _)) = shared.draw(&[Fault::Refuse]) {
            shared.counts.add(Fault::Refuse);
            drop(stream);
            continue;
        }
        let conn_shared = Arc::clone(&shared);
        let mut conn_stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let s = Arc::clone(&conn_shared);
                async move { handle(req, s).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn_stop.wait_for(|s| *s) => {}
                _ = conn => {}
            }
        });
    }
}

/// Why a request's connection is dropped on purpose.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the fault proxy ({0})")]
struct Dropped(&'static str);

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A request as read from the client.
struct Forwarded {
    method: hyper::Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// An upstream answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, Dropped> {
    shared.counts.request();
    let drawn = shared.draw(Fault::PER_REQUEST);
    if let Some((fault, _)) = drawn {
        shared.counts.add(fault);
    }
    let (parts, mut body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    if let Some((Fault::ResetMidRequest, _)) = drawn {
        // Some of the body arrives, then the connection goes.
        let _ = body.frame().await;
        return Err(Dropped("reset mid-request"));
    }
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped("client body unreadable")),
    };
    let mut incoming = Forwarded {
        method: parts.method,
        path,
        headers: parts.headers,
        body: bytes,
    };
    let Some((fault, delay)) = drawn else {
        return Ok(forward_or_502(&shared, &incoming).await);
    };
    match fault {
        Fault::Refuse | Fault::ResetMidRequest => Ok(forward_or_502(&shared, &incoming).await),
        Fault::DropRequest => Err(Dropped("request dropped")),
        Fault::Delay => {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            Ok(forward_or_502(&shared, &incoming).await)
        }
        Fault::ErrorBefore => Ok(injected_error(StatusCode::SERVICE_UNAVAILABLE)),
        Fault::ErrorAfter => {
            let _ = forward(&shared, &incoming).await;
            Ok(injected_error(StatusCode::BAD_GATEWAY))
        }
        Fault::Duplicate => {
            let _ = forward(&shared, &incoming).await;
            Ok(forward_or_502(&shared, &incoming).await)
        }
        Fault::TruncateRequest => {
            let half = incoming.body.len() / 2;
            incoming.body = incoming.body.slice(..half);
            Ok(forward_or_502(&shared, &incoming).await)
        }
        Fault::TruncateResponse => match forward(&shared, &incoming).await {
            Ok(mut answer) => {
                let half = answer.body.len() / 2;
                answer.body = answer.body.slice(..half);
                Ok(respond(answer, None))
            }
            Err(_) => Ok(upstream_down()),
        },
        Fault::ResetMidResponse => match forward(&shared, &incoming).await {
            Ok(answer) => Ok(reset_mid_body(answer)),
            Err(_) => Ok(upstream_down()),
        },
    }
}

/// Headers that belong to one hop, not to the request or answer.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

async fn forward(shared: &Shared, req: &Forwarded) -> Result<Answer, reqwest::Error> {
    let url = format!("{}{}", shared.upstream, req.path);
    let mut out = shared
        .client
        .request(req.method.clone(), url)
        .body(req.body.clone());
    for (name, value) in &req.headers {
        if !hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    let resp = out.send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn forward_or_502(shared: &Shared, req: &Forwarded) -> Response<Body> {
    match forward(shared, req).await {
        Ok(answer) => respond(answer, None),
        Err(e) => {
            tracing::debug!(error = %e, "upstream unreachable");
            shared.counts.upstream_error();
            upstream_down()
        }
    }
}

/// The upstream's answer, with `length` as its declared length when given.
fn respond(answer: Answer, length: Option<usize>) -> Response<Body> {
    let declared = length.unwrap_or(answer.body.len());
    let mut resp = Response::new(full(answer.body));
    *resp.status_mut() = answer.status;
    copy_headers(&answer.headers, resp.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&declared.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    resp
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Half the body, then the connection is cut (the declared length is
/// the whole body's, so the client knows it lost the rest).
fn reset_mid_body(answer: Answer) -> Response<Body> {
    let half = answer.body.slice(..answer.body.len() / 2);
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(half)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset mid-response by the fault proxy",
        )),
    ];
    let stream = futures_util::stream::iter(frames);
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *resp.status_mut() = answer.status;
    copy_headers(&answer.headers, resp.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&answer.body.len().to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    resp
}

fn injected_error(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from_static(
        b"fault injected by doorstep-faultproxy\n",
    )));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn upstream_down() -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from_static(b"upstream unreachable\n")));
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp
}
