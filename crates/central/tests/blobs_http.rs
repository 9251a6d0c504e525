#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Attachments at central through the real router over a real SQLite
//! central (`proto/attachments-v1.md`): a record naming a blob is held but
//! `incomplete` until the blob is uploaded; the resumable upload refuses a
//! corrupted chunk by its checksum, resumes from the offset the node
//! holds, opens sealed blobs and refuses tampered ones; a blob on two
//! records is stored once.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use doorstep_central::{AppState, SqliteCentral, router};
use doorstep_core::canonical::encode_record;
use doorstep_core::{Record, Units, ValidationContext, validate};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::blob_http::{custody, head, image, patch, post_batch, send};
use uuid::Uuid;

const CHUNK: usize = 256 * 1024;

/// A card application of `device`'s record `seq` naming one face photo.
fn application(device: Uuid, seq: u64, face: &[u8]) -> Vec<u8> {
    let units = Units::builtin_provinces();
    let now = Utc::now();
    let input = json!({
        "kind": "id_card_application",
        "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan", "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "74", "at": "2023-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "attachments": [{"kind": "face", "media_type": "image/jpeg",
                         "sha256": hex::encode(Sha256::digest(face)), "size": face.len()}]
    });
    let body = validate(&input, &ValidationContext::new(&units, now)).unwrap();
    encode_record(&Record {
        record_id: Uuid::now_v7(),
        device_id: device,
        device_seq: seq,
        enrolled_at: now,
        body,
    })
}

fn central() -> (tempfile::TempDir, Arc<SqliteCentral>, Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteCentral::open_or_create(dir.path(), None, Utc::now()).unwrap());
    let mut state = AppState::new(Arc::clone(&store));
    state.require_registration = false;
    (dir, store, router(state))
}

#[tokio::test]
async fn a_record_is_confirmed_only_once_its_blob_is_uploaded_and_uploads_resume() {
    let (dir, _store, app) = central();
    let (_, _, health) = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(health["features"], json!(["attachments"]));

    let face = image(300 * 1024, 1);
    let sha = hex::encode(Sha256::digest(&face));
    let device = Uuid::now_v7();
    let record = application(device, 1, &face);
    let receipt = post_batch(&app, device, &[&record]).await;
    assert_eq!(receipt["records"][0]["outcome"], "accepted");
    assert_eq!(receipt["records"][0]["missing_attachments"], json!([sha]));
    assert_eq!(custody(&app, &record).await["state"], "incomplete");

    // Nothing held yet.
    let (status, h, _) = send(&app, head(&sha, &sha)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["doorstep-blob-state"], "absent");
    assert_eq!(h["upload-offset"], "0");

    // A corrupted chunk is refused by its checksum and nothing is stored.
    let mut corrupted = face[..CHUNK].to_vec();
    corrupted[1000] ^= 0x55;
    let (status, _, problem) = send(&app, patch(&sha, &face, 0, &corrupted, &face[..CHUNK])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "chunk.bad_checksum");
    let (_, h, _) = send(&app, head(&sha, &sha)).await;
    assert_eq!(h["upload-offset"], "0");

    // The first chunk, then a resend of it (as after a lost answer): the
    // node says where it stands and the sender goes on from there.
    let (status, h, _) = send(&app, patch(&sha, &face, 0, &face[..CHUNK], &face[..CHUNK])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h["upload-offset"], CHUNK.to_string());
    let (status, h, problem) =
        send(&app, patch(&sha, &face, 0, &face[..CHUNK], &face[..CHUNK])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "upload.offset_mismatch");
    assert_eq!(problem["offset"], CHUNK);
    assert_eq!(h["upload-offset"], CHUNK.to_string());
    let (_, h, _) = send(&app, head(&sha, &sha)).await;
    assert_eq!(h["doorstep-blob-state"], "partial");
    assert_eq!(h["upload-offset"], CHUNK.to_string());

    // The rest completes the blob and the record.
    let (status, _, answer) = send(
        &app,
        patch(&sha, &face, CHUNK, &face[CHUNK..], &face[CHUNK..]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "complete");
    assert_eq!(answer["size"], face.len());
    assert_eq!(answer["completes"].as_array().unwrap().len(), 1);
    assert_eq!(custody(&app, &record).await["state"], "confirmed");
    let stored = dir
        .path()
        .join("blobs")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(&sha);
    assert_eq!(std::fs::read(&stored).unwrap(), face);

    // The same photo on a second record: stored once, nothing to send.
    let second = application(device, 2, &face);
    let receipt = post_batch(&app, device, &[&second]).await;
    assert_eq!(receipt["records"][0]["outcome"], "accepted");
    assert!(receipt["records"][0].get("missing_attachments").is_none());
    assert_eq!(custody(&app, &second).await["state"], "confirmed");
    let (_, h, _) = send(&app, head(&sha, "ab".repeat(32).as_str())).await;
    assert_eq!(h["doorstep-blob-state"], "complete");
    let files = walk(&dir.path().join("blobs"));
    assert_eq!(files.len(), 1, "{files:?}");
}

#[tokio::test]
async fn sealed_blobs_are_opened_and_tampered_or_unnamed_ones_refused() {
    let (_dir, store, app) = central();
    let face = image(60_000, 2);
    let sha = hex::encode(Sha256::digest(&face));
    let central_key = doorstep_central::CentralStore::opener(&*store)
        .unwrap()
        .public();
    let sealed = doorstep_crypto::Sealer::new(central_key)
        .unwrap()
        .seal(&face)
        .unwrap()
        .to_blob();

    // No record names it yet: refused, nothing stored.
    let (status, _, problem) = send(&app, patch(&sha, &sealed, 0, &sealed, &sealed)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "blob.not_referenced");

    let device = Uuid::now_v7();
    let record = application(device, 1, &face);
    post_batch(&app, device, &[&record]).await;

    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (status, _, problem) = send(&app, patch(&sha, &tampered, 0, &tampered, &tampered)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "blob.sealed_tampered");
    assert_eq!(custody(&app, &record).await["state"], "incomplete");

    // A wrong size for what the record names.
    let short = &sealed[..sealed.len() - 1];
    let (status, _, problem) = send(&app, patch(&sha, short, 0, short, short)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "blob.size_mismatch");

    let (status, _, answer) = send(&app, patch(&sha, &sealed, 0, &sealed, &sealed)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["size"], face.len());
    assert_eq!(custody(&app, &record).await["state"], "confirmed");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
