//! End-to-end sync benchmark (not a test): 100,000 records from a laptop
//! store to a central process over loopback, with the real `doorstep
//! field sync` and `doorstep central serve` processes.
//!
//! Reports records/s (median of the runs), request bytes per record beside
//! the zstd size of the same canonical records, and the peak RSS of the
//! client and of central, twice side by side: a trial laptop (not
//! provisioned: plaintext records, unsigned requests, central run with
//! `--allow-unregistered`) and a provisioned one (every request signed,
//! every record signed and sealed to central, central opening and
//! verifying each). Run: `cargo bench -p doorstep-cli --bench sync`
//! (`BENCH_RECORDS=N`, `BENCH_RUNS=N` to change the size and repeats).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_doorstep");
/// The benchmark laptops' passphrase (given as scripts do).
const PASSPHRASE: &str = "benchmark passphrase";

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
    init_laptop(field_s, units, None);
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
    let input_s = input.to_str().unwrap();
    enroll(field_s, input_s);

    // What the records weigh: canonical bytes, and zstd of them in the
    // batch size the client uses (1,000) and as one stream.
    let mut store = doorstep_store::FieldStore::open(&field).unwrap();
    store.unlock(PASSPHRASE, chrono::Utc::now()).unwrap();
    let canon: Vec<Vec<u8>> = store
        .canonical_records()
        .unwrap()
        .into_iter()
        .map(|(_, _, b)| b.unwrap())
        .collect();
    drop(store);
    let raw: usize = canon.iter().map(Vec::len).sum();
    let zstd_batches: usize = canon
        .chunks(1_000)
        .map(|c| zstd::bulk::compress(&c.concat(), 3).unwrap().len())
        .sum();
    let zstd_whole = zstd::bulk::compress(&canon.concat(), 3).unwrap().len();
    let db = rusqlite::Connection::open(field.join("field.sqlite3")).unwrap();

    let mut table = Vec::new();
    for provisioned in [false, true] {
        let mode = if provisioned {
            "provisioned laptop: signed requests, records signed and sealed to central"
        } else {
            "trial laptop: plaintext records, unsigned requests"
        };
        println!("## {mode}");
        let mut results = Vec::new();
        for run in 0..runs {
            let central_dir = tmp.path().join(format!("central-{provisioned}-{run}"));
            let central_s = central_dir.to_str().unwrap();
            let (mut central, url) = start_central(central_s, units, !provisioned);
            let laptop = if provisioned {
                // A new laptop registered with this central, enrolling the
                // same records (so they are sealed to its key).
                let dir = tmp.path().join(format!("field-{run}"));
                let dir = dir.to_str().unwrap().to_owned();
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
                init_laptop(&dir, units, Some((&url, token["token"].as_str().unwrap())));
                enroll(&dir, input_s);
                dir
            } else {
                db.execute("UPDATE records SET status = 'pending'", [])
                    .unwrap();
                field_s.to_owned()
            };
            let started = Instant::now();
            let mut client = Command::new(BIN)
                .env("DOORSTEP_PASSPHRASE", PASSPHRASE)
                .args([
                    "field",
                    "sync",
                    "--json",
                    "--no-progress",
                    "--data-dir",
                    &laptop,
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
        table.push((mode, results));
    }

    let per = |b: usize| b as f64 / n as f64;
    println!();
    println!("records: {n}; runs: {runs}; laptop -> central over loopback, fsync'd both ends");
    println!();
    println!(
        "| laptop | median time | records/s | bytes on the wire per record | client peak RSS | central peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (mode, results) in &table {
        let median = &results[results.len() / 2];
        println!(
            "| {mode} | {:.2} s | {:.0} | {:.1} | {:.1} MiB | {:.1} MiB |",
            median.seconds,
            n as f64 / median.seconds,
            per(median.bytes_sent as usize),
            median.client_rss_kib as f64 / 1024.0,
            median.central_rss_kib as f64 / 1024.0
        );
    }
    println!();
    println!(
        "canonical bytes per record {:.1}; zstd of canonical in 1,000-record batches {:.1}; as one stream {:.1}",
        per(raw),
        per(zstd_batches),
        per(zstd_whole)
    );
}

/// `field init` of a laptop, registered with `server` when given a token.
fn init_laptop(dir: &str, units: &str, server: Option<(&str, &str)>) {
    let mut args = vec![
        "field",
        "init",
        "--data-dir",
        dir,
        "--unit",
        "74",
        "--device-name",
        "bench",
        "--units",
        units,
    ];
    if let Some((url, token)) = server {
        args.extend(["--server", url, "--token", token]);
    }
    doorstep(&args);
}

fn enroll(dir: &str, input: &str) {
    doorstep(&["field", "enroll", "--no-progress", "--data-dir", dir, input]);
}

/// Starts `central serve` on a free loopback port; returns it and its URL.
fn start_central(dir: &str, units: &str, open: bool) -> (std::process::Child, String) {
    let mut args = vec![
        "central",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--units",
        units,
        "--data-dir",
        dir,
    ];
    if open {
        args.push("--allow-unregistered");
    }
    let mut central = Command::new(BIN)
        .args(&args)
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
