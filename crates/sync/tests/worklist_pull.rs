#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Pulling the worklist against a scripted server: pages in turn, a 503
//! retried, an incremental pull after the full one, an older server
//! (404) skipped, a revoked laptop refused, an unregistered one skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use doorstep_store::{FieldStore, InitOptions};
use doorstep_sync::backoff::RetryPolicy;
use doorstep_sync::client::Client;
use doorstep_sync::worklist::{SKIP_NO_WORKLISTS, SKIP_NOT_REGISTERED, pull_worklist};
use doorstep_wire::Problem;
use doorstep_wire::worklist::{
    Assignment, WORKLIST_PATH, WorklistChange, WorklistPage, WorklistPerson, WorklistRequest,
};
use uuid::Uuid;

const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n725,Thành phố Thuận An,district,74\n25972,Phường Thuận Giao,commune,725\n";

fn store(dir: &std::path::Path, registered: bool) -> FieldStore {
    let mut store = FieldStore::init(
        dir,
        &InitOptions {
            device_name: "Tổ 3".into(),
            unit_code: "74".into(),
            units_csv: Some(("test".into(), UNITS.as_bytes().to_vec())),
            passphrase: "mật khẩu thử nghiệm".into(),
            kdf: doorstep_crypto::KdfParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        },
        chrono::Utc::now(),
    )
    .unwrap();
    if registered {
        // A key is what a registered laptop signs its requests with.
        store.ensure_device_key().unwrap();
    }
    store
}

fn person(id: u64) -> WorklistPerson {
    WorklistPerson {
        id,
        personal_id: format!("0741900{id:05}"),
        full_name: format!("Người Thứ {id}"),
        date_of_birth: "1990-03-08".into(),
        sex: "female".into(),
        unit_code: "25972".into(),
        address_detail: None,
        household: None,
        needs: vec!["card".into()],
        covered: Vec::new(),
        worklist_unit: "25972".into(),
        referred_from: None,
        status: "open".into(),
        reason: "not_visited".into(),
        visits: 0,
        last_visit_at: None,
    }
}

/// What the scripted server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Five people, two a page; one person removed after revision 5.
    Roster,
    NotFound,
    Revoked,
}

struct Server {
    mode: Mode,
    /// Requests for the second page still to fail with 503.
    failures_left: AtomicU32,
    requests: AtomicU32,
}

async fn worklist(State(s): State<Arc<Server>>, Json(req): Json<WorklistRequest>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let problem = |status: StatusCode, code: &str| {
        (
            status,
            Json(Problem::new(status.as_u16(), code, "refused", None)),
        )
            .into_response()
    };
    match s.mode {
        Mode::NotFound => return problem(StatusCode::NOT_FOUND, "not_found"),
        Mode::Revoked => return problem(StatusCode::FORBIDDEN, "auth.revoked"),
        Mode::Roster => {}
    }
    if req.after == Some(2)
        && s.failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let since = req.since.as_ref().map_or(0, |c| c.rev);
    let feed: Vec<WorklistChange> = if since >= 5 {
        vec![WorklistChange::Remove { rev: 6, id: 3 }]
    } else {
        (1..=5)
            .map(|i| WorklistChange::Put {
                rev: i,
                person: person(i),
            })
            .collect()
    };
    let after = req.after.unwrap_or(since);
    let rest: Vec<WorklistChange> = feed.into_iter().filter(|c| c.rev() > after).collect();
    let changes: Vec<WorklistChange> = rest.iter().take(2).cloned().collect();
    let cursor = changes.last().map_or(after, WorklistChange::rev);
    Json(WorklistPage {
        protocol: 1,
        issuer: Uuid::from_u128(1),
        full: req.since.is_none(),
        scope: "A".into(),
        assignment: Assignment::default(),
        more: rest.len() > changes.len(),
        changes,
        cursor,
        devices: None,
    })
    .into_response()
}

async fn serve(mode: Mode, failures: u32) -> (Arc<Server>, Client) {
    let server = Arc::new(Server {
        mode,
        failures_left: AtomicU32::new(failures),
        requests: AtomicU32::new(0),
    });
    let app = axum::Router::new()
        .route(WORKLIST_PATH, post(worklist))
        .with_state(Arc::clone(&server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(&format!("http://{addr}"), Duration::from_secs(10)).unwrap();
    (server, client)
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(20),
        retries: 3,
    }
}

#[tokio::test]
async fn pages_come_down_in_turn_and_the_next_pull_is_incremental() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = store(tmp.path(), true);
    let (server, client) = serve(Mode::Roster, 1).await;
    let r = pull_worklist(&client, &mut store, Some(2), &quick())
        .await
        .unwrap();
    assert!(r.full && r.skipped.is_none(), "{r:?}");
    assert_eq!((r.pages, r.put, r.people, r.retries), (3, 5, 5, 1), "{r:?}");
    assert!(r.bytes > 0);
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        4,
        "3 pages, 1 retry"
    );
    assert_eq!(store.worklist_state().unwrap().checkpoint.unwrap().rev, 5);

    let r = pull_worklist(&client, &mut store, Some(2), &quick())
        .await
        .unwrap();
    assert!(!r.full, "{r:?}");
    assert_eq!((r.pages, r.put, r.removed, r.people), (1, 0, 1, 4), "{r:?}");
}

#[tokio::test]
async fn an_older_server_is_skipped_and_a_revoked_laptop_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = store(tmp.path(), true);
    let (_, client) = serve(Mode::NotFound, 0).await;
    let r = pull_worklist(&client, &mut store, None, &quick())
        .await
        .unwrap();
    assert_eq!(r.skipped.as_deref(), Some(SKIP_NO_WORKLISTS));

    let (server, client) = serve(Mode::Revoked, 0).await;
    let e = pull_worklist(&client, &mut store, None, &quick())
        .await
        .unwrap_err();
    assert!(e.is_revoked(), "{e}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1, "not retried");
}

#[tokio::test]
async fn an_unregistered_laptop_asks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = store(tmp.path(), false);
    let (server, client) = serve(Mode::Roster, 0).await;
    let r = pull_worklist(&client, &mut store, None, &quick())
        .await
        .unwrap();
    assert_eq!(r.skipped.as_deref(), Some(SKIP_NOT_REGISTERED));
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}
