#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Plays the exchanges of `proto/vectors/sync/manifest.json` against the
//! real router over a fresh central: every answer must have the status and
//! the body of its vector. `received_at` and `issuer.node_id` differ per
//! run and are not compared; neither is a problem's `detail`
//! (informative).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use doorstep_central::sqlite::UnitSource;
use doorstep_central::{AppState, CentralStore, SqliteCentral, router};
use doorstep_wire::{Batch, BatchRecord, PROBLEM_JSON};
use serde_json::Value;
use tower::ServiceExt;

fn sync_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/vectors/sync")
}

fn read(name: &str) -> String {
    let path = sync_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The request body an exchange describes, as text.
fn request_body(req: &Value) -> String {
    if let Some(body) = req.get("body") {
        return body.as_str().unwrap().to_owned();
    }
    let text = read(req["batch"].as_str().unwrap());
    let changes_shape = req.get("repeat_records_to").is_some() || req.get("protocol").is_some();
    if !changes_shape {
        // The vector's exact bytes.
        return text;
    }
    let mut batch: Batch = serde_json::from_str(&text).unwrap();
    if let Some(n) = req.get("repeat_records_to").and_then(Value::as_u64) {
        let first = &batch.records[0];
        let copy = || BatchRecord {
            content_hash: first.content_hash.clone(),
            record: first.record.clone(),
            sealed: None,
            signature: first.signature.clone(),
        };
        let extra: Vec<BatchRecord> = (batch.records.len()..usize::try_from(n).unwrap())
            .map(|_| copy())
            .collect();
        batch.records.extend(extra);
    }
    if let Some(p) = req.get("protocol").and_then(Value::as_u64) {
        batch.protocol = u32::try_from(p).unwrap();
    }
    serde_json::to_string(&batch).unwrap()
}

fn http_request(req: &Value) -> Request<Body> {
    let body = request_body(req);
    let content_type = req
        .get("content_type")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let mut builder = Request::post(doorstep_wire::BATCHES_PATH)
        .header(header::CONTENT_TYPE, content_type)
        .header(doorstep_wire::CLIENT_HEADER, "doorstep/0.1.0");
    let bytes = match req.get("content_encoding").and_then(Value::as_str) {
        None => body.into_bytes(),
        Some("zstd") => {
            builder = builder.header(header::CONTENT_ENCODING, "zstd");
            zstd::encode_all(body.as_bytes(), 3).unwrap()
        }
        // Labelled but not really encoded: the server refuses the label.
        Some(other) => {
            builder = builder.header(header::CONTENT_ENCODING, other);
            body.into_bytes()
        }
    };
    builder.body(Body::from(bytes)).unwrap()
}

/// `v` without the members that differ per run.
fn comparable(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("received_at");
        o.remove("detail");
        if let Some(issuer) = o.get_mut("issuer").and_then(Value::as_object_mut) {
            issuer.remove("node_id");
        }
        // The log's key, times and hashes differ per run (the entry holds
        // `received_at`); its place does not. The proof is checked apart.
        if let Some(log) = o.get_mut("log").and_then(Value::as_object_mut) {
            log.retain(|k, _| k == "index" || k == "tree_head");
            if let Some(head) = log.get_mut("tree_head").and_then(Value::as_object_mut) {
                head.retain(|k, _| k == "tree_size");
            }
        }
    }
    v
}

/// A receipt's log part proves that the entry rebuilt from the batch sent
/// and the receipt's lines is in the signed head.
fn check_receipt_log(what: &str, batch_json: &str, receipt: &[u8]) {
    use doorstep_core::merkle;
    let batch: doorstep_wire::Batch = serde_json::from_str(batch_json).unwrap();
    let receipt: doorstep_wire::Receipt = serde_json::from_slice(receipt).unwrap();
    let log = receipt
        .log
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no log in the receipt"));
    log.tree_head
        .verify(&log.public_key)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let entry = doorstep_wire::log::LogEntry::new(
        batch.batch_id,
        batch.session_id,
        &batch.sender,
        batch.journal,
        &receipt.received_at,
        &receipt.records,
    );
    merkle::verify_inclusion(
        &merkle::leaf_hash(&entry.to_bytes()),
        log.index,
        log.tree_head.tree_size,
        &log.inclusion,
        &log.tree_head.root_hash,
    )
    .unwrap_or_else(|e| panic!("{what}: inclusion proof: {e}"));
}

#[tokio::test]
async fn the_exchanges_of_the_vectors_give_their_answers() {
    let manifest: Value = serde_json::from_str(&read("manifest.json")).unwrap();
    let units_path = sync_dir().join(manifest["units_file"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteCentral::open_or_create(
        &dir.path().join("central"),
        Some(UnitSource {
            source: units_path.display().to_string(),
            csv: std::fs::read(&units_path).unwrap(),
        }),
        Utc::now(),
    )
    .unwrap();
    let store = Arc::new(store);
    // The vectors' laptop is not provisioned: an open central.
    let mut state = AppState::new(Arc::clone(&store));
    state.require_registration = false;
    let app = router(state);

    let exchanges = manifest["exchanges"].as_array().unwrap();
    assert!(exchanges.len() >= 4);
    let mut mismatches = Vec::new();
    for ex in exchanges {
        let what = ex["description"].as_str().unwrap();
        let resp = app
            .clone()
            .oneshot(http_request(&ex["request"]))
            .await
            .unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let actual: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{what}: answer is not JSON ({e})"));
        if actual.get("log").is_some() {
            check_receipt_log(what, &request_body(&ex["request"]), &body);
        }
        let expected_status = u16::try_from(ex["status"].as_u64().unwrap()).unwrap();
        assert_eq!(status.as_u16(), expected_status, "{what}: {actual}");
        if status == StatusCode::OK {
            assert!(content_type.starts_with("application/json"), "{what}");
        } else {
            assert_eq!(content_type, PROBLEM_JSON, "{what}");
        }
        let name = ex["response"].as_str().unwrap();
        let expected: Value = serde_json::from_str(&read(name)).unwrap();
        if comparable(actual.clone()) != comparable(expected) {
            mismatches.push(format!(
                "{what}: the answer differs from {name}; it was\n{}",
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));

    // What central now knows of the laptop's sequence (sync-v1.md, 9).
    let status = store.status().await.unwrap();
    assert_eq!(status.records, 4, "records 01, 02, 03 and 05 are held");
    let device = status
        .devices
        .iter()
        .find(|d| d.device_id.to_string() == "4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70")
        .expect("the laptop is known");
    assert_eq!(device.contiguous_seq, 3);
    assert_eq!(device.max_seq, 7);
    assert_eq!(device.gaps, vec![(4, 4), (6, 6)]);
    assert_eq!(status.sessions_total, 2);
    let session_a = status
        .recent_sessions
        .iter()
        .find(|s| s.session_id.to_string().ends_with("5a"))
        .expect("session a");
    assert_eq!(session_a.batches, 2);
    assert_eq!(
        (session_a.counts.accepted, session_a.counts.duplicate),
        (2, 2)
    );

    // The health answer has the shape of its vector.
    let resp = app
        .clone()
        .oneshot(
            Request::get(doorstep_wire::HEALTH_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let health: Value = serde_json::from_slice(&body).unwrap();
    let expected: Value = serde_json::from_str(&read("health.json")).unwrap();
    assert_eq!(health["node_id"], store.node_id().to_string());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&health), keys(&expected));
    assert_eq!(health["protocol"], expected["protocol"]);
    assert_eq!(health["role"], expected["role"]);
}
