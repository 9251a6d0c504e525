#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Attachments at central on PostgreSQL, through the real router
//! (`proto/attachments-v1.md` sections 5, 8, 9, 11), as `blobs_http.rs`
//! checks them on the embedded store: a record naming blobs is held but
//! `incomplete` until the last of them is uploaded; chunks are checked and
//! resumable; a duplicate answers what is still missing; a blob named by
//! several records is stored once and completes them all; sealed blobs are
//! opened and tampered ones refused. Runs when `DOORSTEP_TEST_DATABASE_URL`
//! names a server, each scenario in a schema of its own.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use doorstep_central::store::{Incoming, IncomingBatch, Refused};
use doorstep_central::{AppState, CentralStore, PgCentral, router};
use doorstep_core::canonical::encode_record;
use doorstep_core::{ContentHash, Record, Units, ValidationContext, validate};
use doorstep_tests::pg::PgSchema;
use doorstep_wire::{NodeRole, Sender};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::blob_http::{custody, head, image, patch, post_batch, send};
use uuid::Uuid;

const CHUNK: usize = 256 * 1024;

#[test]
fn postgres_central_takes_attachments() {
    if std::env::var_os(doorstep_tests::pg::ENV).is_none() {
        use std::io::Write;
        // Straight to the terminal: the harness swallows a passing test's prints.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: DOORSTEP_TEST_DATABASE_URL is not set"
        );
        return;
    }
    uploads_complete_records_and_blobs_are_stored_once();
    sealed_blobs_are_opened_and_tampered_or_unnamed_ones_refused();
}

fn uploads_complete_records_and_blobs_are_stored_once() {
    // The schema is made (blocking) before the runtime starts.
    let db = PgSchema::create("blobs_pg_uploads").unwrap();
    let keys = tempfile::tempdir().unwrap();
    support::pg_runtime().block_on(async {
        let (store, app) = central(&db, keys.path()).await;
        let (_, _, health) =
            send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
        assert_eq!(health["features"], json!(["attachments"]));

        let face = image(300 * 1024, 1);
        let thumb = image(40_000, 2);
        let (face_sha, thumb_sha) = (sha(&face), sha(&thumb));
        let mut both = vec![face_sha.clone(), thumb_sha.clone()];
        both.sort();
        let device = Uuid::now_v7();
        let first = application(device, 1, &face, Some(&thumb));

        // Accepted, held, and incomplete until both blobs are here.
        let receipt = post_batch(&app, device, &[&first]).await;
        assert_eq!(receipt["records"][0]["outcome"], "accepted");
        assert_eq!(receipt["records"][0]["missing_attachments"], json!(both));
        let line = custody(&app, &first).await;
        assert_eq!(line["state"], "incomplete");
        assert_eq!(line["missing_attachments"], json!(both));

        let (status, h, _) = send(&app, head(&face_sha, &face_sha)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["doorstep-blob-state"], "absent");
        assert_eq!(h["upload-offset"], "0");

        // A corrupted chunk is refused by its checksum, nothing stored.
        let mut corrupted = face[..CHUNK].to_vec();
        corrupted[1000] ^= 0x55;
        let (status, _, problem) = send(
            &app,
            patch(&face_sha, &face, 0, &corrupted, &face[..CHUNK]),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], "chunk.bad_checksum");
        let (_, h, _) = send(&app, head(&face_sha, &face_sha)).await;
        assert_eq!(h["upload-offset"], "0");

        // The first chunk, then a resend of it (as after a lost answer).
        let (status, h, _) = send(
            &app,
            patch(&face_sha, &face, 0, &face[..CHUNK], &face[..CHUNK]),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(h["upload-offset"], CHUNK.to_string());
        let (status, _, problem) = send(
            &app,
            patch(&face_sha, &face, 0, &face[..CHUNK], &face[..CHUNK]),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(problem["code"], "upload.offset_mismatch");
        assert_eq!(problem["offset"], CHUNK);
        let (_, h, _) = send(&app, head(&face_sha, &face_sha)).await;
        assert_eq!(h["doorstep-blob-state"], "partial");
        assert_eq!(h["upload-offset"], CHUNK.to_string());

        // The face whole: the record still lacks its fingerprint.
        let (status, _, answer) = send(
            &app,
            patch(&face_sha, &face, CHUNK, &face[CHUNK..], &face[CHUNK..]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["state"], "complete");
        assert_eq!(answer["size"], face.len());
        assert!(answer.get("completes").is_none(), "{answer}");
        let line = custody(&app, &first).await;
        assert_eq!(line["state"], "incomplete");
        assert_eq!(line["missing_attachments"], json!([thumb_sha]));

        // Sent again, it is a duplicate that says what is still missing,
        // whether it passes the checks again or not.
        let receipt = post_batch(&app, device, &[&first]).await;
        assert_eq!(receipt["records"][0]["outcome"], "duplicate");
        assert_eq!(
            receipt["records"][0]["missing_attachments"],
            json!([thumb_sha])
        );
        let applied = store.apply(held_but_refused(device, &first)).await.unwrap();
        assert_eq!(applied.lines[0].outcome, doorstep_wire::Outcome::Duplicate);
        assert_eq!(
            applied.lines[0].missing_attachments,
            std::slice::from_ref(&thumb_sha)
        );

        // The last blob completes the record.
        let (status, _, answer) =
            send(&app, patch(&thumb_sha, &thumb, 0, &thumb, &thumb)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["completes"],
            json!([{"record_id": record_id(&first), "content_hash": ContentHash::of(&first).to_hex()}])
        );
        let line = custody(&app, &first).await;
        assert_eq!(line["state"], "confirmed");
        assert!(line.get("missing_attachments").is_none(), "{line}");
        let receipt = post_batch(&app, device, &[&first]).await;
        assert_eq!(receipt["records"][0]["outcome"], "duplicate");
        assert!(receipt["records"][0].get("missing_attachments").is_none());

        // The same face on another record: stored once, nothing to send.
        let second = application(device, 2, &face, None);
        let receipt = post_batch(&app, device, &[&second]).await;
        assert_eq!(receipt["records"][0]["outcome"], "accepted");
        assert!(receipt["records"][0].get("missing_attachments").is_none());
        assert_eq!(custody(&app, &second).await["state"], "confirmed");
        let (_, h, _) = send(&app, head(&face_sha, "ab".repeat(32).as_str())).await;
        assert_eq!(h["doorstep-blob-state"], "complete");
        // Uploading it again changes nothing.
        let (status, _, answer) = send(
            &app,
            patch(&face_sha, &face, 0, &face[..CHUNK], &face[..CHUNK]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["state"], "complete");

        // A new blob named by two records of one batch: both wait for it,
        // one upload completes both, in sequence order.
        let other = image(5_000, 3);
        let other_sha = sha(&other);
        let third = application(device, 3, &other, None);
        let fourth = application(device, 4, &other, None);
        let receipt = post_batch(&app, device, &[&fourth, &third]).await;
        for line in receipt["records"].as_array().unwrap() {
            assert_eq!(line["outcome"], "accepted");
            assert_eq!(line["missing_attachments"], json!([other_sha]));
        }
        let (status, _, answer) =
            send(&app, patch(&other_sha, &other, 0, &other, &other)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let completes: Vec<String> = answer["completes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["record_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            completes,
            [record_id(&third).to_string(), record_id(&fourth).to_string()]
        );
        for record in [&third, &fourth] {
            assert_eq!(custody(&app, record).await["state"], "confirmed");
        }
    });
    // Each blob once, bytes and metadata; every record's attachments.
    assert_eq!(db.count("SELECT count(*) FROM blob_data"), 3);
    assert_eq!(db.count("SELECT count(*) FROM blobs"), 3);
    assert_eq!(db.count("SELECT count(*) FROM sealed_blobs"), 3);
    assert_eq!(db.count("SELECT count(*) FROM record_attachments"), 5);
    assert_eq!(db.count("SELECT count(*) FROM uploads"), 0);
    assert_eq!(
        db.count("SELECT count(DISTINCT sha256) FROM record_attachments"),
        3
    );
}

fn sealed_blobs_are_opened_and_tampered_or_unnamed_ones_refused() {
    let db = PgSchema::create("blobs_pg_sealed").unwrap();
    let keys = tempfile::tempdir().unwrap();
    support::pg_runtime().block_on(async {
        let (store, app) = central(&db, keys.path()).await;
        let face = image(60_000, 4);
        let face_sha = sha(&face);
        let sealed = doorstep_crypto::Sealer::new(store.opener().unwrap().public())
            .unwrap()
            .seal(&face)
            .unwrap()
            .to_blob();

        // No record names it yet: refused, nothing stored.
        let (status, _, problem) = send(&app, patch(&face_sha, &sealed, 0, &sealed, &sealed)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(problem["code"], "blob.not_referenced");

        let device = Uuid::now_v7();
        let record = application(device, 1, &face, None);
        post_batch(&app, device, &[&record]).await;

        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let (status, _, problem) =
            send(&app, patch(&face_sha, &tampered, 0, &tampered, &tampered)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], "blob.sealed_tampered");
        assert_eq!(custody(&app, &record).await["state"], "incomplete");

        let short = &sealed[..sealed.len() - 1];
        let (status, _, problem) = send(&app, patch(&face_sha, short, 0, short, short)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], "blob.size_mismatch");

        let (status, _, answer) = send(&app, patch(&face_sha, &sealed, 0, &sealed, &sealed)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["size"], face.len());
        assert_eq!(custody(&app, &record).await["state"], "confirmed");
        assert_eq!(
            store.blobs().unwrap().get(&face_sha).await.unwrap(),
            Some(face)
        );
    });
    assert_eq!(db.count("SELECT count(*) FROM blob_data"), 1);
    assert_eq!(db.count("SELECT count(*) FROM uploads"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM sealed_blobs WHERE sealed_sha256 <> sha256"),
        1
    );
}

async fn central(db: &PgSchema, keys: &std::path::Path) -> (Arc<PgCentral>, Router) {
    let store = Arc::new(
        PgCentral::open_or_create(&db.url, keys, None, Utc::now())
            .await
            .unwrap(),
    );
    let mut state = AppState::new(Arc::clone(&store));
    state.require_registration = false;
    (store, router(state))
}

/// A card application of `device`'s record `seq` naming a face photo and,
/// if given, a right thumb print.
fn application(device: Uuid, seq: u64, face: &[u8], thumb: Option<&[u8]>) -> Vec<u8> {
    let units = Units::builtin_provinces();
    let now = Utc::now();
    let mut attachments = vec![json!({"kind": "face", "media_type": "image/jpeg",
                                      "sha256": sha(face), "size": face.len()})];
    if let Some(thumb) = thumb {
        attachments.push(
            json!({"kind": "fingerprint_right_thumb", "media_type": "image/png",
                                "sha256": sha(thumb), "size": thumb.len()}),
        );
    }
    let input = json!({
        "kind": "id_card_application",
        "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan", "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "74", "at": "2023-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "attachments": attachments
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

fn record_id(record: &[u8]) -> Uuid {
    doorstep_core::decode_record(record).unwrap().record_id
}

/// A batch whose one record is held with these bytes but was refused by
/// the checks this time (as when a rule changed since): answered
/// `duplicate`.
fn held_but_refused(device: Uuid, record: &[u8]) -> IncomingBatch {
    let rec = doorstep_core::decode_record(record).unwrap();
    IncomingBatch {
        batch_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        sender: Sender {
            node_id: device,
            role: NodeRole::Field,
            name: None,
            client_version: "blobs_pg".into(),
        },
        journal: None,
        received_at: Utc::now(),
        bytes_in: 0,
        check_ms: 0,
        records: vec![Incoming::Invalid(Refused {
            content_hash: ContentHash::of(record).to_hex(),
            record_id: Some(rec.record_id),
            device_id: Some(rec.device_id),
            device_seq: Some(rec.device_seq),
            seq_seen: true,
            code: "value.not_allowed".into(),
            reason: "refused this time".into(),
            reason_vi: "bị từ chối lần này".into(),
            violations: Vec::new(),
            canonical: Some(record.to_vec()),
        })],
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
