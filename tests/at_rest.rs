#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Citizen data at rest and in transit, with real processes: provisioned
//! laptops enroll generated records through a registered station into
//! central; no citizen's name or ID number can be found in the laptop's or
//! the station's database files (write-ahead logs included) — only central
//! holds them. A wrong passphrase reads nothing; after the retention period
//! the laptop keeps only IDs, hashes and receipts.

use std::path::Path;
use std::time::{Duration, Instant};

use doorstep_tests::{Server, args, cli, provision_token as token, temp_dir};
use serde_json::Value;

/// Names and ID numbers of the generated records in `file` (NDJSON).
fn citizens(file: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["citizen"]["full_name"].as_str().unwrap().to_owned(),
                v["citizen"]["personal_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every citizen name or ID number found in the SQLite files of `db`
/// (the database, its write-ahead log and shared memory, when present).
fn found_in(db: &Path, who: &[(String, String)]) -> Vec<String> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        if let Ok(b) = std::fs::read(&path) {
            bytes.extend_from_slice(&b);
        }
    }
    assert!(!bytes.is_empty(), "{} holds nothing", db.display());
    let has = |needle: &str| memchr::memmem::find(&bytes, needle.as_bytes()).is_some();
    who.iter()
        .flat_map(|(name, id)| [name.clone(), id.clone()])
        .filter(|s| has(s))
        .collect()
}

/// `doorstep ARGS…` with another passphrase than the tests' own.
fn with_passphrase(passphrase: &str, a: Vec<std::ffi::OsString>) -> std::process::Output {
    let mut cmd = doorstep_tests::doorstep();
    cmd.env("DOORSTEP_PASSPHRASE", passphrase).args(a);
    cmd.output().unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn no_citizen_data_is_readable_on_the_laptop_or_the_station() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let station_dir = tmp.path().join("station");
    let station_id = doorstep_tests::register_station(&central.url, &central_dir, &station_dir);
    let station = Server::station(&station_dir, &central.url, 0);

    let laptop = tmp.path().join("laptop");
    doorstep_tests::init_laptop(
        &laptop,
        Some((
            &central.url,
            &token(&central_dir, "field", Some(&station_id)),
        )),
    );
    let file = tmp.path().join("records.ndjson");
    doorstep_tests::gen_records(&laptop, 300, 11, &file);
    let who = citizens(&file);
    cli(args!["field", "enroll", "--data-dir", &laptop, &file]).assert_success();

    let laptop_db = laptop.join("field.sqlite3");
    assert_eq!(found_in(&laptop_db, &who), Vec::<String>::new());

    // The officer with the passphrase sees them; a wrong passphrase reads
    // nothing and says so.
    let listed = cli(args!["field", "list", "--data-dir", &laptop, "--json"]);
    listed.assert_success();
    assert!(
        listed.stdout.contains(&who[0].0),
        "the right passphrase reads"
    );
    let out = with_passphrase(
        "not the passphrase",
        args!["--lang", "en", "field", "list", "--data-dir", &laptop],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = with_passphrase(
        "sai mật khẩu rồi",
        args!["field", "list", "--data-dir", &laptop],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mật khẩu không đúng"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Through the station (which cannot open what it relays) to central.
    let report = cli(args![
        "field",
        "sync",
        "--data-dir",
        &laptop,
        "--server",
        &station.url,
        "--json",
        "--no-progress"
    ]);
    report.assert_success();
    assert_eq!(report.json()["held"], 300, "{}", report.stdout);
    let station_db = station_dir.join("central.sqlite3");
    let central_db = central_dir.join("central.sqlite3");
    let start = Instant::now();
    while count(&central_db, "SELECT COUNT(*) FROM records") < 300 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the station never forwarded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The station is still running: its write-ahead log is live.
    assert_eq!(found_in(&station_db, &who), Vec::<String>::new());
    assert_eq!(
        count(&station_db, "SELECT COUNT(*) FROM records WHERE sealed = 1"),
        300
    );
    // Central opened every record: the search itself finds what is there.
    assert_eq!(found_in(&central_db, &who).len(), 2 * who.len());

    let report = cli(args![
        "field",
        "sync",
        "--data-dir",
        &laptop,
        "--server",
        &station.url,
        "--json",
        "--no-progress"
    ]);
    assert_eq!(report.json()["held_after"], 0, "{}", report.stdout);
    assert_eq!(found_in(&laptop_db, &who), Vec::<String>::new());

    // Retention: nothing is purged before its time (7 days by default) …
    let kept = cli(args!["field", "purge", "--data-dir", &laptop, "--json"]);
    kept.assert_success();
    assert_eq!(kept.json()["purged"], 0);
    // … and with a period of 0 days every confirmed record's citizen data goes.
    let purged = cli(args![
        "field",
        "purge",
        "--data-dir",
        &laptop,
        "--retention-days",
        "0",
        "--json"
    ]);
    purged.assert_success();
    assert_eq!(purged.json()["purged"], 300);
    let listed = cli(args!["field", "list", "--data-dir", &laptop, "--json"]).json();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r["full_name"].is_null()
        && r["purged_at"].is_string()
        && r["status"] == "confirmed"));
    assert_eq!(
        count(
            &laptop_db,
            "SELECT COUNT(*) FROM records WHERE length(canonical) = 0 AND sealed IS NULL"
        ),
        300
    );
    // The journal still verifies, with the purge in it.
    let verify = cli(args!["audit", "verify", "--data-dir", &laptop, "--json"]);
    verify.assert_success();
    assert_eq!(
        count(
            &laptop_db,
            "SELECT COUNT(*) FROM journal WHERE event = 'purged'"
        ),
        1
    );
}

#[test]
fn the_passphrase_can_be_changed_and_the_old_one_stops_working() {
    let tmp = temp_dir();
    let laptop = tmp.path().join("laptop");
    doorstep_tests::init_laptop(&laptop, None);
    let file = tmp.path().join("records.ndjson");
    doorstep_tests::gen_records(&laptop, 5, 3, &file);
    cli(args!["field", "enroll", "--data-dir", &laptop, &file]).assert_success();

    // With DOORSTEP_PASSPHRASE set, the new one must come the same way.
    let half = cli(args!["field", "passphrase", "--data-dir", &laptop]);
    half.assert_code(2);
    half.assert_stderr_contains("DOORSTEP_NEW_PASSPHRASE");
    let mut cmd = doorstep_tests::doorstep();
    cmd.env("DOORSTEP_NEW_PASSPHRASE", "một mật khẩu mới hơn")
        .args(args![
            "--lang",
            "en",
            "field",
            "passphrase",
            "--data-dir",
            &laptop
        ]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let old = cli(args!["field", "list", "--data-dir", &laptop]);
    old.assert_code(2);
    old.assert_stderr_contains("wrong passphrase");
    let out = with_passphrase(
        "một mật khẩu mới hơn",
        args![
            "--lang",
            "en",
            "field",
            "list",
            "--data-dir",
            &laptop,
            "--json"
        ],
    );
    assert!(out.status.success());
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 5);
    // Too short a passphrase is refused when one is set.
    let out = with_passphrase(
        "short",
        args![
            "--lang",
            "en",
            "field",
            "init",
            "--data-dir",
            tmp.path().join("x"),
            "--unit",
            "74",
            "--device-name",
            "x"
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("too short"));
}
