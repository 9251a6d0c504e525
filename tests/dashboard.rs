#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Central's dashboard (`GET /dashboard`) in a real headless Chromium,
//! driven through chromedriver (WebDriver): a central with a small unit
//! list, a campaign imported with the CLI, records enrolled on two laptops
//! and synced; the numbers the page shows (achieved, target, percent, done,
//! days, rank, units done, the breakdown by place and reason, activity,
//! review and audit state) must be what `GET /v1/reports/*` answers for the
//! same query, at the top, after drilling down and in English. Screenshots
//! go to `<target>/test-artifacts/`.
//!
//! Without chromium and chromedriver the test says `skipped: …` and passes,
//! unless `DOORSTEP_REQUIRE_BROWSER=1` (scripts/test.sh sets it).

#[path = "support/browser.rs"]
mod browser;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use browser::{Driver, PAGE_WAIT, browser_or_skip, click, connect, screenshot, wait_for};
use doorstep_tests::{Server, TempDir, args, cli, read_ndjson, temp_dir};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// One province, two districts, three communes.
const UNITS_CSV: &str = "code,name,level,parent_code
74,Tỉnh Bình Dương,province,
718,Thành phố Thủ Dầu Một,district,74
25747,Phường Phú Cường,commune,718
25750,Phường Phú Hòa,commune,718
721,Thị xã Bến Cát,district,74
25813,Phường Mỹ Phước,commune,721
";

/// Targets at province and commune level (the districts' are summed), an
/// early deadline for one commune, a second metric and a second campaign.
const CAMPAIGN_CSV: &str = "campaign,unit_code,metric,target,start,deadline
kich-hoat-2023,74,eid_activation,1200,2023-07-01,2023-09-30
kich-hoat-2023,25747,eid_activation,30,2023-07-01,2023-09-20
kich-hoat-2023,25750,eid_activation,50,2023-07-01,2023-09-30
kich-hoat-2023,25813,eid_activation,28,2023-07-01,2023-09-30
kich-hoat-2023,25747,id_card_intake,10,2023-07-01,2023-09-30
thi-diem-2024,74,eid_registration,500,2024-01-01,2024-03-31
";

const CAMPAIGN: &str = "kich-hoat-2023";
const AS_OF: &str = "2023-09-27";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Vi,
    En,
}

// --- the browser --------------------------------------------------------

/// Waits until the page finished a load of `scope` ("" for the top).
async fn wait_ready(c: &Client, scope: &str) {
    let css = format!(r#"body[data-ready="1"][data-scope="{scope}"]"#);
    if let Err(e) = c
        .wait()
        .at_most(PAGE_WAIT)
        .every(Duration::from_millis(50))
        .for_element(Locator::Css(&css))
        .await
    {
        let banner = page_banner(c).await;
        panic!("the dashboard did not load {scope:?}: {e} (banner: {banner:?})");
    }
}

async fn page_banner(c: &Client) -> Option<String> {
    let v = c
        .execute(
            "const b = document.getElementById('banner'); return b && !b.hidden ? b.textContent : null;",
            vec![],
        )
        .await
        .ok()?;
    v.as_str().map(str::to_owned)
}

/// What the page shows, read from the DOM in one round trip.
async fn read_page(c: &Client) -> Value {
    const SCRIPT: &str = r#"
        const text = (root, id) => {
            const e = root.querySelector('[data-testid="' + id + '"]');
            return e ? e.textContent : null;
        };
        const all = (css) => Array.from(document.querySelectorAll(css));
        return {
            lang: document.documentElement.lang,
            banner: document.getElementById('banner').hidden ? null
                : document.getElementById('banner').textContent,
            heading: document.getElementById('h-progress').textContent,
            crumbs: all('[data-testid="crumb"]').map(e => [e.dataset.unit, e.textContent]),
            units: all('[data-testid="unit-row"]').map(r => ({
                unit: r.dataset.unit, role: r.dataset.role,
                achieved: r.dataset.achieved, target: r.dataset.target,
                percent_x100: r.dataset.percentX100, done: r.dataset.done,
                reached_on: r.dataset.reachedOn, days_ahead: r.dataset.daysAhead,
                days_left: r.dataset.daysLeft, rank: r.dataset.rank, rank_of: r.dataset.rankOf,
                units_done: r.dataset.unitsDone,
                achieved_text: text(r, 'achieved'), target_text: text(r, 'target'),
                percent_text: text(r, 'percent'), days_text: text(r, 'days'),
                units_done_text: text(r, 'units-done'), done_mark: text(r, 'done-mark'),
                drill: r.querySelector('[data-testid="drill"]') !== null,
            })),
            ranking: all('[data-testid="rank-row"]').map(r => ({
                unit: r.dataset.unit, rank: r.dataset.rank, rank_of: r.dataset.rankOf,
                rank_text: text(r, 'rank'), achieved_text: text(r, 'achieved'),
                target_text: text(r, 'target'), percent_text: text(r, 'percent'),
            })),
            places: all('[data-testid="place-row"]').map(r => [r.dataset.key, Number(r.dataset.count), r.querySelector('.blabel').textContent]),
            reasons: all('[data-testid="reason-row"]').map(r => [r.dataset.key, Number(r.dataset.count), r.querySelector('.blabel').textContent]),
            nodes: all('[data-testid="node"]').map(r => [r.dataset.node, Number(r.dataset.accepted), Number(r.dataset.sessions)]),
            gaps: all('[data-testid="gap"]').map(r => [r.dataset.device, Number(r.dataset.from), Number(r.dataset.to)]),
            conflicts: all('[data-testid="conflict"]').map(r => [r.dataset.record, r.dataset.code]),
            gaps_total: Number(document.querySelector('[data-testid="gaps-total"]').dataset.count),
            conflicts_total: Number(document.querySelector('[data-testid="conflicts-total"]').dataset.count),
            coverage: all('[data-testid="coverage-row"]').map(r => [r.dataset.unit, Number(r.dataset.remaining)]),
            audit: document.querySelector('[data-testid="audit-state"]').dataset.state,
            audit_class: document.querySelector('[data-testid="audit-state"]').className,
            metric_shown: !document.getElementById('metric-wrap').hidden,
            metric: document.getElementById('metric').value,
            metrics: Array.from(document.getElementById('metric').options).map(o => o.value),
            campaigns: Array.from(document.getElementById('campaign').options).map(o => o.value),
        };
    "#;
    c.execute(SCRIPT, vec![])
        .await
        .unwrap_or_else(|e| panic!("cannot read the page: {e}"))
}

// --- what the page should say -------------------------------------------

fn fmt_int(n: i64, lang: Lang) -> String {
    let sep = if lang == Lang::Vi { '.' } else { ',' };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(d);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// 11882 → "118,82 %" / "118.82%".
fn fmt_pct(x100: u64, lang: Lang) -> String {
    let whole = fmt_int(i64::try_from(x100 / 100).unwrap(), lang);
    match lang {
        Lang::Vi => format!("{whole},{:02} %", x100 % 100),
        Lang::En => format!("{whole}.{:02}%", x100 % 100),
    }
}

fn days_text(u: &Value, lang: Lang) -> String {
    if u["target"].is_null() {
        return "–".into();
    }
    let en = |n: i64, one: &str, many: &str| {
        if n == 1 {
            one.to_owned()
        } else {
            many.replace("{n}", &fmt_int(n, lang))
        }
    };
    if u["done"] == true {
        let a = u["days_ahead"].as_i64().unwrap();
        match (lang, a.signum()) {
            (Lang::Vi, 0) => "đúng hạn".into(),
            (Lang::Vi, 1) => format!("sớm {} ngày", fmt_int(a, lang)),
            (Lang::Vi, _) => format!("trễ {} ngày", fmt_int(-a, lang)),
            (Lang::En, 0) => "on the deadline".into(),
            (Lang::En, 1) => en(a, "1 day ahead", "{n} days ahead"),
            (Lang::En, _) => en(-a, "1 day late", "{n} days late"),
        }
    } else {
        let l = u["days_left"].as_i64().unwrap();
        match (lang, l.signum()) {
            (Lang::Vi, 0) => "hết hạn hôm nay".into(),
            (Lang::Vi, 1) => format!("còn {} ngày", fmt_int(l, lang)),
            (Lang::Vi, _) => format!("quá hạn {} ngày", fmt_int(-l, lang)),
            (Lang::En, 0) => "due today".into(),
            (Lang::En, 1) => en(l, "1 day left", "{n} days left"),
            (Lang::En, _) => en(-l, "1 day overdue", "{n} days overdue"),
        }
    }
}

/// "Hoàn thành: 1/2 huyện · 2/3 xã" / "Done: 1/2 districts · 2/3 communes".
fn units_done_text(u: &Value, lang: Lang) -> Option<String> {
    let list = u["units_done"].as_array()?;
    if list.is_empty() {
        return None;
    }
    let parts: Vec<String> = list
        .iter()
        .map(|x| {
            let level = x["level"].as_str().unwrap();
            let name = match (lang, level) {
                (Lang::Vi, "province") => "tỉnh",
                (Lang::Vi, "district") => "huyện",
                (Lang::Vi, "commune") => "xã",
                (Lang::En, "province") => "provinces",
                (Lang::En, "district") => "districts",
                (Lang::En, "commune") => "communes",
                _ => level,
            };
            format!("{}/{} {name}", x["done"], x["total"])
        })
        .collect();
    let label = if lang == Lang::Vi {
        "Hoàn thành"
    } else {
        "Done"
    };
    Some(format!("{label}: {}", parts.join(" · ")))
}

/// A JSON number or null as the page's data attribute holds it.
fn attr(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn place_label(key: &str) -> &str {
    match key {
        "home" => "Tại nhà",
        "hospital" => "Bệnh viện",
        "workplace" => "Nơi làm việc",
        "boarding_house" => "Nhà trọ",
        "mobile_point" => "Điểm lưu động",
        "station" => "Trụ sở công an",
        _ => "Khác",
    }
}

fn reason_label(key: &str) -> &str {
    match key {
        "bedridden" => "Nằm liệt giường",
        "elderly" => "Người cao tuổi",
        "disabled" => "Khuyết tật",
        "worker" => "Công nhân",
        "temporary_resident" => "Tạm trú",
        _ => "Khác",
    }
}

/// Every number the page shows for a progress answer equals the API's.
fn assert_progress(page: &Value, api: &Value, scope: Option<&str>, lang: Lang) {
    let api_units = api["units"].as_array().unwrap();
    let page_units = page["units"].as_array().unwrap();
    let api_codes: Vec<&str> = api_units
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    let page_codes: Vec<&str> = page_units
        .iter()
        .map(|u| u["unit"].as_str().unwrap())
        .collect();
    assert_eq!(page_codes, api_codes, "units and their order");
    assert!(!api_units.is_empty(), "{api}");
    for (p, a) in page_units.iter().zip(api_units) {
        let code = a["code"].as_str().unwrap();
        let ctx = format!("unit {code}\n page: {p}\n api: {a}");
        let is_scope = scope == Some(code);
        assert_eq!(p["role"], if is_scope { "scope" } else { "child" }, "{ctx}");
        for field in [
            "achieved",
            "target",
            "percent_x100",
            "done",
            "reached_on",
            "days_ahead",
            "days_left",
            "rank",
            "rank_of",
        ] {
            assert_eq!(
                p[field].as_str().unwrap(),
                attr(&a[field]),
                "{field} of {ctx}"
            );
        }
        let units_done: Vec<String> = a["units_done"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                format!(
                    "{}:{}/{}",
                    x["level"].as_str().unwrap(),
                    x["done"],
                    x["total"]
                )
            })
            .collect();
        assert_eq!(p["units_done"], units_done.join(","), "{ctx}");
        // What a person reads.
        let achieved = a["achieved"].as_i64().unwrap();
        assert_eq!(p["achieved_text"], fmt_int(achieved, lang), "{ctx}");
        let target_text = match a["target"].as_i64() {
            Some(t) => fmt_int(t, lang),
            None if lang == Lang::Vi => "Chưa có chỉ tiêu".into(),
            None => "No target".into(),
        };
        assert_eq!(p["target_text"], target_text, "{ctx}");
        let pct = a["percent_x100"]
            .as_u64()
            .map_or_else(|| "–".to_owned(), |x| fmt_pct(x, lang));
        assert_eq!(p["percent_text"], pct, "{ctx}");
        let days = p["days_text"].as_str().unwrap();
        assert!(
            days.ends_with(&days_text(a, lang)),
            "days: {days:?} vs {:?} ({ctx})",
            days_text(a, lang)
        );
        let done_mark = if lang == Lang::Vi {
            "✓ Hoàn thành"
        } else {
            "✓ Done"
        };
        if a["done"] == true {
            assert_eq!(p["done_mark"], done_mark, "{ctx}");
        } else {
            assert!(p["done_mark"].is_null(), "{ctx}");
        }
        match units_done_text(a, lang) {
            Some(t) => assert_eq!(p["units_done_text"], t, "{ctx}"),
            None => assert!(p["units_done_text"].is_null(), "{ctx}"),
        }
        assert_eq!(
            p["drill"],
            a["has_children"] == true && !is_scope,
            "drill-down link of {ctx}"
        );
    }
    // The ranking: every unit but the drilled-into one, in the API's order.
    let ranked: Vec<&Value> = api_units
        .iter()
        .filter(|u| scope != u["code"].as_str())
        .collect();
    let rows = page["ranking"].as_array().unwrap();
    assert_eq!(rows.len(), ranked.len(), "ranking rows: {rows:?}");
    for (r, a) in rows.iter().zip(ranked) {
        let ctx = format!("ranking row {r} vs {a}");
        assert_eq!(r["unit"], a["code"], "{ctx}");
        assert_eq!(r["rank"].as_str().unwrap(), attr(&a["rank"]), "{ctx}");
        assert_eq!(r["rank_of"].as_str().unwrap(), attr(&a["rank_of"]), "{ctx}");
        let rank_text = match (a["rank"].as_u64(), a["rank_of"].as_u64()) {
            (Some(r), Some(of)) => format!("{r}/{of}"),
            _ => "–".into(),
        };
        assert_eq!(r["rank_text"], rank_text, "{ctx}");
        assert_eq!(
            r["achieved_text"],
            fmt_int(a["achieved"].as_i64().unwrap(), lang),
            "{ctx}"
        );
        let pct = a["percent_x100"]
            .as_u64()
            .map_or_else(|| "–".to_owned(), |x| fmt_pct(x, lang));
        assert_eq!(r["percent_text"], pct, "{ctx}");
    }
    // The breakdown: the drilled-into unit's, or the sum of the listed ones.
    let shown: Vec<&Value> = match scope {
        Some(code) => api_units.iter().filter(|u| u["code"] == code).collect(),
        None => api_units.iter().collect(),
    };
    for (field, page_field) in [("by_place", "places"), ("by_reason", "reasons")] {
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for u in &shown {
            for (k, v) in u[field].as_object().unwrap() {
                *want.entry(k.clone()).or_default() += v.as_u64().unwrap();
            }
        }
        want.retain(|_, n| *n > 0);
        let got: BTreeMap<String, u64> = page[page_field]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_u64().unwrap()))
            .collect();
        assert_eq!(got, want, "{field}");
        if lang == Lang::Vi {
            for r in page[page_field].as_array().unwrap() {
                let key = r[0].as_str().unwrap();
                let label = if field == "by_place" {
                    place_label(key)
                } else {
                    reason_label(key)
                };
                assert_eq!(r[2], label, "label of {key}");
            }
        }
    }
}

// --- the data -------------------------------------------------------------

/// `doorstep gen` of `count` records of `kind` visited in `unit`, valid in
/// the laptop store at `laptop`.
fn generate(
    laptop: &Path,
    file: &Path,
    count: u32,
    seed: u32,
    unit: &str,
    kind: &str,
) -> Vec<Value> {
    let out = cli(args![
        "gen",
        "--count",
        count.to_string(),
        "--seed",
        seed.to_string(),
        "--unit",
        unit,
        "--kind",
        kind,
        "--data-dir",
        laptop,
    ]);
    out.assert_success();
    std::fs::write(file, &out.stdout).unwrap();
    read_ndjson(file)
}

/// A laptop for province 74 on the test's unit list, its records enrolled
/// and synced to `server`: its data directory, device ID and records.
fn laptop(
    tmp: &Path,
    name: &str,
    units: &Path,
    server: &str,
    sets: &[(u32, u32, &str, &str)],
) -> (PathBuf, String, Vec<Value>) {
    let dir = tmp.join(name);
    let init = cli(args![
        "field",
        "init",
        "--data-dir",
        &dir,
        "--unit",
        "74",
        "--device-name",
        name,
        "--units",
        units,
        "--json"
    ]);
    init.assert_success();
    let device = init.json()["device_id"].as_str().unwrap().to_owned();
    let mut records = Vec::new();
    for &(count, seed, unit, kind) in sets {
        let file = tmp.join(format!("{name}-{seed}.ndjson"));
        records.extend(generate(&dir, &file, count, seed, unit, kind));
        cli(args!["field", "enroll", "--data-dir", &dir, &file]).assert_success();
    }
    let out = cli(args![
        "field",
        "sync",
        "--data-dir",
        &dir,
        "--server",
        server,
        "--json",
        "--no-progress"
    ]);
    out.assert_success();
    assert_eq!(out.json()["accepted"], records.len(), "{}", out.stdout);
    (dir, device, records)
}

/// Something for the review list: the laptop enrolls `extra` more records
/// and a batch made by hand sends central only the last of them (the
/// numbers before it become a gap) and its first record altered under the
/// same ID (a conflict). Returns the record central accepted.
fn make_gap_and_conflict(dir: &Path, device: &str, server: &str, extra: &Path) -> Value {
    cli(args!["field", "enroll", "--data-dir", dir, extra]).assert_success();
    let stored = doorstep_tests::stored_canonical(dir);
    let last = stored.last().unwrap().2.clone();
    let mut doc: Value = serde_json::from_slice(&stored[0].2).unwrap();
    doc["body"]["citizen"]["full_name"] = json!("Trần Văn Đổi");
    let mut jcs = Vec::new();
    doorstep_core::canonical::write_jcs(&doc, &mut jcs).unwrap();
    let altered = doorstep_core::canonical::encode_record(
        &doorstep_core::canonical::decode_record(&jcs).unwrap(),
    );
    let line = |bytes: &[u8]| {
        format!(
            r#"{{"content_hash":"{}","record":{}}}"#,
            doorstep_core::ContentHash::of(bytes).to_hex(),
            std::str::from_utf8(bytes).unwrap()
        )
    };
    let body = format!(
        r#"{{"protocol":1,"batch_id":"019a4f6e-3c21-7d4b-8e5f-0000000000d1","session_id":"019a4f6e-3c21-7d4b-8e5f-0000000000d2","sender":{{"node_id":"{device}","role":"field","client_version":"test"}},"records":[{},{}]}}"#,
        line(&last),
        line(&altered)
    );
    let resp = reqwest::blocking::Client::new()
        .post(format!("{server}/v1/batches"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let receipt: Value = resp.json().unwrap();
    assert_eq!(receipt["counts"]["accepted"], 1, "{receipt}");
    assert_eq!(receipt["counts"]["conflict"], 1, "{receipt}");
    read_ndjson(extra).pop().unwrap()
}

fn get_json(url: &str) -> Value {
    let resp = reqwest::blocking::get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status();
    let body = resp.text().unwrap();
    assert!(status.is_success(), "GET {url}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// Everything the page will be compared with, asked before the browser
/// starts (nothing changes central's data afterwards).
struct Api {
    campaigns: Value,
    top: Value,
    province: Value,
    district: Value,
    intake: Value,
    activity: Value,
    review: Value,
    audit: Value,
    coverage: Value,
}

fn ask_api(base: &str) -> Api {
    let progress = |extra: &str| {
        get_json(&format!(
            "{base}/v1/reports/progress?campaign={CAMPAIGN}&as_of={AS_OF}{extra}"
        ))
    };
    // Central verifies its log at start; wait (bounded) for that result so
    // the page and this answer cannot differ.
    let start = Instant::now();
    let audit = loop {
        let a = get_json(&format!("{base}/v1/reports/audit"));
        if a["state"] != "pending" || start.elapsed() > PAGE_WAIT {
            break a;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Api {
        campaigns: get_json(&format!("{base}/v1/reports/campaigns")),
        top: progress("&metric=eid_activation"),
        province: progress("&metric=eid_activation&unit=74"),
        district: progress("&metric=eid_activation&unit=718"),
        intake: progress("&metric=id_card_intake"),
        activity: get_json(&format!("{base}/v1/reports/activity?hours=48")),
        review: get_json(&format!("{base}/v1/reports/review?limit=50")),
        audit,
        coverage: get_json(&format!("{base}/v1/reports/coverage")),
    }
}

/// Records of `kind` per visit unit.
fn count_by_unit(records: &[Value], kind: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in records.iter().filter(|r| r["kind"] == kind) {
        *out.entry(r["visit"]["unit_code"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

fn unit<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["code"] == code)
        .unwrap_or_else(|| panic!("unit {code} not in {report}"))
}

// --- the test -------------------------------------------------------------

#[test]
fn the_dashboard_shows_what_the_reports_api_answers() {
    let Some((chromium, chromedriver)) = browser_or_skip("dashboard browser test") else {
        return;
    };

    let tmp = temp_dir();
    let units = tmp.path().join("units.csv");
    std::fs::write(&units, UNITS_CSV).unwrap();
    let central_dir = tmp.path().join("central");
    let central = Server::central_with_units(&central_dir, 0, Some(&units));
    let campaign = tmp.path().join("campaign.csv");
    std::fs::write(&campaign, CAMPAIGN_CSV).unwrap();
    cli(args![
        "central",
        "campaign",
        "import",
        "--data-dir",
        &central_dir,
        &campaign
    ])
    .assert_success();

    let (_, _, mut records) = laptop(
        tmp.path(),
        "Tổ 1 – Phú Cường",
        &units,
        &central.url,
        &[
            (40, 11, "25747", "eid_activation"),
            (25, 12, "25750", "eid_activation"),
            (12, 13, "25747", "id_card_application"),
        ],
    );
    let (dir2, device2, records2) = laptop(
        tmp.path(),
        "Tổ 2 – Mỹ Phước",
        &units,
        &central.url,
        &[(30, 14, "25813", "eid_activation")],
    );
    records.extend(records2);
    let extra = tmp.path().join("extra.ndjson");
    generate(&dir2, &extra, 3, 15, "25750", "id_card_application");
    records.push(make_gap_and_conflict(&dir2, &device2, &central.url, &extra));

    // A roster of three residents of 25747, one of whom is enrolled below
    // by neither laptop: the dashboard shows who is left.
    let roster = tmp.path().join("roster.csv");
    std::fs::write(
        &roster,
        "personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs\n\
         074303000001,Nguyễn Thị Lan,2003-05-14,female,25747,Tổ 1,HK1,card\n\
         074303000002,Trần Thị Hoa,2003-05-14,female,25747,Tổ 1,HK1,card\n\
         074303000003,Lê Thị Mai,2003-05-14,female,25750,Tổ 2,HK2,card\n",
    )
    .unwrap();
    cli(args![
        "central",
        "roster",
        "import",
        "--data-dir",
        &central_dir,
        &roster
    ])
    .assert_success();

    let api = ask_api(&central.url);
    // The API counts what was synced (the page is then compared with it).
    let activations = count_by_unit(&records, "eid_activation");
    assert_eq!(
        unit(&api.top, "74")["achieved"],
        activations.values().sum::<u64>(),
        "{}",
        api.top
    );
    assert_eq!(
        unit(&api.district, "25747")["achieved"],
        activations["25747"]
    );
    assert_eq!(
        unit(&api.district, "25750")["achieved"],
        activations["25750"]
    );
    assert_eq!(unit(&api.province, "721")["achieved"], activations["25813"]);
    assert_eq!(
        unit(&api.intake, "74")["achieved"],
        count_by_unit(&records, "id_card_application")
            .values()
            .sum::<u64>()
    );
    assert_eq!(api.review["gaps_total"], 1, "{}", api.review);
    assert_eq!(api.review["conflicts_total"], 1, "{}", api.review);

    let driver = Driver::start(&chromedriver, tmp.path());
    let profile = TempDir::new().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(browse(
        &driver,
        &chromium,
        profile.path(),
        &central.url,
        &api,
    ));
}

async fn browse(driver: &Driver, chromium: &Path, profile: &Path, base: &str, api: &Api) {
    let c = connect(driver, chromium, profile).await;
    let page_url =
        format!("{base}/dashboard?campaign={CAMPAIGN}&metric=eid_activation&as_of={AS_OF}");

    // Vietnamese by default, top-level units.
    c.goto(&page_url).await.unwrap();
    wait_ready(&c, "").await;
    let page = read_page(&c).await;
    assert_eq!(page["lang"], "vi");
    assert_eq!(page["banner"], Value::Null, "no error: {page}");
    assert_eq!(page["heading"], "Tiến độ chiến dịch");
    // Who is left, as the coverage report answers.
    let coverage: Vec<Value> = api.coverage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["unit_code"], r["remaining"]]))
        .collect();
    assert_eq!(coverage.len(), 3, "{}", api.coverage);
    assert_eq!(page["coverage"], json!(coverage), "{page}");
    let campaigns = api.campaigns["campaigns"].as_array().unwrap();
    let names: Vec<&Value> = campaigns.iter().map(|c| &c["campaign"]).collect();
    assert_eq!(page["campaigns"], json!(names), "{}", api.campaigns);
    assert_eq!(campaigns.len(), 2, "{}", api.campaigns);
    let ours = campaigns
        .iter()
        .find(|c| c["campaign"] == CAMPAIGN)
        .unwrap();
    assert_eq!(page["metrics"], ours["metrics"], "the metric picker");
    assert_eq!(page["metric_shown"], true, "two metrics: a picker");
    assert_progress(&page, &api.top, None, Lang::Vi);
    assert_eq!(page["crumbs"], json!([["", "Tất cả đơn vị"]]));
    // Activity, review and audit as the API says.
    let nodes: Vec<Value> = api.activity["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let buckets = n["buckets"].as_array().unwrap();
            let sum = |f: &str| buckets.iter().map(|b| b[f].as_u64().unwrap()).sum::<u64>();
            json!([n["node_id"], sum("accepted"), sum("sessions")])
        })
        .collect();
    assert_eq!(nodes.len(), 2, "two laptops synced: {}", api.activity);
    assert_eq!(page["nodes"], Value::Array(nodes));
    assert_eq!(page["gaps_total"], api.review["gaps_total"]);
    assert_eq!(page["conflicts_total"], api.review["conflicts_total"]);
    let gaps: Vec<Value> = api.review["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| json!([g["device_id"], g["from"], g["to"]]))
        .collect();
    assert_eq!(page["gaps"], Value::Array(gaps));
    let conflicts: Vec<Value> = api.review["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([attr(&c["record_id"]), c["code"]]))
        .collect();
    assert_eq!(page["conflicts"], Value::Array(conflicts));
    assert_eq!(page["audit"], api.audit["state"]);
    assert_eq!(api.audit["state"], "verified", "{}", api.audit);
    assert!(page["audit_class"].as_str().unwrap().contains("ok"));
    screenshot(&c, "dashboard-vi.png").await;

    // Drill into the province, then a district: the breadcrumb leads back.
    click(&c, r#"[data-testid="drill"][data-unit="74"]"#).await;
    wait_ready(&c, "74").await;
    let page = read_page(&c).await;
    assert_progress(&page, &api.province, Some("74"), Lang::Vi);
    click(&c, r#"[data-testid="drill"][data-unit="718"]"#).await;
    wait_ready(&c, "718").await;
    let page = read_page(&c).await;
    assert_progress(&page, &api.district, Some("718"), Lang::Vi);
    assert_eq!(
        page["crumbs"],
        json!([
            ["", "Tất cả đơn vị"],
            ["74", "Tỉnh Bình Dương"],
            ["718", "Thành phố Thủ Dầu Một"]
        ])
    );
    screenshot(&c, "dashboard-drilldown.png").await;
    click(&c, r#"button[data-testid="crumb"][data-unit="74"]"#).await;
    wait_ready(&c, "74").await;
    assert_progress(&read_page(&c).await, &api.province, Some("74"), Lang::Vi);

    // English: labels and number formats change, the numbers do not.
    click(&c, r#"[data-testid="lang-switch"]"#).await;
    wait_for(&c, r#"html[lang="en"]"#).await;
    let page = read_page(&c).await;
    assert_eq!(page["heading"], "Campaign progress");
    assert_progress(&page, &api.province, Some("74"), Lang::En);
    screenshot(&c, "dashboard-en.png").await;
    // The choice is remembered; `?lang=` overrides it.
    c.goto(&page_url).await.unwrap();
    wait_ready(&c, "").await;
    let page = read_page(&c).await;
    assert_eq!(page["lang"], "en", "English remembered");
    assert_progress(&page, &api.top, None, Lang::En);
    // A bookmarked drill-down: the breadcrumb's names are asked for.
    c.goto(&format!("{page_url}&unit=718&lang=vi"))
        .await
        .unwrap();
    wait_ready(&c, "718").await;
    let page = read_page(&c).await;
    assert_eq!(page["lang"], "vi");
    assert_progress(&page, &api.district, Some("718"), Lang::Vi);
    assert_eq!(
        page["crumbs"],
        json!([
            ["", "Tất cả đơn vị"],
            ["74", "Tỉnh Bình Dương"],
            ["718", "Thành phố Thủ Dầu Một"]
        ])
    );
    click(&c, r#"button[data-testid="crumb"][data-unit=""]"#).await;
    wait_ready(&c, "").await;

    // The other metric, from the picker.
    c.find(Locator::Css(r#"#metric option[value="id_card_intake"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, r#"body[data-ready="1"][data-metric="id_card_intake"]"#).await;
    let page = read_page(&c).await;
    assert_eq!(page["metric"], "id_card_intake");
    assert_progress(&page, &api.intake, None, Lang::Vi);

    // An error from the API is shown, not swallowed.
    c.goto(&format!("{page_url}&unit=00000")).await.unwrap();
    wait_ready(&c, "00000").await;
    let banner = page_banner(&c).await.expect("an error banner");
    assert!(banner.contains("/v1/reports/progress"), "{banner}");

    c.close().await.unwrap();
}
