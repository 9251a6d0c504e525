#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Offline bundle files with real processes: a laptop with no network
//! exports its queue (`field export`), the commune station imports it
//! (`station import`). Importing again or an overlapping bundle changes
//! nothing twice; a truncated or altered copy is refused and imports
//! nothing; an existing file is never overwritten; the laptop's records
//! stay queued.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use doorstep_tests::{Output, Server, Store, args, gen_records, run, temp_dir};
use serde_json::Value;

fn station_records(station_dir: &Path) -> u64 {
    let db = station_dir.join("central.sqlite3");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the station store read-only");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    u64::try_from(n).unwrap()
}

fn export(laptop: &Store, out: &Path) -> Value {
    let o = laptop.field(
        "export",
        &[OsStr::new("--out"), out.as_os_str(), OsStr::new("--json")],
    );
    o.assert_success();
    o.json()
}

fn import(station_dir: &Path, files: &[&Path], json: bool) -> Output {
    let mut a = args![
        "--lang",
        "en",
        "station",
        "import",
        "--data-dir",
        station_dir
    ];
    a.extend(files.iter().map(|f| f.as_os_str().to_os_string()));
    if json {
        a.push("--json".into());
    }
    run(a)
}

fn enroll(laptop: &Store, n: u64, seed: u64) {
    let file = laptop.file(&format!("records-{seed}.ndjson"));
    gen_records(&laptop.dir, n, seed, &file);
    laptop.enroll(&file).assert_success();
}

/// Starts the station once (nothing listens upstream) so its store exists,
/// then stops it.
fn make_station(dir: &Path) {
    let mut station = Server::station(dir, "http://127.0.0.1:9", 0);
    station.kill();
}

fn copy_with(src: &Path, dst: PathBuf, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    edit(&mut bytes);
    std::fs::write(&dst, bytes).unwrap();
    dst
}

#[test]
fn bundles_carry_the_queue_to_the_station_exactly_once() {
    let laptop = Store::new();
    let tmp = temp_dir();
    let station_dir = tmp.path().join("station");
    make_station(&station_dir);
    assert_eq!(station_records(&station_dir), 0);

    // Empty queue: nothing written, exit 0.
    let empty = laptop.file("empty.dsbundle");
    let o = laptop.field("export", &[OsStr::new("--out"), empty.as_os_str()]);
    o.assert_success();
    assert!(!empty.exists());
    assert!(o.stdout.contains("queue is empty"), "{}", o.stdout);

    enroll(&laptop, 500, 7);
    let first = laptop.file("first.dsbundle");
    let doc = export(&laptop, &first);
    assert_eq!(doc["count"], 500, "{doc}");
    assert_eq!(doc["seq_from"], 1, "{doc}");
    assert_eq!(doc["seq_to"], 500, "{doc}");
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(doc["bytes"], bytes.len() as u64);
    assert_eq!(doc["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(&bytes[..8], b"DSBUNDL1");
    // No temporary file left next to it.
    let leftovers: Vec<_> = std::fs::read_dir(first.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Exporting changes nothing on the laptop: every record still queued.
    assert_eq!(laptop.status()["outbox"], 500);

    // Never overwrite.
    let again = laptop.field("export", &[OsStr::new("--out"), first.as_os_str()]);
    again.assert_code(2);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    assert_eq!(std::fs::read(&first).unwrap(), bytes);

    // Import: 500 accepted; again: 500 duplicate, nothing new.
    let o = import(&station_dir, &[&first], true);
    o.assert_success();
    let doc = o.json();
    assert_eq!(doc["totals"]["accepted"], 500, "{doc}");
    assert_eq!(doc["files"][0]["status"], "imported", "{doc}");
    assert_eq!(station_records(&station_dir), 500);
    let o = import(&station_dir, &[&first], true);
    o.assert_success();
    let doc = o.json();
    assert_eq!(doc["totals"]["accepted"], 0, "{doc}");
    assert_eq!(doc["totals"]["duplicate"], 500, "{doc}");
    assert_eq!(station_records(&station_dir), 500);

    // 100 more records; the second bundle overlaps the first.
    enroll(&laptop, 100, 8);
    let second = laptop.file("second.dsbundle");
    let doc = export(&laptop, &second);
    assert_eq!(doc["count"], 600, "{doc}");
    let o = import(&station_dir, &[&second], false);
    o.assert_success();
    assert!(o.stdout.contains("accepted: 100"), "{}", o.stdout);
    assert!(o.stdout.contains("duplicate: 500"), "{}", o.stdout);
    assert_eq!(station_records(&station_dir), 600);

    // Damaged copies are refused with a clear reason; nothing imported.
    let truncated = copy_with(&second, laptop.file("truncated.dsbundle"), |b| {
        b.truncate(b.len() * 2 / 3);
    });
    let flipped = copy_with(&second, laptop.file("flipped.dsbundle"), |b| {
        let i = b.len() / 2;
        b[i] ^= 0x10;
    });
    enroll(&laptop, 10, 9);
    let third = laptop.file("third.dsbundle");
    export(&laptop, &third);
    let damaged_third = copy_with(&third, laptop.file("third-damaged.dsbundle"), |b| {
        let last = b.len() - 1;
        b[last] ^= 0x01;
    });
    for bad in [&truncated, &flipped, &damaged_third] {
        let o = import(&station_dir, &[bad.as_path()], false);
        o.assert_code(2);
        assert!(o.stdout.contains("REFUSED"), "{}", o.stdout);
        assert!(o.stdout.contains("damaged or incomplete"), "{}", o.stdout);
        assert!(
            o.stdout.contains(&bad.display().to_string()),
            "{}",
            o.stdout
        );
        assert_eq!(station_records(&station_dir), 600);
    }

    // Several files: a refused one does not stop the others (exit 2).
    let o = import(&station_dir, &[&truncated, &third], true);
    o.assert_code(2);
    let doc = o.json();
    assert_eq!(doc["refused"], 1, "{doc}");
    assert_eq!(doc["files"][0]["status"], "refused", "{doc}");
    assert_eq!(doc["files"][1]["status"], "imported", "{doc}");
    assert_eq!(doc["totals"]["accepted"], 10, "{doc}");
    assert_eq!(doc["totals"]["duplicate"], 600, "{doc}");
    assert_eq!(station_records(&station_dir), 610);

    // Not a station: refused with a message.
    let o = import(&laptop.dir, &[&first], false);
    o.assert_code(2);

    // Vietnamese by default.
    let vi = laptop.file("vi.dsbundle");
    let o = run(args![
        "field",
        "export",
        "--data-dir",
        &laptop.dir,
        "--out",
        &vi
    ]);
    o.assert_success();
    assert!(o.stdout.contains("Đã ghi gói dữ liệu"), "{}", o.stdout);
    let o = run(args![
        "field",
        "export",
        "--data-dir",
        &laptop.dir,
        "--out",
        &vi
    ]);
    o.assert_code(2);
    assert!(o.stderr.contains("tệp đã tồn tại"), "{}", o.stderr);
    assert_eq!(laptop.status()["outbox"], 610);
}
