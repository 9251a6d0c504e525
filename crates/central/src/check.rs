//! The checks every received record goes through before it is applied:
//! the content hash matches the bytes, the bytes are canonical, the body
//! passes the same validation rules the laptop applied, a laptop sends
//! only its own records, and (given what central knows of registered
//! devices) the record is signed by its device, the device is not revoked,
//! the record is within the device's unit and a relaying station relays
//! only for its own laptops. Pure CPU work, run off the async executor.

use std::collections::HashMap;

use uuid::Uuid;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::decode_record;
use doorstep_core::{ContentHash, RecheckError, Units, ValidationContext, recheck};
use doorstep_wire::{Batch, BatchRecord, NodeRole, WireViolation};

use crate::store::{CheckedRecord, Incoming, IncomingBatch, Refused};

/// Batches at least this large are checked on several threads.
const PARALLEL_FROM: usize = 256;

/// What central knows of one registered node, for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGrant {
    pub role: NodeRole,
    pub public_key: [u8; 32],
    /// The unit it may submit records for (and the units under it).
    pub unit_code: String,
    /// For a laptop: the station it is registered under.
    pub station_id: Option<Uuid>,
    pub revoked: bool,
    /// What the device's card applications must carry.
    pub biometrics: doorstep_core::record::BiometricPolicy,
}

/// Who may submit what: the registered nodes a batch involves, and
/// whether unregistered devices are refused.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub grants: HashMap<Uuid, NodeGrant>,
    /// Refuse records of devices central has not registered. Central's
    /// default; a station (which cannot know every laptop's key) and an
    /// explicitly open central (`--allow-unregistered`) accept them.
    pub require_registration: bool,
    /// Opens records sealed to this node (central). A station has none: it
    /// relays sealed records as they are, reading only their public facts.
    pub opener: Option<std::sync::Arc<doorstep_crypto::Opener>>,
}

impl Policy {
    /// Accepts unregistered devices; checks registered ones.
    pub fn open() -> Policy {
        Policy::default()
    }
}

/// The device IDs a batch's records claim, and the sender: the nodes whose
/// grants the policy needs.
pub fn nodes_of(batch: &Batch) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = batch
        .records
        .iter()
        .filter_map(|r| claimed_ids(r).map(|i| i.1))
        .collect();
    ids.push(batch.sender.node_id);
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Checks every record of `batch` against `units` at time `now`, accepting
/// unregistered devices ([`Policy::open`]).
pub fn check_batch(
    batch: Batch,
    units: &Units,
    now: DateTime<Utc>,
    bytes_in: u64,
) -> IncomingBatch {
    check_batch_with(batch, units, now, bytes_in, &Policy::open())
}

/// Checks every record of `batch` against `units` at time `now` and `policy`.
pub fn check_batch_with(
    batch: Batch,
    units: &Units,
    now: DateTime<Utc>,
    bytes_in: u64,
    policy: &Policy,
) -> IncomingBatch {
    let ctx = ValidationContext::new(units, now);
    let sender = Sender {
        device: (batch.sender.role == NodeRole::Field).then_some(batch.sender.node_id),
        station: (batch.sender.role == NodeRole::Station).then_some(batch.sender.node_id),
        policy,
    };
    let started = std::time::Instant::now();
    let records = check_all(&batch.records, &ctx, &sender);
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

/// Who sent the batch, and the policy it is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// A laptop sending its own records.
    pub device: Option<Uuid>,
    /// A station relaying its laptops' records.
    pub station: Option<Uuid>,
    pub policy: &'a Policy,
}

fn check_all(
    records: &[BatchRecord],
    ctx: &ValidationContext<'_>,
    sender: &Sender<'_>,
) -> Vec<Incoming> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if records.len() < PARALLEL_FROM || threads < 2 {
        return records.iter().map(|r| check_one(r, ctx, sender)).collect();
    }
    let chunk = records.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| check_one(r, ctx, sender))
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
                Err(_) => out.extend(part.iter().map(|r| check_one(r, ctx, sender))),
            }
        }
        out
    })
}

/// Checks one record.
pub fn check_one(
    record: &BatchRecord,
    ctx: &ValidationContext<'_>,
    sender: &Sender<'_>,
) -> Incoming {
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
    let opened;
    let bytes: &[u8] = match (&record.record, &record.sealed) {
        (Some(raw), None) => raw.get().as_bytes(),
        (None, Some(sealed)) => match &sender.policy.opener {
            None => return relay_sealed(record, sealed, claimed, sender),
            Some(opener) => match open_sealed(opener, sealed) {
                Ok(b) => {
                    opened = b;
                    &opened
                }
                Err((code, reason, reason_vi)) => {
                    return Incoming::Invalid(refused(
                        record,
                        None,
                        code,
                        reason,
                        reason_vi,
                        Vec::new(),
                    ));
                }
            },
        },
        _ => {
            return Incoming::Invalid(refused(
                record,
                None,
                "record.malformed",
                "a batch record carries exactly one of `record` and `sealed`".into(),
                "mỗi hồ sơ trong lô có đúng một trong hai trường `record` và `sealed`".into(),
                Vec::new(),
            ));
        }
    };
    let result = recheck(bytes, &claimed, ctx);
    let ids = match &result {
        Ok(rec) => Some((rec.record_id, rec.device_id, rec.device_seq)),
        Err(_) => decode_ids(bytes),
    };
    if let Some(refusal) = ids.and_then(|(_, device, seq)| whose(record, device, seq, sender)) {
        return Incoming::Invalid(refusal);
    }
    // What a station could read of a sealed record must be what was sealed.
    if let (Ok(rec), Some(sealed)) = (&result, &record.sealed)
        && !facts_match(rec, sealed)
    {
        return Incoming::Invalid(refused(
            record,
            None,
            "record.sealed_mismatch",
            "the record's public facts (ID, device, sequence number, kind, time) differ from the sealed record: they were altered in transit".into(),
            "thông tin công khai của hồ sơ (mã, thiết bị, số thứ tự, loại, thời gian) khác với hồ sơ đã niêm phong: đã bị sửa trên đường truyền".into(),
            Vec::new(),
        ));
    }
    // Who may submit comes before what the record says: a record its
    // device did not sign (or from a device that may not submit) never
    // counts, valid or not — not even as a sequence number seen.
    if let Some((_, device, _)) = ids
        && let Err((code, reason, reason_vi)) = authenticate(record, &claimed, device, sender)
    {
        return Incoming::Invalid(refused(record, None, code, reason, reason_vi, Vec::new()));
    }
    if let Ok(rec) = &result
        && let Err((code, reason, reason_vi)) = in_scope(rec, ctx, sender)
    {
        return Incoming::Invalid(refused(record, None, code, reason, reason_vi, Vec::new()));
    }
    if let Ok(rec) = &result
        && let Some(refusal) = lacks_biometrics(record, rec, sender)
    {
        return Incoming::Invalid(refusal);
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
            sealed: false,
            signature: record.signature.as_deref().and_then(parse_signature),
            visit: Some(crate::store::VisitFacts::of(&rec)),
            person: crate::store::PersonFacts::of(&rec),
            attachments: rec
                .body
                .attachments
                .iter()
                .map(|a| (a.sha256_hex(), a.size))
                .collect(),
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

/// Whose record it is comes first: a laptop sends only its own records,
/// valid or not, and never speaks for another device's sequence.
fn whose(record: &BatchRecord, device: Uuid, seq: u64, sender: &Sender<'_>) -> Option<Refused> {
    if let Some(sender) = sender.device
        && sender != device
    {
        return Some(refused(
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
    if seq == 0 {
        return Some(refused(
            record,
            None,
            "record.bad_sequence",
            "device_seq starts at 1; 0 is never a device's sequence number".into(),
            "số thứ tự của thiết bị bắt đầu từ 1".into(),
            Vec::new(),
        ));
    }
    if seq > MAX_DEVICE_SEQ {
        return Some(refused(
            record,
            None,
            "record.bad_sequence",
            format!(
                "device_seq {seq} is above {MAX_DEVICE_SEQ} (2^53 - 1), the largest a record may carry"
            ),
            format!("số thứ tự của thiết bị {seq} vượt quá {MAX_DEVICE_SEQ} (2^53 - 1)"),
            Vec::new(),
        ));
    }
    None
}

/// A sealed record at a node that cannot open it (a station): checked on
/// what it can read — whose it is, who may submit it, its signature over
/// the content hash — and kept sealed for forwarding.
fn relay_sealed(
    record: &BatchRecord,
    sealed: &doorstep_wire::SealedRecord,
    claimed: ContentHash,
    sender: &Sender<'_>,
) -> Incoming {
    let (device, seq) = (sealed.device_id, sealed.device_seq);
    if let Some(refusal) = whose(record, device, seq, sender) {
        return Incoming::Invalid(refusal);
    }
    if let Err((code, reason, reason_vi)) = authenticate(record, &claimed, device, sender) {
        return Incoming::Invalid(refused(record, None, code, reason, reason_vi, Vec::new()));
    }
    let kind = doorstep_core::RecordKind::parse(&sealed.kind);
    let at = DateTime::parse_from_rfc3339(&sealed.enrolled_at).ok();
    let (Some(kind), Some(_), Some(_)) = (kind, at, sealed.parts()) else {
        return Incoming::Invalid(refused(
            record,
            None,
            "record.malformed_seal",
            "the sealed record's kind, time, keys, nonce or box are malformed".into(),
            "hồ sơ niêm phong có loại, thời gian, khóa, nonce hoặc hộp mã hóa không hợp lệ".into(),
            Vec::new(),
        ));
    };
    Incoming::Valid(CheckedRecord {
        content_hash: claimed,
        record_id: sealed.record_id,
        device_id: device,
        device_seq: seq,
        kind,
        enrolled_at: sealed.enrolled_at.clone(),
        canonical: serde_json::to_vec(sealed).unwrap_or_default(),
        sealed: true,
        signature: record.signature.as_deref().and_then(parse_signature),
        visit: None,
        person: None,
        attachments: Vec::new(),
    })
}

/// Refuses, on a node that keeps no blobs, every record naming
/// attachments: it could never be complete there.
pub fn refuse_attachments(batch: &mut IncomingBatch) {
    for incoming in &mut batch.records {
        if let Incoming::Valid(rec) = incoming
            && !rec.attachments.is_empty()
        {
            *incoming = Incoming::Invalid(crate::store::Refused {
                content_hash: rec.content_hash.to_hex(),
                record_id: Some(rec.record_id),
                device_id: Some(rec.device_id),
                device_seq: Some(rec.device_seq),
                seq_seen: false,
                code: "attachment.unsupported".into(),
                reason: "this server does not take attachments yet: the record is refused so it is never confirmed without its photo and fingerprints; send it to a server that does".into(),
                reason_vi: "máy chủ này chưa nhận ảnh và vân tay đính kèm: hồ sơ bị từ chối để không bị xác nhận khi thiếu ảnh, vân tay; hãy gửi đến máy chủ có hỗ trợ".into(),
                violations: Vec::new(),
                canonical: Some(std::mem::take(&mut rec.canonical)),
            });
        }
    }
}

/// Opens a record sealed to this central.
fn open_sealed(
    opener: &doorstep_crypto::Opener,
    sealed: &doorstep_wire::SealedRecord,
) -> Result<Vec<u8>, Denial> {
    let Some(parts) = sealed.parts() else {
        return Err((
            "record.malformed_seal",
            "the sealed record's keys, nonce or box are malformed".into(),
            "hồ sơ niêm phong có khóa, nonce hoặc hộp mã hóa không hợp lệ".into(),
        ));
    };
    let sealed_box = doorstep_crypto::SealedBox {
        to: parts.to,
        from: parts.from,
        nonce: parts.nonce,
        ciphertext: parts.ciphertext,
    };
    opener.open(&sealed_box).map_err(|e| match e {
        doorstep_crypto::CryptoError::WrongRecipient { to, ours } => (
            "record.sealed_to_other_key",
            format!(
                "the record is sealed to key {to}, not to this central's key {ours}: the laptop was registered with another central"
            ),
            format!(
                "hồ sơ được niêm phong bằng khóa {to}, không phải khóa {ours} của trung tâm này: máy đã đăng ký với trung tâm khác"
            ),
        ),
        _ => (
            "record.sealed_tampered",
            "the sealed record does not open: it was altered after the laptop sealed it (in transit or at a station)".into(),
            "hồ sơ niêm phong không mở được: đã bị sửa sau khi máy niêm phong (trên đường truyền hoặc tại trạm)".into(),
        ),
    })
}

/// The public facts of a sealed record equal the opened record's.
fn facts_match(rec: &doorstep_core::Record, sealed: &doorstep_wire::SealedRecord) -> bool {
    rec.record_id == sealed.record_id
        && rec.device_id == sealed.device_id
        && rec.device_seq == sealed.device_seq
        && rec.body.kind.as_str() == sealed.kind
        && doorstep_core::canonical::format_utc_millis(&rec.enrolled_at) == sealed.enrolled_at
}

fn parse_signature(text: &str) -> Option<[u8; 64]> {
    let mut out = [0u8; 64];
    if text.len() != 128 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Why a valid record may still not be accepted from this sender: code,
/// reason (en), reason (vi).
type Denial = (&'static str, String, String);

/// Who may submit a record: the relaying station and the enrolling
/// device are registered and not revoked, the device signed the record,
/// and a station relays only its own laptops' records.
fn authenticate(
    record: &BatchRecord,
    hash: &ContentHash,
    device: Uuid,
    sender: &Sender<'_>,
) -> Result<(), Denial> {
    let grants = &sender.policy.grants;
    if let Some(station) = sender.station {
        match grants.get(&station) {
            Some(g) if g.revoked => {
                return Err((
                    "station.revoked",
                    format!("station {station} was revoked: nothing it relays is accepted"),
                    format!("trạm {station} đã bị thu hồi: không nhận hồ sơ do trạm chuyển"),
                ));
            }
            None if sender.policy.require_registration => {
                return Err((
                    "station.unregistered",
                    format!("station {station} is not registered with central"),
                    format!("trạm {station} chưa đăng ký với trung tâm"),
                ));
            }
            _ => {}
        }
    }
    let Some(grant) = grants.get(&device) else {
        if sender.policy.require_registration {
            return Err((
                "device.unregistered",
                format!(
                    "device {device} is not registered with central: provision it (doorstep central provision) and register it (doorstep field register)"
                ),
                format!(
                    "thiết bị {device} chưa đăng ký với trung tâm: cấp mã (doorstep central provision) và đăng ký (doorstep field register)"
                ),
            ));
        }
        return Ok(());
    };
    if grant.revoked {
        return Err((
            "device.revoked",
            format!("device {device} was revoked: its records are no longer accepted"),
            format!("thiết bị {device} đã bị thu hồi: không nhận hồ sơ của thiết bị này nữa"),
        ));
    }
    let Some(signature) = record.signature.as_deref() else {
        return Err((
            "record.unsigned",
            format!(
                "device {device} is registered, so its records must be signed; this one is not"
            ),
            format!("thiết bị {device} đã đăng ký nên hồ sơ phải có chữ ký; hồ sơ này không có"),
        ));
    };
    let verified = parse_signature(signature).is_some_and(|sig| {
        ed25519_dalek::VerifyingKey::from_bytes(&grant.public_key).is_ok_and(|key| {
            key.verify_strict(
                &doorstep_core::canonical::record_signing_bytes(hash),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .is_ok()
        })
    });
    if !verified {
        return Err((
            "record.bad_signature",
            format!(
                "the signature does not verify with device {device}'s registered key: the record was altered after it was signed, or signed by another key"
            ),
            format!(
                "chữ ký không khớp khóa đã đăng ký của thiết bị {device}: hồ sơ bị sửa sau khi ký, hoặc do khóa khác ký"
            ),
        ));
    }
    // Central requires what a registered laptop sends to be sealed, so no
    // station ever holds its citizen data in the clear.
    if record.sealed.is_none() && sender.policy.opener.is_some() {
        return Err((
            "record.unsealed",
            format!(
                "device {device} is registered, so its records must be sealed to central's key; this one came in plaintext"
            ),
            format!(
                "thiết bị {device} đã đăng ký nên hồ sơ phải được niêm phong bằng khóa của trung tâm; hồ sơ này gửi dạng rõ"
            ),
        ));
    }
    if let Some(station) = sender.station
        && grant.station_id != Some(station)
    {
        return Err((
            "record.not_under_station",
            format!(
                "device {device} is not registered under station {station}: a station relays only its own laptops' records"
            ),
            format!(
                "thiết bị {device} không thuộc trạm {station}: trạm chỉ được chuyển hồ sơ của máy trạm thuộc trạm"
            ),
        ));
    }
    Ok(())
}

/// What a registered device may submit: visits within its unit.
fn in_scope(
    rec: &doorstep_core::Record,
    ctx: &ValidationContext<'_>,
    sender: &Sender<'_>,
) -> Result<(), Denial> {
    let device = rec.device_id;
    let Some(grant) = sender.policy.grants.get(&device) else {
        return Ok(());
    };
    let unit = &rec.body.visit.unit_code;
    if !ctx.units.is_within(unit, &grant.unit_code) {
        return Err((
            "record.out_of_scope",
            format!(
                "visit unit {unit} is outside unit {} that device {device} is provisioned for",
                grant.unit_code
            ),
            format!(
                "đơn vị {unit} nằm ngoài đơn vị {} mà thiết bị {device} được cấp quyền",
                grant.unit_code
            ),
        ));
    }
    Ok(())
}

/// A card application without the biometrics its device's policy
/// requires (`proto/attachments-v1.md` 3.1). The laptop checks first; this
/// is the check that counts, since a laptop's copy of the policy can be old
/// or altered. Refused like any invalid record: its sequence is seen and
/// the officer enrolls a correction.
fn lacks_biometrics(
    record: &BatchRecord,
    rec: &doorstep_core::Record,
    sender: &Sender<'_>,
) -> Option<Refused> {
    if rec.body.kind != doorstep_core::RecordKind::IdCardApplication {
        return None;
    }
    let grant = sender.policy.grants.get(&rec.device_id)?;
    let kinds: Vec<_> = rec.body.attachments.iter().map(|a| a.kind).collect();
    let missing = doorstep_core::validate::missing_biometrics(
        &kinds,
        &rec.body.biometric_exemptions,
        grant.biometrics,
    );
    if missing.is_empty() {
        return None;
    }
    let join = |f: &dyn Fn(&doorstep_core::Violation) -> String| {
        missing.iter().map(f).collect::<Vec<_>>().join("; ")
    };
    let reason = join(&|v| format!("{}: {}", v.path, v.message));
    let reason_vi = join(&|v| format!("{}: {}", v.path, v.message_vi));
    let violations = missing
        .iter()
        .map(|v| WireViolation {
            path: v.path.clone(),
            code: v.code.to_owned(),
            message: v.message.clone(),
            message_vi: v.message_vi.clone(),
        })
        .collect();
    Some(refused(
        record,
        Some(true),
        "record.invalid",
        reason,
        reason_vi,
        violations,
    ))
}

/// The largest `device_seq` a record may carry (canonical-v1.md: integers
/// stay within 2^53 - 1, which every JSON reader holds exactly).
pub const MAX_DEVICE_SEQ: u64 = (1 << 53) - 1;

/// A refusal, with the IDs read from the bytes when they decode (a
/// `device_seq` beyond [`MAX_DEVICE_SEQ`] is not repeated in the answer).
fn refused(
    record: &BatchRecord,
    seen: Option<bool>,
    code: &str,
    reason: String,
    reason_vi: String,
    violations: Vec<WireViolation>,
) -> Refused {
    let (bytes, ids) = match (&record.record, &record.sealed) {
        (Some(raw), _) => (
            raw.get().as_bytes().to_vec(),
            decode_ids(raw.get().as_bytes()),
        ),
        (None, Some(s)) => (
            serde_json::to_vec(s).unwrap_or_default(),
            Some((s.record_id, s.device_id, s.device_seq)),
        ),
        (None, None) => (Vec::new(), None),
    };
    let device_seq = ids.map(|i| i.2).filter(|&seq| seq <= MAX_DEVICE_SEQ);
    Refused {
        content_hash: record.content_hash.clone(),
        record_id: ids.map(|i| i.0),
        device_id: ids.map(|i| i.1),
        device_seq,
        seq_seen: seen.unwrap_or(false) && device_seq.is_some(),
        code: code.to_owned(),
        reason,
        reason_vi,
        violations,
        canonical: Some(bytes),
    }
}

/// Record ID, device and sequence number a batch record claims: its
/// public facts when sealed, else read from its bytes.
fn claimed_ids(record: &BatchRecord) -> Option<(Uuid, Uuid, u64)> {
    match (&record.record, &record.sealed) {
        (Some(raw), _) => decode_ids(raw.get().as_bytes()),
        (None, Some(s)) => Some((s.record_id, s.device_id, s.device_seq)),
        (None, None) => None,
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
