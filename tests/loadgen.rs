#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `doorstep loadgen` against a real central on loopback: what it reports
//! is what central holds (every record once, no gap, relayed by the right
//! number of stations), a second run with the same seed is answered
//! `duplicate` throughout, and mistakes of the person running it (a
//! central not open to unregistered devices, bad flags) exit 2 and say why.

use std::path::Path;

use doorstep_tests::{Output, Server, args, cli, free_port, temp_dir, units_csv};
use serde_json::Value;

fn loadgen(url: &str, extra: &[&str]) -> Output {
    let mut a = args!["loadgen", "--server", url, "--json", "--no-progress"];
    a.extend(extra.iter().map(std::ffi::OsString::from));
    cli(a)
}

fn central_status(dir: &Path) -> Value {
    let out = cli(args!["central", "status", "--data-dir", dir, "--json"]);
    out.assert_success();
    out.json()
}

/// Records central holds per relaying station (NULL: sent directly).
fn relayed_by(dir: &Path) -> Vec<(Option<String>, i64)> {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("central.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare("SELECT relayed_by, count(*) FROM records GROUP BY relayed_by ORDER BY 1")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Central holds exactly `devices` laptops with `per_device` records each,
/// numbered 1..=per_device with no gap.
fn assert_held(status: &Value, devices: usize, per_device: u64) {
    assert_eq!(status["records"], devices as u64 * per_device, "{status}");
    let list = status["devices"].as_array().unwrap();
    assert_eq!(list.len(), devices, "{status}");
    for d in list {
        assert_eq!(d["records"], per_device, "{d}");
        assert_eq!(d["contiguous_seq"], per_device, "{d}");
        assert_eq!(d["max_seq"], per_device, "{d}");
        assert_eq!(d["gaps"], Value::Array(vec![]), "{d}");
    }
}

fn assert_outcomes(report: &Value, accepted: u64, duplicate: u64) {
    let o = &report["outcomes"];
    assert_eq!(o["accepted"], accepted, "{report}");
    assert_eq!(o["duplicate"], duplicate, "{report}");
    assert_eq!(o["conflict"], 0, "{report}");
    assert_eq!(o["invalid"], 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(report["records_unsent"], 0, "{report}");
    assert_eq!(report["records_answered"], accepted + duplicate, "{report}");
}

#[test]
fn laptops_relayed_by_stations_arrive_exactly_once() {
    let tmp = temp_dir();
    let dir = tmp.path().join("central");
    let central = Server::central(&dir, 0);
    let units = units_csv();
    let units = units.to_str().unwrap();
    let flags = [
        "--devices",
        "4",
        "--records-per-device",
        "60",
        "--stations",
        "2",
        "--batch-records",
        "25",
        "--seed",
        "11",
        "--units",
        units,
        "--communes-of",
        "74",
    ];
    let first = loadgen(&central.url, &flags);
    first.assert_success();
    let report = first.json();
    assert_outcomes(&report, 240, 0);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["records_total"], 240, "{report}");
    assert_eq!(report["stations"], 2, "{report}");
    assert_eq!(report["senders"], 2, "{report}");
    // Each station relays 2 laptops × 60 records in batches of 25: 5 batches.
    assert_eq!(report["batches"], 10, "{report}");
    let lat = &report["latency_ms"];
    for p in ["p50", "p95", "p99", "max"] {
        assert!(lat[p].as_f64().unwrap() > 0.0, "{report}");
    }
    assert!(lat["p50"].as_f64() <= lat["p95"].as_f64(), "{report}");
    assert!(lat["p99"].as_f64() <= lat["max"].as_f64(), "{report}");
    assert!(report["records_per_second"].as_f64().unwrap() > 0.0);

    let status = central_status(&dir);
    assert_held(&status, 4, 60);
    // Relayed, by two stations, 120 records each.
    let relays = relayed_by(&dir);
    assert_eq!(relays.len(), 2, "{relays:?}");
    assert!(
        relays.iter().all(|(s, n)| s.is_some() && *n == 120),
        "{relays:?}"
    );

    // The same seed again: the same records, every one already held.
    let again = loadgen(&central.url, &flags);
    again.assert_code(1);
    let report = again.json();
    assert_outcomes(&report, 0, 240);
    assert_eq!(report["ok"], false, "{report}");
    assert_held(&central_status(&dir), 4, 60);

    // Another seed: new laptops, new records.
    let mut other = flags.to_vec();
    other[9] = "12";
    loadgen(&central.url, &other).assert_success();
    assert_eq!(central_status(&dir)["records"], 480);
}

#[test]
fn laptops_sending_directly_arrive_exactly_once() {
    let tmp = temp_dir();
    let dir = tmp.path().join("central");
    let central = Server::central(&dir, 0);
    let units = units_csv();
    // --records spread over the laptops: 240 over 4 is 60 each.
    let flags = [
        "--devices",
        "4",
        "--records",
        "240",
        "--batch-records",
        "50",
        "--concurrency",
        "2",
        "--seed",
        "5",
        "--units",
        units.to_str().unwrap(),
        "--kind",
        "mixed",
    ];
    let first = loadgen(&central.url, &flags);
    first.assert_success();
    let report = first.json();
    assert_outcomes(&report, 240, 0);
    assert_eq!(report["senders"], 4, "{report}");
    assert_eq!(report["concurrency"], 2, "{report}");
    // 60 records per laptop in batches of 50: 2 each.
    assert_eq!(report["batches"], 8, "{report}");
    let status = central_status(&dir);
    assert_held(&status, 4, 60);
    assert_eq!(relayed_by(&dir), vec![(None, 240)]);
    // A realistic mix of kinds, not one kind.
    assert!(status["by_kind"].as_array().unwrap().len() > 1, "{status}");

    let again = loadgen(&central.url, &flags);
    again.assert_code(1);
    assert_outcomes(&again.json(), 0, 240);
    assert_held(&central_status(&dir), 4, 60);
}

#[test]
fn text_output_names_every_figure() {
    let tmp = temp_dir();
    let central = Server::central(&tmp.path().join("central"), 0);
    let out = cli(args![
        "loadgen",
        "--server",
        &central.url,
        "--devices",
        "2",
        "--records-per-device",
        "3",
        "--no-progress"
    ]);
    out.assert_success();
    for needle in [
        "records/s",
        "p50",
        "p95",
        "p99",
        "max",
        "6 accepted",
        "errors",
        "wall time",
        "exactly once",
    ] {
        assert!(out.stdout.contains(needle), "{needle}:\n{}", out.stdout);
    }
}

#[test]
fn a_central_that_requires_registration_is_a_user_mistake() {
    let tmp = temp_dir();
    let dir = tmp.path().join("central");
    let central = Server::central_secure(&dir, 0);
    let out = loadgen(
        &central.url,
        &["--devices", "3", "--records-per-device", "10"],
    );
    out.assert_code(2);
    out.assert_stderr_contains("--allow-unregistered");
    out.assert_stderr_contains("auth.required");
    let report = out.json();
    assert_eq!(report["outcomes"]["accepted"], 0, "{report}");
    assert_eq!(central_status(&dir)["records"], 0);
}

#[test]
fn usage_mistakes_exit_2_with_a_message() {
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--server",
                "central:8750",
                "--devices",
                "2",
                "--records-per-device",
                "5",
            ],
            "--server",
        ),
        (
            vec![
                "--server",
                &nobody,
                "--devices",
                "2",
                "--records-per-device",
                "0",
            ],
            "--records-per-device",
        ),
        (
            vec!["--server", &nobody, "--devices", "2"],
            "--records-per-device",
        ),
        (
            vec![
                "--server",
                &nobody,
                "--devices",
                "2",
                "--records-per-device",
                "5",
                "--stations",
                "3",
            ],
            "--stations 3",
        ),
        (
            vec![
                "--server",
                &nobody,
                "--devices",
                "2",
                "--records-per-device",
                "5",
                "--batch-records",
                "5001",
            ],
            "--batch-records",
        ),
        (
            vec![
                "--server",
                &nobody,
                "--devices",
                "2",
                "--records-per-device",
                "5",
            ],
            "cannot reach",
        ),
    ];
    for (flags, needle) in cases {
        let mut a = args!["loadgen", "--no-progress"];
        a.extend(flags.iter().map(std::ffi::OsString::from));
        let out = cli(a);
        out.assert_code(2);
        out.assert_stderr_contains(needle);
    }
}
