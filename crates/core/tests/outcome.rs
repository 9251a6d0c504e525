#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `visit_outcome` record kind and its `outcome` block: validation
//! rules (each with a passing and a failing case), the canonical form
//! (round trip, key order, omitted members) and what does not apply to it.

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{ContentHash, encode_body, encode_body_generic};
use doorstep_core::record::{BiometricPolicy, OutcomeKind, RecordKind, VisitOutcome};
use doorstep_core::validate::{TextError, validate_text};
use doorstep_core::{
    Record, RecordBody, Units, ValidationContext, decode_record, encode_record, recheck, validate,
};
use serde_json::{Value, json};
use unicode_normalization::is_nfc;
use uuid::Uuid;

const UNITS: &str = "code,name,level,parent_code\n\
74,Tỉnh Bình Dương,province,\n\
725,Thành phố Thuận An,district,74\n\
25972,Phường Thuận Giao,commune,725\n\
25975,Phường An Phú,commune,725\n\
01,Thành phố Hà Nội,province,\n\
00004,Phường Ba Đình,commune,01\n";

fn units() -> Units {
    Units::from_csv(UNITS.as_bytes()).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

/// A valid visit_outcome record: the resident was not at home.
fn base() -> Value {
    json!({
        "kind": "visit_outcome",
        "citizen": {
            "personal_id": "074303001234",
            "full_name": "Nguyễn Thị Lan",
            "date_of_birth": "2003-05-14",
            "sex": "female",
            "permanent_address": {"unit_code": "25972", "detail": "Tổ 3, khu phố 2"}
        },
        "visit": {"place": "home", "unit_code": "25972", "at": "2026-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "outcome": {"result": "not_home"}
    })
}

fn with_outcome(outcome: Value) -> Value {
    let mut v = base();
    v["outcome"] = outcome;
    v
}

fn check_with(input: &Value, policy: BiometricPolicy) -> Result<RecordBody, Vec<(String, String)>> {
    let u = units();
    let ctx = ValidationContext::new(&u, now()).with_biometrics(policy);
    let by_value = validate(input, &ctx);
    // The text path must agree with the value path on every case.
    let by_text = validate_text(&input.to_string(), &ctx);
    match (&by_value, by_text) {
        (Ok(a), Ok(b)) => assert_eq!(*a, b),
        (Err(a), Err(TextError::Invalid(b))) => assert_eq!(*a, b),
        (a, b) => panic!("validate and validate_text disagree: {a:?} vs {b:?}"),
    }
    by_value.map_err(|vs| {
        for v in &vs {
            assert!(!v.message.is_empty(), "{v}");
            assert!(
                !v.message_vi.is_empty() && is_nfc(&v.message_vi),
                "{}",
                v.message_vi
            );
        }
        vs.into_iter()
            .map(|v| (v.path, v.code.to_owned()))
            .collect()
    })
}

fn check(input: &Value) -> Result<RecordBody, Vec<(String, String)>> {
    check_with(input, BiometricPolicy::NONE)
}

fn refused(input: &Value) -> Vec<(String, String)> {
    match check(input) {
        Ok(body) => panic!("expected violations, got {body:?}"),
        Err(v) => v,
    }
}

fn one(path: &str, code: &str) -> Vec<(String, String)> {
    vec![(path.to_owned(), code.to_owned())]
}

fn outcome_of(input: &Value) -> VisitOutcome {
    check(input).unwrap().outcome.unwrap()
}

#[test]
fn kind_and_results_have_labels() {
    assert_eq!(RecordKind::VisitOutcome.as_str(), "visit_outcome");
    assert_eq!(RecordKind::VisitOutcome.label_vi(), "kết quả tiếp xúc");
    assert_eq!(OutcomeKind::ALL.len(), 8);
    for r in OutcomeKind::ALL {
        assert_eq!(OutcomeKind::parse(r.as_str()), Some(*r));
        assert!(is_nfc(r.label_vi()) && !r.label_en().is_empty());
    }
    assert_eq!(
        OutcomeKind::LivingElsewhere.label_vi(),
        "đang sinh sống nơi khác"
    );
    assert_eq!(
        doorstep_core::campaign::Metric::of_kind(RecordKind::VisitOutcome),
        None
    );
}

#[test]
fn outcome_is_required_on_visit_outcome_and_refused_elsewhere() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("outcome");
    assert_eq!(refused(&v), one("$.outcome", "field.missing"));
    let mut v = base();
    v["outcome"] = Value::Null;
    assert_eq!(refused(&v), one("$.outcome", "field.missing"));

    let mut v = base();
    v["kind"] = json!("eid_activation");
    assert_eq!(refused(&v), one("$.outcome", "field.not_applicable"));
    v.as_object_mut().unwrap().remove("outcome");
    assert!(check(&v).unwrap().outcome.is_none());

    assert_eq!(
        refused(&with_outcome(json!("not_home"))),
        one("$.outcome", "type.object")
    );
}

#[test]
fn result_must_be_one_of_the_spellings() {
    for r in OutcomeKind::ALL {
        let mut o = json!({"result": format!(" {r} ")});
        match r {
            OutcomeKind::Enrolled => o["record_id"] = json!(Uuid::from_u128(9).to_string()),
            OutcomeKind::LivingElsewhere => o["unit_code"] = json!("00004"),
            _ => {}
        }
        assert_eq!(outcome_of(&with_outcome(o)).result, *r);
    }
    assert_eq!(
        refused(&with_outcome(json!({"result": "Not_home"}))),
        one("$.outcome.result", "value.not_allowed")
    );
    assert_eq!(
        refused(&with_outcome(json!({"note": "x"}))),
        one("$.outcome.result", "field.missing")
    );
    assert_eq!(
        refused(&with_outcome(json!({"result": 3}))),
        one("$.outcome.result", "type.string")
    );
}

#[test]
fn unknown_keys_are_refused() {
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "refused", "reason": "busy"})
        )),
        one("$.outcome.reason", "field.unknown")
    );
}

#[test]
fn living_elsewhere_needs_another_known_unit() {
    let o = outcome_of(&with_outcome(
        json!({"result": "living_elsewhere", "unit_code": " 00004 "}),
    ));
    assert_eq!(o.unit_code.as_deref(), Some("00004"));

    assert_eq!(
        refused(&with_outcome(json!({"result": "living_elsewhere"}))),
        one("$.outcome.unit_code", "outcome.unit_required")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "living_elsewhere", "unit_code": "25972"})
        )),
        one("$.outcome.unit_code", "outcome.unit_is_home")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "living_elsewhere", "unit_code": "99999"})
        )),
        one("$.outcome.unit_code", "unit.unknown")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "living_elsewhere", "unit_code": 4})
        )),
        one("$.outcome.unit_code", "type.string")
    );
}

#[test]
fn moved_may_name_a_known_unit_even_the_home_unit() {
    let o = outcome_of(&with_outcome(json!({"result": "moved"})));
    assert_eq!(o.unit_code, None);
    // A new address in the same unit is not a referral, but is allowed.
    let o = outcome_of(&with_outcome(
        json!({"result": "moved", "unit_code": "25972"}),
    ));
    assert_eq!(o.unit_code.as_deref(), Some("25972"));
    assert_eq!(
        refused(&with_outcome(json!({"result": "moved", "unit_code": "7"}))),
        one("$.outcome.unit_code", "unit.unknown")
    );
}

#[test]
fn unit_code_is_refused_for_other_results() {
    for r in [
        "enrolled",
        "not_home",
        "deceased",
        "refused",
        "cannot_travel",
        "done_elsewhere",
    ] {
        let mut o = json!({"result": r, "unit_code": "00004"});
        if r == "enrolled" {
            o["record_id"] = json!(Uuid::from_u128(1).to_string());
        }
        assert_eq!(
            refused(&with_outcome(o)),
            one("$.outcome.unit_code", "outcome.not_applicable"),
            "{r}"
        );
    }
}

#[test]
fn detail_goes_only_with_a_unit_and_is_cleaned() {
    let o = outcome_of(&with_outcome(json!({
        "result": "moved", "unit_code": "00004",
        "detail": "  Số 7\u{a0} ngo\u{303} 12 \n"
    })));
    assert_eq!(o.detail.as_deref(), Some("Số 7 ngõ 12"));
    let o = outcome_of(&with_outcome(
        json!({"result": "moved", "unit_code": "00004", "detail": " \t "}),
    ));
    assert_eq!(o.detail, None, "a blank detail is absent");

    assert_eq!(
        refused(&with_outcome(json!({"result": "moved", "detail": "Số 7"}))),
        one("$.outcome.detail", "outcome.not_applicable")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "refused", "detail": "Số 7"})
        )),
        one("$.outcome.detail", "outcome.not_applicable")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "moved", "unit_code": "00004", "detail": "Số 7\u{7}"})
        )),
        one("$.outcome.detail", "text.control_character")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "moved", "unit_code": "00004", "detail": "ơ".repeat(301)})
        )),
        one("$.outcome.detail", "text.too_long")
    );
}

#[test]
fn note_is_optional_cleaned_and_bounded() {
    let o = outcome_of(&with_outcome(
        json!({"result": "refused", "note": " Không   muốn\nlàm lúc này "}),
    ));
    assert_eq!(o.note.as_deref(), Some("Không muốn làm lúc này"));
    let o = outcome_of(&with_outcome(json!({"result": "refused", "note": "  "})));
    assert_eq!(o.note, None);
    let ok = "ơ".repeat(300);
    let o = outcome_of(&with_outcome(json!({"result": "refused", "note": ok})));
    assert_eq!(o.note.map(|n| n.chars().count()), Some(300));
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "refused", "note": "ơ".repeat(301)})
        )),
        one("$.outcome.note", "text.too_long")
    );
    assert_eq!(
        refused(&with_outcome(json!({"result": "refused", "note": ["x"]}))),
        one("$.outcome.note", "type.string")
    );
}

#[test]
fn enrolled_links_its_record_and_only_enrolled_does() {
    let id = Uuid::from_u128(0x019a_4f6e_3c21_7d4b_8e5f_0000_0000_0001);
    let o = outcome_of(&with_outcome(json!({
        "result": "enrolled", "record_id": format!(" {} ", id.braced().to_string().to_uppercase())
    })));
    assert_eq!(o.record_id, Some(id));

    assert_eq!(
        refused(&with_outcome(json!({"result": "enrolled"}))),
        one("$.outcome.record_id", "outcome.record_id_required")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "enrolled", "record_id": "019a4f6e-3c21"})
        )),
        one("$.outcome.record_id", "outcome.record_id_invalid")
    );
    assert_eq!(
        refused(&with_outcome(
            json!({"result": "deceased", "record_id": id.to_string()})
        )),
        one("$.outcome.record_id", "outcome.not_applicable")
    );
}

#[test]
fn every_problem_of_the_block_is_reported_at_once() {
    let mut got = refused(&with_outcome(json!({
        "result": "refused", "unit_code": "00004", "record_id": "x",
        "note": "\u{7}", "extra": 1
    })));
    got.sort();
    assert_eq!(
        got,
        vec![
            ("$.outcome.extra".to_owned(), "field.unknown".to_owned()),
            (
                "$.outcome.note".to_owned(),
                "text.control_character".to_owned()
            ),
            (
                "$.outcome.record_id".to_owned(),
                "outcome.not_applicable".to_owned()
            ),
            (
                "$.outcome.unit_code".to_owned(),
                "outcome.not_applicable".to_owned()
            ),
        ]
    );
    // With an unknown result the members are still checked on their own.
    let mut got = refused(&with_outcome(json!({
        "result": "gone", "unit_code": "99999", "record_id": "x"
    })));
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "$.outcome.record_id".to_owned(),
                "outcome.record_id_invalid".to_owned()
            ),
            (
                "$.outcome.result".to_owned(),
                "value.not_allowed".to_owned()
            ),
            ("$.outcome.unit_code".to_owned(), "unit.unknown".to_owned()),
        ]
    );
}

#[test]
fn the_home_unit_rule_waits_for_a_valid_citizen() {
    let mut v = with_outcome(json!({"result": "living_elsewhere", "unit_code": "25972"}));
    v["citizen"]["full_name"] = json!("Nguyễn 3");
    assert_eq!(
        refused(&v),
        one("$.citizen.full_name", "name.invalid_character")
    );
}

#[test]
fn the_citizen_block_follows_the_usual_rules() {
    let mut v = base();
    v["citizen"]["personal_id"] = json!("074203001234");
    assert_eq!(
        refused(&v),
        one("$.citizen.personal_id", "personal_id.century_sex_mismatch")
    );
    let mut v = base();
    v["citizen"]["phone"] = json!("+84 912 345 678");
    assert_eq!(
        check(&v).unwrap().citizen.phone.as_deref(),
        Some("0912345678")
    );
}

#[test]
fn nothing_kind_specific_applies() {
    // No biometrics are demanded, whatever the campaign's policy.
    let body = check_with(&base(), BiometricPolicy::FULL).unwrap();
    assert!(body.attachments.is_empty());
    // A young child needs no under_14_request.
    let mut v = base();
    v["citizen"]["date_of_birth"] = json!("2020-05-14");
    v["citizen"]["personal_id"] = json!("074320001234");
    assert!(check(&v).is_ok());

    let mut v = base();
    v["driver_license"] = json!({"number": "790123456789"});
    v["correction"] = json!({"fields": ["sex"], "note": "x"});
    v["under_14_request"] = json!(true);
    let mut got = refused(&v);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("$.correction".to_owned(), "field.not_applicable".to_owned()),
            (
                "$.driver_license".to_owned(),
                "field.not_applicable".to_owned()
            ),
            (
                "$.under_14_request".to_owned(),
                "under_14_request.not_applicable".to_owned()
            ),
        ]
    );
    let mut v = base();
    v["attachments"] = json!([{"kind": "face", "media_type": "image/jpeg",
        "sha256": "a".repeat(64), "size": 10}]);
    assert_eq!(
        refused(&v),
        one("$.attachments[0].kind", "attachment.not_applicable")
    );
    let mut v = base();
    v["biometric_exemptions"] = json!([{"finger": "left_thumb", "reason": "injured"}]);
    assert_eq!(
        refused(&v),
        one("$.biometric_exemptions", "field.not_applicable")
    );
}

fn record(body: RecordBody) -> Record {
    Record {
        record_id: Uuid::from_u128(0x019a_4f6e_3c21_7d4b_8e5f_0000_0000_0042),
        device_id: Uuid::from_u128(7),
        device_seq: 42,
        enrolled_at: "2026-09-25T02:31:00.000Z".parse().unwrap(),
        body,
    }
}

#[test]
fn canonical_form_orders_members_and_omits_absent_ones() {
    let id = Uuid::from_u128(0xABCD);
    let body = check(&with_outcome(json!({
        "result": "enrolled", "record_id": id.to_string().to_uppercase(), "note": "đã làm"
    })))
    .unwrap();
    let text = String::from_utf8(encode_body(&body)).unwrap();
    assert!(
        text.contains(&format!(
            ",\"officer_id\":\"CA-74-0012\",\"outcome\":{{\"note\":\"đã làm\",\"record_id\":\"{id}\",\"result\":\"enrolled\"}},\"visit\":"
        )),
        "{text}"
    );
    let body = check(&with_outcome(json!({
        "result": "moved", "unit_code": "00004", "detail": "Số 7"
    })))
    .unwrap();
    let text = String::from_utf8(encode_body(&body)).unwrap();
    assert!(
        text.contains(
            "\"outcome\":{\"detail\":\"Số 7\",\"result\":\"moved\",\"unit_code\":\"00004\"}"
        ),
        "{text}"
    );
    let body = check(&base()).unwrap();
    let text = String::from_utf8(encode_body(&body)).unwrap();
    assert!(
        text.contains("\"outcome\":{\"result\":\"not_home\"}"),
        "{text}"
    );

    // Another kind has no outcome member at all.
    let mut v = base();
    v["kind"] = json!("eid_activation");
    v.as_object_mut().unwrap().remove("outcome");
    let text = String::from_utf8(encode_body(&check(&v).unwrap())).unwrap();
    assert!(!text.contains("outcome"), "{text}");
}

#[test]
fn every_result_round_trips_and_rechecks() {
    let u = units();
    let ctx = ValidationContext::new(&u, now());
    for r in OutcomeKind::ALL {
        let mut o = json!({"result": r.as_str(), "note": "ghi chú"});
        match r {
            OutcomeKind::Enrolled => o["record_id"] = json!(Uuid::from_u128(5).to_string()),
            OutcomeKind::LivingElsewhere | OutcomeKind::Moved => {
                o["unit_code"] = json!("00004");
                o["detail"] = json!("Số 1 phố Đội Cấn");
            }
            _ => {}
        }
        let body = check(&with_outcome(o)).unwrap();
        assert_eq!(encode_body(&body), encode_body_generic(&body), "{r}");
        let rec = record(body);
        let bytes = encode_record(&rec);
        let decoded = decode_record(&bytes).unwrap();
        assert_eq!(decoded, rec, "{r}");
        let again = recheck(&bytes, &ContentHash::of(&bytes), &ctx).unwrap();
        assert_eq!(again, rec, "{r}");
    }
}

#[test]
fn decoding_refuses_unknown_outcome_members_and_results() {
    let rec = record(check(&base()).unwrap());
    let text = String::from_utf8(encode_record(&rec)).unwrap();
    let extra = text.replacen(
        "{\"result\":\"not_home\"}",
        "{\"result\":\"not_home\",\"x\":1}",
        1,
    );
    assert!(decode_record(extra.as_bytes()).is_err());
    let wrong = text.replacen("\"not_home\"", "\"away\"", 1);
    assert!(decode_record(wrong.as_bytes()).is_err());
    let upper = check(&with_outcome(
        json!({"result": "enrolled", "record_id": Uuid::from_u128(0xab).to_string()}),
    ))
    .unwrap();
    let text = String::from_utf8(encode_record(&record(upper))).unwrap();
    let id = Uuid::from_u128(0xab).to_string();
    let shouted = text.replacen(&id, &id.to_uppercase(), 1);
    assert_ne!(shouted, text);
    assert!(decode_record(shouted.as_bytes()).is_err());
}
