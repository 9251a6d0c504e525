#![allow(dead_code)]
//! Records and batches for the central crate's tests.

use chrono::{DateTime, Utc};
use doorstep_central::IncomingBatch;
use doorstep_central::check::check_batch;
use doorstep_core::canonical::encode_record;
use doorstep_core::{ContentHash, Record, Units, ValidationContext, validate};
use doorstep_wire::{Batch, BatchRecord, NodeRole, PROTOCOL_VERSION, Sender};
use serde_json::json;
use serde_json::value::RawValue;
use uuid::Uuid;

pub mod blob_http;

/// The runtime a PostgreSQL test runs in, started after its schema is
/// made (blocking).
pub fn pg_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

/// A valid canonical record of `device` with sequence `seq`.
pub fn record(device: Uuid, seq: u64, name: &str) -> (Uuid, Vec<u8>) {
    record_in(device, seq, name, "74")
}

/// Like [`record`], for a visit in `visit_unit` (a province code).
pub fn record_in(device: Uuid, seq: u64, name: &str, visit_unit: &str) -> (Uuid, Vec<u8>) {
    let visit =
        json!({"place": "home", "unit_code": visit_unit, "at": "2025-09-25T09:30:00+07:00"});
    record_with(device, seq, name, visit, None)
}

/// An e-ID activation with this `visit`, correcting `supersedes` if given.
pub fn record_with(
    device: Uuid,
    seq: u64,
    name: &str,
    visit: serde_json::Value,
    supersedes: Option<Uuid>,
) -> (Uuid, Vec<u8>) {
    let mut input = json!({
        "kind": "eid_activation",
        "citizen": {"personal_id": "074303001234", "full_name": name, "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": visit,
        "officer_id": "CA-74-0012"
    });
    if let Some(old) = supersedes {
        input["supersedes"] = json!(old.to_string());
    }
    let units = Units::builtin_provinces();
    let body = validate(&input, &ValidationContext::new(&units, now())).unwrap();
    let id = Uuid::now_v7();
    let rec = Record {
        record_id: id,
        device_id: device,
        device_seq: seq,
        enrolled_at: now(),
        body,
    };
    (id, encode_record(&rec))
}

/// An ID card application of `device` naming `attachments` (reference
/// form: kind, media_type, sha256, size).
pub fn card_application(device: Uuid, seq: u64, attachments: serde_json::Value) -> Vec<u8> {
    let input = json!({
        "kind": "id_card_application",
        "citizen": {"personal_id": "074303001234", "full_name": "Trần Văn Bình", "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "74", "at": "2025-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "attachments": attachments
    });
    let units = Units::builtin_provinces();
    let body = validate(&input, &ValidationContext::new(&units, now())).unwrap();
    encode_record(&Record {
        record_id: Uuid::now_v7(),
        device_id: device,
        device_seq: seq,
        enrolled_at: now(),
        body,
    })
}

pub fn batch(sender: Uuid, records: &[&[u8]], hashes: Option<&[&str]>) -> IncomingBatch {
    let records = records
        .iter()
        .enumerate()
        .map(|(i, bytes)| BatchRecord {
            content_hash: hashes
                .map(|h| h[i].to_owned())
                .unwrap_or_else(|| ContentHash::of(bytes).to_hex()),
            record: Some(
                RawValue::from_string(String::from_utf8(bytes.to_vec()).unwrap()).unwrap(),
            ),
            sealed: None,
            signature: None,
        })
        .collect();
    let b = Batch {
        protocol: PROTOCOL_VERSION,
        batch_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        sender: Sender {
            node_id: sender,
            role: NodeRole::Field,
            name: Some("Tổ 1".into()),
            client_version: "conformance".into(),
        },
        journal: Some(doorstep_wire::log::JournalHead {
            seq: 7,
            hash: [7; 32],
        }),
        records,
    };
    check_batch(b, &Units::builtin_provinces(), now(), 100)
}

/// `line` with its record sealed to `central_key`, the way a provisioned
/// laptop sends it: only the public facts stay readable.
pub fn sealed(mut line: BatchRecord, central_key: [u8; 32]) -> BatchRecord {
    let raw = line.record.take().expect("a plaintext line");
    let bytes = raw.get().as_bytes();
    let rec = doorstep_core::canonical::decode_record(bytes).expect("a decodable record");
    let b = doorstep_crypto::Sealer::new(central_key)
        .unwrap()
        .seal(bytes)
        .unwrap();
    line.sealed = Some(doorstep_wire::SealedRecord::new(
        rec.record_id,
        rec.device_id,
        rec.device_seq,
        rec.body.kind.as_str(),
        &doorstep_core::canonical::format_utc_millis(&rec.enrolled_at),
        &doorstep_wire::SealedParts {
            to: b.to,
            from: b.from,
            nonce: b.nonce,
            ciphertext: b.ciphertext,
        },
    ));
    line
}
