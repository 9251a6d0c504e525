#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The attack table: each attack against central's ingest and
//! provisioning, one test each, refused or detected with a clear reason.
//! Central runs as deployed (only registered devices), through its real
//! router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use doorstep_central::sqlite::SqliteCentral;
use doorstep_central::{AppState, router};
use doorstep_core::ContentHash;
use doorstep_core::canonical::record_signing_bytes;
use doorstep_core::record::BiometricPolicy;
use doorstep_wire::register::RegisterRequest;
use doorstep_wire::{Batch, BatchRecord, NodeRole, PROTOCOL_VERSION, Sender};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::Value;
use serde_json::value::RawValue;
use tower::ServiceExt;
use uuid::Uuid;

mod support;
use support::{card_application, now, record, record_in, sealed};

/// Central with its router, and helpers to provision and post.
struct Central {
    _dir: tempfile::TempDir,
    store: Arc<SqliteCentral>,
    app: axum::Router,
}

/// A registered node: its ID and key.
struct Node {
    id: Uuid,
    key: SigningKey,
}

impl Central {
    fn new() -> Central {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteCentral::open_or_create(dir.path(), None, now()).unwrap());
        let app = router(AppState::new(Arc::clone(&store)));
        Central {
            _dir: dir,
            store,
            app,
        }
    }

    /// A batch line for `bytes` as a provisioned laptop sends it: signed
    /// by `key` (or not) and sealed to this central's key.
    fn line(&self, bytes: &[u8], key: Option<&SigningKey>) -> BatchRecord {
        sealed(plain_line(bytes, key), self.seal_key())
    }

    fn seal_key(&self) -> [u8; 32] {
        doorstep_central::CentralStore::opener(&*self.store)
            .unwrap()
            .public()
    }

    fn token(&self, role: NodeRole, unit: &str, station: Option<Uuid>) -> String {
        self.token_with(role, unit, station, BiometricPolicy::NONE)
    }

    fn token_with(
        &self,
        role: NodeRole,
        unit: &str,
        station: Option<Uuid>,
        biometrics: BiometricPolicy,
    ) -> String {
        self.store
            .provision(
                role,
                unit,
                "n",
                station,
                biometrics,
                Duration::hours(1),
                Utc::now(),
            )
            .unwrap()
            .token
    }

    fn register(&self, role: NodeRole, unit: &str, station: Option<Uuid>, seed: u8) -> Node {
        self.register_with(role, unit, station, BiometricPolicy::NONE, seed)
    }

    fn register_with(
        &self,
        role: NodeRole,
        unit: &str,
        station: Option<Uuid>,
        biometrics: BiometricPolicy,
        seed: u8,
    ) -> Node {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let id = Uuid::now_v7();
        self.store
            .register_node(
                &self.token_with(role, unit, station, biometrics),
                id,
                role,
                &hex::encode(key.verifying_key().to_bytes()),
                Utc::now(),
            )
            .unwrap();
        Node { id, key }
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.post_as(path, body, None, 0).await
    }

    /// POSTs `body`, signed as `node` with its clock `skew_ms` off, unless `node` is None.
    async fn post_as(
        &self,
        path: &str,
        body: Vec<u8>,
        node: Option<&Node>,
        skew_ms: i64,
    ) -> (StatusCode, Value) {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(node) = node {
            for (name, value) in signed_headers(node, path, &body, skew_ms, &fresh_nonce()) {
                req = req.header(name, value);
            }
        }
        self.call(req.body(Body::from(body)).unwrap()).await
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Posts a batch from `sender` (signed by it); returns the receipt's lines.
    async fn send(&self, sender: &Node, role: NodeRole, records: Vec<BatchRecord>) -> Vec<Value> {
        let (status, receipt) = self
            .post_as(
                "/v1/batches",
                batch_body(sender.id, role, records),
                Some(sender),
                0,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{receipt}");
        receipt["records"].as_array().unwrap().clone()
    }

    async fn held(&self) -> u64 {
        doorstep_central::CentralStore::status(&*self.store)
            .await
            .unwrap()
            .records
    }
}

fn batch_body(sender: Uuid, role: NodeRole, records: Vec<BatchRecord>) -> Vec<u8> {
    serde_json::to_vec(&Batch {
        protocol: PROTOCOL_VERSION,
        batch_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        sender: Sender {
            node_id: sender,
            role,
            name: None,
            client_version: "attack".into(),
        },
        journal: None,
        records,
    })
    .unwrap()
}

fn fresh_nonce() -> String {
    hex::encode(Uuid::now_v7().as_bytes())
}

/// The request signature headers, as a registered node's client sends them.
fn signed_headers(
    node: &Node,
    path: &str,
    body: &[u8],
    skew_ms: i64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    use sha2::Digest;
    let time = u64::try_from(Utc::now().timestamp_millis() + skew_ms).unwrap();
    let hash: [u8; 32] = sha2::Sha256::digest(body).into();
    let message = doorstep_wire::auth::request_message("POST", path, time, nonce, &hash);
    vec![
        ("doorstep-node", node.id.to_string()),
        ("doorstep-time", time.to_string()),
        ("doorstep-nonce", nonce.to_owned()),
        (
            "doorstep-signature",
            hex::encode(node.key.sign(&message).to_bytes()),
        ),
    ]
}

/// A batch line for `bytes` in plaintext, signed by `key` (or not).
fn plain_line(bytes: &[u8], key: Option<&SigningKey>) -> BatchRecord {
    let hash = ContentHash::of(bytes);
    BatchRecord {
        content_hash: hash.to_hex(),
        record: Some(RawValue::from_string(String::from_utf8(bytes.to_vec()).unwrap()).unwrap()),
        sealed: None,
        signature: key.map(|k| hex::encode(k.sign(&record_signing_bytes(&hash)).to_bytes())),
    }
}

fn refused_with(lines: &[Value], code: &str) {
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "invalid", "{}", lines[0]);
    assert_eq!(lines[0]["code"], code, "{}", lines[0]);
    assert!(!lines[0]["reason"].as_str().unwrap().is_empty());
    assert!(!lines[0]["reason_vi"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_properly_signed_record_is_accepted() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let lines = c
        .send(
            &laptop,
            NodeRole::Field,
            vec![c.line(&bytes, Some(&laptop.key))],
        )
        .await;
    assert_eq!(lines[0]["outcome"], "accepted", "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_record_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    refused_with(
        &c.send(&laptop, NodeRole::Field, vec![c.line(&bytes, None)])
            .await,
        "record.unsigned",
    );
    assert_eq!(c.held().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let mut forged = c.line(&bytes, Some(&laptop.key));
    forged.signature = Some("ab".repeat(64));
    refused_with(
        &c.send(&laptop, NodeRole::Field, vec![forged]).await,
        "record.bad_signature",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_signed_by_another_device_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let other = c.register(NodeRole::Field, "74", None, 2);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let lines = c
        .send(
            &laptop,
            NodeRole::Field,
            vec![c.line(&bytes, Some(&other.key))],
        )
        .await;
    refused_with(&lines, "record.bad_signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused() {
    let c = Central::new();
    let station = c.register(NodeRole::Station, "74", None, 9);
    let laptop = c.register(NodeRole::Field, "74", Some(station.id), 1);
    c.store.revoke(laptop.id, "stolen", Utc::now()).unwrap();
    // Directly: the request itself is refused.
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let body = batch_body(
        laptop.id,
        NodeRole::Field,
        vec![c.line(&bytes, Some(&laptop.key))],
    );
    let (status, problem) = c.post_as("/v1/batches", body, Some(&laptop), 0).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "auth.revoked");
    // Relayed by its station: each record is refused with the reason.
    let lines = c
        .send(
            &station,
            NodeRole::Station,
            vec![c.line(&bytes, Some(&laptop.key))],
        )
        .await;
    refused_with(&lines, "device.revoked");
    assert_eq!(c.held().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_device_is_refused() {
    let c = Central::new();
    let stranger = Node {
        id: Uuid::now_v7(),
        key: SigningKey::from_bytes(&[5; 32]),
    };
    let (_, bytes) = record(stranger.id, 1, "Nguyễn Thị Lan");
    let body = batch_body(
        stranger.id,
        NodeRole::Field,
        vec![c.line(&bytes, Some(&stranger.key))],
    );
    let (status, problem) = c
        .post_as("/v1/batches", body.clone(), Some(&stranger), 0)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "auth.unknown_node");
    // Unsigned, it is refused before anything is read.
    let (status, problem) = c.post("/v1/batches", body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "auth.required");
    assert_eq!(c.held().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_outside_the_devices_unit_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    // Bình Dương's laptop records a visit in Hồ Chí Minh City.
    let (_, bytes) = record_in(laptop.id, 1, "Nguyễn Thị Lan", "79");
    let lines = c
        .send(
            &laptop,
            NodeRole::Field,
            vec![c.line(&bytes, Some(&laptop.key))],
        )
        .await;
    refused_with(&lines, "record.out_of_scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_is_refused_and_a_resent_batch_is_harmless() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let body = batch_body(
        laptop.id,
        NodeRole::Field,
        vec![c.line(&bytes, Some(&laptop.key))],
    );
    let headers = signed_headers(&laptop, "/v1/batches", &body, 0, &fresh_nonce());
    let request = |body: Vec<u8>| {
        let mut req = Request::post("/v1/batches").header(header::CONTENT_TYPE, "application/json");
        for (name, value) in &headers {
            req = req.header(*name, value);
        }
        req.body(Body::from(body)).unwrap()
    };
    let (_, first) = c.call(request(body.clone())).await;
    assert_eq!(first["records"][0]["outcome"], "accepted");
    // The same request again, as an eavesdropper would replay it.
    let (status, problem) = c.call(request(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "auth.replayed");
    // The laptop resending the batch (a new request) changes nothing either.
    let (status, again) = c.post_as("/v1/batches", body, Some(&laptop), 0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["records"][0]["outcome"], "duplicate");
    assert_eq!(c.held().await, 1, "nothing new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laptop_clock_far_off_is_told_by_how_much() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let body = batch_body(
        laptop.id,
        NodeRole::Field,
        vec![c.line(&bytes, Some(&laptop.key))],
    );
    let (status, problem) = c
        .post_as("/v1/batches", body.clone(), Some(&laptop), -42 * 60 * 1000)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "auth.clock_skew");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("42 min") && detail.contains("behind"),
        "{detail}"
    );
    // Four minutes off is within the window.
    let (status, _) = c
        .post_as("/v1/batches", body, Some(&laptop), 4 * 60 * 1000)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_altered_on_the_way_or_sent_in_anothers_name_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let other = c.register(NodeRole::Field, "74", None, 2);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let body = batch_body(
        laptop.id,
        NodeRole::Field,
        vec![c.line(&bytes, Some(&laptop.key))],
    );
    let mut req = Request::post("/v1/batches").header(header::CONTENT_TYPE, "application/json");
    for (name, value) in signed_headers(&laptop, "/v1/batches", &body, 0, &fresh_nonce()) {
        req = req.header(name, value);
    }
    let mut altered = body.clone();
    altered.push(b' ');
    let (status, problem) = c.call(req.body(Body::from(altered)).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "auth.bad_signature");
    // Another registered laptop signing a batch that names this one as sender.
    let (status, problem) = c.post_as("/v1/batches", body, Some(&other), 0).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "auth.sender_mismatch");
    assert_eq!(c.held().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_token_is_refused() {
    let c = Central::new();
    let token = c.token(NodeRole::Field, "74", None);
    let request = |n: u8| RegisterRequest {
        protocol: PROTOCOL_VERSION,
        token: token.clone(),
        node_id: Uuid::now_v7(),
        role: NodeRole::Field,
        public_key: hex::encode(SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes()),
    };
    let (status, _) = c
        .post("/v1/register", serde_json::to_vec(&request(1)).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = c
        .post("/v1/register", serde_json::to_vec(&request(2)).unwrap())
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(problem["code"], "token.used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let c = Central::new();
    let token = c
        .store
        .provision(
            NodeRole::Field,
            "74",
            "n",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            Duration::hours(1),
            Utc::now() - Duration::hours(2),
        )
        .unwrap()
        .token;
    let request = RegisterRequest {
        protocol: PROTOCOL_VERSION,
        token,
        node_id: Uuid::now_v7(),
        role: NodeRole::Field,
        public_key: hex::encode(SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes()),
    };
    let (status, problem) = c
        .post("/v1/register", serde_json::to_vec(&request).unwrap())
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(problem["code"], "token.expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_altering_a_record_in_transit_is_caught() {
    let c = Central::new();
    let station = c.register(NodeRole::Station, "74", None, 9);
    let laptop = c.register(NodeRole::Field, "74", Some(station.id), 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let signed = c.line(&bytes, Some(&laptop.key));
    // The station changes the name, recomputes the hash, keeps the signature.
    let altered = String::from_utf8(bytes).unwrap().replace("Lan", "Lâm");
    let mut relayed = c.line(altered.as_bytes(), None);
    relayed.signature = signed.signature;
    let lines = c.send(&station, NodeRole::Station, vec![relayed]).await;
    refused_with(&lines, "record.bad_signature");
    // Relayed unchanged, it goes through.
    let (_, bytes) = record(laptop.id, 2, "Trần Văn Bình");
    let lines = c
        .send(
            &station,
            NodeRole::Station,
            vec![c.line(&bytes, Some(&laptop.key))],
        )
        .await;
    assert_eq!(lines[0]["outcome"], "accepted", "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_injecting_records_is_refused() {
    let c = Central::new();
    let station = c.register(NodeRole::Station, "74", None, 9);
    // A record in the station's own name, signed with its own key.
    let (_, own) = record(station.id, 1, "Nguyễn Thị Lan");
    let lines = c
        .send(
            &station,
            NodeRole::Station,
            vec![c.line(&own, Some(&station.key))],
        )
        .await;
    refused_with(&lines, "record.not_under_station");
    // A laptop registered under no station (or another one): not the station's to relay.
    let elsewhere = c.register(NodeRole::Field, "74", None, 1);
    let (_, theirs) = record(elsewhere.id, 1, "Trần Văn Bình");
    let lines = c
        .send(
            &station,
            NodeRole::Station,
            vec![c.line(&theirs, Some(&elsewhere.key))],
        )
        .await;
    refused_with(&lines, "record.not_under_station");
    // A made-up device.
    let ghost = Uuid::now_v7();
    let (_, made_up) = record(ghost, 1, "Lê Thị Cúc");
    let lines = c
        .send(
            &station,
            NodeRole::Station,
            vec![c.line(&made_up, Some(&station.key))],
        )
        .await;
    refused_with(&lines, "device.unregistered");
    assert_eq!(c.held().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_records_cannot_fake_sequence_numbers_or_gaps() {
    let c = Central::new();
    let station = c.register(NodeRole::Station, "74", None, 9);
    let laptop = c.register(NodeRole::Field, "74", Some(station.id), 1);
    // An invalid record (it breaks a rule) for sequence 50, unsigned: if it
    // counted as seen, central would report numbers 1-49 as missing.
    let (_, bytes) = record(laptop.id, 50, "Nguyễn Thị Lan");
    let broken = String::from_utf8(bytes)
        .unwrap()
        .replace("\"sex\":\"female\"", "\"sex\":\"male\"");
    assert!(
        broken.contains("\"sex\":\"male\""),
        "the record really breaks a rule"
    );
    let lines = c
        .send(
            &station,
            NodeRole::Station,
            vec![c.line(broken.as_bytes(), None)],
        )
        .await;
    refused_with(&lines, "record.unsigned");
    let status = doorstep_central::CentralStore::status(&*c.store)
        .await
        .unwrap();
    assert!(
        status
            .devices
            .iter()
            .all(|d| d.device_id != laptop.id || d.max_seq == 0),
        "{:?}",
        status.devices
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_ciphertext_is_refused() {
    let c = Central::new();
    let station = c.register(NodeRole::Station, "74", None, 9);
    let laptop = c.register(NodeRole::Field, "74", Some(station.id), 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let mut relayed = c.line(&bytes, Some(&laptop.key));
    // The station flips one bit of the box it relays.
    let s = relayed.sealed.as_mut().unwrap();
    let mut parts = s.parts().unwrap();
    parts.ciphertext[10] ^= 0x01;
    *s = doorstep_wire::SealedRecord::new(
        s.record_id,
        s.device_id,
        s.device_seq,
        &s.kind.clone(),
        &s.enrolled_at.clone(),
        &parts,
    );
    let lines = c.send(&station, NodeRole::Station, vec![relayed]).await;
    refused_with(&lines, "record.sealed_tampered");
    assert_eq!(c.held().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_public_facts_of_a_sealed_record_are_refused() {
    let c = Central::new();
    let station = c.register(NodeRole::Station, "74", None, 9);
    let laptop = c.register(NodeRole::Field, "74", Some(station.id), 1);
    let (_, bytes) = record(laptop.id, 3, "Nguyễn Thị Lan");
    let mut relayed = c.line(&bytes, Some(&laptop.key));
    // What a station can read, it can change: the sequence number here.
    relayed.sealed.as_mut().unwrap().device_seq = 2;
    let lines = c.send(&station, NodeRole::Station, vec![relayed]).await;
    refused_with(&lines, "record.sealed_mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_laptop_sending_plaintext_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let lines = c
        .send(
            &laptop,
            NodeRole::Field,
            vec![plain_line(&bytes, Some(&laptop.key))],
        )
        .await;
    refused_with(&lines, "record.unsealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sealed_to_another_central_is_refused() {
    let c = Central::new();
    let laptop = c.register(NodeRole::Field, "74", None, 1);
    let (_, bytes) = record(laptop.id, 1, "Nguyễn Thị Lan");
    let other = doorstep_crypto::SealKey::generate().unwrap();
    let line = sealed(plain_line(&bytes, Some(&laptop.key)), other.public());
    let lines = c.send(&laptop, NodeRole::Field, vec![line]).await;
    refused_with(&lines, "record.sealed_to_other_key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_application_without_the_biometrics_its_laptop_must_take_is_refused() {
    // The laptop's own check can be old or switched off: central checks
    // against the policy the laptop was provisioned with.
    let c = Central::new();
    let policy = BiometricPolicy::parse("face,right_index").unwrap();
    let laptop = c.register_with(NodeRole::Field, "74", None, policy, 1);
    let face = serde_json::json!({"kind": "face", "media_type": "image/jpeg",
                                  "sha256": "11".repeat(32), "size": 60000});
    let thumb = serde_json::json!({"kind": "fingerprint_right_index", "media_type": "image/x-wsq",
                                   "sha256": "22".repeat(32), "size": 25000});
    let only_face = card_application(laptop.id, 1, serde_json::json!([face.clone()]));
    let lines = c
        .send(
            &laptop,
            NodeRole::Field,
            vec![c.line(&only_face, Some(&laptop.key))],
        )
        .await;
    refused_with(&lines, "record.invalid");
    assert_eq!(
        lines[0]["violations"][0]["code"], "attachment.fingerprint_required",
        "{}",
        lines[0]
    );
    // Both: accepted (central now waits for the two images).
    let both = card_application(laptop.id, 2, serde_json::json!([face, thumb]));
    let lines = c
        .send(
            &laptop,
            NodeRole::Field,
            vec![c.line(&both, Some(&laptop.key))],
        )
        .await;
    assert_eq!(lines[0]["outcome"], "accepted", "{}", lines[0]);
    assert_eq!(
        lines[0]["missing_attachments"].as_array().map(Vec::len),
        Some(2),
        "{}",
        lines[0]
    );
    // Another laptop with no policy may send a card application without any.
    let other = c.register(NodeRole::Field, "74", None, 2);
    let bare = card_application(other.id, 1, serde_json::json!([]));
    let lines = c
        .send(
            &other,
            NodeRole::Field,
            vec![c.line(&bare, Some(&other.key))],
        )
        .await;
    assert_eq!(lines[0]["outcome"], "accepted", "{}", lines[0]);
}
