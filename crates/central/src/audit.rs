//! `doorstep audit verify`, backend-neutral: an [`Auditor`] is fed every
//! stored log entry, tree node, signed tree head and held record, in that
//! order, and names everything that does not match. Each backend's reader
//! (`sqlite/audit.rs`, `postgres/audit.rs`) only streams rows into it.

use std::collections::HashMap;

use doorstep_core::merkle::{self, MemoryTree};
use doorstep_wire::Outcome;
use doorstep_wire::log::{LogEntry, tree_head_message};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Problems listed in full; beyond this only counted.
const MAX_LISTED: usize = 100;

/// One thing that does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// Stable code, e.g. `entry.altered`, `record.missing`.
    pub code: &'static str,
    /// What it is about: `log entry 17`, `record 019a…`, `tree head 40`.
    pub location: String,
    pub detail: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    pub entries: u64,
    pub nodes: u64,
    pub tree_heads: u64,
    pub records: u64,
    /// The newest signed head: size and root (hex).
    pub latest_head: Option<(u64, String)>,
    /// The first problems found, in the order checked (entries, nodes,
    /// tree heads, records).
    pub problems: Vec<AuditProblem>,
    pub problems_total: u64,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems_total == 0
    }

    fn problem(&mut self, code: &'static str, location: String, detail: String) {
        self.problems_total += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(AuditProblem {
                code,
                location,
                detail,
            });
        }
    }
}

/// Which part of the check is running, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStage {
    Entries,
    Nodes,
    TreeHeads,
    Records,
}

/// The check itself, fed row by row.
#[derive(Debug)]
pub struct Auditor {
    report: AuditReport,
    key: Option<VerifyingKey>,
    log_id: Uuid,
    tree: MemoryTree,
    /// Record → (content hash, entry) for every record an entry accepted.
    accepted: HashMap<u128, ([u8; 32], u64)>,
    next_entry: u64,
    last_head_time: u64,
    largest_head: Option<u64>,
}

impl Auditor {
    /// `public_key`: the log's key as stored (checked here); `log_id`: the
    /// node the log belongs to.
    pub fn new(public_key: Option<&[u8]>, log_id: Uuid) -> Auditor {
        let mut report = AuditReport::default();
        let key = public_key
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .and_then(|k| VerifyingKey::from_bytes(&k).ok());
        if key.is_none() {
            report.problem(
                "key.missing",
                "log_key".into(),
                "no valid public key is stored with the log: no tree head can be checked".into(),
            );
        }
        Auditor {
            report,
            key,
            log_id,
            tree: MemoryTree::new(),
            accepted: HashMap::new(),
            next_entry: 0,
            last_head_time: 0,
            largest_head: None,
        }
    }

    /// Entries seen so far.
    pub fn entries_seen(&self) -> u64 {
        self.next_entry
    }

    /// 1. Entries, in index order: recompute every leaf and the tree;
    ///    note what each entry says was accepted.
    pub fn entry(&mut self, idx: u64, batch_id: &str, entry: &[u8], stored_leaf: &[u8]) {
        let expected = self.next_entry;
        if idx != expected {
            self.report.problem(
                "entry.missing",
                format!("log entry {expected}"),
                format!("entries {expected}..{idx} are missing: the log was cut"),
            );
        }
        let leaf = merkle::leaf_hash(entry);
        if stored_leaf != leaf.as_slice() {
            self.report.problem(
                "entry.altered",
                format!("log entry {idx}"),
                "the entry's bytes do not hash to its stored leaf hash: the entry or its hash was edited".into(),
            );
        }
        self.tree.push(leaf);
        match serde_json::from_slice::<LogEntry>(entry) {
            Ok(e) => {
                if e.batch_id.to_string() != batch_id {
                    self.report.problem(
                        "entry.altered",
                        format!("log entry {idx}"),
                        format!(
                            "stored under batch {batch_id}, the entry names batch {}",
                            e.batch_id
                        ),
                    );
                }
                for r in &e.records {
                    if r.outcome != Outcome::Accepted {
                        continue;
                    }
                    let (Some(id), Some(hash)) = (r.record_id, parse_hash(&r.content_hash)) else {
                        self.report.problem(
                            "entry.unreadable",
                            format!("log entry {idx}"),
                            "an accepted record without a record ID or a valid content hash".into(),
                        );
                        continue;
                    };
                    if let Some((_, first)) = self.accepted.insert(id.as_u128(), (hash, idx)) {
                        self.report.problem(
                            "record.accepted_twice",
                            format!("record {id}"),
                            format!("accepted in log entries {first} and {idx}"),
                        );
                    }
                }
            }
            Err(e) => self.report.problem(
                "entry.unreadable",
                format!("log entry {idx}"),
                format!("not a log entry: {e}"),
            ),
        }
        self.next_entry = idx + 1;
        self.report.entries = self.tree.size();
    }

    /// 2. Stored nodes, any order: each must be the recomputed one.
    pub fn node(&mut self, level: i64, idx: u64, hash: &[u8]) {
        let expected = u32::try_from(level)
            .ok()
            .and_then(|l| self.tree.get(l, idx));
        match expected {
            Some(h) if h.as_slice() == hash => {}
            Some(_) => self.report.problem(
                "node.altered",
                format!("tree node {level}/{idx}"),
                "the stored hash differs from the one recomputed from the entries".into(),
            ),
            None => self.report.problem(
                "node.extra",
                format!("tree node {level}/{idx}"),
                format!(
                    "no such complete subtree in a log of {} entries",
                    self.tree.size()
                ),
            ),
        }
        self.report.nodes += 1;
    }

    /// After the nodes: none may be missing.
    pub fn end_nodes(&mut self) {
        let mut wanted: u64 = 0;
        let mut level_size = self.tree.size();
        while level_size > 0 {
            wanted += level_size;
            level_size /= 2;
        }
        let seen = self.report.nodes;
        if seen < wanted {
            self.report.problem(
                "node.missing",
                "log_nodes".into(),
                format!(
                    "{} stored tree nodes are missing ({seen} of {wanted})",
                    wanted - seen
                ),
            );
        }
    }

    /// 3. Signed tree heads, in size order: each root recomputed, each
    ///    signature checked, time never going back.
    pub fn head(&mut self, tree_size: u64, timestamp: u64, root: &[u8], signature: &[u8]) {
        let size = self.tree.size();
        let location = format!("tree head of size {tree_size}");
        self.largest_head = Some(tree_size);
        match self.tree.root_at(tree_size) {
            None => self.report.problem(
                "head.beyond_log",
                location.clone(),
                format!("signed for {tree_size} entries, the log holds {size}: entries were deleted"),
            ),
            Some(r) if r.as_slice() != root => self.report.problem(
                "head.root_mismatch",
                location.clone(),
                "the signed root differs from the root recomputed from the entries: an entry up to this size was edited, deleted or inserted".into(),
            ),
            Some(_) => {}
        }
        if let Some(key) = &self.key {
            let ok = <[u8; 32]>::try_from(root)
                .ok()
                .zip(<[u8; 64]>::try_from(signature).ok())
                .is_some_and(|(root, sig)| {
                    key.verify(
                        &tree_head_message(&self.log_id, tree_size, timestamp, &root),
                        &Signature::from_bytes(&sig),
                    )
                    .is_ok()
                });
            if !ok {
                self.report.problem(
                    "head.bad_signature",
                    location.clone(),
                    "the signature does not verify with the log's public key".into(),
                );
            }
        }
        if timestamp < self.last_head_time {
            self.report.problem(
                "head.time_backwards",
                location,
                "signed earlier than the head of a smaller tree".into(),
            );
        }
        self.last_head_time = timestamp;
        self.report.latest_head = Some((tree_size, hex::encode(root)));
        self.report.tree_heads += 1;
    }

    /// After the heads: the largest must cover every entry.
    pub fn end_heads(&mut self) {
        let size = self.tree.size();
        if self.largest_head.is_none_or(|l| l < size) {
            let largest = self.largest_head.unwrap_or(0);
            self.report.problem(
                "entry.unsigned",
                format!("log entry {largest}"),
                format!(
                    "the log holds {size} entries but the largest signed head covers {largest}: entries were added outside the node"
                ),
            );
        }
    }

    /// 4. Held records, any order: each one's bytes hash to its content
    ///    hash, and it is the record the log says was accepted. A station
    ///    holds a record sealed to central as its sealed envelope
    ///    (`sealed`): the hash is inside the box, so it checks that the
    ///    envelope is the row's record; central checks the hash on opening.
    pub fn record(&mut self, id: &str, hash: &[u8], canonical: &[u8], sealed: bool) {
        let location = format!("record {id}");
        if sealed {
            let envelope = serde_json::from_slice::<doorstep_wire::SealedRecord>(canonical);
            if !envelope.is_ok_and(|e| e.record_id.to_string() == id) {
                self.report.problem(
                    "record.altered",
                    location.clone(),
                    "the stored sealed record is not this record's envelope".into(),
                );
            }
        } else if Sha256::digest(canonical).as_slice() != hash {
            self.report.problem(
                "record.altered",
                location.clone(),
                "the stored bytes do not hash to the stored content hash".into(),
            );
        }
        match Uuid::parse_str(id)
            .ok()
            .and_then(|u| self.accepted.remove(&u.as_u128()))
        {
            None => self.report.problem(
                "record.not_in_log",
                location,
                "held, but no log entry accepted it: the row was inserted outside the node".into(),
            ),
            Some((logged, idx)) if logged.as_slice() != hash => self.report.problem(
                "record.differs_from_log",
                location,
                format!(
                    "log entry {idx} accepted content hash {}, the row holds {}",
                    hex::encode(logged),
                    hex::encode(hash)
                ),
            ),
            Some(_) => {}
        }
        self.report.records += 1;
    }

    /// After the records: every record the log accepted must be held.
    pub fn finish(mut self) -> AuditReport {
        let mut missing: Vec<(u64, u128)> = self
            .accepted
            .drain()
            .map(|(id, (_, idx))| (idx, id))
            .collect();
        missing.sort_unstable();
        for (idx, id) in missing {
            self.report.problem(
                "record.missing",
                format!("record {}", Uuid::from_u128(id)),
                format!("accepted in log entry {idx}, no longer held: the row was deleted"),
            );
        }
        self.report
    }
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Problem codes, but the missing log key (no log in these tests).
    fn codes(report: &AuditReport) -> Vec<&'static str> {
        report
            .problems
            .iter()
            .map(|p| p.code)
            .filter(|c| *c != "key.missing")
            .collect()
    }

    #[test]
    fn a_station_checks_a_sealed_record_by_its_envelope() {
        let id = Uuid::now_v7();
        let envelope = serde_json::json!({
            "record_id": id, "device_id": Uuid::now_v7(), "device_seq": 1,
            "kind": "eid_activation", "enrolled_at": "2026-11-24T01:00:00.000Z",
            "to": "00", "from": "00", "nonce": "00", "box": "AA=="
        });
        let bytes = serde_json::to_vec(&envelope).unwrap();
        let hash = [7u8; 32];
        // Its own envelope: only the log check speaks (no log here).
        let mut audit = Auditor::new(None, Uuid::now_v7());
        audit.record(&id.to_string(), &hash, &bytes, true);
        assert_eq!(codes(&audit.finish()), ["record.not_in_log"]);
        // Another record's envelope, or not one at all: altered.
        for wrong in [bytes.clone(), b"garbage".to_vec()] {
            let mut audit = Auditor::new(None, Uuid::now_v7());
            let other = if wrong == bytes { Uuid::now_v7() } else { id };
            audit.record(&other.to_string(), &hash, &wrong, true);
            assert_eq!(
                codes(&audit.finish()),
                ["record.altered", "record.not_in_log"]
            );
        }
        // A plain record is still checked by its hash.
        let mut audit = Auditor::new(None, Uuid::now_v7());
        audit.record(&id.to_string(), &hash, &bytes, false);
        assert_eq!(
            codes(&audit.finish()),
            ["record.altered", "record.not_in_log"]
        );
    }
}
