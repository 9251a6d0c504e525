#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Regressions found by the API conformance run (`scripts/conformance.sh`:
//! schemathesis against `proto/openapi.yaml` and a live central), each
//! through the real router over a real SQLite central. Every error answer
//! must be a problem document (`proto/schemas/problem.schema.json`) with its
//! documented status and code.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use doorstep_central::sqlite::SqliteCentral;
use doorstep_central::{AppState, router};
use doorstep_wire::PROBLEM_JSON;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

mod support;

/// A central that lets unsigned requests through (`--allow-unregistered`),
/// so a request reaches the checks of its body.
fn open_central() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteCentral::open_or_create(dir.path(), None, support::now()).unwrap());
    let mut state = AppState::new(store);
    state.require_registration = false;
    (dir, router(state))
}

async fn post_json(app: &axum::Router, path: &str, body: &Value) -> (StatusCode, String, Value) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

/// `body` is a problem document with `status` and `code`.
fn assert_problem(status: StatusCode, content_type: &str, body: &Value, code: &str) {
    assert_eq!(content_type, PROBLEM_JSON, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/schemas/problem.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::options().build(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{body}");
}

/// Found by the conformance run: a custody query whose `content_hash` is
/// not 64 lower-case hex digits (`""` was the first) was answered 200 with
/// the record `unknown`, although the spec (sync-v1.md 3.4, openapi.yaml)
/// makes it a malformed query. It is now 400 `custody.malformed`, naming
/// the entry; well-formed queries are answered as before.
#[tokio::test]
async fn custody_refuses_a_content_hash_that_is_not_a_sha256() {
    let (_dir, app) = open_central();
    let id = Uuid::now_v7().to_string();
    let good = "ab".repeat(32);
    for bad in [
        String::new(),
        "AB".repeat(32),
        "ab".repeat(31) + "a",
        "ab".repeat(33),
        "zz".repeat(32),
        " ".to_owned() + &"ab".repeat(32)[1..],
    ] {
        let query = json!({"protocol": 1, "records": [
            {"record_id": id, "content_hash": good},
            {"record_id": id, "content_hash": bad},
        ]});
        let (status, content_type, body) = post_json(&app, "/v1/custody", &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        assert_problem(status, &content_type, &body, "custody.malformed");
        assert!(
            body["detail"].as_str().unwrap().contains("records[1]"),
            "{body}"
        );
    }

    let query = json!({"protocol": 1, "records": [{"record_id": id, "content_hash": good}]});
    let (status, _, body) = post_json(&app, "/v1/custody", &query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["records"][0]["state"], "unknown", "{body}");
}

/// The validators of `proto/schemas/`, each schema registered under its
/// `$id` so the `$ref`s between them resolve without any network.
fn schema_validator(file: &str) -> jsonschema::Validator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/schemas");
    let mut all = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.to_string_lossy().ends_with(".schema.json") {
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            all.push((schema["$id"].as_str().unwrap().to_owned(), schema));
        }
    }
    let registry = jsonschema::Registry::new()
        .extend(all)
        .unwrap()
        .prepare()
        .unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .build(&schema)
        .unwrap()
}

/// Found by the conformance run: a record whose `device_seq` is above
/// 2^53 − 1 (canonical-v1.md: integers MUST stay below; JSON readers lose
/// the exact value beyond) was checked as any other, and its receipt line
/// echoed the number, breaking `receipt.schema.json` (`maximum`
/// 9007199254740991); a well-formed record with such a number was even
/// accepted. It is now `invalid` with `record.bad_sequence`, its line
/// without the number, and the receipt matches its schema.
#[tokio::test]
async fn device_seq_beyond_2_pow_53_is_refused_and_never_echoed() {
    let (_dir, app) = open_central();
    let receipt_schema = schema_validator("receipt.schema.json");
    let device = Uuid::now_v7();
    let max = (1u64 << 53) - 1;
    let (_, at_max) = support::record(device, max, "Nguyễn Thị Lan");
    let (_, beyond) = support::record(device, max + 1, "Trần Văn Bình");
    let (_, far_beyond) = support::record(device, u64::MAX, "Lê Văn Cường");
    // The same number in a record that is otherwise broken (a wrong hash).
    let line = |bytes: &[u8], hash: Option<String>| {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        json!({
            "content_hash": hash.unwrap_or_else(|| doorstep_core::ContentHash::of(bytes).to_hex()),
            "record": serde_json::from_str::<Value>(&text).unwrap(),
        })
    };
    // `record` must be embedded verbatim: build the body by hand.
    let records: Vec<String> = [
        (&at_max, None),
        (&beyond, None),
        (&far_beyond, None),
        (&beyond, Some("00".repeat(32))),
    ]
    .iter()
    .map(|(bytes, hash)| {
        let mut v = line(bytes, hash.clone());
        v["record"] = json!("RECORD");
        serde_json::to_string(&v)
            .unwrap()
            .replace("\"RECORD\"", std::str::from_utf8(bytes).unwrap())
    })
    .collect();
    let body = format!(
        r#"{{"protocol":1,"batch_id":"{}","session_id":"{}","sender":{{"node_id":"{device}","role":"field","client_version":"conformance"}},"records":[{}]}}"#,
        Uuid::now_v7(),
        Uuid::now_v7(),
        records.join(",")
    );
    let req = Request::post("/v1/batches")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let receipt: Value = serde_json::from_slice(&bytes).unwrap();
    let lines = receipt["records"].as_array().unwrap();
    assert_eq!(lines[0]["outcome"], "accepted", "{receipt:#}");
    assert_eq!(lines[0]["device_seq"], max, "{receipt:#}");
    for line in &lines[1..3] {
        assert_eq!(line["outcome"], "invalid", "{receipt:#}");
        assert_eq!(line["code"], "record.bad_sequence", "{receipt:#}");
    }
    for line in &lines[1..] {
        assert!(line.get("device_seq").is_none(), "{receipt:#}");
    }
    let errors: Vec<String> = receipt_schema
        .iter_errors(&receipt)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{receipt:#}");
}
