//! Applying one batch on PostgreSQL: outcomes decided against what is
//! held, records and refusals written in bulk, devices' sequence marks
//! moved, the session counted, the log entry appended and a head signed —
//! all in one transaction that holds the log lock from its first statement.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::merkle;
use doorstep_wire::log::{LogEntry, ReceiptLog};
use doorstep_wire::{NodeRole, Outcome, OutcomeCounts, RecordReceipt};
use tokio_postgres::Transaction;
use uuid::Uuid;

use super::{to_i64, to_u64, with_nodes};
use crate::error::CentralError;
use crate::signing::LogSigner;
use crate::store::{Applied, CheckedRecord, Incoming, IncomingBatch, Refused};

/// Sequence numbers read per round when moving a device's contiguous mark.
const SEQ_WINDOW: i64 = 4096;

pub(crate) async fn apply(
    client: &mut tokio_postgres::Client,
    signer: &LogSigner,
    batch: &IncomingBatch,
) -> Result<Applied, CentralError> {
    let started = std::time::Instant::now();
    let tx = client.transaction().await.map_err(CentralError::pg)?;
    // The log lock first: from here on this transaction sees every batch
    // committed before it, on any node, and none can commit in between.
    let state = tx
        .query_one(
            "SELECT tree_size, last_timestamp FROM log_state WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(CentralError::pg)?;
    let index = to_u64(state.get(0));
    let last_timestamp = to_u64(state.get(1));

    let at = format_utc_millis(&batch.received_at);
    let lines = decide(&tx, batch, &at).await?;

    let busy_ms = batch.check_ms + u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    count_session(&tx, batch, &at, &lines, busy_ms).await?;

    // The log: append the entry, sign the new head, prove inclusion.
    let entry = LogEntry::new(
        batch.batch_id,
        batch.session_id,
        &batch.sender,
        batch.journal,
        &at,
        &lines,
    );
    let bytes = entry.to_bytes();
    let leaf = merkle::leaf_hash(&bytes);
    let completed = with_nodes(&tx, |nodes| merkle::nodes_completed_by(nodes, index, leaf)).await?;
    tx.execute(
        "INSERT INTO log_entries (idx, batch_id, entry, leaf_hash) VALUES ($1, $2, $3, $4)",
        &[&to_i64(index), &batch.batch_id, &bytes, &&leaf[..]],
    )
    .await
    .map_err(CentralError::pg)?;
    let levels: Vec<i16> = completed
        .iter()
        .map(|(l, _, _)| i16::try_from(*l).unwrap_or(i16::MAX))
        .collect();
    let idxs: Vec<i64> = completed.iter().map(|(_, i, _)| to_i64(*i)).collect();
    let hashes: Vec<&[u8]> = completed.iter().map(|(_, _, h)| &h[..]).collect();
    tx.execute(
        "INSERT INTO log_nodes (level, idx, hash) SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])",
        &[&levels, &idxs, &hashes],
    )
    .await
    .map_err(CentralError::pg)?;
    let size = index + 1;
    let (root, inclusion) = with_nodes(&tx, |nodes| {
        Ok((
            merkle::root(nodes, size)?,
            merkle::inclusion_proof(nodes, index, size)?,
        ))
    })
    .await?;
    // Heads never go back in time, even if a node's clock does.
    let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let head = signer.sign(size, now.max(last_timestamp), root);
    tx.execute(
        "INSERT INTO tree_heads (tree_size, timestamp, root_hash, signature) VALUES ($1, $2, $3, $4)",
        &[
            &to_i64(size),
            &to_i64(head.timestamp),
            &&head.root_hash[..],
            &&head.signature[..],
        ],
    )
    .await
    .map_err(CentralError::pg)?;
    tx.execute(
        "UPDATE log_state SET tree_size = $1, last_timestamp = $2 WHERE id = 1",
        &[&to_i64(size), &to_i64(head.timestamp)],
    )
    .await
    .map_err(CentralError::pg)?;
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(Applied {
        lines,
        log: ReceiptLog {
            index,
            tree_head: head,
            public_key: signer.public_key(),
            inclusion,
        },
    })
}

type ConflictReason = (&'static str, String, String);

/// What is held already under the batch's record IDs and sequence numbers.
struct Held {
    by_id: HashMap<Uuid, Vec<u8>>,
    by_seq: HashMap<(Uuid, u64), Uuid>,
}

async fn held(tx: &Transaction<'_>, batch: &IncomingBatch) -> Result<Held, CentralError> {
    let mut ids = Vec::new();
    let (mut devices, mut seqs) = (Vec::new(), Vec::new());
    for incoming in &batch.records {
        match incoming {
            Incoming::Valid(r) => {
                ids.push(r.record_id);
                devices.push(r.device_id);
                seqs.push(to_i64(r.device_seq));
            }
            Incoming::Invalid(r) => {
                if let (true, Some(id)) = (r.seq_seen, r.record_id) {
                    ids.push(id);
                }
            }
        }
    }
    let mut by_id = HashMap::new();
    if !ids.is_empty() {
        for row in tx
            .query(
                "SELECT record_id, content_hash FROM records WHERE record_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(CentralError::pg)?
        {
            by_id.insert(row.get::<_, Uuid>(0), row.get::<_, Vec<u8>>(1));
        }
    }
    let mut by_seq = HashMap::new();
    if !devices.is_empty() {
        for row in tx
            .query(
                "SELECT r.device_id, r.device_seq, r.record_id FROM records r
                 JOIN unnest($1::uuid[], $2::int8[]) AS w(device_id, device_seq)
                   ON r.device_id = w.device_id AND r.device_seq = w.device_seq",
                &[&devices, &seqs],
            )
            .await
            .map_err(CentralError::pg)?
        {
            by_seq.insert(
                (row.get::<_, Uuid>(0), to_u64(row.get(1))),
                row.get::<_, Uuid>(2),
            );
        }
    }
    Ok(Held { by_id, by_seq })
}

/// Records to insert, column by column (for one `unnest` insert).
#[derive(Default)]
struct NewRecords<'a> {
    ids: Vec<Uuid>,
    devices: Vec<Uuid>,
    seqs: Vec<i64>,
    hashes: Vec<&'a [u8]>,
    kinds: Vec<&'static str>,
    canonicals: Vec<&'a [u8]>,
    enrolled: Vec<&'a str>,
    signatures: Vec<Option<&'a [u8]>>,
    sealed: Vec<bool>,
}

/// Decides each record's outcome and writes records, refusals and the
/// devices' progress; the receipt lines in the batch's order.
async fn decide(
    tx: &Transaction<'_>,
    batch: &IncomingBatch,
    at: &str,
) -> Result<Vec<RecordReceipt>, CentralError> {
    let mut held = held(tx, batch).await?;
    let mut new = NewRecords::default();
    let mut refusals: Vec<(Refused, Outcome)> = Vec::new();
    let mut lines = Vec::with_capacity(batch.records.len());
    // Per device: highest sequence seen in this batch, records accepted.
    let mut touched: BTreeMap<Uuid, (u64, u64)> = BTreeMap::new();
    for (index, incoming) in batch.records.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let line = match incoming {
            Incoming::Valid(rec) => {
                let conflict = conflict_of(&held, rec);
                let outcome = match &conflict {
                    Some(Ok(())) => Outcome::Duplicate,
                    Some(Err(_)) => Outcome::Conflict,
                    None => {
                        // Accepted: later records of this batch see it held.
                        held.by_id
                            .insert(rec.record_id, rec.content_hash.0.to_vec());
                        held.by_seq
                            .insert((rec.device_id, rec.device_seq), rec.record_id);
                        push_record(&mut new, rec);
                        let e = touched.entry(rec.device_id).or_default();
                        e.0 = e.0.max(rec.device_seq);
                        e.1 += 1;
                        Outcome::Accepted
                    }
                };
                let reason = match conflict {
                    Some(Err(reason)) => Some(reason),
                    _ => None,
                };
                if let Some((code, text, text_vi)) = &reason {
                    refusals.push((
                        Refused {
                            content_hash: rec.content_hash.to_hex(),
                            record_id: Some(rec.record_id),
                            device_id: Some(rec.device_id),
                            device_seq: Some(rec.device_seq),
                            seq_seen: false,
                            code: (*code).to_owned(),
                            reason: text.clone(),
                            reason_vi: text_vi.clone(),
                            violations: Vec::new(),
                            canonical: Some(rec.canonical.clone()),
                        },
                        Outcome::Conflict,
                    ));
                }
                RecordReceipt {
                    index,
                    record_id: Some(rec.record_id),
                    device_id: Some(rec.device_id),
                    device_seq: Some(rec.device_seq),
                    content_hash: rec.content_hash.to_hex(),
                    outcome,
                    code: reason.as_ref().map(|c| c.0.to_owned()),
                    reason: reason.as_ref().map(|c| c.1.clone()),
                    reason_vi: reason.map(|c| c.2),
                    violations: Vec::new(),
                }
            }
            Incoming::Invalid(refused) if held_as_is(&held, refused) => {
                // Held already, byte for byte: the rules may have changed
                // since (unit list), the record was accepted then.
                RecordReceipt {
                    index,
                    record_id: refused.record_id,
                    device_id: refused.device_id,
                    device_seq: refused.device_seq,
                    content_hash: refused.content_hash.clone(),
                    outcome: Outcome::Duplicate,
                    code: None,
                    reason: None,
                    reason_vi: None,
                    violations: Vec::new(),
                }
            }
            Incoming::Invalid(refused) => {
                if refused.seq_seen
                    && let (Some(device), Some(seq)) = (refused.device_id, refused.device_seq)
                {
                    let e = touched.entry(device).or_default();
                    e.0 = e.0.max(seq);
                }
                refusals.push((clone_refused(refused), Outcome::Invalid));
                RecordReceipt {
                    index,
                    record_id: refused.record_id,
                    device_id: refused.device_id,
                    device_seq: refused.device_seq,
                    content_hash: refused.content_hash.clone(),
                    outcome: Outcome::Invalid,
                    code: Some(refused.code.clone()),
                    reason: Some(refused.reason.clone()),
                    reason_vi: Some(refused.reason_vi.clone()),
                    violations: refused.violations.clone(),
                }
            }
        };
        lines.push(line);
    }
    insert_records(tx, batch, at, &new).await?;
    insert_refusals(tx, batch, at, &refusals).await?;
    for (device, (max_seq, accepted)) in &touched {
        let name = (batch.sender.node_id == *device)
            .then(|| batch.sender.name.clone())
            .flatten();
        update_device(tx, *device, name.as_deref(), at, *max_seq, *accepted).await?;
    }
    if batch.sender.role == NodeRole::Field && !touched.contains_key(&batch.sender.node_id) {
        // A laptop that synced without new records still shows its last sync.
        tx.execute(
            "UPDATE devices SET last_sync_at = $2 WHERE device_id = $1",
            &[&batch.sender.node_id, &at],
        )
        .await
        .map_err(CentralError::pg)?;
    }
    if let (NodeRole::Field, Some(journal)) = (batch.sender.role, batch.journal) {
        tx.execute(
            "UPDATE devices SET journal_seq = $2, journal_hash = $3 WHERE device_id = $1",
            &[
                &batch.sender.node_id,
                &to_i64(journal.seq),
                &&journal.hash[..],
            ],
        )
        .await
        .map_err(CentralError::pg)?;
    }
    Ok(lines)
}

/// `None`: new. `Some(Ok)`: held with this content (duplicate).
/// `Some(Err)`: a conflict, with its code and reasons.
fn conflict_of(held: &Held, rec: &CheckedRecord) -> Option<Result<(), ConflictReason>> {
    let id = rec.record_id;
    if let Some(hash) = held.by_id.get(&id) {
        if hash.as_slice() == rec.content_hash.0.as_slice() {
            return Some(Ok(()));
        }
        return Some(Err((
            "conflict.record_id",
            format!(
                "central already holds record {id} with another content (hash {}); this version is refused",
                hex::encode(hash)
            ),
            format!(
                "trung tâm đã có hồ sơ {id} với nội dung khác; bản này bị từ chối. Hãy lập hồ sơ đính chính (supersedes) nếu cần sửa"
            ),
        )));
    }
    let (device, seq) = (rec.device_id, rec.device_seq);
    held.by_seq.get(&(device, seq)).map(|other| {
        Err((
            "conflict.device_seq",
            format!(
                "device {device} already used sequence number {seq} for record {other}; a device must never reuse a number (was the laptop restored from an old copy?)"
            ),
            format!(
                "thiết bị {device} đã dùng số thứ tự {seq} cho hồ sơ {other}; số thứ tự không được dùng lại (máy có bị khôi phục từ bản sao cũ?)"
            ),
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

fn clone_refused(r: &Refused) -> Refused {
    Refused {
        content_hash: r.content_hash.clone(),
        record_id: r.record_id,
        device_id: r.device_id,
        device_seq: r.device_seq,
        seq_seen: r.seq_seen,
        code: r.code.clone(),
        reason: r.reason.clone(),
        reason_vi: r.reason_vi.clone(),
        violations: r.violations.clone(),
        canonical: r.canonical.clone(),
    }
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
}

async fn insert_records(
    tx: &Transaction<'_>,
    batch: &IncomingBatch,
    at: &str,
    new: &NewRecords<'_>,
) -> Result<(), CentralError> {
    if new.ids.is_empty() {
        return Ok(());
    }
    let relayed_by = (batch.sender.role == NodeRole::Station).then_some(batch.sender.node_id);
    tx.execute(
        "INSERT INTO records (record_id, device_id, device_seq, content_hash, kind, canonical,
                              enrolled_at, signature, sealed, received_at, batch_id, relayed_by)
         SELECT r.*, $10, $11, $12
         FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::bytea[], $5::text[], $6::bytea[],
                     $7::text[], $8::bytea[], $9::bool[]) AS r",
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
        ],
    )
    .await
    .map_err(CentralError::pg)?;
    Ok(())
}

async fn insert_refusals(
    tx: &Transaction<'_>,
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
    tx.execute(
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
    .await
    .map_err(CentralError::pg)?;
    Ok(())
}

/// Records the device's progress and moves its contiguous mark forward
/// over every number now seen.
async fn update_device(
    tx: &Transaction<'_>,
    device: Uuid,
    name: Option<&str>,
    at: &str,
    max_seq: u64,
    accepted: u64,
) -> Result<(), CentralError> {
    let row = tx
        .query_one(
            "INSERT INTO devices (device_id, name, role, first_seen_at, last_sync_at, max_seq, records)
             VALUES ($1, $2, 'field', $3, $3, $4, $5)
             ON CONFLICT (device_id) DO UPDATE SET
                name = COALESCE(excluded.name, devices.name), last_sync_at = excluded.last_sync_at,
                max_seq = GREATEST(devices.max_seq, excluded.max_seq),
                records = devices.records + excluded.records
             RETURNING contiguous_seq, max_seq",
            &[&device, &name, &at, &to_i64(max_seq), &to_i64(accepted)],
        )
        .await
        .map_err(CentralError::pg)?;
    let start: i64 = row.get(0);
    let max: i64 = row.get(1);
    let mut contiguous = start;
    // Walk the numbers seen above the mark, a window at a time, until the
    // first one missing.
    while contiguous < max {
        let seen = tx
            .query(
                "SELECT device_seq FROM records WHERE device_id = $1 AND device_seq > $2 AND device_seq <= $3
                 UNION SELECT device_seq FROM refusals WHERE device_id = $1 AND device_seq > $2 AND device_seq <= $3
                 ORDER BY 1",
                &[&device, &contiguous, &(contiguous + SEQ_WINDOW)],
            )
            .await
            .map_err(CentralError::pg)?;
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
        tx.execute(
            "UPDATE devices SET contiguous_seq = $2 WHERE device_id = $1",
            &[&device, &contiguous],
        )
        .await
        .map_err(CentralError::pg)?;
    }
    Ok(())
}

async fn count_session(
    tx: &Transaction<'_>,
    batch: &IncomingBatch,
    at: &str,
    lines: &[RecordReceipt],
    busy_ms: u64,
) -> Result<(), CentralError> {
    let mut counts = OutcomeCounts::default();
    for line in lines {
        counts.add(line.outcome);
    }
    tx.execute(
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
    .await
    .map_err(CentralError::pg)?;
    Ok(())
}
