#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of `doorstep field serve`, with real processes on
//! loopback: records posted to the local API are validated like `field
//! enroll` (violations in Vietnamese by default), stored, and delivered to
//! central by the background loop; while central is down the API keeps
//! working and `/api/status` shows why nothing is sent, and once central is
//! up the queue drains without anyone asking.

use std::path::Path;
use std::time::{Duration, Instant};

use doorstep_tests::{Listening, Store, args, doorstep, run, temp_dir, units_csv};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// Letters found in Vietnamese text and not in English.
const VIETNAMESE: &[char] = &[
    'ă', 'â', 'đ', 'ê', 'ô', 'ơ', 'ư', 'ố', 'ệ', 'ợ', 'ữ', 'ị', 'ạ',
];
/// How long the background loop may take to deliver the queue.
const SYNC_DEADLINE: Duration = Duration::from_secs(20);

/// A running doorstep server process (see `doorstep_tests::Listening`).
type Proc = Listening;

/// `doorstep ARGS…`, started and listening.
fn start(args: Vec<std::ffi::OsString>) -> Proc {
    let what = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Listening::spawn(doorstep().args(&args), &what)
}

fn central(data_dir: &Path, listen: &str) -> Proc {
    start(args![
        "--lang",
        "en",
        "central",
        "serve",
        "--data-dir",
        data_dir,
        "--listen",
        listen,
        "--units",
        units_csv(),
        // The laptops here are made with a plain `field init`.
        "--allow-unregistered"
    ])
}

/// `field serve`, unlocked by the officer.
fn field_serve(data_dir: &Path, server: &str) -> Proc {
    let serve = field_serve_locked(data_dir, server);
    unlock(&serve);
    serve
}

fn field_serve_locked(data_dir: &Path, server: &str) -> Proc {
    start(args![
        "field",
        "serve",
        "--data-dir",
        data_dir,
        "--server",
        server,
        "--listen",
        "127.0.0.1:0",
        "--sync-interval",
        "1",
        "--max-backoff",
        "2"
    ])
}

thread_local! {
    /// The session token of this test's `field serve` (each test runs on
    /// its own thread): every API call carries it.
    static SESSION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn http() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = SESSION.with(|s| s.borrow().clone()) {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Opens a session with the officer's passphrase (the server starts
/// locked); later calls on this thread carry it.
fn unlock(serve: &Proc) {
    let resp = Client::new()
        .post(format!("{}/api/unlock", serve.url))
        .json(&json!({"passphrase": doorstep_tests::TEST_PASSPHRASE}))
        .send()
        .unwrap();
    let (code, _, doc) = parts(resp);
    assert_eq!(code, 200, "{doc}");
    let token = doc["token"].as_str().unwrap().to_owned();
    SESSION.with(|s| *s.borrow_mut() = Some(token));
}

/// Status and JSON body of a response.
fn parts(resp: Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, ctype, body)
}

fn get(url: &str) -> (u16, String, Value) {
    parts(http().get(url).send().unwrap())
}

fn post_json(url: &str, body: &Value) -> (u16, String, Value) {
    parts(http().post(url).json(body).send().unwrap())
}

fn central_status(dir: &Path) -> Value {
    let out = run(args![
        "--lang",
        "en",
        "central",
        "status",
        "--data-dir",
        dir,
        "--json"
    ]);
    out.assert_success();
    out.json()
}

/// Polls `/api/status` until `done` holds (at most [`SYNC_DEADLINE`]).
fn wait_for_status(serve: &Proc, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (code, _, st) = get(&format!("{}/api/status", serve.url));
        assert_eq!(code, 200, "{st}");
        if done(&st) {
            return st;
        }
        if start.elapsed() > SYNC_DEADLINE {
            panic!(
                "waited {SYNC_DEADLINE:?} for {what}; last status: {st}\nstderr:\n{}",
                serve.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `personal_id` with its birth-year digits changed: breaks
/// `personal_id.year_mismatch`.
fn with_wrong_year(record: &Value) -> Value {
    let mut r = record.clone();
    let id = r["citizen"]["personal_id"].as_str().unwrap().to_owned();
    let yy: u32 = id[4..6].parse().unwrap();
    r["citizen"]["personal_id"] = json!(format!("{}{:02}{}", &id[..4], (yy + 1) % 100, &id[6..]));
    r
}

fn is_problem(ctype: &str, body: &Value, status: u16, code: &str) {
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(
        body["type"],
        format!("urn:doorstep:problem:{code}"),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
}

#[test]
fn posted_records_are_validated_stored_and_synced_in_the_background() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = central(&central_dir, "127.0.0.1:0");
    let store = Store::new();
    let records = store.records(20, 11);
    let serve = field_serve(&store.dir, &central.url);
    let api = |path: &str| format!("{}{path}", serve.url);

    let (code, _, health) = get(&api("/healthz"));
    assert_eq!(code, 200);
    assert_eq!(health["status"], "ok");

    // 18 valid records and 2 invalid ones, in one array.
    let mut batch: Vec<Value> = records[..18].to_vec();
    batch.insert(3, with_wrong_year(&records[18]));
    let mut no_name = records[19].clone();
    no_name["citizen"]
        .as_object_mut()
        .unwrap()
        .remove("full_name");
    batch.push(no_name.clone());
    let (code, _, doc) = post_json(&api("/api/records"), &Value::Array(batch.clone()));
    assert_eq!(code, 422, "{doc}");
    assert_eq!(doc["stored"], 18, "{doc}");
    assert_eq!(doc["invalid"], 2, "{doc}");
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i, "{r}");
        if i == 3 || i == 19 {
            assert_eq!(r["status"], "invalid", "{r}");
            assert!(r.get("record_id").is_none(), "{r}");
        } else {
            assert_eq!(r["status"], "stored", "{r}");
            assert!(doorstep_tests::is_uuid_v7(r["record_id"].as_str().unwrap()));
            assert!(r["device_seq"].as_u64().unwrap() >= 1, "{r}");
        }
    }
    let year = &results[3]["violations"][0];
    assert_eq!(year["code"], "personal_id.year_mismatch", "{year}");
    assert_eq!(year["path"], "$.citizen.personal_id", "{year}");
    let vi_message = year["message"].as_str().unwrap().to_owned();
    assert!(
        vi_message.contains(VIETNAMESE),
        "Vietnamese by default: {vi_message}"
    );
    let missing = &results[19]["violations"][0];
    assert_eq!(missing["path"], "$.citizen.full_name", "{missing}");

    // English on request, by Accept-Language or ?lang=; the same records
    // again are already stored, nothing twice.
    let resp = http()
        .post(api("/api/records"))
        .header("accept-language", "en-US,en;q=0.9")
        .json(&json!([with_wrong_year(&records[18]), records[0]]))
        .send()
        .unwrap();
    let (code, _, doc) = parts(resp);
    assert_eq!(code, 422, "{doc}");
    let en_message = doc["results"][0]["violations"][0]["message"]
        .as_str()
        .unwrap();
    assert_ne!(en_message, vi_message);
    assert!(!en_message.contains(VIETNAMESE), "{en_message}");
    assert_eq!(doc["results"][1]["status"], "already_stored", "{doc}");
    assert_eq!(doc["results"][1]["record_id"], results[0]["record_id"]);
    let (code, _, doc) = post_json(&api("/api/records?lang=en"), &records[1]);
    assert_eq!(code, 200, "one object, already stored: {doc}");
    assert_eq!(doc["already_stored"], 1, "{doc}");

    // The background loop delivers everything, without being asked.
    let st = wait_for_status(&serve, "an empty outbox", |st| {
        st["outbox"] == 0
            && st["by_status"]["confirmed"] == 18
            && st["sync"]["last_success_at"].is_string()
    });
    assert_eq!(st["total"], 18, "{st}");
    assert_eq!(st["sync"]["central_reachable"], true, "{st}");
    assert!(st["sync"]["last_success_at"].is_string(), "{st}");
    let cs = central_status(&central_dir);
    assert_eq!(cs["records"], 18, "{cs}");
    assert_eq!(cs["devices"][0]["contiguous_seq"], 18, "{cs}");

    // Listing, with filters.
    let (code, _, list) = get(&api("/api/records?status=confirmed"));
    assert_eq!(code, 200);
    assert_eq!(list.as_array().unwrap().len(), 18, "{list}");
    assert!(list[0].get("reject_reason_vi").is_some(), "{}", list[0]);
    let (_, _, list) = get(&api("/api/records?limit=5"));
    assert_eq!(list.as_array().unwrap().len(), 5);
    let (_, _, list) = get(&api("/api/records?status=pending"));
    assert_eq!(list, json!([]));

    // Sync on request: nothing left to send.
    let (code, _, report) = parts(http().post(api("/api/sync")).send().unwrap());
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["records_sent"], 0, "{report}");
    assert_eq!(report["outbox_after"], 0, "{report}");
    assert!(report["error"].is_null(), "{report}");
    let (code, _, log) = get(&api("/api/sync-log?limit=500"));
    assert_eq!(code, 200);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "batch_sent" && e["accepted"] == 18),
        "{log}"
    );
    let (_, _, log) = get(&api("/api/sync-log?limit=1"));
    assert_eq!(log.as_array().unwrap().len(), 1);

    // Errors are problem documents, Vietnamese unless asked otherwise.
    let (code, ctype, p) = get(&api("/api/records?status=lost"));
    assert_eq!(code, 400);
    is_problem(&ctype, &p, 400, "query.invalid");
    assert!(p["title"].as_str().unwrap().contains(VIETNAMESE), "{p}");
    let (code, ctype, p) = get(&api("/api/records?limit=many&lang=en"));
    assert_eq!(code, 400);
    is_problem(&ctype, &p, 400, "query.invalid");
    assert_eq!(p["title"], "Invalid query parameter");
    let (code, ctype, p) = get(&api("/api/nothing"));
    assert_eq!(code, 404);
    is_problem(&ctype, &p, 404, "not_found");
    let (code, ctype, p) = parts(http().delete(api("/api/records")).send().unwrap());
    assert_eq!(code, 405);
    is_problem(&ctype, &p, 405, "method_not_allowed");
    let resp = http()
        .post(api("/api/records"))
        .header("content-type", "text/plain")
        .body(records[0].to_string())
        .send()
        .unwrap();
    let (code, ctype, p) = parts(resp);
    assert_eq!(
        code, 415,
        "a plain form post from a web page is refused: {p}"
    );
    is_problem(&ctype, &p, 415, "content_type.unsupported");
    let resp = http()
        .post(api("/api/records"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    let (code, ctype, p) = parts(resp);
    assert_eq!(code, 400);
    is_problem(&ctype, &p, 400, "body.malformed");
    let (code, ctype, p) = post_json(&api("/api/records"), &json!(42));
    assert_eq!(code, 400);
    is_problem(&ctype, &p, 400, "body.not_records");
    let resp = http()
        .get(api("/api/status"))
        .header("host", format!("attacker.example:{}", serve.port()))
        .send()
        .unwrap();
    let (code, ctype, p) = parts(resp);
    assert_eq!(code, 421, "a rebound DNS name is refused: {p}");
    is_problem(&ctype, &p, 421, "host.not_allowed");

    // SIGTERM stops it gracefully; the store is intact.
    let mut serve = serve;
    let status = serve.terminate();
    assert!(status.success(), "exit status {status:?}");
    store.assert_check_ok();
    drop(central);
}

#[test]
fn records_wait_while_central_is_down_and_go_once_it_is_up() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let store = Store::new();
    let records = store.records(10, 12);
    // A port nothing listens on yet; central starts there later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let central_url = format!("http://127.0.0.1:{port}");
    let serve = field_serve(&store.dir, &central_url);
    let api = |path: &str| format!("{}{path}", serve.url);

    let (code, _, doc) = post_json(&api("/api/records"), &Value::Array(records.clone()));
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["stored"], 10, "{doc}");

    // Central is down: the API keeps answering, the status says why
    // nothing is sent, the records stay queued.
    let st = wait_for_status(&serve, "the unreachable central to show", |st| {
        st["sync"]["central_reachable"] == false && st["sync"]["last_error"].is_string()
    });
    assert_eq!(st["outbox"], 10, "{st}");
    assert!(
        st["sync"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{st}"
    );
    assert!(
        st["sync"]["consecutive_failures"].as_u64().unwrap() >= 1,
        "{st}"
    );
    // A sync asked for now fails the same way, and says so in its report.
    let (code, _, report) = parts(http().post(api("/api/sync")).send().unwrap());
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["outbox_after"], 10, "{report}");
    assert!(report["error"].is_string(), "{report}");
    let (code, _, health) = get(&api("/healthz"));
    assert_eq!(code, 200, "{health}");
    let (_, _, pending) = get(&api("/api/records?status=pending"));
    assert_eq!(pending.as_array().unwrap().len(), 10);

    // Central comes up: the background loop delivers, once.
    let central = central(&central_dir, &format!("127.0.0.1:{port}"));
    assert_eq!(central.url, central_url);
    let st = wait_for_status(&serve, "the queue to drain after central came up", |st| {
        st["outbox"] == 0 && st["sync"]["last_success_at"].is_string()
    });
    assert_eq!(st["by_status"]["confirmed"], 10, "{st}");
    assert_eq!(st["sync"]["central_reachable"], true, "{st}");
    assert_eq!(st["sync"]["consecutive_failures"], 0, "{st}");
    assert!(st["sync"]["last_success_at"].is_string(), "{st}");
    let cs = central_status(&central_dir);
    assert_eq!(cs["records"], 10, "{cs}");
    assert_eq!(cs["outcomes"]["duplicate"], 0, "{cs}");
    drop(serve);
    drop(central);
}

#[test]
fn the_api_is_locked_until_the_passphrase_and_locks_again_when_idle() {
    let store = Store::new();
    // Nothing listens on port 9: sync is irrelevant here.
    let serve = start(args![
        "field",
        "serve",
        "--data-dir",
        &store.dir,
        "--server",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--lock-after",
        "5"
    ]);
    let api = |path: &str| format!("{}{path}", serve.url);
    let plain = Client::new();

    // Locked at start: the page and the session state are open, data is not.
    let (code, ctype, p) = parts(plain.get(api("/api/records")).send().unwrap());
    assert_eq!(code, 401);
    is_problem(&ctype, &p, 401, "session.required");
    let (_, _, st) = parts(plain.get(api("/api/session")).send().unwrap());
    assert_eq!(st["unlocked"], false, "{st}");
    assert_eq!(st["session"], false, "{st}");
    assert_eq!(st["passphrase_set"], true, "{st}");
    let page = plain.get(api("/")).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(page.text().unwrap().contains("/app/main.js"));
    let script = plain.get(api("/app/main.js")).send().unwrap();
    assert_eq!(script.status().as_u16(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // A wrong passphrase opens nothing.
    let (code, ctype, p) = parts(
        plain
            .post(api("/api/unlock"))
            .json(&json!({"passphrase": "not the passphrase"}))
            .send()
            .unwrap(),
    );
    is_problem(&ctype, &p, 401, "passphrase.wrong");
    assert_eq!(code, 401);

    // The right one gives a session: a cookie for the app, a token for scripts.
    let resp = plain
        .post(api("/api/unlock"))
        .json(&json!({"passphrase": doorstep_tests::TEST_PASSPHRASE}))
        .send()
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (code, _, doc) = parts(resp);
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["lock_after_seconds"], 5);
    let token = doc["token"].as_str().unwrap().to_owned();
    let session_cookie = cookie.split(';').next().unwrap().to_owned();
    let (code, _, list) = parts(
        plain
            .get(api("/api/records"))
            .header("cookie", &session_cookie)
            .send()
            .unwrap(),
    );
    assert_eq!(code, 200, "{list}");
    let bearer = format!("Bearer {token}");
    let (_, _, st) = parts(
        plain
            .get(api("/api/session"))
            .header("authorization", &bearer)
            .send()
            .unwrap(),
    );
    assert_eq!(st["unlocked"], true, "{st}");
    assert_eq!(st["session"], true, "{st}");

    // Background polling is not activity: the store locks by itself.
    let start = Instant::now();
    loop {
        let (code, _, _) = parts(
            plain
                .get(api("/api/status"))
                .header("authorization", &bearer)
                .header("x-doorstep-background", "1")
                .send()
                .unwrap(),
        );
        if code == 401 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still unlocked after {:?} without activity",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "locked too early"
    );
    let (_, _, st) = parts(plain.get(api("/api/session")).send().unwrap());
    assert_eq!(st["unlocked"], false, "{st}");

    // Unlock again, then lock by hand: the old token is gone too.
    unlock(&serve);
    let (code, _, _) = get(&api("/api/records"));
    assert_eq!(code, 200);
    let locked = http().post(api("/api/lock")).send().unwrap();
    assert_eq!(locked.status().as_u16(), 204);
    let (code, ctype, p) = get(&api("/api/records"));
    assert_eq!(code, 401);
    is_problem(&ctype, &p, 401, "session.required");
}

#[test]
fn the_officer_app_endpoints_answer_from_the_core_and_the_store() {
    let tmp = temp_dir();
    let central = central(&tmp.path().join("central"), "127.0.0.1:0");
    let store = Store::new();
    // A card application first (it may carry a face photo), then two others.
    let generated = store.records(30, 5);
    let card = generated
        .iter()
        .position(|r| r["kind"] == "id_card_application")
        .expect("a card application among 30 generated records");
    let mut records = vec![generated[card].clone()];
    records.extend(
        generated
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != card)
            .map(|(_, r)| r.clone())
            .take(2),
    );
    let serve = field_serve(&store.dir, &central.url);
    let api = |path: &str| format!("{}{path}", serve.url);

    // The form's lists come from the core, with both languages.
    let (code, _, form) = get(&api("/api/form"));
    assert_eq!(code, 200, "{form}");
    let kinds: Vec<&str> = form["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "id_card_application",
            "eid_registration",
            "eid_activation",
            "driver_license_link",
            "info_correction"
        ]
    );
    assert_eq!(form["places"].as_array().unwrap().len(), 7);
    assert_eq!(form["device_unit"], "74");
    assert!(
        form["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["value"] == "living_elsewhere" && o["needs_unit"] == true)
    );

    // Units without accents; the laptop's own province first.
    let (_, _, units) = get(&api("/api/units?q=phu%20cuong&limit=3"));
    assert_eq!(units[0]["code"], "25747", "{units}");
    assert_eq!(
        units[0]["path"],
        "Phường Phú Cường, Thành phố Thủ Dầu Một, Tỉnh Bình Dương"
    );
    let (_, _, same) = get(&api("/api/units?q=PH%C3%9A%20C%C6%AF%E1%BB%9CNG&limit=3"));
    assert_eq!(same, units);

    // Validation through the core, stored nowhere.
    let bad = with_wrong_year(&records[0]);
    let (code, _, v) = post_json(&api("/api/validate?lang=en"), &bad);
    assert_eq!(code, 200);
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["violations"][0]["path"], "$.citizen.personal_id", "{v}");
    let (_, _, v) = post_json(&api("/api/validate"), &records[0]);
    assert_eq!(v["valid"], true, "{v}");
    let (_, _, list) = get(&api("/api/records"));
    assert!(
        list.as_array().unwrap().is_empty(),
        "validate stored: {list}"
    );

    // A face photo sent inline is stored encrypted and read back whole.
    let photo = b"\xff\xd8\xff\xe0\x00\x10JFIF a face photo from the camera".to_vec();
    let mut with_face = records[0].clone();
    with_face["attachments"] = json!([{"kind": "face",
        "data": format!("data:image/jpeg;base64,{}", b64(&photo))}]);
    let (code, _, doc) = post_json(&api("/api/records"), &with_face);
    assert_eq!(code, 200, "{doc}");
    let id = doc["results"][0]["record_id"].as_str().unwrap().to_owned();
    let (code, _, one) = get(&api(&format!("/api/records/{id}")));
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["record"]["citizen"], records[0]["citizen"], "{one}");
    let sha = one["record"]["attachments"][0]["sha256"].as_str().unwrap();
    let image = http()
        .get(api(&format!("/api/attachments/{sha}")))
        .send()
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert_eq!(image.bytes().unwrap().to_vec(), photo);
    let (code, _, p) = get(&api(&format!("/api/records/{}", uuid_of_nothing())));
    assert_eq!((code, p["code"].as_str()), (404, Some("record.not_found")));

    // Search by name without accents, or by part of the ID number.
    let (code, _, doc) = post_json(&api("/api/records"), &json!(records[1..].to_vec()));
    assert_eq!(code, 200, "{doc}");
    let name = records[2]["citizen"]["full_name"].as_str().unwrap();
    let folded = unaccented(name);
    let (_, _, found) = get(&api(&format!(
        "/api/records?q={}",
        folded.replace(' ', "%20")
    )));
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["full_name"] == name),
        "{folded}: {found}"
    );
    let pid = records[1]["citizen"]["personal_id"].as_str().unwrap();
    let (_, _, found) = get(&api(&format!("/api/records?q={}", &pid[4..])));
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["personal_id"], pid);

    // The day's summary counts what was enrolled, by the visit's date.
    let day = records[0]["visit"]["at"].as_str().unwrap()[..10].to_owned();
    let (code, _, sum) = get(&api(&format!("/api/summary?date={day}")));
    assert_eq!(code, 200, "{sum}");
    let same_day = records
        .iter()
        .filter(|r| r["visit"]["at"].as_str().unwrap().starts_with(&day))
        .count();
    assert_eq!(sum["total"], same_day, "{sum}");
    let (code, _, p) = get(&api("/api/summary?date=24/11/2026"));
    assert_eq!((code, p["code"].as_str()), (400, Some("query.invalid")));

    // A bundle for the USB stick, as a download.
    let bundle = http().post(api("/api/bundle")).send().unwrap();
    assert_eq!(bundle.status().as_u16(), 200);
    let disposition = bundle.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"doorstep-"),
        "{disposition}"
    );
    let queued = bundle.headers()["x-doorstep-records"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(queued, "3");
    assert!(bundle.bytes().unwrap().starts_with(b"DSBUNDL1"));

    // Central's clock as the last check saw it: this machine's own.
    let st = wait_for_status(&serve, "a check of central", |st| {
        st["sync"]["clock_skew_seconds"].is_i64()
    });
    assert!(
        st["sync"]["clock_skew_seconds"].as_i64().unwrap().abs() <= 2,
        "{st}"
    );
    assert_eq!(st["sync"]["clock_warning"], false, "{st}");
}

/// Standard base64, as a browser's file reader writes it.
fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// A UUID no record has.
fn uuid_of_nothing() -> &'static str {
    "01900000-0000-7000-8000-000000000000"
}

/// The name as typed on a keyboard without Vietnamese input.
fn unaccented(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}
