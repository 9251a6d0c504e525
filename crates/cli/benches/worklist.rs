//! Worklist down-sync benchmark (not a test), with the real `doorstep
//! central serve` and `doorstep field sync` processes over loopback: a
//! roster of 20,000 residents of one commune assigned to one provisioned
//! laptop.
//!
//! Measures, per run, the first (full) download, an incremental one after
//! a newer extract changed 10 residents, and an idle one (nothing changed:
//! the fixed cost of a sync), each as the wall time of `field sync`, the
//! response bytes and the people applied; beside them, in the same run,
//! the raw rate of inserting the same people's JSON into a plain SQLite
//! table in one transaction (no HTTP, no encryption, no paging).
//! Run: `cargo bench -p doorstep-cli --bench worklist`
//! (`BENCH_PEOPLE=N`, `BENCH_RUNS=N` to change the size and repeats).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_doorstep");
const PASSPHRASE: &str = "benchmark passphrase";
/// A commune of Thủ Dầu Một (province 74) in the 2023 list.
const COMMUNE: &str = "25741";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doorstep(args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .args(args)
        .env("DOORSTEP_LANG", "en")
        .env("DOORSTEP_PASSPHRASE", PASSPHRASE)
        .output()
        .expect("run doorstep");
    assert!(
        out.status.success(),
        "doorstep {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FAMILY: [&str; 8] = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi"];
const GIVEN: [&str; 8] = ["An", "Bình", "Cường", "Dũng", "Hà", "Lan", "Phương", "Thảo"];

/// The roster CSV: `changed` residents get another address text.
fn roster(n: u64, changed: u64) -> String {
    let mut s =
        "personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs\n"
            .to_owned();
    for i in 0..n {
        let male = i.is_multiple_of(2);
        let year = 1950 + (i % 55);
        let digit = u64::from(year >= 2000) * 2 + u64::from(!male);
        let detail = if i < changed {
            format!("Số {i}, tổ {} (mới)", i % 30 + 1)
        } else {
            format!("Số {i}, tổ {}", i % 30 + 1)
        };
        s.push_str(&format!(
            "074{digit}{:02}{i:06},{} {} {},{year}-{:02}-{:02},{},{COMMUNE},\"{detail}\",HK{:05},card;eid_registration\n",
            year % 100,
            FAMILY[(i % 8) as usize],
            if male { "Văn" } else { "Thị" },
            GIVEN[((i / 8) % 8) as usize],
            i % 12 + 1,
            i % 28 + 1,
            if male { "male" } else { "female" },
            i / 4
        ));
    }
    s
}

struct Pull {
    seconds: f64,
    bytes: u64,
    put: u64,
    pages: u64,
}

fn sync(laptop: &str, url: &str) -> Pull {
    let started = Instant::now();
    let out = doorstep(&[
        "field",
        "sync",
        "--json",
        "--no-progress",
        "--data-dir",
        laptop,
        "--server",
        url,
    ]);
    let seconds = started.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &report["worklist"];
    Pull {
        seconds,
        bytes: w["bytes"].as_u64().unwrap(),
        put: w["put"].as_u64().unwrap(),
        pages: w["pages"].as_u64().unwrap_or(0),
    }
}

fn main() {
    let n = env_u64("BENCH_PEOPLE", 20_000);
    let runs = env_u64("BENCH_RUNS", 3);
    let tmp = tempfile::tempdir().unwrap();
    let units = root().join("data/units/units_2023.csv");
    let units = units.to_str().unwrap();
    let first_csv = tmp.path().join("roster.csv");
    std::fs::write(&first_csv, roster(n, 0)).unwrap();
    let second_csv = tmp.path().join("roster-10-changed.csv");
    std::fs::write(&second_csv, roster(n, 10)).unwrap();

    let mut results: Vec<(Pull, Pull, Pull, f64)> = Vec::new();
    for run in 0..runs {
        let central_dir = tmp.path().join(format!("central-{run}"));
        let central_s = central_dir.to_str().unwrap();
        let (mut central, url) = start_central(central_s, units);
        doorstep(&[
            "central",
            "roster",
            "import",
            "--data-dir",
            central_s,
            first_csv.to_str().unwrap(),
        ]);
        let token = doorstep(&[
            "central",
            "provision",
            "--data-dir",
            central_s,
            "--unit",
            "74",
            "--name",
            "bench",
            "--json",
        ]);
        let token: serde_json::Value = serde_json::from_slice(&token.stdout).unwrap();
        let laptop = tmp.path().join(format!("field-{run}"));
        let laptop = laptop.to_str().unwrap().to_owned();
        let init = doorstep(&[
            "field",
            "init",
            "--data-dir",
            &laptop,
            "--unit",
            "74",
            "--device-name",
            "bench",
            "--units",
            units,
            "--server",
            &url,
            "--token",
            token["token"].as_str().unwrap(),
            "--json",
        ]);
        let init: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
        doorstep(&[
            "central",
            "assign",
            "--data-dir",
            central_s,
            "--device",
            init["device_id"].as_str().unwrap(),
            "--units",
            COMMUNE,
        ]);
        let full = sync(&laptop, &url);
        assert_eq!(full.put, n, "the first download sends everyone");
        let idle = sync(&laptop, &url);
        assert_eq!(idle.put, 0);
        doorstep(&[
            "central",
            "roster",
            "import",
            "--data-dir",
            central_s,
            second_csv.to_str().unwrap(),
        ]);
        let incremental = sync(&laptop, &url);
        assert_eq!(incremental.put, 10, "only the 10 changed residents");
        let _ = central.kill();
        let _ = central.wait();
        let raw = raw_insert_seconds(&laptop, &tmp.path().join(format!("raw-{run}.sqlite3")));
        println!(
            "run {}: full {:.2} s ({} bytes, {} pages), incremental {:.3} s ({} bytes), idle {:.3} s ({} bytes); raw insert {:.3} s",
            run + 1,
            full.seconds,
            full.bytes,
            full.pages,
            incremental.seconds,
            incremental.bytes,
            idle.seconds,
            idle.bytes,
            raw
        );
        results.push((full, incremental, idle, raw));
    }
    results.sort_by(|a, b| a.0.seconds.total_cmp(&b.0.seconds));
    let (full, incremental, idle, raw) = &results[results.len() / 2];
    println!();
    println!(
        "people: {n}; runs: {runs}; central and laptop over loopback, fsync'd both ends; median run by full download"
    );
    println!();
    println!(
        "| download | wall time of `field sync` | people/s | response bytes | bytes per person sent |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| first (full, {} pages) | {:.2} s | {:.0} | {} | {:.0} |",
        full.pages,
        full.seconds,
        n as f64 / full.seconds,
        full.bytes,
        full.bytes as f64 / n as f64
    );
    println!(
        "| incremental, 10 residents changed | {:.3} s | — | {} | {:.0} |",
        incremental.seconds,
        incremental.bytes,
        incremental.bytes as f64 / 10.0
    );
    println!(
        "| idle (nothing changed) | {:.3} s | — | {} | — |",
        idle.seconds, idle.bytes
    );
    println!(
        "| raw: the same {n} people's JSON inserted into a plain SQLite table, one transaction | {raw:.3} s | {:.0} | — | — |",
        n as f64 / raw
    );
    println!();
    println!(
        "full download / raw insert rate: {:.2}",
        (n as f64 / full.seconds) / (n as f64 / raw)
    );
}

/// Inserts the people the laptop now holds, as plaintext JSON, into a
/// fresh SQLite file in one transaction (WAL, synchronous=FULL, like the
/// laptop store): the floor of storing that many people.
fn raw_insert_seconds(laptop: &str, file: &Path) -> f64 {
    let out = doorstep(&["field", "worklist", "--json", "--data-dir", laptop]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let people = v
        .as_array()
        .or_else(|| v["people"].as_array())
        .cloned()
        .unwrap();
    let items: Vec<(u64, String, Vec<u8>)> = people
        .iter()
        .map(|p| {
            (
                p["id"].as_u64().unwrap(),
                p["worklist_unit"].as_str().unwrap().to_owned(),
                serde_json::to_vec(p).unwrap(),
            )
        })
        .collect();
    let mut conn = rusqlite::Connection::open(file).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE worklist (person_id INTEGER PRIMARY KEY, worklist_unit TEXT NOT NULL, item BLOB NOT NULL);",
    )
    .unwrap();
    let started = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO worklist (person_id, worklist_unit, item) VALUES (?1, ?2, ?3)")
            .unwrap();
        for (id, unit, item) in &items {
            stmt.execute(rusqlite::params![*id as i64, unit, item])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    started.elapsed().as_secs_f64()
}

/// Starts `central serve` on a free loopback port; returns it and its URL.
fn start_central(dir: &str, units: &str) -> (std::process::Child, String) {
    let mut central = Command::new(BIN)
        .args([
            "central",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--units",
            units,
            "--data-dir",
            dir,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start central");
    let mut first = String::new();
    BufReader::new(central.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (central, url)
}
