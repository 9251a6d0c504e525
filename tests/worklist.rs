#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Worklists end to end, with real processes: a roster of 5,000 residents
//! over three communes at central; team A and team B sync with central,
//! team C through the commune station. Each team downloads exactly its
//! assignment, goes offline, records visit outcomes and enrollments, and
//! syncs. Then: the coverage report equals the counts the scenario makes,
//! the person referred elsewhere is on the target commune's worklist, the
//! contradictory outcomes of two teams are flagged, a newer extract with 10
//! changed residents sends only those 10 (bytes reported), and a revoked
//! laptop receives nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use doorstep_tests::{Output, Server, args, run, temp_dir};
use serde_json::{Value, json};

/// Communes of district 718 (Thủ Dầu Một, province 74) in the 2023 list.
const X1: &str = "25741";
const X2: &str = "25744";
const X3: &str = "25747";
const SIZES: [(&str, usize); 3] = [(X1, 1_700), (X2, 1_700), (X3, 1_600)];
const PATIENCE: Duration = Duration::from_secs(300);

const FAMILY: [&str; 8] = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi"];
const MIDDLE_M: [&str; 3] = ["Văn", "Hữu", "Đức"];
const MIDDLE_F: [&str; 3] = ["Thị", "Ngọc", "Thu"];
const GIVEN: [&str; 8] = ["An", "Bình", "Cường", "Dũng", "Hà", "Lan", "Phương", "Thảo"];

#[derive(Debug, Clone)]
struct Resident {
    pid: String,
    name: String,
    dob: String,
    sex: &'static str,
    unit: &'static str,
    household: String,
    needs: &'static str,
}

fn roster() -> Vec<Resident> {
    let mut out = Vec::new();
    let mut i = 0usize;
    for (unit, n) in SIZES {
        for _ in 0..n {
            let male = i.is_multiple_of(2);
            let year = 1950 + (i % 55);
            let digit = u8::from(year >= 2000) * 2 + u8::from(!male);
            let name = format!(
                "{} {} {}",
                FAMILY[i % FAMILY.len()],
                if male {
                    MIDDLE_M[i % 3]
                } else {
                    MIDDLE_F[i % 3]
                },
                GIVEN[(i / 8) % GIVEN.len()]
            );
            out.push(Resident {
                pid: format!("074{digit}{:02}{:06}", year % 100, i),
                name,
                dob: format!("{year}-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
                sex: if male { "male" } else { "female" },
                unit,
                household: format!("HK{:05}", i / 4),
                // Every tenth person also needs an e-ID account.
                needs: if i % 10 == 9 {
                    "card;eid_registration"
                } else {
                    "card"
                },
            });
            i += 1;
        }
    }
    out
}

fn roster_csv(people: &[Resident], detail_of: impl Fn(usize) -> String) -> String {
    let mut s =
        "personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs\n"
            .to_owned();
    for (i, p) in people.iter().enumerate() {
        s.push_str(&format!(
            "{},{},{},{},{},\"{}\",{},{}\n",
            p.pid,
            p.name,
            p.dob,
            p.sex,
            p.unit,
            detail_of(i),
            p.household,
            p.needs
        ));
    }
    s
}

fn cli(a: Vec<std::ffi::OsString>) -> Output {
    let out = run(a);
    doorstep_tests::assert_no_panic(&out);
    out
}

struct Laptop {
    dir: PathBuf,
    id: String,
}

impl Laptop {
    fn field(&self, sub: &str, extra: &[&str]) -> Output {
        let mut a = args!["--lang", "en", "field", sub, "--data-dir", &self.dir];
        a.extend(extra.iter().map(std::ffi::OsString::from));
        cli(a)
    }

    fn sync(&self, url: &str) -> Value {
        let out = self.field(
            "sync",
            &[
                "--server",
                url,
                "--json",
                "--no-progress",
                "--retries",
                "2",
                "--max-backoff",
                "1",
            ],
        );
        out.assert_success();
        out.json()
    }

    fn worklist(&self) -> Vec<Value> {
        let out = self.field("worklist", &["--json"]);
        out.assert_success();
        people(&out.json())
    }

    fn visit(&self, pid: &str, outcome: &str, extra: &[&str]) {
        let mut a = vec![
            "--person",
            pid,
            "--outcome",
            outcome,
            "--officer",
            "CA-74-0001",
            "--json",
        ];
        a.extend_from_slice(extra);
        self.field("visit", &a).assert_success();
    }

    fn enroll_card(&self, p: &Resident, scratch: &Path) {
        let at = (chrono::Utc::now() - chrono::Duration::hours(1))
            .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
        let record = json!({
            "kind": "id_card_application",
            "citizen": {
                "personal_id": p.pid, "full_name": p.name, "date_of_birth": p.dob, "sex": p.sex,
                "permanent_address": {"unit_code": p.unit, "detail": "Tổ 1"}
            },
            "visit": {"place": "home", "unit_code": p.unit, "at": at},
            "officer_id": "CA-74-0001"
        });
        let file = scratch.join(format!("enroll-{}.json", p.pid));
        std::fs::write(&file, record.to_string()).unwrap();
        let out = self.field("enroll", &[file.to_str().unwrap(), "--json"]);
        out.assert_success();
    }
}

/// The people of a `field worklist --json` answer.
fn people(v: &Value) -> Vec<Value> {
    v.as_array()
        .or_else(|| v["people"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("no people in {v}"))
}

fn laptop(dir: PathBuf, central: &Server, central_dir: &Path, station: Option<&str>) -> Laptop {
    let token = doorstep_tests::provision_token(central_dir, "field", station);
    let id = doorstep_tests::init_laptop(&dir, Some((&central.url, &token)));
    Laptop { dir, id }
}

fn assign(data_dir: &Path, which: &str, device: &str, extra: &[&str]) -> Output {
    let mut a = args![
        "--lang",
        "en",
        which,
        "assign",
        "--data-dir",
        data_dir,
        "--device",
        device
    ];
    a.extend(extra.iter().map(std::ffi::OsString::from));
    cli(a)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn row<'a>(report: &'a Value, unit: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit_code"] == unit)
        .unwrap_or_else(|| panic!("no row for {unit} in {report}"))
}

#[derive(Debug, Default, Clone, Copy)]
struct Expect {
    eligible: u64,
    reached: u64,
    enrolled: u64,
    deceased: u64,
    done_elsewhere: u64,
    referred_out: u64,
    referred_in: u64,
    review: u64,
    not_home: u64,
    refused: u64,
    cannot_travel: u64,
    moved: u64,
    partly: u64,
}

fn check_row(report: &Value, unit: &str, e: Expect) {
    let r = row(report, unit);
    let closed = e.deceased + e.done_elsewhere;
    let remaining = e.eligible - e.enrolled - closed - e.referred_out + e.referred_in;
    let named = e.not_home + e.refused + e.cannot_travel + e.moved + e.partly + e.review;
    let expected = json!({
        "eligible": e.eligible, "reached": e.reached, "enrolled": e.enrolled, "closed": closed,
        "deceased": e.deceased, "done_elsewhere": e.done_elsewhere,
        "referred_out": e.referred_out, "referred_in": e.referred_in, "review": e.review,
        "remaining": remaining,
        "remaining_by_reason": {
            "not_visited": remaining - named, "not_home": e.not_home, "cannot_travel": e.cannot_travel,
            "refused": e.refused, "moved": e.moved, "partly_enrolled": e.partly, "review": e.review
        }
    });
    for (key, want) in expected.as_object().unwrap() {
        assert_eq!(&r[key], want, "{unit}: {key} in {r}");
    }
}

#[test]
fn teams_download_their_worklists_record_outcomes_and_coverage_adds_up() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_with_units(&central_dir, 0, Some(&doorstep_tests::units_csv()));
    let station_dir = tmp.path().join("station");
    let station_id = doorstep_tests::register_station(&central.url, &central_dir, &station_dir);
    let station = Server::station(&station_dir, &central.url, 0);
    let a = laptop(tmp.path().join("a"), &central, &central_dir, None);
    let b = laptop(tmp.path().join("b"), &central, &central_dir, None);
    let c = laptop(
        tmp.path().join("c"),
        &central,
        &central_dir,
        Some(&station_id),
    );

    // The roster, and who reaches whom.
    let people = roster();
    let by_unit = |u: &str| {
        people
            .iter()
            .filter(|p| p.unit == u)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (p1, p2, p3) = (by_unit(X1), by_unit(X2), by_unit(X3));
    let file = tmp.path().join("roster.csv");
    std::fs::write(
        &file,
        roster_csv(&people, |i| format!("Số {i}, tổ {}", i % 9 + 1)),
    )
    .unwrap();
    let imported = cli(args![
        "central",
        "roster",
        "import",
        "--data-dir",
        &central_dir,
        &file,
        "--json"
    ]);
    imported.assert_success();
    assert_eq!(imported.json()["added"], 5_000, "{}", imported.json());
    assign(&central_dir, "central", &a.id, &["--units", X1]).assert_success();
    assign(&central_dir, "central", &b.id, &["--units", X2]).assert_success();
    // The contradiction: team B is also sent to the household of p1[220].
    let contested = &p1[220];
    assign(
        &central_dir,
        "central",
        &b.id,
        &["--add", "--households", &contested.household],
    )
    .assert_success();
    // Team C is the station's: it sub-assigns once it has heard from central.
    wait_until("the station to know laptop C", || {
        assign(&station_dir, "station", &c.id, &["--units", X3]).code() == Some(0)
    });
    // Central refuses to assign a unit that does not exist, with exit 2.
    assign(&central_dir, "central", &a.id, &["--units", "99999"]).assert_code(2);

    // Down-sync: each team holds exactly its assignment.
    let first_a = a.sync(&central.url);
    b.sync(&central.url);
    c.sync(&station.url);
    let household_size = people
        .iter()
        .filter(|p| p.household == contested.household)
        .count();
    assert_eq!(a.worklist().len(), p1.len());
    assert_eq!(b.worklist().len(), p2.len() + household_size);
    assert_eq!(c.worklist().len(), p3.len());
    let first_bytes = first_a["worklist"]["bytes"].as_u64().unwrap();
    eprintln!(
        "first download, team A: {} people, {first_bytes} bytes",
        p1.len()
    );

    // Offline: outcomes and enrollments.
    let scratch = tmp.path();
    for p in p1.iter().filter(|p| p.needs == "card").take(20) {
        a.enroll_card(p, scratch);
    }
    let plan_a: [(&str, std::ops::Range<usize>); 6] = [
        ("not_home", 200..210),
        ("refused", 210..215),
        ("cannot_travel", 215..219),
        ("deceased", 221..224),
        ("done_elsewhere", 224..226),
        ("moved", 226..228),
    ];
    for (outcome, range) in plan_a.clone() {
        for p in &p1[range] {
            a.visit(&p.pid, outcome, &[]);
        }
    }
    let referred = &p1[228];
    a.visit(
        &referred.pid,
        "living_elsewhere",
        &["--unit", X2, "--note", "ở trọ gần chợ"],
    );
    a.visit(&contested.pid, "refused", &[]);
    b.visit(&contested.pid, "deceased", &[]);
    // Team B: enrollments and outcomes; the referred person is not theirs yet.
    for p in p2.iter().filter(|p| p.needs == "card").take(15) {
        b.enroll_card(p, scratch);
    }
    let rest_b: Vec<&Resident> = p2.iter().filter(|p| p.needs == "card").skip(15).collect();
    for p in &rest_b[0..7] {
        b.visit(&p.pid, "not_home", &[]);
    }
    for p in &rest_b[7..9] {
        b.visit(&p.pid, "refused", &[]);
    }
    // Team C, through the station: one person needing a card and an e-ID gets only the card.
    let (cards, both): (Vec<&Resident>, Vec<&Resident>) =
        p3.iter().partition(|p| p.needs == "card");
    for p in &cards[0..12] {
        c.enroll_card(p, scratch);
    }
    c.enroll_card(both[0], scratch);
    for p in &cards[12..18] {
        c.visit(&p.pid, "not_home", &[]);
    }
    for p in &cards[18..21] {
        c.visit(&p.pid, "cannot_travel", &[]);
    }
    // A visit to someone not on the laptop's worklist is refused.
    a.field(
        "visit",
        &[
            "--person",
            &p3[0].pid,
            "--outcome",
            "not_home",
            "--officer",
            "CA-74-0001",
        ],
    )
    .assert_code(2);

    // Back online.
    a.sync(&central.url);
    b.sync(&central.url);
    c.sync(&station.url);
    let central_db = central_dir.join("central.sqlite3");
    let expected_c = 12 + 1 + 6 + 3;
    wait_until("the station to forward team C's records", || {
        count(
            &central_db,
            &format!("SELECT count(*) FROM records WHERE device_id = '{}'", c.id),
        ) == expected_c
    });

    // The referred person is on team B's worklist now.
    b.sync(&central.url);
    let on_b = b.worklist();
    let q = on_b
        .iter()
        .find(|p| p["personal_id"] == referred.pid.as_str())
        .unwrap_or_else(|| panic!("{} is not on team B's worklist", referred.pid));
    assert_eq!(q["worklist_unit"], X2, "{q}");
    assert_eq!(q["referred_from"], X1, "{q}");

    // Coverage, from the server: exactly what the scenario made.
    let report = cli(args![
        "report",
        "coverage",
        "--server",
        &central.url,
        "--json"
    ]);
    report.assert_success();
    let report = report.json();
    check_row(
        &report,
        X1,
        Expect {
            eligible: 1_700,
            reached: 20 + 10 + 5 + 4 + 3 + 2 + 2 + 1 + 1,
            enrolled: 20,
            deceased: 3,
            done_elsewhere: 2,
            referred_out: 1,
            review: 1,
            not_home: 10,
            refused: 5,
            cannot_travel: 4,
            moved: 2,
            ..Expect::default()
        },
    );
    check_row(
        &report,
        X2,
        Expect {
            eligible: 1_700,
            reached: 15 + 7 + 2,
            enrolled: 15,
            referred_in: 1,
            not_home: 7,
            refused: 2,
            ..Expect::default()
        },
    );
    check_row(
        &report,
        X3,
        Expect {
            eligible: 1_600,
            reached: 12 + 1 + 6 + 3,
            enrolled: 12,
            not_home: 6,
            cannot_travel: 3,
            partly: 1,
            ..Expect::default()
        },
    );

    // The contradiction is flagged for review, with both outcomes.
    let local = cli(args![
        "report",
        "coverage",
        "--data-dir",
        &central_dir,
        "--unit",
        X1,
        "--remaining",
        "--json"
    ]);
    local.assert_success();
    let local = local.json();
    let review = local["review"].as_array().unwrap();
    assert_eq!(review.len(), 1, "{review:?}");
    assert_eq!(review[0]["personal_id"], contested.pid.as_str());
    let results: Vec<&str> = review[0]["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["result"].as_str())
        .collect();
    assert!(
        results.contains(&"refused") && results.contains(&"deceased"),
        "{review:?}"
    );
    assert_eq!(
        local["remaining"].as_array().unwrap().len(),
        1_700 - 20 - 5 - 1
    );

    // Nothing changed since: an incremental download sends nothing.
    a.sync(&central.url);
    let idle = a.sync(&central.url);
    assert_eq!(idle["worklist"]["put"], 0, "{idle}");
    assert_eq!(idle["worklist"]["full"], false, "{idle}");

    // A newer extract with 10 residents of X1 changed: only those 10 come down.
    let changed: Vec<usize> = (100..110).collect();
    std::fs::write(
        &file,
        roster_csv(&people, |i| {
            if changed.contains(&i) {
                format!("Số {i}, tổ {} (đã cập nhật)", i % 9 + 1)
            } else {
                format!("Số {i}, tổ {}", i % 9 + 1)
            }
        }),
    )
    .unwrap();
    let again = cli(args![
        "central",
        "roster",
        "import",
        "--data-dir",
        &central_dir,
        &file,
        "--json"
    ]);
    again.assert_success();
    assert_eq!(again.json()["updated"], 10, "{}", again.json());
    let incremental = a.sync(&central.url);
    let w = &incremental["worklist"];
    assert_eq!(w["put"], 10, "{w}");
    assert_eq!(w["removed"], 0, "{w}");
    assert_eq!(w["full"], false, "{w}");
    let bytes = w["bytes"].as_u64().unwrap();
    eprintln!(
        "incremental download, 10 changed residents: {bytes} bytes (first download {first_bytes} bytes)"
    );
    assert!(
        bytes * 20 < first_bytes,
        "{bytes} bytes for 10 people vs {first_bytes} for all"
    );

    // Unassigned people leave the laptop: team B loses the extra household.
    assign(
        &central_dir,
        "central",
        &b.id,
        &["--remove", "--households", &contested.household],
    )
    .assert_success();
    b.sync(&central.url);
    assert!(
        !b.worklist()
            .iter()
            .any(|p| p["household"] == contested.household.as_str()),
        "the household is still on team B's laptop"
    );

    // A revoked laptop receives nothing.
    let revoked = cli(args![
        "central",
        "revoke",
        "--data-dir",
        &central_dir,
        &b.id,
        "--reason",
        "lost",
        "--json"
    ]);
    revoked.assert_success();
    let before = b.worklist().len();
    let again = cli(args![
        "central",
        "roster",
        "import",
        "--data-dir",
        &central_dir,
        &file,
        "--json"
    ]);
    again.assert_success();
    let out = b.field(
        "sync",
        &[
            "--server",
            &central.url,
            "--json",
            "--no-progress",
            "--retries",
            "0",
        ],
    );
    assert_ne!(out.code(), Some(0), "a revoked laptop's sync succeeded");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("revoked"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(b.worklist().len(), before);
    drop(station);
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
