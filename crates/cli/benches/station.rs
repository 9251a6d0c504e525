//! Station throughput benchmark (not a test): 10 bundle files of 10,000
//! records each (10 laptops) imported into a station, then forwarded by
//! `doorstep station serve` to a `doorstep central serve` over loopback.
//! Run: `cargo bench -p doorstep-cli --bench station` (`BENCH_BUNDLES`,
//! `BENCH_RECORDS` per bundle to change the size).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

fn serve(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a server");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (child, url)
}

fn count(db: &Path) -> u64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.busy_timeout(Duration::from_millis(500))?;
            c.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
        })
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let bundles = env_u64("BENCH_BUNDLES", 10);
    let per = env_u64("BENCH_RECORDS", 10_000);
    let total = bundles * per;
    let tmp = tempfile::tempdir().unwrap();
    let units = root().join("data/units/units_2023.csv");
    let units = units.to_str().unwrap();

    let mut files = Vec::new();
    for i in 0..bundles {
        let dir = tmp.path().join(format!("laptop-{i}"));
        let d = dir.to_str().unwrap();
        doorstep(&[
            "field",
            "init",
            "--data-dir",
            d,
            "--unit",
            "74",
            "--device-name",
            &format!("Tổ {}", i + 1),
            "--units",
            units,
        ]);
        let input = tmp.path().join(format!("records-{i}.ndjson"));
        let out = doorstep(&[
            "gen",
            "--count",
            &per.to_string(),
            "--seed",
            &(i + 1).to_string(),
            "--data-dir",
            d,
        ]);
        std::fs::write(&input, &out.stdout).unwrap();
        doorstep(&[
            "field",
            "enroll",
            "--no-progress",
            "--data-dir",
            d,
            input.to_str().unwrap(),
        ]);
        let bundle = tmp.path().join(format!("team-{i}.dsbundle"));
        doorstep(&[
            "field",
            "export",
            "--data-dir",
            d,
            "--out",
            bundle.to_str().unwrap(),
        ]);
        files.push(bundle);
    }
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();

    // The station's store is made by one short start of `station serve`
    // with an upstream that does not answer.
    let station_dir = tmp.path().join("station");
    let s = station_dir.to_str().unwrap();
    let (mut child, _) = serve(&[
        "station",
        "serve",
        "--data-dir",
        s,
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--units",
        units,
    ]);
    let _ = child.kill();
    let _ = child.wait();

    let mut import_args = vec!["station", "import", "--data-dir", s, "--json"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    import_args.extend(names.iter().map(String::as_str));
    let started = Instant::now();
    doorstep(&import_args);
    let import_s = started.elapsed().as_secs_f64();
    assert_eq!(count(&station_dir.join("central.sqlite3")), total);

    let central_dir = tmp.path().join("central");
    let (mut central, central_url) = serve(&[
        "central",
        "serve",
        "--data-dir",
        central_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--units",
        units,
    ]);
    let started = Instant::now();
    let (mut station, _) = serve(&[
        "station",
        "serve",
        "--data-dir",
        s,
        "--upstream",
        &central_url,
        "--listen",
        "127.0.0.1:0",
        "--forward-interval",
        "1",
    ]);
    let central_db = central_dir.join("central.sqlite3");
    while count(&central_db) < total {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "forwarding did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let forward_s = started.elapsed().as_secs_f64();
    let _ = station.kill();
    let _ = central.kill();
    let _ = station.wait();
    let _ = central.wait();

    println!(
        "bundles: {bundles} x {per} records = {total}; {:.1} bytes per record in bundles",
        bytes as f64 / total as f64
    );
    println!(
        "station import (verify + check + store, one transaction per file): {import_s:.2} s = {:.0} records/s",
        total as f64 / import_s
    );
    println!(
        "station forward to central over loopback (from start of station serve to all held at central): {forward_s:.2} s = {:.0} records/s",
        total as f64 / forward_s
    );
}
