#![forbid(unsafe_code)]
//! The sync protocol, version 1 (`proto/sync-v1.md`): the batch a node
//! sends, the receipt it gets back, the error body, and the limits. Shared
//! by laptops, stations and central so every node speaks the same bytes.
//!
//! Evolution without a v2: receivers ignore members they do not know, new
//! members are optional, and an outcome a client does not know leaves the
//! record queued (never acknowledged).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

pub mod auth;
pub mod blobs;
pub mod log;
pub mod register;
pub mod sealed;
pub mod worklist;

pub use sealed::{SealedParts, SealedRecord};

/// The `protocol` member of every batch and receipt.
pub const PROTOCOL_VERSION: u32 = 1;

/// Path of the batch endpoint.
pub const BATCHES_PATH: &str = "/v1/batches";
/// Path of the custody query endpoint.
pub const CUSTODY_PATH: &str = "/v1/custody";
/// Path of the liveness endpoint.
pub const HEALTH_PATH: &str = "/healthz";

/// Most records one batch may carry.
pub const MAX_BATCH_RECORDS: usize = 5_000;
/// Largest request body, as sent (compressed or not), in bytes.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Largest request body once decompressed, in bytes.
pub const MAX_DECODED_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Media type of problem (error) bodies, RFC 9457.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// HTTP header naming the sender's software and version (informative).
pub const CLIENT_HEADER: &str = "doorstep-client";

/// What kind of node sent a batch or issued a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// An officer's laptop.
    Field,
    /// A commune station relaying laptops' records.
    Station,
    /// The central ingest service.
    Central,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Field => "field",
            NodeRole::Station => "station",
            NodeRole::Central => "central",
        }
    }
}

/// Who sent a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The sending node's ID (a laptop's device ID, a station's ID).
    pub node_id: Uuid,
    pub role: NodeRole,
    /// A name people recognise ("Tổ 3 - CA Thuận Giao"), informative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Software and version, e.g. `doorstep/0.1.0`, informative.
    pub client_version: String,
}

/// `POST /v1/batches` request body.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    /// Always [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Made by the sender for this batch; a resent batch keeps its ID.
    pub batch_id: Uuid,
    /// One sync session (one `field sync` run) groups its batches.
    pub session_id: Uuid,
    pub sender: Sender,
    /// The sending laptop's journal head when it built this batch (the
    /// batch's own `sent` entry comes later, with its receipt;
    /// `proto/journal-v1.md`); the receiver keeps it in the log entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<log::JournalHead>,
    pub records: Vec<BatchRecord>,
}

/// One record in a batch: the canonical record bytes, embedded verbatim as
/// a JSON value, and their SHA-256.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Lowercase hex SHA-256 of the exact bytes of `record`.
    pub content_hash: String,
    /// The canonical record (`proto/canonical-v1.md`), byte for byte: the
    /// receiver hashes the member's exact text. Absent when the record is
    /// `sealed`; exactly one of the two is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<RawValue>>,
    /// The record sealed to central's key (§17): what provisioned laptops
    /// send, so stations relay records they cannot read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedRecord>,
    /// The enrolling device's Ed25519 signature over the content hash
    /// (`doorstep_core::canonical::record_signing_bytes`), lowercase hex;
    /// carried unchanged by stations. Required from provisioned devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now for the first time.
    Accepted,
    /// Already held with the same content hash: nothing changed.
    Duplicate,
    /// Another record is held under the same record ID (or the same
    /// device sequence number) with a different content hash: refused.
    Conflict,
    /// Refused by the validation rules or the canonical form checks.
    Invalid,
    /// A value this build does not know (sent by a newer node): the record
    /// is not acknowledged and stays queued. The value is kept as received,
    /// so a log entry rebuilt from the receipt says what the node's says.
    Unknown(OutcomeName),
}

/// The name of an outcome this build does not know, kept verbatim. At most
/// [`OutcomeName::MAX`] bytes, so [`Outcome`] stays a small `Copy` value; a
/// longer one makes the receipt malformed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OutcomeName {
    len: u8,
    bytes: [u8; OutcomeName::MAX],
}

impl OutcomeName {
    /// Longest outcome name kept.
    pub const MAX: usize = 32;

    pub fn new(name: &str) -> Option<OutcomeName> {
        let len = u8::try_from(name.len())
            .ok()
            .filter(|&n| usize::from(n) <= Self::MAX)?;
        let mut bytes = [0u8; Self::MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Some(OutcomeName { len, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Copied whole from a `&str` in `new`: always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for OutcomeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Outcome, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Outcome;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an outcome name of at most {} bytes", OutcomeName::MAX)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Outcome, E> {
                Ok(match v {
                    "accepted" => Outcome::Accepted,
                    "duplicate" => Outcome::Duplicate,
                    "conflict" => Outcome::Conflict,
                    "invalid" => Outcome::Invalid,
                    other => Outcome::Unknown(OutcomeName::new(other).ok_or_else(|| {
                        E::custom(format!(
                            "outcome {other:?} is longer than {} bytes",
                            OutcomeName::MAX
                        ))
                    })?),
                })
            }
        }
        d.deserialize_str(Name)
    }
}

impl Outcome {
    /// The receiver holds the record: the sender may stop sending it.
    pub fn is_acknowledged(self) -> bool {
        matches!(self, Outcome::Accepted | Outcome::Duplicate)
    }

    /// The receiver refuses the record for good: resending cannot help.
    pub fn is_refused(self) -> bool {
        matches!(self, Outcome::Conflict | Outcome::Invalid)
    }

    /// The outcome as written on the wire (an unknown one as received).
    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Conflict => "conflict",
            Outcome::Invalid => "invalid",
            Outcome::Unknown(name) => name.as_str(),
        }
    }
}

/// One broken validation rule, as in `proto/canonical-v1.md` section 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireViolation {
    pub path: String,
    pub code: String,
    pub message: String,
    pub message_vi: String,
}

/// The receipt's line for one record, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReceipt {
    /// Position of the record in the batch, from 0.
    pub index: u32,
    /// The record ID, when the record could be decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_seq: Option<u64>,
    /// The content hash as sent.
    pub content_hash: String,
    pub outcome: Outcome,
    /// For `conflict` and `invalid`: a stable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For `conflict` and `invalid`: why, in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `conflict` and `invalid`: why, in Vietnamese.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_vi: Option<String>,
    /// For `invalid` records that break validation rules: every rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<WireViolation>,
    /// From central, for `accepted` and `duplicate`: the SHA-256 of each
    /// attachment of the record it does not hold whole yet
    /// (`proto/attachments-v1.md` section 8.1). Not part of the log entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_attachments: Vec<String>,
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    pub accepted: u64,
    pub duplicate: u64,
    pub conflict: u64,
    pub invalid: u64,
}

impl OutcomeCounts {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::Conflict => self.conflict += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Unknown(_) => {}
        }
    }

    pub fn total(&self) -> u64 {
        self.accepted + self.duplicate + self.conflict + self.invalid
    }

    pub fn merge(&mut self, other: &OutcomeCounts) {
        self.accepted += other.accepted;
        self.duplicate += other.duplicate;
        self.conflict += other.conflict;
        self.invalid += other.invalid;
    }
}

/// Who issued a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    pub node_id: Uuid,
    pub role: NodeRole,
}

/// `POST /v1/batches` response body (200): the batch was applied as a
/// whole, and every record has its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub protocol: u32,
    pub batch_id: Uuid,
    pub issuer: Issuer,
    /// When the receiver received the batch and began checking it (UTC,
    /// RFC 3339, milliseconds); the batch is committed before the receipt
    /// is sent.
    pub received_at: String,
    pub counts: OutcomeCounts,
    /// One entry per record of the batch, in the batch's order.
    pub records: Vec<RecordReceipt>,
    /// Where the batch's entry sits in the issuer's audit log, with a
    /// signed tree head and an inclusion proof (section 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<log::ReceiptLog>,
}

/// An error body (`application/problem+json`, RFC 9457) with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the problem type: `urn:doorstep:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `batch.too_many_records`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For `upload.offset_mismatch`: where the upload stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: Option<String>) -> Problem {
        Problem {
            type_uri: format!("urn:doorstep:problem:{code}"),
            title: title.to_owned(),
            status,
            code: code.to_owned(),
            detail,
            offset: None,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.status >= 500 || self.status == 429 || self.status == 408
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.title, self.code, self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// `POST /v1/custody` request: where do these records stand? A laptop asks
/// the node that acknowledged them (a station answers "held" until central
/// has confirmed; central answers for what it holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyQuery {
    pub protocol: u32,
    /// At most [`MAX_BATCH_RECORDS`].
    pub records: Vec<CustodyKey>,
}

/// One record asked about: its ID and the content hash the asker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyKey {
    pub record_id: Uuid,
    pub content_hash: String,
}

/// Where a record stands at the answering node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodyState {
    /// Central holds it (with this content hash).
    Confirmed,
    /// This station holds it and has not had central's answer yet.
    Held,
    /// Central holds the record but not yet every attachment it names
    /// (`missing_attachments` lists them).
    Incomplete,
    /// Refused for good (by this node or by central through it).
    Rejected,
    /// The node does not hold this record (with this content hash).
    Unknown,
    /// A value this build does not know: nothing changes.
    #[serde(other)]
    Other,
}

/// One line of a custody answer, in the query's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyLine {
    pub record_id: Uuid,
    pub state: CustodyState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_vi: Option<String>,
    /// For `incomplete`: the attachments central does not hold whole yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_attachments: Vec<String>,
}

/// `POST /v1/custody` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyAnswer {
    pub protocol: u32,
    pub issuer: Issuer,
    pub records: Vec<CustodyLine>,
}

/// `GET /healthz` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub node_id: Uuid,
    pub role: NodeRole,
    pub version: String,
    pub protocol: u32,
    /// Optional parts of the protocol this node serves (`attachments`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn embedded_record_keeps_its_exact_bytes() {
        let canonical = r#"{"body":{"kind":"eid_activation"},"v":1}"#;
        let text = format!(
            r#"{{"protocol":1,"batch_id":"019a4f6e-3c21-7d4b-8e5f-000000000001","session_id":"019a4f6e-3c21-7d4b-8e5f-000000000002","sender":{{"node_id":"4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70","role":"field","client_version":"x","future_member":true}},"records":[{{"content_hash":"00","record": {canonical} }}]}}"#
        );
        let batch: Batch = serde_json::from_str(&text).unwrap();
        assert_eq!(batch.records[0].record.as_ref().unwrap().get(), canonical);
    }

    #[test]
    fn unknown_outcome_is_not_an_acknowledgement() {
        let o: Outcome = serde_json::from_str("\"held_somewhere_new\"").unwrap();
        assert!(matches!(o, Outcome::Unknown(_)));
        assert!(!o.is_acknowledged());
        assert!(!o.is_refused());
    }

    #[test]
    fn outcomes_re_encode_as_received() {
        for text in [
            "\"accepted\"",
            "\"duplicate\"",
            "\"conflict\"",
            "\"invalid\"",
            "\"quarantined\"",
            "\"unknown\"",
            "\"Ưu_tiên\"",
            "\"\"",
        ] {
            let o: Outcome = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&o).unwrap(), text);
        }
        let longest = format!("\"{}\"", "x".repeat(OutcomeName::MAX));
        let o: Outcome = serde_json::from_str(&longest).unwrap();
        assert_eq!(serde_json::to_string(&o).unwrap(), longest);
        let too_long = format!("\"{}\"", "x".repeat(OutcomeName::MAX + 1));
        assert!(serde_json::from_str::<Outcome>(&too_long).is_err());
        assert!(serde_json::from_str::<Outcome>("7").is_err());
    }
}
