#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Attachments end to end, with real processes (`proto/attachments-v1.md`):
//! provisioned laptops enroll records with their image files, sync (directly
//! or through a commune station that relays the sealed blobs), and central
//! ends holding every blob each record names, once, and nothing else. A
//! loopback proxy cuts one upload in the middle and corrupts a chunk of
//! another: the first resumes from the offset central holds, the second is
//! refused by its checksum and sent again.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use doorstep_tests::proxy::{Spoil, SpoilingProxy};
use doorstep_tests::{Output, Server, args, assert_no_panic, cli, doorstep, temp_dir};
use serde_json::Value;

/// Bound on waits (a hang fails the test instead of blocking CI).
const PATIENCE: Duration = Duration::from_secs(600);
/// The uploader's chunk (`proto/attachments-v1.md` 5.1).
const CHUNK: u64 = 256 * 1024;
/// What sealing adds to a blob (4.2).
const SEAL_OVERHEAD: u64 = 121;

/// Runs doorstep in `cwd`.
#[track_caller]
fn run_in(cwd: &Path, a: &[&str]) -> Output {
    let out = doorstep()
        .current_dir(cwd)
        .args(a)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run doorstep {a:?}: {e}"));
    let out = Output {
        status: out.status,
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        command: format!("doorstep {}", a.join(" ")),
    };
    assert_no_panic(&out);
    out
}

/// Generates `count` ID card applications with their image files into
/// `dir` (records in `dir/records.ndjson`, files in `dir/att/`).
fn generate(dir: &Path, count: u64, seed: u64, extra: &[&str]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let count = count.to_string();
    let seed = seed.to_string();
    let mut a = vec![
        "gen",
        "--count",
        &count,
        "--seed",
        &seed,
        "--kind",
        "id_card_application",
        "--attachments",
        "att",
    ];
    a.extend_from_slice(extra);
    let out = run_in(dir, &a);
    out.assert_success();
    let file = dir.join("records.ndjson");
    std::fs::write(&file, out.stdout).unwrap();
    file
}

fn enroll(laptop: &Path, file: &Path) {
    cli(args![
        "field",
        "enroll",
        "--data-dir",
        laptop,
        file,
        "--json"
    ])
    .assert_success();
}

fn sync(laptop: &Path, url: &str) -> Value {
    let out = cli(args![
        "field",
        "sync",
        "--data-dir",
        laptop,
        "--server",
        url,
        "--json",
        "--no-progress",
        "--retries",
        "5",
        "--max-backoff",
        "1"
    ]);
    out.assert_success();
    out.json()
}

fn status(laptop: &Path) -> Value {
    cli(args!["field", "status", "--data-dir", laptop, "--json"]).json()
}

fn count(db: &Path, sql: &str) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    let _ = conn.busy_timeout(Duration::from_millis(500));
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every file under `dir` (recursively), by name.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A provisioned laptop (it seals records and blobs to central), its
/// records attached to `station` when given.
fn provisioned_laptop(dir: &Path, central: &Server, central_dir: &Path, station: Option<&str>) {
    let token = doorstep_tests::provision_token(central_dir, "field", station);
    doorstep_tests::init_laptop(dir, Some((&central.url, &token)));
}

/// Central's blob store is exactly the blobs its records name: none
/// missing, no row and no file without a record, each file's content
/// hashing to its name.
fn assert_central_blobs_exact(central_dir: &Path, expected_blobs: u64) {
    let db = central_dir.join("central.sqlite3");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM record_attachments ra
             WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = ra.sha256)"
        ),
        0,
        "attachments central does not hold"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM blobs b
             WHERE NOT EXISTS (SELECT 1 FROM record_attachments ra WHERE ra.sha256 = b.sha256)"
        ),
        0,
        "blobs no record names"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM blobs"), expected_blobs);
    let files = files_under(&central_dir.join("blobs"));
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files.len() as u64,
        expected_blobs,
        "files in central's blob directory: {names:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(sha256_hex(&bytes), name, "{}", f.display());
    }
    assert!(
        files_under(&central_dir.join("uploads")).is_empty(),
        "partial uploads left behind"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn problems(url: &str, code: &str) -> u64 {
    let text = reqwest::blocking::get(format!("{url}/metrics"))
        .and_then(|r| r.text())
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("doorstep_problems_total") && l.contains(code))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn five_thousand_records_through_a_station_leave_no_blob_missing_or_orphaned() {
    const N: u64 = 5_000;
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let station_dir = tmp.path().join("station");
    let laptop = tmp.path().join("laptop");
    let central = Server::central_secure(&central_dir, 0);
    let station_id = doorstep_tests::register_station(&central.url, &central_dir, &station_dir);
    let station = Server::station(&station_dir, &central.url, 0);
    provisioned_laptop(&laptop, &central, &central_dir, Some(&station_id));

    // A face and two fingerprints each, small (the sizes do not change the
    // protocol; the benchmark uses realistic ones).
    let input = generate(
        &tmp.path().join("input"),
        N,
        5,
        &[
            "--biometrics",
            "face,right_index,left_index",
            "--face-bytes",
            "3000",
            "--fingerprint-bytes",
            "1500",
        ],
    );
    enroll(&laptop, &input);
    let blobs = status(&laptop)["blobs"]["blobs"].as_u64().unwrap();
    assert_eq!(blobs, 3 * N, "{}", status(&laptop));

    // To the station: records held there, every sealed blob with them.
    let report = sync(&laptop, &station.url);
    assert_eq!(report["held"], N, "{report}");
    assert_eq!(report["blobs_uploaded"], 3 * N, "{report}");
    let station_db = station_dir.join("central.sqlite3");
    assert_eq!(
        count(&station_db, "SELECT COUNT(*) FROM sealed_blobs"),
        3 * N
    );

    // The station forwards the records, then relays their blobs; central
    // confirms each record once it holds all three.
    let central_db = central_dir.join("central.sqlite3");
    wait_until("central to hold every blob", || {
        count(&central_db, "SELECT COUNT(*) FROM blobs") == 3 * N
    });
    wait_until("the station to settle every record", || {
        count(
            &station_db,
            "SELECT COUNT(*) FROM records WHERE upstream_status = 'confirmed'",
        ) == N
    });
    assert_eq!(count(&central_db, "SELECT COUNT(*) FROM records"), N);
    assert_central_blobs_exact(&central_dir, 3 * N);
    // The station keeps nothing it relayed.
    assert_eq!(
        count(
            &station_db,
            "SELECT COUNT(*) FROM sealed_blobs WHERE delivered_at IS NULL"
        ),
        0
    );
    assert!(
        files_under(&station_dir.join("blobs")).is_empty(),
        "the station still holds relayed blobs"
    );

    // The laptop learns, through the station, that all is confirmed.
    let report = sync(&laptop, &station.url);
    assert_eq!(report["error"], Value::Null, "{report}");
    let st = status(&laptop);
    assert_eq!(st["by_status"]["confirmed"], N, "{st}");
    assert_eq!(st["blobs"]["to_upload"], 0, "{st}");
}

#[test]
fn a_cut_upload_resumes_and_a_corrupted_chunk_is_refused_and_resent() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let upstream = central.url.trim_start_matches("http://").parse().unwrap();

    // One record with a 300 KB face photo, sealed: two chunks.
    for (name, spoil) in [
        ("cut", Spoil::CutAfter(100_000)),
        ("flip", Spoil::FlipAt(5_000)),
    ] {
        let laptop = tmp.path().join(name);
        provisioned_laptop(&laptop, &central, &central_dir, None);
        let seed = if name == "cut" { 1 } else { 2 };
        let input = generate(
            &tmp.path().join(format!("{name}-input")),
            1,
            seed,
            &["--biometrics", "face", "--face-bytes", "300000"],
        );
        enroll(&laptop, &input);
        let size = status(&laptop)["blobs"]["bytes"].as_u64().unwrap();
        let object = size + SEAL_OVERHEAD;
        assert!(object > CHUNK, "the photo must take two chunks: {size}");

        let proxy = SpoilingProxy::start(upstream, spoil);
        let before = problems(&central.url, "chunk.bad_checksum");
        let report = sync(&laptop, &proxy.url);
        assert!(proxy.spoiled(), "{name}: the proxy never saw a chunk");
        assert_eq!(report["error"], Value::Null, "{name}: {report}");
        assert_eq!(report["blobs_uploaded"], 1, "{name}: {report}");
        let sent = report["blob_bytes_sent"].as_u64().unwrap();
        let resent = sent - object;
        match spoil {
            // Only the chunk in flight is sent again.
            Spoil::CutAfter(_) => {
                assert!(resent > 0, "the cut cost nothing? {report}");
                assert!(resent <= CHUNK, "re-sent {resent} bytes, more than a chunk");
                assert_eq!(problems(&central.url, "chunk.bad_checksum"), before);
            }
            // The corrupted chunk is refused by its checksum, then sent again whole.
            Spoil::FlipAt(_) => {
                assert_eq!(resent, CHUNK, "{report}");
                assert_eq!(problems(&central.url, "chunk.bad_checksum"), before + 1);
            }
        }
        let st = status(&laptop);
        assert_eq!(st["by_status"]["confirmed"], 1, "{name}: {st}");
    }
    assert_central_blobs_exact(&central_dir, 2);
}

#[test]
fn the_same_photo_on_two_records_is_stored_once() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let laptop = tmp.path().join("laptop");
    provisioned_laptop(&laptop, &central, &central_dir, None);

    // Two records (two citizens) naming the very same face file.
    let input = generate(&tmp.path().join("input"), 2, 3, &["--biometrics", "face"]);
    let text = std::fs::read_to_string(&input).unwrap();
    let mut records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first_face = records[0]["attachments"].clone();
    records[1]["attachments"] = first_face;
    let lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    enroll(&laptop, &input);
    assert_eq!(status(&laptop)["blobs"]["blobs"], 1);

    let report = sync(&laptop, &central.url);
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["blobs_uploaded"], 1, "{report}");
    let st = status(&laptop);
    assert_eq!(st["by_status"]["confirmed"], 2, "{st}");
    let db = central_dir.join("central.sqlite3");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM record_attachments"), 2);
    assert_central_blobs_exact(&central_dir, 1);
}
