#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of `doorstep field …` run as real processes: bulk
//! enroll and idempotent re-run, input forms, per-record violations,
//! Vietnamese text, corrections, exit codes, damaged and too-new stores.
//!
//! Tests marked `#[ignore = "BUG: …"]` show defects found in `crates/`;
//! run them with `cargo test -p doorstep-tests -- --ignored`.

use std::collections::HashSet;
use std::path::Path;

use doorstep_tests::{
    Output, Store, args, clip, db_path, dir_listing, gen_records, init_store, is_uuid_v7,
    read_ndjson, run, run_with_stdin, temp_dir, to_ndjson,
};
use serde_json::{Value, json};

/// The record IDs printed by a text-mode enroll, checked to be UUIDv7.
#[track_caller]
fn ids(out: &Output) -> Vec<String> {
    let ids: Vec<String> = out.stdout_lines().into_iter().map(str::to_owned).collect();
    for id in &ids {
        assert!(is_uuid_v7(id), "not a UUIDv7 record ID: {id:?}");
    }
    ids
}

/// `personal_id` with digits 5–6 (birth year) changed: breaks exactly
/// `personal_id.year_mismatch`.
fn with_wrong_year(record: &Value) -> Value {
    let mut r = record.clone();
    let id = r["citizen"]["personal_id"].as_str().unwrap().to_owned();
    let yy: u32 = id[4..6].parse().unwrap();
    let wrong = format!("{}{:02}{}", &id[..4], (yy + 1) % 100, &id[6..]);
    r["citizen"]["personal_id"] = json!(wrong);
    r
}

/// (personal_id, visit.at) of an input record or a stored canonical body.
fn key(body: &Value) -> (String, String) {
    (
        body["citizen"]["personal_id"].as_str().unwrap().to_owned(),
        body["visit"]["at"].as_str().unwrap().to_owned(),
    )
}

/// Stored records in device_seq order: (seq, record_id, canonical JSON).
fn stored_rows(data_dir: &Path) -> Vec<(i64, String, Value)> {
    doorstep_tests::stored_canonical(data_dir)
        .into_iter()
        .map(|(seq, id, canonical)| (seq, id, serde_json::from_slice(&canonical).unwrap()))
        .collect()
}

#[test]
fn hundred_thousand_records_enroll_once_and_a_rerun_stores_nothing_new() {
    let store = Store::new();
    let file = store.file("100k.ndjson");
    gen_records(&store.dir, 100_000, 7, &file);
    let input = read_ndjson(&file);

    let first = store.field("enroll", &[file.as_os_str(), "--no-progress".as_ref()]);
    first.assert_success();
    first.assert_stderr_contains("Stored 100000 new records; 0 were already stored; 0 invalid.");
    let first_ids = ids(&first);
    assert_eq!(first_ids.len(), 100_000, "one record ID per input record");
    let distinct: HashSet<&String> = first_ids.iter().collect();
    assert_eq!(distinct.len(), 100_000, "record IDs must be distinct");

    let status = store.status();
    assert_eq!(status["total"], 100_000, "{status}");
    assert_eq!(status["by_status"]["pending"], 100_000, "{status}");
    assert_eq!(status["outbox"], 100_000, "{status}");
    assert_eq!(status["device"]["last_seq"], 100_000, "{status}");
    let check = store.assert_check_ok();
    assert_eq!(check["records_decoded"], 100_000, "{check}");

    // Stored in input order, under the IDs printed, sequence 1..=100000.
    let rows = stored_rows(&store.dir);
    assert_eq!(rows.len(), 100_000);
    for (i, ((seq, id, canonical), rec)) in rows.iter().zip(&input).enumerate() {
        assert_eq!(*seq, i as i64 + 1);
        assert_eq!(id, &first_ids[i], "record ID of device_seq {seq}");
        assert_eq!(
            key(&canonical["body"]),
            key(rec),
            "record at device_seq {seq}"
        );
    }

    // Same file again: nothing new, the same IDs reported.
    let second = store.enroll(&file);
    second.assert_success();
    second.assert_stderr_contains("Stored 0 new records; 100000 were already stored; 0 invalid.");
    assert_eq!(ids(&second), first_ids, "a re-run reports the stored IDs");
    let status = store.status();
    assert_eq!(status["total"], 100_000, "{status}");
    assert_eq!(status["device"]["last_seq"], 100_000, "{status}");
    assert_eq!(status["outbox"], 100_000, "{status}");
}

#[test]
fn every_input_form_is_accepted() {
    let store = Store::new();
    let recs = store.records(12, 11);
    let mut total = 0;
    let mut expect = |out: &Output, n: usize| {
        out.assert_success();
        assert_eq!(ids(out).len(), n, "{out:?}");
        total += n;
    };

    // One compact object, no trailing newline.
    let f = store.write("one.json", recs[0].to_string());
    expect(&store.enroll(&f), 1);
    // A JSON array.
    let f = store.write("array.json", json!([recs[1], recs[2]]).to_string());
    expect(&store.enroll(&f), 2);
    // NDJSON with CRLF line ends and blank lines.
    let f = store.write("crlf.ndjson", format!("{}\r\n\r\n{}\r\n", recs[3], recs[4]));
    expect(&store.enroll(&f), 2);
    // A pretty-printed object, with a UTF-8 byte order mark.
    let pretty = serde_json::to_string_pretty(&recs[5]).unwrap();
    assert!(pretty.lines().count() > 5);
    let f = store.write("pretty.json", format!("\u{feff}{pretty}\n"));
    expect(&store.enroll(&f), 1);
    // A pretty-printed array.
    let f = store.write(
        "pretty-array.json",
        serde_json::to_string_pretty(&json!([recs[6], recs[7]])).unwrap(),
    );
    expect(&store.enroll(&f), 2);
    // Standard input via `-`.
    let out = run_with_stdin(
        args![
            "--lang",
            "en",
            "field",
            "enroll",
            "--data-dir",
            &store.dir,
            "-"
        ],
        Some(to_ndjson(&recs[8..10]).as_bytes()),
    );
    expect(&out, 2);
    // Standard input without FILE.
    let out = run_with_stdin(
        args!["--lang", "en", "field", "enroll", "--data-dir", &store.dir],
        Some(serde_json::to_string_pretty(&recs[10]).unwrap().as_bytes()),
    );
    expect(&out, 1);
    // Empty input: nothing to do.
    let f = store.write("empty.json", "");
    let out = store.enroll(&f);
    out.assert_success();
    out.assert_stderr_contains("Stored 0 new records");
    assert_eq!(total, 11);
    assert_eq!(store.status()["total"], 11);

    // The same capture in another layout is the same record: not stored twice.
    let f = store.write(
        "again.json",
        serde_json::to_string_pretty(&recs[0]).unwrap(),
    );
    let out = store.enroll(&f);
    out.assert_success();
    out.assert_stderr_contains("Stored 0 new records; 1 were already stored");
    assert_eq!(store.status()["total"], 11);
    store.assert_check_ok();
}

/// Line 1 valid, 2 wrong birth year, 3 blank, 4 valid, 5 not JSON,
/// 6 bad phone and an unknown field, 7 valid.
fn mixed_ndjson(recs: &[Value]) -> String {
    let mut bad_phone = recs[3].clone();
    bad_phone["citizen"]["phone"] = json!("12345");
    bad_phone["nickname"] = json!("Lan");
    format!(
        "{}\n{}\n\n{}\n{{oops\n{}\n{}\n",
        recs[0],
        with_wrong_year(&recs[1]),
        recs[2],
        bad_phone,
        recs[4]
    )
}

#[test]
fn mixed_valid_and_invalid_ndjson_stores_the_valid_and_lists_the_invalid() {
    let store = Store::new();
    let recs = store.records(5, 21);
    let file = store.write("mixed.ndjson", mixed_ndjson(&recs));

    let out = store.enroll(&file);
    out.assert_code(2);
    assert_eq!(ids(&out).len(), 3, "the 3 valid records are stored");
    out.assert_stderr_contains("record #2 (line 2) is invalid and was not stored");
    out.assert_stderr_contains("$.citizen.personal_id: digits 5–6 are");
    out.assert_stderr_contains("[personal_id.year_mismatch]");
    out.assert_stderr_contains("record #4 (line 5) is invalid and was not stored");
    out.assert_stderr_contains("[json.syntax]");
    out.assert_stderr_contains("record #5 (line 6) is invalid and was not stored");
    out.assert_stderr_contains("$.citizen.phone: ");
    out.assert_stderr_contains("[phone.invalid]");
    out.assert_stderr_contains("$.nickname: ");
    out.assert_stderr_contains("[field.unknown]");
    assert_eq!(
        out.stderr.matches("is invalid and was not stored").count(),
        3
    );
    out.assert_stderr_contains("Stored 3 new records; 0 were already stored; 3 invalid.");
    let stored: Vec<_> = store.list().iter().map(key_of_summary).collect();
    let expected: Vec<_> = [0, 2, 4]
        .iter()
        .map(|&i| {
            recs[i]["citizen"]["personal_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(stored, expected, "valid records stored in input order");

    // --json on a fresh store: one outcome per position.
    let store = Store::new();
    let file = store.write("mixed.ndjson", mixed_ndjson(&recs));
    let out = store.field("enroll", &[file.as_os_str(), "--json".as_ref()]);
    out.assert_code(2);
    let doc = out.json();
    assert_eq!(doc["stored"], 3, "{doc}");
    assert_eq!(doc["already_stored"], 0, "{doc}");
    assert_eq!(doc["invalid"], 3, "{doc}");
    assert_eq!(doc["input_error"], Value::Null, "{doc}");
    let results = doc["results"].as_array().unwrap();
    let outcomes: Vec<(u64, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["position"].as_u64().unwrap(),
                r["at"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, "#1 (line 1)", "stored"),
            (2, "#2 (line 2)", "invalid"),
            (3, "#3 (line 4)", "stored"),
            (4, "#4 (line 5)", "invalid"),
            (5, "#5 (line 6)", "invalid"),
            (6, "#6 (line 7)", "stored"),
        ]
    );
    let mut seq = 0;
    for r in results {
        if r["outcome"] == "stored" {
            seq += 1;
            assert!(is_uuid_v7(r["record_id"].as_str().unwrap()), "{r}");
            assert_eq!(r["device_seq"], seq, "{r}");
            let hash = r["content_hash"].as_str().unwrap();
            assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
            continue;
        }
        let violations = r["violations"].as_array().unwrap();
        assert!(!violations.is_empty(), "{r}");
        for v in violations {
            for field in ["path", "code", "message", "message_vi"] {
                assert!(
                    v[field].as_str().is_some_and(|s| !s.is_empty()),
                    "violation without `{field}`: {v}"
                );
            }
        }
    }
    let codes = |pos: usize| -> Vec<(String, String)> {
        results[pos - 1]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["path"].as_str().unwrap().to_owned(),
                    v["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        codes(2),
        vec![(
            "$.citizen.personal_id".to_owned(),
            "personal_id.year_mismatch".to_owned()
        )]
    );
    assert_eq!(codes(4), vec![("$".to_owned(), "json.syntax".to_owned())]);
    let five = codes(5);
    assert!(
        five.contains(&("$.citizen.phone".into(), "phone.invalid".into())),
        "{five:?}"
    );
    assert!(
        five.contains(&("$.nickname".into(), "field.unknown".into())),
        "{five:?}"
    );
    assert!(
        results[1]["violations"][0]["message_vi"]
            .as_str()
            .unwrap()
            .contains("năm sinh"),
        "Vietnamese message: {}",
        results[1]
    );

    // Vietnamese is the default language of the messages.
    let store = Store::new();
    let file = store.write("mixed.ndjson", mixed_ndjson(&recs));
    let out = run(args!["field", "enroll", "--data-dir", &store.dir, &file]);
    out.assert_code(2);
    out.assert_stderr_contains("không hợp lệ");
    out.assert_stderr_contains("năm sinh kết thúc bằng");
    out.assert_stderr_contains("[personal_id.year_mismatch]");
    out.assert_stderr_contains("Đã lưu 3 hồ sơ mới");
}

fn key_of_summary(summary: &Value) -> String {
    summary["personal_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_json_array_reports_invalid_items_by_position() {
    let store = Store::new();
    let recs = store.records(3, 31);
    let file = store.write(
        "array.json",
        json!([recs[0], 42, with_wrong_year(&recs[1]), recs[2]]).to_string(),
    );
    let out = store.field("enroll", &[file.as_os_str(), "--json".as_ref()]);
    out.assert_code(2);
    let doc = out.json();
    let outcomes: Vec<(u64, &str)> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["position"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![(1, "stored"), (2, "invalid"), (3, "invalid"), (4, "stored")]
    );
    assert_eq!(doc["results"][1]["violations"][0]["code"], "type.object");
    assert_eq!(
        doc["results"][2]["violations"][0]["code"],
        "personal_id.year_mismatch"
    );
    assert_eq!(store.status()["total"], 2);
}

#[test]
fn ndjson_with_a_broken_first_line_still_stores_the_valid_lines() {
    let store = Store::new();
    let recs = store.records(3, 41);
    let file = store.write(
        "first-bad.ndjson",
        format!("{{oops\n{}\n{}\n{}\n", recs[0], recs[1], recs[2]),
    );
    let out = store.enroll(&file);
    out.assert_code(2);
    // Same behaviour as a broken line anywhere else: listed, the others stored.
    out.assert_stderr_contains("record #1 (line 1) is invalid and was not stored");
    out.assert_stderr_contains("[json.syntax]");
    assert_eq!(ids(&out).len(), 3);
    assert_eq!(store.status()["total"], 3);
}

#[test]
fn several_pretty_printed_objects_report_the_line_of_each_record() {
    let store = Store::new();
    let recs = store.records(2, 51);
    let first = serde_json::to_string_pretty(&recs[0]).unwrap();
    let second_line = first.lines().count() + 1;
    let text = format!(
        "{first}\n{}\n",
        serde_json::to_string_pretty(&with_wrong_year(&recs[1])).unwrap()
    );
    let file = store.write("pretty-two.json", text);
    let out = store.enroll(&file);
    out.assert_code(2);
    assert_eq!(ids(&out).len(), 1);
    out.assert_stderr_contains(&format!(
        "record #2 (line {second_line}) is invalid and was not stored"
    ));
}

#[test]
fn a_name_typed_in_nfd_is_stored_in_nfc() {
    let store = Store::new();
    let recs = store.records(1, 61);
    let nfd = "  Nguye\u{302}\u{303}n   Thi\u{323}\tLan ";
    let nfc = "Nguy\u{1ec5}n Th\u{1ecb} Lan";
    assert_eq!(nfc, "Nguyễn Thị Lan");
    let mut rec = recs[0].clone();
    rec["citizen"]["full_name"] = json!(nfd);
    let file = store.write("nfd.json", rec.to_string());
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("e\u{302}\u{303}")
    );
    let out = store.enroll(&file);
    out.assert_success();
    let id = ids(&out).remove(0);

    let list = store.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["record_id"], id.as_str());
    assert_eq!(
        list[0]["full_name"], nfc,
        "listed in NFC, whitespace cleaned"
    );
    let rows = stored_rows(&store.dir);
    assert_eq!(
        rows[0].2["body"]["citizen"]["full_name"], nfc,
        "stored in NFC"
    );
    let table = run(args!["field", "list", "--data-dir", &store.dir]);
    table.assert_success();
    assert!(table.stdout.contains(nfc), "{}", table.stdout);

    // The same capture typed in NFC is the same record.
    rec["citizen"]["full_name"] = json!(nfc);
    let file = store.write("nfc.json", rec.to_string());
    let out = store.enroll(&file);
    out.assert_success();
    assert_eq!(ids(&out), vec![id]);
    out.assert_stderr_contains("Stored 0 new records; 1 were already stored");
    assert_eq!(store.status()["total"], 1);
}

#[test]
fn corrections_supersede_older_records_once() {
    let store = Store::new();
    let recs = store.records(2, 71);
    let original = recs[0].clone();
    let f = store.write("a.json", original.to_string());
    let out = store.enroll(&f);
    out.assert_success();
    let a = ids(&out).remove(0);

    // B corrects A.
    let mut b_rec = original.clone();
    b_rec["citizen"]["full_name"] = json!("Trần Thị Bích Ngọc");
    b_rec["supersedes"] = json!(a);
    let f = store.write("b.json", b_rec.to_string());
    let out = store.enroll(&f);
    out.assert_success();
    let b = ids(&out).remove(0);

    let list = store.list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["record_id"], a.as_str());
    assert_eq!(list[0]["superseded_by"], b.as_str(), "{}", list[0]);
    assert_eq!(list[0]["supersedes"], Value::Null);
    assert_eq!(list[1]["record_id"], b.as_str());
    assert_eq!(list[1]["supersedes"], a.as_str(), "{}", list[1]);
    assert_eq!(list[1]["superseded_by"], Value::Null);
    assert_eq!(list[1]["full_name"], "Trần Thị Bích Ngọc");

    // Superseding a record this store does not have.
    let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
    let mut c_rec = recs[1].clone();
    c_rec["supersedes"] = json!(unknown);
    let f = store.write("c.json", c_rec.to_string());
    let out = store.enroll(&f);
    out.assert_code(2);
    out.assert_stderr_contains("[supersedes.unknown]");
    out.assert_stderr_contains("$.supersedes");
    assert!(out.stdout_lines().is_empty());
    let out = store.field("enroll", &[f.as_os_str(), "--json".as_ref()]);
    out.assert_code(2);
    let doc = out.json();
    assert_eq!(doc["results"][0]["outcome"], "invalid");
    assert_eq!(
        doc["results"][0]["violations"][0]["code"],
        "supersedes.unknown"
    );
    assert_eq!(doc["results"][0]["violations"][0]["path"], "$.supersedes");

    // Superseding A a second time: refused, pointing at B.
    let mut d_rec = original.clone();
    d_rec["citizen"]["phone"] = json!("0912345678");
    d_rec["supersedes"] = json!(a);
    let f = store.write("d.json", d_rec.to_string());
    let out = store.enroll(&f);
    out.assert_code(2);
    out.assert_stderr_contains("[supersedes.already_superseded]");
    out.assert_stderr_contains(&b);
    assert!(out.stdout_lines().is_empty());

    // Not a UUID at all.
    let mut e_rec = recs[1].clone();
    e_rec["supersedes"] = json!("not-a-record-id");
    let f = store.write("e.json", e_rec.to_string());
    store
        .enroll(&f)
        .assert_code(2)
        .assert_stderr_contains("[supersedes.invalid]");

    // Refusals used no sequence number; B itself can be corrected.
    assert_eq!(store.status()["total"], 2);
    let mut f_rec = b_rec.clone();
    f_rec["citizen"]["full_name"] = json!("Trần Thị Bích Ngân");
    f_rec["supersedes"] = json!(b);
    let f = store.write("f.json", f_rec.to_string());
    let out = store.enroll(&f);
    out.assert_success();
    let c = ids(&out).remove(0);
    let list = store.list();
    assert_eq!(list[1]["superseded_by"], c.as_str());
    assert_eq!(list[2]["device_seq"], 3);
    store.assert_check_ok();
}

#[test]
fn user_mistakes_exit_2_with_a_helpful_message() {
    let tmp = temp_dir();
    let nope = tmp.path().join("nope");
    for (sub, extra) in [
        ("status", None),
        ("list", None),
        ("check", None),
        ("enroll", Some("x.json")),
    ] {
        let mut a = args!["--lang", "en", "field", sub, "--data-dir", &nope];
        a.extend(extra.map(Into::into));
        let out = run(a);
        out.assert_code(2).assert_stderr_contains("field init");
    }
    let out = run(args!["gen", "--count", "1", "--data-dir", &nope]);
    out.assert_code(2).assert_stderr_contains("field init");
    assert!(
        !nope.exists(),
        "a missing store is not created by other commands"
    );
    // An existing directory without a store.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(args![
        "--lang",
        "en",
        "field",
        "status",
        "--data-dir",
        &empty
    ]);
    out.assert_code(2).assert_stderr_contains("field init");
    assert!(dir_listing(&empty).is_empty(), "{:?}", dir_listing(&empty));

    // init twice: refused, store untouched.
    let store = Store::new();
    let recs = store.records(3, 81);
    let f = store.write("three.ndjson", to_ndjson(&recs));
    store.enroll(&f).assert_success();
    let device = store.status()["device"].clone();
    let before = std::fs::read(store.db()).unwrap();
    let out = run(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        &store.dir,
        "--unit",
        "74",
        "--device-name",
        "another laptop"
    ]);
    out.assert_code(2).assert_stderr_contains("already exists");
    assert!(
        std::fs::read(store.db()).unwrap() == before,
        "init changed the store"
    );
    assert_eq!(store.status()["device"], device);
    assert_eq!(store.status()["total"], 3);

    // Input file that does not exist.
    let missing = store.file("no-such-file.ndjson");
    let out = store.enroll(&missing);
    out.assert_code(2)
        .assert_stderr_contains("no-such-file.ndjson");
    // Input that is not JSON at all / a broken array / not UTF-8.
    for (name, bytes) in [
        ("broken-array.json", b"[{\"a\": 1},".to_vec()),
        ("latin1.ndjson", b"{\"a\": \"Nguy\xean\"}\n".to_vec()),
    ] {
        let f = store.write(name, bytes);
        store
            .enroll(&f)
            .assert_code(2)
            .assert_stderr_contains("line 1");
    }
    assert_eq!(store.status()["total"], 3);

    // Bad unit lists: the line is named, no store is created.
    let bad_units: [(&str, &[u8], &str); 3] = [
        ("header.csv", b"code,name\n01,Ha Noi\n", "line 1"),
        (
            "fields.csv",
            b"code,name,level,parent_code\n01,Ha Noi,province,\n001,Ba Dinh,district\n",
            "line 3",
        ),
        (
            "parent.csv",
            b"code,name,level,parent_code\n01,Ha Noi,province,\n001,Ba Dinh,district,02\n",
            "line 3",
        ),
    ];
    for (name, bytes, line) in bad_units {
        let csv = tmp.path().join(name);
        std::fs::write(&csv, bytes).unwrap();
        let dir = tmp.path().join(format!("store-{name}"));
        let out = run(args![
            "--lang",
            "en",
            "field",
            "init",
            "--data-dir",
            &dir,
            "--unit",
            "01",
            "--device-name",
            "T3",
            "--units",
            &csv
        ]);
        out.assert_code(2)
            .assert_stderr_contains(line)
            .assert_stderr_contains(name);
        assert!(!db_path(&dir).exists(), "a store was created from {name}");
    }
    let non_utf8 = tmp.path().join("legacy.csv");
    std::fs::write(
        &non_utf8,
        b"code,name,level,parent_code\n01,Th\xe0nh ph\xf4 H\xe0 N\xf4i,province,\n",
    )
    .unwrap();
    let dir = tmp.path().join("store-legacy");
    let out = run(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        &dir,
        "--unit",
        "01",
        "--device-name",
        "T3",
        "--units",
        &non_utf8
    ]);
    out.assert_code(2).assert_stderr_contains("UTF-8");
    assert!(!db_path(&dir).exists());
    // Unit list file missing; unit not in the list; empty device name.
    for extra in [
        args![
            "--unit",
            "74",
            "--device-name",
            "T3",
            "--units",
            tmp.path().join("none.csv")
        ],
        args!["--unit", "99999", "--device-name", "T3"],
        args!["--unit", "74", "--device-name", "   "],
    ] {
        let dir = tmp.path().join("store-x");
        let mut a = args!["--lang", "en", "field", "init", "--data-dir", &dir];
        a.extend(extra);
        run(a).assert_code(2);
        assert!(!db_path(&dir).exists());
    }

    // Usage errors (clap): unknown subcommand or flag, missing or bad values.
    for a in [
        args!["field", "frob"],
        args!["frob"],
        args!["field", "status", "--frob", "--data-dir", &store.dir],
        args!["field", "status"],
        args!["--lang", "fr", "field", "status", "--data-dir", &store.dir],
        args![
            "field",
            "list",
            "--data-dir",
            &store.dir,
            "--status",
            "lost"
        ],
        args!["field", "list", "--data-dir", &store.dir, "--limit", "-1"],
        args![
            "field",
            "list",
            "--data-dir",
            &store.dir,
            "--kind",
            "passport"
        ],
        args!["gen", "--count", "many"],
        args!["gen", "--count", "1", "--kind", "passport"],
        args!["gen", "--count", "1", "--visit-from", "2023-13-01"],
    ] {
        let out = run(a);
        out.assert_code(2);
        assert!(
            !out.stderr.trim().is_empty(),
            "no message for {}",
            out.command
        );
    }
    for a in [
        args!["--help"],
        args!["field", "enroll", "--help"],
        args!["--version"],
    ] {
        let out = run(a);
        out.assert_success();
        assert!(!out.stdout.is_empty());
    }
    assert_eq!(store.status()["total"], 3);
    store.assert_check_ok();
}

#[test]
fn a_non_utf8_unit_list_names_the_line() {
    let tmp = temp_dir();
    let csv = tmp.path().join("legacy.csv");
    std::fs::write(
        &csv,
        b"code,name,level,parent_code\n01,Ha Noi,province,\n001,Qu\xe2n Ba \xd0inh,district,01\n",
    )
    .unwrap();
    let dir = tmp.path().join("data");
    let out = run(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        &dir,
        "--unit",
        "01",
        "--device-name",
        "T3",
        "--units",
        &csv
    ]);
    out.assert_code(2).assert_stderr_contains("line 3");
}

/// Every command on a damaged store: exit 1 or 2, "damaged" in the
/// message, the store file byte for byte the same, nothing added or
/// removed next to it.
#[track_caller]
fn assert_refused_untouched(store: &Store, commands: &[Vec<std::ffi::OsString>], input: &Path) {
    let before = std::fs::read(store.db()).unwrap();
    let listing = dir_listing(&store.dir);
    for a in commands {
        let out = if a.iter().any(|s| s == "-") {
            run_with_stdin(a.clone(), Some(&std::fs::read(input).unwrap()))
        } else {
            run(a.clone())
        };
        assert!(
            matches!(out.code(), Some(1 | 2)),
            "`{}` should fail with 1 or 2, exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.command,
            out.code(),
            clip(&out.stdout),
            clip(&out.stderr)
        );
        out.assert_stderr_contains("damaged");
        assert!(
            std::fs::read(store.db()).unwrap() == before,
            "`{}` changed the damaged store",
            out.command
        );
        assert_eq!(dir_listing(&store.dir), listing, "after `{}`", out.command);
    }
}

fn all_commands(store: &Store, input: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let d = &store.dir;
    vec![
        args!["--lang", "en", "field", "status", "--data-dir", d],
        args!["--lang", "en", "field", "status", "--json", "--data-dir", d],
        args!["--lang", "en", "field", "list", "--data-dir", d],
        args!["--lang", "en", "field", "list", "--json", "--data-dir", d],
        args!["--lang", "en", "field", "check", "--data-dir", d],
        args!["--lang", "en", "field", "check", "--json", "--data-dir", d],
        args!["--lang", "en", "field", "enroll", "--data-dir", d, input],
        args![
            "--lang",
            "en",
            "field",
            "enroll",
            "--json",
            "--data-dir",
            d,
            "-"
        ],
        args!["field", "status", "--data-dir", d],
        args!["gen", "--count", "3", "--data-dir", d],
    ]
}

/// Overwrites `len` bytes at `offset` with 0x55.
fn scribble(path: &Path, offset: u64, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&vec![0x55; len]).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_store_with_a_damaged_header_is_reported_and_never_replaced() {
    let store = Store::new();
    let recs = store.records(60, 91);
    let input = store.write("new.ndjson", to_ndjson(&recs[50..]));
    let f = store.write("old.ndjson", to_ndjson(&recs[..50]));
    store.enroll(&f).assert_success();
    scribble(&store.db(), 0, 4096);

    let mut commands = all_commands(&store, &input);
    commands.push(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        &store.dir,
        "--unit",
        "74",
        "--device-name",
        "T3"
    ]);
    assert_refused_untouched(&store, &commands, &input);
    // The damage report tells the officer what to do, in Vietnamese too.
    let out = run(args!["field", "status", "--data-dir", &store.dir]);
    out.assert_stderr_contains("damaged"); // the store's error text (English)
    out.assert_stderr_contains("lỗi:");
}

/// The byte offset of the page holding `needle` (a records-table page).
/// A record's content hash: citizen data is encrypted, so a record's page
/// is found by its hash, stored in the clear in the records table only.
fn content_hash_of(dir: &Path, seq: i64) -> Vec<u8> {
    // Read-write, so closing removes the write-ahead log files it made and
    // the directory looks as the enroll left it.
    rusqlite::Connection::open(dir.join("field.sqlite3"))
        .unwrap()
        .query_row(
            "SELECT content_hash FROM records WHERE device_seq = ?1",
            [seq],
            |r| r.get(0),
        )
        .unwrap()
}

fn page_containing(db: &Path, needle: &[u8]) -> (u64, usize) {
    let bytes = std::fs::read(db).unwrap();
    let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65_536,
        n => usize::from(n),
    };
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the store file"));
    ((at / page_size * page_size) as u64, page_size)
}

#[test]
fn a_store_with_a_damaged_page_in_the_middle_is_reported_and_never_replaced() {
    let store = Store::new();
    let f = store.file("3000.ndjson");
    gen_records(&store.dir, 3000, 92, &f);
    store.enroll(&f).assert_success();
    let (offset, page) = page_containing(&store.db(), &content_hash_of(&store.dir, 1501));
    let len = std::fs::metadata(store.db()).unwrap().len();
    assert!(
        offset > 0 && offset < len - page as u64,
        "a page in the middle"
    );
    scribble(&store.db(), offset, page);

    // Reading commands (and enrolling records already stored) meet the damage.
    let d = &store.dir;
    let commands = vec![
        args!["--lang", "en", "field", "status", "--data-dir", d],
        args!["--lang", "en", "field", "status", "--json", "--data-dir", d],
        args!["--lang", "en", "field", "list", "--data-dir", d],
        args!["--lang", "en", "field", "list", "--json", "--data-dir", d],
        args!["--lang", "en", "field", "check", "--data-dir", d],
        args!["--lang", "en", "field", "check", "--json", "--data-dir", d],
    ];
    assert_refused_untouched(&store, &commands, &f);
    // init refuses too (the store exists) and leaves it alone.
    let before = std::fs::read(store.db()).unwrap();
    let out = run(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        d,
        "--unit",
        "74",
        "--device-name",
        "T3"
    ]);
    out.assert_code(2);
    assert!(std::fs::read(store.db()).unwrap() == before);
}

#[test]
fn enrolling_into_a_store_with_a_damaged_page_is_refused() {
    let store = Store::new();
    let f = store.file("3020.ndjson");
    gen_records(&store.dir, 3020, 93, &f);
    let recs = read_ndjson(&f);
    let old = store.write("old.ndjson", to_ndjson(&recs[..3000]));
    let new = store.write("new.ndjson", to_ndjson(&recs[3000..]));
    store.enroll(&old).assert_success();
    let (offset, page) = page_containing(&store.db(), &content_hash_of(&store.dir, 1501));
    scribble(&store.db(), offset, page);
    let commands = vec![args![
        "--lang",
        "en",
        "field",
        "enroll",
        "--data-dir",
        &store.dir,
        &new
    ]];
    assert_refused_untouched(&store, &commands, &new);
}

#[test]
fn a_store_from_a_newer_doorstep_is_refused_unchanged() {
    let store = Store::new();
    let recs = store.records(5, 94);
    let input = store.write("five.ndjson", to_ndjson(&recs));
    store.enroll(&input).assert_success();
    {
        let conn = rusqlite::Connection::open(store.db()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(store.db()).unwrap();
    let listing = dir_listing(&store.dir);
    let mut commands = all_commands(&store, &input);
    commands.push(args![
        "--lang",
        "en",
        "field",
        "init",
        "--data-dir",
        &store.dir,
        "--unit",
        "74",
        "--device-name",
        "T3"
    ]);
    for a in commands {
        let out = if a.iter().any(|s| s == "-") {
            run_with_stdin(a, Some(&std::fs::read(&input).unwrap()))
        } else {
            run(a)
        };
        out.assert_code(2);
        assert!(
            out.stderr.contains("schema version 99") || out.stderr.contains("phiên bản lược đồ 99"),
            "`{}` should name schema version 99: {}",
            out.command,
            out.stderr
        );
        assert!(
            std::fs::read(store.db()).unwrap() == before,
            "`{}` changed the store",
            out.command
        );
        assert_eq!(dir_listing(&store.dir), listing);
    }
    let conn = doorstep_tests::open_read_only(&store.dir).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[test]
fn init_creates_a_private_store_with_the_unit_list() {
    let tmp = temp_dir();
    let dir = tmp.path().join("a").join("b");
    let out = init_store(&dir);
    assert!(out.stdout.contains("Tỉnh Bình Dương"), "{}", out.stdout);
    let store_status = run(args!["field", "status", "--json", "--data-dir", &dir]);
    store_status.assert_success();
    let doc = store_status.json();
    assert_eq!(doc["total"], 0);
    assert_eq!(doc["device"]["unit_code"], "74");
    assert_eq!(doc["device"]["device_name"], "Tổ 3 - CA Thuận Giao");
    assert!(is_uuid_v7(doc["device"]["device_id"].as_str().unwrap()));
    assert_eq!(doc["units_count"], 11_366);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "data directory private to the user");
        assert_eq!(
            mode(&db_path(&dir)),
            0o600,
            "store file private to the user"
        );
    }
}

#[test]
fn records_typed_one_at_a_time_on_stdin_are_stored_as_they_come() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let store = Store::new();
    let recs = store.records(3, 95);
    let mut child = doorstep_tests::doorstep()
        .args(args![
            "--lang",
            "en",
            "field",
            "enroll",
            "--data-dir",
            &store.dir,
            "-"
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    for (i, rec) in recs.iter().enumerate() {
        writeln!(stdin, "{rec}").unwrap();
        stdin.flush().unwrap();
        // Liveness, not speed: the ID must come without more input or EOF.
        let id = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("record {} typed on stdin was not reported stored", i + 1)
            });
        assert!(is_uuid_v7(&id), "{id:?}");
        // Reported stored means committed: another connection sees it.
        let count: i64 = doorstep_tests::open_read_only(&store.dir)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            count,
            i as i64 + 1,
            "record {id} reported before it was stored"
        );
    }
    drop(stdin);
    let status = doorstep_tests::wait_with_deadline(&mut child, "interactive enroll");
    reader.join().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("Stored 3 new records"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_line_that_is_not_utf8_stops_the_input_after_storing_what_came_before() {
    let store = Store::new();
    let recs = store.records(3, 96);
    let mut bytes = to_ndjson(&recs[..2]).into_bytes();
    bytes.extend_from_slice(b"{\"citizen\": {\"full_name\": \"Nguy\xean V\xe3n A\"}}\n");
    bytes.extend_from_slice(to_ndjson(&recs[2..]).as_bytes());
    let file = store.write("legacy.ndjson", &bytes);

    let out = store.enroll(&file);
    out.assert_code(2)
        .assert_stderr_contains("line 3")
        .assert_stderr_contains("UTF-8");
    let printed = ids(&out);
    assert!(
        printed.len() >= 2,
        "the records before the bad line are stored"
    );
    let listed: Vec<String> = store.list().iter().map(key_of_summary).collect();
    for (i, rec) in recs[..2].iter().enumerate() {
        assert_eq!(listed[i], rec["citizen"]["personal_id"].as_str().unwrap());
    }

    let store = Store::new();
    let file = store.write("legacy.ndjson", &bytes);
    let out = store.field("enroll", &[file.as_os_str(), "--json".as_ref()]);
    out.assert_code(2);
    let doc = out.json();
    let input_error = doc["input_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{doc}"));
    assert!(input_error.contains("line 3"), "{input_error}");
    assert_eq!(doc["results"][0]["outcome"], "stored", "{doc}");
    assert_eq!(doc["results"][1]["outcome"], "stored", "{doc}");
}
