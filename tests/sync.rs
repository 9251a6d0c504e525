#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Sync v1 acceptance, with real processes on loopback: records enrolled
//! while central is down stay pending; once central is up they arrive
//! exactly once; resending is harmless (duplicate); a record altered under
//! the same ID is refused as a conflict and shown rejected on the laptop;
//! a record central finds invalid is rejected with its reason and a
//! correcting record goes through.

use std::path::Path;

use doorstep_core::ContentHash;
use doorstep_tests::{Output, Server, Store, args, free_port, run, temp_dir};
use serde_json::{Value, json};

fn sync(store: &Store, url: &str, extra: &[&str]) -> Output {
    let mut a: Vec<&str> = vec!["--server", url, "--json", "--no-progress"];
    a.extend_from_slice(extra);
    store.field("sync", &a)
}

fn central_status(dir: &Path) -> Value {
    let out = run(args![
        "--lang",
        "en",
        "central",
        "status",
        "--data-dir",
        dir,
        "--json"
    ]);
    out.assert_success();
    out.json()
}

fn rw(store: &Store) -> rusqlite::Connection {
    rusqlite::Connection::open(store.db()).unwrap()
}

#[test]
fn records_enrolled_offline_reach_central_exactly_once() {
    let store = Store::new();
    let file = store.file("1000.ndjson");
    doorstep_tests::gen_records(&store.dir, 1_000, 3, &file);
    store.enroll(&file).assert_success();

    // Central is down: the sync fails, every record stays pending.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let down = sync(&store, &url, &["--retries", "1", "--max-backoff", "1"]);
    down.assert_code(1);
    let report = down.json();
    assert_eq!(report["records_sent"], 0, "{report}");
    assert_eq!(report["outbox_after"], 1_000, "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("cannot reach"),
        "{report}"
    );
    let st = store.status();
    assert_eq!(st["by_status"]["pending"], 1_000, "{st}");
    let log = store.field("sync-log", &["--json"]);
    log.assert_success();
    assert!(
        log.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "batch_failed"),
        "the failure is in the sync log"
    );

    // Central comes up: everything arrives, once.
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central(&central_dir, port);
    let up = sync(&store, &central.url, &[]);
    up.assert_success();
    let report = up.json();
    assert_eq!(report["accepted"], 1_000, "{report}");
    assert_eq!(report["confirmed"], 1_000, "{report}");
    assert_eq!(report["outbox_after"], 0, "{report}");
    let st = store.status();
    assert_eq!(st["by_status"]["confirmed"], 1_000, "{st}");
    assert_eq!(st["outbox"], 0, "{st}");
    let cs = central_status(&central_dir);
    assert_eq!(cs["records"], 1_000, "{cs}");
    let device = &cs["devices"][0];
    assert_eq!(device["contiguous_seq"], 1_000, "{cs}");
    assert_eq!(device["gaps"], json!([]), "{cs}");
    assert_eq!(device["name"], "Tổ 3 - CA Thuận Giao", "{cs}");

    // Sync again: nothing to send.
    let again = sync(&store, &central.url, &[]);
    again.assert_success();
    assert_eq!(again.json()["records_sent"], 0);
    assert_eq!(central_status(&central_dir)["records"], 1_000);

    // The same records sent again (the laptop lost its acknowledgements):
    // all duplicate, nothing new at central, all confirmed again.
    rw(&store)
        .execute("UPDATE records SET status = 'pending'", [])
        .unwrap();
    let resent = sync(&store, &central.url, &[]);
    resent.assert_success();
    let report = resent.json();
    assert_eq!(report["duplicate"], 1_000, "{report}");
    assert_eq!(report["accepted"], 0, "{report}");
    assert_eq!(store.status()["by_status"]["confirmed"], 1_000);
    let cs = central_status(&central_dir);
    assert_eq!(cs["records"], 1_000, "{cs}");
    assert_eq!(cs["outcomes"]["duplicate"], 1_000, "{cs}");
    // Every session that sent a batch is logged (the one with nothing to send never called).
    assert_eq!(cs["sessions_total"], 2, "{cs}");
}

#[test]
fn the_same_batch_replayed_is_all_duplicate() {
    let store = Store::new();
    let file = store.file("20.ndjson");
    doorstep_tests::gen_records(&store.dir, 20, 5, &file);
    store.enroll(&file).assert_success();
    let tmp = temp_dir();
    let central = Server::central(&tmp.path().join("central"), 0);

    // A batch made by hand from the stored records, posted twice.
    let conn = rw(&store);
    let records: Vec<String> = doorstep_tests::stored_canonical(&store.dir)
        .into_iter()
        .map(|(_, _, canonical)| {
            format!(
                r#"{{"content_hash":"{}","record":{}}}"#,
                ContentHash::of(&canonical).to_hex(),
                String::from_utf8(canonical).unwrap()
            )
        })
        .collect();
    let device: String = conn
        .query_row("SELECT device_id FROM device", [], |r| r.get(0))
        .unwrap();
    let body = format!(
        r#"{{"protocol":1,"batch_id":"019a4f6e-3c21-7d4b-8e5f-00000000000b","session_id":"019a4f6e-3c21-7d4b-8e5f-00000000000c","sender":{{"node_id":"{device}","role":"field","client_version":"test"}},"records":[{}]}}"#,
        records.join(",")
    );
    let client = reqwest::blocking::Client::new();
    let post = || -> Value {
        let resp = client
            .post(format!("{}/v1/batches", central.url))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().unwrap()
    };
    let first = post();
    assert_eq!(first["counts"]["accepted"], 20, "{first}");
    let replay = post();
    assert_eq!(replay["counts"]["duplicate"], 20, "{replay}");
    assert_eq!(replay["counts"]["accepted"], 0, "{replay}");
    for line in replay["records"].as_array().unwrap() {
        assert_eq!(line["outcome"], "duplicate", "{line}");
    }
    assert_eq!(central_status(&central.data_dir)["records"], 20);
    let metrics = client
        .get(format!("{}/metrics", central.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(r#"doorstep_records_total{outcome="duplicate"} 20"#),
        "{metrics}"
    );
    assert!(metrics.contains("doorstep_batches_total 2"), "{metrics}");
    let health: Value = client
        .get(format!("{}/healthz", central.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["role"], "central", "{health}");

    // Bad input never gives a 500: every error is a problem document.
    for (ctype, encoding, body) in [
        ("application/json", None, "{not json".to_owned()),
        ("text/plain", None, body.clone()),
        ("application/json", Some("zstd"), "not zstd".to_owned()),
        ("application/json", Some("br"), body.clone()),
    ] {
        let mut req = client
            .post(format!("{}/v1/batches", central.url))
            .header("content-type", ctype)
            .body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "status {status}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "status {status}"
        );
        let problem: Value = resp.json().unwrap();
        assert!(problem["code"].is_string(), "{problem}");
    }
}

#[test]
fn a_record_altered_under_the_same_id_is_a_conflict_shown_rejected() {
    let store = Store::new();
    let file = store.file("5.ndjson");
    doorstep_tests::gen_records(&store.dir, 5, 9, &file);
    store.enroll(&file).assert_success();
    let tmp = temp_dir();
    let central = Server::central(&tmp.path().join("central"), 0);
    sync(&store, &central.url, &[]).assert_success();

    // Someone changes record #2 in the laptop's file, keeping its ID.
    let (_, id, canonical) = doorstep_tests::stored_canonical(&store.dir).remove(1);
    let conn = rw(&store);
    let mut doc: Value = serde_json::from_slice(&canonical).unwrap();
    doc["body"]["citizen"]["full_name"] = json!("Trần Văn Đổi");
    let altered = doorstep_core::canonical::encode_record(
        &doorstep_core::canonical::decode_record(&jcs(&doc)).unwrap(),
    );
    let hash = ContentHash::of(&altered);
    conn.execute(
        "UPDATE records SET canonical = ?2, content_hash = ?3, status = 'pending', protected = 0 WHERE record_id = ?1",
        rusqlite::params![id, altered, hash.0.as_slice()],
    )
    .unwrap();

    let out = sync(&store, &central.url, &[]);
    out.assert_success(); // the queue is empty: the record is answered, refused
    let report = out.json();
    assert_eq!(report["conflict"], 1, "{report}");
    assert_eq!(report["rejected"], 1, "{report}");
    let rejected = store.field("list", &["--status", "rejected", "--json"]);
    rejected.assert_success();
    let rejected = rejected.json();
    let rec = &rejected.as_array().unwrap()[0];
    assert_eq!(rec["record_id"], id.as_str(), "{rec}");
    assert_eq!(rec["reject_code"], "conflict.record_id", "{rec}");
    assert!(
        rec["reject_reason"]
            .as_str()
            .unwrap()
            .contains("another content"),
        "{rec}"
    );
    assert!(
        rec["reject_reason_vi"]
            .as_str()
            .unwrap()
            .contains("nội dung khác")
    );
    // Shown in the table too, with the reason.
    let table = store.field("list", &["--status", "rejected"]);
    table.assert_success();
    assert!(
        table.stdout.contains("conflict.record_id"),
        "{}",
        table.stdout
    );
    let cs = central_status(&central.data_dir);
    assert_eq!(cs["records"], 5, "{cs}");
    assert_eq!(cs["refused_conflict"], 1, "{cs}");
}

#[test]
fn a_record_central_finds_invalid_is_rejected_and_its_correction_goes_through() {
    // The laptop knows communes; this central only the 63 provinces, so a
    // commune code is invalid there.
    let store = Store::new();
    let tmp = temp_dir();
    let central = Server::central_with_units(&tmp.path().join("central"), 0, None);
    let mut rec = store.records(1, 21).remove(0);
    rec["visit"]["unit_code"] = json!("25972");
    let input = store.write("one.json", rec.to_string());
    let enrolled = store.enroll(&input);
    enrolled.assert_success();
    let first_id = enrolled.stdout.trim().to_owned();

    let out = sync(&store, &central.url, &[]);
    out.assert_success();
    let report = out.json();
    assert_eq!(report["invalid"], 1, "{report}");
    let list = store.list();
    assert_eq!(list[0]["status"], "rejected", "{list:?}");
    assert_eq!(list[0]["reject_code"], "record.invalid");
    assert!(
        list[0]["reject_reason"]
            .as_str()
            .unwrap()
            .contains("$.visit.unit_code"),
        "{list:?}"
    );
    // The Vietnamese table names the reason for the officer.
    let vi = run(args![
        "field",
        "list",
        "--data-dir",
        &store.dir,
        "--status",
        "rejected"
    ]);
    vi.assert_success();
    assert!(vi.stdout.contains("record.invalid"), "{}", vi.stdout);
    assert!(
        vi.stdout.contains("không có trong danh mục đã nạp"),
        "{}",
        vi.stdout
    );

    // The correction: province codes only, superseding the refused record.
    for path in ["/visit/unit_code", "/citizen/permanent_address/unit_code"] {
        *rec.pointer_mut(path).unwrap() = json!("74");
    }
    if rec["citizen"]["current_address"].is_object() {
        rec["citizen"]["current_address"]["unit_code"] = json!("74");
    }
    rec["supersedes"] = json!(first_id);
    let fix = store.write("fix.json", rec.to_string());
    store.enroll(&fix).assert_success();
    let out = sync(&store, &central.url, &[]);
    out.assert_success();
    let report = out.json();
    assert_eq!(report["accepted"], 1, "{report}");
    let list = store.list();
    assert_eq!(list[1]["status"], "confirmed", "{list:?}");
    assert_eq!(list[1]["supersedes"], first_id.as_str());
    let cs = central_status(&central.data_dir);
    assert_eq!(cs["records"], 1, "{cs}");
    assert_eq!(cs["refused_invalid"], 1, "{cs}");
    // The refused number counts as seen: no gap at central.
    assert_eq!(cs["devices"][0]["contiguous_seq"], 2, "{cs}");
    assert_eq!(cs["devices"][0]["gaps"], json!([]), "{cs}");
}

/// RFC 8785 bytes of a JSON value (through the core's writer).
fn jcs(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    doorstep_core::canonical::write_jcs(v, &mut out).unwrap();
    out
}
