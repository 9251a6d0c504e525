//! Builds the seed corpora of the fuzz targets from `proto/vectors/`:
//! `fuzz-seed VECTORS_DIR CORPUS_DIR` writes `CORPUS_DIR/<target>/seed-*`
//! and removes the `seed-*` files it did not write (inputs libFuzzer added,
//! named by their SHA-1, are left alone). The output depends only on the
//! vectors: sealed records use fixed test keys and nonces, compression a
//! fixed level. Run through `scripts/fuzz-seed.sh`.
//!
//! Every seed starts with the byte its target reads first (a mode or
//! flags, see each target's header) except `record_validate`'s, which
//! are plain record bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crypto_box::aead::Aead;
use crypto_box::{ChaChaBox, SecretKey};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

type Error = Box<dyn std::error::Error>;

/// Central's sealing key in the fuzz targets (`batch_decode.rs`).
const CENTRAL_SEAL_SECRET: [u8; 32] = [13; 32];
/// The laptop's ephemeral sealing key in these seeds.
const EPHEMERAL_SECRET: [u8; 32] = [14; 32];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, vectors, corpus] = args.as_slice() else {
        eprintln!("usage: fuzz-seed VECTORS_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    if let Err(e) = run(Path::new(vectors), Path::new(corpus)) {
        eprintln!("fuzz-seed: {e}");
        std::process::exit(1);
    }
}

/// Seeds per target, by file name.
#[derive(Default)]
struct Seeds(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Seeds {
    fn add(&mut self, target: &'static str, name: &str, bytes: Vec<u8>) {
        self.0
            .entry(target)
            .or_default()
            .insert(format!("seed-{name}"), bytes);
    }

    fn with_byte(&mut self, target: &'static str, name: &str, first: u8, rest: &[u8]) {
        let mut bytes = Vec::with_capacity(rest.len() + 1);
        bytes.push(first);
        bytes.extend_from_slice(rest);
        self.add(target, name, bytes);
    }

    fn write(&self, corpus: &Path) -> Result<(), Error> {
        for (target, files) in &self.0 {
            let dir = corpus.join(target);
            fs::create_dir_all(&dir)?;
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("seed-") && !files.contains_key(&name) {
                    fs::remove_file(entry.path())?;
                }
            }
            let mut bytes = 0;
            for (name, content) in files {
                let path = dir.join(name);
                if fs::read(&path).ok().as_deref() != Some(content.as_slice()) {
                    fs::write(&path, content)?;
                }
                bytes += content.len();
            }
            println!("{target}: {} seeds, {bytes} bytes", files.len());
        }
        Ok(())
    }
}

fn run(vectors: &Path, corpus: &Path) -> Result<(), Error> {
    let mut seeds = Seeds::default();
    record_seeds(vectors, &mut seeds)?;
    batch_and_bundle_seeds(vectors, &mut seeds)?;
    proof_seeds(vectors, &mut seeds)?;
    seeds.write(corpus)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    if files.is_empty() {
        return Err(format!("no vectors in {}", dir.display()).into());
    }
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_json(path: &Path) -> Result<Value, Error> {
    let text = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// `record_validate`: the inputs of the canonical and invalid vectors, and
/// the canonical records' exact bytes.
fn record_seeds(vectors: &Path, seeds: &mut Seeds) -> Result<(), Error> {
    for path in json_files(&vectors.join("canonical"))? {
        let v = read_json(&path)?;
        let name = stem(&path);
        seeds.add(
            "record_validate",
            &format!("canonical-{name}.input"),
            serde_json::to_vec(&v["input"])?,
        );
        let canonical = v["canonical"]
            .as_str()
            .ok_or_else(|| format!("{name}: no canonical string"))?;
        seeds.add(
            "record_validate",
            &format!("canonical-{name}.canonical"),
            canonical.as_bytes().to_vec(),
        );
    }
    // Recipes (first byte 0): a vector's input changed in a few places.
    for k in 0u8..8 {
        let rest: Vec<u8> = (0u8..48)
            .map(|i| i.wrapping_mul(29).wrapping_add(k * 31))
            .collect();
        seeds.with_byte("record_validate", &format!("recipe-{k}"), 0, &rest);
    }
    for path in json_files(&vectors.join("invalid"))? {
        let v = read_json(&path)?;
        seeds.add(
            "record_validate",
            &format!("invalid-{}", stem(&path)),
            serde_json::to_vec(&v["input"])?,
        );
    }
    Ok(())
}

/// A batch file's records, each record's text exactly as in the file.
#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    records: Vec<RawRecord<'a>>,
}

#[derive(Deserialize)]
struct RawRecord<'a> {
    content_hash: String,
    #[serde(borrow)]
    record: &'a RawValue,
    #[serde(default)]
    signature: Option<String>,
}

/// `batch_decode` flag bits (see the target).
const ZSTD: u8 = 1;
const REGISTERED: u8 = 1 << 1;
const BIOMETRICS: u8 = 3 << 1;
const OPENER: u8 = 8;
const REHASH: u8 = 0x10;
const RESIGN: u8 = 0x20;
const PARALLEL: u8 = 0xc0;

/// `batch_decode` and `bundle_parse`: the vectors' batches as sent (plain
/// and zstd, under the policies they were written for), a batch of
/// sealed records, and bundles made of the batches' records.
fn batch_and_bundle_seeds(vectors: &Path, seeds: &mut Seeds) -> Result<(), Error> {
    let mut batches: Vec<(String, Vec<u8>)> = Vec::new();
    for path in json_files(&vectors.join("sync"))? {
        if stem(&path).starts_with("batch-") {
            batches.push((format!("sync-{}", stem(&path)), fs::read(&path)?));
        }
    }
    batches.push((
        "log-batch-04-journal".into(),
        fs::read(vectors.join("log/batch-04-journal.json"))?,
    ));
    let signed = fs::read(vectors.join("register/batch-signed.json"))?;
    batches.push(("register-batch-signed".into(), signed.clone()));

    let target = "batch_decode";
    for (name, body) in &batches {
        seeds.with_byte(target, name, 0, body);
    }
    let b01 = &batches[0].1;
    seeds.with_byte(
        target,
        "sync-batch-01-two-records.zstd",
        ZSTD,
        &zstd_plain(b01)?,
    );
    seeds.with_byte(
        target,
        "register-batch-signed.registered",
        REGISTERED,
        &signed,
    );
    seeds.with_byte(
        target,
        "register-batch-signed.registered.zstd",
        REGISTERED | ZSTD,
        &zstd_plain(&signed)?,
    );
    seeds.with_byte(
        target,
        "register-batch-signed.biometrics",
        BIOMETRICS,
        &signed,
    );
    seeds.with_byte(
        target,
        "register-batch-signed.registered.rehash-resign",
        REGISTERED | REHASH | RESIGN,
        &signed,
    );
    seeds.with_byte(
        target,
        "sync-batch-03-refused.rehash",
        REHASH,
        &batches[2].1,
    );
    // The target repeats the records only for a body whose FNV-1a is a
    // multiple of 16: give it a short whitespace tail that makes it one.
    let parallel = pad_to_fnv_multiple(b01, 16)?;
    seeds.with_byte(
        target,
        "sync-batch-01-two-records.parallel",
        PARALLEL,
        &parallel,
    );
    seeds.with_byte(
        target,
        "problem-batch-malformed",
        0,
        br#"{"protocol":1,"records":[]}"#,
    );
    let sealed = sealed_batch(&signed)?;
    seeds.with_byte(target, "sealed-batch.relayed", 0, &sealed);
    seeds.with_byte(target, "sealed-batch.central", OPENER, &sealed);
    seeds.with_byte(
        target,
        "sealed-batch.central-registered",
        OPENER | REGISTERED,
        &sealed,
    );

    // Bundles: documents made as the writer makes them.
    let target = "bundle_parse";
    let mut documents = Vec::new();
    for (name, body) in &batches {
        if name == "sync-batch-02-conflicts" {
            continue; // records out of sequence order: not a bundle
        }
        documents.push((name.clone(), bundle_document(body)?));
    }
    documents.push(("sealed-batch".into(), bundle_document(&sealed)?));
    for (name, document) in &documents {
        let frame = zstd_checksummed(document)?;
        let mut file = b"DSBUNDL1".to_vec();
        file.extend_from_slice(&Sha256::digest(&frame));
        file.extend_from_slice(&frame);
        seeds.with_byte(target, &format!("{name}.file"), 0, &file);
        seeds.with_byte(target, &format!("{name}.frame"), 1, &frame);
        seeds.with_byte(target, &format!("{name}.document"), 2, document);
        seeds.with_byte(target, &format!("{name}.agreeing"), 3, document);
    }
    Ok(())
}

/// `bytes` followed by the first JSON whitespace (in breadth-first order
/// over space, tab, newline, carriage return; at most four) that makes its
/// FNV-1a a multiple of `m`. Appending spaces alone can never get there:
/// a space leaves the low bits of the hash's xor step unchanged and the
/// multiplier is odd, so the low bits never reach zero.
fn pad_to_fnv_multiple(bytes: &[u8], m: u64) -> Result<Vec<u8>, Error> {
    const WS: [u8; 4] = [b' ', b'\t', b'\n', b'\r'];
    let mut tails: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..=4 {
        let mut next = Vec::new();
        for tail in &tails {
            let mut candidate = bytes.to_vec();
            candidate.extend_from_slice(tail);
            if fnv1a(&candidate).is_multiple_of(m) {
                return Ok(candidate);
            }
            for w in WS {
                let mut t = tail.clone();
                t.push(w);
                next.push(t);
            }
        }
        tails = next;
    }
    Err(format!("no whitespace tail of up to 4 bytes makes the FNV-1a a multiple of {m}").into())
}

/// FNV-1a of `bytes` (as `batch_decode.rs` computes it).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn zstd_plain(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(zstd::bulk::compress(bytes, 3)?)
}

fn zstd_checksummed(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
    enc.include_checksum(true)?;
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

/// A record's envelope members.
fn envelope(record: &RawValue) -> Result<Value, Error> {
    Ok(serde_json::from_str(record.get())?)
}

/// `body` (a batch of plain records) with every record sealed to the fuzz
/// targets' central key: deterministic keys and nonces.
fn sealed_batch(body: &[u8]) -> Result<Vec<u8>, Error> {
    let batch: RawBatch<'_> = serde_json::from_slice(body)?;
    let mut whole: Value = serde_json::from_slice(body)?;
    let central = SecretKey::from_bytes(CENTRAL_SEAL_SECRET).public_key();
    let ephemeral = SecretKey::from_bytes(EPHEMERAL_SECRET);
    let cipher = ChaChaBox::new(&central, &ephemeral);
    let mut records = Vec::new();
    for (i, r) in batch.records.iter().enumerate() {
        let e = envelope(r.record)?;
        let nonce = [u8::try_from(i)?.wrapping_add(15); 24];
        let ciphertext = cipher
            .encrypt(&nonce.into(), r.record.get().as_bytes())
            .map_err(|_| "sealing failed")?;
        let sealed = serde_json::json!({
            "record_id": e["record_id"],
            "device_id": e["device_id"],
            "device_seq": e["device_seq"],
            "kind": e["body"]["kind"],
            "enrolled_at": e["enrolled_at"],
            "to": hex::encode(central.to_bytes()),
            "from": hex::encode(ephemeral.public_key().to_bytes()),
            "nonce": hex::encode(nonce),
            "box": data_encoding::BASE64.encode(&ciphertext),
        });
        let mut line = serde_json::json!({ "content_hash": r.content_hash, "sealed": sealed });
        if let Some(sig) = &r.signature {
            line["signature"] = sig.clone().into();
        }
        records.push(line);
    }
    whole["records"] = records.into();
    Ok(serde_json::to_vec_pretty(&whole)?)
}

/// The bundle document of a batch's records, written as `BundleWriter`
/// writes it (records first, each record's bytes verbatim). A batch of
/// sealed records is read back from its `sealed` members.
fn bundle_document(body: &[u8]) -> Result<Vec<u8>, Error> {
    #[derive(Deserialize)]
    struct Line<'a> {
        content_hash: String,
        #[serde(borrow, default)]
        record: Option<&'a RawValue>,
        #[serde(borrow, default)]
        sealed: Option<&'a RawValue>,
        #[serde(default)]
        signature: Option<String>,
    }
    #[derive(Deserialize)]
    struct Lines<'a> {
        #[serde(borrow)]
        records: Vec<Line<'a>>,
        #[serde(default)]
        journal: Option<Value>,
    }
    let batch: Lines<'_> = serde_json::from_slice(body)?;
    let mut out = br#"{"format":"doorstep-bundle","version":1,"records":["#.to_vec();
    let (mut device, mut seqs, mut hashes) = (Value::Null, Vec::new(), Vec::new());
    for (i, line) in batch.records.iter().enumerate() {
        let (member, raw) = match (line.record, line.sealed) {
            (Some(r), _) => ("record", r),
            (None, Some(s)) => ("sealed", s),
            (None, None) => return Err("a batch record without record or sealed".into()),
        };
        let e: Value = serde_json::from_str(raw.get())?;
        device = e["device_id"].clone();
        seqs.push(e["device_seq"].as_u64().ok_or("no device_seq")?);
        hashes.push(line.content_hash.clone());
        if i > 0 {
            out.push(b',');
        }
        write!(
            out,
            r#"{{"content_hash":"{}","{member}":{}"#,
            line.content_hash,
            raw.get()
        )?;
        if let Some(sig) = &line.signature {
            write!(out, r#","signature":"{sig}""#)?;
        }
        out.push(b'}');
    }
    let mut manifest = serde_json::json!({
        "device_id": device,
        "device_name": "Tổ 3 - CA Thuận Giao",
        "unit_code": "25972",
        "created_at": "2026-11-23T09:30:00.120Z",
        "seq_from": seqs.first(),
        "seq_to": seqs.last(),
        "count": seqs.len(),
        "content_hashes": hashes,
    });
    if let Some(journal) = batch.journal {
        manifest["journal"] = journal;
    }
    write!(out, r#"],"manifest":{manifest}}}"#)?;
    Ok(out)
}

/// `proof_verify`: the log vectors (mode 0) and a few inputs for the
/// structured modes.
fn proof_seeds(vectors: &Path, seeds: &mut Seeds) -> Result<(), Error> {
    let target = "proof_verify";
    for path in json_files(&vectors.join("log"))? {
        let name = stem(&path);
        let wanted = [
            "tree-head-",
            "inclusion-",
            "consistency-",
            "entries-",
            "entry-",
            "receipt-",
        ];
        if wanted.iter().any(|w| name.starts_with(w)) {
            seeds.with_byte(target, &format!("log-{name}"), 0, &fs::read(&path)?);
        }
    }
    seeds.with_byte(
        target,
        "register-answer",
        0,
        &fs::read(vectors.join("register/register-answer.json"))?,
    );
    for mode in 1u8..=4 {
        for (k, step) in [(0u8, 1u8), (1, 37), (2, 101)] {
            let rest: Vec<u8> = (0u8..64)
                .map(|i| i.wrapping_mul(step).wrapping_add(k))
                .collect();
            seeds.with_byte(target, &format!("mode-{mode}-{k}"), mode, &rest);
        }
    }
    Ok(())
}
