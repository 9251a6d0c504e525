//! The checks every received record goes through before it is applied:
//! the content hash matches the bytes, the bytes are canonical, the body
//! passes the same validation rules the laptop applied, and a laptop sends
//! only its own records. Pure CPU work, run off the async executor.

use chrono::{DateTime, Utc};
use doorstep_core::canonical::decode_record;
use doorstep_core::{ContentHash, RecheckError, Units, ValidationContext, recheck};
use doorstep_wire::{Batch, BatchRecord, NodeRole, WireViolation};

use crate::store::{CheckedRecord, Incoming, IncomingBatch, Refused};

/// Batches at least this large are checked on several threads.
const PARALLEL_FROM: usize = 256;

/// Checks every record of `batch` against `units` at time `now`.
pub fn check_batch(
    batch: Batch,
    units: &Units,
    now: DateTime<Utc>,
    bytes_in: u64,
) -> IncomingBatch {
    let ctx = ValidationContext { units, now };
    let sender_device = (batch.sender.role == NodeRole::Field).then_some(batch.sender.node_id);
    let started = std::time::Instant::now();
    let records = check_all(&batch.records, &ctx, sender_device);
    IncomingBatch {
        batch_id: batch.batch_id,
        session_id: batch.session_id,
        sender: batch.sender,
        journal: batch.journal,
        received_at: now,
        bytes_in,
        check_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        records,
    }
}

fn check_all(
    records: &[BatchRecord],
    ctx: &ValidationContext<'_>,
    sender_device: Option<uuid::Uuid>,
) -> Vec<Incoming> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if records.len() < PARALLEL_FROM || threads < 2 {
        return records
            .iter()
            .map(|r| check_one(r, ctx, sender_device))
            .collect();
    }
    let chunk = records.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| check_one(r, ctx, sender_device))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(records.len());
        for (handle, part) in handles.into_iter().zip(records.chunks(chunk)) {
            match handle.join() {
                Ok(checked) => out.extend(checked),
                // A checking thread cannot panic on input (no panics in the
                // core); should it ever, check that part again here.
                Err(_) => out.extend(part.iter().map(|r| check_one(r, ctx, sender_device))),
            }
        }
        out
    })
}

/// Checks one record.
pub fn check_one(
    record: &BatchRecord,
    ctx: &ValidationContext<'_>,
    sender_device: Option<uuid::Uuid>,
) -> Incoming {
    let bytes = record.record.get().as_bytes();
    let Some(claimed) = ContentHash::from_hex(&record.content_hash) else {
        return Incoming::Invalid(refused(
            record,
            None,
            "record.bad_content_hash",
            "content_hash is not 64 lowercase hex digits".into(),
            "mã băm nội dung không hợp lệ (cần 64 chữ số hex)".into(),
            Vec::new(),
        ));
    };
    if claimed.to_hex() != record.content_hash {
        return Incoming::Invalid(refused(
            record,
            None,
            "record.bad_content_hash",
            "content_hash must be lowercase hex".into(),
            "mã băm nội dung phải viết bằng chữ thường".into(),
            Vec::new(),
        ));
    }
    let result = recheck(bytes, &claimed, ctx);
    let ids = match &result {
        Ok(rec) => Some((rec.record_id, rec.device_id, rec.device_seq)),
        Err(_) => decode_ids(bytes),
    };
    // Whose record it is comes first: a laptop sends only its own records,
    // valid or not, and never speaks for another device's sequence.
    if let (Some(sender), Some((_, device, _))) = (sender_device, ids)
        && sender != device
    {
        return Incoming::Invalid(refused(
            record,
            None,
            "record.foreign_device",
            format!(
                "the record was enrolled by device {device}, not by the sending device {sender}; a laptop sends only its own records"
            ),
            format!(
                "hồ sơ do thiết bị {device} tạo, không phải thiết bị gửi {sender}; máy chỉ được gửi hồ sơ của chính mình"
            ),
            Vec::new(),
        ));
    }
    if let Some((_, _, 0)) = ids {
        return Incoming::Invalid(refused(
            record,
            None,
            "record.bad_sequence",
            "device_seq starts at 1; 0 is never a device's sequence number".into(),
            "số thứ tự của thiết bị bắt đầu từ 1".into(),
            Vec::new(),
        ));
    }
    match result {
        Ok(rec) => Incoming::Valid(CheckedRecord {
            content_hash: claimed,
            record_id: rec.record_id,
            device_id: rec.device_id,
            device_seq: rec.device_seq,
            kind: rec.body.kind,
            enrolled_at: doorstep_core::canonical::format_utc_millis(&rec.enrolled_at),
            canonical: bytes.to_vec(),
        }),
        Err(e) => {
            let seen = matches!(e, RecheckError::Invalid(_) | RecheckError::NotClean);
            let violations = e
                .violations()
                .iter()
                .map(|v| WireViolation {
                    path: v.path.clone(),
                    code: v.code.to_owned(),
                    message: v.message.clone(),
                    message_vi: v.message_vi.clone(),
                })
                .collect();
            let reason = match &e {
                RecheckError::Invalid(v) => v
                    .iter()
                    .map(|v| format!("{}: {}", v.path, v.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            let reason_vi = match &e {
                RecheckError::Invalid(v) => v
                    .iter()
                    .map(|v| format!("{}: {}", v.path, v.message_vi))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.message_vi(),
            };
            Incoming::Invalid(refused(
                record,
                Some(seen),
                e.code(),
                reason,
                reason_vi,
                violations,
            ))
        }
    }
}

/// A refusal, with the IDs read from the bytes when they decode.
fn refused(
    record: &BatchRecord,
    seen: Option<bool>,
    code: &str,
    reason: String,
    reason_vi: String,
    violations: Vec<WireViolation>,
) -> Refused {
    let bytes = record.record.get().as_bytes();
    let ids = decode_ids(bytes);
    Refused {
        content_hash: record.content_hash.clone(),
        record_id: ids.map(|i| i.0),
        device_id: ids.map(|i| i.1),
        device_seq: ids.map(|i| i.2),
        seq_seen: seen.unwrap_or(false) && ids.is_some(),
        code: code.to_owned(),
        reason,
        reason_vi,
        violations,
        canonical: Some(bytes.to_vec()),
    }
}

/// Record ID, device ID and sequence number of bytes that are at least
/// shaped like a record (possibly with an invalid body).
fn decode_ids(bytes: &[u8]) -> Option<(uuid::Uuid, uuid::Uuid, u64)> {
    if let Ok(r) = decode_record(bytes) {
        return Some((r.record_id, r.device_id, r.device_seq));
    }
    #[derive(serde::Deserialize)]
    struct Ids {
        record_id: uuid::Uuid,
        device_id: uuid::Uuid,
        device_seq: u64,
    }
    serde_json::from_slice::<Ids>(bytes)
        .ok()
        .map(|i| (i.record_id, i.device_id, i.device_seq))
}
