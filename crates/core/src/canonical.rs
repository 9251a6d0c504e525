//! The canonical form of a record: one byte encoding, made once when the
//! record is stored and carried as bytes from then on. Its SHA-256 is the
//! record's content hash. Specified in `proto/canonical-v1.md`.
//!
//! The encoding is RFC 8785 (JSON Canonicalization Scheme) applied to a
//! fixed document shape: object keys sorted, no insignificant whitespace,
//! only strings, integers, booleans, arrays and objects; absent optional
//! fields are omitted (never `null`), so adding an optional field later does
//! not change the hash of older records.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::record::{
    Address, Attachment, AttachmentKind, BiometricExemption, Citizen, Correction, CorrectionField,
    DriverLicense, EidLevel, ExemptionReason, Finger, MediaType, OutcomeKind, Record, RecordBody,
    RecordKind, Sex, Visit, VisitOutcome, VisitPlace, VisitReason,
};

/// Version of the canonical document shape (the `v` field).
pub const CANONICAL_VERSION: u64 = 1;

/// SHA-256 of canonical bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<ContentHash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(ContentHash(out))
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why bytes are not a canonical record.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    #[error("not a canonical record document: {0}")]
    Shape(#[source] serde_json::Error),
    #[error("unsupported canonical version {0} (this build reads version {CANONICAL_VERSION})")]
    Version(u64),
    #[error("invalid {field}: `{value}`")]
    Field { field: &'static str, value: String },
    #[error("the bytes decode to a record but are not in canonical form")]
    NotCanonical,
    #[error("a float is not allowed in a canonical document")]
    Float,
}

/// The canonical bytes of a whole record (envelope and body).
pub fn encode_record(record: &Record) -> Vec<u8> {
    encode_envelope(
        &record.record_id,
        &record.device_id,
        record.device_seq,
        &record.enrolled_at,
        &encode_body(&record.body),
    )
}

/// Wraps already-canonical body bytes in the record envelope. Equal to
/// [`encode_record`] on the same record, without re-encoding the body: the
/// store encodes each body once. Keys in RFC 8785 order: `body`,
/// `device_id`, `device_seq`, `enrolled_at`, `record_id`, `v`; none of the
/// envelope strings needs escaping.
pub fn encode_envelope(
    record_id: &Uuid,
    device_id: &Uuid,
    device_seq: u64,
    enrolled_at: &DateTime<Utc>,
    body: &[u8],
) -> Vec<u8> {
    Envelope::new(device_id, enrolled_at).encode(record_id, device_seq, body)
}

/// The parts of the envelope shared by every record of one enroll batch
/// (device and time), formatted once.
#[derive(Debug, Clone)]
pub struct Envelope {
    device_id: [u8; 36],
    enrolled_at: std::sync::Arc<str>,
}

impl Envelope {
    pub fn new(device_id: &Uuid, enrolled_at: &DateTime<Utc>) -> Envelope {
        let mut buf = [0u8; 36];
        device_id.hyphenated().encode_lower(&mut buf);
        Envelope {
            device_id: buf,
            enrolled_at: format_utc_millis(enrolled_at).into(),
        }
    }

    /// The `enrolled_at` text (UTC, milliseconds).
    pub fn enrolled_at(&self) -> &std::sync::Arc<str> {
        &self.enrolled_at
    }

    /// The device ID, as it appears in the canonical bytes.
    pub fn device_id(&self) -> &[u8; 36] {
        &self.device_id
    }

    /// Canonical record bytes; equal to [`encode_envelope`].
    pub fn encode(&self, record_id: &Uuid, device_seq: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 180);
        out.extend_from_slice(ENVELOPE_PREFIX);
        out.extend_from_slice(body);
        self.finish(&mut out, record_id, device_seq);
        out
    }

    /// Appends what follows the body: `out` must hold [`ENVELOPE_PREFIX`]
    /// and the canonical body (see [`encode_body_into`]).
    pub fn finish(&self, out: &mut Vec<u8>, record_id: &Uuid, device_seq: u64) {
        let mut id = [0u8; 36];
        record_id.hyphenated().encode_lower(&mut id);
        out.extend_from_slice(b",\"device_id\":\"");
        out.extend_from_slice(&self.device_id);
        out.extend_from_slice(b"\",\"device_seq\":");
        out.extend_from_slice(device_seq.to_string().as_bytes());
        out.extend_from_slice(b",\"enrolled_at\":\"");
        out.extend_from_slice(self.enrolled_at.as_bytes());
        out.extend_from_slice(b"\",\"record_id\":\"");
        out.extend_from_slice(&id);
        out.extend_from_slice(b"\",\"v\":");
        out.extend_from_slice(CANONICAL_VERSION.to_string().as_bytes());
        out.push(b'}');
    }
}

/// How every canonical record begins: the body is its first key.
pub const ENVELOPE_PREFIX: &[u8] = b"{\"body\":";

/// The canonical bytes of a body alone. Its hash identifies "the same
/// capture" regardless of record ID and sequence, which makes re-running an
/// interrupted bulk enroll safe.
///
/// Written directly, keys in RFC 8785 order, without building a JSON tree:
/// this runs once per record on the enroll hot path. A test checks it
/// against the generic [`write_jcs`] of the same document.
pub fn encode_body(body: &RecordBody) -> Vec<u8> {
    let mut out = Vec::with_capacity(640);
    encode_body_into(&mut out, body);
    out
}

/// Appends the canonical body to `out` (which may already hold
/// [`ENVELOPE_PREFIX`], so a whole record is built in one buffer).
pub fn encode_body_into(out: &mut Vec<u8>, body: &RecordBody) {
    let mut w = Writer(std::mem::take(out));
    let c = &body.citizen;
    w.raw(b"{");
    if !body.attachments.is_empty() {
        w.key_first("attachments");
        w.raw(b"[");
        for (i, a) in body.attachments.iter().enumerate() {
            if i > 0 {
                w.raw(b",");
            }
            w.raw(b"{\"kind\":");
            w.string(a.kind.as_str());
            w.key("media_type");
            w.string(a.media_type.as_str());
            w.key("sha256");
            w.string(&hex::encode(a.sha256));
            w.key("size");
            w.raw(a.size.to_string().as_bytes());
            w.raw(b"}");
        }
        w.raw(b"],");
    }
    if !body.biometric_exemptions.is_empty() {
        w.key_first("biometric_exemptions");
        w.raw(b"[");
        for (i, e) in body.biometric_exemptions.iter().enumerate() {
            if i > 0 {
                w.raw(b",");
            }
            w.raw(b"{\"finger\":");
            w.string(e.finger.as_str());
            if let Some(note) = &e.note {
                w.key("note");
                w.string(note);
            }
            w.key("reason");
            w.string(e.reason.as_str());
            w.raw(b"}");
        }
        w.raw(b"],");
    }
    w.raw(b"\"citizen\":{");
    if let Some(a) = &c.current_address {
        w.key_first("current_address");
        w.address(a);
        w.key("date_of_birth");
    } else {
        w.key_first("date_of_birth");
    }
    w.quoted_date(&c.date_of_birth);
    w.key("full_name");
    w.string(&c.full_name);
    w.key("permanent_address");
    w.address(&c.permanent_address);
    w.key("personal_id");
    w.string(&c.personal_id);
    if let Some(phone) = &c.phone {
        w.key("phone");
        w.string(phone);
    }
    w.key("sex");
    w.string(c.sex.as_str());
    w.raw(b"}");
    if let Some(corr) = &body.correction {
        w.key("correction");
        w.raw(b"{\"fields\":[");
        for (i, f) in corr.fields.iter().enumerate() {
            if i > 0 {
                w.raw(b",");
            }
            w.string(f.as_str());
        }
        w.raw(b"]");
        w.key("note");
        w.string(&corr.note);
        w.raw(b"}");
    }
    if let Some(dl) = &body.driver_license {
        w.key("driver_license");
        w.raw(b"{\"number\":");
        w.string(&dl.number);
        w.raw(b"}");
    }
    if let Some(level) = body.eid_level {
        w.key("eid_level");
        w.raw(if level == EidLevel::One { b"1" } else { b"2" });
    }
    w.key("kind");
    w.string(body.kind.as_str());
    w.key("officer_id");
    w.string(&body.officer_id);
    if let Some(o) = &body.outcome {
        w.key("outcome");
        w.outcome(o);
    }
    if let Some(sup) = &body.supersedes {
        w.key("supersedes");
        w.string(&sup.hyphenated().to_string());
    }
    if body.under_14_request {
        w.key("under_14_request");
        w.raw(b"true");
    }
    w.key("visit");
    w.raw(b"{\"at\":");
    w.quoted_visit_time(&body.visit.at);
    w.key("place");
    w.string(body.visit.place.as_str());
    if let Some(reason) = body.visit.reason {
        w.key("reason");
        w.string(reason.as_str());
    }
    w.key("unit_code");
    w.string(&body.visit.unit_code);
    w.raw(b"}}");
    *out = w.0;
}

/// Minimal writer for documents whose key order the caller guarantees.
struct Writer(Vec<u8>);

impl Writer {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, s: &str) {
        // serde_json's string escaping is RFC 8785's (see `write_jcs`);
        // writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, s);
    }

    /// Zero-padded decimal; only for the small non-negative numbers of dates.
    fn digits(&mut self, n: u32, width: usize) {
        let mut buf = [b'0'; 10];
        let mut i = buf.len();
        let mut n = n;
        while n > 0 && i > 0 {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let start = buf.len().saturating_sub(width).min(i);
        self.0.extend_from_slice(&buf[start..]);
    }

    fn date(&mut self, d: &NaiveDate) {
        self.digits(u32::try_from(d.year()).unwrap_or(0), 4);
        self.0.push(b'-');
        self.digits(d.month(), 2);
        self.0.push(b'-');
        self.digits(d.day(), 2);
    }

    /// `"YYYY-MM-DD"` (no escaping needed).
    fn quoted_date(&mut self, d: &NaiveDate) {
        self.0.push(b'"');
        self.date(d);
        self.0.push(b'"');
    }

    /// `YYYY-MM-DDTHH:MM:SS±HH:MM`: hand-formatted, chrono's strftime
    /// interpreter is slow on the hot path.
    fn visit_time(&mut self, at: &DateTime<FixedOffset>) {
        let local = at.naive_local();
        let offset = at.offset().local_minus_utc();
        self.date(&local.date());
        self.0.push(b'T');
        self.digits(local.hour(), 2);
        self.0.push(b':');
        self.digits(local.minute(), 2);
        self.0.push(b':');
        self.digits(local.second(), 2);
        self.0.push(if offset < 0 { b'-' } else { b'+' });
        let offset = offset.unsigned_abs();
        self.digits(offset / 3600, 2);
        self.0.push(b':');
        self.digits(offset % 3600 / 60, 2);
    }

    fn quoted_visit_time(&mut self, at: &DateTime<FixedOffset>) {
        self.0.push(b'"');
        self.visit_time(at);
        self.0.push(b'"');
    }

    fn key_first(&mut self, k: &str) {
        self.string(k);
        self.0.push(b':');
    }

    fn key(&mut self, k: &str) {
        self.0.push(b',');
        self.key_first(k);
    }

    /// Keys `detail`, `note`, `record_id`, `result`, `unit_code`: every
    /// optional member before `result` ends with a comma.
    fn outcome(&mut self, o: &VisitOutcome) {
        self.0.push(b'{');
        if let Some(detail) = &o.detail {
            self.key_first("detail");
            self.string(detail);
            self.0.push(b',');
        }
        if let Some(note) = &o.note {
            self.key_first("note");
            self.string(note);
            self.0.push(b',');
        }
        if let Some(id) = &o.record_id {
            let mut buf = [0u8; 36];
            self.key_first("record_id");
            self.0.push(b'"');
            self.0
                .extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
            self.0.extend_from_slice(b"\",");
        }
        self.key_first("result");
        self.string(o.result.as_str());
        if let Some(unit) = &o.unit_code {
            self.key("unit_code");
            self.string(unit);
        }
        self.0.push(b'}');
    }

    fn address(&mut self, a: &Address) {
        self.0.push(b'{');
        if let Some(detail) = &a.detail {
            self.key_first("detail");
            self.string(detail);
            self.key("unit_code");
        } else {
            self.key_first("unit_code");
        }
        self.string(&a.unit_code);
        self.0.push(b'}');
    }
}

/// The body through the generic path (serde document + [`write_jcs`]);
/// the reference [`encode_body`] is tested against.
pub fn encode_body_generic(body: &RecordBody) -> Vec<u8> {
    to_canonical_json(&BodyDoc::from(body))
}

/// Decodes canonical bytes, refusing anything that is not exactly what
/// [`encode_record`] would produce for the decoded record.
pub fn decode_record(bytes: &[u8]) -> Result<Record, CanonicalError> {
    let doc: RecordDoc = serde_json::from_slice(bytes).map_err(CanonicalError::Shape)?;
    if doc.v != CANONICAL_VERSION {
        return Err(CanonicalError::Version(doc.v));
    }
    let record = doc.into_record()?;
    if encode_record(&record) != bytes {
        return Err(CanonicalError::NotCanonical);
    }
    Ok(record)
}

fn to_canonical_json<T: Serialize>(doc: &T) -> Vec<u8> {
    // Serialising our own document types to a Value cannot fail (string
    // keys, no floats); an empty object would never match a hash.
    let value = serde_json::to_value(doc).unwrap_or(Value::Null);
    let mut out = Vec::with_capacity(512);
    // Only integers, strings and booleans occur in our documents.
    let _ = write_jcs(&value, &mut out);
    out
}

/// Writes `value` as RFC 8785 canonical JSON: keys sorted by UTF-16 code
/// units, no whitespace, strings escaped as ECMAScript `JSON.stringify`
/// does. Floats are refused (canonical documents use integers only).
pub fn write_jcs(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(CanonicalError::Float);
            }
        }
        // serde_json escapes exactly what RFC 8785 requires: `"`, `\`, and
        // controls (as \b \t \n \f \r or lowercase \u00xx); nothing else.
        Value::String(s) => out.extend_from_slice(Value::String(s.clone()).to_string().as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_jcs(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_jcs(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

// ---- document shape (what the bytes contain) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordDoc {
    v: u64,
    record_id: Uuid,
    device_id: Uuid,
    device_seq: u64,
    enrolled_at: String,
    body: BodyDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyDoc {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<AttachmentDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    biometric_exemptions: Vec<ExemptionDoc>,
    kind: RecordKind,
    citizen: CitizenDoc,
    visit: VisitDoc,
    officer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eid_level: Option<u8>,
    #[serde(default, skip_serializing_if = "is_false")]
    under_14_request: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    supersedes: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    driver_license: Option<LicenseDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correction: Option<CorrectionDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<OutcomeDoc>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CitizenDoc {
    personal_id: String,
    full_name: String,
    date_of_birth: String,
    sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    permanent_address: AddressDoc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_address: Option<AddressDoc>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressDoc {
    unit_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitDoc {
    place: VisitPlace,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<VisitReason>,
    unit_code: String,
    at: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseDoc {
    number: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectionDoc {
    fields: Vec<CorrectionField>,
    note: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeDoc {
    result: OutcomeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record_id: Option<Uuid>,
}

impl From<&VisitOutcome> for OutcomeDoc {
    fn from(o: &VisitOutcome) -> Self {
        OutcomeDoc {
            result: o.result,
            unit_code: o.unit_code.clone(),
            detail: o.detail.clone(),
            note: o.note.clone(),
            record_id: o.record_id,
        }
    }
}

impl OutcomeDoc {
    fn into_outcome(self) -> VisitOutcome {
        VisitOutcome {
            result: self.result,
            unit_code: self.unit_code,
            detail: self.detail,
            note: self.note,
            record_id: self.record_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentDoc {
    kind: String,
    media_type: MediaType,
    sha256: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionDoc {
    finger: Finger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    reason: ExemptionReason,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `2023-09-25T09:30:00+07:00`: whole seconds, numeric offset (`+00:00`, never `Z`).
pub fn format_visit_time(at: &DateTime<FixedOffset>) -> String {
    let mut w = Writer(Vec::with_capacity(25));
    w.visit_time(at);
    // Only ASCII digits and separators were written.
    String::from_utf8(w.0).unwrap_or_default()
}

/// `YYYY-MM-DD` (years 0–9999, which is all validation lets through).
pub fn format_date(d: &NaiveDate) -> String {
    let mut w = Writer(Vec::with_capacity(10));
    w.date(d);
    String::from_utf8(w.0).unwrap_or_default()
}

/// `2026-11-22T03:04:05.678Z`: UTC, milliseconds.
/// Context prefix of what a device signs for each record.
pub const RECORD_SIGNATURE_CONTEXT: &[u8; 19] = b"doorstep-record-v1\n";

/// The bytes a device signs (Ed25519) for a record: a context string and
/// the record's content hash. The signature travels beside the canonical
/// bytes, never inside them, so content hashes never change.
pub fn record_signing_bytes(hash: &ContentHash) -> [u8; 51] {
    let mut out = [0u8; 51];
    out[..19].copy_from_slice(RECORD_SIGNATURE_CONTEXT);
    out[19..].copy_from_slice(&hash.0);
    out
}

pub fn format_utc_millis(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<&Address> for AddressDoc {
    fn from(a: &Address) -> Self {
        AddressDoc {
            unit_code: a.unit_code.clone(),
            detail: a.detail.clone(),
        }
    }
}

impl From<&RecordBody> for BodyDoc {
    fn from(b: &RecordBody) -> Self {
        let c = &b.citizen;
        BodyDoc {
            kind: b.kind,
            citizen: CitizenDoc {
                personal_id: c.personal_id.clone(),
                full_name: c.full_name.clone(),
                date_of_birth: format_date(&c.date_of_birth),
                sex: c.sex,
                phone: c.phone.clone(),
                permanent_address: AddressDoc::from(&c.permanent_address),
                current_address: c.current_address.as_ref().map(AddressDoc::from),
            },
            visit: VisitDoc {
                place: b.visit.place,
                reason: b.visit.reason,
                unit_code: b.visit.unit_code.clone(),
                at: format_visit_time(&b.visit.at),
            },
            officer_id: b.officer_id.clone(),
            eid_level: b.eid_level.map(|l| l as u8),
            under_14_request: b.under_14_request,
            supersedes: b.supersedes,
            driver_license: b.driver_license.as_ref().map(|d| LicenseDoc {
                number: d.number.clone(),
            }),
            correction: b.correction.as_ref().map(|c| CorrectionDoc {
                fields: c.fields.clone(),
                note: c.note.clone(),
            }),
            outcome: b.outcome.as_ref().map(OutcomeDoc::from),
            attachments: b
                .attachments
                .iter()
                .map(|a| AttachmentDoc {
                    kind: a.kind.as_str().to_owned(),
                    media_type: a.media_type,
                    sha256: hex::encode(a.sha256),
                    size: a.size,
                })
                .collect(),
            biometric_exemptions: b
                .biometric_exemptions
                .iter()
                .map(|e| ExemptionDoc {
                    finger: e.finger,
                    note: e.note.clone(),
                    reason: e.reason,
                })
                .collect(),
        }
    }
}

impl AttachmentDoc {
    fn into_attachment(self) -> Result<Attachment, CanonicalError> {
        let kind = AttachmentKind::parse(&self.kind)
            .ok_or_else(|| field_err("attachments.kind", &self.kind))?;
        let mut sha256 = [0u8; 32];
        if self.sha256.len() != 64
            || self.sha256.bytes().any(|b| b.is_ascii_uppercase())
            || hex::decode_to_slice(&self.sha256, &mut sha256).is_err()
        {
            return Err(field_err("attachments.sha256", &self.sha256));
        }
        Ok(Attachment {
            kind,
            media_type: self.media_type,
            sha256,
            size: self.size,
        })
    }
}

fn field_err(field: &'static str, value: &str) -> CanonicalError {
    CanonicalError::Field {
        field,
        value: value.to_owned(),
    }
}

impl AddressDoc {
    fn into_address(self) -> Address {
        Address {
            unit_code: self.unit_code,
            detail: self.detail,
        }
    }
}

impl RecordDoc {
    fn into_record(self) -> Result<Record, CanonicalError> {
        let enrolled_at = DateTime::parse_from_rfc3339(&self.enrolled_at)
            .map_err(|_| field_err("enrolled_at", &self.enrolled_at))?
            .with_timezone(&Utc);
        let b = self.body;
        let c = b.citizen;
        let date_of_birth = NaiveDate::parse_from_str(&c.date_of_birth, "%Y-%m-%d")
            .map_err(|_| field_err("date_of_birth", &c.date_of_birth))?;
        let at = DateTime::parse_from_rfc3339(&b.visit.at)
            .map_err(|_| field_err("visit.at", &b.visit.at))?;
        let eid_level = match b.eid_level {
            None => None,
            Some(1) => Some(EidLevel::One),
            Some(2) => Some(EidLevel::Two),
            Some(n) => return Err(field_err("eid_level", &n.to_string())),
        };
        Ok(Record {
            record_id: self.record_id,
            device_id: self.device_id,
            device_seq: self.device_seq,
            enrolled_at,
            body: RecordBody {
                kind: b.kind,
                citizen: Citizen {
                    personal_id: c.personal_id,
                    full_name: c.full_name,
                    date_of_birth,
                    sex: c.sex,
                    phone: c.phone,
                    permanent_address: c.permanent_address.into_address(),
                    current_address: c.current_address.map(AddressDoc::into_address),
                },
                visit: Visit {
                    place: b.visit.place,
                    reason: b.visit.reason,
                    unit_code: b.visit.unit_code,
                    at,
                },
                officer_id: b.officer_id,
                eid_level,
                under_14_request: b.under_14_request,
                supersedes: b.supersedes,
                driver_license: b.driver_license.map(|d| DriverLicense { number: d.number }),
                correction: b.correction.map(|c| Correction {
                    fields: c.fields,
                    note: c.note,
                }),
                outcome: b.outcome.map(OutcomeDoc::into_outcome),
                attachments: b
                    .attachments
                    .into_iter()
                    .map(AttachmentDoc::into_attachment)
                    .collect::<Result<_, _>>()?,
                biometric_exemptions: b
                    .biometric_exemptions
                    .into_iter()
                    .map(|e| BiometricExemption {
                        finger: e.finger,
                        reason: e.reason,
                        note: e.note,
                    })
                    .collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_matches_generic_jcs_of_the_document() {
        let body = br#"{"kind":"eid_activation"}"#;
        let id = Uuid::from_u128(0x0189_0a5d_ac96_774b_bcce_b302_099a_8057);
        let dev = Uuid::from_u128(7);
        let at: DateTime<Utc> = "2026-11-22T03:04:05.678Z".parse().unwrap();
        let fast = encode_envelope(&id, &dev, 42, &at, body);
        let doc = json!({"v": 1, "record_id": id, "device_id": dev, "device_seq": 42,
            "enrolled_at": "2026-11-22T03:04:05.678Z", "body": {"kind": "eid_activation"}});
        let mut slow = Vec::new();
        write_jcs(&doc, &mut slow).unwrap();
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(slow).unwrap()
        );
    }

    #[test]
    fn jcs_sorts_keys_and_escapes_like_rfc8785() {
        let v = json!({"b": 1, "a": [true, null, "x\u{1}\"\\/é\n"], "A": {"z": -3, "y": 18446744073709551615u64}});
        let mut out = Vec::new();
        write_jcs(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"A":{"y":18446744073709551615,"z":-3},"a":[true,null,"x\u0001\"\\/é\n"],"b":1}"#
        );
    }

    #[test]
    fn jcs_refuses_floats() {
        let mut out = Vec::new();
        assert!(matches!(
            write_jcs(&json!(1.5), &mut out),
            Err(CanonicalError::Float)
        ));
    }

    #[test]
    fn jcs_sorts_by_utf16_code_units() {
        // U+E000 sorts before U+10000 in UTF-16 (0xE000 < 0xD800 surrogate? no: 0xD800 < 0xE000).
        let v = json!({"\u{e000}": 1, "\u{10000}": 2});
        let mut out = Vec::new();
        write_jcs(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"\u{10000}\":2,\"\u{e000}\":1}"
        );
    }
}
