//! The laptop's hash-chained journal (`proto/journal-v1.md`): one entry per
//! store operation (enroll, correction, batch sent, receipt applied, bundle
//! exported), appended in the very transaction of the change it describes.
//! Each entry names the hash of the one before it; its head (sequence
//! number and hash) travels with each sync batch, so history written before
//! it cannot be rewritten unnoticed.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{ContentHash, format_utc_millis, write_jcs};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::FieldStore;
use super::sync::{Ack, SyncEvent, SyncEventKind};
use crate::error::StoreError;

/// Prefix of the hashed bytes: `hash = SHA-256(DOMAIN || entry bytes)`.
pub const JOURNAL_DOMAIN: &[u8] = b"doorstep-journal-v1\n";

const ENROLLED: &str = "enrolled";
const CORRECTED: &str = "corrected";
const EXPORTED: &str = "exported";
const SENT: &str = "sent";
const HELD: &str = "held";
const CONFIRMED: &str = "confirmed";
const REJECTED: &str = "rejected";
const PURGED: &str = "purged";

/// The newest journal entry: what a sync batch carries to central.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JournalHead {
    pub seq: u64,
    /// Serialised as 64 lowercase hex digits.
    #[serde(serialize_with = "hex32")]
    pub hash: [u8; 32],
}

impl JournalHead {
    /// The hash as 64 lowercase hex digits.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

fn hex32<S: serde::Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(hash))
}

/// One journal entry as listed (`doorstep field journal`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub at: String,
    pub event: String,
    /// The entry's `detail` object.
    pub detail: Value,
    /// Hash of the previous entry (64 zeros for entry 1), hex.
    pub prev: String,
    /// This entry's hash, hex.
    pub hash: String,
}

/// What [`FieldStore::verify_journal`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalCheck {
    /// Entries whose chain links were checked (up to the first problem).
    pub entries: u64,
    /// Records checked against the entries that cover them.
    pub records: u64,
    /// The last entry checked.
    pub head: Option<JournalHead>,
    /// The first problem, or `None` for a sound journal.
    pub problem: Option<JournalProblem>,
}

impl JournalCheck {
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first thing wrong with the journal or the records it covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalProblem {
    /// The journal entry concerned, when there is one.
    pub seq: Option<u64>,
    /// The record concerned (its `device_seq`), when one is known.
    pub device_seq: Option<u64>,
    pub message: String,
    /// The same in Vietnamese, for officers.
    pub message_vi: String,
}

impl std::fmt::Display for JournalProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.message, self.message_vi)
    }
}

/// The `digest` of a set of records: lowercase hex SHA-256 over each
/// record's 16 UUID bytes followed by its 32-byte content hash, in the
/// order given (device_seq order, wherever the journal uses it).
pub fn record_digest<'a>(records: impl IntoIterator<Item = &'a (Uuid, ContentHash)>) -> String {
    let mut d = RecordDigest::default();
    for (id, hash) in records {
        d.add(id, hash);
    }
    d.hex()
}

#[derive(Clone, Default)]
struct RecordDigest {
    hasher: Sha256,
    count: u64,
}

impl RecordDigest {
    fn add(&mut self, id: &Uuid, hash: &ContentHash) {
        self.hasher.update(id.as_bytes());
        self.hasher.update(hash.0);
        self.count += 1;
    }

    fn hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

fn entry_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(JOURNAL_DOMAIN);
    h.update(bytes);
    h.finalize().into()
}

fn entry_bytes(
    seq: u64,
    at: &str,
    event: &str,
    prev: &[u8; 32],
    detail: Map<String, Value>,
) -> Result<Vec<u8>, StoreError> {
    let entry = json!({
        "at": at,
        "detail": Value::Object(detail),
        "event": event,
        "prev": hex::encode(prev),
        "seq": seq,
    });
    let mut out = Vec::with_capacity(256);
    write_jcs(&entry, &mut out)
        .map_err(|e| StoreError::Inconsistent(format!("journal entry not encodable: {e}")))?;
    Ok(out)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The newest entry, read on `conn` (inside the caller's transaction).
fn head(conn: &Connection, path: &Path) -> Result<Option<JournalHead>, StoreError> {
    let row = conn
        .prepare_cached("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| {
            s.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .optional()
        })
        .map_err(|e| StoreError::sqlite(path, e))?;
    let Some((seq, hash)) = row else {
        return Ok(None);
    };
    let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
        StoreError::Inconsistent(format!("journal entry #{seq} has a malformed hash"))
    })?;
    Ok(Some(JournalHead {
        seq: u64::try_from(seq).unwrap_or(0),
        hash,
    }))
}

/// Appends one entry in the caller's transaction.
fn append(
    conn: &Connection,
    path: &Path,
    at: &str,
    event: &str,
    detail: Map<String, Value>,
) -> Result<JournalHead, StoreError> {
    let (seq, prev) = match head(conn, path)? {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, [0u8; 32]),
    };
    let bytes = entry_bytes(seq, at, event, &prev, detail)?;
    let hash = entry_hash(&bytes);
    conn.prepare_cached(
        "INSERT INTO journal (seq, at, event, detail, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![to_i64(seq), at, event, bytes, &hash[..]]))
    .map_err(|e| StoreError::sqlite(path, e))?;
    Ok(JournalHead { seq, hash })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Records stored by one `enroll` call (or found by a migration), in
/// sequence order.
#[derive(Default)]
struct Span {
    digest: RecordDigest,
    first: u64,
    last: u64,
}

impl Span {
    fn add(&mut self, seq: u64, id: &Uuid, hash: &ContentHash) {
        if self.digest.count == 0 {
            self.first = seq;
        }
        self.last = seq;
        self.digest.add(id, hash);
    }

    fn detail(self) -> Map<String, Value> {
        object(json!({
            "count": self.digest.count,
            "first_seq": self.first,
            "last_seq": self.last,
            "digest": self.digest.hex(),
        }))
    }
}

/// What one `FieldStore::enroll` call stored, collected as it goes and
/// appended (an `enrolled` and a `corrected` entry, each only when not
/// empty) before its transaction commits.
#[derive(Default)]
pub(crate) struct EnrollJournal {
    enrolled: Span,
    corrected: Span,
    supersedes: Vec<Value>,
}

impl EnrollJournal {
    /// One record newly stored with `seq`.
    pub(crate) fn stored(
        &mut self,
        seq: u64,
        id: &Uuid,
        hash: &ContentHash,
        supersedes: Option<Uuid>,
    ) {
        match supersedes {
            None => self.enrolled.add(seq, id, hash),
            Some(old) => {
                self.corrected.add(seq, id, hash);
                self.supersedes.push(Value::String(old.to_string()));
            }
        }
    }

    /// Appends the entries, in the enroll's transaction.
    pub(crate) fn append(self, conn: &Connection, path: &Path, at: &str) -> Result<(), StoreError> {
        if self.enrolled.digest.count > 0 {
            append(conn, path, at, ENROLLED, self.enrolled.detail())?;
        }
        if self.corrected.digest.count > 0 {
            let mut detail = self.corrected.detail();
            detail.insert("supersedes".into(), Value::Array(self.supersedes));
            append(conn, path, at, CORRECTED, detail)?;
        }
        Ok(())
    }
}

/// A `purged` entry: the records whose citizen data the retention purge
/// removed, in its transaction.
pub(crate) fn purged(
    conn: &Connection,
    path: &Path,
    at: &str,
    retention_days: u32,
    records: &[(Uuid, ContentHash)],
) -> Result<(), StoreError> {
    let detail = json!({
        "count": records.len(),
        "digest": record_digest(records),
        "retention_days": retention_days,
    });
    append(conn, path, at, PURGED, object(detail)).map(|_| ())
}

/// A `sent` entry for a `BatchSent` event that names its batch (custody
/// answers carry no batch: nothing was sent).
fn sent(conn: &Connection, path: &Path, event: &SyncEvent, at: &str) -> Result<(), StoreError> {
    if event.event != SyncEventKind::BatchSent {
        return Ok(());
    }
    let Some(batch_id) = event.batch_id else {
        return Ok(());
    };
    let detail = json!({
        "batch_id": batch_id.to_string(),
        "server": event.server,
        "count": event.records,
        "digest": record_digest(&event.sent),
    });
    append(conn, path, at, SENT, object(detail)).map(|_| ())
}

/// The journal entries of an applied receipt, in its transaction: `sent`
/// (for a batch), then one `confirmed`, one `held` per station named and
/// one `rejected` entry, each only when the receipt has such lines.
pub(crate) fn after_receipt(
    conn: &Connection,
    path: &Path,
    batch_id: Option<Uuid>,
    event: &SyncEvent,
    acks: &[(Uuid, Ack)],
    at: &str,
) -> Result<(), StoreError> {
    sent(conn, path, event, at)?;
    let err = |e| StoreError::sqlite(path, e);
    let mut lookup = conn
        .prepare_cached("SELECT device_seq, content_hash FROM records WHERE record_id = ?1")
        .map_err(err)?;
    type Acked = Vec<(u64, Uuid, ContentHash)>;
    let mut confirmed: Acked = Vec::new();
    let mut held: BTreeMap<&str, Acked> = BTreeMap::new();
    let mut rejected: Acked = Vec::new();
    for (id, ack) in acks {
        let row = lookup
            .query_row([id.to_string()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()
            .map_err(err)?;
        // A line for a record this store does not hold changes nothing.
        let Some((seq, hash)) = row else { continue };
        let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
            StoreError::Inconsistent(format!("record #{seq} has a malformed content hash"))
        })?;
        let item = (u64::try_from(seq).unwrap_or(0), *id, ContentHash(hash));
        match ack {
            Ack::Confirmed => confirmed.push(item),
            // In the journal, a record central holds without all its
            // attachments is held by central (confirmed comes later).
            Ack::Held { by } | Ack::Incomplete { by } => {
                held.entry(by.as_str()).or_default().push(item)
            }
            Ack::Rejected { .. } => rejected.push(item),
        }
    }
    let batch = batch_id.map_or(Value::Null, |b| Value::String(b.to_string()));
    let entry = |mut items: Acked, by: Option<&str>| {
        items.sort_unstable_by_key(|i| i.0);
        let mut d = RecordDigest::default();
        for (_, id, hash) in &items {
            d.add(id, hash);
        }
        let mut detail = object(json!({
            "batch_id": batch.clone(),
            "count": d.count,
            "digest": d.hex(),
        }));
        if let Some(by) = by {
            detail.insert("by".into(), Value::String(by.to_owned()));
        }
        detail
    };
    if !confirmed.is_empty() {
        append(conn, path, at, CONFIRMED, entry(confirmed, None))?;
    }
    for (by, items) in held {
        append(conn, path, at, HELD, entry(items, Some(by)))?;
    }
    if !rejected.is_empty() {
        append(conn, path, at, REJECTED, entry(rejected, None))?;
    }
    Ok(())
}

/// A sync log line written with its `sent` entry in one transaction.
pub(crate) fn log_with_sent(
    conn: &mut Connection,
    path: &Path,
    event: &SyncEvent,
    at: &str,
    insert: fn(&Connection, &SyncEvent, &str) -> rusqlite::Result<()>,
) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    sent(&tx, path, event, at)?;
    insert(&tx, event, at).map_err(err)?;
    tx.commit().map_err(err)
}

/// Finishes schema step 5 on a store that had records before the journal
/// existed: one `enrolled` entry marked `"migrated": true` covers them all
/// (so verification still covers every record), written with the removal
/// of the `journal_migration` marker in one transaction. Does nothing once
/// the marker is gone.
pub(crate) fn finish_migration(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let pending = |c: &Connection| {
        c.query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_migration')",
            [],
            |r| r.get::<_, bool>(0),
        )
    };
    if !pending(conn).map_err(err)? {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    if !pending(&tx).map_err(err)? {
        return Ok(());
    }
    let mut span = Span::default();
    {
        let mut stmt = tx
            .prepare("SELECT device_seq, record_id, content_hash FROM records ORDER BY device_seq")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let seq: i64 = r.get(0).map_err(err)?;
            let id: String = r.get(1).map_err(err)?;
            let hash: Vec<u8> = r.get(2).map_err(err)?;
            let bad =
                || StoreError::Inconsistent(format!("record #{seq} has a malformed ID or hash"));
            let id = Uuid::parse_str(&id).map_err(|_| bad())?;
            let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| bad())?;
            span.add(u64::try_from(seq).unwrap_or(0), &id, &ContentHash(hash));
        }
    }
    if span.digest.count > 0 {
        let mut detail = span.detail();
        detail.insert("migrated".into(), Value::Bool(true));
        append(&tx, path, &format_utc_millis(&Utc::now()), ENROLLED, detail)?;
    }
    tx.execute_batch("DROP TABLE journal_migration")
        .map_err(err)?;
    tx.commit().map_err(err)
}

impl FieldStore {
    /// The newest journal entry, `None` before the first one.
    pub fn journal_head(&self) -> Result<Option<JournalHead>, StoreError> {
        head(&self.conn, &self.path)
    }

    /// Up to `limit` journal entries after `after_seq`, oldest first.
    pub fn journal(&self, after_seq: u64, limit: u64) -> Result<Vec<JournalEntry>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, detail, hash FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![to_i64(after_seq), to_i64(limit)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, bytes, hash) = row.map_err(err)?;
            let bad = || StoreError::Inconsistent(format!("journal entry #{seq} is malformed"));
            let mut entry = match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                _ => return Err(bad()),
            };
            let mut text = |key: &str| match entry.remove(key) {
                Some(Value::String(s)) => Ok(s),
                _ => Err(bad()),
            };
            let (at, event, prev) = (text("at")?, text("event")?, text("prev")?);
            out.push(JournalEntry {
                seq: u64::try_from(seq).unwrap_or(0),
                at,
                event,
                prev,
                detail: entry.remove("detail").ok_or_else(bad)?,
                hash: hex::encode(hash),
            });
        }
        Ok(out)
    }

    /// Journals a bundle export: `{"file_sha256", "count", "digest"}`,
    /// with the digest over `digest_input` in the order given (the file's
    /// record order). Returns the new head.
    pub fn journal_exported(
        &mut self,
        file_sha256_hex: &str,
        count: u64,
        digest_input: &[(Uuid, ContentHash)],
        now: DateTime<Utc>,
    ) -> Result<JournalHead, StoreError> {
        if ContentHash::from_hex(file_sha256_hex).is_none() || file_sha256_hex.len() != 64 {
            return Err(StoreError::Inconsistent(format!(
                "`{file_sha256_hex}` is not a SHA-256 in hex"
            )));
        }
        let err = |e| StoreError::sqlite(&self.path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let detail = json!({
            "file_sha256": file_sha256_hex.to_ascii_lowercase(),
            "count": count,
            "digest": record_digest(digest_input),
        });
        let head = append(
            &tx,
            &self.path,
            &format_utc_millis(&now),
            EXPORTED,
            object(detail),
        )?;
        tx.commit().map_err(err)?;
        Ok(head)
    }

    /// Walks the whole chain from entry 1 and checks every record against
    /// the `enrolled`/`corrected` entry that covers it, in one read
    /// snapshot, streaming. Reports the first problem found.
    pub fn verify_journal(&self) -> Result<JournalCheck, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        let mut walk = Walk {
            conn: &tx,
            path: &self.path,
            keys: self.protection.as_deref(),
            check: JournalCheck {
                entries: 0,
                records: 0,
                head: None,
                problem: None,
            },
            enrolled_upto: 0,
            corrected_upto: 0,
            ranges: Ranges::default(),
        };
        match walk.run() {
            Ok(()) => {}
            Err(Stop::Problem(p)) => walk.check.problem = Some(p),
            Err(Stop::Store(e)) => return Err(e),
        }
        let check = walk.check;
        drop(tx);
        Ok(check)
    }
}

/// Why a walk stopped early.
enum Stop {
    Problem(JournalProblem),
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

fn problem(seq: Option<u64>, device_seq: Option<u64>, message: String, message_vi: String) -> Stop {
    Stop::Problem(JournalProblem {
        seq,
        device_seq,
        message,
        message_vi,
    })
}

/// Which records of its range an entry covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `enrolled`: records that supersede nothing.
    New,
    /// `corrected`: records that supersede another.
    Corrections,
    /// `enrolled` with `"migrated": true`: every record.
    All,
}

impl Class {
    fn covers(self, is_correction: bool) -> bool {
        match self {
            Class::New => !is_correction,
            Class::Corrections => is_correction,
            Class::All => true,
        }
    }
}

/// Sequence ranges covered so far, per class, ascending.
#[derive(Default)]
struct Ranges {
    new: Vec<(u64, u64)>,
    corrections: Vec<(u64, u64)>,
    all: Vec<(u64, u64)>,
}

impl Ranges {
    fn push(&mut self, class: Class, range: (u64, u64)) {
        match class {
            Class::New => self.new.push(range),
            Class::Corrections => self.corrections.push(range),
            Class::All => self.all.push(range),
        }
    }

    fn covers(&self, seq: u64, is_correction: bool) -> bool {
        let within = |v: &[(u64, u64)]| {
            let i = v.partition_point(|r| r.1 < seq);
            v.get(i).is_some_and(|r| r.0 <= seq)
        };
        within(&self.all)
            || within(if is_correction {
                &self.corrections
            } else {
                &self.new
            })
    }
}

struct Walk<'a> {
    conn: &'a Connection,
    path: &'a Path,
    /// The store's keys when it is unlocked: encrypted records are then
    /// decrypted and hashed too.
    keys: Option<&'a super::Protection>,
    check: JournalCheck,
    /// Highest sequence number covered by `enrolled` (resp. `corrected`)
    /// entries so far: ranges of one class never overlap.
    enrolled_upto: u64,
    corrected_upto: u64,
    ranges: Ranges,
}

impl<'a> Walk<'a> {
    fn sql(
        &self,
    ) -> (
        &'a Connection,
        impl Fn(rusqlite::Error) -> StoreError + Copy + use<'a>,
    ) {
        let path = self.path;
        (self.conn, move |e| StoreError::sqlite(path, e))
    }

    fn run(&mut self) -> Result<(), Stop> {
        let (conn, err) = self.sql();
        let mut stmt = conn
            .prepare("SELECT seq, at, event, detail, hash FROM journal ORDER BY seq")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut prev = [0u8; 32];
        let mut expected: u64 = 1;
        while let Some(r) = rows.next().map_err(err)? {
            let seq = u64::try_from(r.get::<_, i64>(0).map_err(err)?).unwrap_or(0);
            let at: String = r.get(1).map_err(err)?;
            let event: String = r.get(2).map_err(err)?;
            let bytes: Vec<u8> = r.get(3).map_err(err)?;
            let stored: Vec<u8> = r.get(4).map_err(err)?;
            if seq != expected {
                return Err(problem(
                    Some(expected),
                    None,
                    format!("journal entry #{expected} is missing (the next entry is #{seq})"),
                    format!("thiếu mục nhật ký #{expected} (mục tiếp theo là #{seq})"),
                ));
            }
            let hash = entry_hash(&bytes);
            if stored.as_slice() != hash.as_slice() {
                return Err(problem(
                    Some(seq),
                    None,
                    format!(
                        "journal entry #{seq} was altered: its bytes do not hash to its stored hash"
                    ),
                    format!("mục nhật ký #{seq} đã bị sửa: mã băm không khớp với nội dung"),
                ));
            }
            let entry = parse_entry(seq, &bytes)?;
            if entry.prev != hex::encode(prev) {
                let before = seq - 1;
                return Err(problem(
                    Some(seq),
                    None,
                    format!(
                        "journal entry #{seq} does not follow entry #{before} (its `prev` is not that entry's hash)"
                    ),
                    format!("mục nhật ký #{seq} không nối tiếp mục #{before}"),
                ));
            }
            if entry.seq != seq || entry.at != at || entry.event != event {
                return Err(malformed(
                    seq,
                    "its seq, at or event differ from the row's columns",
                ));
            }
            if event == ENROLLED || event == CORRECTED {
                self.records(seq, &event, &entry.detail)?;
            }
            self.check.entries += 1;
            self.check.head = Some(JournalHead { seq, hash });
            prev = hash;
            expected += 1;
        }
        self.uncovered()
    }

    /// Checks the records an `enrolled` or `corrected` entry covers.
    fn records(&mut self, seq: u64, event: &str, detail: &Map<String, Value>) -> Result<(), Stop> {
        let (conn, err) = self.sql();
        let num = |key: &str| {
            detail
                .get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| malformed(seq, &format!("no `{key}` number")))
        };
        let (count, first, last) = (num("count")?, num("first_seq")?, num("last_seq")?);
        let digest = detail
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(seq, "no `digest`"))?;
        let class = match (event, detail.get("migrated")) {
            (ENROLLED, Some(Value::Bool(true))) => Class::All,
            (ENROLLED, _) => Class::New,
            _ => Class::Corrections,
        };
        let supersedes = match class {
            Class::Corrections => Some(
                detail
                    .get("supersedes")
                    .and_then(Value::as_array)
                    .ok_or_else(|| malformed(seq, "no `supersedes` list"))?,
            ),
            _ => None,
        };
        let floor = match class {
            Class::New => self.enrolled_upto,
            Class::Corrections => self.corrected_upto,
            Class::All => self.enrolled_upto.max(self.corrected_upto),
        };
        if first == 0 || first > last || first <= floor {
            return Err(problem(
                Some(seq),
                None,
                format!(
                    "journal entry #{seq} covers records #{first}–#{last}, which overlap an earlier entry or are no range"
                ),
                format!(
                    "mục nhật ký #{seq} ghi các hồ sơ #{first}–#{last}, trùng với một mục trước hoặc không hợp lệ"
                ),
            ));
        }
        match class {
            Class::New => self.enrolled_upto = last,
            Class::Corrections => self.corrected_upto = last,
            Class::All => {
                self.enrolled_upto = last;
                self.corrected_upto = last;
            }
        }
        self.ranges.push(class, (first, last));

        let mut stmt = conn
            .prepare_cached(
                "SELECT device_seq, record_id, content_hash, canonical, supersedes, protected, purged_at IS NOT NULL
                 FROM records WHERE device_seq BETWEEN ?1 AND ?2 ORDER BY device_seq",
            )
            .map_err(&err)?;
        let mut rows = stmt
            .query(params![to_i64(first), to_i64(last)])
            .map_err(&err)?;
        let mut d = RecordDigest::default();
        let mut superseded: Vec<String> = Vec::new();
        while let Some(r) = rows.next().map_err(&err)? {
            let dseq = u64::try_from(r.get::<_, i64>(0).map_err(&err)?).unwrap_or(0);
            let sup: Option<String> = r.get(4).map_err(&err)?;
            if !class.covers(sup.is_some()) {
                continue;
            }
            let altered = || {
                problem(
                    Some(seq),
                    Some(dseq),
                    format!(
                        "record #{dseq} was altered: its stored bytes do not hash to its content hash"
                    ),
                    format!("hồ sơ #{dseq} đã bị sửa: mã băm nội dung không khớp"),
                )
            };
            let id = match r.get_ref(1).map_err(&err)? {
                ValueRef::Text(t) => std::str::from_utf8(t)
                    .ok()
                    .and_then(|t| Uuid::parse_str(t).ok())
                    .ok_or_else(altered)?,
                _ => return Err(altered()),
            };
            let hash = match r.get_ref(2).map_err(&err)? {
                ValueRef::Blob(b) => <[u8; 32]>::try_from(b).map_err(|_| altered())?,
                _ => return Err(altered()),
            };
            // Encrypted bytes are checked only with the store unlocked (the
            // cipher binds them to their hash); purged ones are gone.
            let protected: i64 = r.get(5).map_err(&err)?;
            let purged: bool = r.get(6).map_err(&err)?;
            match (r.get_ref(3).map_err(&err)?, protected, purged, self.keys) {
                (_, _, true, _) | (ValueRef::Blob(_), 1, false, None) => {}
                (ValueRef::Blob(b), 1, false, Some(keys)) => {
                    let plain = keys
                        .decrypt(to_i64(dseq), &ContentHash(hash), b)
                        .map_err(|_| altered())?;
                    if ContentHash::of(&plain).0 != hash {
                        return Err(altered());
                    }
                }
                (ValueRef::Blob(b), 0, false, _) if ContentHash::of(b).0 == hash => {}
                _ => return Err(altered()),
            }
            d.add(&id, &ContentHash(hash));
            if let Some(sup) = sup {
                superseded.push(sup);
            }
            self.check.records += 1;
        }
        drop(rows);
        if d.count < count {
            let missing = self.missing_in(first, last)?;
            return Err(match missing {
                Some(m) => problem(
                    Some(seq),
                    Some(m),
                    format!("record #{m} is missing (journal entry #{seq} covers it)"),
                    format!("thiếu hồ sơ #{m} (mục nhật ký #{seq} ghi nhận hồ sơ này)"),
                ),
                None => count_mismatch(seq, count, d.count, first, last),
            });
        }
        if d.count != count {
            return Err(count_mismatch(seq, count, d.count, first, last));
        }
        let listed = supersedes.is_none_or(|list| {
            list.len() == superseded.len()
                && list
                    .iter()
                    .zip(&superseded)
                    .all(|(a, b)| a.as_str() == Some(b.as_str()))
        });
        if d.hex() != digest || !listed {
            return Err(problem(
                Some(seq),
                None,
                format!(
                    "records #{first}–#{last} do not match journal entry #{seq} (a record ID, content hash or correction was changed)"
                ),
                format!(
                    "các hồ sơ #{first}–#{last} không khớp mục nhật ký #{seq} (mã hồ sơ, mã băm hoặc thông tin sửa đã bị thay đổi)"
                ),
            ));
        }
        Ok(())
    }

    /// The first sequence number in `first..=last` with no record row.
    fn missing_in(&self, first: u64, last: u64) -> Result<Option<u64>, Stop> {
        let (conn, err) = self.sql();
        let mut stmt = conn
            .prepare_cached(
                "SELECT device_seq FROM records WHERE device_seq BETWEEN ?1 AND ?2 ORDER BY device_seq",
            )
            .map_err(&err)?;
        let mut rows = stmt
            .query(params![to_i64(first), to_i64(last)])
            .map_err(&err)?;
        let mut next = first;
        while let Some(r) = rows.next().map_err(&err)? {
            let s = u64::try_from(r.get::<_, i64>(0).map_err(&err)?).unwrap_or(0);
            if s != next {
                return Ok(Some(next));
            }
            next += 1;
        }
        Ok((next <= last).then_some(next))
    }

    /// Every record row must be covered by an entry: finds the first that
    /// is not (only when the counts say there is one).
    fn uncovered(&mut self) -> Result<(), Stop> {
        let (conn, err) = self.sql();
        let total: i64 = conn
            .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
            .map_err(&err)?;
        if u64::try_from(total).unwrap_or(0) <= self.check.records {
            return Ok(());
        }
        let mut stmt = conn
            .prepare("SELECT device_seq, supersedes IS NOT NULL FROM records ORDER BY device_seq")
            .map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        while let Some(r) = rows.next().map_err(&err)? {
            let dseq = u64::try_from(r.get::<_, i64>(0).map_err(&err)?).unwrap_or(0);
            let is_correction: bool = r.get(1).map_err(&err)?;
            if !self.ranges.covers(dseq, is_correction) {
                return Err(problem(
                    None,
                    Some(dseq),
                    format!(
                        "record #{dseq} is in no journal entry (it was not stored by doorstep)"
                    ),
                    format!("hồ sơ #{dseq} không có trong nhật ký (không do doorstep lưu)"),
                ));
            }
        }
        Ok(())
    }
}

fn count_mismatch(seq: u64, count: u64, found: u64, first: u64, last: u64) -> Stop {
    problem(
        Some(seq),
        None,
        format!(
            "journal entry #{seq} lists {count} records; the store holds {found} of them in #{first}–#{last}"
        ),
        format!(
            "mục nhật ký #{seq} ghi {count} hồ sơ; máy đang có {found} hồ sơ trong khoảng #{first}–#{last}"
        ),
    )
}

fn malformed(seq: u64, why: &str) -> Stop {
    problem(
        Some(seq),
        None,
        format!("journal entry #{seq} is malformed: {why}"),
        format!("mục nhật ký #{seq} sai định dạng: {why}"),
    )
}

/// An entry's fields, from its exact bytes (which must be canonical).
struct Parsed {
    seq: u64,
    at: String,
    event: String,
    prev: String,
    detail: Map<String, Value>,
}

fn parse_entry(seq: u64, bytes: &[u8]) -> Result<Parsed, Stop> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| malformed(seq, "not JSON"))?;
    let mut again = Vec::with_capacity(bytes.len());
    if write_jcs(&value, &mut again).is_err() || again != bytes {
        return Err(malformed(seq, "not canonical JSON (RFC 8785)"));
    }
    let Value::Object(mut map) = value else {
        return Err(malformed(seq, "not an object"));
    };
    if map.len() != 5 {
        return Err(malformed(seq, "not exactly at, detail, event, prev, seq"));
    }
    let mut text = |key: &str| match map.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(malformed(seq, &format!("no `{key}` string"))),
    };
    let (at, event, prev) = (text("at")?, text("event")?, text("prev")?);
    let entry_seq = map
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed(seq, "no `seq` number"))?;
    let Some(Value::Object(detail)) = map.remove("detail") else {
        return Err(malformed(seq, "no `detail` object"));
    };
    Ok(Parsed {
        seq: entry_seq,
        at,
        event,
        prev,
        detail,
    })
}
