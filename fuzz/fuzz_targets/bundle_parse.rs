//! Reading a bundle file (`proto/bundle-v1.md`, `doorstep_sync::bundle`).
//!
//! Input: one mode byte, then
//!
//! - mode 0: the whole file as is (magic, file hash, frame);
//! - mode 1: the payload, given a correct header here (so the zstd frame
//!   checks are reached: checksum flag, one frame, size bound);
//! - mode 2: the JSON document, compressed with a content checksum and
//!   given a correct header here (so the manifest checks are reached);
//! - mode 3: as mode 2, but each plain record's `content_hash`, the
//!   manifest's `content_hashes` and `count` are first made to agree with
//!   the records (so changed records get past the hash checks).
//!
//! `decode` must refuse or return a bundle that keeps its promises: as
//! many records as the manifest counts, hashes listed in order, plain
//! records hashing to their content hash, one device, strictly increasing
//! sequence numbers matching the manifest's range. Such a bundle written
//! again with `BundleWriter` (what `doorstep field export` uses) decodes
//! to the same manifest and the same records, byte for byte.

#![no_main]

use std::io::Write;

use doorstep_core::ContentHash;
use doorstep_store::{OutboxItem, RecordStatus};
use doorstep_sync::bundle::{self, Bundle, BundleWriter, HEADER_LEN, MAGIC};
use doorstep_wire::SealedRecord;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = match mode % 4 {
        0 => rest.to_vec(),
        1 => seal(rest),
        2 => seal(&compress(rest)),
        _ => match agreeing(rest) {
            Some(document) => seal(&compress(&document)),
            None => return,
        },
    };
    let Ok(bundle) = bundle::decode(&file) else {
        return;
    };
    let envelopes = keeps_its_promises(&bundle);
    write_again(&bundle, &envelopes);
});

/// Magic and SHA-256 of `payload`, then `payload` (`bundle.rs`'s `seal`).
fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ContentHash::of(payload).0);
    out.extend_from_slice(payload);
    out
}

/// `document` with each plain record's hash, and the manifest's hash list
/// and count, made to agree with the records.
fn agreeing(document: &[u8]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(document).ok()?;
    let mut hashes = Vec::new();
    for rec in doc.get_mut("records")?.as_array_mut()? {
        let Some(rec) = rec.as_object_mut() else {
            continue;
        };
        if let Some(record) = rec.get("record") {
            let text = serde_json::to_string(record).ok()?;
            rec.insert(
                "content_hash".into(),
                ContentHash::of(text.as_bytes()).to_hex().into(),
            );
        }
        hashes.push(rec.get("content_hash").cloned().unwrap_or_default());
    }
    if let Some(manifest) = doc.get_mut("manifest").and_then(|m| m.as_object_mut()) {
        manifest.insert("count".into(), hashes.len().into());
        manifest.insert("content_hashes".into(), hashes.into());
    }
    serde_json::to_vec(&doc).ok()
}

/// One zstd frame with a content checksum, as the writer makes it (at the
/// fastest level: only the frame's form matters here).
fn compress(document: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("zstd encoder");
    enc.include_checksum(true).expect("checksum flag");
    enc.write_all(document).expect("compress into memory");
    enc.finish().expect("finish the frame")
}

#[derive(serde::Deserialize)]
struct Envelope {
    device_id: Uuid,
    device_seq: u64,
}

/// The checks `decode` promises, made again here; returns each record's
/// device and sequence number.
fn keeps_its_promises(b: &Bundle) -> Vec<(Uuid, u64)> {
    let m = &b.manifest;
    assert!(!b.records.is_empty(), "an empty bundle decoded");
    assert_eq!(m.count, b.records.len() as u64);
    assert_eq!(m.content_hashes.len(), b.records.len());
    let mut out = Vec::with_capacity(b.records.len());
    for (rec, listed) in b.records.iter().zip(&m.content_hashes) {
        assert_eq!(
            &rec.content_hash, listed,
            "manifest and record hashes differ"
        );
        let hash = ContentHash::from_hex(&rec.content_hash).expect("a hex content hash");
        assert_eq!(
            hash.to_hex(),
            rec.content_hash,
            "content hash not lower-case"
        );
        let envelope = match (&rec.record, &rec.sealed) {
            (Some(raw), None) => {
                assert_eq!(ContentHash::of(raw.get().as_bytes()), hash, "record hash");
                let e: Envelope =
                    serde_json::from_str(raw.get()).expect("a record with an envelope");
                (e.device_id, e.device_seq)
            }
            (None, Some(sealed)) => {
                assert!(sealed.parts().is_some(), "malformed seal decoded");
                (sealed.device_id, sealed.device_seq)
            }
            _ => panic!("a record with neither or both of `record` and `sealed`"),
        };
        assert_eq!(envelope.0, m.device_id, "a foreign record decoded");
        if let Some(&(_, prev)) = out.last() {
            assert!(envelope.1 > prev, "sequence numbers not increasing");
        }
        out.push(envelope);
    }
    assert_eq!(out.first().map(|e| e.1), Some(m.seq_from));
    assert_eq!(out.last().map(|e| e.1), Some(m.seq_to));
    out
}

/// A signature as the writer would keep it: 128 lower-case hex digits.
fn signature_bytes(text: Option<&str>) -> Option<[u8; 64]> {
    let text = text?;
    if text.len() != 128 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 64];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Writes `b` again with [`BundleWriter`] and reads it back.
fn write_again(b: &Bundle, envelopes: &[(Uuid, u64)]) {
    let m = &b.manifest;
    let mut writer =
        BundleWriter::new(m.device_id, &m.device_name, &m.unit_code).expect("a writer");
    for (rec, &(_, seq)) in b.records.iter().zip(envelopes) {
        let content_hash = ContentHash::from_hex(&rec.content_hash).expect("checked above");
        let (canonical, sealed) = match (&rec.record, &rec.sealed) {
            (Some(raw), _) => (raw.get().as_bytes().to_vec(), None),
            (None, Some(s)) => (Vec::new(), Some(serde_json::to_vec(s).expect("serialises"))),
            (None, None) => unreachable!("checked above"),
        };
        let item = OutboxItem {
            device_seq: seq,
            record_id: Uuid::nil(),
            content_hash,
            canonical,
            sealed,
            status: RecordStatus::Pending,
            signature: signature_bytes(rec.signature.as_deref()),
        };
        if let Err(e) = writer.push(&item) {
            panic!("the writer refuses record #{seq} the reader accepted: {e}");
        }
    }
    let file = writer
        .finish(&m.created_at, m.journal)
        .unwrap_or_else(|e| panic!("the writer cannot finish what the reader accepted: {e}"));
    let again = bundle::decode(&file)
        .unwrap_or_else(|e| panic!("a bundle written again does not decode: {e}"));
    assert_eq!(
        &again.manifest, m,
        "the manifest changed when written again"
    );
    assert_eq!(again.records.len(), b.records.len());
    for (a, r) in again.records.iter().zip(&b.records) {
        assert_eq!(a.content_hash, r.content_hash);
        assert_eq!(
            a.record.as_ref().map(|x| x.get()),
            r.record.as_ref().map(|x| x.get()),
            "a record's bytes changed"
        );
        assert_eq!(
            a.sealed.as_ref(),
            r.sealed.as_ref() as Option<&SealedRecord>
        );
        let kept = signature_bytes(r.signature.as_deref()).map(hex::encode);
        assert_eq!(a.signature, kept, "the signature changed");
    }
}
