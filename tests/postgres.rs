#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Central on PostgreSQL with real processes: two `central serve` ingest
//! nodes on one database act as one central. Provisioned laptops sync
//! concurrently, each round to the other node; at the end every record is
//! held exactly once, every device is gap-free, both nodes show the same
//! signed log, laptops (witnesses of the log through both nodes) raised no
//! alarm, and `audit verify --database` accepts the whole log. Worklists
//! too: a roster imported and a laptop assigned against the database, the
//! laptop's `field sync` brings its worklist down from either node, and the
//! coverage report adds up, from a node and from the database.

use std::ffi::OsString;
use std::path::Path;

use doorstep_tests::pg::PgSchema;
use doorstep_tests::{Server, args, cli, init_laptop, temp_dir};
use serde_json::Value;

const LAPTOPS: usize = 6;
const PER_ROUND: u64 = 120;

fn central_cmd(sub: &str, keys: &Path, url: &str, rest: &[&str]) -> Value {
    let mut a: Vec<OsString> = vec!["central".into(), sub.into(), "--data-dir".into()];
    a.push(keys.into());
    a.push("--database".into());
    a.push(url.into());
    a.extend(rest.iter().map(Into::into));
    let out = cli(a);
    out.assert_success();
    out.json()
}

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
        "--batch-size",
        "25",
        "--json",
        "--no-progress"
    ]);
    doorstep_tests::assert_no_panic(&out);
    out.assert_success();
    out.json()
}

fn tree_head(url: &str) -> Value {
    reqwest::blocking::get(format!("{url}/v1/log/tree-head"))
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn two_ingest_nodes_on_one_postgres_hold_every_record_exactly_once() {
    let Some(db) = PgSchema::create("two_ingest_nodes_on_one_postgres") else {
        return;
    };
    let tmp = temp_dir();
    // Both nodes share the key files (as every ingest node is given them).
    let keys = tmp.path().join("keys");
    let a = Server::central_postgres(&keys, &db.url, 0);
    let b = Server::central_postgres(&keys, &db.url, 0);
    let nodes = [&a.url, &b.url];

    let laptops: Vec<_> = (0..LAPTOPS)
        .map(|i| {
            let token = central_cmd(
                "provision",
                &keys,
                &db.url,
                &["--unit", "74", "--name", &format!("Tổ {i}"), "--json"],
            )["token"]
                .as_str()
                .unwrap()
                .to_owned();
            let dir = tmp.path().join(format!("laptop{i}"));
            init_laptop(&dir, Some((nodes[i % 2], &token)));
            dir
        })
        .collect();

    // Two rounds: enroll, then every laptop syncs at once, each round to
    // the other node.
    for round in 0..2u64 {
        for (i, dir) in laptops.iter().enumerate() {
            enroll(dir, PER_ROUND, 100 * round + i as u64 + 1);
        }
        let reports: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = laptops
                .iter()
                .enumerate()
                .map(|(i, dir)| {
                    let node = nodes[(i + round as usize) % 2];
                    s.spawn(move || sync(dir, node))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &reports {
            assert_eq!(r["accepted"], PER_ROUND, "{r}");
            assert_eq!(r["confirmed"], PER_ROUND, "{r}");
            assert_eq!(r["log_alarm"], false, "{r}");
            assert!(r["error"].is_null(), "{r}");
        }
    }

    // A laptop asking the other node again: nothing left to send.
    let again = sync(&laptops[0], nodes[1]);
    assert_eq!(again["records_sent"], 0, "{again}");

    // Exactly once, gap-free, whichever node took the batches.
    let total = (LAPTOPS as u64) * 2 * PER_ROUND;
    assert_eq!(db.count("SELECT COUNT(*) FROM records"), total as i64);
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT (device_id, device_seq)) FROM records"),
        total as i64
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM refusals"), 0);
    let status = central_cmd("status", &keys, &db.url, &["--json"]);
    assert_eq!(status["records"], total);
    let devices = status["devices"].as_array().unwrap();
    assert_eq!(devices.len(), LAPTOPS);
    for d in devices {
        assert_eq!(d["contiguous_seq"], 2 * PER_ROUND, "{d}");
        assert_eq!(d["gaps"], serde_json::json!([]), "{d}");
    }

    // One log: both nodes serve the same signed head, and it is whole.
    let (head_a, head_b) = (tree_head(&a.url), tree_head(&b.url));
    assert_eq!(head_a, head_b);
    let batches = db.count("SELECT COUNT(*) FROM log_entries");
    assert_eq!(head_a["tree_head"]["tree_size"], batches);
    assert!(batches >= (2 * LAPTOPS * (PER_ROUND as usize) / 25) as i64);
    let out = cli(args!["audit", "verify", "--database", &db.url, "--json"]);
    out.assert_success();
    let report = out.json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["report"]["records"], total);

    // Each laptop agrees with central, asked through either node.
    for (i, dir) in laptops.iter().enumerate() {
        let out = cli(args![
            "audit",
            "reconcile",
            "--data-dir",
            dir,
            "--server",
            nodes[(i + 1) % 2],
            "--json"
        ]);
        out.assert_success();
    }
}

#[test]
fn a_central_in_postgres_refuses_the_wrong_key_files() {
    let Some(db) = PgSchema::create("wrong_key_files") else {
        return;
    };
    let tmp = temp_dir();
    let keys = tmp.path().join("keys");
    drop(Server::central_postgres(&keys, &db.url, 0));
    // A node given another data directory's keys must not sign this log.
    let other = tmp.path().join("other");
    let out = cli(args![
        "central",
        "serve",
        "--data-dir",
        &other,
        "--database",
        &db.url,
        "--listen",
        "127.0.0.1:0"
    ]);
    out.assert_code(2);
    out.assert_stderr_contains("log-signing.key");
    // An empty database is not a central to report on.
    let Some(empty) = PgSchema::create("wrong_key_files (empty)") else {
        return;
    };
    let out = cli(args![
        "central",
        "status",
        "--data-dir",
        &keys,
        "--database",
        &empty.url
    ]);
    out.assert_code(2);
    out.assert_stderr_contains("no central in the PostgreSQL database");
}

const ROSTER: &str = "\
personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs
074190001357,Trần Thị Mai,1990-03-08,female,25972,\"Tổ 5, khu phố 1\",HK-01,card;eid_registration
074085001234,Nguyễn Văn Hùng,1985-06-01,male,25972,Tổ 6,HK-02,eid_activation
074185004321,Lê Thị Hoa,1985-09-09,female,25975,Tổ 1,HK-07,card
";

/// `doorstep ARGS… --data-dir KEYS --database URL`.
fn on_database(a: &[&str], keys: &Path, url: &str) -> doorstep_tests::Output {
    let mut full: Vec<OsString> = a.iter().map(Into::into).collect();
    full.extend(["--data-dir".into(), keys.into(), "--database".into()]);
    full.push(url.into());
    cli(full)
}

fn worklist_sync(laptop: &Path, url: &str) -> Value {
    let out = cli(args![
        "field",
        "sync",
        "--data-dir",
        laptop,
        "--server",
        url,
        "--json",
        "--no-progress"
    ]);
    doorstep_tests::assert_no_panic(&out);
    out.assert_success();
    out.json()
}

#[test]
fn a_roster_in_postgres_comes_down_to_the_assigned_laptop() {
    let Some(db) = PgSchema::create("worklists_on_postgres") else {
        return;
    };
    let tmp = temp_dir();
    let keys = tmp.path().join("keys");
    let a = Server::central_postgres(&keys, &db.url, 0);
    let b = Server::central_postgres(&keys, &db.url, 0);
    let token = central_cmd(
        "provision",
        &keys,
        &db.url,
        &["--unit", "74", "--name", "Tổ 1", "--json"],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let laptop = tmp.path().join("laptop");
    let device = init_laptop(&laptop, Some((&a.url, &token)));

    let roster = tmp.path().join("roster.csv");
    std::fs::write(&roster, ROSTER).unwrap();
    let out = on_database(
        &[
            "central",
            "roster",
            "import",
            roster.to_str().unwrap(),
            "--json",
        ],
        &keys,
        &db.url,
    );
    out.assert_success();
    let imported = out.json();
    assert_eq!(
        (imported["residents"].as_u64(), imported["added"].as_u64()),
        (Some(3), Some(3)),
        "{imported}"
    );
    assert_eq!(db.count("SELECT count(*) FROM roster"), 3);

    // The same checks as the embedded store: a unit outside the one the
    // laptop was provisioned for is refused (exit 2), and nothing changes.
    let out = on_database(
        &["central", "assign", "--device", &device, "--units", "79"],
        &keys,
        &db.url,
    );
    out.assert_code(2)
        .assert_stderr_contains("outside the unit");
    let out = on_database(
        &[
            "central", "assign", "--device", &device, "--units", "25972", "--json",
        ],
        &keys,
        &db.url,
    );
    out.assert_success();
    assert_eq!(out.json()["units"], serde_json::json!(["25972"]));
    let out = on_database(&["central", "assign", "--list", "--json"], &keys, &db.url);
    out.assert_success();
    let lines = out.json();
    assert_eq!(lines[0]["device_id"], device.as_str(), "{lines}");
    assert_eq!(lines[0]["people"], 2, "{lines}");

    // The assigned unit's two people come down, through node A.
    let synced = worklist_sync(&laptop, &a.url);
    let w = &synced["worklist"];
    assert_eq!(
        (w["people"].as_u64(), w["full"].as_bool()),
        (Some(2), Some(true)),
        "{synced}"
    );

    // A visit's outcome goes up through node B; central's view comes back.
    cli(args![
        "field",
        "visit",
        "--data-dir",
        &laptop,
        "--person",
        "074190001357",
        "--outcome",
        "not_home",
        "--officer",
        "CA-74-0012"
    ])
    .assert_success();
    let synced = worklist_sync(&laptop, &b.url);
    assert_eq!(synced["accepted"], 1, "{synced}");
    assert_eq!(synced["worklist"]["full"], false, "{synced}");
    let out = cli(args!["field", "worklist", "--data-dir", &laptop, "--json"]);
    out.assert_success();
    let list = out.json();
    let mai = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["personal_id"] == "074190001357")
        .unwrap();
    assert_eq!(
        (mai["reason"].as_str(), mai["visits"].as_u64()),
        (Some("not_home"), Some(1)),
        "{mai}"
    );
    assert_eq!(db.count("SELECT count(*) FROM person_events"), 1);

    // Coverage from a node (aggregates) and from the database (people).
    let out = cli(args!["report", "coverage", "--server", &a.url, "--json"]);
    out.assert_success();
    let report = out.json();
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit_code"] == "25972")
        .unwrap_or_else(|| panic!("no row for 25972: {report}"));
    assert_eq!(
        (
            row["eligible"].as_u64(),
            row["reached"].as_u64(),
            row["remaining"].as_u64()
        ),
        (Some(2), Some(1), Some(2)),
        "{row}"
    );
    assert_eq!(row["remaining_by_reason"]["not_home"], 1, "{row}");
    assert!(
        report.get("remaining").is_none(),
        "people never go over HTTP"
    );
    let out = on_database(
        &[
            "report",
            "coverage",
            "--unit",
            "25972",
            "--remaining",
            "--json",
        ],
        &keys,
        &db.url,
    );
    out.assert_success();
    let report = out.json();
    let remaining = report["remaining"].as_array().unwrap();
    assert_eq!(remaining.len(), 2, "{report}");
    assert_eq!(
        remaining[0]["full_name"], "Trần Thị Mai",
        "sorted by household: {report}"
    );
}
