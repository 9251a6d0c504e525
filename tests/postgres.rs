#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Central on PostgreSQL with real processes: two `central serve` ingest
//! nodes on one database act as one central. Provisioned laptops sync
//! concurrently, each round to the other node; at the end every record is
//! held exactly once, every device is gap-free, both nodes show the same
//! signed log, laptops (witnesses of the log through both nodes) raised no
//! alarm, and `audit verify --database` accepts the whole log.

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
