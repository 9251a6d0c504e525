//! A receipt line whose outcome this build does not know (a newer node's):
//! the record stays queued, and the log entry a laptop rebuilds from the
//! receipt to check its inclusion proof is, byte for byte, the entry the
//! newer node logged — otherwise the proof fails and the laptop raises a
//! false `not_included` alarm (proto/sync-v1.md 14.8).
#![allow(clippy::unwrap_used)]

use doorstep_wire::log::LogEntry;
use doorstep_wire::{NodeRole, Outcome, Receipt, Sender};
use uuid::Uuid;

const BATCH: &str = "019ab0f0-1e2d-7a00-9000-0000000000b4";
const SESSION: &str = "019ab0f0-1e2d-7a00-9000-00000000005b";
const DEVICE: &str = "4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70";
const CENTRAL: &str = "7d1e5b3a-2c4f-4e6a-8b9c-0d1e2f3a4b5c";
const HASH_A: &str = "03cab1c696940cb53af1c6d18ce88db48e712887f91a5599abf0bf527e6156d0";
const HASH_B: &str = "30567e03fbcfd9ea2d8bd5ee81d68c53798bcf63eb00ce57fe7f8a50e0f0e2a0";
const AT: &str = "2026-11-24T02:30:00.250Z";

fn line(index: u32, seq: u64, hash: &str, outcome: &str) -> String {
    format!(
        r#"{{"index":{index},"record_id":"019a4f6e-3c21-7d4b-8e5f-00000000000{seq}","device_id":"{DEVICE}","device_seq":{seq},"content_hash":"{hash}","outcome":"{outcome}","future_member":[1]}}"#
    )
}

fn logged(seq: u64, hash: &str, outcome: &str) -> String {
    format!(
        r#"{{"content_hash":"{hash}","device_id":"{DEVICE}","device_seq":{seq},"outcome":"{outcome}","record_id":"019a4f6e-3c21-7d4b-8e5f-00000000000{seq}"}}"#
    )
}

#[test]
fn an_unknown_outcome_rebuilds_the_newer_nodes_log_entry() {
    let receipt: Receipt = serde_json::from_str(&format!(
        r#"{{"protocol":1,"batch_id":"{BATCH}","issuer":{{"node_id":"{CENTRAL}","role":"central"}},"received_at":"{AT}","counts":{{"accepted":1,"duplicate":0,"conflict":0,"invalid":0}},"records":[{},{}]}}"#,
        line(0, 5, HASH_A, "accepted"),
        line(1, 6, HASH_B, "quarantined"),
    ))
    .unwrap();
    assert_eq!(receipt.records[0].outcome, Outcome::Accepted);
    let newer = receipt.records[1].outcome;
    assert!(matches!(newer, Outcome::Unknown(_)));
    assert!(
        !newer.is_acknowledged() && !newer.is_refused(),
        "stays queued"
    );
    assert_eq!(newer.as_str(), "quarantined");

    let sender = Sender {
        node_id: Uuid::parse_str(DEVICE).unwrap(),
        role: NodeRole::Field,
        name: None,
        client_version: "doorstep/test".into(),
    };
    let entry = LogEntry::new(
        Uuid::parse_str(BATCH).unwrap(),
        Uuid::parse_str(SESSION).unwrap(),
        &sender,
        None,
        &receipt.received_at,
        &receipt.records,
    );
    // What the newer node appended to its log for this batch.
    let expected = format!(
        r#"{{"batch_id":"{BATCH}","journal":null,"received_at":"{AT}","records":[{},{}],"sender_id":"{DEVICE}","sender_role":"field","session_id":"{SESSION}","v":1}}"#,
        logged(5, HASH_A, "accepted"),
        logged(6, HASH_B, "quarantined"),
    );
    assert_eq!(String::from_utf8(entry.to_bytes()).unwrap(), expected);

    // And the entry read back (an auditor downloading it) writes the same bytes.
    let read: LogEntry = serde_json::from_str(&expected).unwrap();
    assert_eq!(read.to_bytes(), expected.as_bytes());
}

#[test]
fn an_outcome_name_too_long_to_keep_makes_the_receipt_malformed() {
    let long = "x".repeat(doorstep_wire::OutcomeName::MAX + 1);
    let text = format!(
        r#"{{"protocol":1,"batch_id":"{BATCH}","issuer":{{"node_id":"{CENTRAL}","role":"central"}},"received_at":"{AT}","counts":{{"accepted":0,"duplicate":0,"conflict":0,"invalid":0}},"records":[{}]}}"#,
        line(0, 5, HASH_A, &long),
    );
    let err = serde_json::from_str::<Receipt>(&text).unwrap_err();
    assert!(err.to_string().contains("longer than 32 bytes"), "{err}");
}
