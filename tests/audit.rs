#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Audit acceptance with real processes on loopback: a laptop catches a
//! central log that was rewritten on its next sync and refuses it; `audit
//! reconcile` finds a record deleted at central; `audit verify` names what
//! was changed; `audit log` and `audit gaps` answer from the server.

use std::path::Path;

use doorstep_tests::{Output, Server, Store, args, free_port, run, temp_dir};
use serde_json::Value;

fn sync(store: &Store, url: &str, batch: u32) -> Output {
    store.field(
        "sync",
        &[
            "--server",
            url,
            "--json",
            "--no-progress",
            "--batch-size",
            &batch.to_string(),
            "--retries",
            "1",
        ],
    )
}

fn audit(args: &[&str]) -> Output {
    let mut a = args!["--lang", "en", "audit"];
    a.extend(args.iter().map(std::ffi::OsString::from));
    run(a)
}

fn verify(dir: &Path) -> Output {
    let out = audit(&["verify", "--data-dir", dir.to_str().unwrap(), "--json"]);
    doorstep_tests::assert_no_panic(&out);
    out
}

fn central_db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("central.sqlite3")).unwrap()
}

fn enroll(store: &Store, n: u64, seed: u64) {
    let file = store.file(&format!("{n}-{seed}.ndjson"));
    doorstep_tests::gen_records(&store.dir, n, seed, &file);
    store.enroll(&file).assert_success();
}

#[test]
fn a_rewritten_central_log_is_refused_by_the_laptop_on_its_next_sync() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let mut central = Server::central(&central_dir, free_port());
    let a = Store::new();
    enroll(&a, 30, 1);
    let first = sync(&a, &central.url, 10);
    first.assert_success();
    assert_eq!(first.json()["log_size"], 3, "{}", first.json());
    // Every receipt is kept with its place in central's log.
    let kept: Vec<(i64, i64)> = rusqlite::Connection::open(a.db())
        .unwrap()
        .prepare("SELECT log_index, tree_size FROM receipts ORDER BY log_index")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kept, [(0, 1), (1, 2), (2, 3)]);
    let sound = verify(&central_dir);
    sound.assert_success();
    assert_eq!(sound.json()["report"]["entries"], 3);
    // The laptop's own journal holds up too.
    verify(&a.dir).assert_success();

    // Central's operator cuts the log back to its first entry (the records
    // stay) and lets it grow again with another laptop's batches: a log
    // that no longer extends the head laptop A checked.
    central.kill();
    let conn = central_db(&central_dir);
    conn.execute_batch(
        "DELETE FROM log_entries WHERE idx >= 1;
         DELETE FROM log_nodes WHERE ((idx + 1) << level) > 1;
         DELETE FROM tree_heads WHERE tree_size >= 2;",
    )
    .unwrap();
    drop(conn);
    central.restart();
    let b = Store::new();
    enroll(&b, 30, 2);
    sync(&b, &central.url, 10).assert_success();

    // Laptop A's next sync: refused before anything is sent, loudly.
    enroll(&a, 1, 3);
    let refused = sync(&a, &central.url, 10);
    refused.assert_code(1);
    let report = refused.json();
    assert_eq!(report["log_alarm"], true, "{report}");
    assert_eq!(report["records_sent"], 0, "{report}");
    assert_eq!(report["outbox_after"], 1, "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("AUDIT ALARM") && error.contains("not_an_extension"),
        "{error}"
    );
    assert_eq!(a.status()["by_status"]["pending"], 1);

    let alarms = audit(&["alarms", "--data-dir", a.dir.to_str().unwrap(), "--json"]);
    alarms.assert_code(1);
    let alarms = alarms.json();
    let list = alarms["alarms"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{alarms}");
    assert_eq!(list[0]["kind"], "not_an_extension");
    assert!(list[0]["evidence"].as_str().unwrap().contains("\"seen\""));

    // A retry does not wear the alarm down: still refused.
    let again = a.field(
        "sync",
        &["--server", &central.url, "--no-progress", "--retries", "1"],
    );
    again.assert_code(1);
    again.assert_stderr_contains("AUDIT ALARM");
    assert_eq!(a.status()["by_status"]["pending"], 1);

    // Central's own audit names what the rewrite left behind: records
    // held that no log entry accepted.
    let tampered = verify(&central_dir);
    tampered.assert_code(1);
    let problems = &tampered.json()["report"]["problems"];
    assert!(
        problems
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["code"] == "record.not_in_log"),
        "{problems}"
    );
}

#[test]
fn reconcile_finds_a_record_deleted_at_central_and_verify_names_it() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central(&central_dir, 0);
    let laptop = Store::new();
    enroll(&laptop, 20, 4);
    sync(&laptop, &central.url, 100).assert_success();
    let dir = laptop.dir.to_str().unwrap().to_owned();

    let clean = audit(&[
        "reconcile",
        "--data-dir",
        &dir,
        "--server",
        &central.url,
        "--json",
    ]);
    clean.assert_success();
    let clean = clean.json();
    assert_eq!(
        (clean["matched"].as_u64(), clean["local_records"].as_u64()),
        (Some(20), Some(20)),
        "{clean}"
    );

    // Someone deletes record #7 at central, directly in SQL.
    let records = laptop.list();
    let victim = records.iter().find(|r| r["device_seq"] == 7).unwrap()["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let conn = central_db(&central_dir);
    assert_eq!(
        conn.execute("DELETE FROM records WHERE record_id = ?1", [&victim])
            .unwrap(),
        1
    );
    drop(conn);

    let found = audit(&[
        "reconcile",
        "--data-dir",
        &dir,
        "--server",
        &central.url,
        "--json",
    ]);
    found.assert_code(1);
    let found = found.json();
    let diffs = found["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{found}");
    assert_eq!(diffs[0]["kind"], "missing_at_server");
    assert_eq!(diffs[0]["record_id"], Value::from(victim.clone()));
    assert_eq!(diffs[0]["device_seq"], 7);
    let text = audit(&["reconcile", "--data-dir", &dir, "--server", &central.url]);
    text.assert_code(1);
    assert!(text.stdout.contains(&victim));

    let verified = verify(&central_dir);
    verified.assert_code(1);
    let first = &verified.json()["report"]["problems"][0];
    assert_eq!(first["code"], "record.missing", "{first}");
    assert_eq!(first["location"], Value::from(format!("record {victim}")));
}

#[test]
fn audit_log_and_gaps_answer_from_the_server() {
    let tmp = temp_dir();
    let central = Server::central(&tmp.path().join("central"), 0);
    let laptop = Store::new();
    enroll(&laptop, 12, 5);
    // Records 5 and 6 never reach central (as if lost): a gap.
    let conn = rusqlite::Connection::open(laptop.db()).unwrap();
    conn.execute(
        "UPDATE records SET status = 'confirmed' WHERE device_seq IN (5, 6)",
        [],
    )
    .unwrap();
    drop(conn);
    sync(&laptop, &central.url, 5).assert_success();
    let device = laptop.status()["device"]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let log = audit(&[
        "log",
        "--server",
        &central.url,
        "--device",
        &device,
        "--json",
    ]);
    log.assert_success();
    let sessions = log.json();
    let s = &sessions["sessions"][0];
    assert_eq!(s["node_id"], Value::from(device.clone()), "{sessions}");
    assert_eq!(s["batches"], 2);
    assert_eq!(s["counts"]["accepted"], 10);
    assert!(s["bytes_in"].as_u64().unwrap() > 0);
    let none = audit(&[
        "log",
        "--server",
        &central.url,
        "--since",
        "2999-01-01T00:00:00Z",
        "--json",
    ]);
    none.assert_success();
    assert_eq!(none.json()["sessions"], Value::Array(vec![]));
    let bad = audit(&["log", "--server", &central.url, "--since", "yesterday"]);
    bad.assert_code(2);

    let gaps = audit(&["gaps", "--server", &central.url, "--json"]);
    gaps.assert_success();
    let gaps = gaps.json();
    let d = &gaps["devices"][0];
    assert_eq!(d["device_id"], Value::from(device), "{gaps}");
    assert_eq!(d["gaps"], serde_json::json!([[5, 6]]));
    assert!(d["last_sync_at"].as_str().is_some());
    assert!(
        d["journal"]["seq"].as_u64().unwrap() >= 1,
        "the laptop's journal head travelled: {gaps}"
    );
    let table = audit(&["gaps", "--server", &central.url]);
    table.assert_success();
    assert!(table.stdout.contains("5-6"));
}

#[test]
fn verify_refuses_a_directory_without_a_store() {
    let tmp = temp_dir();
    let out = audit(&["verify", "--data-dir", tmp.path().to_str().unwrap()]);
    out.assert_code(2);
    out.assert_stderr_contains("no Doorstep store");
}
