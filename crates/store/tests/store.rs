#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Field store behaviour: migrations, refusal of newer or damaged files,
//! gap-free sequence, idempotent enroll, corrections, outbox, custody.

use std::path::Path;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{encode_body, encode_body_generic};
use doorstep_core::{RecordBody, Units, ValidationContext, validate};
use doorstep_gen::{GenOptions, Generator};
use doorstep_store::{
    EnrollOutcome, FieldStore, InitOptions, ListFilter, PreparedBody, RecordStatus, StoreError,
};
use rusqlite::Connection;

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
        .map(|v| {
            validate(
                &v,
                &ValidationContext {
                    units: &units,
                    now: now(),
                },
            )
            .unwrap()
        })
        .collect()
}

fn prepared(bodies: &[RecordBody]) -> Vec<PreparedBody> {
    bodies.iter().cloned().map(PreparedBody::new).collect()
}

fn stored_ids(outcomes: &[EnrollOutcome]) -> Vec<uuid::Uuid> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            EnrollOutcome::Stored { record_id, .. } => Some(*record_id),
            _ => None,
        })
        .collect()
}

/// Schema as `sqlite_master` describes it, sorted.
fn schema(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn frozen_v1_database_upgrades_to_the_fresh_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    {
        let conn = Connection::open(FieldStore::db_path(&old)).unwrap();
        conn.execute_batch(include_str!("fixtures/field-v1.sql"))
            .unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "the fixture is a version-1 store");
    }
    let upgraded = FieldStore::open(&old).unwrap();
    let fresh_dir = tmp.path().join("fresh");
    let fresh = init(&fresh_dir);
    drop(fresh);
    drop(upgraded);

    let a = Connection::open(FieldStore::db_path(&old)).unwrap();
    let b = Connection::open(FieldStore::db_path(&fresh_dir)).unwrap();
    assert_eq!(
        schema(&a),
        schema(&b),
        "upgraded schema differs from a fresh one"
    );
    let va: i64 = a
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(va, doorstep_store::migrate::latest_version());

    // The data survived and is usable at the new version.
    let store = FieldStore::open(&old).unwrap();
    let list = store.list(&ListFilter::default()).unwrap();
    assert_eq!(list.len(), 4);
    assert!(
        list.iter()
            .all(|r| r.status == RecordStatus::Pending && r.attempts == 0)
    );
    assert_eq!(list[3].supersedes, Some(list[0].record_id));
    assert_eq!(list[0].superseded_by, Some(list[3].record_id));
    assert!(store.sequence_is_gap_free().unwrap());
    assert_eq!(store.outbox(0, 100).unwrap().len(), 4);
}

#[test]
fn a_newer_database_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    drop(init(tmp.path()));
    let path = FieldStore::db_path(tmp.path());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    match FieldStore::open(tmp.path()) {
        Err(StoreError::TooNew {
            found: 99,
            supported,
            ..
        }) => {
            assert_eq!(supported, doorstep_store::migrate::latest_version())
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_damaged_database_is_refused_never_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    store.enroll(&prepared(&generated(50, 1)), now()).unwrap();
    drop(store);
    let path = FieldStore::db_path(tmp.path());
    // Checkpoint so the data is in the main file, then wreck its header.
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].fill(0x55);
    std::fs::write(&path, &bytes).unwrap();
    let err = FieldStore::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("NOT changed or deleted") && msg.contains(".recover"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the damaged file must be left as it was"
    );
    // And init refuses to replace it.
    let again = FieldStore::init(
        tmp.path(),
        &InitOptions {
            device_name: "x".into(),
            unit_code: "74".into(),
            units_csv: None,
        },
        now(),
    );
    assert!(again.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn init_refuses_an_existing_store_and_unknown_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = init(tmp.path());
    let id = store.device().device_id;
    drop(store);
    let err = FieldStore::init(
        tmp.path(),
        &InitOptions {
            device_name: "y".into(),
            unit_code: "74".into(),
            units_csv: None,
        },
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyInitialized { .. }),
        "{err:?}"
    );
    assert_eq!(FieldStore::open(tmp.path()).unwrap().device().device_id, id);

    let other = tempfile::tempdir().unwrap();
    let err = FieldStore::init(
        other.path(),
        &InitOptions {
            device_name: "y".into(),
            unit_code: "25972".into(),
            units_csv: None,
        },
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownDeviceUnit { .. }),
        "{err:?}"
    );
    assert!(matches!(
        FieldStore::open(&other.path().join("none")),
        Err(StoreError::NotInitialized { .. })
    ));
}

#[test]
fn sequence_is_gap_free_and_enroll_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let bodies = generated(500, 2);
    let first = store.enroll(&prepared(&bodies[..300]), now()).unwrap();
    assert_eq!(stored_ids(&first).len(), 300);
    // Re-running an interrupted input: the first 300 are known, 200 new.
    let second = store.enroll(&prepared(&bodies), now()).unwrap();
    let already = second
        .iter()
        .filter(|o| matches!(o, EnrollOutcome::AlreadyStored { .. }))
        .count();
    assert_eq!((already, stored_ids(&second).len()), (300, 200));
    for (o, f) in second.iter().zip(&first) {
        match (o, f) {
            (
                EnrollOutcome::AlreadyStored {
                    record_id,
                    device_seq,
                },
                EnrollOutcome::Stored {
                    record_id: r2,
                    device_seq: s2,
                    ..
                },
            ) => assert_eq!((record_id, device_seq), (r2, s2)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(store.sequence_is_gap_free().unwrap());
    let status = store.status().unwrap();
    assert_eq!(
        (status.total, status.outbox, status.device.last_seq),
        (500, 500, 500)
    );
    let list = store.list(&ListFilter::default()).unwrap();
    let seqs: Vec<u64> = list.iter().map(|r| r.device_seq).collect();
    assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
    // UUIDv7, made here, in the order of the sequence.
    assert!(list.iter().all(|r| r.record_id.get_version_num() == 7));
    assert!(list.windows(2).all(|w| w[0].record_id < w[1].record_id));
}

#[test]
fn stored_bytes_are_canonical_and_hash_to_the_content_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let bodies = generated(100, 3);
    let outcomes = store.enroll(&prepared(&bodies), now()).unwrap();
    let outbox = store.outbox(0, 1000).unwrap();
    assert_eq!(outbox.len(), 100);
    for ((item, body), outcome) in outbox.iter().zip(&bodies).zip(&outcomes) {
        let record = doorstep_core::decode_record(&item.canonical).unwrap();
        assert_eq!(&record.body, body);
        assert_eq!(record.device_id, store.device().device_id);
        assert_eq!(
            doorstep_core::ContentHash::of(&item.canonical),
            item.content_hash
        );
        match outcome {
            EnrollOutcome::Stored {
                content_hash,
                record_id,
                ..
            } => {
                assert_eq!(*content_hash, item.content_hash);
                assert_eq!(*record_id, item.record_id);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn fast_body_encoding_equals_the_generic_canonical_form() {
    for body in generated(5_000, 4) {
        assert_eq!(
            String::from_utf8(encode_body(&body)).unwrap(),
            String::from_utf8(encode_body_generic(&body)).unwrap()
        );
    }
}

#[test]
fn corrections_supersede_once_and_must_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let bodies = generated(1, 5);
    let original = stored_ids(&store.enroll(&prepared(&bodies), now()).unwrap())[0];

    let mut fix = bodies[0].clone();
    fix.citizen.full_name.push_str(" An");
    fix.supersedes = Some(original);
    let correction = stored_ids(&store.enroll(&prepared(&[fix.clone()]), now()).unwrap())[0];

    let mut twice = fix.clone();
    twice.citizen.full_name.push_str(" Bình");
    match &store.enroll(&prepared(&[twice]), now()).unwrap()[0] {
        EnrollOutcome::Refused(v) => {
            assert_eq!(v.code, "supersedes.already_superseded");
            assert!(v.message.contains(&correction.to_string()));
        }
        other => panic!("{other:?}"),
    }
    let mut unknown = fix;
    unknown.supersedes = Some(uuid::Uuid::now_v7());
    match &store.enroll(&prepared(&[unknown]), now()).unwrap()[0] {
        EnrollOutcome::Refused(v) => assert_eq!(v.code, "supersedes.unknown"),
        other => panic!("{other:?}"),
    }
    // Nothing overwritten; refusals took no sequence number.
    let list = store.list(&ListFilter::default()).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].superseded_by, Some(correction));
    assert!(store.sequence_is_gap_free().unwrap());
}

#[test]
fn outbox_holds_unacknowledged_records_in_sequence_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let ids = stored_ids(&store.enroll(&prepared(&generated(10, 6)), now()).unwrap());
    assert_eq!(store.mark_held(&ids[0..4], "station-A", now()).unwrap(), 4);
    assert_eq!(store.mark_confirmed(&ids[0..2], now()).unwrap(), 2);
    assert_eq!(
        store
            .mark_rejected(ids[5], "invalid", "unit unknown at central", now())
            .unwrap(),
        1
    );
    // A confirmed record never goes back to held.
    assert_eq!(store.mark_held(&ids[0..1], "station-B", now()).unwrap(), 0);

    let outbox: Vec<u64> = store
        .outbox(0, 100)
        .unwrap()
        .iter()
        .map(|o| o.device_seq)
        .collect();
    assert_eq!(outbox, vec![3, 4, 5, 7, 8, 9, 10]);
    let paged: Vec<u64> = store
        .outbox(4, 2)
        .unwrap()
        .iter()
        .map(|o| o.device_seq)
        .collect();
    assert_eq!(paged, vec![5, 7]);

    let held = store
        .list(&ListFilter {
            status: Some(RecordStatus::Held),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        held.iter().map(|r| r.device_seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(held[0].held_by.as_deref(), Some("station-A"));
    let rejected = store
        .list(&ListFilter {
            status: Some(RecordStatus::Rejected),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        rejected[0].reject_reason.as_deref(),
        Some("unit unknown at central")
    );
    let status = store.status().unwrap();
    let count = |s: &str| {
        status
            .by_status
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
    };
    assert_eq!(
        (
            count("pending"),
            count("held"),
            count("confirmed"),
            count("rejected")
        ),
        (Some(5), Some(2), Some(2), Some(1))
    );
    assert_eq!(status.outbox, 7);
}

#[test]
fn integrity_check_reports_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    store.enroll(&prepared(&generated(20, 7)), now()).unwrap();
    assert_eq!(store.integrity_check().unwrap(), vec!["ok".to_owned()]);
}
