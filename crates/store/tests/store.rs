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
            passphrase: PASSPHRASE.into(),
            kdf: FAST_KDF,
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
            passphrase: PASSPHRASE.into(),
            kdf: FAST_KDF,
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
            passphrase: PASSPHRASE.into(),
            kdf: FAST_KDF,
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

/// Every stored byte of the store (database and write-ahead log).
fn file_bytes(dir: &Path) -> Vec<u8> {
    let db = FieldStore::db_path(dir);
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", db.display())) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_locked_store_keeps_citizen_data_closed_and_a_wrong_passphrase_reads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let bodies = generated(20, 5);
    store.enroll(&prepared(&bodies), now()).unwrap();
    drop(store);
    let bytes = file_bytes(tmp.path());
    for b in &bodies {
        assert!(
            !contains(&bytes, &b.citizen.full_name),
            "a name is readable"
        );
        assert!(
            !contains(&bytes, &b.citizen.personal_id),
            "an ID is readable"
        );
    }

    let mut store = FieldStore::open(tmp.path()).unwrap();
    assert!(!store.is_unlocked());
    // What sync and status need works locked.
    assert_eq!(store.status().unwrap().outbox, 20);
    assert!(matches!(
        store.enroll(&prepared(&generated(1, 6)), now()),
        Err(StoreError::Locked {
            what: "enrolling",
            ..
        })
    ));
    assert!(matches!(
        store.list(&ListFilter::default()),
        Err(StoreError::Locked { .. })
    ));
    // Records not sealed to central need the key to be sent.
    assert!(store.needs_unlock_to_send().unwrap());
    assert!(matches!(
        store.outbox(0, 10),
        Err(StoreError::Locked { .. })
    ));

    assert!(matches!(
        store.unlock("not the passphrase", now()),
        Err(StoreError::WrongPassphrase { .. })
    ));
    assert!(!store.is_unlocked());
    store.unlock(PASSPHRASE, now()).unwrap();
    let names: Vec<_> = store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.full_name.unwrap())
        .collect();
    let expected: Vec<_> = bodies.iter().map(|b| b.citizen.full_name.clone()).collect();
    assert_eq!(names, expected);
    // The same captures again: found through the keyed index, not stored twice.
    let again = store.enroll(&prepared(&bodies), now()).unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o, EnrollOutcome::AlreadyStored { .. }))
    );

    // A new passphrase: the old one no longer opens, records are the same.
    store
        .change_passphrase(PASSPHRASE, "một mật khẩu mới", now())
        .unwrap();
    drop(store);
    let mut store = FieldStore::open(tmp.path()).unwrap();
    assert!(store.unlock(PASSPHRASE, now()).is_err());
    store.unlock("một mật khẩu mới", now()).unwrap();
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 20);
}

#[test]
fn a_tampered_ciphertext_is_reported_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    store.enroll(&prepared(&generated(3, 5)), now()).unwrap();
    drop(store);
    Connection::open(FieldStore::db_path(tmp.path()))
        .unwrap()
        .execute(
            "UPDATE records SET canonical = CAST(substr(canonical, 1, 40)
                 || CASE WHEN substr(canonical, 41, 1) = X'00' THEN X'01' ELSE X'00' END
                 || substr(canonical, 42) AS BLOB) WHERE device_seq = 2",
            [],
        )
        .unwrap();
    let mut store = FieldStore::open(tmp.path()).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    assert!(matches!(
        store.list(&ListFilter::default()),
        Err(StoreError::Undecryptable { seq: 2, .. })
    ));
    assert!(!store.verify_journal().unwrap().is_ok());
}

#[test]
fn records_are_sealed_to_central_and_only_central_opens_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    // Two enrolled before the laptop knows central's key, one after.
    let bodies = generated(3, 8);
    store.enroll(&prepared(&bodies[..2]), now()).unwrap();
    let central = doorstep_crypto::SealKey::generate().unwrap();
    store.keep_seal_key(central.public()).unwrap();
    store.enroll(&prepared(&bodies[2..]), now()).unwrap();
    assert!(
        store
            .keep_seal_key(doorstep_crypto::SealKey::generate().unwrap().public())
            .is_err(),
        "another central's key is refused"
    );
    drop(store);

    // Sending needs no passphrase: every record is sealed.
    let store = FieldStore::open(tmp.path()).unwrap();
    assert!(!store.needs_unlock_to_send().unwrap());
    let items = store.outbox(0, 10).unwrap();
    assert_eq!(items.len(), 3);
    let opener = doorstep_crypto::Opener::new(&central);
    for (item, body) in items.iter().zip(&bodies) {
        assert!(item.canonical.is_empty(), "nothing in plaintext");
        let sealed: doorstep_wire::SealedRecord =
            serde_json::from_slice(item.sealed.as_ref().unwrap()).unwrap();
        assert_eq!(
            (sealed.record_id, sealed.device_seq),
            (item.record_id, item.device_seq)
        );
        let parts = sealed.parts().unwrap();
        let plain = opener
            .open(&doorstep_crypto::SealedBox {
                to: parts.to,
                from: parts.from,
                nonce: parts.nonce,
                ciphertext: parts.ciphertext,
            })
            .unwrap();
        assert_eq!(doorstep_core::ContentHash::of(&plain), item.content_hash);
        assert!(contains(&plain, &body.citizen.full_name));
    }
}

#[test]
fn confirmed_records_lose_their_citizen_data_after_the_retention_period() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = init(tmp.path());
    let bodies = generated(4, 9);
    let ids = stored_ids(&store.enroll(&prepared(&bodies), now()).unwrap());
    store.mark_confirmed(&ids[..3], now()).unwrap();
    assert_eq!(store.retention_days().unwrap(), 7);
    // Six days later nothing goes; eight days later the three confirmed do.
    assert_eq!(
        store
            .purge_confirmed(now() + chrono::Duration::days(6))
            .unwrap()
            .purged,
        0
    );
    let report = store
        .purge_confirmed(now() + chrono::Duration::days(8))
        .unwrap();
    assert_eq!((report.purged, report.retention_days), (3, 7));
    let list = store.list(&ListFilter::default()).unwrap();
    assert_eq!(
        list.iter()
            .map(|r| r.full_name.is_some())
            .collect::<Vec<_>>(),
        [false, false, false, true]
    );
    assert!(list[..3].iter().all(|r| r.purged_at.is_some()
        && r.status == RecordStatus::Confirmed
        && !r.content_hash.is_empty()));
    let check = store.verify_journal().unwrap();
    assert!(check.is_ok(), "{check:?}");
    assert_eq!(
        store
            .purge_confirmed(now() + chrono::Duration::days(30))
            .unwrap()
            .purged,
        0
    );
}

#[test]
fn a_store_from_before_encryption_is_encrypted_at_its_first_unlock() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    Connection::open(FieldStore::db_path(&old))
        .unwrap()
        .execute_batch(include_str!("fixtures/field-v1.sql"))
        .unwrap();
    let mut store = FieldStore::open(&old).unwrap();
    let names: Vec<String> = store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.full_name.unwrap())
        .collect();
    assert!(!store.has_passphrase().unwrap());
    assert!(store.needs_unlock_to_send().unwrap());
    let report = store.unlock(PASSPHRASE, now()).unwrap();
    assert!(report.passphrase_set);
    assert_eq!(report.encrypted, 4);
    assert!(store.verify_journal().unwrap().is_ok());
    drop(store);
    let bytes = file_bytes(&old);
    for name in &names {
        assert!(!contains(&bytes, name), "{name} still readable");
    }
    let mut store = FieldStore::open(&old).unwrap();
    store.unlock(PASSPHRASE, now()).unwrap();
    let again: Vec<String> = store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.full_name.unwrap())
        .collect();
    assert_eq!(again, names);
}
