#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The attachment rules (`proto/attachments-v1.md` section 3), each with a
//! passing and a failing case, and their canonical encoding.

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{encode_body, encode_body_generic};
use doorstep_core::record::{BiometricPolicy, Finger, MediaType};
use doorstep_core::{Units, ValidationContext, validate};
use serde_json::{Value, json};

const UNITS: &str = "code,name,level,parent_code\n74,Tỉnh Bình Dương,province,\n725,Thành phố Thuận An,district,74\n25972,Phường Thuận Giao,commune,725\n";

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn sha(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

fn att(kind: &str, media: &str, n: u8) -> Value {
    json!({"kind": kind, "media_type": media, "sha256": sha(n), "size": 25_000})
}

/// A card application with a face and the two index fingers.
fn base() -> Value {
    json!({"kind": "id_card_application",
     "citizen": {"personal_id": "074303001234", "full_name": "Nguyễn Thị Lan", "date_of_birth": "2003-05-14",
                 "sex": "female", "permanent_address": {"unit_code": "25972", "detail": "Tổ 3"}},
     "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "25972", "at": "2023-09-25T09:30:00+07:00"},
     "officer_id": "CA-74-0012",
     "attachments": [att("fingerprint_right_index", "image/x-wsq", 2), att("face", "image/jpeg", 1),
                     att("fingerprint_left_index", "image/x-wsq", 3)]})
}

fn policy() -> BiometricPolicy {
    BiometricPolicy::new(true, &[Finger::RightIndex, Finger::LeftIndex])
}

fn codes_with(p: BiometricPolicy, edit: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
    let mut v = base();
    edit(&mut v);
    let u = Units::from_csv(UNITS.as_bytes()).unwrap();
    let ctx = ValidationContext::new(&u, now()).with_biometrics(p);
    match validate(&v, &ctx) {
        Ok(_) => vec![],
        Err(vs) => vs
            .into_iter()
            .map(|v| (v.path, v.code.to_owned()))
            .collect(),
    }
}

fn ok(edit: impl FnOnce(&mut Value)) {
    let got = codes_with(policy(), edit);
    assert!(got.is_empty(), "expected valid, got {got:?}");
}

fn fails(edit: impl FnOnce(&mut Value), path: &str, code: &str) {
    let got = codes_with(policy(), edit);
    assert!(
        got.iter().any(|(p, c)| p == path && c == code),
        "expected {path} {code}, got {got:?}"
    );
}

#[test]
fn a_card_application_with_what_the_campaign_requires_is_valid_and_sorted() {
    ok(|_| {});
    let u = Units::from_csv(UNITS.as_bytes()).unwrap();
    let body = validate(
        &base(),
        &ValidationContext::new(&u, now()).with_biometrics(policy()),
    )
    .unwrap();
    let kinds: Vec<&str> = body.attachments.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["face", "fingerprint_left_index", "fingerprint_right_index"]
    );
    assert_eq!(body.attachments[0].media_type, MediaType::Jpeg);
    // The fast encoder and the generic JCS path agree, attachments first.
    let fast = String::from_utf8(encode_body(&body)).unwrap();
    assert_eq!(fast, String::from_utf8(encode_body_generic(&body)).unwrap());
    assert!(fast.starts_with(
        "{\"attachments\":[{\"kind\":\"face\",\"media_type\":\"image/jpeg\",\"sha256\":\"0101"
    ));
}

#[test]
fn missing_face_and_fingers_are_reported_unless_exempted() {
    fails(
        |v| {
            v["attachments"]
                .as_array_mut()
                .unwrap()
                .retain(|a| a["kind"] != "face")
        },
        "$.attachments",
        "attachment.face_required",
    );
    fails(
        |v| v["attachments"].as_array_mut().unwrap().truncate(1),
        "$.attachments",
        "attachment.fingerprint_required",
    );
    ok(|v| {
        v["attachments"].as_array_mut().unwrap().truncate(2);
        v["biometric_exemptions"] =
            json!([{"finger": "left_index", "reason": "amputated", "note": "  mất   ngón "}]);
    });
    // Nothing required: a record without attachments is valid.
    let got = codes_with(BiometricPolicy::NONE, |v| {
        v.as_object_mut().unwrap().remove("attachments");
    });
    assert!(got.is_empty(), "{got:?}");
    // All ten required: the message names every missing finger.
    let u = Units::from_csv(UNITS.as_bytes()).unwrap();
    let ctx = ValidationContext::new(&u, now()).with_biometrics(BiometricPolicy::FULL);
    let vs = validate(&base(), &ctx).unwrap_err();
    assert_eq!(vs.len(), 1);
    assert!(vs[0].message.contains("right_thumb") && !vs[0].message.contains("right_index"));
    assert!(vs[0].message_vi.contains("ngón cái phải"));
}

#[test]
fn malformed_references_are_refused() {
    fails(
        |v| v["attachments"] = json!("face.jpg"),
        "$.attachments",
        "type.array",
    );
    fails(
        |v| v["attachments"][0]["sha256"] = json!("ABC"),
        "$.attachments[0].sha256",
        "attachment.sha256",
    );
    fails(
        |v| v["attachments"][0]["sha256"] = json!(sha(0xab).to_uppercase()),
        "$.attachments[0].sha256",
        "attachment.sha256",
    );
    fails(
        |v| v["attachments"][0]["size"] = json!(0),
        "$.attachments[0].size",
        "attachment.size",
    );
    fails(
        |v| v["attachments"][0]["size"] = json!(4_194_305),
        "$.attachments[0].size",
        "attachment.size",
    );
    fails(
        |v| v["attachments"][0]["size"] = json!(1.5),
        "$.attachments[0].size",
        "attachment.size",
    );
    fails(
        |v| v["attachments"][0]["kind"] = json!("fingerprint_toe"),
        "$.attachments[0].kind",
        "value.not_allowed",
    );
    fails(
        |v| v["attachments"][0]["media_type"] = json!("image/gif"),
        "$.attachments[0].media_type",
        "value.not_allowed",
    );
    fails(
        |v| v["attachments"][0]["media_type"] = json!("application/pdf"),
        "$.attachments[0].media_type",
        "attachment.media_type",
    );
    fails(
        |v| v["attachments"][0]["file"] = json!("x.wsq"),
        "$.attachments[0].file",
        "field.unknown",
    );
    fails(
        |v| {
            v["attachments"][0]
                .as_object_mut()
                .unwrap()
                .remove("size")
                .map(|_| ())
                .unwrap_or(())
        },
        "$.attachments[0].size",
        "field.missing",
    );
}

#[test]
fn duplicates_and_limits() {
    fails(
        |v| {
            v["attachments"]
                .as_array_mut()
                .unwrap()
                .push(att("face", "image/png", 9))
        },
        "$.attachments[3].kind",
        "attachment.duplicate_kind",
    );
    fails(
        |v| {
            v["attachments"]
                .as_array_mut()
                .unwrap()
                .push(att("document", "application/pdf", 1))
        },
        "$.attachments[3].sha256",
        "attachment.duplicate_blob",
    );
    ok(|v| {
        for n in 10..15 {
            v["attachments"]
                .as_array_mut()
                .unwrap()
                .push(att("document", "application/pdf", n));
        }
    });
    fails(
        |v| {
            for n in 10..16 {
                v["attachments"].as_array_mut().unwrap().push(att(
                    "document",
                    "application/pdf",
                    n,
                ));
            }
        },
        "$.attachments",
        "attachment.too_many",
    );
}

#[test]
fn biometrics_belong_to_card_applications_only() {
    let activation = |v: &mut Value| {
        v["kind"] = json!("eid_activation");
    };
    fails(
        activation,
        "$.attachments[0].kind",
        "attachment.not_applicable",
    );
    ok(|v| {
        v["kind"] = json!("eid_activation");
        v["attachments"] = json!([att("document", "image/jpeg", 7)]);
    });
    fails(
        |v| {
            v["kind"] = json!("eid_activation");
            v["attachments"] = json!([]);
            v["biometric_exemptions"] = json!([{"finger": "left_index", "reason": "injured"}]);
        },
        "$.biometric_exemptions",
        "field.not_applicable",
    );
}

#[test]
fn exemption_rules() {
    fails(
        |v| v["biometric_exemptions"] = json!([{"finger": "right_index", "reason": "injured"}]),
        "$.biometric_exemptions[0].finger",
        "exemption.fingerprint_present",
    );
    fails(
        |v| v["biometric_exemptions"] = json!([{"finger": "left_thumb", "reason": "injured"}, {"finger": "left_thumb", "reason": "amputated"}]),
        "$.biometric_exemptions[1].finger",
        "exemption.duplicate",
    );
    fails(
        |v| v["biometric_exemptions"] = json!([{"finger": "left_thumb", "reason": "lazy"}]),
        "$.biometric_exemptions[0].reason",
        "value.not_allowed",
    );
    fails(
        |v| {
            v["biometric_exemptions"] =
                json!([{"finger": "left_thumb", "reason": "injured", "note": "x\u{7}"}])
        },
        "$.biometric_exemptions[0].note",
        "text.control_character",
    );
    // An empty list is the same as none.
    ok(|v| v["biometric_exemptions"] = json!([]));
}

#[test]
fn the_policy_spelling_reads_back() {
    for spec in [
        "none",
        "face",
        "face,all",
        "face,right_index,left_index",
        "left_thumb",
    ] {
        assert_eq!(BiometricPolicy::parse(spec).unwrap().spec(), spec);
    }
    assert_eq!(
        BiometricPolicy::parse("all,face").unwrap(),
        BiometricPolicy::FULL
    );
    assert!(
        BiometricPolicy::parse("face,toe")
            .unwrap_err()
            .contains("`toe`")
    );
}

#[test]
fn media_types_are_sniffed_from_their_first_bytes() {
    assert_eq!(
        MediaType::sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"),
        Some(MediaType::Jpeg)
    );
    assert_eq!(MediaType::sniff(b"\xff\xa0\xff\xa8"), Some(MediaType::Wsq));
    assert_eq!(
        MediaType::sniff(b"\x89PNG\r\n\x1a\nxxxx"),
        Some(MediaType::Png)
    );
    assert_eq!(MediaType::sniff(b"%PDF-1.7"), Some(MediaType::Pdf));
    assert_eq!(MediaType::sniff(b"GIF89a"), None);
}
