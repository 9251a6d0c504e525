//! The audit log of a receiving node (`proto/sync-v1.md` section 14): the
//! entry every applied batch appends, signed tree heads, proofs, and the
//! bytes a tree head signature covers.
//!
//! The log is an RFC 9162 Merkle tree over entries. A device recomputes the
//! entry of its own batch from the batch and the receipt (the entry holds
//! nothing else), so a receipt's inclusion proof shows that what the device
//! was told is what the log says.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::{NodeRole, Outcome, RecordReceipt, Sender};

/// `GET` the current signed tree head.
pub const TREE_HEAD_PATH: &str = "/v1/log/tree-head";
/// `GET ?start=&end=`: entries `start..end` (at most [`MAX_ENTRIES_PER_PAGE`]).
pub const ENTRIES_PATH: &str = "/v1/log/entries";
/// `GET ?index=&tree_size=`: inclusion proof of one entry.
pub const INCLUSION_PATH: &str = "/v1/log/proof/inclusion";
/// `GET ?first=&second=`: consistency proof between two tree sizes.
pub const CONSISTENCY_PATH: &str = "/v1/log/proof/consistency";
/// `GET ?device=&since=&limit=`: sync sessions as the node logged them.
pub const SESSIONS_PATH: &str = "/v1/log/sessions";
/// `GET`: every device the node has heard of, with its sequence gaps.
pub const DEVICES_PATH: &str = "/v1/devices";
/// `GET /v1/devices/{device_id}/records?after_seq=&limit=`: what the node
/// holds from one device, for reconciliation.
pub const DEVICE_RECORDS_PATH: &str = "/v1/devices/{device_id}/records";

/// Most entries one `GET /v1/log/entries` returns.
pub const MAX_ENTRIES_PER_PAGE: u64 = 1_000;
/// Most lines one `GET /v1/devices/{id}/records` returns.
pub const MAX_DEVICE_RECORDS_PER_PAGE: u64 = 10_000;

/// Prefix of the bytes a tree head signature covers.
const TREE_HEAD_CONTEXT: &[u8] = b"doorstep-tree-head-v1\n";

/// The head of a device's local journal (`proto/journal-v1.md`): its last
/// entry's sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHead {
    /// Lowercase hex SHA-256.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    pub seq: u64,
}

/// A log's size, time and root, signed by the log's Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    /// The issuing node's ID.
    pub log_id: Uuid,
    pub tree_size: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp: u64,
    #[serde(with = "hex32")]
    pub root_hash: [u8; 32],
    /// Ed25519 signature over [`tree_head_message`], lowercase hex.
    #[serde(with = "hex64")]
    pub signature: [u8; 64],
}

impl SignedTreeHead {
    /// The exact bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        tree_head_message(
            &self.log_id,
            self.tree_size,
            self.timestamp,
            &self.root_hash,
        )
    }

    /// Checks the signature with the log's public key.
    pub fn verify(&self, public_key: &[u8; 32]) -> Result<(), SignatureError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| SignatureError::BadKey)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&self.message(), &signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// Why a tree head signature did not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not a valid Ed25519 point.
    BadKey,
    /// The signature does not match the head and key.
    Invalid,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::BadKey => "the log's public key is not a valid Ed25519 key",
            SignatureError::Invalid => "the tree head signature does not verify",
        })
    }
}

impl std::error::Error for SignatureError {}

/// The bytes a tree head signature covers: a context string, then the log
/// ID (16 bytes), tree size and timestamp (8 bytes each, big-endian) and
/// the root hash (32 bytes).
pub fn tree_head_message(
    log_id: &Uuid,
    tree_size: u64,
    timestamp: u64,
    root: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(TREE_HEAD_CONTEXT.len() + 16 + 8 + 8 + 32);
    m.extend_from_slice(TREE_HEAD_CONTEXT);
    m.extend_from_slice(log_id.as_bytes());
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(&timestamp.to_be_bytes());
    m.extend_from_slice(root);
    m
}

/// `GET /v1/log/tree-head` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHeadAnswer {
    pub tree_head: SignedTreeHead,
    /// The log's Ed25519 public key, lowercase hex (pinned by devices at
    /// first contact).
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
}

/// The log part of a receipt: where the batch's entry sits in the log,
/// the tree head that includes it, and the proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLog {
    /// The entry's index (leaf number, from 0).
    pub index: u64,
    pub tree_head: SignedTreeHead,
    /// The log's public key, as in [`TreeHeadAnswer`].
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
    /// Inclusion proof of the entry in `tree_head`, leaf to root.
    #[serde(with = "hex32_vec")]
    pub inclusion: Vec<[u8; 32]>,
}

/// `GET /v1/log/proof/inclusion` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionAnswer {
    pub index: u64,
    pub tree_size: u64,
    #[serde(with = "hex32")]
    pub leaf_hash: [u8; 32],
    #[serde(with = "hex32_vec")]
    pub path: Vec<[u8; 32]>,
}

/// `GET /v1/log/proof/consistency` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyAnswer {
    pub first: u64,
    pub second: u64,
    #[serde(with = "hex32_vec")]
    pub path: Vec<[u8; 32]>,
}

/// One stored log entry, as `GET /v1/log/entries` returns it.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntryLine {
    pub index: u64,
    #[serde(with = "hex32")]
    pub leaf_hash: [u8; 32],
    /// The entry's exact bytes (a JSON object, [`LogEntry`]).
    pub entry: Box<RawValue>,
}

/// `GET /v1/log/entries` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntriesAnswer {
    pub entries: Vec<LogEntryLine>,
}

/// What a log entry records about one record of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub content_hash: String,
    pub device_id: Option<Uuid>,
    pub device_seq: Option<u64>,
    pub outcome: Outcome,
    pub record_id: Option<Uuid>,
}

/// The entry an applied batch appends to the log. Members are declared in
/// sorted order and every value is a string, an integer, null or an
/// array/object of those, so `serde_json` prints the RFC 8785 form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub batch_id: Uuid,
    /// The sending device's journal head, when it sent one.
    pub journal: Option<JournalHead>,
    pub received_at: String,
    pub records: Vec<LogRecord>,
    pub sender_id: Uuid,
    pub sender_role: NodeRole,
    pub session_id: Uuid,
    /// Entry format version: 1.
    pub v: u32,
}

impl LogEntry {
    /// The entry for a batch and the receipt lines answered for it; both
    /// the receiver (to append) and the sender (to check a receipt's
    /// inclusion proof) build it this way.
    pub fn new(
        batch_id: Uuid,
        session_id: Uuid,
        sender: &Sender,
        journal: Option<JournalHead>,
        received_at: &str,
        lines: &[RecordReceipt],
    ) -> LogEntry {
        LogEntry {
            batch_id,
            journal,
            received_at: received_at.to_owned(),
            records: lines
                .iter()
                .map(|l| LogRecord {
                    content_hash: l.content_hash.clone(),
                    device_id: l.device_id,
                    device_seq: l.device_seq,
                    outcome: l.outcome,
                    record_id: l.record_id,
                })
                .collect(),
            sender_id: sender.node_id,
            sender_role: sender.role,
            session_id,
            v: 1,
        }
    }

    /// The entry's bytes: what the log's leaf hash covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, integers and UUIDs cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `GET /v1/log/sessions` response line: one sync session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLine {
    pub session_id: Uuid,
    pub node_id: Uuid,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub client_version: String,
    pub started_at: String,
    pub last_batch_at: String,
    pub batches: u64,
    pub counts: crate::OutcomeCounts,
    pub bytes_in: u64,
}

/// `GET /v1/log/sessions` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsAnswer {
    pub sessions: Vec<SessionLine>,
}

/// `GET /v1/devices` response line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLine {
    pub device_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub records: u64,
    pub contiguous_seq: u64,
    pub max_seq: u64,
    /// Inclusive ranges of sequence numbers never received.
    pub gaps: Vec<(u64, u64)>,
    pub first_seen_at: String,
    /// Last contact: the last batch from or for the device.
    pub last_sync_at: String,
    /// The device's journal head as last received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalHead>,
}

/// `GET /v1/devices` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesAnswer {
    pub devices: Vec<DeviceLine>,
}

/// `GET /v1/devices/{id}/records` response line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRecordLine {
    pub device_seq: u64,
    pub record_id: Uuid,
    #[serde(with = "hex32")]
    pub content_hash: [u8; 32],
}

/// `GET /v1/devices/{id}/records` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecordsAnswer {
    pub records: Vec<HeldRecordLine>,
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    pub fn parse(text: &str) -> Result<[u8; 32], String> {
        let mut out = [0u8; 32];
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("expected 64 lowercase hex digits, got `{text}`"));
        }
        hex::decode_to_slice(text, &mut out).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(out)
    }
}

mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 64];
        if text.len() != 128 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(D::Error::custom("expected 128 lowercase hex digits"));
        }
        hex::decode_to_slice(text.as_bytes(), &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

mod hex32_vec {
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for h in v {
            seq.serialize_element(&hex::encode(h))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| super::hex32::parse(t).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entry_bytes_are_sorted_compact_json() {
        let sender = Sender {
            node_id: Uuid::nil(),
            role: NodeRole::Field,
            name: Some("ignored".into()),
            client_version: "x".into(),
        };
        let entry = LogEntry::new(
            Uuid::nil(),
            Uuid::nil(),
            &sender,
            None,
            "2026-11-23T00:00:00.000Z",
            &[],
        );
        let text = String::from_utf8(entry.to_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{"batch_id":"00000000-0000-0000-0000-000000000000","journal":null,"received_at":"2026-11-23T00:00:00.000Z","records":[],"sender_id":"00000000-0000-0000-0000-000000000000","sender_role":"field","session_id":"00000000-0000-0000-0000-000000000000","v":1}"#
        );
    }

    #[test]
    fn hex_members_refuse_uppercase_and_wrong_length() {
        let ok = format!(r#"{{"seq":1,"hash":"{}"}}"#, "ab".repeat(32));
        assert!(serde_json::from_str::<JournalHead>(&ok).is_ok());
        let upper = format!(r#"{{"seq":1,"hash":"{}"}}"#, "AB".repeat(32));
        assert!(serde_json::from_str::<JournalHead>(&upper).is_err());
        let short = r#"{"seq":1,"hash":"abcd"}"#;
        assert!(serde_json::from_str::<JournalHead>(short).is_err());
    }
}
