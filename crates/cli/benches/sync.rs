//! End-to-end sync benchmark (not a test): 100,000 records from a laptop
//! store to a central process over loopback, with the real `doorstep
//! field sync` and `doorstep central serve` processes.
//!
//! Reports records/s (median of the runs), request bytes per record beside
//! the zstd size of the same canonical records, and the peak RSS of the
//! client and of central. Run: `cargo bench -p doorstep-cli --bench sync`
//! (`BENCH_RECORDS=N`, `BENCH_RUNS=N` to change the size and repeats).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_doorstep");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doorstep(args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .args(args)
        .env("DOORSTEP_LANG", "en")
        .output()
        .expect("run doorstep");
    assert!(
        out.status.success(),
        "doorstep {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Peak resident set size (VmHWM) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    seconds: f64,
    bytes_sent: u64,
    client_rss_kib: u64,
    central_rss_kib: u64,
}

fn main() {
    let n = env_u64("BENCH_RECORDS", 100_000);
    let runs = env_u64("BENCH_RUNS", 3);
    let tmp = tempfile::tempdir().unwrap();
    let units = root().join("data/units/units_2023.csv");
    let units = units.to_str().unwrap();
    let field = tmp.path().join("field");
    let field_s = field.to_str().unwrap();
    doorstep(&[
        "field",
        "init",
        "--data-dir",
        field_s,
        "--unit",
        "74",
        "--device-name",
        "bench",
        "--units",
        units,
    ]);
    let input = tmp.path().join("records.ndjson");
    let out = doorstep(&[
        "gen",
        "--count",
        &n.to_string(),
        "--seed",
        "1",
        "--data-dir",
        field_s,
    ]);
    std::fs::write(&input, &out.stdout).unwrap();
    doorstep(&[
        "field",
        "enroll",
        "--no-progress",
        "--data-dir",
        field_s,
        input.to_str().unwrap(),
    ]);

    // What the records weigh: canonical bytes, and zstd of them in the
    // batch size the client uses (1,000) and as one stream.
    let db = rusqlite::Connection::open(field.join("field.sqlite3")).unwrap();
    let canon: Vec<Vec<u8>> = db
        .prepare("SELECT canonical FROM records ORDER BY device_seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let raw: usize = canon.iter().map(Vec::len).sum();
    let zstd_batches: usize = canon
        .chunks(1_000)
        .map(|c| zstd::bulk::compress(&c.concat(), 3).unwrap().len())
        .sum();
    let zstd_whole = zstd::bulk::compress(&canon.concat(), 3).unwrap().len();

    let mut results = Vec::new();
    for run in 0..runs {
        db.execute("UPDATE records SET status = 'pending'", [])
            .unwrap();
        let central_dir = tmp.path().join(format!("central-{run}"));
        let mut central = Command::new(BIN)
            .args([
                "central",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--units",
                units,
                "--data-dir",
                central_dir.to_str().unwrap(),
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

        let started = Instant::now();
        let mut client = Command::new(BIN)
            .args([
                "field",
                "sync",
                "--json",
                "--no-progress",
                "--data-dir",
                field_s,
                "--server",
                &url,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start field sync");
        let mut client_rss = 0;
        while client.try_wait().unwrap().is_none() {
            if let Some(kib) = peak_rss_kib(client.id()) {
                client_rss = client_rss.max(kib);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let seconds = started.elapsed().as_secs_f64();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut client.stdout.take().unwrap(), &mut out).unwrap();
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["accepted"], n, "{report}");
        let central_rss = peak_rss_kib(central.id()).unwrap_or(0);
        let _ = central.kill();
        let _ = central.wait();
        let r = Run {
            seconds,
            bytes_sent: report["bytes_sent"].as_u64().unwrap(),
            client_rss_kib: client_rss,
            central_rss_kib: central_rss,
        };
        println!(
            "run {}: {:.2} s, {:.0} records/s, client peak RSS {:.1} MiB, central peak RSS {:.1} MiB",
            run + 1,
            r.seconds,
            n as f64 / r.seconds,
            r.client_rss_kib as f64 / 1024.0,
            r.central_rss_kib as f64 / 1024.0
        );
        results.push(r);
    }
    results.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let median = &results[results.len() / 2];
    let per = |b: usize| b as f64 / n as f64;
    println!();
    println!("records: {n}; runs: {runs}");
    println!(
        "end-to-end (laptop -> central over loopback, fsync'd both ends): median {:.2} s = {:.0} records/s",
        median.seconds,
        n as f64 / median.seconds
    );
    println!(
        "bytes per record: on the wire (request bodies) {:.1}; canonical {:.1}; zstd of canonical in 1,000-record batches {:.1}; as one stream {:.1}",
        per(median.bytes_sent as usize),
        per(raw),
        per(zstd_batches),
        per(zstd_whole)
    );
    println!(
        "peak RSS: client {:.1} MiB (max of runs {:.1}), central {:.1} MiB (max {:.1})",
        median.client_rss_kib as f64 / 1024.0,
        results.iter().map(|r| r.client_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
        median.central_rss_kib as f64 / 1024.0,
        results.iter().map(|r| r.central_rss_kib).max().unwrap_or(0) as f64 / 1024.0
    );
}
