#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the canonical form (proto/canonical-v1.md):
//! (a) every valid record round-trips through encode/decode byte for byte,
//!     and non-canonical spellings of the same document are refused;
//! (b) NFC and NFD spellings of a record give identical canonical bytes;
//! (c) `text::fold_key` ignores normalisation form and case;
//! (d) the generic RFC 8785 writer is stable and parses back to its input.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SubsecRound, TimeZone, Utc};
use doorstep_core::canonical::{
    ContentHash, encode_body, encode_body_generic, format_visit_time, write_jcs,
};
use doorstep_core::record::{CorrectionField, OutcomeKind, RecordKind, VisitOutcome};
use doorstep_core::text::fold_key;
use doorstep_core::{Record, Units, ValidationContext, decode_record, encode_record, validate};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use unicode_normalization::{UnicodeNormalization, is_nfc};
use uuid::Uuid;

const UNITS: &str = "code,name,level,parent_code\n\
74,Tỉnh Bình Dương,province,\n\
725,Thành phố Thuận An,district,74\n\
25972,Phường Thuận Giao,commune,725\n\
25975,Phường An Phú,commune,725\n\
01,Thành phố Hà Nội,province,\n\
00004,Phường Ba Đình,commune,01\n";
const UNIT_CODES: &[&str] = &["25972", "25975", "00004", "725", "74", "01"];

fn units() -> Units {
    Units::from_csv(UNITS.as_bytes()).unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

// ---- generators of valid input records ----

/// Surnames: every one has a mark that decomposes under NFD.
const SURNAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
    "Dương", "Lý",
];
const SYLLABLES: &[&str] = &[
    "Thị",
    "Văn",
    "Hữu",
    "Đức",
    "Ngọc",
    "Minh",
    "Thanh",
    "Lan",
    "Hùng",
    "Dũng",
    "Nguyệt",
    "Hoà",
    "Hòa",
    "Tuấn",
    "Phượng",
    "Khuê",
    "Ánh",
    "Ỷ",
    "Thuỷ",
    "Thủy",
    "Quỳnh",
    "Yến",
    "Trường",
    "Giang",
    "Hương",
    "Xuân",
    "Khoa",
    "Nghĩa",
    "Ưng",
    "Ẩn",
    "An",
    "Bảo",
    "H'Hen",
    "Niê",
    "Y-Moan",
    "Ênuôl",
    "K’Bang",
];
const DETAIL_WORDS: &[&str] = &[
    "Số",
    "12",
    "ngõ",
    "5/7",
    "hẻm",
    "Tổ",
    "khu",
    "phố",
    "đường",
    "Nguyễn",
    "Du",
    "\"B\"",
    "C:\\x",
    "Phòng",
    "dãy",
    "trọ",
    "Buôn",
    "Ako",
    "Dhông",
    "-",
    "ấp",
    "Phước",
    "Lộc",
    "(cũ)",
    "#3",
];
/// Whitespace the cleaning folds: ASCII, tab, newline, no-break,
/// ideographic, em space, line separator.
const SEPARATORS: &[&str] = &[
    " ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\u{a0}",
    "\u{3000}",
    "\u{2003}",
    " \u{2028} ",
];
const PADS: &[&str] = &["", "", " ", "\t", "\u{a0}", "\r\n"];
const OFFSETS_MIN: &[i32] = &[420, 0, -300, 330, 540, 420];
const PLACES: &[&str] = &[
    "home",
    "hospital",
    "workplace",
    "boarding_house",
    "mobile_point",
    "station",
    "other",
];
const REASONS: &[&str] = &[
    "bedridden",
    "elderly",
    "disabled",
    "worker",
    "temporary_resident",
    "other",
];
const KINDS: &[RecordKind] = &[
    RecordKind::IdCardApplication,
    RecordKind::EidRegistration,
    RecordKind::EidActivation,
    RecordKind::DriverLicenseLink,
    RecordKind::InfoCorrection,
    RecordKind::VisitOutcome,
];

/// Words joined by random whitespace, padded: the raw text and what
/// cleaning must make of it.
#[derive(Debug, Clone)]
struct Text {
    raw: String,
    clean: String,
}

fn text_of(words: Vec<&'static str>, seps: Vec<&'static str>, pads: (&str, &str)) -> Text {
    let mut raw = pads.0.to_owned();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            raw.push_str(seps[i % seps.len()]);
        }
        raw.push_str(w);
    }
    raw.push_str(pads.1);
    Text {
        raw,
        clean: words.join(" "),
    }
}

prop_compose! {
    fn name()(surname in select(SURNAMES), rest in vec(select(SYLLABLES), 1..=4),
               seps in vec(select(SEPARATORS), 5), a in select(PADS), b in select(PADS)) -> Text {
        let mut words = vec![surname];
        words.extend(rest);
        text_of(words, seps, (a, b))
    }
}

prop_compose! {
    fn free_text()(words in vec(select(DETAIL_WORDS), 1..=8),
                   seps in vec(select(SEPARATORS), 8), a in select(PADS), b in select(PADS)) -> Text {
        text_of(words, seps, (a, b))
    }
}

prop_compose! {
    /// A phone number in one of the accepted spellings, and its 10-digit form.
    fn phone()(second in select(&[b'3', b'5', b'7', b'8', b'9'][..]), rest in 0u32..100_000_000,
               style in 0..6usize) -> (String, String) {
        let national = format!("0{}{rest:08}", second as char);
        let n = &national[1..];
        let raw = match style {
            0 => national.clone(),
            1 => format!("+84 {} {} {}", &n[..3], &n[3..6], &n[6..]),
            2 => format!("84{n}"),
            3 => format!("{}.{}.{}", &national[..4], &national[4..7], &national[7..]),
            4 => format!("({}) {}-{}", &national[..3], &national[3..6], &national[6..]),
            _ => format!(" +84{n} "),
        };
        (raw, national)
    }
}

prop_compose! {
    /// The visit instant: up to three years before `now` (a fraction of a
    /// second may go past it), in one of several offsets and spellings.
    fn visit_time()(secs_ago in 0i64..(3 * 365 * 86_400), nanos in 0u32..1_000_000_000,
                    offset in select(OFFSETS_MIN), style in 0..4usize)
                    -> (String, DateTime<FixedOffset>) {
        let tz = FixedOffset::east_opt(offset * 60).unwrap();
        let instant = now() - Duration::seconds(secs_ago) + Duration::nanoseconds(i64::from(nanos));
        let local = instant.with_timezone(&tz);
        let whole = local.trunc_subsecs(0);
        let raw = match style {
            0 => format_visit_time(&whole),
            1 => local.to_rfc3339_opts(chrono::SecondsFormat::Millis, offset == 0),
            2 => local.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
            _ => format!(" {} ", local.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        (raw, whole)
    }
}

fn uuid_spelling(id: Uuid, style: usize) -> String {
    match style {
        0 => id.hyphenated().to_string(),
        1 => id.hyphenated().to_string().to_uppercase(),
        2 => id.simple().to_string(),
        3 => id.braced().to_string(),
        _ => id.urn().to_string(),
    }
}

/// A valid input record and what validation must make of some of it.
#[derive(Debug, Clone)]
struct Case {
    input: Value,
    full_name: String,
    phone: Option<String>,
    visit_at: DateTime<FixedOffset>,
    dob: NaiveDate,
    fields: Option<Vec<CorrectionField>>,
    outcome: Option<VisitOutcome>,
}

#[derive(Debug, Clone)]
struct Extras {
    sex_female: bool,
    province: &'static str,
    serial: u32,
    age_days: i64,
    phone: Option<(String, String)>,
    eid_level: Option<u8>,
    nulls: bool,
    explicit_false: bool,
    supersedes: Option<(u128, usize)>,
    license: u64,
    fields: Vec<usize>,
    note: Text,
    outcome: OutcomeParts,
}

/// The raw pieces of a `visit_outcome` block; which are used depends on
/// the result (only valid combinations are built).
#[derive(Debug, Clone)]
struct OutcomeParts {
    result: usize,
    unit: usize,
    with_unit: bool,
    detail: Option<Text>,
    note: Option<Text>,
    record_id: (u128, usize),
    pad: &'static str,
}

prop_compose! {
    fn outcome_parts()(result in 0..OutcomeKind::ALL.len(), unit in 0..UNIT_CODES.len(),
                       with_unit in any::<bool>(), detail in proptest::option::of(free_text()),
                       note in proptest::option::of(free_text()),
                       record_id in (any::<u128>(), 0..5usize), pad in select(PADS)) -> OutcomeParts {
        OutcomeParts { result, unit, with_unit, detail, note, record_id, pad }
    }
}

prop_compose! {
    fn extras()(sex_female in any::<bool>(),
                province in select(doorstep_core::units::legacy_provinces().map(|(c, _)| c).collect::<Vec<_>>()),
                serial in 0u32..1_000_000, age_days in 0i64..42_000,
                phone in proptest::option::of(phone()), eid_level in proptest::option::of(1u8..=2),
                nulls in any::<bool>(), explicit_false in any::<bool>(),
                supersedes in proptest::option::of((any::<u128>(), 0..5usize)),
                license in 0u64..1_000_000_000_000, fields in vec(0..7usize, 1..10),
                note in free_text(), outcome in outcome_parts()) -> Extras {
        Extras { sex_female, province, serial, age_days, phone, eid_level, nulls, explicit_false,
                 supersedes, license, fields, note, outcome }
    }
}

prop_compose! {
    fn valid_case()(kind in select(KINDS), name in name(), detail in free_text(),
                    current in proptest::option::of((select(UNIT_CODES), proptest::option::of(free_text()))),
                    visit in visit_time(), place in select(PLACES),
                    reason in proptest::option::of(select(REASONS)),
                    units in (select(UNIT_CODES), select(UNIT_CODES)),
                    officer in "[A-Za-z0-9._-]{1,32}", x in extras()) -> Case {
        build_case(kind, name, detail, current, visit, place, reason, units, officer, x)
    }
}

#[allow(clippy::too_many_arguments)]
fn build_case(
    kind: RecordKind,
    name: Text,
    detail: Text,
    current: Option<(&str, Option<Text>)>,
    visit: (String, DateTime<FixedOffset>),
    place: &str,
    reason: Option<&str>,
    units: (&str, &str),
    officer: String,
    x: Extras,
) -> Case {
    let (visit_raw, visit_at) = visit;
    let visit_date = visit_at.date_naive();
    // A driver's licence needs 18 years; half the identity card
    // applications are for children (under_14_request); otherwise any age
    // up to ~115.
    let age_days = match kind {
        RecordKind::DriverLicenseLink => 19 * 366 + x.age_days % 30_000,
        RecordKind::IdCardApplication if x.serial.is_multiple_of(2) => x.age_days % (15 * 365),
        _ => x.age_days,
    };
    let dob = visit_date - Duration::days(age_days);
    let age = visit_date.years_since(dob).unwrap();
    // Written out independently of the code under test (section 10).
    let year = chrono::Datelike::year(&dob);
    let digit = 2 * ((year - 1900) / 100) + i32::from(x.sex_female);
    let personal_id = format!("{}{digit}{:02}{:06}", x.province, year % 100, x.serial);

    let mut rec = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| match v {
        Some(v) => {
            m.insert(k.to_owned(), v);
        }
        None if x.nulls => {
            m.insert(k.to_owned(), Value::Null);
        }
        None => {}
    };
    let phone = if kind == RecordKind::EidRegistration {
        Some(
            x.phone
                .clone()
                .unwrap_or_else(|| ("0912345678".into(), "0912345678".into())),
        )
    } else {
        x.phone.clone()
    };
    let mut citizen = Map::new();
    citizen.insert("personal_id".into(), json!(personal_id));
    citizen.insert("full_name".into(), json!(name.raw));
    citizen.insert(
        "date_of_birth".into(),
        json!(dob.format("%Y-%m-%d").to_string()),
    );
    citizen.insert(
        "sex".into(),
        json!(if x.sex_female { "female" } else { "male" }),
    );
    put(&mut citizen, "phone", phone.as_ref().map(|p| json!(p.0)));
    citizen.insert(
        "permanent_address".into(),
        json!({"unit_code": units.0, "detail": detail.raw}),
    );
    put(
        &mut citizen,
        "current_address",
        current.map(|(code, d)| match d {
            Some(d) => json!({"unit_code": code, "detail": d.raw}),
            None => json!({"unit_code": code}),
        }),
    );
    let mut visit = Map::new();
    visit.insert("place".into(), json!(place));
    put(&mut visit, "reason", reason.map(|r| json!(r)));
    visit.insert("unit_code".into(), json!(units.1));
    visit.insert("at".into(), json!(visit_raw));

    rec.insert("kind".into(), json!(kind.as_str()));
    rec.insert("citizen".into(), Value::Object(citizen));
    rec.insert("visit".into(), Value::Object(visit));
    rec.insert("officer_id".into(), json!(officer));
    let eid_level = if kind == RecordKind::EidRegistration {
        Some(x.eid_level.unwrap_or(1))
    } else {
        x.eid_level
    };
    put(&mut rec, "eid_level", eid_level.map(|l| json!(l)));
    let under_14 = kind == RecordKind::IdCardApplication && age < 14;
    put(
        &mut rec,
        "under_14_request",
        (under_14 || x.explicit_false).then_some(json!(under_14)),
    );
    put(
        &mut rec,
        "supersedes",
        x.supersedes
            .map(|(id, style)| json!(uuid_spelling(Uuid::from_u128(id), style))),
    );
    put(
        &mut rec,
        "driver_license",
        (kind == RecordKind::DriverLicenseLink)
            .then(|| json!({"number": format!("{:012}", x.license)})),
    );
    let fields: Vec<CorrectionField> = x.fields.iter().map(|&i| CorrectionField::ALL[i]).collect();
    put(
        &mut rec,
        "correction",
        (kind == RecordKind::InfoCorrection).then(|| {
            json!({"fields": fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(), "note": x.note.raw})
        }),
    );
    let outcome = (kind == RecordKind::VisitOutcome).then(|| outcome_input(&x, units.0));
    put(&mut rec, "outcome", outcome.as_ref().map(|o| o.0.clone()));
    let mut expected_fields = fields;
    expected_fields.sort();
    expected_fields.dedup();
    Case {
        input: Value::Object(rec),
        full_name: name.clean,
        phone: phone.map(|p| p.1),
        visit_at,
        dob,
        fields: (kind == RecordKind::InfoCorrection).then_some(expected_fields),
        outcome: outcome.map(|o| o.1),
    }
}

/// A valid `outcome` input for a citizen whose home unit is `home`, and
/// what validation must make of it.
fn outcome_input(x: &Extras, home: &str) -> (Value, VisitOutcome) {
    let o = &x.outcome;
    let result = OutcomeKind::ALL[o.result];
    let unit = match result {
        // A referral must leave the home unit.
        OutcomeKind::LivingElsewhere => Some(
            UNIT_CODES
                .iter()
                .cycle()
                .skip(o.unit)
                .find(|u| **u != home)
                .unwrap(),
        ),
        OutcomeKind::Moved if o.with_unit => Some(&UNIT_CODES[o.unit]),
        _ => None,
    };
    let detail = o.detail.as_ref().filter(|_| unit.is_some());
    let record_id = (result == OutcomeKind::Enrolled).then(|| Uuid::from_u128(o.record_id.0));
    let mut m = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| match v {
        Some(v) => {
            m.insert(k.to_owned(), v);
        }
        None if x.nulls => {
            m.insert(k.to_owned(), Value::Null);
        }
        None => {}
    };
    m.insert(
        "result".into(),
        json!(format!("{}{}{}", o.pad, result.as_str(), o.pad)),
    );
    put(
        &mut m,
        "unit_code",
        unit.map(|u| json!(format!("{}{u}", o.pad))),
    );
    put(&mut m, "detail", detail.map(|d| json!(d.raw)));
    put(&mut m, "note", o.note.as_ref().map(|n| json!(n.raw)));
    put(
        &mut m,
        "record_id",
        record_id.map(|id| json!(uuid_spelling(id, o.record_id.1))),
    );
    let expected = VisitOutcome {
        result,
        unit_code: unit.map(|u| (*u).to_owned()),
        detail: detail.map(|d| d.clean.clone()),
        note: o.note.as_ref().map(|n| n.clean.clone()),
        record_id,
    };
    (Value::Object(m), expected)
}

prop_compose! {
    fn envelope()(record_id in any::<u128>(), device_id in any::<u128>(),
                  device_seq in 0u64..(1 << 53), millis in 1_700_000_000_000i64..1_900_000_000_000,
                  sub_ms in 0i64..1_000_000) -> (Uuid, Uuid, u64, DateTime<Utc>) {
        let at = Utc.timestamp_millis_opt(millis).unwrap() + Duration::nanoseconds(sub_ms);
        (Uuid::from_u128(record_id), Uuid::from_u128(device_id), device_seq, at)
    }
}

fn record_of(case: &Case, env: (Uuid, Uuid, u64, DateTime<Utc>)) -> Result<Record, TestCaseError> {
    let units = units();
    let ctx = ValidationContext::new(&units, now());
    let body = validate(&case.input, &ctx).map_err(|vs| {
        TestCaseError::fail(format!(
            "generated record refused: {:?}\n{}",
            vs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            case.input
        ))
    })?;
    Ok(Record {
        record_id: env.0,
        device_id: env.1,
        device_seq: env.2,
        enrolled_at: env.3,
        body,
    })
}

/// Every string in `v`, mapped by `f`.
fn map_strings(v: &Value, f: &impl Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), map_strings(x, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Compact JSON with every object's keys in reverse order.
fn write_reversed(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.reverse();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                write_reversed(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_reversed(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Spellings of the same (or almost the same) document that are not the
/// canonical bytes.
fn non_canonical_variants(bytes: &[u8], record: &Record) -> Vec<(&'static str, Vec<u8>)> {
    let text = std::str::from_utf8(bytes).unwrap();
    let value: Value = serde_json::from_str(text).unwrap();
    let sub = |from: &str, to: &str| text.replacen(from, to, 1).into_bytes();
    let mut reversed = String::new();
    write_reversed(&value, &mut reversed);
    let record_id = record.record_id.hyphenated().to_string();
    let enrolled = doorstep_core::canonical::format_utc_millis(&record.enrolled_at);
    let mut out = vec![
        ("space after a colon", sub("\":", "\": ")),
        ("space after a comma", sub(",", ", ")),
        ("trailing newline", format!("{text}\n").into_bytes()),
        ("leading BOM", format!("\u{feff}{text}").into_bytes()),
        ("pretty-printed", serde_json::to_vec_pretty(&value).unwrap()),
        ("keys in reverse order", reversed.into_bytes()),
        (
            "v first",
            format!("{{\"v\":1,{}}}", &text[1..text.len() - 7]).into_bytes(),
        ),
        (
            "duplicate key",
            format!("{{\"v\":1,{}", &text[1..]).into_bytes(),
        ),
        ("unknown key", sub(",\"v\":1}", ",\"v\":1,\"x\":1}")),
        ("escaped key", sub("\"v\":1", "\"\\u0076\":1")),
        ("float version", sub("\"v\":1}", "\"v\":1.0}")),
        (
            "upper-case record_id",
            sub(&record_id, &record_id.to_uppercase()),
        ),
        (
            "enrolled_at in microseconds",
            sub(&enrolled, &enrolled.replace('Z', "000Z")),
        ),
        (
            "null optional member",
            sub(",\"kind\":", ",\"supersedes\":null,\"kind\":"),
        ),
    ];
    if record.body.under_14_request {
        out.push((
            "under_14_request false",
            sub("\"under_14_request\":true", "\"under_14_request\":false"),
        ));
    } else {
        out.push((
            "explicit under_14_request false",
            sub(",\"visit\":", ",\"under_14_request\":false,\"visit\":"),
        ));
    }
    if text.contains("+00:00\"") {
        out.push(("Z visit offset", sub("+00:00\"", "Z\"")));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// (a) validate → encode → decode → encode is the identity on bytes,
    /// the decoded record equals the encoded one, and the cleaning did
    /// what the specification says.
    #[test]
    fn valid_records_round_trip_through_canonical_bytes(case in valid_case(), env in envelope()) {
        let record = record_of(&case, env)?;
        let body = &record.body;
        prop_assert_eq!(&body.citizen.full_name, &case.full_name);
        prop_assert_eq!(&body.citizen.phone, &case.phone);
        prop_assert_eq!(body.citizen.date_of_birth, case.dob);
        prop_assert_eq!(body.visit.at, case.visit_at);
        prop_assert_eq!(body.visit.at.offset(), case.visit_at.offset());
        prop_assert_eq!(body.correction.as_ref().map(|c| c.fields.clone()), case.fields.clone());
        prop_assert_eq!(&body.outcome, &case.outcome);

        let body_bytes = encode_body(body);
        // The hand-written body encoder agrees with the generic JCS path.
        prop_assert_eq!(
            String::from_utf8(body_bytes.clone()).unwrap(),
            String::from_utf8(encode_body_generic(body)).unwrap()
        );
        let bytes = encode_record(&record);
        prop_assert!(is_nfc(std::str::from_utf8(&bytes).unwrap()));
        let decoded = decode_record(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(encode_record(&decoded), bytes.clone());
        prop_assert_eq!(&decoded.body, body);
        prop_assert_eq!(decoded.record_id, record.record_id);
        prop_assert_eq!(decoded.device_seq, record.device_seq);
        // The stored body hash is the hash of the embedded body bytes.
        prop_assert_eq!(&bytes[8..8 + body_bytes.len()], &body_bytes[..]);
        prop_assert_eq!(ContentHash::of(&body_bytes), ContentHash::of(&encode_body(&decoded.body)));
    }

    /// (a) Other spellings of the document are refused, never repaired.
    #[test]
    fn non_canonical_bytes_are_refused(case in valid_case(), env in envelope()) {
        let record = record_of(&case, env)?;
        let bytes = encode_record(&record);
        for (what, variant) in non_canonical_variants(&bytes, &record) {
            prop_assert_ne!(&variant, &bytes, "{} did not change the bytes", what);
            prop_assert!(
                decode_record(&variant).is_err(),
                "{} was accepted: {}", what, String::from_utf8_lossy(&variant)
            );
        }
    }

    /// (a) Whatever bytes the decoder accepts, it accepts only in their
    /// canonical form: random edits of canonical bytes are refused or are
    /// themselves canonical.
    #[test]
    fn decode_accepts_only_canonical_bytes(
        case in valid_case(), env in envelope(),
        edits in vec((any::<prop::sample::Index>(), 0..3usize, any::<u8>()), 1..4),
    ) {
        let record = record_of(&case, env)?;
        let mut bytes = encode_record(&record);
        for (at, op, byte) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        if let Ok(decoded) = decode_record(&bytes) {
            let again = encode_record(&decoded);
            prop_assert_eq!(String::from_utf8_lossy(&again), String::from_utf8_lossy(&bytes));
        }
    }

    /// (b) The same record in NFC and in NFD gives identical bytes and hash.
    #[test]
    fn nfc_and_nfd_inputs_give_identical_canonical_bytes(case in valid_case()) {
        let nfc = map_strings(&case.input, &|s| s.nfc().collect());
        let nfd = map_strings(&case.input, &|s| s.nfd().collect());
        prop_assert_ne!(&nfc, &nfd, "the generated record has nothing to decompose");
        let units = units();
        let ctx = ValidationContext::new(&units, now());
        let a = encode_body(&validate(&nfc, &ctx).map_err(|v| TestCaseError::fail(format!("{v:?}")))?);
        let b = encode_body(&validate(&nfd, &ctx).map_err(|v| TestCaseError::fail(format!("{v:?}")))?);
        let c = encode_body(&validate(&case.input, &ctx).map_err(|v| TestCaseError::fail(format!("{v:?}")))?);
        prop_assert_eq!(String::from_utf8(a.clone()).unwrap(), String::from_utf8(b.clone()).unwrap());
        prop_assert_eq!(&a, &c);
        prop_assert_eq!(ContentHash::of(&a), ContentHash::of(&b));
    }

    /// (c) The search key ignores the normalisation form of any text.
    #[test]
    fn fold_key_ignores_normalisation_form(s in any::<String>()) {
        let nfc: String = s.nfc().collect();
        let nfd: String = s.nfd().collect();
        prop_assert_eq!(fold_key(&nfc), fold_key(&s));
        prop_assert_eq!(fold_key(&nfd), fold_key(&s));
    }

    /// (c) …and the case and accents of Vietnamese text: the key is plain
    /// lower-case ASCII.
    #[test]
    fn fold_key_ignores_case_and_accents_of_vietnamese(
        name in name(), upper in vec(any::<bool>(), 64), nfd in any::<bool>(),
    ) {
        let mixed: String = name.clean.chars().zip(upper.iter().cycle()).map(|(c, &u)| {
            if u { c.to_uppercase().collect::<String>() } else { c.to_lowercase().collect() }
        }).collect();
        let mixed: String = if nfd { mixed.nfd().collect() } else { mixed };
        let key = fold_key(&name.clean);
        prop_assert_eq!(fold_key(&mixed), key.clone());
        prop_assert_eq!(fold_key(&name.clean.to_uppercase()), key.clone());
        prop_assert_eq!(fold_key(&name.clean.to_lowercase()), key.clone());
        prop_assert_eq!(fold_key(&name.raw), key.clone());
        prop_assert!(
            key.chars().all(|c| c.is_ascii_lowercase() || matches!(c, ' ' | '\'' | '’' | '-')),
            "key {:?}", key
        );
    }
}

// ---- (d) the generic RFC 8785 writer ----

fn json_value(key: BoxedStrategy<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn jcs(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_jcs(v, &mut out).unwrap();
    out
}

proptest! {
    /// (d) Output parses back to an equal value and re-serialises to the
    /// same bytes, whatever the keys and strings.
    #[test]
    fn jcs_round_trips_and_is_stable(v in json_value(any::<String>().boxed())) {
        let bytes = jcs(&v);
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&parsed, &v);
        prop_assert_eq!(jcs(&parsed), bytes);
    }

    /// (d) With keys below U+D800 (where UTF-16 order is code point order,
    /// as serde_json's sorted map uses), the output is exactly serde_json's
    /// compact form: sorted keys, no whitespace, the same escapes.
    #[test]
    fn jcs_matches_compact_sorted_json_for_bmp_keys(
        v in json_value("[a-zA-Z0-9_ éĐđ\u{1ea0}-\u{1ef9}\u{4e00}\"\\\\\u{1}\n]{0,6}".boxed())
    ) {
        prop_assert_eq!(
            String::from_utf8(jcs(&v)).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    }

    /// (d) Floats are refused, wherever they are.
    #[test]
    fn jcs_refuses_floats(f in any::<f64>().prop_filter("finite", |f| f.is_finite()), nest in any::<bool>()) {
        let v = if nest { json!({"a": [1, {"b": f}]}) } else { json!(f) };
        let mut out = Vec::new();
        prop_assert!(write_jcs(&v, &mut out).is_err());
    }
}
