#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Campaign reports end to end, with real processes on loopback: a laptop
//! syncs generated records to central, a campaign is imported with the
//! CLI, and `doorstep report progress` (table, CSV, JSON) and the
//! `/v1/reports/*` endpoints answer what the records add up to — counted
//! here independently from the records the laptop enrolled.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use doorstep_core::progress::percent_x100;
use doorstep_tests::{Server, Store, args, free_port, run, temp_dir};
use serde_json::Value;

const START: &str = "2023-07-01";
const DEADLINE: &str = "2023-09-30";
const AS_OF: &str = "2023-09-27";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Activations per commune and per visit day, as the laptop enrolled them.
fn activations(records: &[Value]) -> (BTreeMap<String, u64>, BTreeMap<NaiveDate, u64>) {
    let mut by_unit = BTreeMap::new();
    let mut by_day = BTreeMap::new();
    for r in records.iter().filter(|r| r["kind"] == "eid_activation") {
        let on = day(&r["visit"]["at"].as_str().unwrap()[..10]);
        if on < day(START) || on > day(AS_OF) {
            continue;
        }
        *by_unit
            .entry(r["visit"]["unit_code"].as_str().unwrap().to_owned())
            .or_default() += 1;
        *by_day.entry(on).or_default() += 1;
    }
    (by_unit, by_day)
}

fn report(url: &str, extra: &[&str]) -> doorstep_tests::Output {
    let mut a = args![
        "--lang",
        "en",
        "report",
        "progress",
        "--server",
        url,
        "--campaign",
        "bd-2023",
        "--as-of",
        AS_OF
    ];
    a.extend(extra.iter().map(Into::into));
    run(a)
}

fn get(url: &str) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

#[test]
fn campaign_progress_adds_up_the_synced_records() {
    let store = Store::new();
    let records = store.records(600, 11);
    store
        .enroll(&store.file("gen-600-11.ndjson"))
        .assert_success();
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central(&central_dir, free_port());
    store
        .field(
            "sync",
            &["--server", &central.url, "--json", "--no-progress"],
        )
        .assert_success();

    let (by_unit, by_day) = activations(&records);
    let total: u64 = by_unit.values().sum();
    assert!(total > 50, "the generator makes activations: {total}");
    // Province target one below what was done; the busiest commune exactly
    // at its target, the next one short by one.
    let province_target = total - 1;
    let mut busiest: Vec<(&String, &u64)> = by_unit.iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let (c1, n1) = (busiest[0].0.clone(), *busiest[0].1);
    let (c2, n2) = (busiest[1].0.clone(), *busiest[1].1);
    let mut running = 0;
    let reached = by_day
        .iter()
        .find_map(|(d, n)| {
            running += n;
            (running >= province_target).then_some(*d)
        })
        .unwrap();

    // A bad file is refused whole, every bad line named.
    let bad = store.write(
        "bad.csv",
        format!(
            "campaign,unit_code,metric,target,start,deadline\n\
             bd-2023,74,eid_activation,{province_target},{START},{DEADLINE}\n\
             bd-2023,99999,eid_activation,5,{START},{DEADLINE}\n\
             bd-2023,74,id_card_intake,-3,{START},{DEADLINE}\n"
        ),
    );
    let out = run(args![
        "--lang",
        "en",
        "central",
        "campaign",
        "import",
        "--data-dir",
        &central_dir,
        &bad
    ]);
    out.assert_code(2);
    out.assert_stderr_contains("line 3: unit `99999`");
    out.assert_stderr_contains("line 4: target `-3`");
    out.assert_stderr_contains("Nothing was imported");

    let good = store.write(
        "campaign.csv",
        format!(
            "\u{feff}campaign,unit_code,metric,target,start,deadline\r\n\
             bd-2023,74,eid_activation,{province_target},{START},{DEADLINE}\r\n\
             bd-2023,{c1},eid_activation,{n1},{START},{DEADLINE}\r\n\
             bd-2023,{c2},eid_activation,{},{START},2023-09-20\r\n\
             bd-2023,74,id_card_intake,1000000,{START},{DEADLINE}\r\n",
            n2 + 1
        ),
    );
    run(args![
        "central",
        "campaign",
        "import",
        "--data-dir",
        &central_dir,
        &good
    ])
    .assert_success();

    // The province, as the news would report it.
    let out = report(&central.url, &["--metric", "eid_activation", "--json"]);
    out.assert_success();
    let json = out.json();
    let bd = &json["units"][0];
    assert_eq!(bd["code"], "74", "{json}");
    assert_eq!(bd["achieved"], total, "{bd}");
    assert_eq!(bd["target"], province_target, "{bd}");
    assert_eq!(
        bd["percent_x100"],
        percent_x100(total, province_target),
        "{bd}"
    );
    assert_eq!(bd["done"], true, "{bd}");
    assert_eq!(bd["reached_on"], reached.to_string(), "{bd}");
    assert_eq!(
        bd["days_ahead"],
        (day(DEADLINE) - reached).num_days(),
        "{bd}"
    );
    assert_eq!(
        (bd["rank"].as_u64(), bd["rank_of"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(bd["units_done"][1]["level"], "commune", "{bd}");
    assert_eq!(
        (
            bd["units_done"][1]["done"].as_u64(),
            bd["units_done"][1]["total"].as_u64()
        ),
        (Some(1), Some(2))
    );

    // Every commune of the province that did any activation, drilled into.
    let out = report(
        &central.url,
        &[
            "--metric",
            "eid_activation",
            "--unit",
            "74",
            "--level",
            "commune",
            "--json",
        ],
    );
    out.assert_success();
    let communes = out.json();
    let rows = communes["units"].as_array().unwrap();
    assert_eq!(rows.len(), by_unit.len(), "{communes}");
    for row in rows {
        let code = row["code"].as_str().unwrap();
        assert_eq!(row["achieved"], by_unit[code], "{row}");
    }
    let row = |code: &str| rows.iter().find(|r| r["code"] == code).unwrap();
    assert_eq!(
        (row(&c1)["done"].as_bool(), row(&c1)["days_ahead"].is_i64()),
        (Some(true), true)
    );
    assert_eq!(row(&c2)["done"], false);
    assert_eq!(
        row(&c2)["days_left"],
        -7,
        "2023-09-20 is 7 days before {AS_OF}"
    );
    assert_eq!(row(&c1)["rank"], 1, "the commune at 100% ranks first");

    // Both metrics in one table, in Vietnamese.
    let out = run(args![
        "report",
        "progress",
        "--server",
        &central.url,
        "--campaign",
        "bd-2023",
        "--as-of",
        AS_OF
    ]);
    out.assert_success();
    assert!(out.stdout.contains("Tỉnh Bình Dương"), "{}", out.stdout);
    assert!(
        out.stdout.contains("kích hoạt định danh điện tử"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("thu nhận hồ sơ căn cước"),
        "{}",
        out.stdout
    );
    let pct = percent_x100(total, province_target);
    assert!(
        out.stdout
            .contains(&format!("{},{:02}%", pct / 100, pct % 100)),
        "{}",
        out.stdout
    );

    // CSV for Excel: a byte order mark, Vietnamese intact, one line per unit.
    let csv_file = store.file("progress.csv");
    report(
        &central.url,
        &["--unit", "74", "--csv", "-o", csv_file.to_str().unwrap()],
    )
    .assert_success();
    let bytes = std::fs::read(&csv_file).unwrap();
    assert!(bytes.starts_with(b"\xef\xbb\xbf"));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(",Tỉnh Bình Dương,"), "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("campaign,metric,as_of,rank")
    );

    // What a person must fix is a usage error (exit 2) that says what.
    let out = run(args![
        "--lang",
        "en",
        "report",
        "progress",
        "--server",
        &central.url,
        "--campaign",
        "nope"
    ]);
    out.assert_code(2);
    out.assert_stderr_contains("campaign `nope` is not known");
    report(&central.url, &["--unit", "123456789"])
        .assert_code(2)
        .assert_stderr_contains("123456789");
    run(args![
        "report",
        "progress",
        "--server",
        &central.url,
        "--campaign",
        "bd-2023",
        "--as-of",
        "2023-02-30"
    ])
    .assert_code(2);

    // The endpoints the dashboard reads.
    let campaigns = get(&format!("{}/v1/reports/campaigns", central.url));
    assert_eq!(
        campaigns["campaigns"][0]["campaign"], "bd-2023",
        "{campaigns}"
    );
    assert_eq!(campaigns["campaigns"][0]["targets"], 4, "{campaigns}");
    let activity = get(&format!("{}/v1/reports/activity?hours=2", central.url));
    let nodes = activity["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{activity}");
    let accepted: u64 = nodes[0]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(accepted, 600, "{activity}");
    let review = get(&format!("{}/v1/reports/review", central.url));
    assert_eq!(
        (
            review["conflicts_total"].as_u64(),
            review["gaps_total"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let audit = get(&format!("{}/v1/reports/audit", central.url));
    assert_eq!(audit["state"], "verified", "{audit}");
    let bad = reqwest::blocking::get(format!(
        "{}/v1/reports/progress?campaign=bd-2023&level=ward",
        central.url
    ))
    .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}
