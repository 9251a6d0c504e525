#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of `doorstep gen --attachments DIR`, run as a real process:
//! the biometric files it writes, the `attachments` lists naming them, the
//! record stream left unchanged, and its usage errors.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;

use doorstep_tests::{Output, args, assert_no_panic, doorstep, run, temp_dir};
use serde_json::Value;

/// FNV-1a (64-bit): a stable fingerprint of a whole output.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs doorstep with `args` in the directory `cwd`.
#[track_caller]
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    let out = doorstep()
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run doorstep {args:?}: {e}"));
    let out = Output {
        status: out.status,
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        command: format!("doorstep {}", args.join(" ")),
    };
    assert_no_panic(&out);
    out
}

fn records(out: &Output) -> Vec<Value> {
    out.stdout_lines()
        .into_iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The record without its `attachments`.
fn stripped(record: &Value) -> Value {
    let mut r = record.clone();
    r.as_object_mut().unwrap().remove("attachments");
    r
}

/// Checks one file named by a record: exists under `base`, has the right
/// name, header, trailer and a size within ±10 % of `target`.
#[track_caller]
fn check_file(base: &Path, dir: &str, index: usize, kind: &str, file: &str, target: usize) {
    let suffix = match kind.strip_prefix("fingerprint_") {
        Some(finger) => format!("{finger}.wsq"),
        None => {
            assert_eq!(kind, "face");
            "face.jpg".to_owned()
        }
    };
    assert_eq!(file, format!("{dir}/{index:06}-{suffix}"));
    let bytes = std::fs::read(base.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(
        bytes.len().abs_diff(target) <= target / 10,
        "{file}: {} bytes for a target of {target}",
        bytes.len()
    );
    if kind == "face" {
        assert!(
            bytes.starts_with(
                b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            )
        );
        assert!(bytes.ends_with(b"\xff\xd9"));
        assert_eq!(
            bytes.windows(2).position(|w| w == b"\xff\xd9"),
            Some(bytes.len() - 2),
            "{file}: FF D9 inside"
        );
    } else {
        assert!(bytes.starts_with(b"\xff\xa0\xff\xa8"), "{file}");
        assert_eq!(&bytes[6..14], b"NIST_COM", "{file}");
        assert!(bytes.ends_with(b"\xff\xa1"), "{file}");
    }
    let distinct: BTreeSet<u8> = bytes.iter().copied().collect();
    assert!(distinct.len() > 200, "{file}: low entropy");
}

#[test]
fn without_attachments_the_output_is_unchanged() {
    // Fingerprint of the output before `--attachments` existed.
    let out = run(args!["gen", "--count", "200", "--seed", "11"]);
    out.assert_success();
    assert_eq!(out.stdout.len(), 87_669);
    assert_eq!(fnv1a(out.stdout.as_bytes()), 0x9a7a_1e1c_c856_f51b);
    let out = run(args![
        "gen",
        "--count",
        "60",
        "--seed",
        "5",
        "--kind",
        "id_card_application"
    ]);
    out.assert_success();
    assert_eq!(fnv1a(out.stdout.as_bytes()), 0xbf3e_72c0_57f9_1a15);
}

#[test]
fn attachments_are_written_and_named_by_id_card_applications() {
    let tmp = temp_dir();
    let plain = run_in(tmp.path(), &["gen", "--count", "40", "--seed", "11"]);
    plain.assert_success();
    // DIR is created (with its parent) and spelled as given in the records.
    let out = run_in(
        tmp.path(),
        &[
            "gen",
            "--count",
            "40",
            "--seed",
            "11",
            "--attachments",
            "media/att",
        ],
    );
    out.assert_success();
    assert_eq!(out.stderr, "", "nothing but records is printed");
    let with = records(&out);
    let without = records(&plain);
    assert_eq!(with.len(), 40);

    let mut expected_files = BTreeSet::new();
    let mut id_cards = 0;
    for (index, (record, plain)) in with.iter().zip(&without).enumerate() {
        // The same records, attachments aside.
        assert_eq!(&stripped(record), plain, "record {index}");
        if record["kind"] != "id_card_application" {
            assert!(record.get("attachments").is_none(), "record {index}");
            continue;
        }
        id_cards += 1;
        let list = record["attachments"].as_array().unwrap();
        let kinds: Vec<&str> = list.iter().map(|a| a["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "face",
                "fingerprint_right_thumb",
                "fingerprint_right_index",
                "fingerprint_right_middle",
                "fingerprint_right_ring",
                "fingerprint_right_little",
                "fingerprint_left_thumb",
                "fingerprint_left_index",
                "fingerprint_left_middle",
                "fingerprint_left_ring",
                "fingerprint_left_little",
            ]
        );
        for a in list {
            assert_eq!(a.as_object().unwrap().len(), 2, "only kind and file: {a}");
            let (kind, file) = (a["kind"].as_str().unwrap(), a["file"].as_str().unwrap());
            let target = if kind == "face" { 60_000 } else { 25_000 };
            check_file(tmp.path(), "media/att", index, kind, file, target);
            expected_files.insert(file.strip_prefix("media/att/").unwrap().to_owned());
        }
    }
    assert!(id_cards >= 5, "only {id_cards} id card applications");
    let on_disk: BTreeSet<String> = std::fs::read_dir(tmp.path().join("media/att"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        on_disk, expected_files,
        "exactly the files the records name"
    );

    // Same arguments, same files; another seed, other files.
    let first = with
        .iter()
        .find(|r| r["kind"] == "id_card_application")
        .unwrap();
    let face = first["attachments"][0]["file"].as_str().unwrap().to_owned();
    let bytes = std::fs::read(tmp.path().join(&face)).unwrap();
    let again = run_in(
        tmp.path(),
        &[
            "gen",
            "--count",
            "40",
            "--seed",
            "11",
            "--attachments",
            "again",
        ],
    );
    again.assert_success();
    let again_face = face.replace("media/att/", "again/");
    assert_eq!(std::fs::read(tmp.path().join(again_face)).unwrap(), bytes);
}

#[test]
fn biometrics_and_sizes_choose_the_files() {
    let tmp = temp_dir();
    let dir = tmp.path().join("att");
    let dir_s = dir.to_str().unwrap();
    let out = run(args![
        "gen",
        "--count",
        "6",
        "--seed",
        "2",
        "--kind",
        "id_card_application",
        "--attachments",
        dir_s,
        "--biometrics",
        "left_index,face,right_index",
        "--face-bytes",
        "8000",
        "--fingerprint-bytes",
        "3000"
    ]);
    out.assert_success();
    let recs = records(&out);
    assert_eq!(recs.len(), 6);
    for (index, record) in recs.iter().enumerate() {
        let list = record["attachments"].as_array().unwrap();
        let kinds: Vec<&str> = list.iter().map(|a| a["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["face", "fingerprint_right_index", "fingerprint_left_index"]
        );
        for a in list {
            let (kind, file) = (a["kind"].as_str().unwrap(), a["file"].as_str().unwrap());
            let target = if kind == "face" { 8_000 } else { 3_000 };
            // An absolute DIR gives absolute paths.
            check_file(Path::new("/"), dir_s, index, kind, file, target);
        }
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 18);

    // `none`: no files and records as without --attachments.
    let none_dir = tmp.path().join("none");
    let out = run(args![
        "gen",
        "--count",
        "6",
        "--seed",
        "2",
        "--kind",
        "id_card_application",
        "--attachments",
        &none_dir,
        "--biometrics",
        "none"
    ]);
    out.assert_success();
    let plain = run(args![
        "gen",
        "--count",
        "6",
        "--seed",
        "2",
        "--kind",
        "id_card_application"
    ]);
    assert_eq!(out.stdout, plain.stdout);
    assert_eq!(std::fs::read_dir(&none_dir).unwrap().count(), 0);
}

#[test]
fn usage_mistakes_exit_2_and_say_what() {
    let tmp = temp_dir();
    let att = tmp.path().join("att");
    // An unknown item: named, with what is allowed.
    let out = run(args![
        "--lang",
        "en",
        "gen",
        "--count",
        "3",
        "--attachments",
        &att,
        "--biometrics",
        "face,thumb"
    ]);
    out.assert_code(2)
        .assert_stderr_contains("--biometrics face,thumb")
        .assert_stderr_contains("`thumb`")
        .assert_stderr_contains("right_thumb");
    assert_eq!(out.stdout, "");
    for spec in ["none,face", "face,,all", ""] {
        let out = run(args![
            "gen",
            "--count",
            "3",
            "--attachments",
            &att,
            "--biometrics",
            spec
        ]);
        out.assert_code(2).assert_stderr_contains("--biometrics");
        assert_eq!(out.stdout, "");
    }
    // DIR cannot be created: a file is in the way.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = run(args![
        "--lang",
        "en",
        "gen",
        "--count",
        "3",
        "--attachments",
        &file
    ]);
    out.assert_code(2)
        .assert_stderr_contains("--attachments")
        .assert_stderr_contains(file.to_str().unwrap());
    assert_eq!(out.stdout, "");
    // The attachment flags need --attachments; sizes are bounded.
    for a in [
        args!["gen", "--count", "3", "--biometrics", "face"],
        args!["gen", "--count", "3", "--face-bytes", "5000"],
        args![
            "gen",
            "--count",
            "3",
            "--attachments",
            &att,
            "--face-bytes",
            "5"
        ],
        args![
            "gen",
            "--count",
            "3",
            "--attachments",
            &att,
            "--fingerprint-bytes",
            "99999999"
        ],
    ] {
        let out = run(a);
        out.assert_code(2);
        assert!(!out.stderr.trim().is_empty(), "no message: {}", out.command);
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn help_explains_the_flags() {
    let out = run(args!["gen", "--help"]);
    out.assert_success();
    for needle in [
        "--attachments <DIR>",
        "--biometrics <SPEC>",
        "--face-bytes <N>",
        "--fingerprint-bytes <N>",
        "face,all",
        "left_little",
        "-face.jpg",
        ".wsq",
    ] {
        assert!(out.stdout.contains(needle), "--help lacks {needle:?}");
    }
}
