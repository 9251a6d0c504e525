//! Audit verify benchmark (not a test): `doorstep audit verify` over a
//! central store holding 1,000,000 log entries.
//!
//! Builds the store through the real ingest path — each entry one batch
//! from a laptop holding one real canonical record (bodies from `doorstep
//! gen`, checked by `check_batch`), applied with `SqliteCentral::apply_all`
//! in transactions of 10,000 batches — then times
//! `doorstep_central::sqlite::audit::verify` (3 runs, stages read from its
//! progress callback), the real `doorstep audit verify` process once, and
//! for scale a plain SQLite scan of the same entry and record bytes with
//! and without one SHA-256 per row (the floor for any verifier that
//! re-hashes everything).
//!
//! Run: `cargo bench -p doorstep-cli --bench audit`. `BENCH_ENTRIES=N`
//! changes the size (default 1000000), `BENCH_CHUNK=N` the batches per
//! transaction (default 10000). `BENCH_DIR=DIR` builds the store in DIR and
//! keeps it; a later run with the same DIR reuses it (no setup). Results go
//! to stdout as Markdown for docs/PERFORMANCE.md. Timings are with the
//! store in the page cache (it was just written, or read by the first run).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use doorstep_central::check::check_batch;
use doorstep_central::sqlite::UnitSource;
use doorstep_central::sqlite::audit::{self, AuditStage};
use doorstep_central::store::Incoming;
use doorstep_central::{CentralStore, SqliteCentral};
use doorstep_core::canonical::encode_record;
use doorstep_core::units::{UnitLevel, Units, legacy_province_name, legacy_provinces};
use doorstep_core::{ContentHash, Record, RecordBody, ValidationContext, validate};
use doorstep_gen::{GenOptions, Generator};
use doorstep_wire::log::JournalHead;
use doorstep_wire::{Batch, BatchRecord, NodeRole, Outcome, PROTOCOL_VERSION, Sender};
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use uuid::Uuid;

// The allocator the `doorstep` binary uses, so that the in-process
// figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BIN: &str = env!("CARGO_BIN_EXE_doorstep");
/// Laptops sending the records.
const DEVICES: usize = 8;
/// Distinct generated bodies, reused round robin.
const BODIES: usize = 1000;
const VERIFY_RUNS: usize = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Generator options as `doorstep gen` makes them for Bình Dương (unit
/// 74): visits in its communes, citizens mostly from its province.
fn gen_options(units: &Units) -> GenOptions {
    let unit = "74";
    let leaves: Vec<String> = units
        .leaves_under(unit)
        .into_iter()
        .filter(|u| u.level == UnitLevel::Commune || units.children(&u.code).next().is_none())
        .map(|u| u.code.clone())
        .collect();
    let province = units
        .province_of(unit)
        .map(|p| format!("0{}", p.code))
        .filter(|code3| legacy_province_name(code3).is_some())
        .unwrap_or_else(|| "001".to_owned());
    GenOptions {
        seed: 1,
        kind: None,
        units: leaves,
        home_province: province,
        all_provinces: legacy_provinces().map(|(c, _)| c.to_owned()).collect(),
        visit_from: NaiveDate::from_ymd_opt(2023, 7, 25).unwrap(),
        visit_to: NaiveDate::from_ymd_opt(2023, 9, 25).unwrap(),
    }
}

struct Setup {
    seconds: f64,
    build_check: Duration,
    apply: Duration,
    canonical_bytes: u64,
}

/// Fills `dir` with `n` log entries: one batch per entry, one record per
/// batch, `chunk` batches per `apply_all` transaction.
fn build(dir: &Path, n: usize, chunk: usize) -> Setup {
    let csv_path = root().join("data/units/units_2023.csv");
    let csv = std::fs::read(&csv_path).unwrap();
    let central = SqliteCentral::open_or_create(
        dir,
        Some(UnitSource {
            source: csv_path.display().to_string(),
            csv,
        }),
        Utc::now(),
    )
    .unwrap();
    let units = central.units();
    let now = Utc::now();
    let ctx = ValidationContext::new(&units, now);
    let bodies: Vec<RecordBody> = Generator::new(gen_options(&units))
        .unwrap()
        .filter_map(|v| validate(&v, &ctx).ok())
        .take(BODIES)
        .collect();
    assert_eq!(bodies.len(), BODIES);
    let devices: Vec<Uuid> = (0..DEVICES).map(|_| Uuid::now_v7()).collect();

    let started = Instant::now();
    let (mut build_check, mut apply) = (Duration::ZERO, Duration::ZERO);
    let mut canonical_bytes = 0u64;
    let mut done = 0usize;
    while done < n {
        let this = chunk.min(n - done);
        let t = Instant::now();
        // One sync session per laptop per transaction.
        let sessions: Vec<Uuid> = (0..DEVICES).map(|_| Uuid::now_v7()).collect();
        let batches: Vec<_> = (done..done + this)
            .map(|i| {
                let d = i % DEVICES;
                let device_seq = (i / DEVICES + 1) as u64;
                let rec = Record {
                    record_id: Uuid::now_v7(),
                    device_id: devices[d],
                    device_seq,
                    enrolled_at: now,
                    body: bodies[i % BODIES].clone(),
                };
                let bytes = encode_record(&rec);
                canonical_bytes += bytes.len() as u64;
                let content_hash = ContentHash::of(&bytes).to_hex();
                let bytes_in = (bytes.len() + 200) as u64;
                let b = Batch {
                    protocol: PROTOCOL_VERSION,
                    batch_id: Uuid::now_v7(),
                    session_id: sessions[d],
                    sender: Sender {
                        node_id: devices[d],
                        role: NodeRole::Field,
                        name: Some(format!("Tổ {}", d + 1)),
                        client_version: "doorstep/bench".into(),
                    },
                    journal: Some(JournalHead {
                        seq: device_seq,
                        hash: ContentHash::of(content_hash.as_bytes()).0,
                    }),
                    // As central reads it off the wire (optional members
                    // such as a device signature left out).
                    records: vec![
                        serde_json::from_str::<BatchRecord>(&format!(
                            r#"{{"content_hash":"{content_hash}","record":{}}}"#,
                            std::str::from_utf8(&bytes).unwrap()
                        ))
                        .unwrap(),
                    ],
                };
                let checked = check_batch(b, &units, now, bytes_in);
                assert!(
                    matches!(checked.records[0], Incoming::Valid(_)),
                    "record {i} refused: {:?}",
                    checked.records[0]
                );
                checked
            })
            .collect();
        build_check += t.elapsed();
        let t = Instant::now();
        let applied = central.apply_all(&batches).unwrap();
        apply += t.elapsed();
        assert!(
            applied
                .iter()
                .all(|a| a.lines.iter().all(|l| l.outcome == Outcome::Accepted))
        );
        done += this;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "setup: {done}/{n} entries, {secs:.0} s ({:.0} entries/s; build+check {:.0} s, apply_all {:.0} s; load {})",
            done as f64 / secs,
            build_check.as_secs_f64(),
            apply.as_secs_f64(),
            load_avg()
        );
    }
    drop(central);
    Setup {
        seconds: started.elapsed().as_secs_f64(),
        build_check,
        apply,
        canonical_bytes,
    }
}

/// One `audit::verify` run: total time and the time of each stage (from
/// the stage's first row read to its last progress call).
fn verify_once(dir: &Path, n: usize) -> (Duration, [Duration; 4]) {
    let stage_index = |s: AuditStage| match s {
        AuditStage::Entries => 0,
        AuditStage::Nodes => 1,
        AuditStage::TreeHeads => 2,
        AuditStage::Records => 3,
    };
    let mut last = [None::<Instant>; 4];
    let start = Instant::now();
    let report = audit::verify(dir, &mut |stage, _, _| {
        last[stage_index(stage)] = Some(Instant::now());
    })
    .unwrap();
    let total = start.elapsed();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, n as u64);
    assert_eq!(report.records, n as u64);
    let mut stages = [Duration::ZERO; 4];
    let mut prev = start;
    for (i, t) in last.iter().enumerate() {
        let t = t.unwrap();
        stages[i] = t - prev;
        prev = t;
    }
    (total, stages)
}

/// Reads `sql`'s single blob column row by row; with `hash`, SHA-256 of
/// each. Returns the rows, bytes and time.
fn scan(path: &Path, sql: &str, hash: bool) -> (u64, u64, Duration) {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let start = Instant::now();
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let (mut count, mut bytes, mut acc) = (0u64, 0u64, 0u8);
    while let Some(row) = rows.next().unwrap() {
        let b = row.get_ref(0).unwrap().as_blob().unwrap();
        count += 1;
        bytes += b.len() as u64;
        if hash {
            acc ^= Sha256::digest(b)[0];
        }
    }
    std::hint::black_box(acc);
    (count, bytes, start.elapsed())
}

fn median(ds: &[Duration]) -> Duration {
    let mut v = ds.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let n = env_usize("BENCH_ENTRIES", 1_000_000);
    let chunk = env_usize("BENCH_CHUNK", 10_000).max(1);
    let tmp = tempfile::tempdir().unwrap();
    let dir =
        std::env::var_os("BENCH_DIR").map_or_else(|| tmp.path().join("central"), PathBuf::from);
    let db = SqliteCentral::db_path(&dir);
    let load_start = load_avg();

    let setup = if db.exists() {
        eprintln!("reusing the store in {}", dir.display());
        None
    } else {
        eprintln!(
            "building {n} log entries in {} (load {load_start})",
            dir.display()
        );
        Some(build(&dir, n, chunk))
    };
    let db_bytes = file_size(&db) + file_size(&dir.join("central.sqlite3-wal"));
    let tables: Vec<(String, u64)> = {
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        // dbstat is only there when SQLite was built with it.
        conn.prepare(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY SUM(pgsize) DESC LIMIT 6",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect()
        })
        .unwrap_or_default()
    };

    // 1. audit::verify in process.
    let load_verify = load_avg();
    let mut runs = Vec::new();
    for run in 0..VERIFY_RUNS {
        let (total, stages) = verify_once(&dir, n);
        eprintln!(
            "verify run {}: {} (entries {}, nodes {}, heads {}, records {}; load {})",
            run + 1,
            secs(total),
            secs(stages[0]),
            secs(stages[1]),
            secs(stages[2]),
            secs(stages[3]),
            load_avg()
        );
        runs.push((total, stages));
    }
    let totals: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    let verify_median = median(&totals);
    let stage_medians: Vec<Duration> = (0..4)
        .map(|i| median(&runs.iter().map(|r| r.1[i]).collect::<Vec<_>>()))
        .collect();

    // 2. The real process, once, under /usr/bin/time for its peak RSS.
    let load_cli = load_avg();
    let time_out = tmp.path().join("time.txt");
    let use_time = Path::new("/usr/bin/time").exists();
    let args = [
        "audit",
        "verify",
        "--data-dir",
        dir.to_str().unwrap(),
        "--json",
        "--no-progress",
    ];
    let mut cmd = if use_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o", time_out.to_str().unwrap(), BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let start = Instant::now();
    let out = cmd
        .args(args)
        .env("DOORSTEP_LANG", "en")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let cli_time = start.elapsed();
    assert!(
        out.status.success(),
        "doorstep audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], true);
    let cli_rss_kib: Option<u64> = use_time
        .then(|| std::fs::read_to_string(&time_out).ok())
        .flatten()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));

    // 3. The floor: the same bytes read from the same file, with and
    //    without one SHA-256 per entry and per record.
    let load_floor = load_avg();
    let entries_sql = "SELECT entry FROM log_entries ORDER BY idx";
    let records_sql = "SELECT canonical FROM records";
    let (entry_rows, entry_bytes, entries_read) = scan(&db, entries_sql, false);
    let (record_rows, record_bytes, records_read) = scan(&db, records_sql, false);
    let (_, _, entries_hashed) = scan(&db, entries_sql, true);
    let (_, _, records_hashed) = scan(&db, records_sql, true);
    let read = entries_read + records_read;
    let hashed = entries_hashed + records_hashed;

    // Report.
    println!("## Audit verify benchmark ({n} log entries)");
    println!();
    println!(
        "Load average (1, 5, 15 min): {load_start} at the start, {load_verify} before verify, {load_cli} before the CLI run, {load_floor} before the floor."
    );
    println!();
    println!("| store | figure |");
    println!("|---|---:|");
    if let Some(s) = &setup {
        println!(
            "| setup: {n} batches of one record, {chunk} per `apply_all` transaction | {:.0} s ({:.0} entries/s) |",
            s.seconds,
            n as f64 / s.seconds
        );
        println!(
            "| … of which building records + `check_batch` | {:.0} s |",
            s.build_check.as_secs_f64()
        );
        println!(
            "| … of which `apply_all` | {:.0} s |",
            s.apply.as_secs_f64()
        );
        println!(
            "| canonical bytes per record | {:.1} B |",
            s.canonical_bytes as f64 / n as f64
        );
    } else {
        println!("| setup | reused an existing store (BENCH_DIR) |");
    }
    println!(
        "| database size | {} ({:.0} B per entry) |",
        mb(db_bytes),
        db_bytes as f64 / n as f64
    );
    for (name, bytes) in &tables {
        println!("| … table/index `{name}` | {} |", mb(*bytes));
    }
    println!(
        "| entry bytes / record bytes stored | {} in {entry_rows} entries / {} in {record_rows} records |",
        mb(entry_bytes),
        mb(record_bytes)
    );
    println!();
    println!("| measurement | time | entries/s | vs floor |");
    println!("|---|---:|---:|---:|");
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let ratio = |d: Duration| d.as_secs_f64() / hashed.as_secs_f64();
    println!(
        "| `audit::verify` in process (median of {VERIFY_RUNS}: {}) | **{}** | {:.0} | {:.1}× |",
        totals
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        secs(verify_median),
        rate(verify_median),
        ratio(verify_median)
    );
    let names = [
        "entries (read, leaf hash, Merkle tree, parse the entry JSON)",
        "tree nodes (read, compare with the recomputed tree)",
        "signed tree heads (root at each size, Ed25519 verify)",
        "records (read, SHA-256, match against the log)",
    ];
    for (name, d) in names.iter().zip(&stage_medians) {
        println!("| … stage: {name} | {} | | |", secs(*d));
    }
    println!(
        "| `doorstep audit verify --json --no-progress` process (1 run{}) | **{}** | {:.0} | {:.1}× |",
        cli_rss_kib.map_or_else(String::new, |k| format!(
            ", peak RSS {:.0} MiB",
            k as f64 / 1024.0
        )),
        secs(cli_time),
        rate(cli_time),
        ratio(cli_time)
    );
    println!(
        "| floor: SQLite scan of entries and records + SHA-256 of each row | {} | {:.0} | 1.0× |",
        secs(hashed),
        rate(hashed)
    );
    println!(
        "| … scan only, no hashing (entries {}, records {}) | {} | {:.0} | {:.1}× |",
        secs(entries_read),
        secs(records_read),
        secs(read),
        rate(read),
        ratio(read)
    );
    println!();
    println!(
        "Target: ≤ 10 s for 1,000,000 entries — {} ({} median in process).",
        if n == 1_000_000 {
            if verify_median.as_secs_f64() <= 10.0 && cli_time.as_secs_f64() <= 10.0 {
                "met"
            } else {
                "NOT met"
            }
        } else {
            "not measured at this size"
        },
        secs(verify_median)
    );
}
