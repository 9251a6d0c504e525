#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The sync vectors of `proto/vectors/sync/` against the wire types and
//! the JSON Schemas of `proto/schemas/`: every vector reads into its
//! `doorstep_wire` type and writes back to the same JSON value, every
//! record of a batch hashes to its `content_hash` (unless the manifest
//! says it must not), and every vector matches its schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
        let text = r.record.get();
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
        other => panic!("unknown vector type `{other}`"),
    }
}

/// Validators for the four wire schemas; `canonical-record.schema.json`
/// is registered under its `$id` so the batch schema's `$ref` resolves
/// without any network.
struct Schemas {
    registry: jsonschema::Registry<'static>,
}

impl Schemas {
    fn load() -> Schemas {
        let canonical = json(&proto_dir().join("schemas/canonical-record.schema.json"));
        let id = canonical["$id"].as_str().unwrap().to_owned();
        let registry = jsonschema::Registry::new()
            .add(id, canonical)
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
