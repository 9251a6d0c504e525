#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laptop's hash-chained journal (proto/journal-v1.md): one entry per
//! operation, in the operation's transaction; verification walks the chain
//! and checks every record against the entry that covers it.

use std::path::Path;

use chrono::{DateTime, Utc};
use doorstep_core::{ContentHash, RecordBody, Units, ValidationContext, validate};
use doorstep_gen::{GenOptions, Generator};
use doorstep_store::{
    Ack, EnrollOutcome, FieldStore, InitOptions, JournalCheck, JournalEntry, PreparedBody,
    ReceiptToStore, SyncEvent, SyncEventKind, record_digest,
};
use rusqlite::Connection;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The tests' passphrase, and cheap Argon2id settings (the real ones are
/// tested in doorstep-crypto and by the CLI tests).
const PASSPHRASE: &str = "mật khẩu thử nghiệm";
const FAST_KDF: doorstep_crypto::KdfParams = doorstep_crypto::KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n725,Thành phố Thuận An,district,74\n25972,Phường Thuận Giao,commune,725\n25975,Phường An Phú,commune,725\n";

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn init(dir: &Path) -> FieldStore {
    FieldStore::init(
        dir,
        &InitOptions {
            device_name: "Tổ 3".into(),
            unit_code: "74".into(),
            units_csv: Some(("test".into(), UNITS.as_bytes().to_vec())),
            passphrase: PASSPHRASE.into(),
            kdf: FAST_KDF,
        },
        now(),
    )
    .unwrap()
}

fn generated(n: usize, seed: u64) -> Vec<RecordBody> {
    let units = Units::from_csv(UNITS.as_bytes()).unwrap();
    let opts = GenOptions {
        seed,
        kind: None,
        units: vec!["25972".into(), "25975".into()],
        home_province: "074".into(),
        all_provinces: doorstep_core::units::legacy_provinces()
            .map(|(c, _)| c.to_owned())
            .collect(),
        visit_from: "2023-07-25".parse().unwrap(),
        visit_to: "2023-09-25".parse().unwrap(),
    };
    Generator::new(opts)
        .unwrap()
        .take(n)
        .map(|v| validate(&v, &ValidationContext::new(&units, now())).unwrap())
        .collect()
}

fn prepared(bodies: &[RecordBody]) -> Vec<PreparedBody> {
    bodies.iter().cloned().map(PreparedBody::new).collect()
}

/// (record ID, content hash) of the records an enroll stored, in order.
fn stored(outcomes: &[EnrollOutcome]) -> Vec<(Uuid, ContentHash)> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            EnrollOutcome::Stored {
                record_id,
                content_hash,
                ..
            } => Some((*record_id, *content_hash)),
            _ => None,
        })
        .collect()
}

/// A correction of `body` superseding `old`.
fn correction(body: &RecordBody, old: Uuid, suffix: &str) -> RecordBody {
    let mut fix = body.clone();
    fix.citizen.full_name.push_str(suffix);
    fix.supersedes = Some(old);
    fix
}

fn entries(store: &FieldStore) -> Vec<JournalEntry> {
    store.journal(0, 1_000).unwrap()
}

fn events(store: &FieldStore) -> Vec<String> {
    entries(store).into_iter().map(|e| e.event).collect()
}

fn receipt(batch_id: Uuid) -> ReceiptToStore<'static> {
    ReceiptToStore {
        batch_id,
        session_id: Uuid::now_v7(),
        issuer_id: Uuid::now_v7(),
        issuer_role: "central",
        received_at: "2026-11-22T03:00:01.000Z",
        encoding: "identity",
        body: b"{}",
        log_index: None,
        tree_size: None,
    }
}

fn sent_event(batch_id: Uuid, records: &[(Uuid, ContentHash)]) -> SyncEvent {
    let mut ev = SyncEvent::new(Uuid::now_v7(), SyncEventKind::BatchSent, "http://central");
    ev.batch_id = Some(batch_id);
    ev.records = records.len() as u64;
    ev.sent = records.to_vec();
    ev
}

#[test]
fn chain_grows_one_entry_per_operation_with_the_right_events() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    assert_eq!(store.journal_head().unwrap(), None);
    assert!(entries(&store).is_empty());

    // enroll: one `enrolled` entry for the call.
    let bodies = generated(12, 1);
    let first = stored(&store.enroll(&prepared(&bodies[..10]), now()).unwrap());
    let head1 = store.journal_head().unwrap().unwrap();
    assert_eq!(head1.seq, 1);
    let e = &entries(&store)[0];
    assert_eq!((e.seq, e.event.as_str()), (1, "enrolled"));
    assert_eq!(e.prev, "0".repeat(64));
    assert_eq!(e.hash, head1.hash_hex());
    assert_eq!(e.at, "2026-11-22T03:00:00.000Z");
    assert_eq!(
        e.detail,
        json!({"count": 10, "first_seq": 1, "last_seq": 10, "digest": record_digest(&first)})
    );

    // The same input again stores nothing: no entry.
    store.enroll(&prepared(&bodies[..10]), now()).unwrap();
    assert_eq!(store.journal_head().unwrap(), Some(head1));

    // One call with new records and corrections: `enrolled` then `corrected`.
    let mixed = vec![
        bodies[10].clone(),
        correction(&bodies[2], first[2].0, " An"),
        bodies[11].clone(),
        correction(&bodies[5], first[5].0, " Bình"),
    ];
    let out = stored(&store.enroll(&prepared(&mixed), now()).unwrap());
    assert_eq!(out.len(), 4);
    let all = entries(&store);
    assert_eq!(events(&store), ["enrolled", "enrolled", "corrected"]);
    assert_eq!(
        all[1].detail,
        json!({"count": 2, "first_seq": 11, "last_seq": 13,
               "digest": record_digest(&[out[0], out[2]])})
    );
    assert_eq!(
        all[2].detail,
        json!({"count": 2, "first_seq": 12, "last_seq": 14,
               "digest": record_digest(&[out[1], out[3]]),
               "supersedes": [first[2].0.to_string(), first[5].0.to_string()]})
    );

    // A receipt: `sent`, then one entry per kind of acknowledgement.
    let batch = Uuid::now_v7();
    let acks = vec![
        (first[0].0, Ack::Confirmed),
        (
            first[1].0,
            Ack::Held {
                by: "station-A".into(),
            },
        ),
        (first[3].0, Ack::Confirmed),
        (
            first[4].0,
            Ack::Rejected {
                code: "conflict".into(),
                reason: "taken".into(),
                reason_vi: "trùng".into(),
            },
        ),
    ];
    let counts = store
        .apply_receipt(
            Some(&receipt(batch)),
            &acks,
            &sent_event(batch, &first[..5]),
            now(),
        )
        .unwrap();
    assert_eq!((counts.confirmed, counts.held, counts.rejected), (2, 1, 1));
    let all = entries(&store);
    assert_eq!(
        events(&store)[3..],
        ["sent", "confirmed", "held", "rejected"]
    );
    let b = batch.to_string();
    assert_eq!(
        all[3].detail,
        json!({"batch_id": b, "server": "http://central", "count": 5,
               "digest": record_digest(&first[..5])})
    );
    assert_eq!(
        all[4].detail,
        json!({"batch_id": b, "count": 2, "digest": record_digest(&[first[0], first[3]])})
    );
    assert_eq!(
        all[5].detail,
        json!({"batch_id": b, "by": "station-A", "count": 1, "digest": record_digest(&[first[1]])})
    );
    assert_eq!(
        all[6].detail,
        json!({"batch_id": b, "count": 1, "digest": record_digest(&[first[4]])})
    );

    // Custody answers (no batch): no `sent`, acknowledgements with a null batch.
    let mut custody = SyncEvent::new(Uuid::now_v7(), SyncEventKind::BatchSent, "http://central");
    custody.detail = Some("custody".into());
    store
        .apply_receipt(None, &[(first[1].0, Ack::Confirmed)], &custody, now())
        .unwrap();
    let last = entries(&store).pop().unwrap();
    assert_eq!(last.event, "confirmed");
    assert_eq!(
        last.detail,
        json!({"batch_id": null, "count": 1, "digest": record_digest(&[first[1]])})
    );

    // Sync log lines other than a sent batch add nothing; a sent batch logged
    // on its own gets its `sent` entry.
    let before = store.journal_head().unwrap().unwrap();
    store
        .log_sync_event(
            &SyncEvent::new(Uuid::now_v7(), SyncEventKind::SessionStarted, "x"),
            now(),
        )
        .unwrap();
    assert_eq!(store.journal_head().unwrap(), Some(before));
    let batch2 = Uuid::now_v7();
    store
        .log_sync_event(&sent_event(batch2, &first[5..7]), now())
        .unwrap();
    assert_eq!(events(&store).last().unwrap(), "sent");
    assert_eq!(store.sync_log(100).unwrap().len(), 4);

    // export
    let file_hash = "ab".repeat(32);
    let head = store
        .journal_exported(&file_hash, 3, &first[..3], now())
        .unwrap();
    assert_eq!(head, store.journal_head().unwrap().unwrap());
    let last = entries(&store).pop().unwrap();
    assert_eq!((last.seq, last.event.as_str()), (head.seq, "exported"));
    assert_eq!(
        last.detail,
        json!({"file_sha256": file_hash, "count": 3, "digest": record_digest(&first[..3])})
    );
    assert!(store.journal_exported("not a hash", 0, &[], now()).is_err());

    // Linked: every entry names the hash of the one before; seqs 1, 2, 3…
    let all = entries(&store);
    assert_eq!(all.len(), 10);
    for (i, w) in all.windows(2).enumerate() {
        assert_eq!(w[1].prev, w[0].hash);
        assert_eq!(w[1].seq, i as u64 + 2);
    }
    // Paging.
    let page = store.journal(3, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(check(&store).is_ok(), "{:?}", check(&store));
}

#[test]
fn entry_bytes_are_the_specified_jcs_and_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let recs = stored(&store.enroll(&prepared(&generated(2, 9)), now()).unwrap());
    let head = store.journal_head().unwrap().unwrap();
    drop(store);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    let (bytes, hash, at, event): (Vec<u8>, Vec<u8>, String, String) = conn
        .query_row(
            "SELECT detail, hash, at, event FROM journal WHERE seq = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let mut digest = Sha256::new();
    for (id, h) in &recs {
        digest.update(id.as_bytes());
        digest.update(h.0);
    }
    let expected = format!(
        r#"{{"at":"2026-11-22T03:00:00.000Z","detail":{{"count":2,"digest":"{}","first_seq":1,"last_seq":2}},"event":"enrolled","prev":"{}","seq":1}}"#,
        hex::encode(digest.finalize()),
        "0".repeat(64)
    );
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
    let mut h = Sha256::new();
    h.update(b"doorstep-journal-v1\n");
    h.update(&bytes);
    assert_eq!(hash, h.finalize().to_vec());
    assert_eq!(hash, head.hash.to_vec());
    assert_eq!(
        (at.as_str(), event.as_str()),
        ("2026-11-22T03:00:00.000Z", "enrolled")
    );
    assert_eq!(
        serde_json::to_value(head).unwrap(),
        json!({"seq": 1, "hash": hex::encode(head.hash)})
    );
    // The digest vector of proto/journal-v1.md.
    let pair = (
        Uuid::parse_str("01a20582-2e45-763d-a7ae-355773b53ea9").unwrap(),
        ContentHash::from_hex("e25a6c60e1ed623c255667f07b244c0ac98e67d8e59aeb15f9da719ac22bce4d")
            .unwrap(),
    );
    assert_eq!(
        record_digest(&[pair]),
        "4f34c2b8e3e1ba1c49234992895229d9463297a7dac0d35fe54c5d52240ec7aa"
    );
}

fn check(store: &FieldStore) -> JournalCheck {
    store.verify_journal().unwrap()
}

/// A store with a known history:
/// 1 enrolled #1–#10 · 2 enrolled #11,#13 · 3 corrected #12 (of #3) ·
/// 4 sent · 5 confirmed · 6 enrolled #14–#18.
fn history(dir: &Path) -> Vec<(Uuid, ContentHash)> {
    let mut store = init(dir);
    let bodies = generated(18, 7);
    let mut recs = stored(&store.enroll(&prepared(&bodies[..10]), now()).unwrap());
    let mixed = vec![
        bodies[10].clone(),
        correction(&bodies[2], recs[2].0, " An"),
        bodies[11].clone(),
    ];
    recs.extend(stored(&store.enroll(&prepared(&mixed), now()).unwrap()));
    let batch = Uuid::now_v7();
    let acks: Vec<(Uuid, Ack)> = recs[..4].iter().map(|r| (r.0, Ack::Confirmed)).collect();
    store
        .apply_receipt(
            Some(&receipt(batch)),
            &acks,
            &sent_event(batch, &recs[..4]),
            now(),
        )
        .unwrap();
    recs.extend(stored(
        &store.enroll(&prepared(&bodies[12..17]), now()).unwrap(),
    ));
    assert_eq!(
        events(&store),
        [
            "enrolled",
            "enrolled",
            "corrected",
            "sent",
            "confirmed",
            "enrolled"
        ]
    );
    let c = check(&store);
    assert!(c.is_ok(), "{c:?}");
    assert_eq!((c.entries, c.records), (6, 18));
    assert_eq!(c.head, store.journal_head().unwrap());
    recs
}

/// Builds the history, changes the file by direct SQL, reopens and verifies.
fn tampered(sql: &str) -> JournalCheck {
    let tmp = tempfile::tempdir().unwrap();
    history(tmp.path());
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    let mut store = FieldStore::open(tmp.path()).unwrap();
    // Unlocked: encrypted records are decrypted and hashed too.
    store.unlock(PASSPHRASE, now()).unwrap();
    let c = check(&store);
    assert!(!c.is_ok(), "`{sql}` went unnoticed");
    let p = c.problem.as_ref().unwrap();
    assert!(!p.message.is_empty() && !p.message_vi.is_empty());
    c
}

fn at(c: &JournalCheck) -> (Option<u64>, Option<u64>) {
    let p = c.problem.as_ref().unwrap();
    (p.seq, p.device_seq)
}

#[test]
fn verify_passes_on_a_healthy_store() {
    let tmp = tempfile::tempdir().unwrap();
    history(tmp.path());
    let store = FieldStore::open(tmp.path()).unwrap();
    let c = check(&store);
    assert!(c.is_ok(), "{c:?}");
    assert_eq!(c.entries, 6);
}

#[test]
fn verify_catches_an_edited_entry() {
    let c = tampered(
        "UPDATE journal SET detail = CAST(replace(CAST(detail AS TEXT), '\"count\":2', '\"count\":1') AS BLOB) WHERE seq = 2",
    );
    assert_eq!(at(&c), (Some(2), None));
    assert!(c.problem.unwrap().message.contains("altered"));
    assert_eq!(c.entries, 1);
}

#[test]
fn verify_catches_an_edited_hash() {
    let c = tampered("UPDATE journal SET hash = zeroblob(32) WHERE seq = 4");
    assert_eq!(at(&c), (Some(4), None));
}

#[test]
fn verify_catches_a_rewritten_entry_by_its_successor() {
    // Entry 2 rewritten with a matching hash: entry 3 no longer follows it.
    let tmp = tempfile::tempdir().unwrap();
    history(tmp.path());
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    let bytes: Vec<u8> = conn
        .query_row("SELECT detail FROM journal WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    let forged = String::from_utf8(bytes)
        .unwrap()
        .replace("2026-11-22T03:00:00.000Z", "2026-11-22T03:00:00.001Z")
        .into_bytes();
    let mut h = Sha256::new();
    h.update(b"doorstep-journal-v1\n");
    h.update(&forged);
    conn.execute(
        "UPDATE journal SET detail = ?1, hash = ?2, at = '2026-11-22T03:00:00.001Z' WHERE seq = 2",
        rusqlite::params![forged, h.finalize().to_vec()],
    )
    .unwrap();
    drop(conn);
    let c = check(&FieldStore::open(tmp.path()).unwrap());
    assert_eq!(at(&c), (Some(3), None));
    assert!(c.problem.unwrap().message.contains("does not follow"));
}

#[test]
fn verify_catches_a_deleted_entry() {
    let c = tampered("DELETE FROM journal WHERE seq = 2");
    assert_eq!(at(&c), (Some(2), None));
    assert!(c.problem.unwrap().message.contains("missing"));
}

#[test]
fn verify_catches_a_deleted_last_entry_that_covered_records() {
    let c = tampered("DELETE FROM journal WHERE seq = 6");
    assert_eq!(at(&c), (None, Some(14)));
}

#[test]
fn verify_catches_a_deleted_record() {
    let c = tampered("DELETE FROM records WHERE device_seq = 5");
    assert_eq!(at(&c), (Some(1), Some(5)));
    assert!(c.problem.unwrap().message.contains("record #5 is missing"));
    let c = tampered("DELETE FROM records WHERE device_seq = 12");
    assert_eq!(at(&c), (Some(3), Some(12)));
}

#[test]
fn verify_catches_edited_record_bytes() {
    let c = tampered(
        "UPDATE records SET canonical = CAST(substr(canonical, 1, 30)
             || CASE WHEN substr(canonical, 31, 1) = X'00' THEN X'01' ELSE X'00' END
             || substr(canonical, 32) AS BLOB) WHERE device_seq = 7",
    );
    assert_eq!(at(&c), (Some(1), Some(7)));
    assert!(c.problem.unwrap().message.contains("record #7 was altered"));
}

#[test]
fn verify_catches_an_edited_content_hash() {
    let c = tampered("UPDATE records SET content_hash = zeroblob(32) WHERE device_seq = 12");
    assert_eq!(at(&c), (Some(3), Some(12)));
}

#[test]
fn verify_catches_a_consistently_replaced_record() {
    // New bytes with their own correct hash: only the entry's digest tells.
    let tmp = tempfile::tempdir().unwrap();
    history(tmp.path());
    let mut store = FieldStore::open(tmp.path()).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    let canonical = store.outbox(14, 1).unwrap().remove(0).canonical;
    drop(store);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    let forged = String::from_utf8(canonical)
        .unwrap()
        .replace("\"v\":1", "\"v\":3")
        .into_bytes();
    conn.execute(
        "UPDATE records SET canonical = ?1, content_hash = ?2, protected = 0 WHERE device_seq = 15",
        rusqlite::params![forged, ContentHash::of(&forged).0.to_vec()],
    )
    .unwrap();
    drop(conn);
    let c = check(&FieldStore::open(tmp.path()).unwrap());
    assert_eq!(at(&c), (Some(6), None));
    assert!(c.problem.unwrap().message.contains("#14–#18"));
    // A changed record ID too.
    let c = tampered(
        "UPDATE records SET record_id = '01a20582-2e45-763d-a7ae-355773b53ea9' WHERE device_seq = 9",
    );
    assert_eq!(at(&c), (Some(1), None));
}

#[test]
fn verify_catches_a_forged_record_row() {
    let c = tampered(
        "INSERT INTO records (device_seq, record_id, kind, content_hash, body_hash, body_key, canonical, enrolled_at, status, status_at, protected)
         SELECT 19, '01a20582-2e45-763d-a7ae-355773b53ea9', kind, content_hash, body_hash, body_key, canonical, enrolled_at, 'pending', status_at, protected
         FROM records WHERE device_seq = 18",
    );
    assert_eq!(at(&c), (None, Some(19)));
    assert!(c.problem.unwrap().message.contains("no journal entry"));
}

#[test]
fn refused_or_failed_enrolls_leave_no_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let bodies = generated(6, 3);
    store.enroll(&prepared(&bodies[..1]), now()).unwrap();
    let head = store.journal_head().unwrap();

    // Refused correction (unknown target): nothing stored, no entry.
    let out = store
        .enroll(
            &prepared(&[correction(&bodies[0], Uuid::now_v7(), " An")]),
            now(),
        )
        .unwrap();
    assert!(matches!(out[0], EnrollOutcome::Refused(_)));
    assert_eq!(store.journal_head().unwrap(), head);

    // An enroll whose transaction fails part-way: no records, no entry.
    drop(store);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.device_seq = 4
         BEGIN SELECT RAISE(ABORT, 'boom'); END;",
    )
    .unwrap();
    drop(conn);
    let mut store = FieldStore::open(tmp.path()).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    assert!(store.enroll(&prepared(&bodies[1..5]), now()).is_err());
    assert_eq!(store.journal_head().unwrap(), head);
    assert_eq!(store.status().unwrap().total, 1);

    // A journal that cannot be written: the records are not stored either.
    drop(store);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    conn.execute_batch(
        "DROP TRIGGER boom;
         CREATE TRIGGER no_journal BEFORE INSERT ON journal BEGIN SELECT RAISE(ABORT, 'no'); END;",
    )
    .unwrap();
    drop(conn);
    let mut store = FieldStore::open(tmp.path()).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    assert!(store.enroll(&prepared(&bodies[1..5]), now()).is_err());
    assert_eq!(store.status().unwrap().total, 1);
    // Nor is a receipt applied without its entries.
    let batch = Uuid::now_v7();
    let id = store.list(&Default::default()).unwrap()[0].record_id;
    assert!(
        store
            .apply_receipt(
                Some(&receipt(batch)),
                &[(id, Ack::Confirmed)],
                &sent_event(batch, &[]),
                now(),
            )
            .is_err()
    );
    assert_eq!(store.receipt_count().unwrap(), 0);
    assert_eq!(store.journal_head().unwrap(), head);
    assert!(check(&store).is_ok());
}

#[test]
fn bulk_enroll_of_5000_records_adds_exactly_one_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let recs = stored(
        &store
            .enroll(&prepared(&generated(5_000, 11)), now())
            .unwrap(),
    );
    assert_eq!(recs.len(), 5_000);
    let all = entries(&store);
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].detail,
        json!({"count": 5000, "first_seq": 1, "last_seq": 5000, "digest": record_digest(&recs)})
    );
    let c = check(&store);
    assert!(c.is_ok(), "{c:?}");
    assert_eq!((c.entries, c.records), (1, 5_000));
}

#[test]
fn an_old_store_gets_one_migrated_entry_covering_its_records() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
        conn.execute_batch(include_str!("fixtures/field-v1.sql"))
            .unwrap();
    }
    let store = FieldStore::open(tmp.path()).unwrap();
    let all = entries(&store);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].event, "enrolled");
    let d = &all[0].detail;
    assert_eq!(d["migrated"], json!(true));
    assert_eq!(
        (&d["count"], &d["first_seq"], &d["last_seq"]),
        (&json!(4), &json!(1), &json!(4))
    );
    let outbox = store.outbox(0, 100).unwrap();
    let pairs: Vec<_> = outbox
        .iter()
        .map(|i| (i.record_id, i.content_hash))
        .collect();
    assert_eq!(d["digest"], json!(record_digest(&pairs)));
    let c = check(&store);
    assert!(c.is_ok(), "{c:?}");
    assert_eq!(c.records, 4);
    drop(store);

    // Opening again adds nothing; the marker table is gone.
    let mut store = FieldStore::open(tmp.path()).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    assert_eq!(entries(&store).len(), 1);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    let marker: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'journal_migration')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!marker);
    drop(conn);

    // New records chain on; a deleted old record is still caught.
    store.enroll(&prepared(&generated(3, 12)), now()).unwrap();
    assert_eq!(events(&store), ["enrolled", "enrolled"]);
    assert!(check(&store).is_ok());
    drop(store);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    conn.execute_batch("DELETE FROM records WHERE device_seq = 2")
        .unwrap();
    drop(conn);
    let c = check(&FieldStore::open(tmp.path()).unwrap());
    assert_eq!(at(&c), (Some(1), Some(2)));
}

#[test]
fn a_fresh_store_has_an_empty_journal_and_the_witness_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let store = init(tmp.path());
    assert_eq!(store.journal_head().unwrap(), None);
    let c = check(&store);
    assert!(c.is_ok());
    assert_eq!((c.entries, c.records, c.head), (0, 0, None));
    assert_eq!(
        store.status().unwrap().schema_version,
        doorstep_store::migrate::latest_version()
    );
    drop(store);
    let conn = Connection::open(FieldStore::db_path(tmp.path())).unwrap();
    for table in ["journal", "log_heads", "log_alarms"] {
        let n: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
    conn.execute_batch("SELECT log_index, tree_size FROM receipts")
        .unwrap();
    assert!(
        conn.execute(
            "INSERT INTO journal (seq, at, event, detail, hash) VALUES (1, 'x', 'deleted', x'', x'')",
            [],
        )
        .is_err(),
        "unknown events are refused"
    );
}
