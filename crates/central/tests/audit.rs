#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `audit verify` catches any row of the log or the records edited,
//! deleted or inserted directly in SQL, and names it.

use std::path::{Path, PathBuf};

use doorstep_central::CentralStore;
use doorstep_central::sqlite::SqliteCentral;
use doorstep_central::sqlite::audit::{AuditReport, verify};
use rusqlite::Connection;
use uuid::Uuid;

mod support;
use support::{batch, now, record};

/// A closed central store with 6 batches (accepted, duplicate, conflict
/// and invalid outcomes) from two devices.
fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteCentral::open_or_create(dir.path(), None, now()).unwrap();
        for device in [Uuid::now_v7(), Uuid::now_v7()] {
            let (_, a) = record(device, 1, "Nguyễn Thị Lan");
            let (_, b) = record(device, 2, "Trần Văn Bình");
            let (_, c) = record(device, 3, "Lê Thị Cúc");
            store.apply(batch(device, &[&a, &b], None)).await.unwrap();
            store.apply(batch(device, &[&a, &c], None)).await.unwrap();
            let wrong = "0".repeat(64);
            let (_, d) = record(device, 4, "Phạm Văn Dũng");
            store
                .apply(batch(device, &[&d], Some(&[wrong.as_str()])))
                .await
                .unwrap();
        }
    });
    dir
}

fn copy(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let to = tempfile::tempdir().unwrap();
    std::fs::copy(
        SqliteCentral::db_path(from),
        SqliteCentral::db_path(to.path()),
    )
    .unwrap();
    let path = SqliteCentral::db_path(to.path());
    (to, path)
}

fn check(dir: &Path) -> AuditReport {
    verify(dir, &mut |_, _, _| {}).unwrap()
}

/// Applies `sql` to a copy of `base` and returns the audit of the copy.
fn tampered(base: &Path, sql: &str) -> AuditReport {
    let (dir, path) = copy(base);
    let conn = Connection::open(&path).unwrap();
    let changed = conn.execute(sql, []).unwrap();
    assert!(changed > 0, "`{sql}` changed nothing");
    drop(conn);
    check(dir.path())
}

fn ids(base: &Path, sql: &str) -> Vec<String> {
    let conn = Connection::open(SqliteCentral::db_path(base)).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
        .unwrap()
        .map(|v| match v.unwrap() {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => format!("'{t}'"),
            other => panic!("unexpected key {other:?}"),
        })
        .collect()
}

fn first(report: &AuditReport) -> (&str, &str) {
    let p = report.problems.first().expect("a problem is named");
    (p.code, p.location.as_str())
}

#[test]
fn a_sound_store_verifies() {
    let base = sample();
    let report = check(base.path());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, 6, "one entry per batch");
    assert_eq!(report.records, 6);
    assert_eq!(
        report.tree_heads, 7,
        "the empty log's head, then sizes 1 to 6"
    );
    assert_eq!(report.latest_head.as_ref().map(|h| h.0), Some(6));
}

#[test]
fn every_edited_or_deleted_log_entry_is_named() {
    let base = sample();
    for idx in ids(base.path(), "SELECT idx FROM log_entries") {
        let edited = tampered(
            base.path(),
            &format!(
                "UPDATE log_entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"v\":1', '\"v\":2') AS BLOB) WHERE idx = {idx}"
            ),
        );
        assert_eq!(
            first(&edited),
            ("entry.altered", format!("log entry {idx}").as_str())
        );
        let rehashed = tampered(
            base.path(),
            &format!("UPDATE log_entries SET leaf_hash = zeroblob(32) WHERE idx = {idx}"),
        );
        assert_eq!(first(&rehashed).0, "entry.altered");
        let deleted = tampered(
            base.path(),
            &format!("DELETE FROM log_entries WHERE idx = {idx}"),
        );
        assert!(!deleted.is_clean(), "deleting entry {idx} went unnoticed");
    }
    let last = tampered(
        base.path(),
        "DELETE FROM log_entries WHERE idx = (SELECT MAX(idx) FROM log_entries)",
    );
    assert!(
        last.problems.iter().any(|p| p.code == "head.beyond_log"),
        "{:?}",
        last.problems
    );
}

#[test]
fn an_entry_rewritten_with_a_consistent_leaf_hash_breaks_the_signed_heads() {
    // The forger re-hashes the leaf: the entry looks sound, the signed
    // roots do not (and cannot be re-signed without the key).
    let base = sample();
    let (dir, path) = copy(base.path());
    let conn = Connection::open(&path).unwrap();
    let entry: Vec<u8> = conn
        .query_row("SELECT entry FROM log_entries WHERE idx = 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    let forged = String::from_utf8(entry)
        .unwrap()
        .replace("\"accepted\"", "\"invalid\"");
    let leaf = doorstep_core::merkle::leaf_hash(forged.as_bytes());
    conn.execute(
        "UPDATE log_entries SET entry = ?1, leaf_hash = ?2 WHERE idx = 0",
        rusqlite::params![forged.as_bytes(), &leaf[..]],
    )
    .unwrap();
    conn.execute(
        "UPDATE log_nodes SET hash = ?1 WHERE level = 0 AND idx = 0",
        rusqlite::params![&leaf[..]],
    )
    .unwrap();
    drop(conn);
    let report = check(dir.path());
    let codes: Vec<&str> = report.problems.iter().map(|p| p.code).collect();
    assert!(codes.contains(&"head.root_mismatch"), "{codes:?}");
    assert!(codes.contains(&"record.not_in_log"), "{codes:?}");
}

#[test]
fn an_entry_slipped_in_at_the_end_is_caught() {
    let base = sample();
    let report = tampered(
        base.path(),
        "INSERT INTO log_entries (idx, batch_id, entry, leaf_hash)
         SELECT idx + 1, batch_id, entry, leaf_hash FROM log_entries WHERE idx = (SELECT MAX(idx) FROM log_entries)",
    );
    let codes: Vec<&str> = report.problems.iter().map(|p| p.code).collect();
    assert!(codes.contains(&"entry.unsigned"), "{codes:?}");
}

#[test]
fn every_edited_or_deleted_node_and_head_is_named() {
    let base = sample();
    let conn = Connection::open(SqliteCentral::db_path(base.path())).unwrap();
    let nodes: Vec<(i64, i64)> = conn
        .prepare("SELECT level, idx FROM log_nodes")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    for (level, idx) in nodes {
        let edited = tampered(
            base.path(),
            &format!(
                "UPDATE log_nodes SET hash = zeroblob(32) WHERE level = {level} AND idx = {idx}"
            ),
        );
        assert_eq!(
            first(&edited),
            ("node.altered", format!("tree node {level}/{idx}").as_str())
        );
        let deleted = tampered(
            base.path(),
            &format!("DELETE FROM log_nodes WHERE level = {level} AND idx = {idx}"),
        );
        assert_eq!(first(&deleted).0, "node.missing");
    }
    for size in ids(base.path(), "SELECT tree_size FROM tree_heads") {
        let root = tampered(
            base.path(),
            &format!("UPDATE tree_heads SET root_hash = zeroblob(32) WHERE tree_size = {size}"),
        );
        assert_eq!(
            first(&root),
            (
                "head.root_mismatch",
                format!("tree head of size {size}").as_str()
            )
        );
        let time = tampered(
            base.path(),
            &format!("UPDATE tree_heads SET timestamp = timestamp + 1 WHERE tree_size = {size}"),
        );
        assert_eq!(
            first(&time),
            (
                "head.bad_signature",
                format!("tree head of size {size}").as_str()
            )
        );
    }
    let unsigned = tampered(base.path(), "DELETE FROM tree_heads WHERE tree_size = 6");
    assert_eq!(first(&unsigned).0, "entry.unsigned");
}

#[test]
fn every_edited_deleted_or_inserted_record_is_named() {
    let base = sample();
    for id in ids(base.path(), "SELECT record_id FROM records") {
        let name = format!("record {}", id.trim_matches('\''));
        let bytes = tampered(
            base.path(),
            &format!(
                "UPDATE records SET canonical = CAST(replace(CAST(canonical AS TEXT), 'Thị', 'Thi') AS BLOB) || x'20' WHERE record_id = {id}"
            ),
        );
        assert_eq!(first(&bytes), ("record.altered", name.as_str()));
        // Bytes and hash changed together: consistent, but not what the log accepted.
        let (dir, path) = copy(base.path());
        let conn = Connection::open(&path).unwrap();
        let canonical: Vec<u8> = conn
            .query_row(
                &format!("SELECT canonical FROM records WHERE record_id = {id}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut forged = canonical.clone();
        forged.push(b' ');
        let hash = doorstep_core::ContentHash::of(&forged);
        conn.execute(
            &format!("UPDATE records SET canonical = ?1, content_hash = ?2 WHERE record_id = {id}"),
            rusqlite::params![forged, &hash.0[..]],
        )
        .unwrap();
        drop(conn);
        assert_eq!(
            first(&check(dir.path())),
            ("record.differs_from_log", name.as_str())
        );
        let deleted = tampered(
            base.path(),
            &format!("DELETE FROM records WHERE record_id = {id}"),
        );
        assert_eq!(first(&deleted), ("record.missing", name.as_str()));
    }
    let inserted = tampered(
        base.path(),
        "INSERT INTO records (record_id, device_id, device_seq, content_hash, kind, canonical, enrolled_at, received_at, batch_id)
         SELECT '019a0000-0000-7000-8000-000000000099', device_id, 99, content_hash, kind, canonical, enrolled_at, received_at, batch_id
         FROM records LIMIT 1",
    );
    assert_eq!(
        first(&inserted),
        (
            "record.not_in_log",
            "record 019a0000-0000-7000-8000-000000000099"
        )
    );
}

#[test]
fn a_store_made_before_the_log_gets_a_first_entry_covering_its_records() {
    // Schema 2 (no log) with records: opening it migrates and logs them.
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteCentral::db_path(dir.path());
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../migrations/0002_station.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO node (id, node_id, created_at) VALUES (1, '019a0000-0000-7000-8000-0000000000c1', '2026-11-01T00:00:00.000Z');
             INSERT INTO unit_list (id, source, sha256, csv, loaded_at) VALUES (1, 'built-in: 63 provinces', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', x'', '2026-11-01T00:00:00.000Z');",
        )
        .unwrap();
        let device = Uuid::now_v7();
        let (id, bytes) = record(device, 1, "Nguyễn Văn An");
        conn.execute(
            "INSERT INTO records (record_id, device_id, device_seq, content_hash, kind, canonical, enrolled_at, received_at, batch_id)
             VALUES (?1, ?2, 1, ?3, 'eid_activation', ?4, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', 'b')",
            rusqlite::params![id.to_string(), device.to_string(), &doorstep_core::ContentHash::of(&bytes).0[..], bytes],
        )
        .unwrap();
    }
    drop(SqliteCentral::open(dir.path()).unwrap());
    let report = check(dir.path());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!((report.entries, report.records), (1, 1));
}
