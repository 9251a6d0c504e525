#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The sync vectors of `proto/vectors/sync/` against the wire types and
//! the JSON Schemas of `proto/schemas/`: every vector reads into its
//! `doorstep_wire` type and writes back to the same JSON value, every
//! record of a batch hashes to its `content_hash` (unless the manifest
//! says it must not), and every vector matches its schema.
//!
//! The audit log vectors of `proto/vectors/log/` are checked the same way,
//! and cryptographically: tree head signatures, entry and leaf hashes, the
//! roots the entries rebuild, inclusion and consistency proofs, and a
//! receipt's log part as a witness checks it (`proto/sync-v1.md` 14.8).
//!
//! The provisioning vectors of `proto/vectors/register/` (section 16):
//! registration requests, answers and problems against their types and
//! schemas, the answer's log head as a node checks it before pinning it,
//! the token's normalisation and stored hash, and a signed batch whose
//! record signatures verify with the device key (and fail when changed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use doorstep_core::merkle::{self, MemoryTree};
use doorstep_wire::log::{
    ConsistencyAnswer, DeviceRecordsAnswer, DevicesAnswer, InclusionAnswer, LogEntriesAnswer,
    LogEntry, SessionsAnswer, SignedTreeHead, TreeHeadAnswer,
};
use doorstep_wire::{Batch, Health, Problem, Receipt};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

fn sync_dir() -> PathBuf {
    proto_dir().join("vectors/sync")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Entry {
    file: String,
    kind: String,
    hash_mismatch: BTreeSet<usize>,
}

fn manifest() -> Vec<Entry> {
    let m = json(&sync_dir().join("manifest.json"));
    let files = m["files"].as_array().expect("manifest: files");
    assert!(!files.is_empty(), "the manifest lists no vector");
    files
        .iter()
        .map(|f| Entry {
            file: f["file"].as_str().expect("file").to_owned(),
            kind: f["type"].as_str().expect("type").to_owned(),
            hash_mismatch: f
                .get("hash_mismatch")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|i| usize::try_from(i.as_u64().expect("index")).expect("index"))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads `text` as `T` and checks it writes back to the same JSON value.
fn round_trip<T>(name: &str, text: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        back, original,
        "{name}: the wire type does not write back the same JSON"
    );
    typed
}

/// Problems found in the records of a batch vector: a record whose exact
/// text does not hash to its `content_hash`, unless listed in `expected`
/// (and then it must not hash to it).
fn hash_problems(name: &str, batch: &Batch, expected: &BTreeSet<usize>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, r) in batch.records.iter().enumerate() {
        let text = r.record.as_ref().unwrap().get();
        let actual = sha256_hex(text.as_bytes());
        let matches = actual == r.content_hash;
        if expected.contains(&i) == matches {
            out.push(format!(
                "{name}: record {i}: content_hash {} but the record's text hashes to {actual}{}",
                r.content_hash,
                if matches {
                    " (the manifest says it must not match)"
                } else {
                    ""
                }
            ));
        }
        if !text.starts_with('{') {
            out.push(format!("{name}: record {i} is not a JSON object"));
        }
    }
    for i in expected {
        if *i >= batch.records.len() {
            out.push(format!(
                "{name}: hash_mismatch names record {i}, which does not exist"
            ));
        }
    }
    out
}

fn schema_file(kind: &str) -> &'static str {
    match kind {
        "batch" => "batch.schema.json",
        "receipt" => "receipt.schema.json",
        "problem" => "problem.schema.json",
        "health" => "health.schema.json",
        "tree_head" => "tree-head.schema.json",
        "inclusion" => "inclusion-proof.schema.json",
        "consistency" => "consistency-proof.schema.json",
        "log_entries" => "log-entries.schema.json",
        "log_entry" => "log-entry.schema.json",
        "sessions" => "sessions.schema.json",
        "devices" => "devices.schema.json",
        "device_records" => "device-records.schema.json",
        "register_request" => "register-request.schema.json",
        "register_answer" => "register-answer.schema.json",
        other => panic!("unknown vector type `{other}`"),
    }
}

/// Validators for the wire schemas; every schema of `proto/schemas/` is
/// registered under its `$id`, so the `$ref`s between them (the batch's
/// to the canonical record, the receipt's to the tree head, …) resolve
/// without any network.
struct Schemas {
    registry: jsonschema::Registry<'static>,
}

impl Schemas {
    fn load() -> Schemas {
        let mut schemas = Vec::new();
        for e in std::fs::read_dir(proto_dir().join("schemas")).unwrap() {
            let path = e.unwrap().path();
            if path.to_string_lossy().ends_with(".schema.json") {
                let schema = json(&path);
                let id = schema["$id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: no $id", path.display()))
                    .to_owned();
                schemas.push((id, schema));
            }
        }
        let registry = jsonschema::Registry::new()
            .extend(schemas)
            .unwrap()
            .prepare()
            .unwrap();
        Schemas { registry }
    }

    fn errors(&self, kind: &str, instance: &Value) -> Vec<String> {
        let schema = json(&proto_dir().join("schemas").join(schema_file(kind)));
        let validator = jsonschema::options()
            .with_registry(&self.registry)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{}: {e}", schema_file(kind)));
        validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}

#[test]
fn manifest_lists_every_vector_and_nothing_else() {
    let listed: BTreeSet<String> = manifest().into_iter().map(|e| e.file).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(sync_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "manifest.json")
        .collect();
    assert_eq!(listed, on_disk, "manifest.json and the directory differ");
    for kind in ["batch", "receipt", "problem", "health"] {
        assert!(
            manifest().iter().any(|e| e.kind == kind),
            "no `{kind}` vector"
        );
    }
}

#[test]
fn every_vector_reads_into_its_wire_type_and_writes_back_the_same() {
    for e in manifest() {
        let text = read(&sync_dir().join(&e.file));
        match e.kind.as_str() {
            "batch" => {
                let _: Batch = round_trip(&e.file, &text);
            }
            "receipt" => {
                let r: Receipt = round_trip(&e.file, &text);
                let mut counts = doorstep_wire::OutcomeCounts::default();
                for (i, line) in r.records.iter().enumerate() {
                    assert_eq!(line.index as usize, i, "{}: index out of order", e.file);
                    counts.add(line.outcome);
                }
                assert_eq!(counts, r.counts, "{}: counts disagree with records", e.file);
            }
            "problem" => {
                let p: Problem = round_trip(&e.file, &text);
                assert_eq!(p.type_uri, format!("urn:doorstep:problem:{}", p.code));
            }
            "health" => {
                let _: Health = round_trip(&e.file, &text);
            }
            other => panic!("{}: unknown type `{other}`", e.file),
        }
    }
}

#[test]
fn batch_records_hash_to_their_content_hash() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for e in manifest().into_iter().filter(|e| e.kind == "batch") {
        let text = read(&sync_dir().join(&e.file));
        let batch: Batch = serde_json::from_str(&text).unwrap();
        assert!(!batch.records.is_empty(), "{}: no records", e.file);
        problems.extend(hash_problems(&e.file, &batch, &e.hash_mismatch));
        checked += batch.records.len();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 2);
}

#[test]
fn a_wrong_hash_is_caught() {
    let text = read(&sync_dir().join("batch-01-two-records.json"));
    let good: Batch = serde_json::from_str(&text).unwrap();
    assert!(hash_problems("batch-01", &good, &BTreeSet::new()).is_empty());
    let first = &good.records[0].content_hash;
    let mut wrong = first.clone();
    wrong.replace_range(..1, if first.starts_with('0') { "1" } else { "0" });
    let bad: Batch = serde_json::from_str(&text.replace(first.as_str(), &wrong)).unwrap();
    assert_eq!(hash_problems("batch-01", &bad, &BTreeSet::new()).len(), 1);
    // Whitespace inside the record changes its text, so its hash.
    let spaced: Batch = serde_json::from_str(&text.replacen("\"v\":1}", "\"v\": 1}", 1)).unwrap();
    assert_eq!(
        hash_problems("batch-01", &spaced, &BTreeSet::new()).len(),
        1
    );
}

#[test]
fn every_vector_matches_its_schema() {
    let schemas = Schemas::load();
    let mut problems = Vec::new();
    for e in manifest() {
        let value = json(&sync_dir().join(&e.file));
        for err in schemas.errors(&e.kind, &value) {
            problems.push(format!("{}: {err}", e.file));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every accepted exchange's receipt, as a witness checks it: the log's
/// signature, and the entry rebuilt from the batch sent and the receipt's
/// lines included in the signed root, in the receipt's own log.
#[test]
fn sync_receipts_check_out_as_a_witness_checks_them() {
    let m = json(&sync_dir().join("manifest.json"));
    let mut checked = 0;
    for ex in m["exchanges"].as_array().expect("exchanges") {
        if ex["status"] != 200 || ex["request"].get("batch").is_none() {
            continue;
        }
        let what = ex["description"].as_str().unwrap_or_default();
        let batch: Batch = serde_json::from_str(&read(
            &sync_dir().join(ex["request"]["batch"].as_str().unwrap()),
        ))
        .unwrap();
        let receipt: Receipt =
            serde_json::from_str(&read(&sync_dir().join(ex["response"].as_str().unwrap())))
                .unwrap();
        let log = receipt
            .log
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no log"));
        assert_eq!(
            log.tree_head.log_id, receipt.issuer.node_id,
            "{what}: the issuer's own log"
        );
        log.tree_head
            .verify(&log.public_key)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let entry = LogEntry::new(
            batch.batch_id,
            batch.session_id,
            &batch.sender,
            batch.journal,
            &receipt.received_at,
            &receipt.records,
        );
        merkle::verify_inclusion(
            &merkle::leaf_hash(&entry.to_bytes()),
            log.index,
            log.tree_head.tree_size,
            &log.inclusion,
            &log.tree_head.root_hash,
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} receipts checked");
}

#[test]
fn schemas_refuse_what_the_protocol_forbids() {
    let schemas = Schemas::load();
    let batch = json(&sync_dir().join("batch-01-two-records.json"));
    let mut no_hash = batch.clone();
    no_hash["records"][0]
        .as_object_mut()
        .unwrap()
        .remove("content_hash");
    assert!(!schemas.errors("batch", &no_hash).is_empty());
    let mut upper = batch.clone();
    upper["records"][0]["content_hash"] = Value::String("AB".repeat(32));
    assert!(!schemas.errors("batch", &upper).is_empty());
    let mut unknown_record_key = batch;
    unknown_record_key["records"][0]["record"]["extra"] = Value::Bool(true);
    assert!(!schemas.errors("batch", &unknown_record_key).is_empty());

    let receipt = json(&sync_dir().join("receipt-03-conflict.json"));
    let mut no_code = receipt.clone();
    no_code["records"][1]
        .as_object_mut()
        .unwrap()
        .remove("code");
    assert!(!schemas.errors("receipt", &no_code).is_empty());
    // A later outcome is allowed on the wire (the client keeps the record queued).
    let mut held = receipt;
    held["records"][0]["outcome"] = Value::String("held".into());
    assert!(schemas.errors("receipt", &held).is_empty());

    let mut problem = json(&sync_dir().join("problem-batch-malformed.json"));
    problem.as_object_mut().unwrap().remove("code");
    assert!(!schemas.errors("problem", &problem).is_empty());
}

// ---------------------------------------------------------------------
// Audit log vectors (`proto/vectors/log/`, `proto/sync-v1.md` section 14)

fn log_dir() -> PathBuf {
    proto_dir().join("vectors/log")
}

/// One file of `log/manifest.json`: its name, type, and the other
/// members (links to the files it is checked against).
struct LogFile {
    file: String,
    kind: String,
    meta: Value,
}

impl LogFile {
    /// The file another member of this manifest line names.
    fn link(&self, member: &str) -> &str {
        self.meta[member]
            .as_str()
            .unwrap_or_else(|| panic!("{}: the manifest gives no `{member}`", self.file))
    }
}

fn log_manifest() -> Vec<LogFile> {
    let m = json(&log_dir().join("manifest.json"));
    let files = m["files"].as_array().expect("log manifest: files");
    assert!(!files.is_empty(), "the log manifest lists no vector");
    files
        .iter()
        .map(|f| LogFile {
            file: f["file"].as_str().expect("file").to_owned(),
            kind: f["type"].as_str().expect("type").to_owned(),
            meta: f.clone(),
        })
        .collect()
}

fn log_read(name: &str) -> String {
    read(&log_dir().join(name))
}

fn tree_head_file(name: &str) -> TreeHeadAnswer {
    serde_json::from_str(&log_read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The log of the vectors rebuilt from `entries-*.json`: every entry's
/// exact bytes hash to its `leaf_hash`, and parse into a [`LogEntry`]
/// that writes back the very same bytes.
fn rebuilt_log(file: &LogFile) -> (MemoryTree, Vec<String>) {
    let answer: LogEntriesAnswer = serde_json::from_str(&log_read(&file.file)).unwrap();
    let mut tree = MemoryTree::new();
    let mut texts = Vec::new();
    for (i, line) in answer.entries.iter().enumerate() {
        let what = format!("{}: entry {}", file.file, line.index);
        assert_eq!(line.index, i as u64, "{what}: entries start at 0, in order");
        let bytes = line.entry.get().as_bytes();
        assert_eq!(
            merkle::leaf_hash(bytes),
            line.leaf_hash,
            "{what}: the entry's bytes do not hash to its leaf_hash"
        );
        let entry: LogEntry =
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            entry.to_bytes(),
            bytes,
            "{what}: LogEntry does not write back the entry's exact bytes"
        );
        assert_eq!(entry.v, 1, "{what}");
        tree.push(line.leaf_hash);
        texts.push(line.entry.get().to_owned());
    }
    (tree, texts)
}

fn log_schema_errors(schemas: &Schemas, file: &LogFile) -> Vec<String> {
    let value = json(&log_dir().join(&file.file));
    schemas
        .errors(&file.kind, &value)
        .into_iter()
        .map(|e| format!("{}: {e}", file.file))
        .collect()
}

#[test]
fn log_manifest_lists_every_vector_and_nothing_else() {
    let listed: BTreeSet<String> = log_manifest().into_iter().map(|e| e.file).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(log_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "manifest.json")
        .collect();
    assert_eq!(
        listed, on_disk,
        "log/manifest.json and the directory differ"
    );
    for kind in [
        "tree_head",
        "inclusion",
        "consistency",
        "log_entries",
        "log_entry",
        "sessions",
        "devices",
        "device_records",
    ] {
        assert!(
            log_manifest().iter().any(|e| e.kind == kind),
            "no `{kind}` log vector"
        );
    }
}

#[test]
fn log_vectors_read_into_their_wire_types_and_match_their_schemas() {
    let schemas = Schemas::load();
    let mut problems = Vec::new();
    for f in log_manifest() {
        let text = log_read(&f.file);
        match f.kind.as_str() {
            "tree_head" => {
                let _: TreeHeadAnswer = round_trip(&f.file, &text);
            }
            "inclusion" => {
                let _: InclusionAnswer = round_trip(&f.file, &text);
            }
            "consistency" => {
                let _: ConsistencyAnswer = round_trip(&f.file, &text);
            }
            "log_entries" => {
                let _: LogEntriesAnswer = round_trip(&f.file, &text);
            }
            "log_entry" => {
                let _: LogEntry = round_trip(&f.file, &text);
            }
            "sessions" => {
                let _: SessionsAnswer = round_trip(&f.file, &text);
            }
            "devices" => {
                let _: DevicesAnswer = round_trip(&f.file, &text);
            }
            "device_records" => {
                let _: DeviceRecordsAnswer = round_trip(&f.file, &text);
            }
            "batch" => {
                let batch: Batch = round_trip(&f.file, &text);
                problems.extend(hash_problems(&f.file, &batch, &BTreeSet::new()));
            }
            "receipt" => {
                let _: Receipt = round_trip(&f.file, &text);
            }
            "problem" => {
                let p: Problem = round_trip(&f.file, &text);
                assert_eq!(p.type_uri, format!("urn:doorstep:problem:{}", p.code));
            }
            other => panic!("{}: unknown type `{other}`", f.file),
        }
        problems.extend(log_schema_errors(&schemas, &f));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every log vector checks out: signatures verify with the vector's key,
/// entries hash to their leaves and rebuild every signed root, the
/// inclusion and consistency proofs verify against the signed roots, and
/// the receipt's log part proves the entry its sender rebuilds from the
/// batch and the receipt.
#[test]
fn log_vectors_check_out_cryptographically() {
    let manifest = log_manifest();
    let heads: Vec<(&LogFile, TreeHeadAnswer)> = manifest
        .iter()
        .filter(|f| f.kind == "tree_head")
        .map(|f| (f, tree_head_file(&f.file)))
        .collect();
    assert!(heads.len() >= 2, "at least two tree heads");
    let (_, first) = &heads[0];
    for (f, h) in &heads {
        h.tree_head
            .verify(&h.public_key)
            .unwrap_or_else(|e| panic!("{}: {e}", f.file));
        assert_eq!(
            h.public_key, first.public_key,
            "{}: one log, one key",
            f.file
        );
        assert_eq!(
            h.tree_head.log_id, first.tree_head.log_id,
            "{}: one log",
            f.file
        );
        // The signature covers exactly the documented bytes.
        let mut message = b"doorstep-tree-head-v1\n".to_vec();
        message.extend_from_slice(h.tree_head.log_id.as_bytes());
        message.extend_from_slice(&h.tree_head.tree_size.to_be_bytes());
        message.extend_from_slice(&h.tree_head.timestamp.to_be_bytes());
        message.extend_from_slice(&h.tree_head.root_hash);
        assert_eq!(h.tree_head.message(), message, "{}", f.file);
        assert_eq!(message.len(), 22 + 16 + 8 + 8 + 32);
        let mut forged = h.tree_head.clone();
        forged.timestamp += 1;
        assert!(forged.verify(&h.public_key).is_err(), "{}", f.file);
    }
    let head_of = |name: &str| -> SignedTreeHead { tree_head_file(name).tree_head };

    // The entries rebuild the log every head was signed over.
    let entries_file = manifest
        .iter()
        .find(|f| f.kind == "log_entries")
        .expect("an entries vector");
    let (tree, texts) = rebuilt_log(entries_file);
    for (f, h) in &heads {
        let size = h.tree_head.tree_size;
        let root = tree
            .root_at(size)
            .unwrap_or_else(|| panic!("{}: size {size} is beyond the entries", f.file));
        assert_eq!(
            root, h.tree_head.root_hash,
            "{}: root of {size} entries",
            f.file
        );
        if size == 0 {
            assert_eq!(root, merkle::empty_root(), "{}", f.file);
        }
    }

    let mut checked = BTreeSet::new();
    for f in &manifest {
        match f.kind.as_str() {
            "log_entry" => {
                // The file is the entry's exact bytes.
                let bytes = log_read(&f.file);
                let index = usize::try_from(f.meta["index"].as_u64().expect("index")).unwrap();
                assert_eq!(
                    bytes, texts[index],
                    "{}: not entry {index} byte for byte",
                    f.file
                );
                let entry: LogEntry = serde_json::from_str(&bytes).unwrap();
                assert_eq!(entry.to_bytes(), bytes.as_bytes(), "{}", f.file);
            }
            "inclusion" => {
                let proof: InclusionAnswer = serde_json::from_str(&log_read(&f.file)).unwrap();
                let head = head_of(f.link("tree_head"));
                let entry = log_read(f.link("entry"));
                assert_eq!(
                    proof.leaf_hash,
                    merkle::leaf_hash(entry.as_bytes()),
                    "{}: leaf_hash is not the entry's",
                    f.file
                );
                assert_eq!(proof.tree_size, head.tree_size, "{}", f.file);
                merkle::verify_inclusion(
                    &proof.leaf_hash,
                    proof.index,
                    proof.tree_size,
                    &proof.path,
                    &head.root_hash,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", f.file));
                // Another entry is not included at that place.
                let other = merkle::leaf_hash(texts[0].as_bytes());
                assert!(
                    merkle::verify_inclusion(
                        &other,
                        proof.index,
                        proof.tree_size,
                        &proof.path,
                        &head.root_hash
                    )
                    .is_err(),
                    "{}",
                    f.file
                );
            }
            "consistency" => {
                let proof: ConsistencyAnswer = serde_json::from_str(&log_read(&f.file)).unwrap();
                let small = head_of(f.link("first_head"));
                let big = head_of(f.link("second_head"));
                assert_eq!(
                    (proof.first, proof.second),
                    (small.tree_size, big.tree_size),
                    "{}",
                    f.file
                );
                merkle::verify_consistency(
                    proof.first,
                    proof.second,
                    &small.root_hash,
                    &big.root_hash,
                    &proof.path,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", f.file));
                let mut bent = small.root_hash;
                bent[0] ^= 1;
                assert!(
                    merkle::verify_consistency(
                        proof.first,
                        proof.second,
                        &bent,
                        &big.root_hash,
                        &proof.path
                    )
                    .is_err(),
                    "{}",
                    f.file
                );
            }
            "receipt" => {
                // What a sender does with a receipt (section 14.8).
                let receipt: Receipt = serde_json::from_str(&log_read(&f.file)).unwrap();
                let batch: Batch = serde_json::from_str(&log_read(f.link("batch"))).unwrap();
                assert_eq!(receipt.batch_id, batch.batch_id, "{}", f.file);
                let log = receipt.log.as_ref().expect("the receipt has a log part");
                assert_eq!(log.tree_head.log_id, receipt.issuer.node_id, "{}", f.file);
                assert_eq!(
                    log.public_key, first.public_key,
                    "{}: the pinned key",
                    f.file
                );
                log.tree_head
                    .verify(&log.public_key)
                    .unwrap_or_else(|e| panic!("{}: {e}", f.file));
                let entry = LogEntry::new(
                    batch.batch_id,
                    batch.session_id,
                    &batch.sender,
                    batch.journal,
                    &receipt.received_at,
                    &receipt.records,
                );
                let bytes = entry.to_bytes();
                let index = usize::try_from(log.index).unwrap();
                assert_eq!(
                    bytes,
                    texts[index].as_bytes(),
                    "{}: the rebuilt entry is not entry {index}",
                    f.file
                );
                merkle::verify_inclusion(
                    &merkle::leaf_hash(&bytes),
                    log.index,
                    log.tree_head.tree_size,
                    &log.inclusion,
                    &log.tree_head.root_hash,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", f.file));
                assert_eq!(
                    tree.root_at(log.tree_head.tree_size),
                    Some(log.tree_head.root_hash),
                    "{}",
                    f.file
                );
                for (h_file, h) in &heads {
                    if h.tree_head.tree_size == log.tree_head.tree_size {
                        assert_eq!(
                            h.tree_head, log.tree_head,
                            "{}: one size, one head ({})",
                            f.file, h_file.file
                        );
                    }
                }
            }
            _ => continue,
        }
        checked.insert(f.kind.clone());
    }
    for kind in ["log_entry", "inclusion", "consistency", "receipt"] {
        assert!(checked.contains(kind), "no `{kind}` vector was checked");
    }
}

/// Seed of the vectors' log signing key (never a real key).
const LOG_SEED: [u8; 32] = [7; 32];
/// The vectors' log: central's node ID in the sync vectors.
const LOG_ID: &str = "019ab0e0-0000-7000-8000-0000000c0001";
/// 2026-11-23T00:55:00.000Z: the empty log's head, signed when the store
/// was made.
const HEAD_0_AT: u64 = 1_795_395_300_000;
/// 2026-11-23T02:15:00.073Z: the head issued with the receipt of batch b2.
const HEAD_3_AT: u64 = 1_795_400_100_073;
/// 2026-11-24T02:30:00.281Z: the head issued with the receipt of batch b4.
const HEAD_5_AT: u64 = 1_795_487_400_281;

/// Writes `proto/vectors/log/` from the sync vectors and the fixed key
/// above. Files that exist are compared, not overwritten, unless
/// `DOORSTEP_OVERWRITE_LOG_VECTORS=1`. The files, not this function, are
/// the reference: it was run once, and its output reviewed.
#[test]
#[ignore = "writes proto/vectors/log/ (cargo test -p doorstep-wire --test vectors -- --ignored)"]
fn make_log_vectors() {
    use doorstep_wire::log::{
        DeviceLine, HeldRecordLine, JournalHead, LogEntryLine, ReceiptLog, SessionLine,
        tree_head_message,
    };
    use doorstep_wire::{Issuer, NodeRole, Outcome, OutcomeCounts, RecordReceipt};
    use ed25519_dalek::Signer;
    use serde_json::value::RawValue;
    use uuid::Uuid;

    let key = ed25519_dalek::SigningKey::from_bytes(&LOG_SEED);
    let public_key = key.verifying_key().to_bytes();
    let log_id = Uuid::parse_str(LOG_ID).unwrap();
    let sign = |tree_size: u64, timestamp: u64, root_hash: [u8; 32]| SignedTreeHead {
        log_id,
        tree_size,
        timestamp,
        root_hash,
        signature: key
            .sign(&tree_head_message(
                &log_id, tree_size, timestamp, &root_hash,
            ))
            .to_bytes(),
    };

    // Entries 0 to 3: what the laptop rebuilds from the sync vectors.
    let sync = |name: &str| read(&sync_dir().join(name));
    let mut entries: Vec<LogEntry> = [
        ("batch-01-two-records.json", "receipt-01-accepted.json"),
        (
            "batch-01-two-records.json",
            "receipt-02-replayed-duplicate.json",
        ),
        ("batch-02-conflicts.json", "receipt-03-conflict.json"),
        ("batch-03-refused.json", "receipt-04-refused.json"),
    ]
    .iter()
    .map(|(b, r)| {
        let batch: Batch = serde_json::from_str(&sync(b)).unwrap();
        let receipt: Receipt = serde_json::from_str(&sync(r)).unwrap();
        LogEntry::new(
            batch.batch_id,
            batch.session_id,
            &batch.sender,
            batch.journal,
            &receipt.received_at,
            &receipt.records,
        )
    })
    .collect();

    // Entry 4: the next day, session C sends one new record (canonical
    // vector 01 re-enveloped as record …0009, sequence 9) with the
    // laptop's journal head.
    let canonical_01 =
        json(&proto_dir().join("vectors/canonical/01-id-card-application-full.json"));
    let record_9 = canonical_01["canonical"]
        .as_str()
        .unwrap()
        .replace("\"device_seq\":1,", "\"device_seq\":9,")
        .replace("2026-11-22T03:04:05.678Z", "2026-11-24T01:10:00.000Z")
        .replace(
            "019a4f6e-3c21-7d4b-8e5f-000000000001",
            "019a4f6e-3c21-7d4b-8e5f-000000000009",
        );
    let hash_9 = sha256_hex(record_9.as_bytes());
    let device = Uuid::parse_str("4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70").unwrap();
    let journal = JournalHead {
        // Illustrative: the laptop's journal is not part of these vectors.
        hash: Sha256::digest(b"doorstep log vectors: journal entry 23").into(),
        seq: 23,
    };
    let batch_4 = Batch {
        protocol: 1,
        batch_id: Uuid::parse_str("019ab0f0-1e2d-7a00-9000-0000000000b4").unwrap(),
        session_id: Uuid::parse_str("019ab0f0-1e2d-7a00-9000-00000000005c").unwrap(),
        sender: doorstep_wire::Sender {
            node_id: device,
            role: NodeRole::Field,
            name: Some("Tổ 3 - CA Thuận Giao".into()),
            client_version: "doorstep/0.1.0".into(),
        },
        journal: Some(journal),
        records: vec![doorstep_wire::BatchRecord {
            content_hash: hash_9.clone(),
            record: Some(RawValue::from_string(record_9).unwrap()),
            sealed: None,
            signature: None,
        }],
    };
    let received_4 = "2026-11-24T02:30:00.250Z";
    let lines_4 = vec![RecordReceipt {
        index: 0,
        record_id: Some(Uuid::parse_str("019a4f6e-3c21-7d4b-8e5f-000000000009").unwrap()),
        device_id: Some(device),
        device_seq: Some(9),
        content_hash: hash_9.clone(),
        outcome: Outcome::Accepted,
        code: None,
        reason: None,
        reason_vi: None,
        violations: Vec::new(),
        missing_attachments: Vec::new(),
    }];
    entries.push(LogEntry::new(
        batch_4.batch_id,
        batch_4.session_id,
        &batch_4.sender,
        batch_4.journal,
        received_4,
        &lines_4,
    ));

    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(merkle::leaf_hash(&e.to_bytes()));
    }
    let head_0 = sign(0, HEAD_0_AT, merkle::empty_root());
    let head_3 = sign(3, HEAD_3_AT, tree.root_at(3).unwrap());
    let head_5 = sign(5, HEAD_5_AT, tree.root());
    let answer = |head: &SignedTreeHead| TreeHeadAnswer {
        tree_head: head.clone(),
        public_key,
    };
    let lines: Vec<LogEntryLine> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bytes = e.to_bytes();
            LogEntryLine {
                index: i as u64,
                leaf_hash: merkle::leaf_hash(&bytes),
                entry: RawValue::from_string(String::from_utf8(bytes).unwrap()).unwrap(),
            }
        })
        .collect();
    let inclusion = InclusionAnswer {
        index: 3,
        tree_size: 5,
        leaf_hash: lines[3].leaf_hash,
        path: merkle::inclusion_proof(&mut &tree, 3, 5).unwrap(),
    };
    let consistency = ConsistencyAnswer {
        first: 3,
        second: 5,
        path: merkle::consistency_proof(&mut &tree, 3, 5).unwrap(),
    };
    let mut counts_4 = OutcomeCounts::default();
    counts_4.add(Outcome::Accepted);
    let receipt_4 = Receipt {
        protocol: 1,
        batch_id: batch_4.batch_id,
        issuer: Issuer {
            node_id: log_id,
            role: NodeRole::Central,
        },
        received_at: received_4.into(),
        counts: counts_4,
        records: lines_4,
        log: Some(ReceiptLog {
            index: 4,
            tree_head: head_5.clone(),
            public_key,
            inclusion: merkle::inclusion_proof(&mut &tree, 4, 5).unwrap(),
        }),
    };

    // What the GET endpoints answer once the five batches are in.
    let name = Some("Tổ 3 - CA Thuận Giao".to_owned());
    let session = |id: &str, started: &str, last: &str, batches, counts, bytes_in| SessionLine {
        session_id: Uuid::parse_str(id).unwrap(),
        node_id: device,
        role: "field".into(),
        name: name.clone(),
        client_version: "doorstep/0.1.0".into(),
        started_at: started.into(),
        last_batch_at: last.into(),
        batches,
        counts,
        bytes_in,
    };
    let counts = |accepted, duplicate, conflict, invalid| OutcomeCounts {
        accepted,
        duplicate,
        conflict,
        invalid,
    };
    let sessions = SessionsAnswer {
        sessions: vec![
            session(
                "019ab0f0-1e2d-7a00-9000-00000000005c",
                received_4,
                received_4,
                1,
                counts(1, 0, 0, 0),
                1_012,
            ),
            session(
                "019ab0f0-1e2d-7a00-9000-00000000005b",
                "2026-11-23T02:15:00.042Z",
                "2026-11-23T02:15:01.314Z",
                2,
                counts(2, 0, 2, 4),
                3_398,
            ),
            session(
                "019ab0f0-1e2d-7a00-9000-00000000005a",
                "2026-11-23T01:00:00.120Z",
                "2026-11-23T01:00:31.507Z",
                2,
                counts(2, 2, 0, 0),
                2_566,
            ),
        ],
    };
    let devices = DevicesAnswer {
        devices: vec![DeviceLine {
            device_id: device,
            name: name.clone(),
            records: 5,
            contiguous_seq: 3,
            max_seq: 9,
            gaps: vec![(4, 4), (6, 6), (8, 8)],
            first_seen_at: "2026-11-23T01:00:00.120Z".into(),
            last_sync_at: received_4.into(),
            journal: Some(journal),
        }],
    };
    let held = |seq: u64, id: &str, hash: &str| HeldRecordLine {
        device_seq: seq,
        record_id: Uuid::parse_str(id).unwrap(),
        content_hash: hex::decode(hash).unwrap().try_into().unwrap(),
    };
    let receipt_lines = |name: &str| -> Vec<RecordReceipt> {
        serde_json::from_str::<Receipt>(&sync(name))
            .unwrap()
            .records
    };
    let mut held_lines: Vec<HeldRecordLine> = [
        "receipt-01-accepted.json",
        "receipt-03-conflict.json",
        "receipt-04-refused.json",
    ]
    .iter()
    .flat_map(|r| receipt_lines(r))
    .filter(|l| l.outcome == Outcome::Accepted)
    .map(|l| {
        held(
            l.device_seq.unwrap(),
            &l.record_id.unwrap().to_string(),
            &l.content_hash,
        )
    })
    .collect();
    held_lines.push(held(9, "019a4f6e-3c21-7d4b-8e5f-000000000009", &hash_9));
    // `?after_seq=2&limit=3`
    let device_records = DeviceRecordsAnswer {
        records: held_lines
            .into_iter()
            .filter(|l| l.device_seq > 2)
            .take(3)
            .collect(),
    };
    let out_of_range = Problem::new(
        400,
        "log.out_of_range",
        "The proof asked for is outside the log",
        Some("tree size 9 is beyond the log's 5 entries".into()),
    );
    let query_invalid = Problem::new(
        400,
        "query.invalid",
        "The query parameters are not valid",
        Some("Failed to deserialize query string: missing field `end`".into()),
    );

    // Pretty JSON with a final line feed (the entries' and the record's
    // raw text stays as it is).
    fn pretty<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string_pretty(v).unwrap() + "\n"
    }
    let files: Vec<(&str, String)> = vec![
        ("tree-head-0.json", pretty(&answer(&head_0))),
        ("tree-head-3.json", pretty(&answer(&head_3))),
        ("tree-head-5.json", pretty(&answer(&head_5))),
        (
            "entries-0-5.json",
            pretty(&LogEntriesAnswer { entries: lines }),
        ),
        // The exact bytes of the entry: no line feed at the end.
        (
            "entry-3.json",
            String::from_utf8(entries[3].to_bytes()).unwrap(),
        ),
        ("inclusion-3-5.json", pretty(&inclusion)),
        ("consistency-3-5.json", pretty(&consistency)),
        ("batch-04-journal.json", pretty(&batch_4)),
        ("receipt-05-logged.json", pretty(&receipt_4)),
        ("sessions.json", pretty(&sessions)),
        ("devices.json", pretty(&devices)),
        ("device-records.json", pretty(&device_records)),
        ("problem-log-out-of-range.json", pretty(&out_of_range)),
        ("problem-query-invalid.json", pretty(&query_invalid)),
    ];
    let overwrite = std::env::var("DOORSTEP_OVERWRITE_LOG_VECTORS").as_deref() == Ok("1");
    std::fs::create_dir_all(log_dir()).unwrap();
    let mut differ = Vec::new();
    for (name, text) in files {
        let path = log_dir().join(name);
        match std::fs::read_to_string(&path) {
            Ok(old) if old == text => {}
            Ok(_) if !overwrite => differ.push(name),
            _ => std::fs::write(&path, text).unwrap(),
        }
    }
    assert!(
        differ.is_empty(),
        "these files differ from what the vectors are made of now: {differ:?}"
    );
}

#[test]
fn log_schemas_refuse_what_the_protocol_forbids() {
    let schemas = Schemas::load();
    let refused = |kind: &str, v: &Value| !schemas.errors(kind, v).is_empty();

    // The receipt's log part, through the tree head schema.
    let receipt = json(&sync_dir().join("receipt-01-accepted.json"));
    assert!(schemas.errors("receipt", &receipt).is_empty());
    let mut no_proof = receipt.clone();
    no_proof["log"].as_object_mut().unwrap().remove("inclusion");
    assert!(refused("receipt", &no_proof));
    let mut short_signature = receipt.clone();
    short_signature["log"]["tree_head"]["signature"] = Value::String("ab".repeat(32));
    assert!(refused("receipt", &short_signature));
    let mut upper_key = receipt;
    upper_key["log"]["public_key"] = Value::String("AB".repeat(32));
    assert!(refused("receipt", &upper_key));

    // The batch's journal head.
    let batch = json(&log_dir().join("batch-04-journal.json"));
    assert!(schemas.errors("batch", &batch).is_empty());
    let mut bad_journal = batch;
    bad_journal["journal"]["seq"] = Value::String("23".into());
    assert!(refused("batch", &bad_journal));

    // An entry has exactly its members, each always present.
    let entry = json(&log_dir().join("entry-3.json"));
    assert!(schemas.errors("log_entry", &entry).is_empty());
    let mut extra = entry.clone();
    extra["extra"] = Value::Bool(true);
    assert!(refused("log_entry", &extra));
    let mut missing_journal = entry.clone();
    missing_journal.as_object_mut().unwrap().remove("journal");
    assert!(refused("log_entry", &missing_journal));
    let mut journal_extra = entry.clone();
    journal_extra["journal"] = serde_json::json!({"hash": "ab".repeat(32), "seq": 1, "at": "x"});
    assert!(refused("log_entry", &journal_extra));
    let mut null_ids = entry;
    null_ids["records"][0]["record_id"] = Value::Null;
    null_ids["records"][0]["device_id"] = Value::Null;
    null_ids["records"][0]["device_seq"] = Value::Null;
    assert!(schemas.errors("log_entry", &null_ids).is_empty());

    // Entries answers hold entries.
    let mut entries = json(&log_dir().join("entries-0-5.json"));
    entries["entries"][1]["entry"]["v"] = Value::from(2);
    assert!(refused("log_entries", &entries));

    let mut proof = json(&log_dir().join("inclusion-3-5.json"));
    proof["path"][0] = Value::String("00".into());
    assert!(refused("inclusion", &proof));
    let mut gaps = json(&log_dir().join("devices.json"));
    gaps["devices"][0]["gaps"][0] = serde_json::json!([4]);
    assert!(refused("devices", &gaps));
}

// ---------------------------------------------------------------------
// Provisioning and signed records (`proto/vectors/register/`,
// `proto/sync-v1.md` section 16, `proto/canonical-v1.md` section 7.1)

fn register_dir() -> PathBuf {
    proto_dir().join("vectors/register")
}

fn register_manifest() -> (Value, Vec<LogFile>) {
    let m = json(&register_dir().join("manifest.json"));
    let files = m["files"].as_array().expect("register manifest: files");
    assert!(!files.is_empty(), "the register manifest lists no vector");
    let files = files
        .iter()
        .map(|f| LogFile {
            file: f["file"].as_str().expect("file").to_owned(),
            kind: f["type"].as_str().expect("type").to_owned(),
            meta: f.clone(),
        })
        .collect();
    (m, files)
}

fn register_read(name: &str) -> String {
    read(&register_dir().join(name))
}

/// A member of the register manifest that is a string.
fn manifest_str<'a>(m: &'a Value, member: &str) -> &'a str {
    m[member]
        .as_str()
        .unwrap_or_else(|| panic!("register manifest: no `{member}`"))
}

/// RFC 4648 base32 (upper case, no padding), as central writes tokens.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The token as central looks it up: without whitespace and `-`, upper case
/// (`doorstep_central::registry::normalise_token`).
fn normalise_token(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// The HTTP status of each registration problem (`proto/sync-v1.md` 16.3).
fn register_status(code: &str) -> u16 {
    match code {
        "token.unknown" => 401,
        "token.used" | "token.expired" => 410,
        "token.wrong_role" | "key.invalid" | "register.malformed" | "protocol.unsupported" => 400,
        "node.exists" | "key.in_use" => 409,
        "register.not_here" => 404,
        "register.too_large" => 413,
        "content_type.unsupported" => 415,
        "store.unavailable" => 503,
        other => panic!("`{other}` is not a registration problem"),
    }
}

/// The 51 bytes a device signs for a record, written out from the
/// specification (canonical 7.1), not from the reference's function.
fn documented_signing_bytes(content_hash: &str) -> Vec<u8> {
    let mut m = b"doorstep-record-v1\n".to_vec();
    m.extend_from_slice(&hex::decode(content_hash).unwrap());
    m
}

fn verifying_key(hex_key: &str) -> ed25519_dalek::VerifyingKey {
    let bytes: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).unwrap()
}

fn signature_of(hex_sig: &str) -> ed25519_dalek::Signature {
    let bytes: [u8; 64] = hex::decode(hex_sig).unwrap().try_into().unwrap();
    ed25519_dalek::Signature::from_bytes(&bytes)
}

#[test]
fn register_manifest_lists_every_vector_and_nothing_else() {
    let (_, files) = register_manifest();
    let listed: BTreeSet<String> = files.iter().map(|e| e.file.clone()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(register_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "manifest.json")
        .collect();
    assert_eq!(
        listed, on_disk,
        "register/manifest.json and the directory differ"
    );
    for kind in ["register_request", "register_answer", "problem", "batch"] {
        assert!(
            files.iter().any(|e| e.kind == kind),
            "no `{kind}` register vector"
        );
    }
}

#[test]
fn register_vectors_read_into_their_wire_types_and_match_their_schemas() {
    use doorstep_wire::register::{RegisterAnswer, RegisterRequest};
    let schemas = Schemas::load();
    let (_, files) = register_manifest();
    let mut problems = Vec::new();
    for f in &files {
        let text = register_read(&f.file);
        match f.kind.as_str() {
            "register_request" => {
                let _: RegisterRequest = round_trip(&f.file, &text);
            }
            "register_answer" => {
                let _: RegisterAnswer = round_trip(&f.file, &text);
            }
            "batch" => {
                let batch: Batch = round_trip(&f.file, &text);
                problems.extend(hash_problems(&f.file, &batch, &BTreeSet::new()));
            }
            "problem" => {
                let p: Problem = round_trip(&f.file, &text);
                assert_eq!(p.type_uri, format!("urn:doorstep:problem:{}", p.code));
                assert_eq!(
                    p.status,
                    register_status(&p.code),
                    "{}: the status of `{}`",
                    f.file,
                    p.code
                );
            }
            other => panic!("{}: unknown type `{other}`", f.file),
        }
        let value = json(&register_dir().join(&f.file));
        for err in schemas.errors(&f.kind, &value) {
            problems.push(format!("{}: {err}", f.file));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The answer registers what was asked, and pins a real head of central's
/// log: the empty log's head of `vectors/log/`, signed by its key.
#[test]
fn register_answer_carries_central_s_signed_log_head() {
    use doorstep_wire::register::{RegisterAnswer, RegisterRequest};
    let (m, files) = register_manifest();
    let answer_file = files
        .iter()
        .find(|f| f.kind == "register_answer")
        .expect("an answer");
    let answer: RegisterAnswer = serde_json::from_str(&register_read(&answer_file.file)).unwrap();
    let request: RegisterRequest =
        serde_json::from_str(&register_read(answer_file.link("request"))).unwrap();
    assert_eq!(answer.node_id, request.node_id);
    assert_eq!(answer.role, request.role);
    assert_eq!(request.protocol, 1);
    assert_eq!(
        request.public_key,
        manifest_str(&m, "device_public_key"),
        "the request registers the device key of the manifest"
    );
    assert_eq!(
        hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&DEVICE_SEED)
                .verifying_key()
                .to_bytes()
        ),
        manifest_str(&m, "device_public_key"),
        "the device key is the one of seed 0x0b"
    );
    // What a node checks before it pins the key (section 16.4).
    assert_eq!(answer.log.tree_head.log_id, answer.central_id);
    answer
        .log
        .tree_head
        .verify(&answer.log.public_key)
        .expect("the answer's head verifies with the key it carries");
    let mut forged = answer.log.tree_head.clone();
    forged.tree_size += 1;
    assert!(forged.verify(&answer.log.public_key).is_err());
    assert_eq!(
        hex::encode(answer.log.public_key),
        manifest_str(&m, "log_public_key")
    );
    assert_eq!(
        answer.central_id.to_string(),
        manifest_str(&m, "central_id")
    );
    // The very head the log vectors' central signed when its store was made.
    let linked: TreeHeadAnswer =
        serde_json::from_str(&register_read(answer_file.link("tree_head"))).unwrap();
    assert_eq!(answer.log, linked, "the answer's log is the linked head");
}

#[test]
fn tokens_normalise_and_hash_as_documented() {
    let (m, _) = register_manifest();
    let token = &m["token"];
    let bytes = hex::decode(manifest_str(token, "bytes")).unwrap();
    assert_eq!(bytes.len(), 20, "160 random bits");
    let normalised = manifest_str(token, "normalised");
    assert_eq!(base32(&bytes), normalised, "base32 without padding");
    assert_eq!(normalised.len(), 32);
    let printed = manifest_str(token, "printed");
    let groups: Vec<&str> = printed.split('-').collect();
    assert_eq!(groups.len(), 8, "eight groups");
    assert!(groups.iter().all(|g| g.len() == 4), "groups of four");
    assert_eq!(groups.concat(), normalised);
    let stored = manifest_str(token, "sha256");
    assert_eq!(sha256_hex(normalised.as_bytes()), stored);
    let spellings = token["spellings"].as_array().expect("spellings");
    assert!(spellings.len() >= 2);
    for s in spellings.iter().map(|s| s.as_str().unwrap()) {
        assert_eq!(normalise_token(s), normalised, "`{s}`");
        assert_eq!(sha256_hex(normalise_token(s).as_bytes()), stored, "`{s}`");
    }
    // The request carries one of the spellings.
    let (_, files) = register_manifest();
    for f in files.iter().filter(|f| f.kind == "register_request") {
        let request: doorstep_wire::register::RegisterRequest =
            serde_json::from_str(&register_read(&f.file)).unwrap();
        assert_eq!(normalise_token(&request.token), normalised, "{}", f.file);
    }
    // One character more, less or changed is another token.
    assert_ne!(sha256_hex(&normalised.as_bytes()[1..]), stored);
    assert_ne!(
        sha256_hex(normalised.replacen('A', "B", 1).as_bytes()),
        stored
    );
}

/// Every signed record of a batch vector: its signature verifies with the
/// manifest's device key over the documented 51 bytes (which are the
/// reference's `record_signing_bytes`); a changed bit, another record's
/// hash or another key does not verify.
#[test]
fn signed_batch_signatures_verify() {
    use doorstep_core::ContentHash;
    use doorstep_core::canonical::record_signing_bytes;
    let (m, files) = register_manifest();
    let key = verifying_key(manifest_str(&m, "device_public_key"));
    let other_key = ed25519_dalek::SigningKey::from_bytes(&LOG_SEED).verifying_key();
    let mut checked = 0;
    for f in files.iter().filter(|f| f.kind == "batch") {
        let batch: Batch = serde_json::from_str(&register_read(&f.file)).unwrap();
        assert!(batch.records.len() >= 2, "{}", f.file);
        for (i, r) in batch.records.iter().enumerate() {
            let what = format!("{}: record {i}", f.file);
            let text = r
                .signature
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: unsigned"));
            assert_eq!(text.len(), 128, "{what}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{what}: lower-case hex"
            );
            let message = documented_signing_bytes(&r.content_hash);
            assert_eq!(message.len(), 19 + 32);
            let hash = ContentHash::from_hex(&r.content_hash).unwrap();
            assert_eq!(record_signing_bytes(&hash).as_slice(), message, "{what}");
            let signature = signature_of(text);
            key.verify_strict(&message, &signature)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            // One bit of the signature flipped.
            let mut flipped = hex::decode(text).unwrap();
            flipped[0] ^= 1;
            assert!(
                key.verify_strict(&message, &signature_of(&hex::encode(&flipped)))
                    .is_err(),
                "{what}: a flipped signature verifies"
            );
            // The same signature over another record, or under another key.
            let other = &batch.records[(i + 1) % batch.records.len()];
            assert!(
                key.verify_strict(&documented_signing_bytes(&other.content_hash), &signature)
                    .is_err(),
                "{what}"
            );
            assert!(other_key.verify_strict(&message, &signature).is_err());
            // Signing the record's text instead of the hash is not it.
            assert!(
                key.verify_strict(r.record.as_ref().unwrap().get().as_bytes(), &signature)
                    .is_err()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} signed records");
}

/// What central decides for the signed batch given the registration of
/// `register-answer.json` (sync 6.2 step 8): the manifest's `authorization`
/// per record, checked here for the rules that need only the vectors
/// (signature, and the unit scope against `units.csv`).
#[test]
fn signed_batch_authorization_is_as_the_manifest_says() {
    use doorstep_core::units::Units;
    use doorstep_wire::register::RegisterAnswer;
    let (m, files) = register_manifest();
    let units = Units::from_csv(read(&proto_dir().join("vectors/units.csv")).as_bytes()).unwrap();
    let key = verifying_key(manifest_str(&m, "device_public_key"));
    for f in files.iter().filter(|f| f.kind == "batch") {
        let batch: Batch = serde_json::from_str(&register_read(&f.file)).unwrap();
        let answer: RegisterAnswer =
            serde_json::from_str(&register_read(f.link("registration"))).unwrap();
        let expected = f.meta["authorization"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no authorization", f.file));
        assert_eq!(expected.len(), batch.records.len(), "{}", f.file);
        assert_eq!(batch.sender.node_id, answer.node_id, "{}", f.file);
        for (r, want) in batch.records.iter().zip(expected) {
            let record =
                doorstep_core::decode_record(r.record.as_ref().unwrap().get().as_bytes()).unwrap();
            assert_eq!(record.device_id, answer.node_id);
            let signed = key
                .verify_strict(
                    &documented_signing_bytes(&r.content_hash),
                    &signature_of(r.signature.as_deref().unwrap()),
                )
                .is_ok();
            let code = if !signed {
                Some("record.bad_signature")
            } else if !units.is_within(&record.body.visit.unit_code, &answer.unit_code) {
                Some("record.out_of_scope")
            } else {
                None
            };
            assert_eq!(code, want.as_str(), "{}: {}", f.file, record.record_id);
        }
    }
}

#[test]
fn register_schemas_refuse_what_the_protocol_forbids() {
    let schemas = Schemas::load();
    let refused = |kind: &str, v: &Value| !schemas.errors(kind, v).is_empty();

    let batch = json(&register_dir().join("batch-signed.json"));
    assert!(schemas.errors("batch", &batch).is_empty());
    let mut upper = batch.clone();
    let sig = upper["records"][0]["signature"]
        .as_str()
        .unwrap()
        .to_uppercase();
    upper["records"][0]["signature"] = Value::String(sig);
    assert!(refused("batch", &upper));
    let mut short = batch.clone();
    short["records"][0]["signature"] = Value::String("ab".repeat(32));
    assert!(refused("batch", &short));
    let mut object = batch;
    object["records"][0]["signature"] = serde_json::json!({"alg": "ed25519", "sig": "…"});
    assert!(refused("batch", &object));

    let request = json(&register_dir().join("register-request.json"));
    let mut no_token = request.clone();
    no_token.as_object_mut().unwrap().remove("token");
    assert!(refused("register_request", &no_token));
    let mut central = request.clone();
    central["role"] = Value::String("central".into());
    assert!(refused("register_request", &central));
    let mut short_key = request;
    short_key["public_key"] = Value::String("ab".repeat(31));
    assert!(refused("register_request", &short_key));

    let answer = json(&register_dir().join("register-answer.json"));
    let mut no_log = answer.clone();
    no_log.as_object_mut().unwrap().remove("log");
    assert!(refused("register_answer", &no_log));
    let mut unsigned_head = answer.clone();
    unsigned_head["log"]["tree_head"]
        .as_object_mut()
        .unwrap()
        .remove("signature");
    assert!(refused("register_answer", &unsigned_head));
    let mut no_station = answer;
    no_station.as_object_mut().unwrap().remove("station_id");
    assert!(schemas.errors("register_answer", &no_station).is_empty());

    let mut problem = json(&register_dir().join("problem-token-used.json"));
    assert!(schemas.errors("problem", &problem).is_empty());
    problem["status"] = Value::from(200);
    assert!(refused("problem", &problem));
}

/// Seed of the vectors' device key (never a real key).
const DEVICE_SEED: [u8; 32] = [11; 32];

/// Writes `proto/vectors/register/` from the sync and log vectors and the
/// fixed keys. Files that exist are compared, not overwritten, unless
/// `DOORSTEP_OVERWRITE_REGISTER_VECTORS=1`. The files, not this function,
/// are the reference.
#[test]
#[ignore = "writes proto/vectors/register/ (cargo test -p doorstep-wire --test vectors -- --ignored)"]
fn make_register_vectors() {
    use doorstep_wire::NodeRole;
    use doorstep_wire::register::{RegisterAnswer, RegisterRequest};
    use ed25519_dalek::Signer;
    use serde_json::value::RawValue;
    use uuid::Uuid;

    let device_key = ed25519_dalek::SigningKey::from_bytes(&DEVICE_SEED);
    let device_public = hex::encode(device_key.verifying_key().to_bytes());
    let device = Uuid::parse_str("4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70").unwrap();
    let central = Uuid::parse_str(LOG_ID).unwrap();
    let station = Uuid::parse_str("019ab0e0-0000-7000-8000-0000000a0001").unwrap();

    // The token: 160 bits (here fixed), base32, in groups of four.
    let token_bytes = &Sha256::digest(b"doorstep register vectors: token")[..20];
    let normalised = base32(token_bytes);
    let printed = normalised
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-");

    let request = RegisterRequest {
        protocol: 1,
        token: printed.clone(),
        node_id: device,
        role: NodeRole::Field,
        public_key: device_public.clone(),
    };
    let head_0: TreeHeadAnswer = serde_json::from_str(&log_read("tree-head-0.json")).unwrap();
    let registered_at = "2026-11-23T00:58:00.000Z";
    let answer = RegisterAnswer {
        node_id: device,
        role: NodeRole::Field,
        unit_code: "25972".into(),
        name: "Tổ 3 - CA Thuận Giao".into(),
        station_id: Some(station),
        biometrics: None,
        registered_at: registered_at.into(),
        central_id: central,
        log: head_0,
        seal_key: None,
    };

    // The records of sync batch 01, signed by the device.
    let batch_01: Batch =
        serde_json::from_str(&read(&sync_dir().join("batch-01-two-records.json"))).unwrap();
    let records = batch_01
        .records
        .iter()
        .map(|r| {
            let hash = doorstep_core::ContentHash::from_hex(&r.content_hash).unwrap();
            let signature = device_key.sign(&doorstep_core::canonical::record_signing_bytes(&hash));
            doorstep_wire::BatchRecord {
                content_hash: r.content_hash.clone(),
                record: Some(
                    RawValue::from_string(r.record.as_ref().unwrap().get().to_owned()).unwrap(),
                ),
                sealed: None,
                signature: Some(hex::encode(signature.to_bytes())),
            }
        })
        .collect();
    let signed = Batch {
        protocol: 1,
        batch_id: Uuid::parse_str("019ab0f0-1e2d-7a00-9000-0000000000b5").unwrap(),
        session_id: Uuid::parse_str("019ab0f0-1e2d-7a00-9000-00000000005d").unwrap(),
        sender: batch_01.sender.clone(),
        journal: None,
        records,
    };

    let refused = |code: &str, detail: String| {
        Problem::new(
            register_status(code),
            code,
            "Registration refused",
            Some(detail),
        )
    };
    // The detail serde gives for a request without `public_key`.
    let mut incomplete = serde_json::to_value(&request).unwrap();
    incomplete.as_object_mut().unwrap().remove("public_key");
    let incomplete = serde_json::to_string(&incomplete).unwrap();
    let malformed = serde_json::from_str::<RegisterRequest>(&incomplete)
        .unwrap_err()
        .to_string();
    let problems = vec![
        (
            "problem-token-unknown.json",
            refused(
                "token.unknown",
                "this token is not one central issued (mistyped?)".into(),
            ),
        ),
        (
            "problem-token-used.json",
            refused(
                "token.used",
                format!("this token was already used, at {registered_at}; ask for a new one"),
            ),
        ),
        (
            "problem-token-expired.json",
            refused(
                "token.expired",
                "this token expired at 2026-11-23T08:00:00.000Z; ask for a new one".into(),
            ),
        ),
        (
            "problem-token-wrong-role.json",
            refused(
                "token.wrong_role",
                "this token is for a station node, not a field".into(),
            ),
        ),
        (
            "problem-key-invalid.json",
            refused(
                "key.invalid",
                format!(
                    "`{}` is not an Ed25519 public key (64 hex digits)",
                    &device_public[..8]
                ),
            ),
        ),
        (
            "problem-node-exists.json",
            refused(
                "node.exists",
                format!("node {device} is already registered"),
            ),
        ),
        (
            "problem-key-in-use.json",
            refused(
                "key.in_use",
                format!("this public key is already registered to node {device}"),
            ),
        ),
        (
            "problem-register-malformed.json",
            Problem::new(
                400,
                "register.malformed",
                "The body is not a v1 registration",
                Some(malformed),
            ),
        ),
        (
            "problem-register-not-here.json",
            Problem::new(
                404,
                "register.not_here",
                "Nodes register with central, not with a station",
                None,
            ),
        ),
    ];

    fn pretty<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string_pretty(v).unwrap() + "\n"
    }
    let mut files: Vec<(&str, String)> = vec![
        ("register-request.json", pretty(&request)),
        ("register-answer.json", pretty(&answer)),
        ("batch-signed.json", pretty(&signed)),
    ];
    files.extend(problems.iter().map(|(name, p)| (*name, pretty(p))));
    let overwrite = std::env::var("DOORSTEP_OVERWRITE_REGISTER_VECTORS").as_deref() == Ok("1");
    std::fs::create_dir_all(register_dir()).unwrap();
    let mut differ = Vec::new();
    for (name, text) in files {
        let path = register_dir().join(name);
        match std::fs::read_to_string(&path) {
            Ok(old) if old == text => {}
            Ok(_) if !overwrite => differ.push(name),
            _ => std::fs::write(&path, text).unwrap(),
        }
    }
    println!("token {printed}, normalised {normalised}");
    println!("token bytes {}", hex::encode(token_bytes));
    println!("token sha256 {}", sha256_hex(normalised.as_bytes()));
    println!("device public key {device_public}");
    println!("incomplete request {incomplete}");
    assert!(
        differ.is_empty(),
        "these files differ from what the vectors are made of now: {differ:?}"
    );
}
