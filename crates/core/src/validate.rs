//! Validation: a JSON record as typed by an officer (or sent by the app)
//! becomes a cleaned [`RecordBody`], or every rule it breaks is reported
//! with its JSON path. Correct, complete, clean, live.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, SubsecRound, Timelike, Utc};
use std::borrow::Cow;

use serde_json::{Map, Number, Value};
use uuid::Uuid;

use crate::personal_id::{self, PersonalIdProblem};
use crate::record::{
    Address, BiometricPolicy, Citizen, Correction, CorrectionField, DriverLicense, EidLevel,
    RecordBody, RecordKind, Sex, Visit, VisitPlace, VisitReason,
};
use crate::text::{self, NameProblem};
use crate::units::Units;
use crate::violation::Violation;

mod attachments;
mod outcome;
pub use attachments::missing_biometrics;

/// Age from which an identity card is mandatory (Identity Law 26/2023/QH15).
pub const CARD_MIN_AGE: u32 = 14;
/// Minimum age to hold a driver's licence.
pub const LICENSE_MIN_AGE: u32 = 18;
/// How far in the future a visit time may lie (clocks of laptop and tablet
/// differ a little); anything later is refused as a future date.
pub const FUTURE_TOLERANCE_SECS: i64 = 300;
/// Longest free-text field (address detail, correction and outcome note), in characters.
pub const MAX_TEXT_CHARS: usize = 300;
/// Vietnam's offset, used when a date has no offset of its own.
pub fn vietnam_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).unwrap_or(Utc.fix())
}

/// What validation needs from outside: the loaded units and the time now
/// (passed in, so the core stays free of clocks).
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext<'a> {
    pub units: &'a Units,
    pub now: DateTime<Utc>,
    /// Which biometrics an `id_card_application` must carry here.
    pub biometrics: BiometricPolicy,
}

impl<'a> ValidationContext<'a> {
    /// A context that requires no biometrics.
    pub fn new(units: &'a Units, now: DateTime<Utc>) -> ValidationContext<'a> {
        ValidationContext {
            units,
            now,
            biometrics: BiometricPolicy::NONE,
        }
    }

    pub fn with_biometrics(self, biometrics: BiometricPolicy) -> ValidationContext<'a> {
        ValidationContext { biometrics, ..self }
    }
}

/// Validates and cleans one record given as JSON.
pub fn validate(input: &Value, ctx: &ValidationContext<'_>) -> Result<RecordBody, Vec<Violation>> {
    check(input, ctx)
}

/// Why [`validate_text`] refused a record: the text is not JSON, or the
/// record breaks rules.
#[derive(Debug)]
pub enum TextError {
    Syntax(serde_json::Error),
    Invalid(Vec<Violation>),
}

/// Validates one record given as JSON text; the same result as parsing it
/// into a [`Value`] and calling [`validate`], faster for valid records.
///
/// The record is first read into a light tree that borrows its strings
/// from `text` (no map or string allocations) and checked by the same
/// rules; only if that finds a problem is the text parsed again into a
/// [`Value`] and validated as before, so invalid records are explained
/// exactly as [`validate`] explains them.
pub fn validate_text(text: &str, ctx: &ValidationContext<'_>) -> Result<RecordBody, TextError> {
    if let Ok(light) = serde_json::from_str::<Light<'_>>(text)
        && let Ok(body) = check(&light, ctx)
    {
        return Ok(body);
    }
    match serde_json::from_str::<Value>(text) {
        Err(e) => Err(TextError::Syntax(e)),
        Ok(value) => validate(&value, ctx).map_err(TextError::Invalid),
    }
}

fn check<V: Json>(input: &V, ctx: &ValidationContext<'_>) -> Result<RecordBody, Vec<Violation>> {
    let mut v = Validator {
        ctx,
        out: Vec::new(),
    };
    let body = v.record(input);
    match body {
        Some(body) if v.out.is_empty() => Ok(body),
        _ => {
            if v.out.is_empty() {
                // Defensive: a missing piece always reports why; never store silently.
                v.push(
                    "$",
                    "record.incomplete",
                    "the record is incomplete",
                    "hồ sơ chưa đầy đủ",
                );
            }
            Err(v.out)
        }
    }
}

const RECORD_KEYS: &[&str] = &[
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
];
const CITIZEN_KEYS: &[&str] = &[
    "personal_id",
    "full_name",
    "date_of_birth",
    "sex",
    "phone",
    "permanent_address",
    "current_address",
];
const ADDRESS_KEYS: &[&str] = &["unit_code", "detail"];
const VISIT_KEYS: &[&str] = &["place", "reason", "unit_code", "at"];
const LICENSE_KEYS: &[&str] = &["number"];
const CORRECTION_KEYS: &[&str] = &["fields", "note"];

struct Validator<'c, 'u> {
    ctx: &'c ValidationContext<'u>,
    out: Vec<Violation>,
}

/// What the rules need from a parsed JSON value: implemented by
/// serde_json's [`Value`] and by [`Light`].
trait Json: Sized + std::fmt::Display {
    type Map: JsonMap<Self>;
    fn as_object(&self) -> Option<&Self::Map>;
    fn as_array(&self) -> Option<&[Self]>;
    fn as_str(&self) -> Option<&str>;
    fn as_bool(&self) -> Option<bool>;
    fn as_u64(&self) -> Option<u64>;
    fn is_null(&self) -> bool;
    /// English and Vietnamese names of the value's JSON type.
    fn type_names(&self) -> (&'static str, &'static str);
}

trait JsonMap<V> {
    /// The value of `key` (the last one, if the key is repeated).
    fn get(&self, key: &str) -> Option<&V>;
    fn keys(&self) -> impl Iterator<Item = &str>;
}

impl Json for Value {
    type Map = Map<String, Value>;
    fn as_object(&self) -> Option<&Self::Map> {
        Value::as_object(self)
    }
    fn as_array(&self) -> Option<&[Self]> {
        Value::as_array(self).map(Vec::as_slice)
    }
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }
    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }
    fn as_u64(&self) -> Option<u64> {
        Value::as_u64(self)
    }
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn type_names(&self) -> (&'static str, &'static str) {
        (type_name(self), type_name_vi(self))
    }
}

impl JsonMap<Value> for Map<String, Value> {
    fn get(&self, key: &str) -> Option<&Value> {
        Map::get(self, key)
    }
    fn keys(&self) -> impl Iterator<Item = &str> {
        Map::keys(self).map(String::as_str)
    }
}

/// A JSON value whose strings borrow from the input text when they can
/// (no escapes), with objects as lists of members: what validating a good
/// record needs, without the allocations of a [`Value`] tree.
#[derive(Debug, Clone, PartialEq)]
enum Light<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Light<'a>>),
    Object(Members<'a>),
}

#[derive(Debug, Clone, PartialEq)]
struct Members<'a>(Vec<(Cow<'a, str>, Light<'a>)>);

impl<'a> Json for Light<'a> {
    type Map = Members<'a>;
    fn as_object(&self) -> Option<&Self::Map> {
        match self {
            Light::Object(m) => Some(m),
            _ => None,
        }
    }
    fn as_array(&self) -> Option<&[Self]> {
        match self {
            Light::Array(a) => Some(a),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Light::String(s) => Some(s),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            Light::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn as_u64(&self) -> Option<u64> {
        match self {
            Light::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, Light::Null)
    }
    fn type_names(&self) -> (&'static str, &'static str) {
        let (en, vi) = match self {
            Light::Null => ("null", "null"),
            Light::Bool(_) => ("a boolean", "giá trị đúng/sai"),
            Light::Number(_) => ("a number", "một số"),
            Light::String(_) => ("a string", "một chuỗi"),
            Light::Array(_) => ("an array", "một danh sách"),
            Light::Object(_) => ("an object", "một đối tượng"),
        };
        (en, vi)
    }
}

impl<'a> JsonMap<Light<'a>> for Members<'a> {
    fn get(&self, key: &str) -> Option<&Light<'a>> {
        // serde_json keeps the last of repeated keys: so does this.
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }
}

/// Only ever shown for a record that is then validated again as a
/// [`Value`] (whose text is what the officer sees): a short form suffices.
impl std::fmt::Display for Light<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Light::Null => f.write_str("null"),
            Light::Bool(b) => write!(f, "{b}"),
            Light::Number(n) => write!(f, "{n}"),
            Light::String(s) => write!(f, "{:?}", s.as_ref()),
            Light::Array(_) => f.write_str("[...]"),
            Light::Object(_) => f.write_str("{...}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Light<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LightVisitor)
    }
}

struct LightVisitor;

impl<'de> serde::de::Visitor<'de> for LightVisitor {
    type Value = Light<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Light::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Light::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Light::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // As serde_json's Value: a non-finite number becomes null.
        Ok(Number::from_f64(v).map_or(Light::Null, Light::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Light::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Light::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Light::String(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Light::Null)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Light::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Light::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(8);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            members.push((key.0, map.next_value()?));
        }
        Ok(Light::Object(Members(members)))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// A JSON object being read, with its path.
struct Obj<'v, V: Json + 'v> {
    map: &'v V::Map,
    path: String,
}

/// A JSON path built only when a violation needs it: validating a good
/// record allocates no path strings.
#[derive(Clone, Copy)]
struct JPath<'a> {
    base: &'a str,
    key: &'a str,
}

impl JPath<'_> {
    fn render(self) -> String {
        if self.key.is_empty() {
            self.base.to_owned()
        } else {
            format!("{}.{}", self.base, self.key)
        }
    }
}

impl From<JPath<'_>> for String {
    fn from(p: JPath<'_>) -> String {
        p.render()
    }
}

impl<'v, V: Json + 'v> Obj<'v, V> {
    fn at(&self, key: &str) -> String {
        format!("{}.{}", self.path, key)
    }

    fn p<'s>(&'s self, key: &'s str) -> JPath<'s> {
        JPath {
            base: &self.path,
            key,
        }
    }

    /// The value of `key`, treating JSON null as absent.
    fn get(&self, key: &str) -> Option<&'v V> {
        self.map.get(key).filter(|v| !v.is_null())
    }
}

impl Validator<'_, '_> {
    fn push(
        &mut self,
        path: impl Into<String>,
        code: &'static str,
        en: impl Into<String>,
        vi: impl Into<String>,
    ) {
        self.out.push(Violation::new(path, code, en, vi));
    }

    fn object<'v, V: Json + 'v>(
        &mut self,
        value: &'v V,
        path: String,
        allowed: &[&str],
    ) -> Option<Obj<'v, V>> {
        let Some(map) = value.as_object() else {
            let (en, vi) = value.type_names();
            self.push(
                path,
                "type.object",
                format!("must be a JSON object, found {en}"),
                format!("phải là một đối tượng JSON, nhận được {vi}"),
            );
            return None;
        };
        for key in map.keys() {
            // Length first: most comparisons end there (hot path).
            if !allowed.iter().any(|a| a.len() == key.len() && *a == key) {
                self.push(
                    format!("{path}.{key}"),
                    "field.unknown",
                    format!("unknown field `{key}` (allowed: {})", allowed.join(", ")),
                    format!(
                        "trường `{key}` không hợp lệ (cho phép: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(Obj { map, path })
    }

    fn required<'v, V: Json + 'v>(&mut self, obj: &Obj<'v, V>, key: &str) -> Option<&'v V> {
        let value = obj.get(key);
        if value.is_none() {
            self.push(
                obj.at(key),
                "field.missing",
                format!("`{key}` is required"),
                format!("thiếu trường bắt buộc `{key}`"),
            );
        }
        value
    }

    fn string<'v, V: Json + 'v>(&mut self, value: &'v V, path: JPath<'_>) -> Option<&'v str> {
        let s = value.as_str();
        if s.is_none() {
            let (en, vi) = value.type_names();
            self.push(
                path,
                "type.string",
                format!("must be a string, found {en}"),
                format!("phải là chuỗi ký tự, nhận được {vi}"),
            );
        }
        s
    }

    fn req_str<'v, V: Json + 'v>(&mut self, obj: &Obj<'v, V>, key: &str) -> Option<&'v str> {
        let value = self.required(obj, key)?;
        self.string(value, obj.p(key))
    }

    fn opt_str<'v, V: Json + 'v>(&mut self, obj: &Obj<'v, V>, key: &str) -> Option<&'v str> {
        let value = obj.get(key)?;
        self.string(value, obj.p(key))
    }

    fn choice<T: Copy>(
        &mut self,
        raw: &str,
        path: JPath<'_>,
        parse: fn(&str) -> Option<T>,
        allowed: fn() -> String,
    ) -> Option<T> {
        let found = parse(raw.trim());
        if found.is_none() {
            // Built only for the message: valid records never pay for it.
            let allowed = allowed();
            self.push(
                path,
                "value.not_allowed",
                format!("`{raw}` is not one of: {allowed}"),
                format!("giá trị `{raw}` không hợp lệ; chọn một trong: {allowed}"),
            );
        }
        found
    }

    /// Cleans free text; refuses empty (when required), control characters
    /// and overlong values.
    fn text(&mut self, raw: &str, path: JPath<'_>, required: bool) -> Option<String> {
        let cleaned = text::clean(raw);
        if cleaned.is_empty() {
            if required {
                self.push(
                    path,
                    "text.empty",
                    "must not be empty",
                    "không được để trống",
                );
            }
            return None;
        }
        if text::has_control(&cleaned) {
            self.push(
                path,
                "text.control_character",
                "contains control characters",
                "chứa ký tự điều khiển không hợp lệ",
            );
            return None;
        }
        if cleaned.len() > MAX_TEXT_CHARS && cleaned.chars().count() > MAX_TEXT_CHARS {
            self.push(
                path,
                "text.too_long",
                format!("longer than {MAX_TEXT_CHARS} characters"),
                format!("dài quá {MAX_TEXT_CHARS} ký tự"),
            );
            return None;
        }
        Some(cleaned)
    }

    fn unit(&mut self, raw: &str, path: JPath<'_>) -> Option<String> {
        let code = raw.trim();
        if !self.ctx.units.contains(code) {
            self.push(
                path,
                "unit.unknown",
                format!("unit code `{code}` is not in the loaded unit list"),
                format!("mã đơn vị hành chính `{code}` không có trong danh mục đã nạp"),
            );
            return None;
        }
        Some(code.to_owned())
    }

    fn date(&mut self, raw: &str, path: JPath<'_>) -> Option<NaiveDate> {
        let parsed = parse_date(raw.trim());
        if parsed.is_none() {
            self.push(
                path,
                "date.invalid",
                format!("`{raw}` is not a valid date (YYYY-MM-DD)"),
                format!("`{raw}` không phải ngày hợp lệ (YYYY-MM-DD)"),
            );
        }
        parsed
    }

    fn record<V: Json>(&mut self, input: &V) -> Option<RecordBody> {
        let rec = self.object(input, "$".into(), RECORD_KEYS)?;
        let kind = self
            .req_str(&rec, "kind")
            .and_then(|k| self.choice(k, rec.p("kind"), RecordKind::parse, RecordKind::allowed));
        let visit = self
            .required(&rec, "visit")
            .and_then(|v| self.visit(v, rec.at("visit")));
        let wants_under_14 = rec
            .get("under_14_request")
            .and_then(V::as_bool)
            .unwrap_or(false);
        let citizen = self
            .required(&rec, "citizen")
            .and_then(|c| self.citizen(c, rec.at("citizen"), kind, visit.as_ref(), wants_under_14));
        let officer_id = self
            .req_str(&rec, "officer_id")
            .and_then(|s| self.officer_id(s, rec.p("officer_id")));
        let eid_level = self.eid_level(&rec, kind);
        let under_14_request = self.under_14(&rec, kind, citizen.as_ref(), visit.as_ref());
        let supersedes = self.supersedes(&rec);
        let driver_license = self.driver_license(&rec, kind);
        let correction = self.correction(&rec, kind);
        let home_unit = citizen
            .as_ref()
            .map(|c| c.permanent_address.unit_code.as_str());
        let outcome = self.outcome(&rec, kind, home_unit);
        let exemptions = self.exemptions(&rec, kind);
        let attachments = self.attachments(&rec, kind, exemptions.as_deref().ok());
        Some(RecordBody {
            kind: kind?,
            citizen: citizen?,
            visit: visit?,
            officer_id: officer_id?,
            eid_level: eid_level.ok()?,
            under_14_request: under_14_request.ok()?,
            supersedes: supersedes.ok()?,
            driver_license: driver_license.ok()?,
            correction: correction.ok()?,
            outcome: outcome.ok()?,
            attachments: attachments.ok()?,
            biometric_exemptions: exemptions.ok()?,
        })
    }

    fn officer_id(&mut self, raw: &str, path: JPath<'_>) -> Option<String> {
        let id = raw.trim();
        let ok = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            self.push(
                path,
                "officer_id.invalid",
                "officer ID must be 1–32 letters, digits, '-', '_' or '.' (e.g. CA-74-0012)",
                "mã cán bộ phải gồm 1–32 chữ cái, chữ số, '-', '_' hoặc '.' (ví dụ CA-74-0012)",
            );
            return None;
        }
        Some(id.to_owned())
    }

    fn visit<V: Json>(&mut self, value: &V, path: String) -> Option<Visit> {
        let obj = self.object(value, path, VISIT_KEYS)?;
        let place = self
            .req_str(&obj, "place")
            .and_then(|p| self.choice(p, obj.p("place"), VisitPlace::parse, VisitPlace::allowed));
        let reason = match self.opt_str(&obj, "reason") {
            None => Ok(None),
            Some(r) => self
                .choice(r, obj.p("reason"), VisitReason::parse, VisitReason::allowed)
                .map(Some)
                .ok_or(()),
        };
        let unit_code = self
            .req_str(&obj, "unit_code")
            .and_then(|u| self.unit(u, obj.p("unit_code")));
        let at = self
            .req_str(&obj, "at")
            .and_then(|s| self.visit_time(s, obj.p("at")));
        Some(Visit {
            place: place?,
            reason: reason.ok()?,
            unit_code: unit_code?,
            at: at?,
        })
    }

    fn visit_time(&mut self, raw: &str, path: JPath<'_>) -> Option<DateTime<FixedOffset>> {
        let Ok(at) = DateTime::parse_from_rfc3339(raw.trim()) else {
            self.push(
                path,
                "datetime.invalid",
                format!("`{raw}` is not an RFC 3339 date-time with offset (e.g. 2023-09-25T09:30:00+07:00)"),
                format!("`{raw}` không phải thời điểm hợp lệ có múi giờ (ví dụ 2023-09-25T09:30:00+07:00)"),
            );
            return None;
        };
        // chrono reads second 60 as a leap second; the canonical form would
        // turn it into :59 and change what was captured: refuse it.
        if at.nanosecond() >= 1_000_000_000 {
            self.push(
                path,
                "datetime.invalid",
                format!("`{raw}` has second 60, which is not a valid time here"),
                format!("`{raw}` có giây thứ 60, không phải thời điểm hợp lệ"),
            );
            return None;
        }
        let at = at.trunc_subsecs(0);
        let limit = self.ctx.now + chrono::Duration::seconds(FUTURE_TOLERANCE_SECS);
        if at.with_timezone(&Utc) > limit {
            self.push(
                path,
                "date.future",
                format!("visit time {at} is in the future (check the laptop clock)"),
                format!("thời điểm tiếp xúc {at} ở tương lai (kiểm tra đồng hồ máy tính)"),
            );
            return None;
        }
        Some(at)
    }

    fn address<V: Json>(
        &mut self,
        value: &V,
        path: String,
        detail_required: bool,
    ) -> Option<Address> {
        let obj = self.object(value, path, ADDRESS_KEYS)?;
        let unit_code = self
            .req_str(&obj, "unit_code")
            .and_then(|u| self.unit(u, obj.p("unit_code")));
        let detail = if detail_required {
            self.req_str(&obj, "detail")
                .map(|d| self.text(d, obj.p("detail"), true))
        } else {
            Some(
                self.opt_str(&obj, "detail")
                    .and_then(|d| self.text(d, obj.p("detail"), false)),
            )
        };
        let detail = detail?;
        if detail_required && detail.is_none() {
            return None;
        }
        Some(Address {
            unit_code: unit_code?,
            detail,
        })
    }

    fn citizen<V: Json>(
        &mut self,
        value: &V,
        path: String,
        kind: Option<RecordKind>,
        visit: Option<&Visit>,
        under_14_request: bool,
    ) -> Option<Citizen> {
        let obj = self.object(value, path, CITIZEN_KEYS)?;
        let id_path = obj.p("personal_id");
        let personal_id = self
            .req_str(&obj, "personal_id")
            .map(|s| s.trim().to_owned());
        let full_name = self
            .req_str(&obj, "full_name")
            .and_then(|n| self.full_name(n, obj.p("full_name")));
        let sex = self
            .req_str(&obj, "sex")
            .and_then(|s| self.choice(s, obj.p("sex"), Sex::parse, Sex::allowed));
        let dob_path = obj.p("date_of_birth");
        let dob = self
            .req_str(&obj, "date_of_birth")
            .and_then(|d| self.date(d, dob_path))
            .and_then(|d| self.birth_date(d, dob_path, visit));
        let phone = self.phone(&obj, kind);
        let permanent_address = self
            .required(&obj, "permanent_address")
            .and_then(|a| self.address(a, obj.at("permanent_address"), true));
        let current_address = match obj.get("current_address") {
            None => Ok(None),
            Some(a) => self
                .address(a, obj.at("current_address"), false)
                .map(Some)
                .ok_or(()),
        };

        let mut id_ok = false;
        if let Some(id) = &personal_id {
            let before = self.out.len();
            self.personal_id(id, id_path, dob, sex);
            id_ok = self.out.len() == before;
        }
        if let (Some(kind), Some(dob), Some(visit)) = (kind, dob, visit) {
            self.age_rules(&obj, kind, dob, visit, under_14_request);
        }
        let personal_id = personal_id.filter(|_| id_ok)?;
        Some(Citizen {
            personal_id,
            full_name: full_name?,
            date_of_birth: dob?,
            sex: sex?,
            phone: phone.ok()?,
            permanent_address: permanent_address?,
            current_address: current_address.ok()?,
        })
    }

    fn full_name(&mut self, raw: &str, path: JPath<'_>) -> Option<String> {
        let cleaned = text::clean(raw);
        match text::check_name(&cleaned) {
            Ok(()) => Some(cleaned),
            Err(problem) => {
                let (code, en, vi) = match problem {
                    NameProblem::Empty => (
                        "name.empty",
                        "the name is empty".to_owned(),
                        "họ và tên đang để trống".to_owned(),
                    ),
                    NameProblem::InvalidCharacter(c) => (
                        "name.invalid_character",
                        format!("the name contains `{c}`, which is not a letter"),
                        format!("họ và tên chứa ký tự `{c}` không phải chữ cái"),
                    ),
                    NameProblem::NoLetter => (
                        "name.no_letter",
                        "the name has no letters".to_owned(),
                        "họ và tên không có chữ cái nào".to_owned(),
                    ),
                    NameProblem::TooLong => (
                        "name.too_long",
                        format!(
                            "the name is longer than {} characters",
                            text::MAX_NAME_CHARS
                        ),
                        format!("họ và tên dài quá {} ký tự", text::MAX_NAME_CHARS),
                    ),
                };
                self.push(path, code, en, vi);
                None
            }
        }
    }

    fn birth_date(
        &mut self,
        dob: NaiveDate,
        path: JPath<'_>,
        visit: Option<&Visit>,
    ) -> Option<NaiveDate> {
        let today = self.ctx.now.with_timezone(&vietnam_offset()).date_naive();
        if dob > today {
            self.push(
                path,
                "date.future",
                format!("date of birth {dob} is in the future"),
                format!("ngày sinh {dob} ở tương lai"),
            );
            return None;
        }
        if let Some(visit) = visit
            && dob > visit.at.date_naive()
        {
            self.push(
                path,
                "date.birth_after_visit",
                format!(
                    "date of birth {dob} is after the visit date {}",
                    visit.at.date_naive()
                ),
                format!(
                    "ngày sinh {dob} sau ngày tiếp xúc {}",
                    visit.at.date_naive()
                ),
            );
            return None;
        }
        if dob.year() < 1900 {
            self.push(
                path,
                "date.birth_too_early",
                format!("date of birth {dob} is before 1900"),
                format!("ngày sinh {dob} trước năm 1900"),
            );
            return None;
        }
        Some(dob)
    }

    fn personal_id(&mut self, id: &str, path: JPath<'_>, dob: Option<NaiveDate>, sex: Option<Sex>) {
        let problems = match (dob, sex) {
            (Some(dob), Some(sex)) => personal_id::check_consistency(id, dob, sex),
            _ => personal_id::check_format(id).err().into_iter().collect(),
        };
        for p in problems {
            match p {
                PersonalIdProblem::Format => self.push(
                    path,
                    "personal_id.format",
                    "the personal ID number must be exactly 12 digits",
                    "số định danh cá nhân phải gồm đúng 12 chữ số",
                ),
                PersonalIdProblem::UnknownProvince(code) => self.push(
                    path,
                    "personal_id.province",
                    format!("`{code}` (first 3 digits) is not one of the 63 province codes"),
                    format!("`{code}` (3 chữ số đầu) không phải mã tỉnh hợp lệ trong 63 mã tỉnh"),
                ),
                PersonalIdProblem::CenturySex { digit, expected } => self.push(
                    path,
                    "personal_id.century_sex_mismatch",
                    format!("4th digit is {digit} but sex and birth century give {expected}"),
                    format!(
                        "chữ số thứ 4 là {digit} nhưng giới tính và thế kỷ sinh ứng với {expected}"
                    ),
                ),
                PersonalIdProblem::Year { found, expected } => self.push(
                    path,
                    "personal_id.year_mismatch",
                    format!("digits 5–6 are {found} but the birth year ends in {expected}"),
                    format!("chữ số thứ 5–6 là {found} nhưng năm sinh kết thúc bằng {expected}"),
                ),
            }
        }
    }

    fn age_rules<V: Json>(
        &mut self,
        obj: &Obj<'_, V>,
        kind: RecordKind,
        dob: NaiveDate,
        visit: &Visit,
        under_14_request: bool,
    ) {
        let age = visit.at.date_naive().years_since(dob).unwrap_or(0);
        let path = obj.p("date_of_birth");
        if kind == RecordKind::IdCardApplication && age < CARD_MIN_AGE && !under_14_request {
            self.push(
                path,
                "age.under_14",
                format!("the citizen is {age} on the visit date; an identity card application under {CARD_MIN_AGE} needs `under_14_request: true`"),
                format!("công dân {age} tuổi vào ngày tiếp xúc; hồ sơ cấp căn cước cho người dưới {CARD_MIN_AGE} tuổi cần `under_14_request: true` (theo đề nghị)"),
            );
        }
        if kind == RecordKind::DriverLicenseLink && age < LICENSE_MIN_AGE {
            self.push(
                path,
                "age.under_18_license",
                format!(
                    "the citizen is {age}; a driver's licence needs age {LICENSE_MIN_AGE} or more"
                ),
                format!(
                    "công dân {age} tuổi; giấy phép lái xe cần từ {LICENSE_MIN_AGE} tuổi trở lên"
                ),
            );
        }
    }

    fn phone<V: Json>(
        &mut self,
        obj: &Obj<'_, V>,
        kind: Option<RecordKind>,
    ) -> Result<Option<String>, ()> {
        let path = obj.p("phone");
        let Some(raw) = self.opt_str(obj, "phone") else {
            if obj.get("phone").is_some() {
                return Err(());
            }
            if kind == Some(RecordKind::EidRegistration) {
                self.push(
                    path,
                    "phone.required",
                    "an e-ID registration needs the citizen's mobile number",
                    "đăng ký tài khoản định danh điện tử cần số điện thoại di động của công dân",
                );
                return Err(());
            }
            return Ok(None);
        };
        match normalise_phone(raw) {
            Some(p) => Ok(Some(p)),
            None => {
                self.push(
                    path,
                    "phone.invalid",
                    format!("`{raw}` is not a Vietnamese mobile number (10 digits starting 03, 05, 07, 08 or 09)"),
                    format!("`{raw}` không phải số di động Việt Nam (10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09)"),
                );
                Err(())
            }
        }
    }

    fn eid_level<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
    ) -> Result<Option<EidLevel>, ()> {
        let path = rec.p("eid_level");
        match rec.get("eid_level") {
            None if kind == Some(RecordKind::EidRegistration) => {
                self.push(
                    path,
                    "eid_level.required",
                    "an e-ID registration needs `eid_level` 1 or 2",
                    "đăng ký tài khoản định danh điện tử cần `eid_level` là 1 hoặc 2",
                );
                Err(())
            }
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(1) => Ok(Some(EidLevel::One)),
                Some(2) => Ok(Some(EidLevel::Two)),
                _ => {
                    self.push(
                        path,
                        "eid_level.invalid",
                        format!("`eid_level` must be the number 1 or 2, found {v}"),
                        format!("`eid_level` phải là số 1 hoặc 2, nhận được {v}"),
                    );
                    Err(())
                }
            },
        }
    }

    fn under_14<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
        citizen: Option<&Citizen>,
        visit: Option<&Visit>,
    ) -> Result<bool, ()> {
        let path = rec.p("under_14_request");
        let Some(value) = rec.get("under_14_request") else {
            return Ok(false);
        };
        let Some(flag) = value.as_bool() else {
            self.push(
                path,
                "type.boolean",
                "must be true or false",
                "phải là true hoặc false",
            );
            return Err(());
        };
        if !flag {
            return Ok(false);
        }
        if kind.is_some_and(|k| k != RecordKind::IdCardApplication) {
            self.push(
                path,
                "under_14_request.not_applicable",
                "`under_14_request` applies only to id_card_application records",
                "`under_14_request` chỉ dùng cho hồ sơ cấp căn cước",
            );
            return Err(());
        }
        if let (Some(c), Some(v)) = (citizen, visit)
            && v.at.date_naive().years_since(c.date_of_birth).unwrap_or(0) >= CARD_MIN_AGE
        {
            self.push(
                path,
                "under_14_request.not_applicable",
                format!("the citizen is {CARD_MIN_AGE} or older: remove `under_14_request`"),
                format!("công dân đã đủ {CARD_MIN_AGE} tuổi: bỏ `under_14_request`"),
            );
            return Err(());
        }
        Ok(true)
    }

    fn supersedes<V: Json>(&mut self, rec: &Obj<'_, V>) -> Result<Option<Uuid>, ()> {
        let path = rec.p("supersedes");
        let Some(raw) = self.opt_str(rec, "supersedes") else {
            return if rec.get("supersedes").is_some() {
                Err(())
            } else {
                Ok(None)
            };
        };
        match Uuid::parse_str(raw.trim()) {
            Ok(id) => Ok(Some(id)),
            Err(_) => {
                self.push(
                    path,
                    "supersedes.invalid",
                    format!("`{raw}` is not a record ID (UUID)"),
                    format!("`{raw}` không phải mã hồ sơ hợp lệ (UUID)"),
                );
                Err(())
            }
        }
    }

    fn not_applicable(&mut self, path: String, field: &str, kind: RecordKind) {
        self.push(
            path,
            "field.not_applicable",
            format!("`{field}` does not apply to {kind} records"),
            format!(
                "trường `{field}` không áp dụng cho hồ sơ {}",
                kind.label_vi()
            ),
        );
    }

    /// An object that belongs to one record kind (`driver_license` to
    /// driver_license_link, `correction` to info_correction, `outcome` to
    /// visit_outcome): required
    /// there, refused elsewhere. `Ok(None)` when absent and not required.
    fn kind_specific<'v, V: Json + 'v>(
        &mut self,
        rec: &Obj<'v, V>,
        key: &'static str,
        kind: Option<RecordKind>,
        owner: RecordKind,
        allowed: &[&str],
        missing: (&str, &str),
    ) -> Result<Option<Obj<'v, V>>, ()> {
        let path = rec.p(key);
        let Some(value) = rec.get(key) else {
            if kind == Some(owner) {
                self.push(path, "field.missing", missing.0, missing.1);
                return Err(());
            }
            return Ok(None);
        };
        if let Some(k) = kind.filter(|k| *k != owner) {
            self.not_applicable(path.render(), key, k);
            return Err(());
        }
        self.object(value, path.render(), allowed)
            .map(Some)
            .ok_or(())
    }

    fn driver_license<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
    ) -> Result<Option<DriverLicense>, ()> {
        let Some(obj) = self.kind_specific(
            rec,
            "driver_license",
            kind,
            RecordKind::DriverLicenseLink,
            LICENSE_KEYS,
            (
                "`driver_license` is required for driver_license_link",
                "hồ sơ tích hợp giấy phép lái xe cần trường `driver_license`",
            ),
        )?
        else {
            return Ok(None);
        };
        let number = self.req_str(&obj, "number").ok_or(())?.trim().to_owned();
        if number.len() != 12 || !number.bytes().all(|b| b.is_ascii_digit()) {
            self.push(
                obj.at("number"),
                "driver_license.number",
                "the driver's licence number must be 12 digits",
                "số giấy phép lái xe phải gồm 12 chữ số",
            );
            return Err(());
        }
        Ok(Some(DriverLicense { number }))
    }

    fn correction<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
    ) -> Result<Option<Correction>, ()> {
        let Some(obj) = self.kind_specific(
            rec,
            "correction",
            kind,
            RecordKind::InfoCorrection,
            CORRECTION_KEYS,
            (
                "`correction` (fields and note) is required for info_correction",
                "hồ sơ điều chỉnh thông tin cần trường `correction` (các trường sai và ghi chú)",
            ),
        )?
        else {
            return Ok(None);
        };
        let fields_path = obj.at("fields");
        let mut fields = Vec::new();
        let mut ok = true;
        match self.required(&obj, "fields").map(|v| v.as_array()) {
            Some(Some(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{fields_path}[{i}]");
                    let p = JPath { base: &p, key: "" };
                    match self.string(item, p).and_then(|s| {
                        self.choice(s, p, CorrectionField::parse, CorrectionField::allowed)
                    }) {
                        Some(f) if !fields.contains(&f) => fields.push(f),
                        Some(_) => {}
                        None => ok = false,
                    }
                }
            }
            Some(_) => {
                self.push(
                    fields_path,
                    "correction.fields",
                    "`fields` must be a non-empty list of field names",
                    "`fields` phải là danh sách (không rỗng) các trường cần điều chỉnh",
                );
                ok = false;
            }
            None => ok = false,
        }
        fields.sort();
        let note = self
            .req_str(&obj, "note")
            .and_then(|n| self.text(n, obj.p("note"), true));
        match (ok, note) {
            (true, Some(note)) => Ok(Some(Correction { fields, note })),
            _ => Err(()),
        }
    }
}

/// Parses exactly `YYYY-MM-DD` (a real calendar date).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)
}

/// Normalises a Vietnamese mobile number to its 10-digit national form:
/// spaces, dots and hyphens are dropped and `+84`/`84` becomes `0`.
/// Returns `None` unless the result is `0[35789]` followed by 8 digits.
pub fn normalise_phone(raw: &str) -> Option<String> {
    let digits: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let national = if let Some(rest) = digits.strip_prefix("+84") {
        format!("0{rest}")
    } else if digits.len() == 11 && digits.starts_with("84") {
        format!("0{}", &digits[2..])
    } else {
        digits
    };
    let b = national.as_bytes();
    let ok = b.len() == 10
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'0'
        && matches!(b[1], b'3' | b'5' | b'7' | b'8' | b'9');
    ok.then_some(national)
}

fn type_name_vi(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "giá trị đúng/sai",
        Value::Number(_) => "một số",
        Value::String(_) => "một chuỗi",
        Value::Array(_) => "một danh sách",
        Value::Object(_) => "một đối tượng",
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
