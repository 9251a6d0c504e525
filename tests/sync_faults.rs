#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Exactly once through crashes: central is SIGKILLed while it ingests
//! 20,000 records and restarted; the sync client is SIGKILLed mid-sync and
//! run again. At the end central holds exactly 20,000 records, gap-free for
//! the device, each once; both SQLite files pass `integrity_check`; the
//! laptop shows every record confirmed.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use doorstep_tests::{Server, Store, args, doorstep, free_port, run, temp_dir, wait_with_deadline};
use serde_json::{Value, json};

const N: u64 = 20_000;
/// Longest wait for a condition before the test fails (never a timing
/// assertion: only a bound so a hang fails instead of blocking CI).
const PATIENCE: Duration = Duration::from_secs(300);

fn central_count(dir: &Path) -> u64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        dir.join("central.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    let _ = conn.busy_timeout(Duration::from_millis(200));
    conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails with what the process printed if it has already exited.
fn assert_still_running(child: &mut Child, what: &str) {
    if let Ok(Some(status)) = child.try_wait() {
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut s, &mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut s, &mut err);
        }
        panic!("{what} ended early ({status}):\n--- stdout ---\n{out}\n--- stderr ---\n{err}");
    }
}

fn spawn_sync(store: &Store, url: &str) -> Child {
    doorstep()
        .args(args![
            "--lang",
            "en",
            "field",
            "sync",
            "--data-dir",
            &store.dir,
            "--server",
            url,
            "--batch-size",
            "500",
            "--retries",
            "30",
            "--max-backoff",
            "1",
            "--json",
            "--no-progress"
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start field sync")
}

#[test]
fn central_and_client_killed_mid_sync_still_deliver_exactly_once() {
    let store = Store::new();
    let file = store.file("20k.ndjson");
    doorstep_tests::gen_records(&store.dir, N, 17, &file);
    store.enroll(&file).assert_success();
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let mut central = Server::central(&central_dir, free_port());

    // 1. Central dies while it ingests; it comes back on the same port and
    //    the client, retrying, goes on.
    let mut client = spawn_sync(&store, &central.url);
    wait_until("central to hold some records", || {
        central_count(&central_dir) >= 1_000
    });
    central.kill();
    let held_at_kill = central_count(&central_dir);
    std::thread::sleep(Duration::from_millis(300));
    central.restart();

    // 2. The client dies mid-sync.
    wait_until("more records after the restart", || {
        assert_still_running(&mut client, "field sync (while central restarted)");
        central_count(&central_dir) >= held_at_kill + 2_000
    });
    client.kill().unwrap();
    let status = client.wait().unwrap();
    assert!(!status.success(), "the client was killed: {status:?}");
    let held_at_client_kill = central_count(&central_dir);
    assert!(
        held_at_client_kill < N,
        "the kill came before the end ({held_at_client_kill})"
    );

    // 3. A new run finishes the job.
    let mut rerun = spawn_sync(&store, &central.url);
    let status = wait_with_deadline(&mut rerun, "field sync (rerun)");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut rerun.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "rerun failed: {status:?} {out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["outbox_after"], 0, "{report}");

    // Central: exactly N, each once, gap-free.
    let cs = run(args![
        "--lang",
        "en",
        "central",
        "status",
        "--data-dir",
        &central_dir,
        "--json"
    ]);
    cs.assert_success();
    let cs = cs.json();
    assert_eq!(cs["records"], N, "{cs}");
    let device = &cs["devices"][0];
    assert_eq!(device["contiguous_seq"], N, "{cs}");
    assert_eq!(device["max_seq"], N, "{cs}");
    assert_eq!(device["gaps"], json!([]), "{cs}");
    assert_eq!(cs["refused_conflict"], 0, "{cs}");
    assert_eq!(cs["refused_invalid"], 0, "{cs}");
    central.kill();
    let conn = rusqlite::Connection::open(central_dir.join("central.sqlite3")).unwrap();
    let (rows, ids, seqs): (i64, i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT record_id), COUNT(DISTINCT device_seq) FROM records",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((rows, ids, seqs), (N as i64, N as i64, N as i64));
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // The laptop: every record confirmed, store sound, the same records.
    let st = store.status();
    assert_eq!(st["by_status"]["confirmed"], N, "{st}");
    assert_eq!(st["outbox"], 0, "{st}");
    store.assert_check_ok();
    let laptop = rusqlite::Connection::open(store.db()).unwrap();
    let mismatched: i64 = {
        conn.execute(
            &format!("ATTACH DATABASE '{}' AS laptop", store.db().display()),
            [],
        )
        .unwrap();
        conn.query_row(
            "SELECT COUNT(*) FROM laptop.records l LEFT JOIN records c ON c.record_id = l.record_id
             WHERE c.content_hash IS NULL OR c.content_hash <> l.content_hash OR c.device_seq <> l.device_seq",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    drop(laptop);
    assert_eq!(mismatched, 0, "central holds exactly the laptop's records");
}
