#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Each validation rule with a passing and a failing case.

use chrono::{DateTime, Utc};
use doorstep_core::record::RecordKind;
use doorstep_core::{Units, ValidationContext, validate};
use serde_json::{Value, json};

const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n725,Thành phố Thuận An,district,74\n25972,Phường Thuận Giao,commune,725\n25975,Phường An Phú,commune,725\n";

fn units() -> Units {
    Units::from_csv(UNITS.as_bytes()).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn base() -> Value {
    json!({"kind": "id_card_application",
     "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan", "date_of_birth": "2003-05-14",
                 "sex": "female", "phone": "0912345678",
                 "permanent_address": {"unit_code": "25972", "detail": "Tổ 3, khu phố 2"},
                 "current_address": {"unit_code": "25972", "detail": "Phòng 12, dãy trọ"}},
     "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "25972", "at": "2023-09-25T09:30:00+07:00"},
     "officer_id": "CA-74-0012", "eid_level": 2, "under_14_request": false, "supersedes": null})
}

/// Applies `edit` to the base record and returns the violation codes with paths.
fn codes(edit: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
    let mut v = base();
    edit(&mut v);
    let u = units();
    let ctx = ValidationContext::new(&u, now());
    match validate(&v, &ctx) {
        Ok(_) => vec![],
        Err(vs) => vs
            .into_iter()
            .map(|v| (v.path, v.code.to_owned()))
            .collect(),
    }
}

fn ok(edit: impl FnOnce(&mut Value)) {
    let got = codes(edit);
    assert!(got.is_empty(), "expected valid, got {got:?}");
}

fn fails(edit: impl FnOnce(&mut Value), path: &str, code: &str) {
    let got = codes(edit);
    assert!(
        got.iter().any(|(p, c)| p == path && c == code),
        "expected {path} {code}, got {got:?}"
    );
}

#[test]
fn the_issue_example_is_valid() {
    ok(|_| {});
}

#[test]
fn personal_id_must_be_12_digits() {
    ok(|v| v["citizen"]["personal_id"] = json!(" 074303001234 "));
    fails(
        |v| v["citizen"]["personal_id"] = json!("07430300123"),
        "$.citizen.personal_id",
        "personal_id.format",
    );
    fails(
        |v| v["citizen"]["personal_id"] = json!("0743030012AB"),
        "$.citizen.personal_id",
        "personal_id.format",
    );
}

#[test]
fn personal_id_province_must_be_one_of_63() {
    ok(|v| v["citizen"]["personal_id"] = json!("001303001234"));
    // 003 is not a province code: the codes are sparse.
    fails(
        |v| v["citizen"]["personal_id"] = json!("003303001234"),
        "$.citizen.personal_id",
        "personal_id.province",
    );
    fails(
        |v| v["citizen"]["personal_id"] = json!("099303001234"),
        "$.citizen.personal_id",
        "personal_id.province",
    );
}

#[test]
fn personal_id_century_sex_digit() {
    ok(|v| {
        v["citizen"]["sex"] = json!("male");
        v["citizen"]["personal_id"] = json!("074203001234");
    });
    fails(
        |v| v["citizen"]["sex"] = json!("male"),
        "$.citizen.personal_id",
        "personal_id.century_sex_mismatch",
    );
    // Born in the 1900s with a 2000s digit.
    fails(
        |v| {
            v["citizen"]["date_of_birth"] = json!("1903-05-14");
        },
        "$.citizen.personal_id",
        "personal_id.century_sex_mismatch",
    );
}

#[test]
fn personal_id_year_digits() {
    ok(|v| {
        v["citizen"]["date_of_birth"] = json!("2003-12-31");
    });
    fails(
        |v| v["citizen"]["date_of_birth"] = json!("2004-05-14"),
        "$.citizen.personal_id",
        "personal_id.year_mismatch",
    );
}

#[test]
fn names_are_cleaned_to_nfc_with_collapsed_spaces() {
    let mut v = base();
    v["citizen"]["full_name"] = json!("  Nguye\u{302}\u{303}n   Thi\u{323}\tLan ");
    let u = units();
    let body = validate(&v, &ValidationContext::new(&u, now())).unwrap();
    assert_eq!(body.citizen.full_name, "Nguyễn Thị Lan");
}

#[test]
fn names_must_be_letters() {
    ok(|v| v["citizen"]["full_name"] = json!("H'Hen Niê"));
    fails(
        |v| v["citizen"]["full_name"] = json!("   "),
        "$.citizen.full_name",
        "name.empty",
    );
    fails(
        |v| v["citizen"]["full_name"] = json!("Nguyễn Văn 3"),
        "$.citizen.full_name",
        "name.invalid_character",
    );
    fails(
        |v| v["citizen"]["full_name"] = json!("--"),
        "$.citizen.full_name",
        "name.no_letter",
    );
}

#[test]
fn dates_must_be_valid() {
    ok(|v| v["citizen"]["date_of_birth"] = json!("2003-02-28"));
    fails(
        |v| v["citizen"]["date_of_birth"] = json!("2003-02-30"),
        "$.citizen.date_of_birth",
        "date.invalid",
    );
    fails(
        |v| v["citizen"]["date_of_birth"] = json!("14/05/2003"),
        "$.citizen.date_of_birth",
        "date.invalid",
    );
    fails(
        |v| v["visit"]["at"] = json!("2023-09-25 09:30"),
        "$.visit.at",
        "datetime.invalid",
    );
}

#[test]
fn dates_must_not_be_in_the_future() {
    ok(|v| v["visit"]["at"] = json!("2026-11-22T10:04:00+07:00"));
    fails(
        |v| v["visit"]["at"] = json!("2026-11-22T10:30:00+07:00"),
        "$.visit.at",
        "date.future",
    );
    fails(
        |v| {
            v["citizen"]["date_of_birth"] = json!("2027-01-01");
            v["citizen"]["personal_id"] = json!("074327001234");
        },
        "$.citizen.date_of_birth",
        "date.future",
    );
    fails(
        |v| {
            v["citizen"]["date_of_birth"] = json!("2023-10-01");
            v["citizen"]["personal_id"] = json!("074323001234");
            v["under_14_request"] = json!(true);
        },
        "$.citizen.date_of_birth",
        "date.birth_after_visit",
    );
}

#[test]
fn id_card_needs_age_14_unless_requested() {
    let child = |v: &mut Value| {
        v["citizen"]["date_of_birth"] = json!("2012-05-14");
        v["citizen"]["personal_id"] = json!("074312001234");
    };
    fails(child, "$.citizen.date_of_birth", "age.under_14");
    ok(|v| {
        child(v);
        v["under_14_request"] = json!(true);
    });
    // Turned 14 on the visit day.
    ok(|v| {
        v["citizen"]["date_of_birth"] = json!("2009-09-25");
        v["citizen"]["personal_id"] = json!("074309001234");
    });
    fails(
        |v| v["under_14_request"] = json!(true),
        "$.under_14_request",
        "under_14_request.not_applicable",
    );
}

#[test]
fn eid_registration_needs_mobile_and_level() {
    let reg = |v: &mut Value| v["kind"] = json!("eid_registration");
    ok(reg);
    ok(|v| {
        reg(v);
        v["citizen"]["phone"] = json!("+84 912 345 678");
    });
    fails(
        |v| {
            reg(v);
            v["citizen"].as_object_mut().unwrap().remove("phone");
        },
        "$.citizen.phone",
        "phone.required",
    );
    for bad in [
        "0212345678",
        "091234567",
        "09123456789",
        "1912345678",
        "09l2345678",
    ] {
        fails(
            |v| {
                reg(v);
                v["citizen"]["phone"] = json!(bad);
            },
            "$.citizen.phone",
            "phone.invalid",
        );
    }
    for good in [
        "0312345678",
        "0512345678",
        "0712345678",
        "0812345678",
        "0912345678",
    ] {
        ok(|v| {
            reg(v);
            v["citizen"]["phone"] = json!(good);
        });
    }
    fails(
        |v| {
            reg(v);
            v.as_object_mut().unwrap().remove("eid_level");
        },
        "$.eid_level",
        "eid_level.required",
    );
    fails(
        |v| {
            reg(v);
            v["eid_level"] = json!(3);
        },
        "$.eid_level",
        "eid_level.invalid",
    );
    ok(|v| {
        reg(v);
        v["eid_level"] = json!(1);
    });
}

#[test]
fn unit_codes_must_exist() {
    ok(|v| v["citizen"]["current_address"]["unit_code"] = json!("25975"));
    fails(
        |v| v["visit"]["unit_code"] = json!("99999"),
        "$.visit.unit_code",
        "unit.unknown",
    );
    fails(
        |v| v["citizen"]["permanent_address"]["unit_code"] = json!("00001"),
        "$.citizen.permanent_address.unit_code",
        "unit.unknown",
    );
    fails(
        |v| v["citizen"]["current_address"]["unit_code"] = json!("1"),
        "$.citizen.current_address.unit_code",
        "unit.unknown",
    );
}

#[test]
fn enums_and_required_fields() {
    fails(
        |v| v["kind"] = json!("passport"),
        "$.kind",
        "value.not_allowed",
    );
    fails(
        |v| v["visit"]["place"] = json!("market"),
        "$.visit.place",
        "value.not_allowed",
    );
    fails(
        |v| v["visit"]["reason"] = json!("busy"),
        "$.visit.reason",
        "value.not_allowed",
    );
    fails(
        |v| v["citizen"]["sex"] = json!("x"),
        "$.citizen.sex",
        "value.not_allowed",
    );
    fails(
        |v| {
            v.as_object_mut().unwrap().remove("officer_id");
        },
        "$.officer_id",
        "field.missing",
    );
    fails(
        |v| v["officer_id"] = json!("CA 74"),
        "$.officer_id",
        "officer_id.invalid",
    );
    fails(
        |v| v["citizen"]["permanent_address"]["detail"] = json!(" "),
        "$.citizen.permanent_address.detail",
        "text.empty",
    );
    fails(
        |v| v["citizen"]["full_nam"] = json!("x"),
        "$.citizen.full_nam",
        "field.unknown",
    );
    fails(
        |v| v["citizen"]["full_name"] = json!(42),
        "$.citizen.full_name",
        "type.string",
    );
    fails(|v| *v = json!([1]), "$", "type.object");
}

#[test]
fn driver_license_link_rules() {
    let link = |v: &mut Value| {
        v["kind"] = json!("driver_license_link");
        v["driver_license"] = json!({"number": "790123456789"});
    };
    ok(link);
    fails(
        |v| {
            link(v);
            v["driver_license"]["number"] = json!("12345");
        },
        "$.driver_license.number",
        "driver_license.number",
    );
    fails(
        |v| v["driver_license"] = json!({"number": "790123456789"}),
        "$.driver_license",
        "field.not_applicable",
    );
    fails(
        |v| {
            link(v);
            v["citizen"]["date_of_birth"] = json!("2007-05-14");
            v["citizen"]["personal_id"] = json!("074307001234");
        },
        "$.citizen.date_of_birth",
        "age.under_18_license",
    );
}

#[test]
fn info_correction_rules() {
    let corr = |v: &mut Value| {
        v["kind"] = json!("info_correction");
        v["correction"] =
            json!({"fields": ["date_of_birth"], "note": "Sai ngày sinh, chuyển Tư pháp xã"});
    };
    ok(corr);
    fails(
        |v| {
            corr(v);
            v["correction"]["fields"] = json!([]);
        },
        "$.correction.fields",
        "correction.fields",
    );
    fails(
        |v| {
            corr(v);
            v["correction"]["fields"] = json!(["eye_colour"]);
        },
        "$.correction.fields[0]",
        "value.not_allowed",
    );
    fails(
        |v| {
            corr(v);
            v["correction"]["note"] = json!("");
        },
        "$.correction.note",
        "text.empty",
    );
    fails(
        |v| v["kind"] = json!("info_correction"),
        "$.correction",
        "field.missing",
    );
}

#[test]
fn supersedes_must_be_a_uuid() {
    ok(|v| v["supersedes"] = json!("01890a5d-ac96-774b-bcce-b302099a8057"));
    fails(
        |v| v["supersedes"] = json!("not-a-uuid"),
        "$.supersedes",
        "supersedes.invalid",
    );
}

#[test]
fn all_violations_are_reported_at_once_in_both_languages() {
    let mut v = base();
    v["citizen"]["full_name"] = json!("");
    v["visit"]["unit_code"] = json!("99999");
    v["kind"] = json!("nope");
    let u = units();
    let errs = validate(&v, &ValidationContext::new(&u, now())).unwrap_err();
    assert!(errs.len() >= 3, "{errs:?}");
    for e in &errs {
        assert!(!e.message.is_empty() && !e.message_vi.is_empty());
    }
}

#[test]
fn record_kinds_are_the_five_of_the_brief_and_visit_outcome() {
    let names: Vec<_> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "id_card_application",
            "eid_registration",
            "eid_activation",
            "driver_license_link",
            "info_correction",
            "visit_outcome"
        ]
    );
}
