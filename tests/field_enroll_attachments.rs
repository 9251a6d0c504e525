#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of `doorstep field enroll` taking attachment files
//! (`proto/attachments-v1.md` section 12) and of the laptop's biometric
//! policy (`field init --biometrics`, `field biometrics`, `field status`),
//! run as real processes: records from `doorstep gen --attachments` are
//! stored with their files, once; a missing file, a file of another type
//! than the one given and a missing fingerprint are listed with their JSON
//! path; standard input reads files from the current directory or
//! `--files-dir`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use doorstep_tests::{
    Output, args, assert_no_panic, db_path, doorstep, read_ndjson, stored_canonical, temp_dir,
    to_ndjson, units_csv, wait_with_deadline,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Runs `doorstep --lang en ARGS…` in `cwd`, feeding `stdin` if given.
#[track_caller]
fn run_in(cwd: &Path, a: Vec<OsString>, stdin: Option<&[u8]>) -> Output {
    run_lang(cwd, "en", a, stdin)
}

/// Runs `doorstep --lang LANG ARGS…` in `cwd`, feeding `stdin` if given.
#[track_caller]
fn run_lang(cwd: &Path, lang: &str, a: Vec<OsString>, stdin: Option<&[u8]>) -> Output {
    let mut full: Vec<OsString> = vec!["--lang".into(), lang.into()];
    full.extend(a);
    let command = format!(
        "doorstep {}",
        full.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut child = doorstep()
        .current_dir(cwd)
        .args(&full)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).unwrap();
            String::from_utf8(buf).unwrap()
        })
    };
    let out_t = read(Box::new(child.stdout.take().unwrap()));
    let err_t = read(Box::new(child.stderr.take().unwrap()));
    let status = wait_with_deadline(&mut child, &command);
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    let out = Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        command,
    };
    assert_no_panic(&out);
    out
}

/// `field init` of a laptop for unit 74 in `dir`, with `extra` flags.
#[track_caller]
fn init(dir: &Path, extra: &[&str]) -> Output {
    let mut a = args![
        "field",
        "init",
        "--data-dir",
        dir,
        "--unit",
        "74",
        "--device-name",
        "Tổ 3",
        "--units",
        units_csv(),
        "--json"
    ];
    a.extend(extra.iter().map(OsString::from));
    run_in(dir.parent().unwrap(), a, None)
}

/// `doorstep gen … --attachments att` run in `cwd`, valid in the store at
/// `data`, written to `cwd/name`; returns the records.
#[track_caller]
fn gen_into(cwd: &Path, data: &Path, name: &str, extra: &[&str]) -> Vec<Value> {
    let mut a = args![
        "gen",
        "--data-dir",
        data,
        "--attachments",
        "att",
        "--biometrics",
        "face,all"
    ];
    a.extend(extra.iter().map(OsString::from));
    let out = run_in(cwd, a, None);
    out.assert_success();
    std::fs::write(cwd.join(name), &out.stdout).unwrap();
    read_ndjson(&cwd.join(name))
}

/// `field <sub> --data-dir D ARGS…` from `cwd`.
#[track_caller]
fn field(cwd: &Path, sub: &str, data: &Path, extra: Vec<OsString>) -> Output {
    let mut a = args!["field", sub, "--data-dir", data];
    a.extend(extra);
    run_in(cwd, a, None)
}

#[track_caller]
fn status(data: &Path) -> Value {
    let out = field(Path::new("/"), "status", data, args!["--json"]);
    out.assert_success();
    out.json()
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// (position, path, code) of every violation in an `enroll --json` answer.
fn violations(doc: &Value) -> Vec<(u64, String, String)> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["violations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    (
                        r["position"].as_u64().unwrap(),
                        v["path"].as_str().unwrap().to_owned(),
                        v["code"].as_str().unwrap().to_owned(),
                    )
                })
        })
        .collect()
}

#[test]
fn generated_records_enroll_with_their_files_once() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let out = init(&data, &["--biometrics", "face,all"]);
    out.assert_success();
    assert_eq!(out.json()["biometrics"], "face,all");
    let before = status(&data);
    assert_eq!(before["biometrics"], "face,all", "{before}");
    assert_eq!(before["device"]["biometrics"], "face,all", "{before}");
    assert_eq!(before["blobs"]["blobs"], 0, "{before}");

    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let records = gen_into(
        &input,
        &data,
        "records.ndjson",
        &["--count", "20", "--seed", "5"],
    );
    let cards: Vec<usize> = (0..records.len())
        .filter(|i| records[*i]["kind"] == "id_card_application")
        .collect();
    assert!(
        cards.len() >= 2,
        "only {} id card applications",
        cards.len()
    );
    // Every file the records name, by content hash.
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    for &i in &cards {
        for a in records[i]["attachments"].as_array().unwrap() {
            let bytes = std::fs::read(input.join(a["file"].as_str().unwrap())).unwrap();
            files.insert(sha256_hex(&bytes), bytes.len() as u64);
        }
    }
    assert_eq!(files.len(), 11 * cards.len(), "distinct files");
    let total_bytes: u64 = files.values().sum();

    // Run from elsewhere: paths are relative to the input file.
    let file = input.join("records.ndjson");
    let out = field(tmp.path(), "enroll", &data, args![&file, "--json"]);
    out.assert_success();
    let doc = out.json();
    assert_eq!(doc["stored"], 20, "{doc}");
    assert_eq!(doc["invalid"], 0, "{doc}");
    assert_eq!(doc["attachment_files"], 11 * cards.len(), "{doc}");
    assert_eq!(doc["attachment_bytes"], total_bytes, "{doc}");
    out.assert_stderr_contains(&format!("Attachments: {} files (", 11 * cards.len()));
    for (i, r) in doc["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["outcome"], "stored", "{r}");
        if cards.contains(&i) {
            assert_eq!(r["attachments"], 11, "{r}");
        } else {
            assert!(r.get("attachments").is_none(), "{r}");
        }
    }

    // The records name the files by their hash and size, in canonical order.
    let stored = stored_canonical(&data);
    assert_eq!(stored.len(), 20);
    for &i in &cards {
        let record: Value = serde_json::from_slice(&stored[i].2).unwrap();
        let named = record["body"]["attachments"].as_array().unwrap();
        assert_eq!(named.len(), 11, "{record}");
        let kinds: Vec<&str> = named.iter().map(|a| a["kind"].as_str().unwrap()).collect();
        let mut sorted = kinds.clone();
        sorted.sort_unstable();
        assert_eq!(kinds, sorted, "canonical order");
        for a in named {
            let sha = a["sha256"].as_str().unwrap();
            assert_eq!(Some(&a["size"].as_u64().unwrap()), files.get(sha), "{a}");
            let expected = if a["kind"] == "face" {
                "image/jpeg"
            } else {
                "image/x-wsq"
            };
            assert_eq!(a["media_type"], expected, "{a}");
        }
    }

    let after = status(&data);
    assert_eq!(after["total"], 20, "{after}");
    assert_eq!(after["blobs"]["blobs"], files.len(), "{after}");
    assert_eq!(after["blobs"]["bytes"], total_bytes, "{after}");
    assert_eq!(after["blobs"]["refused"], 0, "{after}");
    let text = field(tmp.path(), "status", &data, vec![]);
    text.assert_success();
    assert!(
        text.stdout
            .contains("Biometrics required (id_card_application): face,all"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(&format!("Attachment files: {} (", files.len())),
        "{}",
        text.stdout
    );

    // The same file again: nothing stored twice, blobs once.
    let again = field(tmp.path(), "enroll", &data, args![&file]);
    again.assert_success();
    again.assert_stderr_contains("Stored 0 new records; 20 were already stored; 0 invalid.");
    assert!(!again.stderr.contains("Attachments:"), "{}", again.stderr);
    let last = status(&data);
    assert_eq!(last["total"], 20, "{last}");
    assert_eq!(last["device"]["last_seq"], 20, "{last}");
    assert_eq!(last["blobs"]["blobs"], files.len(), "{last}");
    assert_eq!(last["blobs"]["bytes"], total_bytes, "{last}");
    let check = field(tmp.path(), "check", &data, args!["--json"]);
    check.assert_success();
    assert_eq!(check.json()["records_decoded"], 20);
}

#[test]
fn bad_files_and_missing_biometrics_are_listed_and_the_rest_stored() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    init(&data, &["--biometrics", "face,all"]).assert_success();
    let mut records = gen_into(
        tmp.path(),
        &data,
        "good.ndjson",
        &[
            "--count",
            "20",
            "--seed",
            "8",
            "--kind",
            "id_card_application",
        ],
    );
    assert_eq!(records[2]["attachments"][0]["kind"], "face");
    // #2: its face photo is not there.
    records[1]["attachments"][0]["file"] = json!("att/nobody.jpg");
    // #4: PNG bytes under a .jpg name, given as a JPEG.
    std::fs::write(
        tmp.path().join("att/fake-face.jpg"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR not really a photo",
    )
    .unwrap();
    records[3]["attachments"][0] = json!({"kind": "face", "file": "att/fake-face.jpg",
                                          "media_type": "image/jpeg"});
    // #6: the left little finger is not attached (the policy wants all ten).
    let little = records[5]["attachments"]
        .as_array_mut()
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(little["kind"], "fingerprint_left_little");
    let without_little = records[5].clone();
    let bad = tmp.path().join("bad.ndjson");
    std::fs::write(&bad, to_ndjson(&records)).unwrap();

    let out = field(tmp.path(), "enroll", &data, args![&bad, "--json"]);
    out.assert_code(2);
    let doc = out.json();
    assert_eq!(doc["stored"], 17, "{doc}");
    assert_eq!(doc["invalid"], 3, "{doc}");
    assert_eq!(
        violations(&doc),
        [
            (
                2,
                "$.attachments[0].file".to_owned(),
                "attachment.file_unreadable".to_owned()
            ),
            (
                4,
                "$.attachments[0].media_type".to_owned(),
                "attachment.media_type_mismatch".to_owned()
            ),
            (
                6,
                "$.attachments".to_owned(),
                "attachment.fingerprint_required".to_owned()
            ),
        ]
    );
    assert_eq!(status(&data)["total"], 17);

    // In text: what, where and why, in the officer's words.
    let text = field(tmp.path(), "enroll", &data, args![&bad]);
    text.assert_code(2);
    text.assert_stderr_contains("record #2 (line 2) is invalid and was not stored");
    text.assert_stderr_contains(
        "$.attachments[0].file: cannot read the attachment file `att/nobody.jpg`",
    );
    text.assert_stderr_contains("no such file [attachment.file_unreadable]");
    text.assert_stderr_contains("`att/fake-face.jpg` is image/png by its content, not image/jpeg");
    text.assert_stderr_contains("left_little");
    text.assert_stderr_contains("Stored 0 new records; 17 were already stored; 3 invalid.");
    let vi = run_lang(
        tmp.path(),
        "vi",
        args!["field", "enroll", "--data-dir", &data, &bad],
        None,
    );
    vi.assert_code(2);
    assert!(
        vi.stderr
            .contains("không đọc được tệp đính kèm `att/nobody.jpg`"),
        "{}",
        vi.stderr
    );
    assert!(vi.stderr.contains("ngón út trái"), "{}", vi.stderr);

    // The finger exempted with a reason: stored.
    let mut exempted = without_little.clone();
    exempted["biometric_exemptions"] = json!([{"finger": "left_little", "reason": "amputated"}]);
    let one = tmp.path().join("one.json");
    std::fs::write(&one, exempted.to_string()).unwrap();
    field(tmp.path(), "enroll", &data, args![&one]).assert_success();
    // Or the campaign asks for fewer fingers: stored as it is.
    let out = field(
        tmp.path(),
        "biometrics",
        &data,
        args!["face,right_thumb,right_index", "--json"],
    );
    out.assert_success();
    assert_eq!(
        out.json(),
        json!({"biometrics": "face,right_thumb,right_index", "previous": "face,all"})
    );
    std::fs::write(&one, without_little.to_string()).unwrap();
    let out = field(tmp.path(), "enroll", &data, args![&one, "--json"]);
    out.assert_success();
    assert_eq!(out.json()["results"][0]["attachments"], 10);
    let last = status(&data);
    assert_eq!(last["total"], 19, "{last}");
    // The 17 valid records' 11 files each, and #6's ten; nothing of #2 and #4.
    assert_eq!(last["blobs"]["blobs"], 17 * 11 + 10, "{last}");
}

#[test]
fn standard_input_reads_files_from_the_current_directory_or_files_dir() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    init(&data, &["--biometrics", "face,all"]).assert_success();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let records = gen_into(
        &input,
        &data,
        "records.ndjson",
        &[
            "--count",
            "6",
            "--seed",
            "2",
            "--kind",
            "id_card_application",
        ],
    );
    let ndjson = to_ndjson(&records[..3]);
    let enroll = |cwd: &Path, extra: Vec<OsString>, stdin: &str| {
        let mut a = args!["field", "enroll", "--data-dir", &data, "--json"];
        a.extend(extra);
        run_in(cwd, a, Some(stdin.as_bytes()))
    };

    // From the parent directory the relative paths name nothing.
    let out = enroll(tmp.path(), vec![], &ndjson);
    out.assert_code(2);
    let doc = out.json();
    assert_eq!(doc["invalid"], 3, "{doc}");
    let unreadable = violations(&doc)
        .iter()
        .filter(|(_, path, code)| path.ends_with(".file") && code == "attachment.file_unreadable")
        .count();
    assert_eq!(unreadable, 33, "every file of the three records: {doc}");
    let missing = &doc["results"][0]["violations"][0]["message"];
    assert!(
        missing.as_str().unwrap().contains(&format!(
            "({})",
            tmp.path().join("att/000000-face.jpg").display()
        )),
        "where the file was looked for: {missing}"
    );
    // From the files' directory, or with --files-dir (relative to where it runs).
    let out = enroll(&input, vec![], &ndjson);
    out.assert_success();
    assert_eq!(out.json()["stored"], 3);
    let out = enroll(
        tmp.path(),
        args!["--files-dir", "in", "-"],
        &to_ndjson(&records[3..5]),
    );
    out.assert_success();
    assert_eq!(out.json()["stored"], 2);
    // A JSON array, absolute --files-dir, from anywhere.
    let array = json!([records[5]]).to_string();
    let out = enroll(Path::new("/"), args!["--files-dir", &input], &array);
    out.assert_success();
    assert_eq!(out.json()["stored"], 1);
    assert_eq!(status(&data)["blobs"]["blobs"], 66);

    // --files-dir must be a directory.
    let out = enroll(
        tmp.path(),
        args!["--files-dir", "nowhere"],
        &to_ndjson(&records[..1]),
    );
    out.assert_code(2);
    out.assert_stderr_contains("--files-dir nowhere: not a directory");
    assert_eq!(out.stdout, "");
}

#[test]
fn the_biometric_policy_is_set_at_init_changed_and_shown() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    // A bad spelling: exit 2, the flag and what is accepted; no store.
    for spec in ["face,toe", "", "none,face"] {
        let out = init(&data, &["--biometrics", spec]);
        out.assert_code(2);
        out.assert_stderr_contains("--biometrics");
        out.assert_stderr_contains("right_thumb");
        out.assert_stderr_contains("face,all");
        assert!(!db_path(&data).exists(), "no store after a refused init");
    }
    // Without the flag nothing is required.
    init(&data, &[]).assert_success();
    assert_eq!(status(&data)["biometrics"], "none");
    let text = field(tmp.path(), "status", &data, vec![]);
    text.assert_success();
    assert!(
        text.stdout
            .contains("Biometrics required (id_card_application): none"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("Attachment files"), "{}", text.stdout);

    let out = field(
        tmp.path(),
        "biometrics",
        &data,
        args!["left_index,face,right_index"],
    );
    out.assert_success();
    assert!(
        out.stdout.contains("face,right_index,left_index"),
        "{}",
        out.stdout
    );
    assert_eq!(status(&data)["biometrics"], "face,right_index,left_index");
    let vi = run_lang(
        tmp.path(),
        "vi",
        args!["field", "status", "--data-dir", &data],
        None,
    );
    assert!(
        vi.stdout.contains(
            "ảnh chân dung, vân tay ngón trỏ phải, ngón trỏ trái (face,right_index,left_index)"
        ),
        "{}",
        vi.stdout
    );

    let out = field(tmp.path(), "biometrics", &data, args!["thumbs"]);
    out.assert_code(2);
    out.assert_stderr_contains("`thumbs`");
    out.assert_stderr_contains("left_little");
    assert_eq!(status(&data)["biometrics"], "face,right_index,left_index");

    // The help says how.
    for (sub, needles) in [
        (
            "init",
            &["--biometrics <SPEC>", "face,right_index,left_index"][..],
        ),
        (
            "enroll",
            &["--files-dir <DIR>", "\"file\"", "media_type"][..],
        ),
        ("biometrics", &["<SPEC>", "biometric_exemptions"][..]),
    ] {
        let out = run_in(tmp.path(), args!["field", sub, "--help"], None);
        out.assert_success();
        for needle in needles {
            assert!(
                out.stdout.contains(needle),
                "field {sub} --help lacks {needle:?}:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn a_registered_laptop_keeps_its_campaigns_policy() {
    let tmp = temp_dir();
    let central_dir = tmp.path().join("central");
    let central = doorstep_tests::Server::central(&central_dir, 0);
    let token = doorstep_tests::provision_token(&central_dir, "field", None);
    let data = tmp.path().join("laptop");
    doorstep_tests::init_laptop(&data, Some((&central.url, &token)));
    let before = status(&data)["biometrics"].clone();
    let out = field(tmp.path(), "biometrics", &data, args!["none"]);
    out.assert_code(2);
    out.assert_stderr_contains("this laptop is registered with");
    out.assert_stderr_contains("central provision --biometrics");
    assert_eq!(status(&data)["biometrics"], before);
}
