#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The conformance suite every `CentralStore` backend must pass: the same
//! calls, the same answers, whatever the database. SQLite (the embedded
//! default) runs it here; each further backend adds one `#[tokio::test]`
//! that builds its store and calls [`suite`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use doorstep_central::check::check_batch;
use doorstep_central::sqlite::SqliteCentral;
use doorstep_central::{CentralStore, IncomingBatch};
use doorstep_core::canonical::encode_record;
use doorstep_core::{ContentHash, Record, Units, ValidationContext, validate};
use doorstep_wire::{Batch, BatchRecord, NodeRole, Outcome, PROTOCOL_VERSION, Sender};
use serde_json::json;
use serde_json::value::RawValue;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

/// A valid canonical record of `device` with sequence `seq`.
fn record(device: Uuid, seq: u64, name: &str) -> (Uuid, Vec<u8>) {
    let input = json!({
        "kind": "eid_activation",
        "citizen": {"personal_id": "074303001234", "full_name": name, "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": {"place": "home", "unit_code": "74", "at": "2025-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012"
    });
    let units = Units::builtin_provinces();
    let body = validate(
        &input,
        &ValidationContext {
            units: &units,
            now: now(),
        },
    )
    .unwrap();
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

fn batch(sender: Uuid, records: &[&[u8]], hashes: Option<&[&str]>) -> IncomingBatch {
    let records = records
        .iter()
        .enumerate()
        .map(|(i, bytes)| BatchRecord {
            content_hash: hashes
                .map(|h| h[i].to_owned())
                .unwrap_or_else(|| ContentHash::of(bytes).to_hex()),
            record: RawValue::from_string(String::from_utf8(bytes.to_vec()).unwrap()).unwrap(),
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
        records,
    };
    check_batch(b, &Units::builtin_provinces(), now(), 100)
}

fn outcomes(lines: &[doorstep_wire::RecordReceipt]) -> Vec<Outcome> {
    lines.iter().map(|l| l.outcome).collect()
}

/// The suite.
pub async fn suite(store: Arc<dyn CentralStore>) {
    let device = Uuid::now_v7();
    let (id1, r1) = record(device, 1, "Nguyễn Thị Lan");
    let (_, r2) = record(device, 2, "Trần Văn Bình");

    // Accepted, then the same batch again: duplicate, nothing new.
    let lines = store.apply(batch(device, &[&r1, &r2], None)).await.unwrap();
    assert_eq!(outcomes(&lines), [Outcome::Accepted, Outcome::Accepted]);
    assert_eq!(lines[0].record_id, Some(id1));
    assert_eq!(lines[1].device_seq, Some(2));
    let lines = store.apply(batch(device, &[&r1, &r2], None)).await.unwrap();
    assert_eq!(outcomes(&lines), [Outcome::Duplicate, Outcome::Duplicate]);

    // Same record ID, other content: conflict. Same sequence number, other
    // record: conflict. Both kept for the audit, neither changes what is held.
    let mut doc: serde_json::Value = serde_json::from_slice(&r1).unwrap();
    doc["body"]["citizen"]["full_name"] = json!("Nguyễn Thị Lam");
    let altered = doorstep_core::canonical::encode_record(
        &doorstep_core::canonical::decode_record(&{
            let mut out = Vec::new();
            doorstep_core::canonical::write_jcs(&doc, &mut out).unwrap();
            out
        })
        .unwrap(),
    );
    let (_, reused) = record(device, 2, "Lê Văn Cường");
    let lines = store
        .apply(batch(device, &[&altered, &reused], None))
        .await
        .unwrap();
    assert_eq!(outcomes(&lines), [Outcome::Conflict, Outcome::Conflict]);
    assert_eq!(lines[0].code.as_deref(), Some("conflict.record_id"));
    assert_eq!(lines[1].code.as_deref(), Some("conflict.device_seq"));
    assert!(
        lines[0]
            .reason_vi
            .as_deref()
            .unwrap()
            .contains("nội dung khác")
    );

    // Invalid: a wrong content hash; not stored, its number not counted.
    let (_, r3) = record(device, 3, "Phạm Thị Dung");
    let wrong = "00".repeat(32);
    let lines = store
        .apply(batch(device, &[&r3], Some(&[wrong.as_str()])))
        .await
        .unwrap();
    assert_eq!(outcomes(&lines), [Outcome::Invalid]);
    assert_eq!(lines[0].code.as_deref(), Some("record.hash_mismatch"));

    // A gap: 4 and 5 arrive before 3.
    let (_, r4) = record(device, 4, "Hoàng Văn Em");
    let (_, r5) = record(device, 5, "Vũ Thị Phương");
    store.apply(batch(device, &[&r4, &r5], None)).await.unwrap();
    let st = store.status().await.unwrap();
    let d = st.devices.iter().find(|d| d.device_id == device).unwrap();
    assert_eq!((d.contiguous_seq, d.max_seq), (2, 5));
    assert_eq!(d.gaps, [(3, 3)]);
    assert_eq!(d.name.as_deref(), Some("Tổ 1"));
    assert_eq!(d.records, 4);

    // The gap closes.
    let lines = store.apply(batch(device, &[&r3], None)).await.unwrap();
    assert_eq!(outcomes(&lines), [Outcome::Accepted]);
    let st = store.status().await.unwrap();
    let d = st.devices.iter().find(|d| d.device_id == device).unwrap();
    assert_eq!((d.contiguous_seq, d.max_seq), (5, 5));
    assert!(d.gaps.is_empty());

    // Totals.
    assert_eq!(st.records, 5);
    assert_eq!(st.by_kind, [("eid_activation".to_owned(), 5)]);
    assert_eq!(st.refused_conflict, 2);
    assert_eq!(st.refused_invalid, 1);
    assert_eq!(st.outcomes.accepted, 5);
    assert_eq!(st.outcomes.duplicate, 2);
    assert_eq!(st.outcomes.conflict, 2);
    assert_eq!(st.outcomes.invalid, 1);
    assert_eq!(st.sessions_total, 6, "one session per batch here");

    // Another device's record sent by this laptop: refused.
    let other = Uuid::now_v7();
    let (_, foreign) = record(other, 1, "Đỗ Văn Giang");
    let lines = store.apply(batch(device, &[&foreign], None)).await.unwrap();
    assert_eq!(lines[0].code.as_deref(), Some("record.foreign_device"));
    assert_eq!(store.status().await.unwrap().records, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
    suite(Arc::new(store)).await;
    // And it survives a reopen with the same answers.
    let reopened = SqliteCentral::open(dir.path()).unwrap();
    assert_eq!(reopened.status().await.unwrap().records, 5);
    assert_eq!(reopened.integrity_check().unwrap(), ["ok"]);
}
