//! A record sealed to central's key (`proto/sync-v1.md` §17): the few
//! facts a station needs to relay it exactly once, and a box only
//! central opens. Nothing a station can read names a citizen.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `sealed` member of a batch record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// The record's ID, enrolling device and its sequence number, kind
    /// and enrollment time: equal to the members of the sealed record
    /// (central refuses the record otherwise).
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub kind: String,
    pub enrolled_at: String,
    /// Central's X25519 sealing key the box is sealed to, lowercase hex.
    pub to: String,
    /// The sender's ephemeral X25519 key, lowercase hex.
    pub from: String,
    /// 24-byte nonce, lowercase hex.
    pub nonce: String,
    /// The box (XChaCha20-Poly1305 ciphertext and tag of the canonical
    /// record bytes), standard base64 with padding.
    #[serde(rename = "box")]
    pub ciphertext: String,
}

/// The binary parts of a sealed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedParts {
    pub to: [u8; 32],
    pub from: [u8; 32],
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

impl SealedRecord {
    /// Decodes the key, nonce and box members; `None` if any is malformed.
    pub fn parts(&self) -> Option<SealedParts> {
        Some(SealedParts {
            to: fixed_hex(&self.to)?,
            from: fixed_hex(&self.from)?,
            nonce: fixed_hex(&self.nonce)?,
            ciphertext: data_encoding::BASE64
                .decode(self.ciphertext.as_bytes())
                .ok()?,
        })
    }

    /// Encodes `parts` with the record's public facts.
    pub fn new(
        record_id: Uuid,
        device_id: Uuid,
        device_seq: u64,
        kind: &str,
        enrolled_at: &str,
        parts: &SealedParts,
    ) -> SealedRecord {
        SealedRecord {
            record_id,
            device_id,
            device_seq,
            kind: kind.to_owned(),
            enrolled_at: enrolled_at.to_owned(),
            to: hex::encode(parts.to),
            from: hex::encode(parts.from),
            nonce: hex::encode(parts.nonce),
            ciphertext: data_encoding::BASE64.encode(&parts.ciphertext),
        }
    }
}

/// `N` bytes written as exactly `2N` lowercase hex digits (keys, nonces).
pub fn fixed_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parts_round_trip_and_malformed_parts_are_none() {
        let parts = SealedParts {
            to: [0xab; 32],
            from: [2; 32],
            nonce: [3; 24],
            ciphertext: vec![4, 5, 6],
        };
        let sealed = SealedRecord::new(
            Uuid::nil(),
            Uuid::nil(),
            1,
            "eid_activation",
            "2026-01-01T00:00:00.000Z",
            &parts,
        );
        assert_eq!(sealed.parts(), Some(parts));
        let json = serde_json::to_value(&sealed).unwrap();
        assert_eq!(json["box"], "BAUG");
        let mut bad = sealed.clone();
        bad.nonce.pop();
        assert_eq!(bad.parts(), None);
        let mut upper = sealed.clone();
        upper.to = upper.to.to_uppercase();
        assert_eq!(upper.parts(), None);
        let mut junk = sealed;
        junk.ciphertext = "not base64!".into();
        assert_eq!(junk.parts(), None);
    }
}
