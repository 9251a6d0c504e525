#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Each fault does what it says, to a real upstream on loopback: whether
//! the upstream saw the request (and how much of it), and what the client
//! got. The same seed gives the same faults in the same order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use doorstep_faultproxy::{Fault, FaultProxy, Plan, ProxyError};

/// An upstream that counts requests and echoes the body with its length.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<AtomicU64>,
    last_len: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

fn upstream() -> Upstream {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let last_len = Arc::new(AtomicU64::new(0));
    let state = (Arc::clone(&seen), Arc::clone(&last_len));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/echo",
            post(
                |State((seen, len)): State<(Arc<AtomicU64>, Arc<AtomicU64>)>, body: Bytes| async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    len.store(body.len() as u64, Ordering::SeqCst);
                    let mut out = format!("{}:", body.len()).into_bytes();
                    out.extend_from_slice(&body);
                    out
                },
            ),
        )
        .with_state(state);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Upstream {
        addr,
        seen,
        last_len,
        _runtime: runtime,
    }
}

fn proxy_with(up: &Upstream, fault: Fault) -> FaultProxy {
    let plan = Plan {
        seed: 7,
        rate: 1.0,
        faults: vec![fault],
        delay_ms: (300, 300),
    };
    FaultProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &format!("http://{}", up.addr),
        &plan,
    )
    .unwrap()
}

/// Status and body, or the client's error.
fn send(proxy: &FaultProxy, body: &'static [u8]) -> Result<(u16, Vec<u8>), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = client
        .post(format!("{}/echo", proxy.url()))
        .body(body)
        .send()
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().map_err(|e| format!("body: {e}"))?;
    Ok((status, bytes.to_vec()))
}

const BODY: &[u8] = b"0123456789abcdefghij";

#[test]
fn without_faults_requests_pass_untouched() {
    let up = upstream();
    let proxy = FaultProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        &format!("http://{}", up.addr),
        &Plan::all(1, 0.0),
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            send(&proxy, BODY).unwrap(),
            (200, b"20:0123456789abcdefghij".to_vec())
        );
    }
    assert_eq!(up.seen.load(Ordering::SeqCst), 3);
    let counts = proxy.counts();
    assert_eq!((counts.requests, counts.total_faults()), (3, 0));
}

#[test]
fn each_fault_does_what_it_says() {
    // (fault, client gets an answer, the upstream saw it this many times)
    let cases: &[(Fault, bool, u64)] = &[
        (Fault::Refuse, false, 0),
        (Fault::DropRequest, false, 0),
        (Fault::ResetMidRequest, false, 0),
        (Fault::ResetMidResponse, false, 1),
        (Fault::Duplicate, true, 2),
        (Fault::ErrorBefore, true, 0),
        (Fault::ErrorAfter, true, 1),
    ];
    for &(fault, answered, seen) in cases {
        let up = upstream();
        let proxy = proxy_with(&up, fault);
        let got = send(&proxy, BODY);
        assert_eq!(got.is_ok(), answered, "{fault:?}: {got:?}");
        assert_eq!(up.seen.load(Ordering::SeqCst), seen, "{fault:?}: {got:?}");
        assert_eq!(proxy.counts().of(fault), 1, "{fault:?}");
        match fault {
            Fault::ErrorBefore => assert_eq!(got.unwrap().0, 503),
            Fault::ErrorAfter => assert_eq!(got.unwrap().0, 502),
            Fault::Duplicate => assert_eq!(got.unwrap().0, 200),
            _ => {}
        }
    }
}

#[test]
fn truncation_halves_the_request_or_the_answer() {
    let up = upstream();
    let proxy = proxy_with(&up, Fault::TruncateRequest);
    assert_eq!(
        send(&proxy, BODY).unwrap(),
        (200, b"10:0123456789".to_vec())
    );
    assert_eq!(up.last_len.load(Ordering::SeqCst), 10);

    let up = upstream();
    let proxy = proxy_with(&up, Fault::TruncateResponse);
    // "20:0123456789abcdefghij" is 23 bytes: the client gets 11.
    assert_eq!(send(&proxy, BODY).unwrap(), (200, b"20:01234567".to_vec()));
    assert_eq!(up.seen.load(Ordering::SeqCst), 1);
}

#[test]
fn a_delay_holds_the_request_then_forwards_it() {
    let up = upstream();
    let proxy = proxy_with(&up, Fault::Delay);
    let start = Instant::now();
    assert_eq!(send(&proxy, BODY).unwrap().0, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(up.seen.load(Ordering::SeqCst), 1);
}

#[test]
fn the_same_seed_gives_the_same_faults() {
    let run = |seed: u64| {
        let up = upstream();
        let plan = Plan {
            delay_ms: (1, 5),
            ..Plan::all(seed, 0.5)
        };
        let proxy = FaultProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            &format!("http://{}", up.addr),
            &plan,
        )
        .unwrap();
        let outcomes: Vec<String> = (0..40)
            .map(|_| match send(&proxy, BODY) {
                Ok((status, body)) => format!("{status}:{}", body.len()),
                Err(_) => "error".to_owned(),
            })
            .collect();
        (outcomes, proxy.counts())
    };
    let (a, counts_a) = run(42);
    let (b, counts_b) = run(42);
    assert_eq!(a, b);
    assert_eq!(counts_a.faults, counts_b.faults);
    assert!(counts_a.total_faults() > 5, "{counts_a:?}");
    let (c, _) = run(43);
    assert_ne!(a, c, "another seed, other faults");
}

#[test]
fn only_loopback() {
    let err = FaultProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        "http://10.1.2.3:80",
        &Plan::all(1, 0.1),
    )
    .unwrap_err();
    assert!(matches!(err, ProxyError::NotLoopback(_)), "{err}");
    let err = FaultProxy::start(
        "0.0.0.0:0".parse().unwrap(),
        "http://127.0.0.1:80",
        &Plan::all(1, 0.1),
    )
    .unwrap_err();
    assert!(matches!(err, ProxyError::NotLoopback(_)), "{err}");
    assert!(matches!(
        FaultProxy::start(
            "127.0.0.1:0".parse().unwrap(),
            "central:8750",
            &Plan::all(1, 0.1)
        ),
        Err(ProxyError::BadUpstream(_))
    ));
}
