//! The body of `POST /v1/batches` as central receives it (`proto/sync-v1.md`).
//!
//! Input: one flag byte, then the body.
//!
//! - bit 0: the body is `Content-Encoding: zstd`; it is decompressed with
//!   central's bound ([`MAX_DECODED_BODY_BYTES`], the same code as
//!   `decode_body` in `crates/central/src/http.rs`, which is private there);
//! - bits 1–2: what central knows of the devices (open, the vectors'
//!   laptop registered under its station, that laptop revoked, or a
//!   biometrics policy);
//! - bit 3: central holds a sealing key (records may come sealed);
//! - bit 4: each plain record's `content_hash` is set to the SHA-256 of its
//!   bytes after decoding, and bit 5: each record is signed again with the
//!   vectors' device key, so changed records get past the hash and
//!   signature checks to the rules behind them;
//! - bits 6 and 7 both set: for one input in 16 of those (by a hash of
//!   the body), the records are repeated up to 256, the size from which
//!   central checks a batch on several threads (rarely, as such a batch
//!   costs 256 checks and both cores).
//!
//! The body is decoded into the wire `Batch`; a decoded batch serialises
//! and decodes again to the same bytes, each `record` kept byte for byte.
//! A batch central would go on to check (protocol 1, at most
//! [`MAX_BATCH_RECORDS`] records) goes through `check_batch_with`, central's
//! per-record checks without a database; every record gets exactly one
//! line, a valid record is canonical, hashes to its content hash and is
//! the sender's own, and a record from an unregistered device is never
//! valid where registration is required.

#![no_main]

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use doorstep_central::check::{self, NodeGrant, Policy};
use doorstep_central::store::Incoming;
use doorstep_core::Units;
use doorstep_core::canonical::{ContentHash, decode_record, record_signing_bytes};
use doorstep_core::record::BiometricPolicy;
use doorstep_wire::{Batch, MAX_BATCH_RECORDS, MAX_DECODED_BODY_BYTES, NodeRole, PROTOCOL_VERSION};
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

static UNITS: LazyLock<Units> = LazyLock::new(|| {
    Units::from_csv(include_bytes!("../../proto/vectors/units.csv"))
        .expect("the vectors' units.csv loads")
});

static NOW: LazyLock<DateTime<Utc>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
        .expect("a valid instant")
        .with_timezone(&Utc)
});

/// The laptop of the sync and register vectors.
const DEVICE: Uuid = Uuid::from_u128(0x4f9c2e1a_8b7d_4c3e_9a1f_2b3c4d5e6f70);
/// Its station (`proto/vectors/register/README.md`).
const STATION: Uuid = Uuid::from_u128(0x019ab0e0_0000_7000_8000_0000000a0001);
/// Central's sealing key in these fuzz seeds (`fuzz/seed`): `0x0d` x 32.
const SEAL_SECRET: [u8; 32] = [13; 32];

static OPENER: LazyLock<Arc<doorstep_crypto::Opener>> = LazyLock::new(|| {
    Arc::new(doorstep_crypto::Opener::new(
        &doorstep_crypto::SealKey::from_bytes(SEAL_SECRET),
    ))
});

/// The register vectors' device key: seed 0x0b x 32.
static DEVICE_KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[11; 32]));

/// The policies bits 1–2 choose from, built once.
static POLICIES: LazyLock<[Policy; 4]> = LazyLock::new(|| {
    let device_key = DEVICE_KEY.verifying_key().to_bytes();
    let station_key = SigningKey::from_bytes(&[12; 32]).verifying_key().to_bytes();
    let laptop = NodeGrant {
        role: NodeRole::Field,
        public_key: device_key,
        unit_code: "25972".into(),
        station_id: Some(STATION),
        revoked: false,
        biometrics: BiometricPolicy::NONE,
    };
    let station = NodeGrant {
        role: NodeRole::Station,
        public_key: station_key,
        unit_code: "74".into(),
        station_id: None,
        revoked: false,
        biometrics: BiometricPolicy::NONE,
    };
    let with = |laptop: NodeGrant, require_registration: bool| Policy {
        grants: HashMap::from([(DEVICE, laptop), (STATION, station.clone())]),
        require_registration,
        opener: None,
    };
    [
        Policy::open(),
        with(laptop.clone(), true),
        with(
            NodeGrant {
                revoked: true,
                ..laptop.clone()
            },
            true,
        ),
        with(
            NodeGrant {
                biometrics: BiometricPolicy::FULL,
                ..laptop
            },
            false,
        ),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let body: Cow<'_, [u8]> = if flags & 1 == 1 {
        match decode_zstd(raw) {
            Some(out) => Cow::Owned(out),
            None => return,
        }
    } else {
        Cow::Borrowed(raw)
    };
    let Ok(batch) = serde_json::from_slice::<Batch>(&body) else {
        return;
    };
    drop(body);
    round_trip(&batch);
    let mut batch = batch;
    if flags & 0xc0 == 0xc0 && !batch.records.is_empty() && fnv1a(raw).is_multiple_of(16) {
        let copies: Vec<String> = batch
            .records
            .iter()
            .map(|r| serde_json::to_string(r).expect("serialises"))
            .collect();
        for text in copies
            .iter()
            .cycle()
            .take(256 - batch.records.len().min(256))
        {
            batch
                .records
                .push(serde_json::from_str(text).expect("a record reads back"));
        }
    }
    if flags & 0x10 != 0 {
        for r in &mut batch.records {
            if let Some(raw) = &r.record {
                r.content_hash = ContentHash::of(raw.get().as_bytes()).to_hex();
            }
        }
    }
    if flags & 0x20 != 0 {
        for r in &mut batch.records {
            if let Some(hash) = ContentHash::from_hex(&r.content_hash) {
                let signature = DEVICE_KEY.sign(&record_signing_bytes(&hash));
                r.signature = Some(hex::encode(signature.to_bytes()));
            }
        }
    }
    if batch.protocol != PROTOCOL_VERSION || batch.records.len() > MAX_BATCH_RECORDS {
        return; // answered 400 / 413 before any record is checked
    }
    let _ = check::nodes_of(&batch);
    let mut policy = POLICIES[usize::from((flags >> 1) & 3)].clone();
    if flags & 8 == 8 {
        policy.opener = Some(Arc::clone(&OPENER));
    }
    let sent: Vec<String> = batch
        .records
        .iter()
        .map(|r| r.content_hash.clone())
        .collect();
    let sender = batch.sender.clone();
    let checked = check::check_batch_with(batch, &UNITS, *NOW, raw.len() as u64, &policy);
    assert_eq!(checked.records.len(), sent.len(), "one line per record");
    for (line, hash) in checked.records.iter().zip(&sent) {
        match line {
            Incoming::Valid(rec) => {
                assert_eq!(&rec.content_hash.to_hex(), hash);
                assert!(rec.device_seq >= 1, "sequence 0 accepted");
                if sender.role == NodeRole::Field {
                    assert_eq!(rec.device_id, sender.node_id, "a foreign record accepted");
                }
                if policy.require_registration {
                    let grant = policy.grants.get(&rec.device_id);
                    assert!(
                        grant.is_some_and(|g| !g.revoked),
                        "a record of an unregistered or revoked device accepted"
                    );
                    assert!(rec.signature.is_some(), "an unsigned record accepted");
                }
                if rec.sealed {
                    assert!(policy.opener.is_none(), "central kept a record sealed");
                } else {
                    assert_eq!(ContentHash::of(&rec.canonical), rec.content_hash);
                    let record = decode_record(&rec.canonical).expect("valid means canonical");
                    assert_eq!(record.record_id, rec.record_id);
                    assert_eq!(record.device_id, rec.device_id);
                    assert_eq!(record.device_seq, rec.device_seq);
                    assert_eq!(record.body.kind, rec.kind);
                }
            }
            Incoming::Invalid(refused) => {
                assert_eq!(&refused.content_hash, hash);
                assert!(!refused.code.is_empty());
                assert!(
                    refused.violations.is_empty() || refused.code == "record.invalid",
                    "violations under code {}",
                    refused.code
                );
            }
        }
    }
});

/// FNV-1a of `bytes`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Central's `Content-Encoding: zstd` decoding, with its bound.
fn decode_zstd(raw: &[u8]) -> Option<Vec<u8>> {
    let decoder = zstd::stream::read::Decoder::new(raw).ok()?;
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(MAX_DECODED_BODY_BYTES));
    decoder
        .take(MAX_DECODED_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= MAX_DECODED_BODY_BYTES).then_some(out)
}

/// A decoded batch writes out and reads back to the same bytes, and keeps
/// every record's bytes.
fn round_trip(batch: &Batch) {
    let text = serde_json::to_vec(batch).expect("a decoded batch serialises");
    let again: Batch = serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "a serialised batch does not decode ({e}): {}",
            String::from_utf8_lossy(&text)
        )
    });
    assert_eq!(
        serde_json::to_vec(&again).expect("serialises"),
        text,
        "serialising is not stable"
    );
    assert_eq!(again.records.len(), batch.records.len());
    for (a, b) in batch.records.iter().zip(&again.records) {
        assert_eq!(
            a.record.as_ref().map(|r| r.get()),
            b.record.as_ref().map(|r| r.get()),
            "a record's bytes changed"
        );
        assert_eq!(a.sealed, b.sealed);
        assert_eq!(a.signature, b.signature);
        assert_eq!(a.content_hash, b.content_hash);
    }
}
