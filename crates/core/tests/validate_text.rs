#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `validate_text` (validation straight from the JSON text) must give
//! exactly what `validate` gives for the same text parsed into a JSON tree:
//! the same cleaned body for a valid record, the same violations (paths,
//! codes, messages, order) for an invalid one, and a syntax error where the
//! text is not JSON.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use doorstep_core::validate::{TextError, validate_text};
use doorstep_core::{RecordBody, Units, ValidationContext, Violation, validate};
use serde_json::{Value, json};

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/vectors")
}

fn units() -> Units {
    Units::from_csv(&std::fs::read(vector_dir().join("units.csv")).unwrap()).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

/// Both ways, on one text; panics with the text when they differ.
fn same(text: &str, units: &Units, now: DateTime<Utc>) -> Result<RecordBody, Vec<Violation>> {
    let ctx = ValidationContext::new(units, now);
    let fast = validate_text(text, &ctx);
    match serde_json::from_str::<Value>(text) {
        Err(_) => {
            assert!(
                matches!(fast, Err(TextError::Syntax(_))),
                "not JSON, but validate_text said {fast:?}: {text}"
            );
            Err(Vec::new())
        }
        Ok(value) => {
            let slow = validate(&value, &ctx);
            let fast = match fast {
                Ok(body) => Ok(body),
                Err(TextError::Invalid(v)) => Err(v),
                Err(TextError::Syntax(e)) => panic!("syntax error {e} for JSON text: {text}"),
            };
            assert_eq!(
                fast, slow,
                "validate_text differs from validate for: {text}"
            );
            slow
        }
    }
}

fn vectors(sub: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(vector_dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.display().to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no vectors in {sub}");
    out
}

fn vector_units(context: &Value) -> Units {
    match (context.get("units_file"), context.get("units_csv")) {
        (Some(Value::String(file)), None) => {
            Units::from_csv(&std::fs::read(vector_dir().join(file)).unwrap()).unwrap()
        }
        (None, Some(Value::String(csv))) => Units::from_csv(csv.as_bytes()).unwrap(),
        _ => panic!("vector context without a unit list"),
    }
}

#[test]
fn golden_vectors_give_the_same_result() {
    let mut valid = 0;
    for sub in ["canonical", "invalid"] {
        for (name, vector) in vectors(sub) {
            let context = &vector["context"];
            let units = vector_units(context);
            let now: DateTime<Utc> = context["now"].as_str().unwrap().parse().unwrap();
            let input = &vector["input"];
            let compact = serde_json::to_string(input).unwrap();
            let pretty = serde_json::to_string_pretty(input).unwrap();
            let a = same(&compact, &units, now);
            let b = same(&pretty, &units, now);
            assert_eq!(a, b, "{name}");
            assert_eq!(a.is_ok(), sub == "canonical", "{name}");
            valid += usize::from(a.is_ok());
        }
    }
    assert!(valid > 0);
}

fn good() -> Value {
    json!({
        "kind": "id_card_application",
        "citizen": {
            "personal_id": "074303001234", "full_name": "Nguyễn Thị Lan",
            "date_of_birth": "2003-05-14", "sex": "female", "phone": "0912345678",
            "permanent_address": {"unit_code": "25972", "detail": "Tổ 3, khu phố 2"},
            "current_address": {"unit_code": "25972", "detail": "Phòng 12, dãy trọ"}
        },
        "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "25972",
                  "at": "2023-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012", "eid_level": 2, "under_14_request": false,
        "supersedes": null
    })
}

/// Sets `path` (dot-separated) in a copy of `v` to `new`, or removes it.
fn with(v: &Value, path: &str, new: Option<Value>) -> Value {
    let mut v = v.clone();
    let keys: Vec<&str> = path.split('.').collect();
    let mut cur = &mut v;
    for k in &keys[..keys.len() - 1] {
        cur = cur.get_mut(*k).unwrap();
    }
    let obj = cur.as_object_mut().unwrap();
    let last = keys[keys.len() - 1];
    match new {
        Some(n) => {
            obj.insert(last.to_owned(), n);
        }
        None => {
            obj.remove(last);
        }
    }
    v
}

#[test]
fn edited_records_give_the_same_result() {
    let units = units();
    let base = good();
    assert!(same(&base.to_string(), &units, now()).is_ok());
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(1),
        json!(2),
        json!(3),
        json!(-1),
        json!(2.0),
        json!(1.5),
        json!(""),
        json!(" "),
        json!("x"),
        json!([]),
        json!(["name"]),
        json!({}),
        json!({"unit_code": "25972"}),
        json!("  Nguyễn   Thị\tLan "),
        json!("Nguye\u{302}\u{303}n Thị Lan"),
        json!("0912 345 678"),
        json!("+84912345678"),
        json!("2003-02-30"),
        json!("2023-09-25T09:30:60+07:00"),
        json!("2099-01-01T00:00:00+07:00"),
        json!("0190e8f2-1c3a-7b4d-8e5f-0123456789ab"),
        json!("Lan 2"),
        json!("a\u{0007}b"),
    ];
    let paths = [
        "kind",
        "officer_id",
        "eid_level",
        "under_14_request",
        "supersedes",
        "driver_license",
        "correction",
        "unknown",
        "citizen",
        "citizen.personal_id",
        "citizen.full_name",
        "citizen.date_of_birth",
        "citizen.sex",
        "citizen.phone",
        "citizen.permanent_address",
        "citizen.permanent_address.detail",
        "citizen.permanent_address.unit_code",
        "citizen.current_address",
        "citizen.current_address.detail",
        "citizen.extra",
        "visit",
        "visit.place",
        "visit.reason",
        "visit.at",
        "visit.unit_code",
    ];
    let mut checked = 0;
    for path in paths {
        same(&with(&base, path, None).to_string(), &units, now()).ok();
        for v in &values {
            let edited = with(&base, path, Some(v.clone()));
            same(&edited.to_string(), &units, now()).ok();
            checked += 1;
        }
    }
    for kind in [
        "eid_registration",
        "eid_activation",
        "driver_license_link",
        "info_correction",
    ] {
        let k = with(&base, "kind", Some(json!(kind)));
        same(&k.to_string(), &units, now()).ok();
        let dl = with(
            &k,
            "driver_license",
            Some(json!({"number": "012345678901"})),
        );
        same(&dl.to_string(), &units, now()).ok();
        let c = with(
            &with(&k, "under_14_request", None),
            "correction",
            Some(json!({"fields": ["full_name", "phone", "full_name"], "note": "sai tên"})),
        );
        same(&c.to_string(), &units, now()).ok();
    }
    assert!(checked > 500);
}

#[test]
fn text_level_variations_give_the_same_result() {
    let units = units();
    let text = good().to_string();
    let cases = [
        // A repeated key: the last one counts, as in a JSON tree.
        text.replacen("{\"citizen\"", "{\"kind\":\"nope\",\"citizen\"", 1),
        text.replacen(
            "\"officer_id\"",
            "\"officer_id\":\"CA-1\",\"officer_id\"",
            1,
        ),
        text.replacen(
            "\"officer_id\":\"CA-74-0012\"",
            "\"officer_id\":\"CA-74-0012\",\"officer_id\":\"bad id!\"",
            1,
        ),
        // Escapes in keys and values (the strings cannot be borrowed).
        text.replacen("\"Nguyễn Thị Lan\"", "\"Nguy\\u1ec5n Th\\u1ecb Lan\"", 1),
        text.replacen("\"full_name\"", "\"full\\u005fname\"", 1),
        text.replacen("\"Tổ 3, khu phố 2\"", "\"Tổ 3,\\nkhu phố 2\"", 1),
        text.replacen("\"Tổ 3, khu phố 2\"", "\"Tổ \\\"3\\\"\"", 1),
        // Numbers in other spellings.
        text.replacen("\"eid_level\":2", "\"eid_level\":2.0", 1),
        text.replacen("\"eid_level\":2", "\"eid_level\":2e0", 1),
        text.replacen("\"eid_level\":2", "\"eid_level\":-2", 1),
        text.replacen("\"eid_level\":2", "\"eid_level\":18446744073709551617", 1),
        // Not a record, or not JSON.
        String::new(),
        "null".into(),
        "[]".into(),
        format!("[{text}]"),
        "\"text\"".into(),
        format!("{text} x"),
        format!("{text}{text}"),
        text[..text.len() - 1].to_owned(),
        format!("  {text}  "),
    ];
    for case in &cases {
        same(case, &units, now()).ok();
    }
}
