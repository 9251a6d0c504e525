#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The crash loop: three registered laptops (two straight to central, one
//! through a registered commune station) enroll and sync while every link
//! goes through a fault-injecting proxy (`doorstep-faultproxy`) and, at
//! seeded random moments, a laptop's enroll or sync, the station or central
//! is SIGKILLed and started again. Then the faults stop, everything syncs,
//! and the invariants are checked:
//!
//! - every record enrolled is at central exactly once (same IDs, same
//!   count per device, nothing more);
//! - every laptop agrees with central (`audit reconcile`) and shows every
//!   record confirmed;
//! - `audit verify` passes on central, the station and every laptop;
//! - every SQLite file passes `integrity_check`.
//!
//! Short by default (CI). `DOORSTEP_RELIABILITY=long` runs the long mode
//! (at least 10,000 records, 1,000 faults, 200 crashes);
//! `DOORSTEP_RELIABILITY_SEED` changes the seed. `scripts/reliability.sh`
//! runs it and keeps the report (`<target>/reliability-report.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use doorstep_faultproxy::{FaultProxy, Plan};
use doorstep_tests::{
    Server, TempDir, args, cli, doorstep, free_port, gen_records, init_laptop, provision_token,
    read_ndjson, register_station, temp_dir, to_ndjson,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// How big a run is.
#[derive(Debug, Clone, Copy)]
struct Mode {
    name: &'static str,
    rounds: usize,
    /// Records each laptop enrolls per round.
    chunk: usize,
    /// Share of requests and connections that suffer a fault.
    fault_rate: f64,
    /// Chance, per round, of each crash (a laptop's enroll, its sync, the
    /// station, central).
    crash_chance: f64,
}

const SHORT: Mode = Mode {
    name: "short",
    rounds: 12,
    chunk: 30,
    fault_rate: 0.25,
    crash_chance: 0.35,
};

const LONG: Mode = Mode {
    name: "long",
    rounds: 150,
    chunk: 23,
    fault_rate: 0.3,
    crash_chance: 0.35,
};

const LAPTOPS: usize = 3;
/// Bound on the final convergence (never a timing assertion: a hang must
/// fail instead of blocking CI).
const SETTLE: Duration = Duration::from_secs(600);

/// A laptop of the run.
struct Laptop {
    dir: PathBuf,
    device: String,
    /// The proxy it syncs through (to central, or to the station).
    via: usize,
    /// Its records, NDJSON lines in enroll order.
    records: Vec<Value>,
    enrolled: usize,
}

/// Crashes by node.
#[derive(Debug, Default)]
struct Crashes(BTreeMap<&'static str, u64>);

impl Crashes {
    fn add(&mut self, what: &'static str) {
        *self.0.entry(what).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

fn spawn(a: Vec<std::ffi::OsString>) -> Child {
    doorstep()
        .args(a)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start doorstep")
}

/// Runs `child`; with `kill_after`, SIGKILLs it then if it is still
/// running. True when it was killed.
fn run_maybe_killed(mut child: Child, kill_after: Option<Duration>) -> bool {
    if let Some(after) = kill_after {
        let start = Instant::now();
        while start.elapsed() < after {
            if child.try_wait().expect("try_wait").is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().expect("try_wait").is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        return false;
    }
    let status = doorstep_tests::wait_with_deadline(&mut child, "doorstep");
    assert_ne!(
        status.code(),
        Some(2),
        "a doorstep command was refused as misused"
    );
    false
}

fn enroll(laptop: &Laptop, file: &Path) -> Child {
    spawn(args!["field", "enroll", "--data-dir", &laptop.dir, file])
}

fn sync(laptop: &Laptop, url: &str) -> Child {
    spawn(args![
        "field",
        "sync",
        "--data-dir",
        &laptop.dir,
        "--server",
        url,
        "--retries",
        "3",
        "--max-backoff",
        "1",
        "--timeout",
        "20",
        "--no-progress"
    ])
}

fn integrity(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

/// Record IDs central holds from `device`, with how many times each.
fn central_records(central_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(
        central_dir.join("central.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT device_id, record_id FROM records ORDER BY device_id, device_seq")
        .unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (device, record) = row.unwrap();
        out.entry(device).or_default().push(record);
    }
    out
}

fn laptop_status(dir: &Path) -> Value {
    let out = cli(args!["field", "status", "--data-dir", dir, "--json"]);
    out.assert_success();
    out.json()
}

fn laptop_records(dir: &Path) -> Vec<String> {
    let out = cli(args!["field", "list", "--data-dir", dir, "--json"]);
    out.assert_success();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect()
}

fn all_confirmed(dir: &Path, expected: usize) -> bool {
    let st = laptop_status(dir);
    st["outbox"] == 0 && st["by_status"]["confirmed"] == expected as u64
}

struct World {
    tmp: TempDir,
    central_dir: PathBuf,
    central: Server,
    station_dir: PathBuf,
    station: Server,
    /// 0: laptops → central, 1: laptop → station, 2: station → central.
    proxies: Vec<FaultProxy>,
    laptops: Vec<Laptop>,
}

fn setup(mode: Mode, seed: u64) -> World {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, free_port());
    let plan = |i: u64| Plan {
        delay_ms: (20, 300),
        ..Plan::all(seed.wrapping_add(i), mode.fault_rate)
    };
    let listen = "127.0.0.1:0".parse().unwrap();
    let to_central = FaultProxy::start(listen, &central.url, &plan(1)).unwrap();
    let station_to_central = FaultProxy::start(listen, &central.url, &plan(2)).unwrap();
    let station_dir = tmp.path().join("station");
    let station_id = register_station(&central.url, &central_dir, &station_dir);
    let station = Server::station(&station_dir, &station_to_central.url(), free_port());
    let to_station = FaultProxy::start(listen, &station.url, &plan(3)).unwrap();

    let total = mode.rounds * mode.chunk;
    let mut laptops = Vec::new();
    for i in 0..LAPTOPS {
        let dir = tmp.path().join(format!("laptop-{i}"));
        let under_station = i == LAPTOPS - 1;
        let token = provision_token(
            &central_dir,
            "field",
            under_station.then_some(station_id.as_str()),
        );
        let device = init_laptop(&dir, Some((&central.url, &token)));
        let file = tmp.path().join(format!("gen-{i}.ndjson"));
        gen_records(
            &dir,
            total as u64,
            seed.wrapping_mul(31).wrapping_add(i as u64),
            &file,
        );
        laptops.push(Laptop {
            dir,
            device,
            via: if under_station { 1 } else { 0 },
            records: read_ndjson(&file),
            enrolled: 0,
        });
    }
    World {
        tmp,
        central_dir,
        central,
        station_dir,
        station,
        proxies: vec![to_central, to_station, station_to_central],
        laptops,
    }
}

/// One round: each laptop enrolls its next chunk (maybe killed, then
/// finished), every laptop syncs at once while the station and central
/// may be killed and restarted, and each sync may be killed.
fn round(world: &mut World, mode: Mode, rng: &mut ChaCha8Rng, crashes: &mut Crashes) {
    let tmp = world.tmp.path().to_path_buf();
    for (i, laptop) in world.laptops.iter_mut().enumerate() {
        let chunk: Vec<Value> =
            laptop.records[laptop.enrolled..laptop.enrolled + mode.chunk].to_vec();
        let file = tmp.join(format!("chunk-{i}.ndjson"));
        std::fs::write(&file, to_ndjson(&chunk)).unwrap();
        if rng.random_bool(mode.crash_chance) {
            let after = Duration::from_millis(rng.random_range(0..120));
            if run_maybe_killed(enroll(laptop, &file), Some(after)) {
                crashes.add("laptop_enroll");
            }
        }
        // Enrolling again stores only what the killed run had not.
        run_maybe_killed(enroll(laptop, &file), None);
        laptop.enrolled += mode.chunk;
    }
    let urls: Vec<String> = world.proxies.iter().map(FaultProxy::url).collect();
    let syncs: Vec<(Child, Option<Duration>)> = world
        .laptops
        .iter()
        .map(|l| {
            let kill = rng
                .random_bool(mode.crash_chance)
                .then(|| Duration::from_millis(rng.random_range(0..600)));
            (sync(l, &urls[l.via]), kill)
        })
        .collect();
    // The servers go down while the syncs are under way.
    let kill_central = rng.random_bool(mode.crash_chance);
    let kill_station = rng.random_bool(mode.crash_chance);
    let wait = Duration::from_millis(rng.random_range(0..400));
    std::thread::sleep(wait);
    if kill_station {
        world.station.restart();
        crashes.add("station");
    }
    if kill_central {
        world.central.restart();
        crashes.add("central");
    }
    let handles: Vec<_> = syncs
        .into_iter()
        .map(|(child, kill)| std::thread::spawn(move || run_maybe_killed(child, kill)))
        .collect();
    for h in handles {
        if h.join().unwrap() {
            crashes.add("laptop_sync");
        }
    }
}

#[test]
fn nothing_is_lost_or_duplicated_through_faults_and_crashes() {
    let mode = match std::env::var("DOORSTEP_RELIABILITY").as_deref() {
        Ok("long") => LONG,
        _ => SHORT,
    };
    let seed: u64 = std::env::var("DOORSTEP_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_124);
    let started = Instant::now();
    let mut world = setup(mode, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut crashes = Crashes::default();
    for _ in 0..mode.rounds {
        round(&mut world, mode, &mut rng, &mut crashes);
    }
    let chaos_seconds = started.elapsed().as_secs_f64();

    // Faults stop; everything settles.
    for p in &world.proxies {
        p.set_rate(0.0);
    }
    let urls: Vec<String> = world.proxies.iter().map(FaultProxy::url).collect();
    let settle = Instant::now();
    loop {
        for l in &world.laptops {
            run_maybe_killed(sync(l, &urls[l.via]), None);
        }
        if world
            .laptops
            .iter()
            .all(|l| all_confirmed(&l.dir, l.enrolled))
        {
            break;
        }
        assert!(
            settle.elapsed() < SETTLE,
            "the laptops did not settle: {:?}",
            world
                .laptops
                .iter()
                .map(|l| laptop_status(&l.dir))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Exactly once at central.
    let held = central_records(&world.central_dir);
    let mut total = 0;
    for l in &world.laptops {
        let mine = laptop_records(&l.dir);
        assert_eq!(
            mine.len(),
            l.enrolled,
            "the laptop holds every record it enrolled once"
        );
        let at_central = held.get(&l.device).cloned().unwrap_or_default();
        let mut sorted = at_central.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), at_central.len(), "a record twice at central");
        let mut expected = mine.clone();
        expected.sort();
        assert_eq!(
            sorted, expected,
            "central holds exactly the laptop's records"
        );
        total += at_central.len();
        // The laptop agrees with central, record by record.
        let rec = cli(args![
            "audit",
            "reconcile",
            "--data-dir",
            &l.dir,
            "--server",
            &world.central.url,
            "--json"
        ]);
        rec.assert_success();
        // Its journal verifies.
        cli(args!["audit", "verify", "--data-dir", &l.dir, "--json"]).assert_success();
        assert_eq!(integrity(&l.dir.join("field.sqlite3")), "ok");
    }
    assert_eq!(
        held.len(),
        LAPTOPS,
        "records from unknown devices: {:?}",
        held.keys()
    );
    let enrolled: usize = world.laptops.iter().map(|l| l.enrolled).sum();
    assert_eq!(total, enrolled);

    // Stop the servers so their files are at rest, then check them.
    world.station.kill();
    world.central.kill();
    for (what, dir) in [
        ("central", &world.central_dir),
        ("station", &world.station_dir),
    ] {
        cli(args!["audit", "verify", "--data-dir", dir, "--json"]).assert_success();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sqlite3") {
                assert_eq!(integrity(&path), "ok", "{what}: {}", path.display());
            }
        }
    }

    let faults: Vec<Value> = world
        .proxies
        .iter()
        .zip(["laptops→central", "laptop→station", "station→central"])
        .map(|(p, link)| json!({"link": link, "counts": p.counts()}))
        .collect();
    let injected: u64 = world
        .proxies
        .iter()
        .map(|p| p.counts().total_faults())
        .sum();
    let report = json!({
        "mode": mode.name,
        "seed": seed,
        "records": enrolled,
        "lost": 0,
        "duplicated": 0,
        "faults_injected": injected,
        "faults": faults,
        "crashes": crashes.total(),
        "crashes_by_node": crashes.0,
        "seconds_under_faults": chaos_seconds,
        "seconds_total": started.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let out = doorstep_tests::doorstep_bin()
        .parent()
        .map(|d| d.join("reliability-report.json"))
        .unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("report: {}", out.display());
    assert!(
        injected > 0 && crashes.total() > 0,
        "the run injected nothing: {report}"
    );
}
