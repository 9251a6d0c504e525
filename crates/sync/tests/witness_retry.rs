#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A server that restarts between answering a batch and serving the log
//! proof must not end the sync: the witness retries the proof fetch.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use doorstep_core::merkle::{self, MemoryTree};
use doorstep_store::{LogAlarm, StoredLogHead};
use doorstep_sync::backoff::RetryPolicy;
use doorstep_sync::client::Client;
use doorstep_sync::witness::{Witness, WitnessError, check_current_head};
use doorstep_wire::log::{
    CONSISTENCY_PATH, ConsistencyAnswer, SignedTreeHead, TREE_HEAD_PATH, TreeHeadAnswer,
    tree_head_message,
};
use ed25519_dalek::{Signer, SigningKey};
use uuid::Uuid;

#[derive(Default)]
struct MemoryWitness {
    heads: HashMap<Uuid, StoredLogHead>,
    alarms: Vec<LogAlarm>,
}

impl Witness for MemoryWitness {
    type Error = std::io::Error;
    fn expected_logs(&self) -> Result<Option<Vec<Uuid>>, Self::Error> {
        Ok(None)
    }
    fn pinned(&self, log_id: Uuid) -> Result<Option<StoredLogHead>, Self::Error> {
        Ok(self.heads.get(&log_id).cloned())
    }
    fn save(&mut self, head: &StoredLogHead) -> Result<(), Self::Error> {
        self.heads.insert(head.log_id, head.clone());
        Ok(())
    }
    fn alarm(&mut self, alarm: &LogAlarm) -> Result<(), Self::Error> {
        self.alarms.push(alarm.clone());
        Ok(())
    }
}

struct Log {
    key: SigningKey,
    id: Uuid,
    tree: MemoryTree,
}

impl Log {
    fn head(&self, size: u64) -> SignedTreeHead {
        let root = self.tree.root_at(size).unwrap_or_else(merkle::empty_root);
        let timestamp = 1_700_000_000_000 + size;
        let signature = self
            .key
            .sign(&tree_head_message(&self.id, size, timestamp, &root))
            .to_bytes();
        SignedTreeHead {
            log_id: self.id,
            tree_size: size,
            timestamp,
            root_hash: root,
            signature,
        }
    }
}

struct Server {
    log: Log,
    /// Consistency requests still to fail (503) before one is answered.
    failures_left: AtomicU32,
    consistency_calls: AtomicU32,
}

async fn tree_head(State(s): State<Arc<Server>>) -> Json<TreeHeadAnswer> {
    Json(TreeHeadAnswer {
        tree_head: s.log.head(s.log.tree.size()),
        public_key: s.log.key.verifying_key().to_bytes(),
    })
}

async fn consistency(
    State(s): State<Arc<Server>>,
    Query(q): Query<HashMap<String, u64>>,
) -> Response {
    s.consistency_calls.fetch_add(1, Ordering::SeqCst);
    if s.failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let (first, second) = (q["first"], q["second"]);
    let path = merkle::consistency_proof(&mut &s.log.tree, first, second).unwrap();
    Json(ConsistencyAnswer {
        first,
        second,
        path,
    })
    .into_response()
}

async fn serve(server: Arc<Server>) -> String {
    let app = axum::Router::new()
        .route(TREE_HEAD_PATH, get(tree_head))
        .route(CONSISTENCY_PATH, get(consistency))
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A log of 5 entries whose witness last checked it at size 3.
fn setup(failures: u32) -> (Arc<Server>, MemoryWitness) {
    let mut tree = MemoryTree::new();
    for i in 0u8..5 {
        tree.push(merkle::leaf_hash(&[i]));
    }
    let log = Log {
        key: SigningKey::from_bytes(&[7; 32]),
        id: Uuid::from_u128(42),
        tree,
    };
    let seen = log.head(3);
    let mut witness = MemoryWitness::default();
    witness.heads.insert(
        log.id,
        StoredLogHead {
            log_id: log.id,
            public_key: log.key.verifying_key().to_bytes(),
            tree_size: 3,
            timestamp: seen.timestamp,
            root_hash: seen.root_hash,
            signature: seen.signature,
            checked_at: "2026-11-23T00:00:00.000Z".into(),
        },
    );
    let server = Arc::new(Server {
        log,
        failures_left: AtomicU32::new(failures),
        consistency_calls: AtomicU32::new(0),
    });
    (server, witness)
}

fn quick(retries: u32) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        retries,
    }
}

#[tokio::test]
async fn a_proof_fetch_that_fails_for_a_moment_is_retried() {
    let (server, mut witness) = setup(2);
    let client = Client::new(&serve(server.clone()).await, Duration::from_secs(5)).unwrap();
    let head = check_current_head(&mut witness, &client, &quick(3))
        .await
        .expect("the head is accepted once the proof comes");
    assert_eq!(head.tree_size, 5);
    assert_eq!(server.consistency_calls.load(Ordering::SeqCst), 3);
    assert_eq!(witness.heads[&server.log.id].tree_size, 5);
    assert!(witness.alarms.is_empty());
}

#[tokio::test]
async fn a_proof_fetch_that_keeps_failing_is_an_error_not_an_alarm() {
    let (server, mut witness) = setup(10);
    let client = Client::new(&serve(server.clone()).await, Duration::from_secs(5)).unwrap();
    let err = check_current_head(&mut witness, &client, &quick(2))
        .await
        .unwrap_err();
    assert!(matches!(err, WitnessError::Fetch(_)), "{err}");
    assert_eq!(server.consistency_calls.load(Ordering::SeqCst), 3);
    // Nothing learnt, nothing alarmed: the last head checked stays.
    assert_eq!(witness.heads[&server.log.id].tree_size, 3);
    assert!(witness.alarms.is_empty());
}
