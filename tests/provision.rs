#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Provisioning with real processes: central issues one-time tokens; a
//! laptop registers its key with one (at `field init` or later with
//! `field register`); a reused token is refused and says what to do;
//! `central devices` lists, `central revoke` revokes.

use std::path::Path;

use doorstep_tests::{Output, Server, args, run, temp_dir};
use serde_json::Value;

fn provision(central_dir: &Path, name: &str) -> String {
    let out = run(args![
        "--lang",
        "en",
        "central",
        "provision",
        "--data-dir",
        central_dir,
        "--unit",
        "74",
        "--name",
        name,
        "--json"
    ]);
    out.assert_success();
    let token = out.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 39, "8 groups of 4 base32 characters: {token}");
    token
}

fn init(dir: &Path, server: &str, token: &str) -> Output {
    run(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        dir,
        "--unit",
        "74",
        "--device-name",
        "Tổ 1",
        "--server",
        server,
        "--token",
        token,
        "--json"
    ])
}

#[test]
fn laptops_register_with_one_time_tokens_and_can_be_revoked() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central(&central_dir, 0);

    let token = provision(&central_dir, "Tổ 1");
    let a = tmp.path().join("a");
    let out = init(&a, &central.url, &token);
    out.assert_success();
    let reg = &out.json()["registration"];
    assert_eq!(reg["unit_code"], "74", "{reg}");
    assert_eq!(reg["role"], "field");
    let device_a = out.json()["device_id"].as_str().unwrap().to_owned();
    assert_eq!(reg["node_id"], Value::from(device_a.clone()));
    // The key stays on the laptop, readable by its owner only.
    let key = a.join("device.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Central's log key is pinned from registration on.
    let pinned: i64 = rusqlite::Connection::open(a.join("field.sqlite3"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM log_heads", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pinned, 1);

    // The same token again: refused, and the message says what to do.
    let b = tmp.path().join("b");
    let reused = init(&b, &central.url, &token);
    reused.assert_code(2);
    reused.assert_stderr_contains("already used");
    reused.assert_stderr_contains("doorstep field register");
    // A fresh token registers that laptop afterwards.
    let second = provision(&central_dir, "Tổ 2");
    let later = run(args![
        "--lang",
        "en",
        "field",
        "register",
        "--data-dir",
        &b,
        "--server",
        &central.url,
        "--token",
        &second,
        "--json"
    ]);
    later.assert_success();
    // A mistyped token is refused too.
    let third = provision(&central_dir, "Tổ 3");
    // The last character changed (to X, or to Y when it already was X).
    let last = if third.ends_with('X') { 'Y' } else { 'X' };
    let wrong = format!("{}{last}", &third[..third.len() - 1]);
    let c = tmp.path().join("c");
    let mistyped = init(&c, &central.url, &wrong);
    mistyped.assert_code(2);
    mistyped.assert_stderr_contains("not right");

    let devices = run(args![
        "central",
        "devices",
        "--data-dir",
        &central_dir,
        "--json"
    ]);
    devices.assert_success();
    let list = devices.json()["devices"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let revoked = run(args![
        "--lang",
        "en",
        "central",
        "revoke",
        "--data-dir",
        &central_dir,
        &device_a,
        "--reason",
        "laptop stolen",
        "--json"
    ]);
    revoked.assert_success();
    assert_eq!(revoked.json()["revoked_reason"], "laptop stolen");
    let twice = run(args![
        "--lang",
        "en",
        "central",
        "revoke",
        "--data-dir",
        &central_dir,
        &device_a
    ]);
    twice.assert_code(2);
    let table = run(args![
        "--lang",
        "en",
        "central",
        "devices",
        "--data-dir",
        &central_dir
    ]);
    table.assert_success();
    assert!(table.stdout.contains("revoked"), "{}", table.stdout);
}

#[test]
fn provisioning_refuses_unknown_units_and_bad_durations() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    drop(Server::central(&central_dir, 0));
    let out = run(args![
        "--lang",
        "en",
        "central",
        "provision",
        "--data-dir",
        &central_dir,
        "--unit",
        "99999999",
        "--name",
        "x"
    ]);
    out.assert_code(2);
    out.assert_stderr_contains("not in central's unit list");
    let out = run(args![
        "--lang",
        "en",
        "central",
        "provision",
        "--data-dir",
        &central_dir,
        "--unit",
        "74",
        "--name",
        "x",
        "--valid-hours",
        "0"
    ]);
    out.assert_code(2);
}

#[test]
fn a_campaigns_biometric_policy_reaches_the_laptop_and_is_enforced_there() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = Server::central_secure(&central_dir, 0);
    let out = run(args![
        "--lang",
        "en",
        "central",
        "provision",
        "--data-dir",
        &central_dir,
        "--unit",
        "74",
        "--name",
        "Tổ 4",
        "--biometrics",
        "face,right_index",
        "--json"
    ]);
    out.assert_success();
    let issued = out.json();
    assert_eq!(issued["biometrics"], "face,right_index", "{issued}");
    let laptop = tmp.path().join("laptop");
    init(&laptop, &central.url, issued["token"].as_str().unwrap()).assert_success();
    let status = run(args!["field", "status", "--data-dir", &laptop, "--json"]).json();
    assert_eq!(status["biometrics"], "face,right_index", "{status}");
    let devices = run(args![
        "central",
        "devices",
        "--data-dir",
        &central_dir,
        "--json"
    ])
    .json();
    assert_eq!(
        devices["devices"][0]["biometrics"], "face,right_index",
        "{devices}"
    );

    // A card application without them is refused on the laptop already.
    let input = tmp.path().join("card.json");
    let records = doorstep_tests::Store::new().records(40, 7);
    let card = records
        .iter()
        .find(|r| r["kind"] == "id_card_application")
        .expect("a card application among 40 generated records");
    std::fs::write(&input, card.to_string()).unwrap();
    let out = run(args![
        "--lang",
        "en",
        "field",
        "enroll",
        "--data-dir",
        &laptop,
        &input,
        "--json"
    ]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("attachment.face_required"),
        "{}",
        out.stdout
    );

    // A station token takes no policy.
    let out = run(args![
        "--lang",
        "en",
        "central",
        "provision",
        "--data-dir",
        &central_dir,
        "--unit",
        "74",
        "--name",
        "Trạm",
        "--role",
        "station",
        "--biometrics",
        "face"
    ]);
    out.assert_code(2);
    out.assert_stderr_contains("--biometrics is for laptops");
}
