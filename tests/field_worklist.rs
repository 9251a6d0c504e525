#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laptop's worklist with the real binary: an empty list before any
//! download, a visit refused for someone not on it, and the whole round:
//! central imports a roster and assigns the laptop, `field sync` brings the
//! people down, `field visit` records what came of a visit, the next sync
//! takes it up and brings central's updated view back.

use std::path::Path;

use doorstep_tests::{
    Server, Store, args, assign_units, cli, import_roster, init_laptop, provision_token, run,
    temp_dir,
};
use serde_json::Value;

#[test]
fn an_empty_store_has_an_empty_worklist() {
    let store = Store::new();
    let out = store.field::<&str>("worklist", &["--json"]);
    out.assert_success();
    assert_eq!(out.json(), serde_json::json!([]));

    let out = store.field::<&str>("worklist", &[]);
    out.assert_success();
    assert!(out.stdout.contains("PERSONAL ID"), "{}", out.stdout);
    assert!(out.stdout.contains("no one"), "{}", out.stdout);

    // In Vietnamese, the officers' language.
    let out = run(args![
        "--lang",
        "vi",
        "field",
        "worklist",
        "--data-dir",
        &store.dir
    ]);
    out.assert_success();
    assert!(out.stdout.contains("SỐ ĐỊNH DANH"), "{}", out.stdout);
    assert!(out.stdout.contains("danh sách trống"), "{}", out.stdout);

    let status = store.status();
    assert_eq!(status["worklist"]["people"], 0, "{status}");
    assert_eq!(status["worklist"]["checkpoint"], Value::Null);
    let out = store.field::<&str>("status", &[]);
    assert!(
        out.stdout.contains("Worklist: not downloaded yet"),
        "{}",
        out.stdout
    );

    // A unit the laptop does not know is a usage mistake, named.
    let out = store.field::<&str>("worklist", &["--unit", "99999"]);
    out.assert_code(2).assert_stderr_contains("--unit 99999");
}

#[test]
fn a_visit_to_someone_not_on_the_worklist_is_refused() {
    let store = Store::new();
    let out = store.field::<&str>(
        "visit",
        &[
            "--person",
            "074190001357",
            "--outcome",
            "not_home",
            "--officer",
            "CA-74-0012",
        ],
    );
    out.assert_code(2)
        .assert_stderr_contains("--person 074190001357")
        .assert_stderr_contains("not on this laptop's worklist; run `doorstep field sync`");
    assert!(store.list().is_empty(), "nothing was stored");

    // An outcome that does not exist is a usage mistake too.
    let out = store.field::<&str>(
        "visit",
        &[
            "--person",
            "074190001357",
            "--outcome",
            "gone",
            "--officer",
            "CA-1",
        ],
    );
    out.assert_code(2).assert_stderr_contains("not_home");

    let out = run(args![
        "--lang",
        "vi",
        "field",
        "visit",
        "--data-dir",
        &store.dir,
        "--person",
        "074190001357",
        "--outcome",
        "refused",
        "--officer",
        "CA-1"
    ]);
    out.assert_code(2)
        .assert_stderr_contains("không có trong danh sách cần tiếp cận của máy này");
}

const ROSTER: &str = "\
personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs
074190001357,Trần Thị Mai,1990-03-08,female,25972,\"Tổ 5, khu phố 1\",HK-01,card;eid_registration
074085001234,Nguyễn Văn Hùng,1985-06-01,male,25972,Tổ 6,HK-02,eid_activation
074185004321,Lê Thị Hoa,1985-09-09,female,25975,Tổ 1,HK-07,card
";

fn sync(laptop: &Path, url: &str) -> Value {
    let out = cli(args![
        "field",
        "sync",
        "--data-dir",
        laptop,
        "--server",
        url,
        "--json"
    ]);
    out.assert_success();
    out.json()
}

fn worklist(laptop: &Path, extra: &[&str]) -> Vec<Value> {
    let mut a = args!["field", "worklist", "--data-dir", laptop, "--json"];
    a.extend(extra.iter().map(Into::into));
    let out = cli(a);
    out.assert_success();
    match out.json() {
        Value::Array(items) => items,
        other => panic!("not an array: {other}"),
    }
}

fn person<'a>(list: &'a [Value], personal_id: &str) -> &'a Value {
    list.iter()
        .find(|p| p["personal_id"] == personal_id)
        .unwrap_or_else(|| panic!("{personal_id} is not in {list:?}"))
}

#[test]
fn a_roster_comes_down_to_the_assigned_laptop_and_visits_go_up() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let laptop = tmp.path().join("laptop");
    let device = init_laptop(
        &laptop,
        Some((&central.url, &provision_token(&central_dir, "field", None))),
    );

    import_roster(&central_dir, ROSTER);
    // Before any assignment the laptop gets no one.
    let first = sync(&laptop, &central.url);
    assert_eq!(first["worklist"]["people"], 0, "{first}");
    assign_units(&central_dir, &device, "25972");

    // Only the assigned unit's people come down.
    let synced = sync(&laptop, &central.url);
    let w = &synced["worklist"];
    assert_eq!(w["people"], 2, "{synced}");
    assert_eq!(w["full"], true, "assignments changed: a full download: {w}");
    assert!(w["bytes"].as_u64().unwrap() > 0, "{w}");
    let list = worklist(&laptop, &[]);
    assert_eq!(list.len(), 2);
    let mai = person(&list, "074190001357");
    assert_eq!(mai["full_name"], "Trần Thị Mai");
    assert_eq!(mai["worklist_unit"], "25972");
    assert_eq!(
        mai["needs_left"],
        serde_json::json!(["card", "eid_registration"])
    );
    assert!(list.iter().all(|p| p["personal_id"] != "074185004321"));
    // Nothing is readable in the store file without the passphrase.
    let db = std::fs::read(laptop.join("field.sqlite3")).unwrap();
    let wal = std::fs::read(laptop.join("field.sqlite3-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for needle in ["Trần Thị Mai", "074190001357", "Nguyễn Văn Hùng"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is readable in the store"
            );
        }
    }
    // The text table names them, in Vietnamese by default.
    let out = run(args![
        "--lang",
        "vi",
        "field",
        "worklist",
        "--data-dir",
        &laptop
    ]);
    out.assert_success();
    assert!(
        out.stdout.contains("Trần Thị Mai") && out.stdout.contains("chưa tiếp xúc"),
        "{}",
        out.stdout
    );

    // What came of two visits, recorded before the next sync.
    let out = cli(args![
        "field",
        "visit",
        "--data-dir",
        &laptop,
        "--person",
        "074190001357",
        "--outcome",
        "not_home",
        "--note",
        "đi làm ca ngày",
        "--officer",
        "CA-74-0012",
        "--json"
    ]);
    out.assert_success();
    let stored = out.json();
    assert_eq!(stored["status"], "stored", "{stored}");
    let record_id = stored["record_id"].as_str().unwrap().to_owned();
    let out = cli(args![
        "field",
        "visit",
        "--data-dir",
        &laptop,
        "--person",
        "074085001234",
        "--outcome",
        "deceased",
        "--officer",
        "CA-74-0012"
    ]);
    out.assert_success();
    // An `enrolled` outcome needs the enrollment it stands for.
    let out = cli(args![
        "field",
        "visit",
        "--data-dir",
        &laptop,
        "--person",
        "074190001357",
        "--outcome",
        "enrolled",
        "--officer",
        "CA-74-0012"
    ]);
    out.assert_code(2).assert_stderr_contains("enroll it first");
    // A referral must name a unit: the rule's violation names the flag.
    let out = cli(args![
        "field",
        "visit",
        "--data-dir",
        &laptop,
        "--person",
        "074190001357",
        "--outcome",
        "living_elsewhere",
        "--officer",
        "CA-74-0012"
    ]);
    out.assert_code(2).assert_stderr_contains("--unit");

    let list = worklist(&laptop, &[]);
    let mai = person(&list, "074190001357");
    assert_eq!(mai["done_here"][0]["outcome"], "not_home", "{mai}");
    assert_eq!(mai["done_here"][0]["record_id"], record_id.as_str());
    // The deceased person is settled here; the one not at home is not.
    let remaining = worklist(&laptop, &["--remaining"]);
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    assert_eq!(remaining[0]["personal_id"], "074190001357");

    // The next sync takes the outcomes up and brings central's view down.
    let synced = sync(&laptop, &central.url);
    assert_eq!(synced["accepted"], 2, "{synced}");
    let w = &synced["worklist"];
    assert_eq!(w["full"], false, "{w}");
    let list = worklist(&laptop, &[]);
    let mai = person(&list, "074190001357");
    assert_eq!(mai["reason"], "not_home", "{mai}");
    assert_eq!(mai["visits"], 1, "{mai}");
    assert!(
        list.iter().all(|p| p["personal_id"] != "074085001234"),
        "a deceased person leaves the worklist: {list:?}"
    );
    let status = cli(args!["field", "status", "--data-dir", &laptop, "--json"]);
    status.assert_success();
    let doc = status.json();
    assert_eq!(doc["worklist"]["people"], list.len(), "{doc}");
    assert_eq!(doc["worklist"]["pending"], Value::Null);
}

#[test]
fn field_serve_brings_the_worklist_down_in_the_background() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let laptop = tmp.path().join("laptop");
    let device = init_laptop(
        &laptop,
        Some((&central.url, &provision_token(&central_dir, "field", None))),
    );
    import_roster(&central_dir, ROSTER);
    assign_units(&central_dir, &device, "25975");

    let serve = doorstep_tests::Listening::spawn(
        doorstep_tests::doorstep().args(args![
            "field",
            "serve",
            "--data-dir",
            &laptop,
            "--server",
            &central.url,
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "1"
        ]),
        "field serve",
    );
    let url = serve.url.clone();

    // The worklist is stored encrypted: it comes down once the officer
    // has unlocked the app (the loop is woken by the unlock).
    let unlocked: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/api/unlock"))
        .json(&serde_json::json!({"passphrase": doorstep_tests::TEST_PASSPHRASE}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = unlocked["token"].as_str().unwrap().to_owned();
    // Nothing is queued: the loop still brings the worklist down.
    let start = std::time::Instant::now();
    let status = loop {
        let doc: Value = reqwest::blocking::Client::new()
            .get(format!("{url}/api/status"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if doc["worklist"]["people"] == 1 {
            break doc;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the worklist did not come down: {doc}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(status["sync"]["last_worklist"]["people"], 1, "{status}");
    assert_eq!(status["sync"]["worklist_error"], Value::Null, "{status}");
    assert!(
        status["worklist"]["checkpoint"]["rev"].as_u64().is_some(),
        "{status}"
    );

    // The app's worklist: filters, then one tap per visit outcome.
    let http = reqwest::blocking::Client::new();
    let worklist = |query: &str| -> Value {
        http.get(format!("{url}/api/worklist{query}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let all = worklist("");
    assert_eq!(all["people"].as_array().unwrap().len(), 1, "{all}");
    let person = &all["people"][0];
    assert_eq!(person["personal_id"], "074185004321", "{all}");
    assert_eq!(person["hamlet"], "Tổ 1", "{all}");
    assert_eq!(all["hamlets"], serde_json::json!(["Tổ 1"]), "{all}");
    assert_eq!(
        worklist("?q=le%20hoa")["people"].as_array().unwrap().len(),
        1
    );
    assert_eq!(worklist("?q=4321")["people"].as_array().unwrap().len(), 1);
    assert_eq!(
        worklist("?need=card")["people"].as_array().unwrap().len(),
        1
    );
    assert!(
        worklist("?need=eid_activation")["people"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        worklist("?hamlet=to%202")["people"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let bad = http
        .get(format!("{url}/api/worklist?need=passport"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let visit = |body: Value| -> (u16, Value) {
        let resp = http
            .post(format!("{url}/api/visits"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json().unwrap())
    };
    let (code, doc) = visit(serde_json::json!({
        "personal_id": "074185004321", "outcome": "not_home", "officer_id": "CA-74-0012"}));
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["results"][0]["status"], "stored", "{doc}");
    // Not at home does not settle the person: still listed, with the visit.
    let after = worklist("");
    assert_eq!(
        after["people"][0]["visits"][0]["outcome"], "not_home",
        "{after}"
    );
    assert_eq!(after["people"][0]["reached_here"], false, "{after}");
    // `living_elsewhere` needs the unit: refused beside that field.
    let (code, doc) = visit(serde_json::json!({
        "personal_id": "074185004321", "outcome": "living_elsewhere", "officer_id": "CA-74-0012"}));
    assert_eq!(code, 422, "{doc}");
    assert_eq!(
        doc["results"][0]["violations"][0]["path"], "$.outcome.unit_code",
        "{doc}"
    );
    let (code, doc) = visit(serde_json::json!({
        "personal_id": "074185004321", "outcome": "deceased", "officer_id": "CA-74-0012"}));
    assert_eq!(code, 200, "{doc}");
    // A final outcome settles the person here.
    assert!(worklist("")["people"].as_array().unwrap().is_empty());
    let reached = worklist("?include_reached=true");
    assert_eq!(reached["people"][0]["reached_here"], true, "{reached}");
    let (code, doc) = visit(serde_json::json!({
        "personal_id": "001099000001", "outcome": "not_home", "officer_id": "CA-74-0012"}));
    assert_eq!(code, 404, "{doc}");
    assert_eq!(doc["code"], "worklist.not_found", "{doc}");
    drop(serve);
}
