#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The golden vectors in `proto/vectors/` (format: its README). Every
//! canonical vector is validated, encoded and decoded again; every invalid
//! vector must give exactly its listed violations. The directory must not be
//! empty: a missing or moved vector set fails instead of passing vacuously.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{ContentHash, encode_body, encode_envelope};
use doorstep_core::record::{BiometricPolicy, RecordKind};
use doorstep_core::{Record, Units, ValidationContext, decode_record, encode_record, validate};
use serde_json::{Value, json};
use unicode_normalization::is_nfc;
use uuid::Uuid;

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/vectors")
}

/// Every `*.json` file of `proto/vectors/<sub>`, sorted by name; panics when
/// there is none.
fn load(sub: &str) -> Vec<(String, Value)> {
    let dir = vector_dir().join(sub);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read vector directory {}: {e}", dir.display()));
    let mut out: Vec<(String, Value)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
            (name, value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        !out.is_empty(),
        "no vectors in {}: the golden vectors are missing",
        dir.display()
    );
    out
}

fn str_field<'v>(v: &'v Value, key: &str) -> Result<&'v str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` missing or not a string"))
}

fn units(context: &Value) -> Result<Units, String> {
    let csv = match (context.get("units_file"), context.get("units_csv")) {
        (Some(Value::String(file)), None) => {
            let path = vector_dir().join(file);
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        (None, Some(Value::String(text))) => text.clone().into_bytes(),
        _ => return Err("context needs exactly one of units_file, units_csv".into()),
    };
    Units::from_csv(&csv).map_err(|e| format!("unit list: {e}"))
}

fn utc(context: &Value, key: &str) -> Result<DateTime<Utc>, String> {
    let s = str_field(context, key)?;
    s.parse().map_err(|e| format!("context.{key} `{s}`: {e}"))
}

fn uuid(context: &Value, key: &str) -> Result<Uuid, String> {
    let s = str_field(context, key)?;
    Uuid::parse_str(s).map_err(|e| format!("context.{key} `{s}`: {e}"))
}

/// The vector's required biometrics (`context.biometrics`, a policy
/// spelling such as `face,all`); none when absent.
fn biometrics(context: &Value) -> Result<BiometricPolicy, String> {
    match context.get("biometrics") {
        None => Ok(BiometricPolicy::NONE),
        Some(v) => BiometricPolicy::parse(v.as_str().ok_or("`biometrics` is not a string")?),
    }
}

fn check_canonical(vector: &Value) -> Result<(), String> {
    let context = &vector["context"];
    let units = units(context)?;
    let ctx =
        ValidationContext::new(&units, utc(context, "now")?).with_biometrics(biometrics(context)?);
    let body = validate(&vector["input"], &ctx).map_err(|vs| {
        let list: Vec<String> = vs.iter().map(ToString::to_string).collect();
        format!("expected a valid record, got violations: {list:?}")
    })?;
    let record_id = uuid(context, "record_id")?;
    let device_id = uuid(context, "device_id")?;
    let device_seq = context["device_seq"]
        .as_u64()
        .ok_or("context.device_seq missing or not an integer")?;
    let enrolled_at = utc(context, "enrolled_at")?;

    let body_bytes = encode_body(&body);
    let canonical = encode_envelope(
        &record_id,
        &device_id,
        device_seq,
        &enrolled_at,
        &body_bytes,
    );
    let expected = str_field(vector, "canonical")?;
    if canonical != expected.as_bytes() {
        return Err(format!(
            "canonical bytes differ\n  got:      {}\n  expected: {expected}",
            String::from_utf8_lossy(&canonical)
        ));
    }
    let content_hash = ContentHash::of(&canonical).to_hex();
    if content_hash != str_field(vector, "content_hash")? {
        return Err(format!("content_hash differs: got {content_hash}"));
    }
    let body_hash = ContentHash::of(&body_bytes).to_hex();
    if body_hash != str_field(vector, "body_hash")? {
        return Err(format!("body_hash differs: got {body_hash}"));
    }
    // The body is a byte-exact slice of the record, as section 5 says.
    let prefix = b"{\"body\":";
    if !(canonical.starts_with(prefix) && canonical[prefix.len()..].starts_with(&body_bytes)) {
        return Err("the canonical body is not embedded verbatim after {\"body\":".into());
    }

    let record = Record {
        record_id,
        device_id,
        device_seq,
        enrolled_at,
        body,
    };
    if encode_record(&record) != canonical {
        return Err("encode_record differs from encode_envelope(encode_body)".into());
    }
    let decoded = decode_record(&canonical).map_err(|e| format!("decode_record: {e}"))?;
    if encode_record(&decoded) != canonical {
        return Err("decode_record → encode_record is not byte-equal".into());
    }
    if decoded.body != record.body
        || decoded.record_id != record_id
        || decoded.device_id != device_id
        || decoded.device_seq != device_seq
    {
        return Err(format!(
            "decoded record differs: {decoded:?}\n  vs {record:?}"
        ));
    }
    Ok(())
}

fn pairs(list: &[(String, String)]) -> Vec<(String, String)> {
    let mut v = list.to_vec();
    v.sort();
    v
}

fn check_invalid(vector: &Value) -> Result<(), String> {
    let context = &vector["context"];
    let units = units(context)?;
    let ctx =
        ValidationContext::new(&units, utc(context, "now")?).with_biometrics(biometrics(context)?);
    let expected: Vec<(String, String)> = vector["violations"]
        .as_array()
        .ok_or("`violations` missing or not an array")?
        .iter()
        .map(|v| {
            Ok((
                str_field(v, "path")?.to_owned(),
                str_field(v, "code")?.to_owned(),
            ))
        })
        .collect::<Result<_, String>>()?;
    if expected.is_empty() {
        return Err("an invalid vector must list at least one violation".into());
    }
    let got: Vec<(String, String)> = match validate(&vector["input"], &ctx) {
        Ok(_) => return Err("expected violations, the record is valid".into()),
        Err(vs) => vs
            .into_iter()
            .map(|v| (v.path, v.code.to_owned()))
            .collect(),
    };
    if pairs(&got) != pairs(&expected) {
        return Err(format!(
            "violations differ\n  got:      {got:?}\n  expected: {expected:?}"
        ));
    }
    Ok(())
}

fn run_all(sub: &str, check: fn(&Value) -> Result<(), String>) -> usize {
    let vectors = load(sub);
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|(name, v)| check(v).err().map(|e| format!("{sub}/{name}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    vectors.len()
}

#[test]
fn canonical_vectors_encode_hash_and_decode_exactly() {
    let n = run_all("canonical", check_canonical);
    assert!(n >= 8, "only {n} canonical vectors");
}

#[test]
fn invalid_vectors_give_exactly_their_violations() {
    let n = run_all("invalid", check_invalid);
    assert!(n >= 8, "only {n} invalid vectors");
}

#[test]
fn canonical_vectors_cover_every_kind_and_the_listed_features() {
    let vectors = load("canonical");
    let kinds: BTreeSet<&str> = vectors
        .iter()
        .filter_map(|(_, v)| v["input"]["kind"].as_str().map(str::trim))
        .collect();
    for kind in RecordKind::ALL {
        assert!(
            kinds.contains(kind.as_str()),
            "no canonical vector of kind {kind}"
        );
    }
    let canon: Vec<&str> = vectors
        .iter()
        .map(|(_, v)| v["canonical"].as_str().unwrap())
        .collect();
    let any = |needle: &str| canon.iter().any(|c| c.contains(needle));
    assert!(any("\"under_14_request\":true"), "under_14_request true");
    assert!(any("\"supersedes\":\""), "supersedes");
    assert!(any("\\\"") && any("\\\\"), "escaped quote and backslash");
    assert!(any("\"correction\":{\"fields\":["), "correction");
    assert!(
        canon.iter().any(|c| !c.contains("\"phone\"")
            && !c.contains("\"current_address\"")
            && !c.contains("\"reason\"")
            && !c.contains("\"eid_level\"")),
        "a vector with the optional fields absent"
    );
    // Every canonical document is NFC.
    for (name, v) in &vectors {
        assert!(is_nfc(v["canonical"].as_str().unwrap()), "{name}: not NFC");
    }
}

/// A vector meant to feed NFD text must really do so: an editor that
/// normalised the file would silently turn it into an NFC vector.
#[test]
fn nfd_vectors_really_contain_nfd_input() {
    fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let nfd: Vec<(String, Value)> = load("canonical")
        .into_iter()
        .filter(|(name, _)| name.contains("nfd"))
        .collect();
    assert!(!nfd.is_empty(), "no NFD vector");
    for (name, v) in nfd {
        let mut all = Vec::new();
        strings(&v["input"], &mut all);
        assert!(
            all.iter().any(|s| !is_nfc(s)),
            "{name}: its input is entirely NFC"
        );
    }
}

#[test]
fn invalid_vectors_cover_every_violation_code() {
    const CODES: &[&str] = &[
        "type.object",
        "type.string",
        "type.boolean",
        "field.unknown",
        "field.missing",
        "field.not_applicable",
        "value.not_allowed",
        "officer_id.invalid",
        "name.empty",
        "name.too_long",
        "name.invalid_character",
        "name.no_letter",
        "text.empty",
        "text.control_character",
        "text.too_long",
        "unit.unknown",
        "date.invalid",
        "datetime.invalid",
        "date.future",
        "date.birth_after_visit",
        "date.birth_too_early",
        "personal_id.format",
        "personal_id.province",
        "personal_id.century_sex_mismatch",
        "personal_id.year_mismatch",
        "age.under_14",
        "age.under_18_license",
        "phone.required",
        "phone.invalid",
        "eid_level.required",
        "eid_level.invalid",
        "under_14_request.not_applicable",
        "supersedes.invalid",
        "driver_license.number",
        "correction.fields",
    ];
    let seen: BTreeSet<String> = load("invalid")
        .iter()
        .flat_map(|(_, v)| {
            v["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["code"].as_str().map(str::to_owned))
        })
        .collect();
    let missing: Vec<&&str> = CODES.iter().filter(|c| !seen.contains(**c)).collect();
    assert!(
        missing.is_empty(),
        "codes without an invalid vector: {missing:?}"
    );
}

// ---- known deviations (proto/canonical-v1.md, section 12) ----

fn base_context_units() -> Units {
    units(&json!({"units_file": "units.csv"})).unwrap()
}

fn base_input() -> Value {
    json!({
        "kind": "eid_activation",
        "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan", "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "25972", "detail": "Tổ 3"}},
        "visit": {"place": "home", "unit_code": "25972", "at": "2025-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012"
    })
}

fn validate_base(edit: impl FnOnce(&mut Value)) -> Result<Vec<u8>, Vec<(String, String)>> {
    let units = base_context_units();
    let ctx = ValidationContext::new(&units, "2026-11-22T03:00:00Z".parse().unwrap());
    let mut input = base_input();
    edit(&mut input);
    validate(&input, &ctx)
        .map(|b| encode_body(&b))
        .map_err(|vs| {
            vs.into_iter()
                .map(|v| (v.path, v.code.to_owned()))
                .collect()
        })
}

#[test]
fn base_of_the_deviation_tests_is_valid() {
    assert!(validate_base(|_| {}).is_ok());
}

/// Was a deviation (a lenient `%Y-%m-%d` parse accepted these); fixed in
/// the strict date parser, kept as a regression test.
#[test]
fn date_of_birth_must_be_exactly_yyyy_mm_dd() {
    for dob in [
        "+2003-5-14",
        "2003- 5-14",
        "2003-05- 1",
        "2003/05/14",
        "２003-05-14",
    ] {
        let got = validate_base(|v| v["citizen"]["date_of_birth"] = json!(dob));
        assert_eq!(
            got.err(),
            Some(vec![(
                "$.citizen.date_of_birth".to_owned(),
                "date.invalid".to_owned()
            )]),
            "{dob:?} was accepted"
        );
    }
}

/// Regression: chrono accepts second 60 at any minute; the canonical form
/// would write second 59 (one second early) and decode(encode(r)) != r.
/// The validator refuses it.
#[test]
fn visit_time_second_60_is_refused_or_kept_exactly() {
    let at60 = "2025-09-25T09:30:60+07:00";
    let units = base_context_units();
    let ctx = ValidationContext::new(&units, "2026-11-22T03:00:00Z".parse().unwrap());
    let mut input = base_input();
    input["visit"]["at"] = json!(at60);
    match validate(&input, &ctx) {
        Err(vs) => {
            let got: Vec<(String, String)> = vs
                .into_iter()
                .map(|v| (v.path, v.code.to_owned()))
                .collect();
            assert_eq!(
                got,
                vec![("$.visit.at".to_owned(), "datetime.invalid".to_owned())]
            );
        }
        Ok(body) => {
            let mut at59 = base_input();
            at59["visit"]["at"] = json!("2025-09-25T09:30:59+07:00");
            let body59 = validate(&at59, &ctx).unwrap();
            assert_ne!(
                String::from_utf8(encode_body(&body)).unwrap(),
                String::from_utf8(encode_body(&body59)).unwrap(),
                "{at60} and :59 give the same canonical bytes"
            );
            let record = Record {
                record_id: Uuid::from_u128(1),
                device_id: Uuid::from_u128(2),
                device_seq: 1,
                enrolled_at: "2026-11-22T03:00:00.000Z".parse().unwrap(),
                body,
            };
            let decoded = decode_record(&encode_record(&record)).unwrap();
            assert_eq!(decoded, record, "decode(encode(r)) != r");
        }
    }
}
