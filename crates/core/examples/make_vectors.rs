//! Generates the golden vectors in `proto/vectors/` (see its README).
//!
//! The vectors are generated once, reviewed by eye and then frozen: the
//! files, not this program, are the reference. Existing files are never
//! overwritten unless `--force` is given; without it the program reports
//! every vector whose recomputed content differs from the frozen file and
//! exits with status 1.
//!
//! ```text
//! cargo run -p doorstep-core --example make_vectors -- [--force] [VECTOR_DIR]
//! ```
//!
//! `VECTOR_DIR` defaults to `proto/vectors` of this workspace and must hold
//! `units.csv`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{ContentHash, encode_body, encode_envelope};
use doorstep_core::{Units, ValidationContext, validate};
use serde::Serialize;
use serde_json::{Value, json};
use unicode_normalization::char::is_combining_mark;
use uuid::Uuid;

const UNITS_FILE: &str = "units.csv";
const NOW: &str = "2026-11-22T03:00:00Z";
const DEVICE_ID: &str = "4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70";

// ---- file shapes ----

#[derive(Serialize)]
struct Context {
    now: String,
    units_file: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrolled_at: Option<String>,
}

#[derive(Serialize)]
struct CanonicalVector {
    description: String,
    input: Value,
    context: Context,
    canonical: String,
    content_hash: String,
    body_hash: String,
}

#[derive(Serialize)]
struct PathCode {
    path: String,
    code: String,
}

#[derive(Serialize)]
struct InvalidVector {
    description: String,
    input: Value,
    context: Context,
    violations: Vec<PathCode>,
}

// ---- cases ----

/// Envelope values for a canonical vector.
struct Env {
    now: &'static str,
    record_id: String,
    device_id: &'static str,
    device_seq: u64,
    enrolled_at: &'static str,
}

impl Env {
    fn new(n: u64, enrolled_at: &'static str) -> Env {
        Env {
            now: NOW,
            record_id: format!("019a4f6e-3c21-7d4b-8e5f-{n:012x}"),
            device_id: DEVICE_ID,
            device_seq: n,
            enrolled_at,
        }
    }
}

struct ValidCase {
    file: &'static str,
    description: &'static str,
    input: Value,
    env: Env,
}

struct InvalidCase {
    file: &'static str,
    description: &'static str,
    input: Value,
    now: &'static str,
}

/// A complete, valid identity card application: the base of most cases.
fn base() -> Value {
    json!({
        "kind": "id_card_application",
        "citizen": {
            "personal_id": "074303001234",
            "full_name": "Nguyễn Thị Lan",
            "date_of_birth": "2003-05-14",
            "sex": "female",
            "phone": "0912345678",
            "permanent_address": {"unit_code": "25972", "detail": "Tổ 3, khu phố 2"},
            "current_address": {"unit_code": "25975", "detail": "Phòng 12, dãy trọ Hưng Thịnh"}
        },
        "visit": {"place": "hospital", "reason": "bedridden", "unit_code": "25972", "at": "2025-09-25T09:30:00+07:00"},
        "officer_id": "CA-74-0012",
        "eid_level": 2
    })
}

fn edit(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = base();
    f(&mut v);
    v
}

fn remove(v: &mut Value, key: &str) {
    if let Some(m) = v.as_object_mut() {
        m.remove(key);
    }
}

fn valid_cases() -> Vec<ValidCase> {
    vec![
        ValidCase {
            file: "01-id-card-application-full",
            description: "id_card_application with every optional field that applies present: phone, current_address with detail, visit reason, eid_level",
            input: base(),
            env: Env::new(1, "2026-11-22T03:04:05.678Z"),
        },
        ValidCase {
            file: "02-id-card-application-minimal",
            description: "id_card_application with every optional field absent; explicit nulls count as absent and under_14_request false is omitted from the canonical form; enrolled_at on a whole second still has .000",
            input: json!({
                "kind": "id_card_application",
                "citizen": {
                    "personal_id": "001068004521",
                    "full_name": "Phạm Văn Đức",
                    "date_of_birth": "1968-07-20",
                    "sex": "male",
                    "phone": null,
                    "permanent_address": {"unit_code": "00004", "detail": "Số 7 ngõ 12 phố Đội Cấn"},
                    "current_address": null
                },
                "visit": {"place": "home", "reason": null, "unit_code": "00004", "at": "2026-01-05T14:20:00+07:00"},
                "officer_id": "CA-01-0311",
                "eid_level": null,
                "under_14_request": false,
                "supersedes": null,
                "driver_license": null,
                "correction": null
            }),
            env: Env::new(2, "2026-01-05T08:00:00Z"),
        },
        ValidCase {
            file: "03-id-card-under-14-request",
            description: "id_card_application for a 10-year-old with under_14_request true (kept in the canonical form)",
            input: json!({
                "kind": "id_card_application",
                "citizen": {
                    "personal_id": "079215000731",
                    "full_name": "Lê Minh Khôi",
                    "date_of_birth": "2015-08-02",
                    "sex": "male",
                    "permanent_address": {"unit_code": "26734", "detail": "45 Lê Thánh Tôn"}
                },
                "visit": {"place": "home", "unit_code": "26734", "at": "2026-03-14T15:45:10+07:00"},
                "officer_id": "CA-79-1042",
                "under_14_request": true
            }),
            env: Env::new(3, "2026-03-14T08:46:00.125Z"),
        },
        ValidCase {
            file: "04-eid-registration-plus84-phone",
            description: "eid_registration: phone given as +84 with spaces becomes 0912345678; eid_level 1; visit time in UTC (Z) with fractional seconds becomes whole seconds with +00:00; ethnic-minority name with an apostrophe",
            input: json!({
                "kind": "eid_registration",
                "citizen": {
                    "personal_id": "066190123456",
                    "full_name": "H'Hen Niê",
                    "date_of_birth": "1990-02-11",
                    "sex": "female",
                    "phone": "+84 912 345 678",
                    "permanent_address": {"unit_code": "24133", "detail": "Buôn Ako Dhông"}
                },
                "visit": {"place": "mobile_point", "unit_code": "24133", "at": "2026-03-10T02:15:42.987Z"},
                "officer_id": "CA-66-0007",
                "eid_level": 1
            }),
            env: Env::new(4, "2026-03-10T02:16:00.001Z"),
        },
        ValidCase {
            file: "05-eid-activation-nfd-whitespace",
            description: "eid_activation: full name and address detail given in NFD with tabs, newlines, no-break and ideographic spaces; canonical form is NFC with single ASCII spaces",
            input: json!({
                "kind": "eid_activation",
                "citizen": {
                    "personal_id": "074085012345",
                    "full_name": "  Tra\u{302}\u{300}n \t Va\u{306}n\u{a0}\u{a0}Hu\u{300}ng\n",
                    "date_of_birth": "1985-10-01",
                    "sex": "male",
                    "phone": "0987654321",
                    "permanent_address": {"unit_code": "25972", "detail": "So\u{302}\u{301} 12,\u{3000}đu\u{31b}o\u{31b}\u{300}ng   Nguye\u{302}\u{303}n Du\r\n"}
                },
                "visit": {"place": "workplace", "reason": "worker", "unit_code": "25972", "at": "2026-02-02T11:05:33+07:00"},
                "officer_id": "CA-74-0012"
            }),
            env: Env::new(5, "2026-02-02T04:06:00.500Z"),
        },
        ValidCase {
            file: "06-driver-license-link",
            description: "driver_license_link: licence number trimmed; eid_level allowed on other kinds",
            input: json!({
                "kind": "driver_license_link",
                "citizen": {
                    "personal_id": "079079001122",
                    "full_name": "Võ Thành Nhân",
                    "date_of_birth": "1979-11-30",
                    "sex": "male",
                    "phone": "0903123456",
                    "permanent_address": {"unit_code": "26734", "detail": "12 Tôn Đức Thắng"}
                },
                "visit": {"place": "station", "unit_code": "26734", "at": "2026-06-01T08:00:00+07:00"},
                "officer_id": "CA-79-0500",
                "eid_level": 2,
                "driver_license": {"number": " 790123456789 "}
            }),
            env: Env::new(6, "2026-06-01T01:00:02.000Z"),
        },
        ValidCase {
            file: "07-info-correction-fields-sorted",
            description: "info_correction: correction fields trimmed, de-duplicated and sorted in the fixed field order (personal_id, full_name, date_of_birth, sex, permanent_address, current_address, phone), not alphabetically; note cleaned",
            input: json!({
                "kind": "info_correction",
                "citizen": {
                    "personal_id": "082172004455",
                    "full_name": "Huỳnh Thị Mỹ Dung",
                    "date_of_birth": "1972-04-04",
                    "sex": "female",
                    "phone": "0356 789 012",
                    "permanent_address": {"unit_code": "26734", "detail": "88 Hai Bà Trưng"},
                    "current_address": {"unit_code": "25975"}
                },
                "visit": {"place": "home", "reason": "elderly", "unit_code": "25975", "at": "2026-04-20T16:00:00+07:00"},
                "officer_id": "CA-74-0020",
                "correction": {
                    "fields": ["phone", "full_name", "sex", "full_name", " date_of_birth "],
                    "note": "Sai năm sinh  trên CCCD cũ;\n cần đối chiếu giấy khai sinh"
                }
            }),
            env: Env::new(7, "2026-04-20T09:01:00.000Z"),
        },
        ValidCase {
            file: "08-supersedes-braced-uppercase-uuid",
            description: "a correcting id_card_application that supersedes an earlier record; the UUID given braced and upper-case is written lower-case hyphenated",
            input: edit(|v| {
                v["supersedes"] = json!("{019A4F6E-3C21-7D4B-8E5F-000000000001}");
                v["citizen"]["current_address"] =
                    json!({"unit_code": "25972", "detail": "Phòng 3, nhà trọ Cô Ba"});
            }),
            env: Env::new(8, "2026-11-22T03:10:00.000Z"),
        },
        ValidCase {
            file: "09-json-escaping",
            description: "JSON escaping: double quote and backslash in address details are written as \\\" and \\\\; slash and non-ASCII letters are written as is; hyphenated ethnic-minority name",
            input: json!({
                "kind": "eid_activation",
                "citizen": {
                    "personal_id": "066095007788",
                    "full_name": "Y-Moan Ênuôl",
                    "date_of_birth": "1995-06-15",
                    "sex": "male",
                    "permanent_address": {"unit_code": "24133", "detail": "Hẻm \"Cây Da\", số 5\\2 / tổ 7"},
                    "current_address": {"unit_code": "26734", "detail": "Ký túc xá \\ phòng \"B-12\""}
                },
                "visit": {"place": "boarding_house", "reason": "temporary_resident", "unit_code": "26734", "at": "2026-05-05T19:30:00+07:00"},
                "officer_id": "CA-79-0042"
            }),
            env: Env::new(9, "2026-05-05T12:31:00.999Z"),
        },
        ValidCase {
            file: "10-input-cleaning",
            description: "every trimmed input: kind, sex, place, reason, unit codes, officer_id, personal_id, date_of_birth and visit time with surrounding spaces; 11-digit 84… phone with dots; current_address detail blank (omitted)",
            input: json!({
                "kind": " eid_registration ",
                "citizen": {
                    "personal_id": " 074058000123 ",
                    "full_name": "Đỗ Văn Bình",
                    "date_of_birth": " 1958-01-01 ",
                    "sex": " male ",
                    "phone": "84.97.123.4567",
                    "permanent_address": {"unit_code": " 25972 ", "detail": "Khu phố Bình Đức"},
                    "current_address": {"unit_code": "25975 ", "detail": " \t "}
                },
                "visit": {"place": " home ", "reason": " elderly ", "unit_code": "\t25975", "at": " 2026-01-02T08:00:00+07:00 "},
                "officer_id": "  CA-74-0099 ",
                "eid_level": 2
            }),
            env: Env::new(10, "2026-01-02T01:00:00.000Z"),
        },
        ValidCase {
            file: "11-age-on-local-visit-date",
            description: "the age rule uses the visit's local date: a 14th birthday on the local date (the UTC date is the day before) needs no under_14_request",
            input: json!({
                "kind": "id_card_application",
                "citizen": {
                    "personal_id": "074312001234",
                    "full_name": "Bùi Ngọc Ánh",
                    "date_of_birth": "2012-05-14",
                    "sex": "female",
                    "permanent_address": {"unit_code": "25975", "detail": "Tổ 1"}
                },
                "visit": {"place": "home", "unit_code": "25975", "at": "2026-05-14T00:30:00+07:00"},
                "officer_id": "CA-74-0012"
            }),
            env: Env::new(11, "2026-05-13T17:31:00.000Z"),
        },
        ValidCase {
            file: "12-leap-day-birthday",
            description: "born 29 February: in a common year the birthday is reached on 1 March, so the citizen is 14 on 2026-03-01",
            input: json!({
                "kind": "id_card_application",
                "citizen": {
                    "personal_id": "074212000042",
                    "full_name": "Ngô Quốc Bảo",
                    "date_of_birth": "2012-02-29",
                    "sex": "male",
                    "permanent_address": {"unit_code": "25972", "detail": "Tổ 9"}
                },
                "visit": {"place": "other", "reason": "other", "unit_code": "25972", "at": "2026-03-01T10:00:00+07:00"},
                "officer_id": "CA-74-0012"
            }),
            env: Env::new(12, "2026-03-01T03:00:00.000Z"),
        },
        ValidCase {
            file: "13-newborn-vietnam-date",
            description: "a date of birth equal to today's date in Vietnam (UTC+7) is not in the future even though the UTC date is the day before",
            input: json!({
                "kind": "id_card_application",
                "citizen": {
                    "personal_id": "079326000001",
                    "full_name": "Trương Gia Hân",
                    "date_of_birth": "2026-11-23",
                    "sex": "female",
                    "permanent_address": {"unit_code": "26734", "detail": "Bệnh viện Từ Dũ"}
                },
                "visit": {"place": "hospital", "reason": "other", "unit_code": "26734", "at": "2026-11-23T02:30:00+07:00"},
                "officer_id": "CA-79-1042",
                "under_14_request": true
            }),
            env: Env {
                now: "2026-11-22T20:00:00Z",
                ..Env::new(13, "2026-11-22T19:59:59.999Z")
            },
        },
        ValidCase {
            file: "14-visit-time-future-tolerance",
            description: "a visit exactly 300 s after `now` (after dropping the fraction) is accepted; a +05:30 offset is kept",
            input: json!({
                "kind": "eid_activation",
                "citizen": {
                    "personal_id": "001185000777",
                    "full_name": "Đặng Thu Hà",
                    "date_of_birth": "1985-12-31",
                    "sex": "female",
                    "permanent_address": {"unit_code": "00004", "detail": "Số 1 Hoàng Hoa Thám"}
                },
                "visit": {"place": "other", "unit_code": "00004", "at": "2026-11-22T10:05:00.999+05:30"},
                "officer_id": "CA-01-0001"
            }),
            env: Env {
                now: "2026-11-22T04:30:00Z",
                ..Env::new(14, "2026-11-22T04:30:00.000Z")
            },
        },
        ValidCase {
            file: "15-envelope-truncation-and-case",
            description: "envelope: enrolled_at with microseconds is truncated (not rounded) to milliseconds; record_id and device_id given in upper case are written lower-case; device_seq 2^53-1",
            input: json!({
                "kind": "eid_activation",
                "citizen": {
                    "personal_id": "031200000099",
                    "full_name": "Mai Anh Tuấn",
                    "date_of_birth": "2000-01-01",
                    "sex": "male",
                    "permanent_address": {"unit_code": "00004", "detail": "Phòng 1204, chung cư A"}
                },
                "visit": {"place": "workplace", "unit_code": "00004", "at": "2026-07-07T07:07:07+07:00"},
                "officer_id": "ca.01_0001"
            }),
            env: Env {
                record_id: "019A4F6E-3C21-7D4B-8E5F-00000000000F".to_owned(),
                device_id: "4F9C2E1A-8B7D-4C3E-9A1F-2B3C4D5E6F70",
                device_seq: 9_007_199_254_740_991,
                ..Env::new(15, "2026-07-07T00:08:00.678999Z")
            },
        },
        ValidCase {
            file: "16-visit-outcome-living-elsewhere",
            description: "visit_outcome: the resident lives in another unit and is referred there; outcome members in JCS order (detail, note, result, unit_code), unit_code and result trimmed, detail and note cleaned; record_id absent (only for enrolled)",
            input: json!({
                "kind": "visit_outcome",
                "citizen": {
                    "personal_id": "074190001357",
                    "full_name": "Trần Thị Mai",
                    "date_of_birth": "1990-03-08",
                    "sex": "female",
                    "permanent_address": {"unit_code": "25972", "detail": "Tổ 5, khu phố 1"}
                },
                "visit": {"place": "home", "unit_code": "25972", "at": "2026-08-15T09:00:00+07:00"},
                "officer_id": "CA-74-0012",
                "outcome": {
                    "result": " living_elsewhere ",
                    "unit_code": " 26734 ",
                    "detail": "  Số 12   đường Lê Lợi ",
                    "note": "Theo lời\n người nhà, đi làm\tở TP.HCM"
                }
            }),
            env: Env::new(16, "2026-08-15T02:01:00.000Z"),
        },
    ]
}

fn invalid_cases() -> Vec<InvalidCase> {
    let c = |file, description, input| InvalidCase {
        file,
        description,
        input,
        now: NOW,
    };
    vec![
        c(
            "type.object--root",
            "the record is not a JSON object",
            json!([]),
        ),
        c(
            "type.object--citizen",
            "citizen is a string, not an object",
            edit(|v| v["citizen"] = json!("Nguyễn Thị Lan")),
        ),
        c(
            "type.string--personal_id",
            "personal_id given as a number (leading zero lost): must be a string",
            edit(|v| v["citizen"]["personal_id"] = json!(74_303_001_234_u64)),
        ),
        c(
            "type.boolean--under_14_request",
            "under_14_request must be true or false",
            edit(|v| v["under_14_request"] = json!("yes")),
        ),
        c(
            "field.unknown",
            "unknown keys are reported at their own path, at every level",
            edit(|v| {
                v["notes"] = json!("x");
                v["citizen"]["nickname"] = json!("Lan");
            }),
        ),
        c(
            "field.missing--empty-object",
            "an empty object lacks every required top-level field",
            json!({}),
        ),
        c(
            "field.missing--citizen",
            "an empty citizen object lacks every required citizen field",
            edit(|v| v["citizen"] = json!({})),
        ),
        c(
            "field.missing--null-is-absent",
            "a JSON null counts as absent, so a null required field is missing",
            edit(|v| v["officer_id"] = Value::Null),
        ),
        c(
            "field.missing--permanent-address-detail",
            "permanent_address.detail is required",
            edit(|v| v["citizen"]["permanent_address"] = json!({"unit_code": "25972"})),
        ),
        c(
            "field.missing--driver_license",
            "driver_license_link without driver_license",
            edit(|v| v["kind"] = json!("driver_license_link")),
        ),
        c(
            "field.missing--correction",
            "info_correction without correction",
            edit(|v| v["kind"] = json!("info_correction")),
        ),
        c(
            "field.not_applicable--driver_license",
            "driver_license on an id_card_application",
            edit(|v| v["driver_license"] = json!({"number": "790123456789"})),
        ),
        c(
            "field.not_applicable--correction",
            "correction on an id_card_application",
            edit(|v| v["correction"] = json!({"fields": ["sex"], "note": "x"})),
        ),
        c(
            "value.not_allowed--kind",
            "an unknown record kind",
            edit(|v| v["kind"] = json!("id_card")),
        ),
        c(
            "value.not_allowed--sex-and-place",
            "sex and visit place outside their lists (values are case-sensitive English codes)",
            edit(|v| {
                v["citizen"]["sex"] = json!("nữ");
                v["visit"]["place"] = json!("Home");
            }),
        ),
        c(
            "text.empty",
            "permanent address detail of only whitespace",
            edit(|v| v["citizen"]["permanent_address"]["detail"] = json!("  \t ")),
        ),
        c(
            "text.control_character",
            "a control character (BEL) in an address detail",
            edit(|v| v["citizen"]["permanent_address"]["detail"] = json!("Tổ 3\u{7}")),
        ),
        c(
            "text.too_long",
            "a correction note of 301 characters",
            edit(|v| {
                v["kind"] = json!("info_correction");
                v["correction"] = json!({"fields": ["sex"], "note": "ơ".repeat(301)});
            }),
        ),
        c(
            "unit.unknown",
            "unit codes not in the loaded list (matched exactly after trimming)",
            edit(|v| {
                v["visit"]["unit_code"] = json!("99999");
                v["citizen"]["current_address"]["unit_code"] = json!("4");
            }),
        ),
        c(
            "date.invalid--format",
            "date of birth not in YYYY-MM-DD form",
            edit(|v| v["citizen"]["date_of_birth"] = json!("14/05/2003")),
        ),
        c(
            "date.invalid--no-such-day",
            "29 February in a common year",
            edit(|v| v["citizen"]["date_of_birth"] = json!("2003-02-29")),
        ),
        c(
            "date.future--birth",
            "date of birth after today's date in Vietnam",
            edit(|v| v["citizen"]["date_of_birth"] = json!("2026-11-23")),
        ),
        c(
            "date.future--visit",
            "visit time 301 s after now (tolerance is 300 s)",
            edit(|v| v["visit"]["at"] = json!("2026-11-22T10:05:01+07:00")),
        ),
        c(
            "date.birth_after_visit",
            "date of birth after the visit's local date",
            edit(|v| v["citizen"]["date_of_birth"] = json!("2025-09-26")),
        ),
        c(
            "date.birth_too_early",
            "date of birth before 1900",
            edit(|v| v["citizen"]["date_of_birth"] = json!("1899-12-31")),
        ),
        c(
            "datetime.invalid",
            "visit time without an offset",
            edit(|v| v["visit"]["at"] = json!("2025-09-25T09:30:00")),
        ),
        c(
            "officer_id.invalid",
            "officer ID with inner spaces",
            edit(|v| v["officer_id"] = json!("CA 74 0012")),
        ),
        c(
            "name.empty",
            "full name of only whitespace",
            edit(|v| v["citizen"]["full_name"] = json!(" \u{3000} ")),
        ),
        c(
            "name.invalid_character",
            "a digit in the full name",
            edit(|v| v["citizen"]["full_name"] = json!("Nguyễn Văn 3")),
        ),
        c(
            "name.no_letter",
            "a name of only a hyphen and an apostrophe",
            edit(|v| v["citizen"]["full_name"] = json!("- '")),
        ),
        c(
            "name.too_long",
            "a name of 101 letters",
            edit(|v| v["citizen"]["full_name"] = json!("Ơ".repeat(101))),
        ),
        c(
            "personal_id.format",
            "11 digits",
            edit(|v| v["citizen"]["personal_id"] = json!("07430300123")),
        ),
        c(
            "personal_id.province",
            "003 is not one of the 63 province codes (the codes are sparse)",
            edit(|v| v["citizen"]["personal_id"] = json!("003303001234")),
        ),
        c(
            "personal_id.century_sex_mismatch",
            "4th digit 3 (female, 2000s) for a male born in 2003 (expects 2)",
            edit(|v| v["citizen"]["sex"] = json!("male")),
        ),
        c(
            "personal_id.year_mismatch",
            "digits 5-6 are 03 for a citizen born in 2004",
            edit(|v| v["citizen"]["date_of_birth"] = json!("2004-05-14")),
        ),
        c(
            "personal_id--three-problems",
            "unknown province, wrong century/sex digit and wrong year are all reported",
            edit(|v| v["citizen"]["personal_id"] = json!("003004001234")),
        ),
        c(
            "personal_id.format--dob-invalid",
            "when the date of birth is unusable only format and province are checked",
            edit(|v| {
                v["citizen"]["personal_id"] = json!("0743030012AB");
                v["citizen"]["date_of_birth"] = json!("2003-13-01");
            }),
        ),
        c(
            "age.under_14",
            "born 2012-02-29, visited 2026-02-28: still 13, and no under_14_request",
            edit(|v| {
                v["citizen"]["date_of_birth"] = json!("2012-02-29");
                v["citizen"]["personal_id"] = json!("074312001234");
                v["visit"]["at"] = json!("2026-02-28T10:00:00+07:00");
            }),
        ),
        c(
            "age.under_18_license",
            "driver_license_link the day before the 18th birthday",
            edit(|v| {
                v["kind"] = json!("driver_license_link");
                v["driver_license"] = json!({"number": "790123456789"});
                v["citizen"]["date_of_birth"] = json!("2008-11-23");
                v["citizen"]["personal_id"] = json!("074308001234");
                v["visit"]["at"] = json!("2026-11-22T09:00:00+07:00");
            }),
        ),
        c(
            "phone.required",
            "eid_registration without a phone",
            edit(|v| {
                v["kind"] = json!("eid_registration");
                remove(&mut v["citizen"], "phone");
            }),
        ),
        c(
            "phone.invalid--landline",
            "a landline number (02…)",
            edit(|v| v["citizen"]["phone"] = json!("0212345678")),
        ),
        c(
            "phone.invalid--plus84-trunk-zero",
            "+84 followed by the trunk 0 gives 11 digits",
            edit(|v| v["citizen"]["phone"] = json!("+84 0912 345 678")),
        ),
        c(
            "eid_level.required",
            "eid_registration without eid_level",
            edit(|v| {
                v["kind"] = json!("eid_registration");
                remove(v, "eid_level");
            }),
        ),
        c(
            "eid_level.invalid--3",
            "eid_level 3",
            edit(|v| v["eid_level"] = json!(3)),
        ),
        c(
            "eid_level.invalid--string",
            "eid_level given as a string",
            edit(|v| v["eid_level"] = json!("2")),
        ),
        c(
            "under_14_request.not_applicable--adult",
            "under_14_request true for a citizen aged 22",
            edit(|v| v["under_14_request"] = json!(true)),
        ),
        c(
            "under_14_request.not_applicable--kind",
            "under_14_request true on an eid_activation",
            edit(|v| {
                v["kind"] = json!("eid_activation");
                v["under_14_request"] = json!(true);
            }),
        ),
        c(
            "supersedes.invalid",
            "supersedes is not a UUID",
            edit(|v| v["supersedes"] = json!("019a4f6e-3c21")),
        ),
        c(
            "driver_license.number",
            "an 11-digit licence number",
            edit(|v| {
                v["kind"] = json!("driver_license_link");
                v["driver_license"] = json!({"number": " 79012345678 "});
            }),
        ),
        c(
            "correction.fields--empty",
            "an empty list of correction fields",
            edit(|v| {
                v["kind"] = json!("info_correction");
                v["correction"] = json!({"fields": [], "note": "Sai ngày sinh"});
            }),
        ),
        c(
            "correction.fields--items",
            "correction field items are checked one by one, with their index in the path",
            edit(|v| {
                v["kind"] = json!("info_correction");
                v["correction"] =
                    json!({"fields": ["sex", 3, "nickname"], "note": "Sai giới tính"});
            }),
        ),
    ]
}

// ---- generation ----

fn parse_utc(s: &str) -> DateTime<Utc> {
    s.parse()
        .unwrap_or_else(|e| panic!("bad UTC time `{s}`: {e}"))
}

fn context(now: &str) -> Context {
    Context {
        now: now.to_owned(),
        units_file: UNITS_FILE,
        record_id: None,
        device_id: None,
        device_seq: None,
        enrolled_at: None,
    }
}

/// Pretty JSON with every character that an editor could silently change
/// written as a `\uXXXX` escape: combining marks (NFD input must stay
/// NFD), non-ASCII whitespace and format characters. These only occur
/// inside strings, where the escape means the same character.
fn pretty(value: &impl Serialize) -> String {
    let raw = serde_json::to_string_pretty(value).unwrap();
    let mut s = String::with_capacity(raw.len() + 1);
    for c in raw.chars() {
        let fragile = !c.is_ascii()
            && (is_combining_mark(c)
                || c.is_whitespace()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{206f}' | '\u{feff}'));
        if fragile {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                s.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            s.push(c);
        }
    }
    s.push('\n');
    s
}

fn main() -> ExitCode {
    let mut force = false;
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/vectors"));
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--force" => force = true,
            _ => dir = PathBuf::from(arg),
        }
    }
    let csv = std::fs::read(dir.join(UNITS_FILE))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(UNITS_FILE).display()));
    let units = Units::from_csv(&csv).unwrap();

    let mut outputs: Vec<(PathBuf, String)> = Vec::new();
    for case in valid_cases() {
        let ctx = ValidationContext::new(&units, parse_utc(case.env.now));
        let body = validate(&case.input, &ctx)
            .unwrap_or_else(|v| panic!("{}: expected valid, got {v:?}", case.file));
        let body_bytes = encode_body(&body);
        let record_id = Uuid::parse_str(&case.env.record_id).unwrap();
        let device_id = Uuid::parse_str(case.env.device_id).unwrap();
        let enrolled_at = parse_utc(case.env.enrolled_at);
        let canonical = encode_envelope(
            &record_id,
            &device_id,
            case.env.device_seq,
            &enrolled_at,
            &body_bytes,
        );
        let vector = CanonicalVector {
            description: case.description.to_owned(),
            input: case.input,
            context: Context {
                record_id: Some(case.env.record_id.clone()),
                device_id: Some(case.env.device_id.to_owned()),
                device_seq: Some(case.env.device_seq),
                enrolled_at: Some(case.env.enrolled_at.to_owned()),
                ..context(case.env.now)
            },
            content_hash: ContentHash::of(&canonical).to_hex(),
            body_hash: ContentHash::of(&body_bytes).to_hex(),
            canonical: String::from_utf8(canonical).unwrap(),
        };
        outputs.push((
            dir.join("canonical").join(format!("{}.json", case.file)),
            pretty(&vector),
        ));
    }
    for case in invalid_cases() {
        let ctx = ValidationContext::new(&units, parse_utc(case.now));
        let violations = match validate(&case.input, &ctx) {
            Ok(_) => panic!("{}: expected violations, the record is valid", case.file),
            Err(v) => v,
        };
        let vector = InvalidVector {
            description: case.description.to_owned(),
            input: case.input,
            context: context(case.now),
            violations: violations
                .into_iter()
                .map(|v| PathCode {
                    path: v.path,
                    code: v.code.to_owned(),
                })
                .collect(),
        };
        outputs.push((
            dir.join("invalid").join(format!("{}.json", case.file)),
            pretty(&vector),
        ));
    }

    let mut differs = 0;
    for (path, text) in outputs {
        write_one(&path, &text, force, &mut differs);
    }
    if differs > 0 {
        eprintln!(
            "{differs} frozen vector(s) differ from what this build computes (use --force to overwrite after review)"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn write_one(path: &Path, text: &str, force: bool, differs: &mut usize) {
    match std::fs::read_to_string(path) {
        Ok(old) if old == text => {}
        Ok(_) if !force => {
            eprintln!("differs: {}", path.display());
            *differs += 1;
        }
        _ => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, text).unwrap();
            eprintln!("wrote {}", path.display());
        }
    }
}
