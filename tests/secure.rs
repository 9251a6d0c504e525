#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Central as deployed (only registered devices), with real processes: a
//! provisioned laptop signs its requests and records and they are
//! accepted; an unprovisioned laptop's unsigned requests and a revoked
//! laptop's requests are refused with the reason, their records kept
//! queued; a registered station relays its own laptops' signed records,
//! signing its own requests, and central verifies both.

use std::path::Path;
use std::time::{Duration, Instant};

use doorstep_tests::{
    Server, args, cli, init_laptop as laptop, provision_token as token, temp_dir,
};
use serde_json::Value;

fn enroll(dir: &Path, n: u64, seed: u64) {
    let file = dir.with_extension(format!("{seed}.ndjson"));
    doorstep_tests::gen_records(dir, n, seed, &file);
    cli(args!["field", "enroll", "--data-dir", dir, &file]).assert_success();
}

fn sync(dir: &Path, url: &str) -> Value {
    let out = cli(args![
        "field",
        "sync",
        "--data-dir",
        dir,
        "--server",
        url,
        "--json",
        "--no-progress",
        "--retries",
        "2",
        "--max-backoff",
        "1"
    ]);
    doorstep_tests::assert_no_panic(&out);
    out.json()
}

fn rejected_codes(dir: &Path) -> Vec<String> {
    let out = cli(args![
        "field",
        "list",
        "--data-dir",
        dir,
        "--status",
        "rejected",
        "--json"
    ]);
    out.assert_success();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reject_code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn only_registered_signed_in_scope_records_get_in() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);

    // A provisioned laptop: every record signed, verified, accepted.
    let a = tmp.path().join("a");
    laptop(
        &a,
        Some((&central.url, &token(&central_dir, "field", None))),
    );
    enroll(&a, 40, 1);
    let report = sync(&a, &central.url);
    assert_eq!(report["accepted"], 40, "{report}");
    assert_eq!(report["pending_after"], 0, "{report}");
    let central_db = central_dir.join("central.sqlite3");
    assert_eq!(
        count(&central_db, "SELECT COUNT(signature) FROM records"),
        40
    );

    // Laptop A pointed at another central (a look-alike, or a mistake):
    // its log is not the one A registered with, so nothing is sent.
    let elsewhere = Server::central(&tmp.path().join("other-central"), 0);
    enroll(&a, 2, 9);
    let report = sync(&a, &elsewhere.url);
    assert_eq!(report["log_alarm"], true, "{report}");
    assert_eq!(report["records_sent"], 0, "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("unexpected_log"),
        "{report}"
    );
    drop(elsewhere);
    let report = sync(&a, &central.url);
    assert_eq!(report["accepted"], 2, "{report}");

    // A laptop nobody provisioned: refused with the reason, nothing held.
    let b = tmp.path().join("b");
    laptop(&b, None);
    enroll(&b, 5, 2);
    let report = sync(&b, &central.url);
    assert_eq!(report["records_sent"], 0, "{report}");
    assert_eq!(report["pending_after"], 5, "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("not signed"), "{error}");

    // Laptop A is revoked (stolen): what it sends from now on is refused.
    let device_a =
        cli(args!["field", "status", "--data-dir", &a, "--json"]).json()["device"]["device_id"]
            .as_str()
            .unwrap()
            .to_owned();
    cli(args![
        "central",
        "revoke",
        "--data-dir",
        &central_dir,
        &device_a
    ])
    .assert_success();
    enroll(&a, 3, 3);
    let report = sync(&a, &central.url);
    assert_eq!(report["records_sent"], 0, "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("revoked"),
        "{report}"
    );
    assert!(rejected_codes(&a).is_empty(), "nothing of it was applied");
    assert_eq!(count(&central_db, "SELECT COUNT(*) FROM records"), 42);
}

#[test]
fn a_registered_station_relays_its_laptops_signed_records() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let station_dir = tmp.path().join("station");
    let station_id = doorstep_tests::register_station(&central.url, &central_dir, &station_dir);
    // Registering twice is refused.
    let again = cli(args![
        "station",
        "register",
        "--data-dir",
        &station_dir,
        "--server",
        &central.url,
        "--token",
        token(&central_dir, "station", None)
    ]);
    again.assert_code(2);

    let station = Server::station(&station_dir, &central.url, 0);
    let c = tmp.path().join("c");
    laptop(
        &c,
        Some((
            &central.url,
            &token(&central_dir, "field", Some(&station_id)),
        )),
    );
    enroll(&c, 30, 4);
    let report = sync(&c, &station.url);
    assert_eq!(report["held"], 30, "{report}");

    // The station forwards; central verifies each laptop signature.
    let central_db = central_dir.join("central.sqlite3");
    let start = Instant::now();
    while count(&central_db, "SELECT COUNT(*) FROM records") < 30 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the station never forwarded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        count(
            &central_db,
            &format!(
                "SELECT COUNT(*) FROM records WHERE relayed_by = '{station_id}' AND signature IS NOT NULL"
            )
        ),
        30
    );
    // The laptop learns central's answers through the station.
    let report = sync(&c, &station.url);
    assert_eq!(report["held_after"], 0, "{report}");
    assert_eq!(
        cli(args!["field", "status", "--data-dir", &c, "--json"]).json()["by_status"]["confirmed"],
        30
    );
}
