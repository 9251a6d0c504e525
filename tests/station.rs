#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Store-and-forward through a commune station, with real processes:
//! three laptops → station (two over HTTP, one by bundle file) → central.
//! Central is down for the first part of the run; the station is SIGKILLed
//! while it forwards and restarted. At the end central holds every record
//! exactly once, relayed by the station, gap-free per device, and each
//! laptop sees all its records confirmed (pending → held → confirmed).

use std::path::Path;
use std::time::{Duration, Instant};

use doorstep_tests::{Output, Server, Store, args, free_port, run, temp_dir};
use serde_json::{Value, json};

const PER_LAPTOP: u64 = 3_000;
/// Bound on waits (a hang fails the test instead of blocking CI).
const PATIENCE: Duration = Duration::from_secs(300);

fn sync(store: &Store, url: &str) -> Value {
    let out: Output = store.field(
        "sync",
        &[
            "--server",
            url,
            "--json",
            "--no-progress",
            "--retries",
            "2",
            "--max-backoff",
            "1",
        ],
    );
    out.assert_success();
    out.json()
}

fn count(db: &Path, sql: &str) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    let _ = conn.busy_timeout(Duration::from_millis(500));
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn laptop(seed: u64) -> Store {
    let store = Store::new();
    let file = store.file("records.ndjson");
    doorstep_tests::gen_records(&store.dir, PER_LAPTOP, seed, &file);
    store.enroll(&file).assert_success();
    store
}

#[test]
fn three_laptops_through_a_station_reach_central_exactly_once() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let station_dir = tmp.path().join("station");
    let central_port = free_port();
    let central_url = format!("http://127.0.0.1:{central_port}");
    let central_db = central_dir.join("central.sqlite3");

    // Central is down; the station takes the laptops' work anyway.
    let mut station = Server::station(&station_dir, &central_url, 0);
    let a = laptop(101);
    let b = laptop(102);
    for l in [&a, &b] {
        let r = sync(l, &station.url);
        assert_eq!(r["accepted"], PER_LAPTOP, "{r}");
        assert_eq!(r["held_after"], PER_LAPTOP, "{r}");
        assert_eq!(r["server_role"], "station", "{r}");
        let st = l.status();
        assert_eq!(st["by_status"]["held"], PER_LAPTOP, "{st}");
    }
    let held = a.list();
    assert!(held[0]["held_by"].is_string(), "{}", held[0]);

    // The third laptop has no network: a bundle file, imported twice.
    let c = laptop(103);
    let bundle = c.file("team3.dsbundle");
    c.field(
        "export",
        &[std::ffi::OsStr::new("--out"), bundle.as_os_str()],
    )
    .assert_success();
    for expected in ["accepted", "duplicate"] {
        let out = run(args![
            "--lang",
            "en",
            "station",
            "import",
            "--data-dir",
            &station_dir,
            &bundle,
            "--json"
        ]);
        out.assert_success();
        let doc = out.json();
        assert_eq!(doc["totals"][expected], PER_LAPTOP, "{doc}");
    }
    // A tampered copy is refused and imports nothing.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = c.file("tampered.dsbundle");
    std::fs::write(&tampered, &bytes).unwrap();
    let station_db = station_dir.join("central.sqlite3");
    let before = count(&station_db, "SELECT COUNT(*) FROM records");
    let refused = run(args![
        "--lang",
        "en",
        "station",
        "import",
        "--data-dir",
        &station_dir,
        &tampered
    ]);
    refused.assert_code(2);
    assert_eq!(count(&station_db, "SELECT COUNT(*) FROM records"), before);
    assert_eq!(before, 3 * PER_LAPTOP);

    // Central comes up; the station is killed while it forwards.
    let central = Server::central(&central_dir, central_port);
    wait_until("central to receive forwarded records", || {
        count(&central_db, "SELECT COUNT(*) FROM records") >= 500
    });
    station.kill();
    let at_kill = count(&central_db, "SELECT COUNT(*) FROM records");
    assert!(
        at_kill < 3 * PER_LAPTOP,
        "killed before the end ({at_kill})"
    );
    station.restart();
    wait_until("every record at central", || {
        count(&central_db, "SELECT COUNT(*) FROM records") >= 3 * PER_LAPTOP
    });

    // Each laptop learns central's answers through the station.
    for l in [&a, &b, &c] {
        let r = sync(l, &station.url);
        assert_eq!(r["pending_after"], 0, "{r}");
        assert_eq!(r["held_after"], 0, "{r}");
        let st = l.status();
        assert_eq!(st["by_status"]["confirmed"], PER_LAPTOP, "{st}");
        assert_eq!(st["outbox"], 0, "{st}");
    }

    // Central: exactly once, relayed by the station, gap-free per device.
    let out = run(args![
        "--lang",
        "en",
        "central",
        "status",
        "--data-dir",
        &central_dir,
        "--json"
    ]);
    out.assert_success();
    let cs = out.json();
    assert_eq!(cs["records"], 3 * PER_LAPTOP, "{cs}");
    assert_eq!(cs["devices"].as_array().unwrap().len(), 3, "{cs}");
    for d in cs["devices"].as_array().unwrap() {
        assert_eq!(d["contiguous_seq"], PER_LAPTOP, "{d}");
        assert_eq!(d["gaps"], json!([]), "{d}");
    }
    assert_eq!(cs["refused_conflict"], 0, "{cs}");
    assert_eq!(
        count(&central_db, "SELECT COUNT(DISTINCT record_id) FROM records"),
        3 * PER_LAPTOP
    );
    assert_eq!(
        count(
            &central_db,
            "SELECT COUNT(*) FROM records WHERE relayed_by IS NOT NULL"
        ),
        3 * PER_LAPTOP,
        "central knows which station relayed each record"
    );
    // The station witnessed central's log all along: its last checked head
    // is central's, no alarm; both audit logs recompute and match.
    assert!(
        count(
            &station_db,
            "SELECT COUNT(*) FROM upstream_heads WHERE tree_size > 0"
        ) == 1
    );
    assert_eq!(count(&station_db, "SELECT COUNT(*) FROM log_alarms"), 0);
    for dir in [&central_dir, &station_dir] {
        run(args!["--lang", "en", "audit", "verify", "--data-dir", dir]).assert_success();
    }
    drop(central);
    for db in [&central_db, &station_db] {
        let conn = rusqlite::Connection::open(db).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{}", db.display());
    }
}

#[test]
fn a_laptop_that_later_syncs_straight_to_central_learns_confirmations() {
    let tmp = temp_dir();
    let central = Server::central(&tmp.path().join("central"), 0);
    // A station whose upstream is down: it holds, never forwards.
    let station = Server::station(&tmp.path().join("station"), "http://127.0.0.1:9", 0);
    let l = laptop(104);
    sync(&l, &station.url);
    assert_eq!(l.status()["by_status"]["held"], PER_LAPTOP);
    // Straight to central: it does not hold them yet, so they are sent.
    let r = sync(&l, &central.url);
    assert_eq!(r["accepted"], PER_LAPTOP, "{r}");
    assert_eq!(r["server_role"], "central", "{r}");
    let st = l.status();
    assert_eq!(st["by_status"]["confirmed"], PER_LAPTOP, "{st}");
}

#[test]
fn the_merge_report_flags_the_same_citizen_from_two_laptops() {
    let tmp = temp_dir();
    let station = Server::station(&tmp.path().join("station"), "http://127.0.0.1:9", 0);
    let a = Store::new();
    let b = Store::new();
    let records = a.records(5, 77);
    let one = a.write("one.json", records[0].to_string());
    let rest = a.write("rest.ndjson", doorstep_tests::to_ndjson(&records[1..]));
    a.enroll(&one).assert_success();
    a.enroll(&rest).assert_success();
    let again = b.write("one.json", records[0].to_string());
    b.enroll(&again).assert_success();
    sync(&a, &station.url);
    sync(&b, &station.url);
    sync(&b, &station.url); // nothing new: no duplicates either

    let out = run(args![
        "--lang",
        "en",
        "station",
        "report",
        "--data-dir",
        &station.data_dir,
        "--json"
    ]);
    out.assert_success();
    let report = out.json();
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{report}");
    let received: Vec<u64> = devices
        .iter()
        .map(|d| d["received"].as_u64().unwrap())
        .collect();
    assert_eq!(received.iter().sum::<u64>(), 6, "{report}");
    for d in devices {
        assert_eq!(d["waiting"], d["received"], "upstream is down: {d}");
        assert_eq!(d["gaps"], json!([]), "{d}");
    }
    let same = report["same_citizen"].as_array().unwrap();
    assert_eq!(same.len(), 1, "{report}");
    assert_eq!(
        same[0]["personal_id"], records[0]["citizen"]["personal_id"],
        "{report}"
    );
    assert_eq!(
        same[0]["records"].as_array().unwrap().len(),
        2,
        "both kept: {report}"
    );
    let text = run(args!["station", "report", "--data-dir", &station.data_dir]);
    text.assert_success();
    assert!(text.stdout.contains("cần rà soát"), "{}", text.stdout);
}
