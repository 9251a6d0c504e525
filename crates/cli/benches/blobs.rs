//! Attachment upload benchmark (not a test): provisioned laptops with ID
//! card applications carrying realistic biometrics (a ~60 KB face and ten
//! ~25 KB fingerprints each, sealed to central) sync over loopback, one
//! straight to `doorstep central serve`, one through `doorstep station
//! serve`. Counting proxies sit on every hop and measure the bytes on the
//! wire both ways; the same number of bytes pushed through the same kind
//! of proxy into a plain TCP sink is the raw rate to compare against.
//! Run: `cargo bench -p doorstep-cli --bench blobs` (`BENCH_RECORDS` to
//! change the number of records per laptop, default 200).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_doorstep");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doorstep_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .current_dir(cwd)
        .args(args)
        .env("DOORSTEP_LANG", "en")
        .env("DOORSTEP_PASSPHRASE", "benchmark passphrase")
        .output()
        .expect("run doorstep");
    assert!(
        out.status.success(),
        "doorstep {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn serve(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("DOORSTEP_LANG", "en")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a server");
    let mut first = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    lines.read_line(&mut first).unwrap();
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.lines() {});
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (child, url)
}

fn count(db: &Path, sql: &str) -> u64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.busy_timeout(Duration::from_millis(500))?;
            c.query_row(sql, [], |r| r.get::<_, i64>(0))
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

/// A loopback proxy counting the bytes that pass each way.
struct Counting {
    url: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Counting {
    fn start(upstream: SocketAddr) -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (u, d) = (Arc::clone(&up), Arc::clone(&down));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (u, d) = (Arc::clone(&u), Arc::clone(&d));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server, &u));
                std::thread::spawn(move || pipe(s2, c2, &d));
            }
        });
        Counting { url, up, down }
    }

    fn total(&self) -> u64 {
        self.up.load(Ordering::SeqCst) + self.down.load(Ordering::SeqCst)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, counter: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// Seconds to push `bytes` through a counting proxy into a TCP sink.
fn raw_rate(bytes: u64) -> f64 {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let drain = std::thread::spawn(move || {
        let (mut s, _) = sink.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    });
    let proxy = Counting::start(sink_addr);
    let started = Instant::now();
    let mut conn = TcpStream::connect(addr(&proxy.url)).unwrap();
    let chunk = vec![0x5au8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        conn.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    conn.shutdown(Shutdown::Write).unwrap();
    drain.join().unwrap();
    started.elapsed().as_secs_f64()
}

/// Seconds to store each file of `dir` durably the way central stores a
/// blob, with nothing else: write to a temporary file, fsync, rename,
/// fsync the directory. The floor a node that stores every image durably
/// cannot go below; returns the seconds and the bytes.
fn raw_durable(dir: &Path, into: &Path) -> (f64, u64) {
    std::fs::create_dir_all(into).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let contents: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let started = Instant::now();
    let mut bytes = 0u64;
    let dir_handle = std::fs::File::open(into).unwrap();
    for (i, data) in contents.iter().enumerate() {
        let tmp = into.join(format!("{i}.tmp"));
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(data).unwrap();
        f.sync_all().unwrap();
        std::fs::rename(&tmp, into.join(i.to_string())).unwrap();
        dir_handle.sync_all().unwrap();
        bytes += data.len() as u64;
    }
    (started.elapsed().as_secs_f64(), bytes)
}

fn main() {
    let n = env_u64("BENCH_RECORDS", 200);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let units = root().join("data/units/units_2023.csv");
    let units = units.to_str().unwrap();
    let central_dir = t.join("central");
    let cd = central_dir.to_str().unwrap();
    let (mut central, central_url) = serve(&[
        "central",
        "serve",
        "--data-dir",
        cd,
        "--listen",
        "127.0.0.1:0",
        "--units",
        units,
    ]);
    let to_central = Counting::start(addr(&central_url));
    let station_up = Counting::start(addr(&central_url));

    // The station, registered, forwarding through its own counting proxy.
    let station_dir = t.join("station");
    let sd = station_dir.to_str().unwrap();
    let token = json(&doorstep_in(
        t,
        &[
            "central",
            "provision",
            "--data-dir",
            cd,
            "--unit",
            "74",
            "--name",
            "Trạm",
            "--role",
            "station",
            "--json",
        ],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let station_id = json(&doorstep_in(
        t,
        &[
            "station",
            "register",
            "--data-dir",
            sd,
            "--server",
            &central_url,
            "--token",
            &token,
            "--units",
            units,
            "--json",
        ],
    ))["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut station, station_url) = serve(&[
        "station",
        "serve",
        "--data-dir",
        sd,
        "--upstream",
        &station_up.url,
        "--listen",
        "127.0.0.1:0",
        "--forward-interval",
        "1",
    ]);
    let to_station = Counting::start(addr(&station_url));

    // Two laptops, the same kind of work.
    let mut laptops = Vec::new();
    for (name, seed, station) in [
        ("direct", 1u64, None),
        ("via-station", 2, Some(station_id.as_str())),
    ] {
        let dir = t.join(name);
        let d = dir.to_str().unwrap();
        let mut provision = vec![
            "central",
            "provision",
            "--data-dir",
            cd,
            "--unit",
            "74",
            "--name",
            name,
            "--role",
            "field",
            "--json",
        ];
        if let Some(s) = station {
            provision.extend(["--station", s]);
        }
        let token = json(&doorstep_in(t, &provision))["token"]
            .as_str()
            .unwrap()
            .to_owned();
        doorstep_in(
            t,
            &[
                "field",
                "init",
                "--data-dir",
                d,
                "--unit",
                "74",
                "--device-name",
                name,
                "--units",
                units,
                "--server",
                &central_url,
                "--token",
                &token,
                "--biometrics",
                "face,all",
            ],
        );
        let input_dir = t.join(format!("{name}-input"));
        std::fs::create_dir_all(&input_dir).unwrap();
        let out = doorstep_in(
            &input_dir,
            &[
                "gen",
                "--count",
                &n.to_string(),
                "--seed",
                &seed.to_string(),
                "--kind",
                "id_card_application",
                "--attachments",
                "att",
                "--biometrics",
                "face,all",
            ],
        );
        let input = input_dir.join("records.ndjson");
        std::fs::write(&input, &out.stdout).unwrap();
        doorstep_in(
            t,
            &[
                "field",
                "enroll",
                "--no-progress",
                "--data-dir",
                d,
                input.to_str().unwrap(),
            ],
        );
        let status = json(&doorstep_in(
            t,
            &["field", "status", "--data-dir", d, "--json"],
        ));
        let blob_bytes = status["blobs"]["bytes"].as_u64().unwrap();
        let blobs = status["blobs"]["blobs"].as_u64().unwrap();
        laptops.push((dir, blobs, blob_bytes));
    }

    let sync = |dir: &Path, url: &str| -> serde_json::Value {
        json(&doorstep_in(
            t,
            &[
                "field",
                "sync",
                "--data-dir",
                dir.to_str().unwrap(),
                "--server",
                url,
                "--json",
                "--no-progress",
            ],
        ))
    };

    // Laptop → central.
    let (dir, blobs, blob_bytes) = &laptops[0];
    let started = Instant::now();
    let report = sync(dir, &to_central.url);
    let direct_s = started.elapsed().as_secs_f64();
    assert_eq!(report["blobs_uploaded"].as_u64(), Some(*blobs), "{report}");
    let direct_wire = to_central.total();
    let direct_batches = report["bytes_sent"].as_u64().unwrap_or(0);
    let direct_chunks = report["blob_bytes_sent"].as_u64().unwrap_or(0);
    let raw_s = raw_rate(direct_wire);
    let (durable_s, durable_bytes) =
        raw_durable(&t.join("direct-input/att"), &t.join("raw-durable"));

    // Laptop → station → central: until central holds every blob.
    let (dir2, blobs2, blob_bytes2) = &laptops[1];
    let central_db = central_dir.join("central.sqlite3");
    let before = count(&central_db, "SELECT COUNT(*) FROM blobs");
    let started = Instant::now();
    let report2 = sync(dir2, &to_station.url);
    let hop1_s = started.elapsed().as_secs_f64();
    assert_eq!(
        report2["blobs_uploaded"].as_u64(),
        Some(*blobs2),
        "{report2}"
    );
    while count(&central_db, "SELECT COUNT(*) FROM blobs") < before + blobs2 {
        assert!(
            started.elapsed() < Duration::from_secs(1200),
            "the station did not relay every blob"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let via_s = started.elapsed().as_secs_f64();
    let hop1_wire = to_station.total();
    let hop2_wire = station_up.total();

    let _ = station.kill();
    let _ = central.kill();
    let _ = station.wait();
    let _ = central.wait();

    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "records per laptop: {n} card applications, face + 10 fingerprints each; laptop 1: {blobs} blobs, {:.1} MB; laptop 2: {blobs2} blobs, {:.1} MB",
        mb(*blob_bytes),
        mb(*blob_bytes2)
    );
    println!(
        "laptop -> central: sync {direct_s:.2} s = {:.1} MB/s of blob bytes; wire {:.1} MB both ways = {:.4} bytes per blob byte (batches {:.2} MB, chunk bodies {:.1} MB)",
        mb(*blob_bytes) / direct_s,
        mb(direct_wire),
        direct_wire as f64 / *blob_bytes as f64,
        mb(direct_batches),
        mb(direct_chunks)
    );
    println!(
        "raw loopback TCP through the same proxy, same {:.1} MB: {raw_s:.2} s = {:.1} MB/s (ours / raw = {:.2})",
        mb(direct_wire),
        mb(direct_wire) / raw_s,
        (mb(*blob_bytes) / direct_s) / (mb(direct_wire) / raw_s)
    );
    println!(
        "raw durable storage of the same {blobs} files on this disk (write, fsync, rename, fsync dir; nothing else): {durable_s:.2} s = {:.1} MB/s, {:.2} ms per file (our sync / raw durable = {:.2})",
        mb(durable_bytes) / durable_s,
        durable_s * 1000.0 / *blobs as f64,
        (mb(*blob_bytes) / direct_s) / (mb(durable_bytes) / durable_s)
    );
    println!(
        "laptop -> station: sync {hop1_s:.2} s = {:.1} MB/s; wire {:.1} MB = {:.4} bytes per blob byte",
        mb(*blob_bytes2) / hop1_s,
        mb(hop1_wire),
        hop1_wire as f64 / *blob_bytes2 as f64
    );
    println!(
        "station -> central (relay, forward interval 1 s): wire {:.1} MB = {:.4} bytes per blob byte; laptop sync start to central holding every blob: {via_s:.2} s = {:.1} MB/s end to end",
        mb(hop2_wire),
        hop2_wire as f64 / *blob_bytes2 as f64,
        mb(*blob_bytes2) / via_s
    );
}
