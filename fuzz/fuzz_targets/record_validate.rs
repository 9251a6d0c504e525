//! Record validation and the canonical encoding (`proto/canonical-v1.md`).
//!
//! The input is tried two ways:
//!
//! - as canonical bytes: `decode_record` refuses them or gives a record
//!   that encodes back to exactly these bytes (and decodes again to the
//!   same record); `recheck`, what central runs on every received record,
//!   refuses or returns that very record;
//! - as a JSON record as typed by an officer: `validate` (on a `Value`)
//!   and `validate_text` (its faster text path) give the same answer; a
//!   refusal names at least one rule; a valid body has the same bytes
//!   through the hand-written encoder and the generic RFC 8785 writer, the
//!   whole record decodes back to itself and encodes to the same bytes
//!   again, and `recheck` accepts it (what a laptop accepts, central
//!   accepts), also ten years later.
//!
//! An input whose first byte is 0 is instead a recipe: one of the
//! canonical vectors' inputs, changed in a few places (values replaced by
//! near-valid or hostile ones, members removed or added, strings edited,
//! attachments and exemptions added), then checked as above, so the rules
//! deep inside validation are reached much more often than by mutating
//! bytes.
//!
//! Context: the vectors' unit list (`proto/vectors/units.csv`) and clock
//! (`2026-11-22T03:00:00Z`; a recipe may pick the other clocks the vectors
//! use).

#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{
    ContentHash, ENVELOPE_PREFIX, decode_record, encode_body, encode_body_generic, encode_record,
};
use doorstep_core::validate::{TextError, validate_text};
use doorstep_core::{Record, RecordBody, Units, ValidationContext, recheck, validate};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use uuid::Uuid;

static UNITS: LazyLock<Units> = LazyLock::new(|| {
    Units::from_csv(include_bytes!("../../proto/vectors/units.csv"))
        .expect("the vectors' units.csv loads")
});

static NOW: LazyLock<DateTime<Utc>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
        .expect("a valid instant")
        .with_timezone(&Utc)
});

/// The clocks of the canonical vectors.
static CLOCKS: LazyLock<[DateTime<Utc>; 3]> = LazyLock::new(|| {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .expect("a valid instant")
            .with_timezone(&Utc)
    };
    [*NOW, at("2026-11-22T20:00:00Z"), at("2026-11-22T04:30:00Z")]
});

/// The inputs of the canonical vectors: valid records of every kind.
static BASES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    [
        include_str!("../../proto/vectors/canonical/01-id-card-application-full.json"),
        include_str!("../../proto/vectors/canonical/02-id-card-application-minimal.json"),
        include_str!("../../proto/vectors/canonical/03-id-card-under-14-request.json"),
        include_str!("../../proto/vectors/canonical/04-eid-registration-plus84-phone.json"),
        include_str!("../../proto/vectors/canonical/05-eid-activation-nfd-whitespace.json"),
        include_str!("../../proto/vectors/canonical/06-driver-license-link.json"),
        include_str!("../../proto/vectors/canonical/07-info-correction-fields-sorted.json"),
        include_str!("../../proto/vectors/canonical/08-supersedes-braced-uppercase-uuid.json"),
        include_str!("../../proto/vectors/canonical/09-json-escaping.json"),
        include_str!("../../proto/vectors/canonical/10-input-cleaning.json"),
        include_str!("../../proto/vectors/canonical/11-age-on-local-visit-date.json"),
        include_str!("../../proto/vectors/canonical/12-leap-day-birthday.json"),
        include_str!("../../proto/vectors/canonical/13-newborn-vietnam-date.json"),
        include_str!("../../proto/vectors/canonical/14-visit-time-future-tolerance.json"),
        include_str!("../../proto/vectors/canonical/15-envelope-truncation-and-case.json"),
        include_str!("../../proto/vectors/canonical/16-visit-outcome-living-elsewhere.json"),
    ]
    .iter()
    .map(|text| {
        let v: Value = serde_json::from_str(text).expect("a canonical vector");
        v["input"].clone()
    })
    .collect()
});

fuzz_target!(|data: &[u8]| {
    if let Some((&0, recipe)) = data.split_first() {
        let _ = changed_vector(&mut Unstructured::new(recipe));
        return;
    }
    let ctx = ValidationContext::new(&UNITS, *NOW);
    canonical_bytes(data, &ctx);
    if let Ok(text) = std::str::from_utf8(data) {
        input_record(text, data, &ctx);
    }
});

/// `data` as a canonical record.
fn canonical_bytes(data: &[u8], ctx: &ValidationContext<'_>) {
    let Ok(record) = decode_record(data) else {
        return;
    };
    let again = encode_record(&record);
    assert_eq!(again, data, "decode_record accepted non-canonical bytes");
    let back = decode_record(&again).expect("canonical bytes decode again");
    assert_eq!(back, record, "decoding is not stable");
    body_sits_in_envelope(&record.body, data);
    match recheck(data, &ContentHash::of(data), ctx) {
        Ok(checked) => assert_eq!(checked, record, "recheck changed the record"),
        Err(e) => {
            // Every refusal can be explained (receipts carry these).
            let _ = (e.code(), e.message_vi(), e.to_string(), e.violations());
        }
    }
}

/// `text` as a record typed by an officer.
fn input_record(text: &str, data: &[u8], ctx: &ValidationContext<'_>) {
    let by_text = validate_text(text, ctx);
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        assert!(
            matches!(by_text, Err(TextError::Syntax(_))),
            "validate_text accepted text serde_json cannot parse: {by_text:?}"
        );
        return;
    };
    let by_value = validate(&value, ctx);
    match (&by_value, &by_text) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "validate and validate_text clean differently"),
        (Err(a), Err(TextError::Invalid(b))) => {
            assert_eq!(a, b, "validate and validate_text explain differently")
        }
        _ => panic!("validate and validate_text disagree: {by_value:?} / {by_text:?}"),
    }
    match by_value {
        Ok(body) => valid_body(body, data, ctx),
        Err(violations) => {
            assert!(!violations.is_empty(), "refused without a reason");
            for v in &violations {
                assert!(v.path.starts_with('$'), "path {:?}", v.path);
                assert!(!v.code.is_empty());
            }
        }
    }
}

/// A body `validate` accepted.
fn valid_body(body: RecordBody, data: &[u8], ctx: &ValidationContext<'_>) {
    let fast = encode_body(&body);
    let generic = encode_body_generic(&body);
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&generic),
        "encode_body and the generic RFC 8785 writer differ"
    );
    // Envelope values from the input, so sequence numbers and IDs vary.
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let record = Record {
        record_id: Uuid::from_u64_pair(seed, !seed),
        device_id: Uuid::from_u64_pair(!seed, seed.rotate_left(17)),
        device_seq: seed.max(1),
        enrolled_at: *NOW,
        body,
    };
    let bytes = encode_record(&record);
    let decoded = decode_record(&bytes).unwrap_or_else(|e| {
        panic!(
            "the canonical bytes of a valid record do not decode ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(
        decoded, record,
        "the canonical bytes decode to another record"
    );
    assert_eq!(encode_record(&decoded), bytes, "encoding is not stable");
    body_sits_in_envelope(&record.body, &bytes);
    // What the laptop accepted, central accepts: re-validating the stored
    // body gives the very same body.
    if let Err(e) = recheck(&bytes, &ContentHash::of(&bytes), ctx) {
        panic!(
            "recheck refuses a record validate accepted ({e}; {:?}): {}",
            e.violations(),
            String::from_utf8_lossy(&bytes)
        );
    }
    // ... and keeps accepting it later (a bundle reaches central weeks
    // after the visit; a record that passes once passes whenever checked).
    let later = ValidationContext {
        now: ctx.now + chrono::Duration::days(3653),
        ..*ctx
    };
    if let Err(e) = recheck(&bytes, &ContentHash::of(&bytes), &later) {
        panic!(
            "recheck ten years later refuses a valid record ({e}; {:?}): {}",
            e.violations(),
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// The body's canonical bytes sit between `{"body":` and `,"device_id":`
/// (how the body hash is taken, spec section 5).
fn body_sits_in_envelope(body: &RecordBody, record: &[u8]) {
    let body = encode_body(body);
    assert!(record.starts_with(ENVELOPE_PREFIX));
    let rest = &record[ENVELOPE_PREFIX.len()..];
    assert!(
        rest.starts_with(&body),
        "the body is not the envelope's first member"
    );
    assert!(rest[body.len()..].starts_with(b",\"device_id\":"));
}

// ---- recipes: canonical vector inputs, changed ----

fn changed_vector(u: &mut Unstructured<'_>) -> Result<()> {
    let mut input = u.choose(&BASES)?.clone();
    let clock = *u.choose(&*CLOCKS)?;
    for _ in 0..u.int_in_range(1u8..=4)? {
        change(u, &mut input)?;
    }
    let text = if u.arbitrary()? {
        serde_json::to_string_pretty(&input)
    } else {
        serde_json::to_string(&input)
    }
    .expect("a Value serialises");
    let ctx = ValidationContext::new(&UNITS, clock);
    input_record(&text, text.as_bytes(), &ctx);
    Ok(())
}

/// JSON pointers of every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                pointers(
                    child,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Members a record (or one of its parts) may have, and some it may not.
const KEYS: &[&str] = &[
    "attachments",
    "biometric_exemptions",
    "kind",
    "citizen",
    "visit",
    "officer_id",
    "eid_level",
    "under_14_request",
    "supersedes",
    "driver_license",
    "correction",
    "outcome",
    "personal_id",
    "full_name",
    "date_of_birth",
    "sex",
    "phone",
    "permanent_address",
    "current_address",
    "unit_code",
    "detail",
    "place",
    "reason",
    "at",
    "number",
    "fields",
    "note",
    "result",
    "record_id",
    "media_type",
    "sha256",
    "size",
    "finger",
    "body",
    "v",
    "",
];

/// Values validation gives meaning to, near-misses and hostile ones.
const STRINGS: &[&str] = &[
    "",
    " ",
    "id_card_application",
    "eid_activation",
    "eid_registration",
    "driver_license_link",
    "info_correction",
    "visit_outcome",
    "male",
    "female",
    "home",
    "hospital",
    "workplace",
    "mobile_point",
    "station",
    "boarding_house",
    "bedridden",
    "elderly",
    "disabled",
    "other",
    "worker",
    "temporary_resident",
    "enrolled",
    "moved",
    "not_home",
    "refused",
    "deceased",
    "living_elsewhere",
    "done_elsewhere",
    "face",
    "fingerprint_left_thumb",
    "fingerprint_right_index",
    "document",
    "left_thumb",
    "right_little",
    "amputated",
    "injured",
    "unreadable",
    "cannot_travel",
    "image/jpeg",
    "image/png",
    "image/jp2",
    "application/pdf",
    "full_name",
    "date_of_birth",
    "phone",
    "permanent_address",
    "current_address",
    "sex",
    "personal_id",
    "74",
    "725",
    "25972",
    "25975",
    "79",
    "26734",
    "66",
    "24133",
    "01",
    "00004",
    "99999",
    "074303001234",
    "001099012345",
    "079203000001",
    "074303001234 ",
    "0743030012345",
    "0912345678",
    "+84 912 345 678",
    "84912345678",
    "0283 123 456",
    "2003-05-14",
    "2012-02-29",
    "2013-02-29",
    "2026-11-22",
    "2026-11-23",
    "2012-11-22",
    "2008-11-22",
    "1900-01-01",
    "0000-01-01",
    "9999-12-31",
    "2003-5-14",
    "2025-09-25T09:30:00+07:00",
    "2026-11-22T03:05:00Z",
    "2026-11-22T03:05:01Z",
    "2026-11-22T10:00:00+07:00",
    "2025-09-25T09:30:00.999999999+14:00",
    "2025-09-25T09:30:00-12:00",
    "2025-09-25T09:30:00+23:59",
    "2025-09-25 09:30:00",
    "2025-09-25T24:00:00Z",
    "+275760-09-13T00:00:00Z",
    "CA-74-0012",
    "ca-74-0012",
    "{019A4F6E-3C21-7D4B-8E5F-000000000001}",
    "019a4f6e-3c21-7d4b-8e5f-000000000001",
    "00000000-0000-0000-0000-000000000000",
    "019a4f6e3c217d4b8e5f000000000001",
    "Nguyễn Thị Lan",
    "Nguye\u{0302}\u{0303}n",
    "A",
    "'",
    "-",
    "Đ",
    "\u{0}",
    "\u{7f}",
    "\u{200b}",
    "\u{feff}",
    "\u{3000}",
    "\u{a0}x\u{a0}",
    "a\tb\nc\rd",
    "\u{10ffff}",
    "e\u{301}\u{301}\u{301}",
    "\u{1f600}",
];

fn some_value(u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=12)? {
        0..=3 => Value::String((*u.choose(STRINGS)?).to_owned()),
        4 => Value::String(u.arbitrary()?),
        5 => Value::String(long_string(u)?),
        6 => json!(u.choose(&[0i64, 1, 2, 3, 14, 18, -1, 9_007_199_254_740_993])?),
        7 => json!(u.arbitrary::<u64>()?),
        8 => json!(u.choose(&[0.5f64, 1.0, -0.0, 1e300, 2.0])?),
        9 => Value::Bool(u.arbitrary()?),
        10 => Value::Null,
        11 if depth < 3 => {
            let mut items = Vec::new();
            for _ in 0..u.int_in_range(0u8..=3)? {
                items.push(some_value(u, depth + 1)?);
            }
            Value::Array(items)
        }
        _ if depth < 3 => attachment_or_exemption(u)?,
        _ => json!({}),
    })
}

/// A string of about the length limits (names 100, texts 300 characters).
fn long_string(u: &mut Unstructured<'_>) -> Result<String> {
    let len = *u.choose(&[99usize, 100, 101, 299, 300, 301, 1000])?;
    let unit = *u.choose(&["a", "ư", "e\u{301}", " ", "1"])?;
    Ok(unit.repeat(len))
}

fn attachment_or_exemption(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(if u.arbitrary()? {
        json!({
            "kind": *u.choose(STRINGS)?,
            "media_type": *u.choose(&["image/jpeg", "image/png", "image/jp2", "application/pdf", "text/plain"])?,
            "sha256": hex::encode(u.arbitrary::<[u8; 32]>()?),
            "size": u.arbitrary::<u64>()? % 20_000_000,
        })
    } else {
        json!({
            "finger": *u.choose(STRINGS)?,
            "reason": *u.choose(&["amputated", "injured", "unreadable", "other", ""])?,
            "note": *u.choose(STRINGS)?,
        })
    })
}

/// Characters text cleaning has rules for.
const CHARS: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    '-',
    '\'',
    '.',
    '"',
    '\\',
    '\t',
    '\n',
    '\r',
    '\u{0}',
    '\u{7f}',
    '\u{a0}',
    '\u{2003}',
    '\u{3000}',
    '\u{200b}',
    '\u{200d}',
    '\u{feff}',
    '\u{301}',
    '\u{302}',
    '\u{323}',
    'Đ',
    'đ',
    'ư',
    'Ơ',
    'ệ',
    'ﬁ',
    'Å',
    '\u{1f600}',
    '\u{10ffff}',
];

fn edit_string(u: &mut Unstructured<'_>, s: &mut String) -> Result<()> {
    let boundaries: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    let at = *u.choose(&boundaries)?;
    match u.int_in_range(0u8..=5)? {
        0 => s.insert(at, *u.choose(CHARS)?),
        1 => {
            if let Some(c) = s[at..].chars().next() {
                s.replace_range(at..at + c.len_utf8(), "");
            }
        }
        2 => s.truncate(at),
        3 => *s = s.to_uppercase(),
        4 => *s = format!("{s}{s}"),
        _ => {
            let c = *u.choose(CHARS)?;
            *s = format!("{c}{s}{c}");
        }
    }
    Ok(())
}

fn change(u: &mut Unstructured<'_>, input: &mut Value) -> Result<()> {
    let mut all = Vec::new();
    pointers(input, String::new(), &mut all);
    let at = u.choose(&all)?.clone();
    let Some(target) = input.pointer_mut(&at) else {
        return Ok(());
    };
    match (u.int_in_range(0u8..=4)?, target) {
        (0, Value::String(s)) => edit_string(u, s)?,
        (1, Value::Object(map)) => {
            let key = if u.ratio(1u8, 8)? {
                u.arbitrary::<String>()?
            } else {
                (*u.choose(KEYS)?).to_owned()
            };
            let value = some_value(u, 0)?;
            map.insert(key, value);
        }
        (2, Value::Object(map)) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            map.remove(u.choose(&keys)?);
        }
        (3, Value::Array(items)) => {
            if items.is_empty() || u.arbitrary()? {
                items.push(some_value(u, 1)?);
            } else {
                let i = u.choose_index(items.len())?;
                let copy = items[i].clone();
                items.insert(i, copy);
            }
        }
        (_, target) => *target = some_value(u, 0)?,
    }
    Ok(())
}
