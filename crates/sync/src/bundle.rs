//! Offline bundle files (`proto/bundle-v1.md`): a laptop's unconfirmed
//! records in one file, carried on a USB stick to the commune station when
//! there is no network.
//!
//! Layout: the 8-byte magic `DSBUNDL1`, the 32-byte SHA-256 of everything
//! after these 40 bytes, then one zstd frame (content checksum on) of a
//! JSON document holding the manifest and the records, each embedded
//! verbatim as in a sync batch. Decoding checks everything before anything
//! is used: the file hash (truncation, any altered byte), the frame, a
//! bound on the decompressed size, and that the manifest agrees with the
//! records. Every failure is a [`BundleError`]; no input makes it panic.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use doorstep_core::ContentHash;
use doorstep_store::OutboxItem;
use doorstep_wire::BatchRecord;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// The first 8 bytes of every version 1 bundle.
pub const MAGIC: &[u8; 8] = b"DSBUNDL1";
/// Magic and file hash.
pub const HEADER_LEN: usize = 40;
/// The `format` member of the JSON document.
pub const FORMAT: &str = "doorstep-bundle";
/// The `version` member of the JSON document.
pub const VERSION: u32 = 1;
/// Largest JSON document (decompressed), in bytes: 256 MiB.
pub const MAX_DECODED_BYTES: usize = 256 * 1024 * 1024;
/// Largest bundle file a reader opens, in bytes: the document limit plus
/// room for zstd's worst case on incompressible data and the header.
pub const MAX_FILE_BYTES: u64 = (MAX_DECODED_BYTES as u64) + (MAX_DECODED_BYTES as u64 / 64) + 4096;
/// zstd level the writer uses.
pub const ZSTD_LEVEL: i32 = 3;

/// What the bundle says about itself: whose records, which, how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The laptop that enrolled every record of the bundle.
    pub device_id: Uuid,
    /// The laptop's name, informative.
    pub device_name: String,
    /// The laptop's unit code, informative.
    pub unit_code: String,
    /// When the bundle was written (UTC, RFC 3339, milliseconds), informative.
    pub created_at: String,
    /// `device_seq` of the first record.
    pub seq_from: u64,
    /// `device_seq` of the last record.
    pub seq_to: u64,
    /// Number of records.
    pub count: u64,
    /// The records' content hashes, in the records' order.
    pub content_hashes: Vec<String>,
    /// The laptop's journal head when it wrote the bundle; the receiving
    /// node records it in its log entry like a batch's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<doorstep_wire::log::JournalHead>,
}

/// A decoded and verified bundle.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    /// The records, in increasing `device_seq`, ready to go into a batch.
    pub records: Vec<BatchRecord>,
}

/// The JSON document inside the zstd frame.
#[derive(Debug, Deserialize)]
struct Document {
    format: String,
    version: u32,
    manifest: Manifest,
    records: Vec<BatchRecord>,
}

/// The members of a record's envelope a bundle is checked against.
#[derive(Debug, Deserialize)]
struct Envelope {
    device_id: Uuid,
    device_seq: u64,
}

/// Why a bundle cannot be written or read. Record positions are indexes
/// from 0 in the bundle's `records`.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "not a Doorstep bundle: {len} bytes, shorter than the {HEADER_LEN}-byte header (is the file complete?)"
    )]
    TooShort { len: usize },
    #[error("not a Doorstep bundle: the file does not start with `DSBUNDL1`")]
    BadMagic,
    #[error(
        "the file is damaged or incomplete: the SHA-256 of its content is {found}, its header says {expected} (copy the bundle again from the laptop)"
    )]
    FileHashMismatch { expected: String, found: String },
    #[error("the compressed content is not a zstd frame with a content checksum: {0}")]
    BadFrame(String),
    #[error("{extra} unexpected bytes follow the zstd frame")]
    TrailingData { extra: usize },
    #[error("the bundle is larger than {limit} bytes once decompressed")]
    TooLarge { limit: usize },
    #[error("the bundle's JSON document is malformed: {0}")]
    Malformed(String),
    #[error("the document's format is `{0}`, not `doorstep-bundle`")]
    WrongFormat(String),
    #[error("bundle format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    #[error("the bundle holds no records")]
    Empty,
    #[error("the manifest counts {manifest} records, the bundle holds {records}")]
    CountMismatch { manifest: u64, records: usize },
    #[error("the manifest lists {listed} content hashes for {records} records")]
    HashListLength { listed: usize, records: usize },
    #[error("record {index}: content hash {found} differs from the manifest's {expected}")]
    ManifestHashMismatch {
        index: usize,
        expected: String,
        found: String,
    },
    #[error("record {index}: content_hash `{found}` is not 64 lower-case hex digits")]
    BadContentHash { index: usize, found: String },
    #[error("record {index}: its bytes do not hash to its content_hash {expected}")]
    RecordHashMismatch { index: usize, expected: String },
    #[error("record {index}: not a record object with device_id and device_seq: {detail}")]
    BadRecord { index: usize, detail: String },
    #[error("record {index} was enrolled by device {found}, not by the bundle's device {expected}")]
    ForeignRecord {
        index: usize,
        expected: Uuid,
        found: Uuid,
    },
    #[error(
        "record {index}: device_seq {seq} does not come after {prev} (records must be in increasing sequence order)"
    )]
    OutOfOrder { index: usize, seq: u64, prev: u64 },
    #[error("the manifest's sequence range {from}–{to} does not match the records' {first}–{last}")]
    SeqRange {
        from: u64,
        to: u64,
        first: u64,
        last: u64,
    },
    #[error("stored record #{seq} cannot go into a bundle: {detail}")]
    BadStoredRecord { seq: u64, detail: String },
    #[error("cannot compress the bundle: {0}")]
    Compress(String),
}

/// A [`BundleError`] (or a read failure) with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum BundleFileError {
    #[error("bundle {}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bundle {}: {len} bytes, larger than any bundle ({MAX_FILE_BYTES} bytes at most)", path.display())]
    FileTooLarge { path: PathBuf, len: u64 },
    #[error("bundle {}: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: BundleError,
    },
}

/// Writes a bundle from outbox pages, streaming the records into the zstd
/// encoder: memory holds the compressed output and the hashes, not the
/// decompressed document.
pub struct BundleWriter {
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
    device_id: Uuid,
    device_name: String,
    unit_code: String,
    hashes: Vec<String>,
    seq_from: u64,
    seq_to: u64,
    decoded_len: usize,
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("device_id", &self.device_id)
            .field("records", &self.hashes.len())
            .field("seq_from", &self.seq_from)
            .field("seq_to", &self.seq_to)
            .finish_non_exhaustive()
    }
}

/// Room kept for the manifest when checking the size limit while writing.
const MANIFEST_ROOM: usize = 4096;

impl BundleWriter {
    /// A bundle of the records of device `device_id`.
    pub fn new(
        device_id: Uuid,
        device_name: &str,
        unit_code: &str,
    ) -> Result<BundleWriter, BundleError> {
        let compress = |e: std::io::Error| BundleError::Compress(e.to_string());
        let mut encoder =
            zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).map_err(compress)?;
        encoder.include_checksum(true).map_err(compress)?;
        let mut w = BundleWriter {
            encoder,
            device_id,
            device_name: device_name.to_owned(),
            unit_code: unit_code.to_owned(),
            hashes: Vec::new(),
            seq_from: 0,
            seq_to: 0,
            decoded_len: 0,
        };
        let head = format!(r#"{{"format":"{FORMAT}","version":{VERSION},"records":["#);
        w.write(head.as_bytes())?;
        Ok(w)
    }

    /// Records added so far.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Adds one record; records must come in increasing `device_seq`.
    pub fn push(&mut self, item: &OutboxItem) -> Result<(), BundleError> {
        let seq = item.device_seq;
        if !self.hashes.is_empty() && seq <= self.seq_to {
            return Err(BundleError::BadStoredRecord {
                seq,
                detail: format!("it comes after record #{} (out of order)", self.seq_to),
            });
        }
        let bad = |e: serde_json::Error| BundleError::BadStoredRecord {
            seq,
            detail: e.to_string(),
        };
        let (member, bytes): (&[u8], &[u8]) = match &item.sealed {
            Some(sealed) => (br#"","sealed":"#, sealed),
            None => (br#"","record":"#, &item.canonical),
        };
        let envelope = match &item.sealed {
            Some(sealed) => {
                let facts: doorstep_wire::SealedRecord =
                    serde_json::from_slice(sealed).map_err(bad)?;
                Envelope {
                    device_id: facts.device_id,
                    device_seq: facts.device_seq,
                }
            }
            None => {
                if ContentHash::of(&item.canonical) != item.content_hash {
                    return Err(BundleError::BadStoredRecord {
                        seq,
                        detail: "its stored bytes do not hash to its content hash".into(),
                    });
                }
                serde_json::from_slice(&item.canonical).map_err(bad)?
            }
        };
        if envelope.device_id != self.device_id || envelope.device_seq != seq {
            return Err(BundleError::BadStoredRecord {
                seq,
                detail: format!(
                    "its envelope says device {} #{}",
                    envelope.device_id, envelope.device_seq
                ),
            });
        }
        let hash = item.content_hash.to_hex();
        let sep: &[u8] = if self.hashes.is_empty() { b"" } else { b"," };
        self.write(sep)?;
        self.write(br#"{"content_hash":""#)?;
        self.write(hash.as_bytes())?;
        self.write(member)?;
        self.write(bytes)?;
        if let Some(signature) = &item.signature {
            self.write(br#","signature":""#)?;
            self.write(hex::encode(signature).as_bytes())?;
            self.write(b"\"")?;
        }
        self.write(b"}")?;
        if self.hashes.is_empty() {
            self.seq_from = seq;
        }
        self.seq_to = seq;
        self.hashes.push(hash);
        Ok(())
    }

    /// Ends the document and returns the whole file. `created_at` is UTC,
    /// RFC 3339 with milliseconds.
    pub fn finish(
        mut self,
        created_at: &str,
        journal: Option<doorstep_wire::log::JournalHead>,
    ) -> Result<Vec<u8>, BundleError> {
        if self.hashes.is_empty() {
            return Err(BundleError::Empty);
        }
        let manifest = Manifest {
            device_id: self.device_id,
            device_name: std::mem::take(&mut self.device_name),
            unit_code: std::mem::take(&mut self.unit_code),
            created_at: created_at.to_owned(),
            seq_from: self.seq_from,
            seq_to: self.seq_to,
            count: self.hashes.len() as u64,
            content_hashes: std::mem::take(&mut self.hashes),
            journal,
        };
        let manifest =
            serde_json::to_vec(&manifest).map_err(|e| BundleError::Compress(e.to_string()))?;
        self.write(br#"],"manifest":"#)?;
        self.write(&manifest)?;
        self.write(b"}")?;
        if self.decoded_len > MAX_DECODED_BYTES {
            return Err(BundleError::TooLarge {
                limit: MAX_DECODED_BYTES,
            });
        }
        let frame = self
            .encoder
            .finish()
            .map_err(|e| BundleError::Compress(e.to_string()))?;
        Ok(seal(&frame))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        self.decoded_len = self.decoded_len.saturating_add(bytes.len());
        // Fail early (before compressing gigabytes) when the document cannot
        // fit; the exact check is in `finish`.
        if self
            .decoded_len
            .saturating_add(self.hashes.len() * 67)
            .saturating_add(MANIFEST_ROOM)
            > MAX_DECODED_BYTES + MANIFEST_ROOM
        {
            return Err(BundleError::TooLarge {
                limit: MAX_DECODED_BYTES,
            });
        }
        self.encoder
            .write_all(bytes)
            .map_err(|e| BundleError::Compress(e.to_string()))
    }
}

/// Header (magic and SHA-256) followed by `payload`.
fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ContentHash::of(payload).0);
    out.extend_from_slice(payload);
    out
}

/// The SHA-256 of a whole bundle file, as 64 lower-case hex digits (what
/// people compare when they copy a bundle).
pub fn file_sha256(bytes: &[u8]) -> String {
    ContentHash::of(bytes).to_hex()
}

/// Reads and verifies the bundle file at `path`.
pub fn read_file(path: &Path) -> Result<(Bundle, u64), BundleFileError> {
    let read_err = |source| BundleFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    if len > MAX_FILE_BYTES {
        return Err(BundleFileError::FileTooLarge {
            path: path.to_path_buf(),
            len,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let bundle = decode(&bytes).map_err(|source| BundleFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((bundle, bytes.len() as u64))
}

/// Decodes and verifies a bundle: header, file hash, zstd frame, size
/// bound, document shape, and that the manifest agrees with the records.
pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() < HEADER_LEN {
        return Err(BundleError::TooShort { len: bytes.len() });
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    let (magic, claimed) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(BundleError::BadMagic);
    }
    let found = ContentHash::of(payload);
    if found.0[..] != *claimed {
        return Err(BundleError::FileHashMismatch {
            expected: hex_of(claimed),
            found: found.to_hex(),
        });
    }
    let json = decompress(payload)?;
    let doc: Document =
        serde_json::from_slice(&json).map_err(|e| BundleError::Malformed(e.to_string()))?;
    drop(json);
    if doc.format != FORMAT {
        return Err(BundleError::WrongFormat(doc.format));
    }
    if doc.version != VERSION {
        return Err(BundleError::UnsupportedVersion(doc.version));
    }
    verify(&doc.manifest, &doc.records)?;
    Ok(Bundle {
        manifest: doc.manifest,
        records: doc.records,
    })
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly one zstd frame with a content checksum, at most
/// [`MAX_DECODED_BYTES`] once decompressed.
fn decompress(payload: &[u8]) -> Result<Vec<u8>, BundleError> {
    const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    if payload.len() < 5 || payload[..4] != ZSTD_FRAME_MAGIC {
        return Err(BundleError::BadFrame("no zstd frame header".into()));
    }
    // Frame header descriptor, bit 2: Content_Checksum_flag (RFC 8878).
    if payload[4] & 0b100 == 0 {
        return Err(BundleError::BadFrame(
            "the frame has no content checksum".into(),
        ));
    }
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(payload)
        .map_err(|code| BundleError::BadFrame(zstd::zstd_safe::get_error_name(code).to_owned()))?;
    if frame_len != payload.len() {
        return Err(BundleError::TrailingData {
            extra: payload.len().saturating_sub(frame_len),
        });
    }
    let decoder = zstd::stream::read::Decoder::with_buffer(payload)
        .map_err(|e| BundleError::BadFrame(e.to_string()))?
        .single_frame();
    let mut out = Vec::new();
    decoder
        .take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BundleError::BadFrame(e.to_string()))?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(BundleError::TooLarge {
            limit: MAX_DECODED_BYTES,
        });
    }
    Ok(out)
}

/// The manifest agrees with the records: count, hashes in order, every
/// record's hash, device and increasing sequence, sequence range.
fn verify(manifest: &Manifest, records: &[BatchRecord]) -> Result<(), BundleError> {
    if manifest.count != records.len() as u64 {
        return Err(BundleError::CountMismatch {
            manifest: manifest.count,
            records: records.len(),
        });
    }
    if records.is_empty() {
        return Err(BundleError::Empty);
    }
    if manifest.content_hashes.len() != records.len() {
        return Err(BundleError::HashListLength {
            listed: manifest.content_hashes.len(),
            records: records.len(),
        });
    }
    let mut prev: Option<u64> = None;
    let mut first = 0;
    for (index, (record, listed)) in records.iter().zip(&manifest.content_hashes).enumerate() {
        if record.content_hash != *listed {
            return Err(BundleError::ManifestHashMismatch {
                index,
                expected: listed.clone(),
                found: record.content_hash.clone(),
            });
        }
        let claimed = ContentHash::from_hex(&record.content_hash)
            .filter(|h| h.to_hex() == record.content_hash)
            .ok_or_else(|| BundleError::BadContentHash {
                index,
                found: record.content_hash.clone(),
            })?;
        let envelope = match (&record.record, &record.sealed) {
            (Some(raw), None) => {
                if ContentHash::of(raw.get().as_bytes()) != claimed {
                    return Err(BundleError::RecordHashMismatch {
                        index,
                        expected: record.content_hash.clone(),
                    });
                }
                envelope_of(raw).map_err(|detail| BundleError::BadRecord { index, detail })?
            }
            // Sealed: only central can check the bytes against the hash.
            (None, Some(sealed)) if sealed.parts().is_some() => Envelope {
                device_id: sealed.device_id,
                device_seq: sealed.device_seq,
            },
            (None, Some(_)) => {
                return Err(BundleError::BadRecord {
                    index,
                    detail: "its sealed keys, nonce or box are malformed".into(),
                });
            }
            _ => {
                return Err(BundleError::BadRecord {
                    index,
                    detail: "it carries exactly one of `record` and `sealed`".into(),
                });
            }
        };
        if envelope.device_id != manifest.device_id {
            return Err(BundleError::ForeignRecord {
                index,
                expected: manifest.device_id,
                found: envelope.device_id,
            });
        }
        match prev {
            None => first = envelope.device_seq,
            Some(p) if envelope.device_seq <= p => {
                return Err(BundleError::OutOfOrder {
                    index,
                    seq: envelope.device_seq,
                    prev: p,
                });
            }
            Some(_) => {}
        }
        prev = Some(envelope.device_seq);
    }
    let last = prev.unwrap_or(0);
    if first != manifest.seq_from || last != manifest.seq_to {
        return Err(BundleError::SeqRange {
            from: manifest.seq_from,
            to: manifest.seq_to,
            first,
            last,
        });
    }
    Ok(())
}

fn envelope_of(record: &RawValue) -> Result<Envelope, String> {
    let text = record.get();
    if !text.starts_with('{') {
        return Err("not a JSON object".into());
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use doorstep_store::RecordStatus;

    use super::*;

    const DEVICE: &str = "4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70";

    fn item(seq: u64) -> OutboxItem {
        let record_id =
            Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(seq));
        let canonical = format!(
            r#"{{"body":{{"full_name":"Nguyễn Văn {seq}","kind":"eid_activation"}},"device_id":"{DEVICE}","device_seq":{seq},"enrolled_at":"2026-11-23T01:00:00.120Z","record_id":"{record_id}","v":1}}"#
        )
        .into_bytes();
        OutboxItem {
            device_seq: seq,
            record_id,
            content_hash: ContentHash::of(&canonical),
            canonical,
            sealed: None,
            status: RecordStatus::Pending,
            signature: None,
        }
    }

    fn device() -> Uuid {
        Uuid::parse_str(DEVICE).unwrap()
    }

    fn bundle_of(seqs: &[u64]) -> Vec<u8> {
        let mut w = BundleWriter::new(device(), "Tổ 3", "25741").unwrap();
        for &s in seqs {
            w.push(&item(s)).unwrap();
        }
        w.finish("2026-11-23T02:00:00.000Z", None).unwrap()
    }

    /// Seals a hand-made JSON document the way the writer does.
    fn seal_json(json: &str) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_checksum(true).unwrap();
        enc.write_all(json.as_bytes()).unwrap();
        seal(&enc.finish().unwrap())
    }

    fn record_json(i: &OutboxItem) -> String {
        format!(
            r#"{{"content_hash":"{}","record":{}}}"#,
            i.content_hash.to_hex(),
            String::from_utf8(i.canonical.clone()).unwrap()
        )
    }

    /// A document with `records`, and a manifest edited by `edit`.
    fn doc_with(records: &[OutboxItem], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut manifest = serde_json::json!({
            "device_id": DEVICE,
            "device_name": "Tổ 3",
            "unit_code": "25741",
            "created_at": "2026-11-23T02:00:00.000Z",
            "seq_from": records.first().map_or(0, |r| r.device_seq),
            "seq_to": records.last().map_or(0, |r| r.device_seq),
            "count": records.len(),
            "content_hashes": records.iter().map(|r| r.content_hash.to_hex()).collect::<Vec<_>>(),
        });
        edit(&mut manifest);
        let recs: Vec<String> = records.iter().map(record_json).collect();
        seal_json(&format!(
            r#"{{"format":"doorstep-bundle","version":1,"manifest":{manifest},"records":[{}]}}"#,
            recs.join(",")
        ))
    }

    #[test]
    fn round_trip_keeps_records_byte_for_byte() {
        let bytes = bundle_of(&[1, 2, 5, 9]);
        assert_eq!(&bytes[..8], MAGIC);
        let b = decode(&bytes).unwrap();
        assert_eq!(b.manifest.device_id, device());
        assert_eq!(b.manifest.device_name, "Tổ 3");
        assert_eq!(b.manifest.unit_code, "25741");
        assert_eq!(
            (b.manifest.seq_from, b.manifest.seq_to, b.manifest.count),
            (1, 9, 4)
        );
        assert_eq!(b.records.len(), 4);
        for (rec, seq) in b.records.iter().zip([1, 2, 5, 9]) {
            let it = item(seq);
            assert_eq!(
                rec.record.as_ref().unwrap().get().as_bytes(),
                &it.canonical[..]
            );
            assert_eq!(rec.content_hash, it.content_hash.to_hex());
        }
        assert_eq!(b.manifest.content_hashes[2], item(5).content_hash.to_hex());
    }

    #[test]
    fn hand_written_document_with_manifest_first_decodes() {
        let items = [item(3), item(4)];
        let b = decode(&doc_with(&items, |_| {})).unwrap();
        assert_eq!(b.records.len(), 2);
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = bundle_of(&[1, 2, 3]);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let bytes = bundle_of(&[1, 2]);
        for pos in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[pos] ^= mask;
                assert!(decode(&bad).is_err(), "byte {pos} ^ {mask:#x} accepted");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in [0usize, 1, 39, 40, 41, 45, 100, 1000] {
            for _ in 0..50 {
                let mut bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 24) as u8
                    })
                    .collect();
                if bytes.len() >= 8 {
                    bytes[..8].copy_from_slice(MAGIC);
                }
                // With a correct file hash, the frame itself is garbage.
                if bytes.len() >= HEADER_LEN {
                    let sealed = seal(&bytes[HEADER_LEN..]);
                    assert!(decode(&sealed).is_err());
                }
                assert!(decode(&bytes).is_err());
            }
        }
    }

    #[test]
    fn manifest_disagreeing_with_records_is_refused() {
        use BundleError as E;
        let items = [item(1), item(2), item(3)];
        let check = |bytes: Vec<u8>, what: &str, ok: fn(&BundleError) -> bool| {
            let err = decode(&bytes).expect_err(what);
            assert!(ok(&err), "{what}: {err}");
        };
        check(doc_with(&items, |m| m["count"] = 2.into()), "count", |e| {
            matches!(
                e,
                E::CountMismatch {
                    manifest: 2,
                    records: 3
                }
            )
        });
        check(
            doc_with(&items, |m| {
                m["content_hashes"].as_array_mut().unwrap().pop();
            }),
            "hash list length",
            |e| {
                matches!(
                    e,
                    E::HashListLength {
                        listed: 2,
                        records: 3
                    }
                )
            },
        );
        check(
            doc_with(&items, |m| {
                m["content_hashes"].as_array_mut().unwrap().swap(0, 1);
            }),
            "hash order",
            |e| matches!(e, E::ManifestHashMismatch { index: 0, .. }),
        );
        check(
            doc_with(&items, |m| m["seq_from"] = 0.into()),
            "seq_from",
            |e| matches!(e, E::SeqRange { .. }),
        );
        check(
            doc_with(&items, |m| m["seq_to"] = 4.into()),
            "seq_to",
            |e| matches!(e, E::SeqRange { .. }),
        );
        check(
            doc_with(&items, |m| {
                m["device_id"] = "019a4f6e-3c21-7d4b-8e5f-000000000001".into();
            }),
            "device",
            |e| matches!(e, E::ForeignRecord { index: 0, .. }),
        );
        check(doc_with(&[item(2), item(1)], |_| {}), "order", |e| {
            matches!(
                e,
                E::OutOfOrder {
                    index: 1,
                    seq: 1,
                    prev: 2
                }
            )
        });
        check(doc_with(&[], |_| {}), "empty", |e| matches!(e, E::Empty));
        check(
            doc_with(&items, |m| m["count"] = (-1).into()),
            "negative count",
            |e| matches!(e, E::Malformed(_)),
        );
    }

    #[test]
    fn errors_name_the_record() {
        let items = [item(1), item(2)];
        let err = decode(&doc_with(&items, |m| {
            m["content_hashes"][1] = "00".repeat(32).into();
        }))
        .unwrap_err();
        assert!(
            matches!(err, BundleError::ManifestHashMismatch { index: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("record 1"), "{err}");

        // A record whose bytes do not match its own (and the manifest's) hash.
        let mut bad = item(2);
        bad.canonical = item(7).canonical;
        let json = format!(
            r#"{{"format":"doorstep-bundle","version":1,"manifest":{{"device_id":"{DEVICE}","device_name":"","unit_code":"","created_at":"","seq_from":1,"seq_to":2,"count":2,"content_hashes":["{}","{}"]}},"records":[{},{}]}}"#,
            items[0].content_hash.to_hex(),
            bad.content_hash.to_hex(),
            record_json(&items[0]),
            record_json(&bad)
        );
        let err = decode(&seal_json(&json)).unwrap_err();
        assert!(
            matches!(err, BundleError::RecordHashMismatch { index: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn wrong_format_version_and_shape_are_refused() {
        let items = [item(1)];
        let rec = record_json(&items[0]);
        let manifest = format!(
            r#"{{"device_id":"{DEVICE}","device_name":"","unit_code":"","created_at":"","seq_from":1,"seq_to":1,"count":1,"content_hashes":["{}"]}}"#,
            items[0].content_hash.to_hex()
        );
        let v2 = seal_json(&format!(
            r#"{{"format":"doorstep-bundle","version":2,"manifest":{manifest},"records":[{rec}]}}"#
        ));
        assert!(matches!(
            decode(&v2),
            Err(BundleError::UnsupportedVersion(2))
        ));
        let other = seal_json(&format!(
            r#"{{"format":"x","version":1,"manifest":{manifest},"records":[{rec}]}}"#
        ));
        assert!(matches!(decode(&other), Err(BundleError::WrongFormat(_))));
        let dup = seal_json(&format!(
            r#"{{"format":"doorstep-bundle","version":1,"version":1,"manifest":{manifest},"records":[{rec}]}}"#
        ));
        assert!(matches!(decode(&dup), Err(BundleError::Malformed(_))));
        let not_json = seal_json("not json");
        assert!(matches!(decode(&not_json), Err(BundleError::Malformed(_))));
    }

    #[test]
    fn frame_without_checksum_or_with_trailing_data_is_refused() {
        let json = r#"{"format":"doorstep-bundle"}"#;
        let plain = zstd::bulk::compress(json.as_bytes(), 3).unwrap();
        assert!(matches!(
            decode(&seal(&plain)),
            Err(BundleError::BadFrame(_))
        ));
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_checksum(true).unwrap();
        enc.write_all(json.as_bytes()).unwrap();
        let mut two = enc.finish().unwrap();
        let again = two.clone();
        two.extend_from_slice(&again);
        assert!(matches!(
            decode(&seal(&two)),
            Err(BundleError::TrailingData { .. })
        ));
    }

    #[test]
    fn writer_refuses_out_of_order_and_damaged_records() {
        let mut w = BundleWriter::new(device(), "", "").unwrap();
        w.push(&item(2)).unwrap();
        assert!(w.push(&item(2)).is_err());
        assert!(w.push(&item(1)).is_err());
        let mut damaged = item(3);
        damaged.canonical[5] ^= 1;
        assert!(w.push(&damaged).is_err());
        let empty = BundleWriter::new(device(), "", "").unwrap();
        assert!(matches!(empty.finish("x", None), Err(BundleError::Empty)));
    }
}
