//! Requests to central's router for the blob tests (SQLite and PostgreSQL
//! run the same calls).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use doorstep_core::ContentHash;
use doorstep_wire::{Batch, BatchRecord, NodeRole, PROTOCOL_VERSION, Sender};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use uuid::Uuid;

pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

pub async fn post_batch(app: &Router, device: Uuid, records: &[&[u8]]) -> Value {
    let batch = Batch {
        protocol: PROTOCOL_VERSION,
        batch_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        sender: Sender {
            node_id: device,
            role: NodeRole::Field,
            name: None,
            client_version: "blob-tests".into(),
        },
        journal: None,
        records: records
            .iter()
            .map(|b| BatchRecord {
                content_hash: ContentHash::of(b).to_hex(),
                record: Some(
                    serde_json::value::RawValue::from_string(
                        String::from_utf8(b.to_vec()).unwrap(),
                    )
                    .unwrap(),
                ),
                sealed: None,
                signature: None,
            })
            .collect(),
    };
    let req = Request::post("/v1/batches")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&batch).unwrap()))
        .unwrap();
    let (status, _, receipt) = send(app, req).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    receipt
}

pub async fn custody(app: &Router, record: &[u8]) -> Value {
    let rec = doorstep_core::decode_record(record).unwrap();
    let query = json!({"protocol": 1, "records": [
        {"record_id": rec.record_id, "content_hash": ContentHash::of(record).to_hex()}]});
    let req = Request::post("/v1/custody")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(query.to_string()))
        .unwrap();
    let (status, _, answer) = send(app, req).await;
    assert_eq!(status, StatusCode::OK);
    answer["records"][0].clone()
}

pub fn head(sha: &str, sealed: &str) -> Request<Body> {
    Request::head(format!("/v1/blobs/{sha}"))
        .header("doorstep-sealed-sha256", sealed)
        .body(Body::empty())
        .unwrap()
}

/// One chunk of `object` at `offset`, with the checksum of `checksum_of`.
pub fn patch(
    sha: &str,
    object: &[u8],
    offset: usize,
    chunk: &[u8],
    checksum_of: &[u8],
) -> Request<Body> {
    Request::patch(format!("/v1/blobs/{sha}"))
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header(
            "doorstep-sealed-sha256",
            hex::encode(Sha256::digest(object)),
        )
        .header("upload-offset", offset.to_string())
        .header("upload-length", object.len().to_string())
        .header(
            "upload-checksum",
            format!(
                "sha256 {}",
                data_encoding::BASE64.encode(&Sha256::digest(checksum_of))
            ),
        )
        .body(Body::from(chunk.to_vec()))
        .unwrap()
}

/// JPEG-shaped bytes of `len`, different per `seed`.
pub fn image(len: usize, seed: u8) -> Vec<u8> {
    let mut out = b"\xff\xd8\xff\xe0".to_vec();
    let mut x: u32 = u32::from(seed) * 7919 + 1;
    while out.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.push((x >> 16) as u8);
    }
    out
}
