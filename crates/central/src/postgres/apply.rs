//! Applying one batch on PostgreSQL: outcomes decided against what is
//! held, records and refusals written in bulk, devices' sequence marks
//! moved, the session counted, the log entry appended and a head signed —
//! all in one transaction that holds the log lock from its first statement.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use deadpool_postgres::GenericClient;
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::merkle;
use doorstep_wire::log::{LogEntry, ReceiptLog};
use doorstep_wire::{NodeRole, Outcome, OutcomeCounts, RecordReceipt};
use futures_util::FutureExt;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{to_i64, to_u64};
use crate::error::CentralError;
use crate::signing::LogSigner;
use crate::store::{
    Applied, CheckedRecord, Incoming, IncomingBatch, PersonFacts, Refused, VisitFacts,
};

/// Sequence numbers read per round when moving a device's contiguous mark.
const SEQ_WINDOW: i64 = 4096;

const LOCK_LOG: &str = "SELECT tree_size, last_timestamp FROM log_state WHERE id = 1 FOR UPDATE";

/// The transaction a batch is applied in: statements are prepared once per
/// connection (`prepare_cached`), and independent ones are pipelined.
pub(super) type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Runs a statement prepared once per connection.
pub(super) async fn run(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, CentralError> {
    let statement = tx.prepare_cached(sql).await.map_err(CentralError::pg)?;
    tx.query(&statement, params).await.map_err(CentralError::pg)
}

/// Applies `batches` in one transaction, in order: each its own log entry,
/// one signed head covering them all (group commit: one lock, one fsync,
/// one signature for every batch waiting on this node). Later batches see
/// what earlier ones accepted.
pub(crate) async fn apply_group(
    client: &mut deadpool_postgres::Object,
    signer: &LogSigner,
    batches: &[IncomingBatch],
) -> Result<Vec<Applied>, CentralError> {
    let started = std::time::Instant::now();
    let tx = client.transaction().await.map_err(CentralError::pg)?;
    // The log lock first: the reads sent behind it on this connection run
    // once it is held, and see every batch committed before, on any node;
    // none can commit in between.
    let keys = Keys::of(batches);
    let (state, by_id, by_seq, blobs) = tokio::try_join!(
        run(&tx, LOCK_LOG, &[]),
        held_by_id(&tx, &keys.ids),
        held_by_seq(&tx, &keys.devices, &keys.seqs),
        held_blobs(&tx, &keys.blobs),
    )?;
    let state = state
        .first()
        .ok_or_else(|| CentralError::Inconsistent("the log has no state row".into()))?;
    let first = to_u64(state.get(0));
    let last_timestamp = to_u64(state.get(1));
    let mut held = Held {
        by_id,
        by_seq,
        blobs,
    };

    let mut decided = Vec::with_capacity(batches.len());
    let mut entries = Vec::with_capacity(batches.len());
    for batch in batches {
        let at = format_utc_millis(&batch.received_at);
        let d = decide(batch, &mut held);
        let entry = LogEntry::new(
            batch.batch_id,
            batch.session_id,
            &batch.sender,
            batch.journal,
            &at,
            &d.lines,
        )
        .to_bytes();
        let leaf = merkle::leaf_hash(&entry);
        decided.push((at, d));
        entries.push((entry, leaf));
    }
    let count = u64::try_from(batches.len()).unwrap_or(u64::MAX);
    let size = first + count;
    let spent = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Writes that depend on nothing else, with every stored tree node the
    // appends and the new head's proofs need, in one round trip.
    let reads = log_reads(first, count);
    let mut writes = Vec::new();
    for (batch, (at, d)) in batches.iter().zip(&decided) {
        writes.push(insert_records(&tx, batch, at, &d.new).boxed());
        writes.push(insert_attachments(&tx, &d.new).boxed());
        writes.push(insert_refusals(&tx, batch, at, &d.refusals).boxed());
        writes.push(count_session(&tx, batch, at, &d.lines, batch.check_ms + spent).boxed());
    }
    let (_, mut nodes) = tokio::try_join!(
        futures_util::future::try_join_all(writes),
        super::fetch_nodes(&tx, &reads),
    )?;
    // Progress counts: corrections first (what they correct may have been
    // written just above), then every bucket's change in one statement.
    // Beside them, what the held records answered `duplicate` by their
    // bytes alone still lack (rare; after the inserts above, which may
    // hold them).
    let asked: Vec<Uuid> = decided
        .iter()
        .flat_map(|(_, d)| d.ask.iter().map(|(_, id)| *id))
        .collect();
    // And the worklists: the people these records name, their state
    // derived again and new revisions taken, under the log lock (revisions
    // in commit order, see worklist.rs).
    let (counted, missing, ()) = tokio::try_join!(
        super::progress::count_new(&tx, decided.iter().map(|(_, d)| &d.new)),
        super::attachments::missing(&tx, &asked),
        super::worklist::record_events(&tx, decided.iter().map(|(_, d)| &d.new)),
    )?;
    for (_, d) in &mut decided {
        for (line, id) in std::mem::take(&mut d.ask) {
            if let (Some(line), Some(list)) = (d.lines.get_mut(line), missing.get(&id)) {
                line.missing_attachments = list.clone();
            }
        }
    }
    let mut completed = Vec::new();
    for (i, (_, leaf)) in entries.iter().enumerate() {
        let index = first + i as u64;
        for node in
            merkle::nodes_completed_by(&mut nodes, index, *leaf).map_err(super::merkle_error)?
        {
            nodes.0.insert((node.0, node.1), node.2);
            completed.push(node);
        }
    }
    let root = merkle::root(&mut nodes, size).map_err(super::merkle_error)?;
    // Heads never go back in time, even if a node's clock does.
    let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let head = signer.sign(size, now.max(last_timestamp), root);
    let mut applied = Vec::with_capacity(batches.len());
    for (i, (_, d)) in decided.iter_mut().enumerate() {
        let index = first + i as u64;
        applied.push(Applied {
            lines: std::mem::take(&mut d.lines),
            log: ReceiptLog {
                index,
                tree_head: head.clone(),
                public_key: signer.public_key(),
                inclusion: merkle::inclusion_proof(&mut nodes, index, size)
                    .map_err(super::merkle_error)?,
            },
        });
    }
    // The devices' marks (which read the records just written, in batch
    // order) beside the log's writes.
    let devices = async {
        for (batch, (at, d)) in batches.iter().zip(&decided) {
            update_devices(&tx, batch, at, &d.touched).await?;
        }
        Ok::<(), CentralError>(())
    };
    tokio::try_join!(
        devices,
        append_log(&tx, first, batches, &entries, &completed, &head),
        super::progress::write_counts(&tx, &counted),
    )?;
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(applied)
}

/// The stored nodes appending `count` entries from `first` and proving
/// each in the new head read: the appends' left siblings, and the root's
/// and proofs' nodes, except those the appends themselves complete (made
/// in memory). Which nodes an append completes depends only on its index.
fn log_reads(first: u64, count: u64) -> Vec<(u32, u64)> {
    let size = first + count;
    let mut made = std::collections::HashSet::new();
    let mut reads = Vec::new();
    for index in first..size {
        let (mut level, mut i) = (0u32, index);
        let siblings = merkle::nodes_read_by(|s| merkle::nodes_completed_by(s, index, [0; 32]));
        reads.extend(siblings.into_iter().filter(|n| !made.contains(n)));
        made.insert((0, index));
        while i & 1 == 1 {
            level += 1;
            i >>= 1;
            made.insert((level, i));
        }
    }
    reads.extend(
        merkle::nodes_read_by(|s| {
            merkle::root(s, size)?;
            for index in first..size {
                merkle::inclusion_proof(s, index, size)?;
            }
            Ok(())
        })
        .into_iter()
        .filter(|n| !made.contains(n)),
    );
    reads.sort_unstable();
    reads.dedup();
    reads
}

/// The entries, the nodes they complete, the signed head, the new size.
async fn append_log(
    tx: &Tx<'_>,
    first: u64,
    batches: &[IncomingBatch],
    entries: &[(Vec<u8>, [u8; 32])],
    completed: &[merkle::CompletedNode],
    head: &doorstep_wire::log::SignedTreeHead,
) -> Result<(), CentralError> {
    let indices: Vec<i64> = (0..entries.len())
        .map(|i| to_i64(first + i as u64))
        .collect();
    let batch_ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id).collect();
    let bytes: Vec<&[u8]> = entries.iter().map(|(e, _)| e.as_slice()).collect();
    let leaves: Vec<&[u8]> = entries.iter().map(|(_, l)| &l[..]).collect();
    let levels: Vec<i16> = completed
        .iter()
        .map(|(l, _, _)| i16::try_from(*l).unwrap_or(i16::MAX))
        .collect();
    let idxs: Vec<i64> = completed.iter().map(|(_, i, _)| to_i64(*i)).collect();
    let hashes: Vec<&[u8]> = completed.iter().map(|(_, _, h)| &h[..]).collect();
    let (size, timestamp) = (to_i64(head.tree_size), to_i64(head.timestamp));
    let (root, signature) = (&head.root_hash[..], &head.signature[..]);
    let entry_params: [&(dyn ToSql + Sync); 4] = [&indices, &batch_ids, &bytes, &leaves];
    let node_params: [&(dyn ToSql + Sync); 3] = [&levels, &idxs, &hashes];
    let head_params: [&(dyn ToSql + Sync); 4] = [&size, &timestamp, &root, &signature];
    let state_params: [&(dyn ToSql + Sync); 2] = [&size, &timestamp];
    tokio::try_join!(
        run(
            tx,
            "INSERT INTO log_entries (idx, batch_id, entry, leaf_hash)
             SELECT * FROM unnest($1::int8[], $2::uuid[], $3::bytea[], $4::bytea[])",
            &entry_params,
        ),
        run(
            tx,
            "INSERT INTO log_nodes (level, idx, hash) SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])",
            &node_params,
        ),
        run(
            tx,
            "INSERT INTO tree_heads (tree_size, timestamp, root_hash, signature) VALUES ($1, $2, $3, $4)",
            &head_params,
        ),
        run(
            tx,
            "UPDATE log_state SET tree_size = $1, last_timestamp = $2 WHERE id = 1",
            &state_params,
        ),
    )?;
    Ok(())
}

use crate::outcome::{self, ConflictReason};

/// What is held already under the batch's record IDs and sequence numbers,
/// and which of the blobs its records name are held whole.
struct Held {
    by_id: HashMap<Uuid, Vec<u8>>,
    by_seq: HashMap<(Uuid, u64), Uuid>,
    blobs: HashSet<String>,
}

/// The record IDs, (device, sequence) pairs and attachments of a batch to
/// look up.
struct Keys<'a> {
    ids: Vec<Uuid>,
    devices: Vec<Uuid>,
    seqs: Vec<i64>,
    blobs: Vec<&'a str>,
}

impl<'a> Keys<'a> {
    fn of(batches: &'a [IncomingBatch]) -> Keys<'a> {
        let mut keys = Keys {
            ids: Vec::new(),
            devices: Vec::new(),
            seqs: Vec::new(),
            blobs: Vec::new(),
        };
        for incoming in batches.iter().flat_map(|b| &b.records) {
            match incoming {
                Incoming::Valid(r) => {
                    keys.ids.push(r.record_id);
                    keys.devices.push(r.device_id);
                    keys.seqs.push(to_i64(r.device_seq));
                    keys.blobs
                        .extend(r.attachments.iter().map(|(sha, _)| sha.as_str()));
                }
                Incoming::Invalid(r) => {
                    if let (true, Some(id)) = (r.seq_seen, r.record_id) {
                        keys.ids.push(id);
                    }
                }
            }
        }
        keys
    }
}

async fn held_by_id(tx: &Tx<'_>, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<u8>>, CentralError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = run(
        tx,
        "SELECT record_id, content_hash FROM records WHERE record_id = ANY($1)",
        &[&ids],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, Uuid>(0), r.get::<_, Vec<u8>>(1)))
        .collect())
}

/// Which of `shas` are held whole. Read behind the log lock, which blob
/// completions take too: no blob becomes held while the batch is applied.
async fn held_blobs(tx: &Tx<'_>, shas: &[&str]) -> Result<HashSet<String>, CentralError> {
    // Records without attachments (the usual batch) cost no round trip.
    if shas.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = run(
        tx,
        "SELECT sha256 FROM blobs WHERE sha256 = ANY($1)",
        &[&shas],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

async fn held_by_seq(
    tx: &Tx<'_>,
    devices: &[Uuid],
    seqs: &[i64],
) -> Result<HashMap<(Uuid, u64), Uuid>, CentralError> {
    if devices.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = run(
        tx,
        "SELECT r.device_id, r.device_seq, r.record_id FROM records r
         JOIN unnest($1::uuid[], $2::int8[]) AS w(device_id, device_seq)
           ON r.device_id = w.device_id AND r.device_seq = w.device_seq",
        &[&devices, &seqs],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| ((r.get::<_, Uuid>(0), to_u64(r.get(1))), r.get::<_, Uuid>(2)))
        .collect())
}

/// Records to insert, column by column (for one `unnest` insert).
#[derive(Default)]
pub(super) struct NewRecords<'a> {
    pub(super) ids: Vec<Uuid>,
    pub(super) devices: Vec<Uuid>,
    pub(super) seqs: Vec<i64>,
    hashes: Vec<&'a [u8]>,
    pub(super) kinds: Vec<&'static str>,
    canonicals: Vec<&'a [u8]>,
    enrolled: Vec<&'a str>,
    signatures: Vec<Option<&'a [u8]>>,
    sealed: Vec<bool>,
    pub(super) visits: Vec<Option<&'a VisitFacts>>,
    /// Who each record is about, for worklists.
    pub(super) people: Vec<Option<&'a PersonFacts>>,
    /// The attachments they name (`record_attachments`), one row each.
    attachment_ids: Vec<Uuid>,
    attachment_shas: Vec<&'a str>,
    attachment_sizes: Vec<i64>,
}

/// What a batch comes to: its receipt lines in order, and what to write.
struct Decided<'a> {
    lines: Vec<RecordReceipt>,
    new: NewRecords<'a>,
    refusals: Vec<(Refused, Outcome)>,
    touched: outcome::Touched,
    /// Lines (by position) answered `duplicate` for a record refused by
    /// the checks but held with these bytes: their missing attachments
    /// are read from what is held.
    ask: Vec<(usize, Uuid)>,
}

/// Decides each record's outcome against what is held (and what this
/// batch accepted before it).
fn decide<'a>(batch: &'a IncomingBatch, held: &mut Held) -> Decided<'a> {
    let mut new = NewRecords::default();
    let mut refusals: Vec<(Refused, Outcome)> = Vec::new();
    let mut lines = Vec::with_capacity(batch.records.len());
    // Per device: highest sequence seen in this batch, records accepted.
    let mut touched = outcome::Touched::new();
    let mut ask = Vec::new();
    for (index, incoming) in batch.records.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let line = match incoming {
            Incoming::Valid(rec) => {
                let conflict = conflict_of(held, rec);
                let outcome = match &conflict {
                    Some(Ok(())) => Outcome::Duplicate,
                    Some(Err(_)) => Outcome::Conflict,
                    None => {
                        // Accepted: later records (and batches) see it held.
                        held.by_id
                            .insert(rec.record_id, rec.content_hash.0.to_vec());
                        held.by_seq
                            .insert((rec.device_id, rec.device_seq), rec.record_id);
                        push_record(&mut new, rec);
                        outcome::touch(&mut touched, rec.device_id, rec.device_seq, true);
                        Outcome::Accepted
                    }
                };
                let conflict = conflict.and_then(Result::err);
                if let Some(reason) = &conflict {
                    refusals.push((outcome::conflict_refusal(rec, reason), Outcome::Conflict));
                }
                let mut line = outcome::valid_line(index, rec, outcome, conflict.as_ref());
                // Accepted or duplicate, the record held is these very
                // bytes (same content hash), so it names these very
                // attachments: no lookup, and none at all for the usual
                // record that names none.
                if matches!(outcome, Outcome::Accepted | Outcome::Duplicate) {
                    line.missing_attachments = missing_of(&rec.attachments, &held.blobs);
                }
                line
            }
            Incoming::Invalid(refused) if held_as_is(held, refused) => {
                if let Some(id) = refused.record_id {
                    ask.push((lines.len(), id));
                }
                outcome::held_line(index, refused)
            }
            Incoming::Invalid(refused) => {
                outcome::touch_refused(&mut touched, refused);
                refusals.push((refused.clone(), Outcome::Invalid));
                outcome::invalid_line(index, refused)
            }
        };
        lines.push(line);
    }
    Decided {
        lines,
        new,
        refusals,
        touched,
        ask,
    }
}

/// The hashes of `attachments` not held whole, sorted, each once (as
/// `record_attachments` keeps them).
fn missing_of(attachments: &[(String, u64)], held: &HashSet<String>) -> Vec<String> {
    let mut missing: Vec<String> = attachments
        .iter()
        .filter(|(sha, _)| !held.contains(sha))
        .map(|(sha, _)| sha.clone())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

/// Moves each touched device's marks; a laptop's last sync and journal.
/// In order: the device row may be created by its upsert.
async fn update_devices(
    tx: &Tx<'_>,
    batch: &IncomingBatch,
    at: &str,
    touched: &outcome::Touched,
) -> Result<(), CentralError> {
    for (device, (max_seq, accepted)) in touched {
        let name = (batch.sender.node_id == *device)
            .then(|| batch.sender.name.clone())
            .flatten();
        update_device(tx, *device, name.as_deref(), at, *max_seq, *accepted).await?;
    }
    if batch.sender.role == NodeRole::Field && !touched.contains_key(&batch.sender.node_id) {
        // A laptop that synced without new records still shows its last sync.
        run(
            tx,
            "UPDATE devices SET last_sync_at = $2 WHERE device_id = $1",
            &[&batch.sender.node_id, &at],
        )
        .await?;
    }
    if let (NodeRole::Field, Some(journal)) = (batch.sender.role, batch.journal) {
        run(
            tx,
            "UPDATE devices SET journal_seq = $2, journal_hash = $3 WHERE device_id = $1",
            &[
                &batch.sender.node_id,
                &to_i64(journal.seq),
                &&journal.hash[..],
            ],
        )
        .await?;
    }
    Ok(())
}

/// `None`: new. `Some(Ok)`: held with this content (duplicate).
/// `Some(Err)`: a conflict, with its code and reasons.
fn conflict_of(held: &Held, rec: &CheckedRecord) -> Option<Result<(), ConflictReason>> {
    if let Some(hash) = held.by_id.get(&rec.record_id) {
        if hash.as_slice() == rec.content_hash.0.as_slice() {
            return Some(Ok(()));
        }
        return Some(Err(outcome::record_id_conflict(rec.record_id, hash)));
    }
    held.by_seq
        .get(&(rec.device_id, rec.device_seq))
        .map(|other| {
            Err(outcome::device_seq_conflict(
                rec.device_id,
                rec.device_seq,
                other,
            ))
        })
}

/// Whether a record refused by the checks is held with exactly these
/// bytes (only records that decoded and hashed correctly).
fn held_as_is(held: &Held, r: &Refused) -> bool {
    let (true, Some(id)) = (r.seq_seen, r.record_id) else {
        return false;
    };
    held.by_id
        .get(&id)
        .is_some_and(|h| hex::encode(h) == r.content_hash)
}

fn push_record<'a>(new: &mut NewRecords<'a>, rec: &'a CheckedRecord) {
    new.ids.push(rec.record_id);
    new.devices.push(rec.device_id);
    new.seqs.push(to_i64(rec.device_seq));
    new.hashes.push(&rec.content_hash.0[..]);
    new.kinds.push(rec.kind.as_str());
    new.canonicals.push(&rec.canonical);
    new.enrolled.push(&rec.enrolled_at);
    new.signatures.push(rec.signature.as_ref().map(|s| &s[..]));
    new.sealed.push(rec.sealed);
    new.visits.push(rec.visit.as_ref());
    new.people.push(rec.person.as_ref());
    for (sha, size) in &rec.attachments {
        new.attachment_ids.push(rec.record_id);
        new.attachment_shas.push(sha);
        new.attachment_sizes.push(to_i64(*size));
    }
}

/// The attachments the new records name, in one statement (none for
/// records that name none). A record naming one blob twice keeps one row.
async fn insert_attachments(tx: &Tx<'_>, new: &NewRecords<'_>) -> Result<(), CentralError> {
    if new.attachment_ids.is_empty() {
        return Ok(());
    }
    run(
        tx,
        "INSERT INTO record_attachments (record_id, sha256, size)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[])
         ON CONFLICT (record_id, sha256) DO NOTHING",
        &[
            &new.attachment_ids,
            &new.attachment_shas,
            &new.attachment_sizes,
        ],
    )
    .await?;
    Ok(())
}

async fn insert_records(
    tx: &Tx<'_>,
    batch: &IncomingBatch,
    at: &str,
    new: &NewRecords<'_>,
) -> Result<(), CentralError> {
    if new.ids.is_empty() {
        return Ok(());
    }
    let relayed_by = (batch.sender.role == NodeRole::Station).then_some(batch.sender.node_id);
    let units: Vec<Option<&str>> = new
        .visits
        .iter()
        .map(|v| v.map(|v| v.unit_code.as_str()))
        .collect();
    let days: Vec<Option<String>> = new
        .visits
        .iter()
        .map(|v| v.map(|v| v.day.to_string()))
        .collect();
    let places: Vec<Option<&str>> = new
        .visits
        .iter()
        .map(|v| v.map(|v| v.place.as_str()))
        .collect();
    let reasons: Vec<Option<&str>> = new
        .visits
        .iter()
        .map(|v| v.and_then(|v| v.reason).map(|r| r.as_str()))
        .collect();
    run(
        tx,
        "INSERT INTO records (record_id, device_id, device_seq, content_hash, kind, canonical,
                              enrolled_at, signature, sealed, visit_unit, visit_day, visit_place,
                              visit_reason, received_at, batch_id, relayed_by)
         SELECT r.id, r.dev, r.seq, r.hash, r.kind, r.canon, r.enrolled, r.sig, r.sealed,
                r.unit, r.day::date, r.place, r.reason, $10, $11, $12
         FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::bytea[], $5::text[], $6::bytea[],
                     $7::text[], $8::bytea[], $9::bool[], $13::text[], $14::text[], $15::text[],
                     $16::text[])
              AS r(id, dev, seq, hash, kind, canon, enrolled, sig, sealed, unit, day, place, reason)",
        &[
            &new.ids,
            &new.devices,
            &new.seqs,
            &new.hashes,
            &new.kinds,
            &new.canonicals,
            &new.enrolled,
            &new.signatures,
            &new.sealed,
            &at,
            &batch.batch_id,
            &relayed_by,
            &units,
            &days,
            &places,
            &reasons,
        ],
    )
    .await?;
    Ok(())
}

async fn insert_refusals(
    tx: &Tx<'_>,
    batch: &IncomingBatch,
    at: &str,
    refusals: &[(Refused, Outcome)],
) -> Result<(), CentralError> {
    if refusals.is_empty() {
        return Ok(());
    }
    let record_ids: Vec<Option<Uuid>> = refusals.iter().map(|(r, _)| r.record_id).collect();
    let device_ids: Vec<Option<Uuid>> = refusals.iter().map(|(r, _)| r.device_id).collect();
    // Only a number the device really used counts for gap detection.
    let seqs: Vec<Option<i64>> = refusals
        .iter()
        .map(|(r, _)| {
            if r.seq_seen {
                r.device_seq.map(to_i64)
            } else {
                None
            }
        })
        .collect();
    let hashes: Vec<&str> = refusals
        .iter()
        .map(|(r, _)| r.content_hash.as_str())
        .collect();
    let outcomes: Vec<&str> = refusals.iter().map(|(_, o)| o.as_str()).collect();
    let codes: Vec<&str> = refusals.iter().map(|(r, _)| r.code.as_str()).collect();
    let reasons: Vec<&str> = refusals.iter().map(|(r, _)| r.reason.as_str()).collect();
    let canonicals: Vec<Option<&[u8]>> = refusals
        .iter()
        .map(|(r, _)| r.canonical.as_deref())
        .collect();
    run(
        tx,
        "INSERT INTO refusals (record_id, device_id, device_seq, content_hash, outcome, code, reason,
                               canonical, at, batch_id, sender_id)
         SELECT r.record_id, r.device_id, r.device_seq, r.content_hash, r.outcome, r.code, r.reason,
                r.canonical, $9, $10, $11
         FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::bytea[]) WITH ORDINALITY AS r
                     (record_id, device_id, device_seq, content_hash, outcome, code, reason, canonical, n)
         ORDER BY n",
        &[
            &record_ids,
            &device_ids,
            &seqs,
            &hashes,
            &outcomes,
            &codes,
            &reasons,
            &canonicals,
            &at,
            &batch.batch_id,
            &batch.sender.node_id,
        ],
    )
    .await?;
    Ok(())
}

/// Records the device's progress and moves its contiguous mark forward
/// over every number now seen.
async fn update_device(
    tx: &Tx<'_>,
    device: Uuid,
    name: Option<&str>,
    at: &str,
    max_seq: u64,
    accepted: u64,
) -> Result<(), CentralError> {
    let rows = run(
        tx,
        "INSERT INTO devices (device_id, name, role, first_seen_at, last_sync_at, max_seq, records)
             VALUES ($1, $2, 'field', $3, $3, $4, $5)
             ON CONFLICT (device_id) DO UPDATE SET
                name = COALESCE(excluded.name, devices.name), last_sync_at = excluded.last_sync_at,
                max_seq = GREATEST(devices.max_seq, excluded.max_seq),
                records = devices.records + excluded.records
             RETURNING contiguous_seq, max_seq",
        &[&device, &name, &at, &to_i64(max_seq), &to_i64(accepted)],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| CentralError::Inconsistent(format!("device {device} was not upserted")))?;
    let start: i64 = row.get(0);
    let max: i64 = row.get(1);
    let mut contiguous = start;
    // Walk the numbers seen above the mark, a window at a time, until the
    // first one missing.
    while contiguous < max {
        let seen = run(
            tx,
            "SELECT device_seq FROM records WHERE device_id = $1 AND device_seq > $2 AND device_seq <= $3
                 UNION SELECT device_seq FROM refusals WHERE device_id = $1 AND device_seq > $2 AND device_seq <= $3
                 ORDER BY 1",
                &[&device, &contiguous, &(contiguous + SEQ_WINDOW)],
            )
            .await?;
        let before = contiguous;
        for row in &seen {
            let seq: i64 = row.get(0);
            if seq != contiguous + 1 {
                break;
            }
            contiguous = seq;
        }
        if contiguous != before + SEQ_WINDOW {
            break;
        }
    }
    if contiguous != start {
        run(
            tx,
            "UPDATE devices SET contiguous_seq = $2 WHERE device_id = $1",
            &[&device, &contiguous],
        )
        .await?;
    }
    Ok(())
}

async fn count_session(
    tx: &Tx<'_>,
    batch: &IncomingBatch,
    at: &str,
    lines: &[RecordReceipt],
    busy_ms: u64,
) -> Result<(), CentralError> {
    let mut counts = OutcomeCounts::default();
    for line in lines {
        counts.add(line.outcome);
    }
    run(
        tx,
        "INSERT INTO sessions (session_id, node_id, role, client_version, started_at, last_batch_at,
                               batches, accepted, duplicate, conflict, invalid, bytes_in, busy_ms)
         VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (session_id) DO UPDATE SET
            last_batch_at = excluded.last_batch_at, client_version = excluded.client_version,
            batches = sessions.batches + 1, accepted = sessions.accepted + excluded.accepted,
            duplicate = sessions.duplicate + excluded.duplicate,
            conflict = sessions.conflict + excluded.conflict,
            invalid = sessions.invalid + excluded.invalid,
            bytes_in = sessions.bytes_in + excluded.bytes_in,
            busy_ms = sessions.busy_ms + excluded.busy_ms",
        &[
            &batch.session_id,
            &batch.sender.node_id,
            &batch.sender.role.as_str(),
            &batch.sender.client_version,
            &at,
            &to_i64(counts.accepted),
            &to_i64(counts.duplicate),
            &to_i64(counts.conflict),
            &to_i64(counts.invalid),
            &to_i64(batch.bytes_in),
            &to_i64(busy_ms),
        ],
    )
    .await?;
    Ok(())
}
