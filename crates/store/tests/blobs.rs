#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Attachment blobs in the laptop store: stored encrypted once however many
//! records name them, never in the clear on disk, a record naming a file
//! the laptop does not have is refused, and central's `incomplete` answer
//! puts the record's blobs in the upload queue until central holds them.

use chrono::{DateTime, Utc};
use doorstep_core::record::MediaType;
use doorstep_core::{Units, ValidationContext, validate};
use doorstep_store::{
    Ack, EnrollOutcome, FieldStore, InitOptions, PreparedBody, RecordStatus, SyncEvent,
    SyncEventKind,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n";

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn init(dir: &std::path::Path) -> FieldStore {
    FieldStore::init(
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
        now(),
    )
    .unwrap()
}

fn body(name: &str, face: &[u8]) -> doorstep_core::RecordBody {
    let units = Units::from_csv(UNITS.as_bytes()).unwrap();
    let input = json!({
        "kind": "id_card_application",
        "citizen": {"personal_id": "074303001234", "full_name": name, "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": {"place": "home", "unit_code": "74", "at": "2023-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "attachments": [{"kind": "face", "media_type": "image/jpeg",
                         "sha256": hex::encode(Sha256::digest(face)), "size": face.len()}]
    });
    validate(&input, &ValidationContext::new(&units, now())).unwrap()
}

#[test]
fn blobs_are_stored_once_encrypted_and_queued_until_central_holds_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let face = b"\xff\xd8\xff\xe0 NGUYEN THI LAN face photo bytes".repeat(200);
    let protection = store.protection("test").unwrap();
    let blob = protection.prepare_blob(&face, MediaType::Jpeg).unwrap();

    // Named without its file: refused, nothing stored.
    let out = store
        .enroll(&[PreparedBody::new(body("Nguyễn Thị Lan", &face))], now())
        .unwrap();
    assert!(
        matches!(&out[0], EnrollOutcome::Refused(v) if v.code == "attachment.missing_file"),
        "{out:?}"
    );
    assert_eq!(store.status().unwrap().total, 0);

    // With it; then a second record naming the same photo without bytes.
    let out = store
        .enroll(
            &[PreparedBody::new(body("Nguyễn Thị Lan", &face)).with_blobs(vec![blob.clone()])],
            now(),
        )
        .unwrap();
    let first = match &out[0] {
        EnrollOutcome::Stored { record_id, .. } => *record_id,
        other => panic!("{other:?}"),
    };
    let out = store
        .enroll(&[PreparedBody::new(body("Trần Văn Bình", &face))], now())
        .unwrap();
    assert!(matches!(&out[0], EnrollOutcome::Stored { .. }), "{out:?}");
    let st = store.blob_status().unwrap();
    assert_eq!((st.blobs, st.bytes), (1, face.len() as u64));
    assert_eq!(store.blob_plaintext(&blob.sha256()).unwrap().unwrap(), face);

    // Not queued while pending; queued once central holds the record incomplete.
    assert!(store.blobs_to_send("central").unwrap().is_empty());
    let ev = SyncEvent::new(Uuid::now_v7(), SyncEventKind::BatchSent, "test");
    let counts = store
        .apply_receipt(
            None,
            &[(
                first,
                Ack::Incomplete {
                    by: "central".into(),
                },
            )],
            &ev,
            now(),
        )
        .unwrap();
    assert_eq!(counts.incomplete, 1);
    let queue = store.blobs_to_send("central").unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].sha256, hex::encode(Sha256::digest(&face)));
    assert_eq!(queue[0].size, face.len() as u64);
    // Not provisioned: the object sent is the plaintext itself.
    assert_eq!(queue[0].sealed_sha256, queue[0].sha256);
    assert_eq!(store.blob_object(&queue[0].name).unwrap(), face);
    assert_eq!(store.incomplete_records(0, 10).unwrap().len(), 1);
    let listed = store.list(&Default::default()).unwrap();
    assert_eq!(listed[0].status, RecordStatus::Incomplete);

    // Delivered to central: out of the queue, its plaintext hash dropped.
    store
        .mark_blob_delivered(&queue[0].name, "central", true)
        .unwrap();
    assert!(store.blobs_to_send("central").unwrap().is_empty());
    assert_eq!(store.blob_status().unwrap().to_upload, 0);
    drop(store);

    // Nothing of the photo is in the database files in the clear.
    for entry in std::fs::read_dir(tmp.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(14).any(|w| w == b"NGUYEN THI LAN"),
            "plaintext found on disk"
        );
    }
}

#[test]
fn a_correction_naming_the_photo_of_a_rejected_record_uploads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let face = b"\xff\xd8\xff\xe0 a face photo taken once".repeat(100);
    let blob = store
        .protection("test")
        .unwrap()
        .prepare_blob(&face, MediaType::Jpeg)
        .unwrap();
    let out = store
        .enroll(
            &[PreparedBody::new(body("Nguyễn Thị Lan", &face)).with_blobs(vec![blob.clone()])],
            now(),
        )
        .unwrap();
    let EnrollOutcome::Stored { record_id, .. } = out[0] else {
        panic!("{out:?}")
    };
    // Central refuses it; once settled, the photo's hash is forgotten.
    let ev = SyncEvent::new(Uuid::now_v7(), SyncEventKind::BatchSent, "test");
    store
        .apply_receipt(
            None,
            &[(
                record_id,
                Ack::Rejected {
                    code: "record.out_of_scope".into(),
                    reason: "outside".into(),
                    reason_vi: "ngoài địa bàn".into(),
                },
            )],
            &ev,
            now(),
        )
        .unwrap();
    store.forget_settled_blob_hashes().unwrap();

    // The correction names the same photo, by reference only.
    let mut fixed = body("Nguyễn Thị Lan", &face);
    fixed.supersedes = Some(record_id);
    let out = store.enroll(&[PreparedBody::new(fixed)], now()).unwrap();
    let EnrollOutcome::Stored {
        record_id: correction,
        ..
    } = out[0]
    else {
        panic!("{out:?}")
    };
    let ack = Ack::Incomplete {
        by: "central".into(),
    };
    store
        .apply_receipt(None, &[(correction, ack)], &ev, now())
        .unwrap();
    let queue = store.blobs_to_send("central").unwrap();
    assert_eq!(
        queue.len(),
        1,
        "the photo must be uploaded for the correction"
    );
    assert_eq!(queue[0].sha256, hex::encode(Sha256::digest(&face)));
    assert_eq!(store.blob_object(&queue[0].name).unwrap(), face);
}
