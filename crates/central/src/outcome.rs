//! What a checked record comes to at a node, backend-neutral: the
//! conflict reasons (English and Vietnamese), the receipt line of each
//! case and the refusal kept for a conflict. Each backend decides with what
//! it holds and builds its answers here, so both answer alike.

use std::collections::BTreeMap;

use doorstep_wire::{Outcome, RecordReceipt};
use uuid::Uuid;

use crate::store::{CheckedRecord, Refused};

/// A conflict's code, reason and reason in Vietnamese.
pub(crate) type ConflictReason = (&'static str, String, String);

/// Per device: highest sequence number seen in a batch, records accepted.
pub(crate) type Touched = BTreeMap<Uuid, (u64, u64)>;

/// The record ID is held with other content (`held_hash`).
pub(crate) fn record_id_conflict(id: Uuid, held_hash: &[u8]) -> ConflictReason {
    (
        "conflict.record_id",
        format!(
            "central already holds record {id} with another content (hash {}); this version is refused",
            hex::encode(held_hash)
        ),
        format!(
            "trung tâm đã có hồ sơ {id} với nội dung khác; bản này bị từ chối. Hãy lập hồ sơ đính chính (supersedes) nếu cần sửa"
        ),
    )
}

/// The device's sequence number is held for another record.
pub(crate) fn device_seq_conflict(
    device: Uuid,
    seq: u64,
    other: &dyn std::fmt::Display,
) -> ConflictReason {
    (
        "conflict.device_seq",
        format!(
            "device {device} already used sequence number {seq} for record {other}; a device must never reuse a number (was the laptop restored from an old copy?)"
        ),
        format!(
            "thiết bị {device} đã dùng số thứ tự {seq} cho hồ sơ {other}; số thứ tự không được dùng lại (máy có bị khôi phục từ bản sao cũ?)"
        ),
    )
}

/// The receipt line of a record that passed the checks.
pub(crate) fn valid_line(
    index: u32,
    rec: &CheckedRecord,
    outcome: Outcome,
    conflict: Option<&ConflictReason>,
) -> RecordReceipt {
    RecordReceipt {
        index,
        record_id: Some(rec.record_id),
        device_id: Some(rec.device_id),
        device_seq: Some(rec.device_seq),
        content_hash: rec.content_hash.to_hex(),
        outcome,
        code: conflict.map(|c| c.0.to_owned()),
        reason: conflict.map(|c| c.1.clone()),
        reason_vi: conflict.map(|c| c.2.clone()),
        violations: Vec::new(),
        missing_attachments: Vec::new(),
    }
}

/// The refusal kept, for the audit, of a record answered `conflict`.
pub(crate) fn conflict_refusal(rec: &CheckedRecord, conflict: &ConflictReason) -> Refused {
    Refused {
        content_hash: rec.content_hash.to_hex(),
        record_id: Some(rec.record_id),
        device_id: Some(rec.device_id),
        device_seq: Some(rec.device_seq),
        seq_seen: false,
        code: conflict.0.to_owned(),
        reason: conflict.1.clone(),
        reason_vi: conflict.2.clone(),
        violations: Vec::new(),
        canonical: Some(rec.canonical.clone()),
    }
}

/// A record the checks refused that is held already, byte for byte: the
/// rules may have changed since (unit list), it was accepted then and is
/// not refused now.
pub(crate) fn held_line(index: u32, refused: &Refused) -> RecordReceipt {
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
        missing_attachments: Vec::new(),
    }
}

/// A record the checks refused.
pub(crate) fn invalid_line(index: u32, refused: &Refused) -> RecordReceipt {
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
        missing_attachments: Vec::new(),
    }
}

/// Notes a sequence number the device used (and whether it was accepted).
pub(crate) fn touch(touched: &mut Touched, device: Uuid, seq: u64, accepted: bool) {
    let e = touched.entry(device).or_default();
    e.0 = e.0.max(seq);
    e.1 += u64::from(accepted);
}

/// A refused record whose number counts as seen (it decoded and hashed
/// correctly; only its content broke a rule).
pub(crate) fn touch_refused(touched: &mut Touched, refused: &Refused) {
    if refused.seq_seen
        && let (Some(device), Some(seq)) = (refused.device_id, refused.device_seq)
    {
        touch(touched, device, seq, false);
    }
}
