//! The laptop's store: one SQLite file per data directory holding the
//! device identity, the unit list and every enrollment record.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{
    self, ContentHash, ENVELOPE_PREFIX, Envelope, encode_body, encode_body_into, format_utc_millis,
};
use doorstep_core::record::{BiometricPolicy, Record, RecordBody, RecordKind};
use doorstep_core::units::Units;
use doorstep_core::violation::Violation;
use ed25519_dalek::SigningKey;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use crate::error::StoreError;
use crate::migrate;

mod blobs;
mod identity;
pub(crate) mod journal;
mod protect;
mod sync;
mod witness;
mod worklist;
pub use blobs::{BlobStatus, BlobToSend, PreparedBlob};
pub use identity::{DeviceIdentity, KEY_FILE, Registration};
pub use journal::{JournalCheck, JournalEntry, JournalHead, JournalProblem, record_digest};
pub use protect::{Protection, PurgeReport, SealFacts, UnlockReport};
pub use sync::{Ack, AckCounts, ReceiptToStore, SyncEvent, SyncEventKind, SyncLogEntry};
pub use witness::RecordKey;
pub use worklist::{LastDownload, LocalVisit, PageApplied, PendingDownload, WorklistState};

/// File name of the store inside a data directory.
pub const DB_FILE: &str = "field.sqlite3";

/// How long a writer waits for another process holding the store.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who this laptop is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub device_id: Uuid,
    pub device_name: String,
    pub unit_code: String,
    pub created_at: String,
    pub last_seq: u64,
    /// What an `id_card_application` must carry here (face, fingers).
    pub biometrics: BiometricPolicy,
}

/// What `field init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub device_name: String,
    pub unit_code: String,
    /// A `code,name,level,parent_code` CSV and where it came from; `None`
    /// keeps only the built-in 63 provinces.
    pub units_csv: Option<(String, Vec<u8>)>,
    /// The officer's passphrase: it protects the key citizen data is
    /// encrypted with (at least 8 characters).
    pub passphrase: String,
    /// Argon2id settings for the passphrase.
    pub kdf: doorstep_crypto::KdfParams,
}

/// Custody state of a record on the laptop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Stored here, not yet handed to anyone.
    Pending,
    /// A commune station has custody; central has not confirmed yet.
    Held,
    /// Central holds the record but not yet every attachment it names:
    /// out of the outbox, its blobs waiting to be uploaded.
    Incomplete,
    /// Central confirmed it (and holds every attachment it names).
    Confirmed,
    /// Central refused it, with a reason the officer can act on.
    Rejected,
}

impl RecordStatus {
    pub const ALL: [RecordStatus; 5] = [
        RecordStatus::Pending,
        RecordStatus::Held,
        RecordStatus::Incomplete,
        RecordStatus::Confirmed,
        RecordStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Pending => "pending",
            RecordStatus::Held => "held",
            RecordStatus::Incomplete => "incomplete",
            RecordStatus::Confirmed => "confirmed",
            RecordStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn label_vi(self) -> &'static str {
        match self {
            RecordStatus::Pending => "chờ đồng bộ",
            RecordStatus::Held => "đã gửi về trạm",
            RecordStatus::Incomplete => "thiếu ảnh/vân tay",
            RecordStatus::Confirmed => "đã xác nhận",
            RecordStatus::Rejected => "bị từ chối",
        }
    }
}

/// A validated body reduced to what the store needs: its canonical bytes,
/// their hash, and the two fields the store checks. Made once (on any
/// thread) before it reaches the store's writer; the typed body is dropped
/// where it was made, so the writer handles one buffer per record.
#[derive(Debug, Clone)]
pub struct PreparedBody {
    kind: RecordKind,
    supersedes: Option<Uuid>,
    /// SHA-256 of each attachment the body names, in body order.
    attachments: Vec<[u8; 32]>,
    /// The attachments' bytes, prepared ([`PreparedBody::with_blobs`]).
    blobs: Vec<PreparedBlob>,
    body_hash: ContentHash,
    /// The canonical body, or (when finished) the whole canonical record
    /// with the body at `body`.
    buf: Vec<u8>,
    body: std::ops::Range<usize>,
    finished: Option<Finished>,
}

/// The whole canonical record made ahead of the writer, for the sequence
/// number the record is expected to get. Used only if it gets exactly that
/// number on this device; otherwise the writer makes the record itself.
#[derive(Debug, Clone)]
struct Finished {
    device_id: [u8; 36],
    device_seq: u64,
    record_id: Uuid,
    enrolled_at: std::sync::Arc<str>,
    content_hash: ContentHash,
    signature: Option<[u8; 64]>,
    /// The record encrypted for the store, and sealed to central.
    protected: Option<Protected>,
}

/// A record as the writer stores it: ID, canonical bytes, content hash,
/// enrollment time, signature and encrypted forms when made ahead.
type Made<'a> = (
    Uuid,
    &'a [u8],
    ContentHash,
    &'a str,
    Option<[u8; 64]>,
    Option<&'a Protected>,
);

/// A record's encrypted forms, made on a validating thread.
#[derive(Debug, Clone)]
struct Protected {
    stored: Vec<u8>,
    sealed: Option<Vec<u8>>,
}

impl PreparedBody {
    pub fn new(body: RecordBody) -> PreparedBody {
        let buf = encode_body(&body);
        PreparedBody {
            kind: body.kind,
            supersedes: body.supersedes,
            attachments: body.attachments.iter().map(|a| a.sha256).collect(),
            blobs: Vec::new(),
            body_hash: ContentHash::of(&buf),
            body: 0..buf.len(),
            buf,
            finished: None,
        }
    }

    /// Also makes the whole canonical record (record ID, envelope, content
    /// hash) for the sequence number the record will most likely get, so a
    /// bulk enroll does this work on the validating threads rather than in
    /// the store's single writer, in one buffer. Correct whatever happens:
    /// the store uses it only when the record really gets `expected_seq`
    /// on this device.
    pub fn with_envelope(
        body: RecordBody,
        envelope: &Envelope,
        expected_seq: u64,
        signer: Option<&SigningKey>,
        protection: Option<&Protection>,
    ) -> PreparedBody {
        Self::with_envelope_in(
            Vec::with_capacity(1024),
            body,
            envelope,
            expected_seq,
            signer,
            protection,
        )
    }

    /// [`PreparedBody::with_envelope`], written into `buf` (cleared first):
    /// a bulk enroll hands the buffers of stored records back to the
    /// validating threads instead of allocating ~1 KiB per record on one
    /// thread and freeing it on another.
    pub fn with_envelope_in(
        mut buf: Vec<u8>,
        body: RecordBody,
        envelope: &Envelope,
        expected_seq: u64,
        signer: Option<&SigningKey>,
        protection: Option<&Protection>,
    ) -> PreparedBody {
        buf.clear();
        buf.extend_from_slice(ENVELOPE_PREFIX);
        let start = buf.len();
        encode_body_into(&mut buf, &body);
        let range = start..buf.len();
        let body_hash = ContentHash::of(&buf[range.clone()]);
        let record_id = Uuid::now_v7();
        envelope.finish(&mut buf, &record_id, expected_seq);
        let content_hash = ContentHash::of(&buf);
        // Encrypted and sealed here too; should it fail (no randomness),
        // the writer tries again and reports why.
        let protected = protection.and_then(|p| {
            let device_id = Uuid::try_parse_ascii(envelope.device_id()).ok()?;
            let facts = SealFacts {
                record_id,
                device_id,
                device_seq: expected_seq,
                kind: body.kind.as_str(),
                enrolled_at: envelope.enrolled_at(),
            };
            Some(Protected {
                stored: p.encrypt(&content_hash, &buf).ok()?,
                sealed: p.seal(&facts, &buf).ok()?,
            })
        });
        PreparedBody {
            kind: body.kind,
            supersedes: body.supersedes,
            attachments: body.attachments.iter().map(|a| a.sha256).collect(),
            blobs: Vec::new(),
            body_hash,
            finished: Some(Finished {
                device_id: *envelope.device_id(),
                device_seq: expected_seq,
                record_id,
                enrolled_at: std::sync::Arc::clone(envelope.enrolled_at()),
                content_hash,
                // Signed here, on the validating threads: the writer only stores it.
                signature: signer.map(|k| sign_record(k, &content_hash)),
                protected,
            }),
            body: range,
            buf,
        }
    }

    /// Gives the bytes of the record's attachments (any order). Every
    /// attachment the body names must be given or already stored here.
    pub fn with_blobs(mut self, blobs: Vec<PreparedBlob>) -> PreparedBody {
        self.blobs = blobs;
        self
    }

    /// SHA-256 of the canonical body: the same capture has the same hash.
    pub fn body_hash(&self) -> ContentHash {
        self.body_hash
    }

    /// The canonical body bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }

    /// The buffer the bytes were written in, for reuse.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// What happened to one record given to [`FieldStore::enroll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// Newly stored (durably, once `enroll` returns).
    Stored {
        record_id: Uuid,
        device_seq: u64,
        content_hash: ContentHash,
    },
    /// The very same capture was stored before (e.g. an interrupted bulk
    /// enroll run again): nothing new was written.
    AlreadyStored { record_id: Uuid, device_seq: u64 },
    /// Refused by a rule that needs the store (e.g. an unknown `supersedes`).
    Refused(Violation),
}

/// A record as listed to the officer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordSummary {
    pub device_seq: u64,
    pub record_id: Uuid,
    pub kind: String,
    pub status: RecordStatus,
    pub status_at: String,
    pub enrolled_at: String,
    pub content_hash: String,
    /// `None` once the record's citizen data was purged (retention).
    pub full_name: Option<String>,
    pub personal_id: Option<String>,
    pub visit_unit: Option<String>,
    /// `home`, `hospital`, …; `None` once purged.
    pub visit_place: Option<String>,
    /// The visit's time as the officer gave it (RFC 3339); `None` once purged.
    pub visit_at: Option<String>,
    /// When the citizen data was purged after central confirmed it.
    pub purged_at: Option<String>,
    pub supersedes: Option<Uuid>,
    pub superseded_by: Option<Uuid>,
    pub held_by: Option<String>,
    pub reject_code: Option<String>,
    pub reject_reason: Option<String>,
    /// The refusal reason in Vietnamese, for officers.
    pub reject_reason_vi: Option<String>,
    pub attempts: u64,
    pub last_error: Option<String>,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<RecordStatus>,
    pub kind: Option<String>,
    /// Newest `limit` records when set (still shown in sequence order).
    pub limit: Option<u64>,
    /// Only this record.
    pub record_id: Option<Uuid>,
}

/// Counts for `field status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    pub device: DeviceInfo,
    pub total: u64,
    pub by_status: Vec<(String, u64)>,
    pub by_kind: Vec<(String, u64)>,
    pub outbox: u64,
    pub last_enrolled_at: Option<String>,
    pub schema_version: i64,
    pub units_source: String,
    pub units_count: usize,
}

/// One outbox entry: what the sync client sends, as stored bytes.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub device_seq: u64,
    pub record_id: Uuid,
    pub content_hash: ContentHash,
    /// The canonical record in plaintext: only for a record not sealed to
    /// central (the laptop does not know central's key yet); empty otherwise.
    pub canonical: Vec<u8>,
    /// The record sealed to central (`SealedRecord` JSON), when it is.
    pub sealed: Option<Vec<u8>>,
    pub status: RecordStatus,
    /// This laptop's signature over the content hash (`None` before the
    /// laptop was provisioned).
    pub signature: Option<[u8; 64]>,
}

/// The laptop store.
#[derive(Debug)]
pub struct FieldStore {
    conn: Connection,
    path: PathBuf,
    device: DeviceInfo,
    units: std::sync::Arc<Units>,
    units_source: String,
    /// Body keys of the stored records (with the sequence number of the
    /// first record having each key), as of sequence number `.0`: a bulk
    /// enroll skips the duplicate lookup for bodies never seen (nearly all
    /// of them) and finds a possible duplicate by its primary key, so the
    /// table needs no index on `body_key`. Refreshed when another process
    /// has written since.
    known_bodies: Option<(u64, BodyKeys)>,
    /// The laptop's signing key, read from `device.key` on first use
    /// (provisioned laptops only).
    signer: std::sync::OnceLock<Option<std::sync::Arc<SigningKey>>>,
    /// The store's keys while unlocked.
    protection: Option<std::sync::Arc<Protection>>,
}

impl FieldStore {
    /// Path of the store file inside `dir`.
    pub fn db_path(dir: &Path) -> PathBuf {
        dir.join(DB_FILE)
    }

    /// Creates a store in `dir` (created if needed, private to the user).
    /// Refuses to touch an existing store.
    pub fn init(
        dir: &Path,
        opts: &InitOptions,
        now: DateTime<Utc>,
    ) -> Result<FieldStore, StoreError> {
        let (units, source, csv) = match &opts.units_csv {
            Some((source, bytes)) => (Units::from_csv(bytes)?, source.clone(), bytes.clone()),
            None => (
                Units::builtin_provinces(),
                "built-in: 63 provinces".to_owned(),
                Vec::new(),
            ),
        };
        if !units.contains(&opts.unit_code) {
            return Err(StoreError::UnknownDeviceUnit {
                code: opts.unit_code.clone(),
            });
        }
        // Checked before anything is created: a refused passphrase leaves
        // no half-made store behind.
        let min = doorstep_crypto::vault::MIN_PASSPHRASE_CHARS;
        if opts.passphrase.chars().count() < min {
            return Err(StoreError::Passphrase(
                doorstep_crypto::CryptoError::WeakPassphrase { min },
            ));
        }
        create_private_dir(dir)?;
        let path = Self::db_path(dir);
        let mut conn = open_connection(&path, true)?;
        migrate::migrate(&mut conn, &path)?;
        let err = |e| StoreError::sqlite(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let exists: bool = tx
            .query_row("SELECT EXISTS(SELECT 1 FROM device)", [], |r| r.get(0))
            .map_err(err)?;
        if exists {
            return Err(StoreError::AlreadyInitialized { path });
        }
        let created = format_utc_millis(&now);
        tx.execute(
            "INSERT INTO device (id, device_id, device_name, unit_code, created_at) VALUES (1, ?1, ?2, ?3, ?4)",
            params![Uuid::now_v7().to_string(), opts.device_name, opts.unit_code, created],
        )
        .map_err(err)?;
        let sha = ContentHash::of(&csv).to_hex();
        tx.execute(
            "INSERT INTO unit_list (id, source, sha256, csv, loaded_at) VALUES (1, ?1, ?2, ?3, ?4)",
            params![source, sha, csv, created],
        )
        .map_err(err)?;
        let key = Self::set_first_passphrase(&tx, &path, &opts.passphrase, opts.kdf, &now)?;
        tx.commit().map_err(err)?;
        drop(conn);
        let mut store = Self::open(dir)?;
        store.open_with_key(&key)?;
        Ok(store)
    }

    /// Opens an existing store, upgrading its schema if it is older.
    pub fn open(dir: &Path) -> Result<FieldStore, StoreError> {
        let path = Self::db_path(dir);
        if !path.exists() {
            return Err(StoreError::NotInitialized {
                path: dir.to_path_buf(),
            });
        }
        let mut conn = open_connection(&path, false)?;
        migrate::migrate(&mut conn, &path)?;
        let err = |e| StoreError::sqlite(&path, e);
        let device = conn
            .query_row(
                "SELECT device_id, device_name, unit_code, created_at, last_seq, biometrics FROM device WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        let Some((id, device_name, unit_code, created_at, last_seq, biometrics)) = device else {
            return Err(StoreError::NotInitialized {
                path: dir.to_path_buf(),
            });
        };
        let device_id = Uuid::parse_str(&id)
            .map_err(|_| StoreError::Inconsistent(format!("device id `{id}` is not a UUID")))?;
        let (units_source, csv): (String, Vec<u8>) = conn
            .query_row("SELECT source, csv FROM unit_list WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let units = if csv.is_empty() {
            Units::builtin_provinces()
        } else {
            Units::from_csv(&csv)?
        };
        Ok(FieldStore {
            conn,
            path,
            device: DeviceInfo {
                device_id,
                device_name,
                unit_code,
                created_at,
                last_seq: u64::try_from(last_seq).unwrap_or(0),
                biometrics: BiometricPolicy::parse(&biometrics).map_err(|e| {
                    StoreError::Inconsistent(format!("the store's biometrics setting: {e}"))
                })?,
            },
            units: std::sync::Arc::new(units),
            units_source,
            known_bodies: None,
            signer: std::sync::OnceLock::new(),
            protection: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    pub fn units(&self) -> &Units {
        &self.units
    }

    /// Which biometrics an `id_card_application` must carry on this laptop.
    pub fn biometrics(&self) -> BiometricPolicy {
        self.device.biometrics
    }

    /// Sets them (`field init --biometrics`, or the campaign's setting
    /// received at registration).
    pub fn set_biometrics(&mut self, policy: BiometricPolicy) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE device SET biometrics = ?1 WHERE id = 1",
                [policy.spec()],
            )
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        self.device.biometrics = policy;
        Ok(())
    }

    /// The unit list, shared (for validating on other threads without a copy).
    pub fn units_shared(&self) -> std::sync::Arc<Units> {
        std::sync::Arc::clone(&self.units)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::sqlite(&self.path, e)
    }

    /// Stores validated records in one transaction and returns only after
    /// it is committed and synced to disk. Each new record gets a UUIDv7
    /// and the next `device_seq` (gap-free: the counter moves in the same
    /// transaction). A body stored before is reported, not stored twice.
    pub fn enroll(
        &mut self,
        bodies: &[PreparedBody],
        now: DateTime<Utc>,
    ) -> Result<Vec<EnrollOutcome>, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let device_id = self.device.device_id;
        let signer = self.signer()?;
        let protection = self.protection("enrolling")?;
        let enrolled_at = format_utc_millis(&now);
        let envelope = Envelope::new(&device_id, &now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut outcomes = Vec::with_capacity(bodies.len());
        let mut seq: u64 = tx
            .query_row("SELECT last_seq FROM device WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(err)
            .map(|s| u64::try_from(s).unwrap_or(0))?;
        // Bring the body-key cache up to date inside the transaction (the
        // write lock is held: nobody can add records until we commit).
        let mut known = match self.known_bodies.take() {
            Some((upto, set)) if upto == seq => set,
            Some((upto, mut set)) if upto < seq => {
                load_body_keys(&tx, upto, &mut set).map_err(err)?;
                set
            }
            _ => {
                let mut set = BodyKeys::default();
                load_body_keys(&tx, 0, &mut set).map_err(err)?;
                set
            }
        };
        // `known` was taken out of `self`: if anything below fails, the
        // cache is simply rebuilt next time.
        let mut journal = journal::EnrollJournal::default();
        {
            let mut by_seq = tx
                .prepare_cached("SELECT record_id, body_hash FROM records WHERE device_seq = ?1")
                .map_err(err)?;
            // Two different bodies whose hashes share their first 8 bytes:
            // never seen in practice, still answered (by a table scan).
            let mut by_body = tx
                .prepare_cached("SELECT record_id, device_seq FROM records WHERE body_key = ?1 AND body_hash = ?2")
                .map_err(err)?;
            let mut supersede_state = tx
                .prepare_cached(
                    "SELECT (SELECT record_id FROM records WHERE supersedes = ?1) FROM records WHERE record_id = ?1",
                )
                .map_err(err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (device_seq, record_id, kind, content_hash, body_hash, body_key, canonical, enrolled_at, supersedes, status, status_at, signature, protected, sealed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?8, ?10, 1, ?11)",
                )
                .map_err(err)?;
            for prepared in bodies {
                let body = prepared;
                let body_bytes = prepared.bytes();
                let body_hash = protection.body_index(&prepared.body_hash);
                let key = body_key(&body_hash);
                let seen = match known.get(&key) {
                    None => None,
                    Some(&first) => {
                        let same = by_seq
                            .query_row([i64::try_from(first).unwrap_or(i64::MAX)], |r| {
                                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                            })
                            .optional()
                            .map_err(err)?
                            .filter(|(_, hash)| hash[..] == body_hash.0[..]);
                        match same {
                            Some((id, _)) => Some((id, i64::try_from(first).unwrap_or(i64::MAX))),
                            None => by_body
                                .query_row(params![key, &body_hash.0[..]], |r| {
                                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                                })
                                .optional()
                                .map_err(err)?,
                        }
                    }
                };
                if let Some((id, s)) = seen {
                    outcomes.push(EnrollOutcome::AlreadyStored {
                        record_id: Uuid::parse_str(&id).unwrap_or_default(),
                        device_seq: u64::try_from(s).unwrap_or(0),
                    });
                    continue;
                }
                if let Some(target) = body.supersedes {
                    let state: Option<Option<String>> = supersede_state
                        .query_row([target.to_string()], |r| r.get(0))
                        .optional()
                        .map_err(err)?;
                    match state {
                        None => {
                            outcomes.push(EnrollOutcome::Refused(Violation::new(
                                "$.supersedes",
                                "supersedes.unknown",
                                format!("record {target} is not in this store"),
                                format!("không tìm thấy hồ sơ {target} trong máy này"),
                            )));
                            continue;
                        }
                        Some(Some(newer)) => {
                            outcomes.push(EnrollOutcome::Refused(Violation::new(
                                "$.supersedes",
                                "supersedes.already_superseded",
                                format!("record {target} was already corrected by {newer}: correct {newer} instead"),
                                format!("hồ sơ {target} đã được sửa bởi {newer}: hãy sửa hồ sơ {newer}"),
                            )));
                            continue;
                        }
                        Some(None) => {}
                    }
                }
                let blob_names: Vec<[u8; 32]> = prepared
                    .attachments
                    .iter()
                    .map(|sha| protection.blob_name(sha))
                    .collect();
                if let Some(i) = blobs::first_missing(&tx, &path, &blob_names, &prepared.blobs)? {
                    let sha = hex::encode(prepared.attachments[i]);
                    outcomes.push(EnrollOutcome::Refused(Violation::new(
                        "$.attachments",
                        "attachment.missing_file",
                        format!("the file of attachment {sha} was not given and is not stored on this laptop"),
                        format!("chưa có tệp của tệp đính kèm {sha} trên máy này"),
                    )));
                    continue;
                }
                seq += 1;
                let fresh;
                let (record_id, canonical, content_hash, at, presigned, ready): Made<'_> =
                    match &prepared.finished {
                        Some(s) if s.device_seq == seq && s.device_id == *envelope.device_id() => (
                            s.record_id,
                            &prepared.buf,
                            s.content_hash,
                            &s.enrolled_at,
                            s.signature,
                            s.protected.as_ref(),
                        ),
                        _ => {
                            let record_id = Uuid::now_v7();
                            fresh = envelope.encode(&record_id, seq, body_bytes);
                            (
                                record_id,
                                &fresh,
                                ContentHash::of(&fresh),
                                &enrolled_at,
                                None,
                                None,
                            )
                        }
                    };
                let made;
                let protected = match ready {
                    Some(p) => p,
                    None => {
                        let facts = SealFacts {
                            record_id,
                            device_id,
                            device_seq: seq,
                            kind: body.kind.as_str(),
                            enrolled_at: at,
                        };
                        made = Protected {
                            stored: protection.encrypt(&content_hash, canonical)?,
                            sealed: protection.seal(&facts, canonical)?,
                        };
                        &made
                    }
                };
                let signature = match (&signer, presigned) {
                    (Some(_), Some(sig)) => Some(sig),
                    (Some(k), None) => Some(sign_record(k, &content_hash)),
                    (None, _) => None,
                };
                let mut id_buf = [0u8; 36];
                insert
                    .execute(params![
                        i64::try_from(seq).unwrap_or(i64::MAX),
                        record_id.hyphenated().encode_lower(&mut id_buf) as &str,
                        body.kind.as_str(),
                        &content_hash.0[..],
                        &body_hash.0[..],
                        body_key(&body_hash),
                        &protected.stored,
                        at,
                        body.supersedes.map(|s| s.to_string()),
                        signature.as_ref().map(|s| &s[..]),
                        protected.sealed.as_deref(),
                    ])
                    .map_err(err)?;
                if !blob_names.is_empty() {
                    blobs::store_record_blobs(
                        &tx,
                        &path,
                        i64::try_from(seq).unwrap_or(i64::MAX),
                        &blob_names,
                        &prepared.attachments,
                        &prepared.blobs,
                        at,
                    )?;
                }
                known.entry(key).or_insert(seq);
                journal.stored(seq, &record_id, &content_hash, body.supersedes);
                outcomes.push(EnrollOutcome::Stored {
                    record_id,
                    device_seq: seq,
                    content_hash,
                });
            }
        }
        journal.append(&tx, &path, &enrolled_at)?;
        tx.execute(
            "UPDATE device SET last_seq = ?1 WHERE id = 1",
            [i64::try_from(seq).unwrap_or(i64::MAX)],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.device.last_seq = seq;
        self.known_bodies = Some((seq, known));
        Ok(outcomes)
    }

    /// Records in sequence order, optionally filtered.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<RecordSummary>, StoreError> {
        Ok(self
            .list_records(filter)?
            .into_iter()
            .map(|(summary, _)| summary)
            .collect())
    }

    /// One record: its summary and, unless purged, the record itself
    /// (decrypted: the store must be unlocked).
    pub fn record(
        &self,
        record_id: Uuid,
    ) -> Result<Option<(RecordSummary, Option<Record>)>, StoreError> {
        let filter = ListFilter {
            record_id: Some(record_id),
            ..ListFilter::default()
        };
        Ok(self.list_records(&filter)?.pop())
    }

    /// Records in sequence order with their decoded records (`None` once
    /// purged).
    fn list_records(
        &self,
        filter: &ListFilter,
    ) -> Result<Vec<(RecordSummary, Option<Record>)>, StoreError> {
        let err = self.err();
        let mut sql = String::from(
            "SELECT r.device_seq, r.record_id, r.kind, r.status, r.status_at, r.enrolled_at, r.content_hash, r.canonical,
                    r.supersedes, (SELECT s.record_id FROM records s WHERE s.supersedes = r.record_id),
                    r.held_by, r.reject_code, r.reject_reason, r.attempts, r.last_error, r.reject_reason_vi,
                    r.protected, r.purged_at
             FROM records r WHERE 1 = 1",
        );
        let mut args: Vec<String> = Vec::new();
        if let Some(st) = filter.status {
            args.push(st.as_str().to_owned());
            sql.push_str(&format!(" AND r.status = ?{}", args.len()));
        }
        if let Some(kind) = &filter.kind {
            args.push(kind.clone());
            sql.push_str(&format!(" AND r.kind = ?{}", args.len()));
        }
        if let Some(id) = filter.record_id {
            args.push(id.to_string());
            sql.push_str(&format!(" AND r.record_id = ?{}", args.len()));
        }
        sql.push_str(" ORDER BY r.device_seq DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = self.conn.prepare(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    (
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, Option<String>>(11)?,
                        r.get::<_, Option<String>>(12)?,
                        r.get::<_, i64>(13)?,
                        r.get::<_, Option<String>>(14)?,
                        r.get::<_, Option<String>>(15)?,
                    ),
                    (r.get::<_, i64>(16)?, r.get::<_, Option<String>>(17)?),
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (
                seq,
                id,
                kind,
                status,
                status_at,
                enrolled_at,
                hash,
                canonical,
                sup,
                sup_by,
                rest,
                (protected, purged_at),
            ) = row.map_err(&err)?;
            let (held_by, reject_code, reject_reason, attempts, last_error, reject_reason_vi) =
                rest;
            let content_hash = stored_hash(seq, &hash)?;
            let stored = protect::Stored::of(protected, purged_at.is_some());
            let record = self
                .citizen_bytes(seq, &content_hash, stored, canonical, "listing records")?
                .map(|bytes| {
                    canonical::decode_record(&bytes)
                        .map_err(|source| StoreError::BadRecord { seq, source })
                })
                .transpose()?;
            let summary = RecordSummary {
                device_seq: u64::try_from(seq).unwrap_or(0),
                record_id: parse_uuid(&id)?,
                kind,
                status: RecordStatus::parse(&status).ok_or_else(|| {
                    StoreError::Inconsistent(format!("unknown status `{status}`"))
                })?,
                status_at,
                enrolled_at,
                content_hash: content_hash.to_hex(),
                full_name: record.as_ref().map(|r| r.body.citizen.full_name.clone()),
                personal_id: record.as_ref().map(|r| r.body.citizen.personal_id.clone()),
                visit_unit: record.as_ref().map(|r| r.body.visit.unit_code.clone()),
                visit_place: record
                    .as_ref()
                    .map(|r| r.body.visit.place.as_str().to_owned()),
                visit_at: record.as_ref().map(|r| {
                    r.body
                        .visit
                        .at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                }),
                purged_at,
                supersedes: sup.as_deref().map(parse_uuid).transpose()?,
                superseded_by: sup_by.as_deref().map(parse_uuid).transpose()?,
                held_by,
                reject_code,
                reject_reason,
                reject_reason_vi,
                attempts: u64::try_from(attempts).unwrap_or(0),
                last_error,
            };
            out.push((summary, record));
        }
        out.reverse();
        Ok(out)
    }

    /// Counts by state and kind, and the last record time.
    pub fn status(&self) -> Result<StatusReport, StoreError> {
        let err = self.err();
        let count_by = |col: &str| -> Result<Vec<(String, u64)>, StoreError> {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT {col}, COUNT(*) FROM records GROUP BY {col} ORDER BY {col}"
                ))
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(&err)?;
            rows.map(|r| {
                r.map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
                    .map_err(&err)
            })
            .collect()
        };
        let mut by_status = count_by("status")?;
        for st in RecordStatus::ALL {
            if !by_status.iter().any(|(k, _)| k == st.as_str()) {
                by_status.push((st.as_str().to_owned(), 0));
            }
        }
        by_status.sort_by_key(|(k, _)| RecordStatus::parse(k).map(|s| s as u8).unwrap_or(u8::MAX));
        let by_kind = count_by("kind")?;
        let (total, outbox, last): (i64, i64, Option<String>) = self
            .conn
            .query_row(
                "SELECT COUNT(*), (SELECT COUNT(*) FROM outbox), MAX(enrolled_at) FROM records",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(&err)?;
        let mut device = self.device.clone();
        device.last_seq = self.last_seq()?;
        Ok(StatusReport {
            device,
            total: u64::try_from(total).unwrap_or(0),
            by_status,
            by_kind,
            outbox: u64::try_from(outbox).unwrap_or(0),
            last_enrolled_at: last,
            schema_version: migrate::schema_version(&self.conn).map_err(&err)?,
            units_source: self.units_source.clone(),
            units_count: self.units.len(),
        })
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT last_seq FROM device WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|s| u64::try_from(s).unwrap_or(0))
            .map_err(self.err())
    }

    /// The outbox: records central has not acknowledged, in sequence order,
    /// starting after `after_seq`, at most `limit` of them.
    pub fn outbox(&self, after_seq: u64, limit: u64) -> Result<Vec<OutboxItem>, StoreError> {
        let err = self.err();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT device_seq, record_id, content_hash, CASE WHEN sealed IS NULL THEN canonical ELSE x'' END, status, signature, protected, sealed
                 FROM outbox WHERE device_seq > ?1 LIMIT ?2",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(
                params![
                    i64::try_from(after_seq).unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<Vec<u8>>>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, Option<Vec<u8>>>(7)?,
                    ))
                },
            )
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, hash, canonical, status, signature, protected, sealed) =
                row.map_err(&err)?;
            let content_hash = stored_hash(seq, &hash)?;
            let canonical = self.payload(seq, &content_hash, protected, canonical, &sealed)?;
            out.push(OutboxItem {
                device_seq: u64::try_from(seq).unwrap_or(0),
                record_id: parse_uuid(&id)?,
                content_hash,
                canonical,
                sealed,
                status: RecordStatus::parse(&status).ok_or_else(|| {
                    StoreError::Inconsistent(format!("unknown status `{status}`"))
                })?,
                signature: stored_signature(seq, signature)?,
            });
        }
        Ok(out)
    }

    /// What a record is sent as besides its sealed form: nothing when it
    /// is sealed, its plaintext (decrypted if need be) when it is not.
    pub(crate) fn payload(
        &self,
        seq: i64,
        hash: &ContentHash,
        protected: i64,
        canonical: Vec<u8>,
        sealed: &Option<Vec<u8>>,
    ) -> Result<Vec<u8>, StoreError> {
        if sealed.is_some() {
            return Ok(Vec::new());
        }
        Ok(self
            .citizen_bytes(
                seq,
                hash,
                protect::Stored::of(protected, false),
                canonical,
                "sending records not yet sealed to central",
            )?
            .unwrap_or_default())
    }

    /// Marks records as held by a station (custody receipt).
    pub fn mark_held(
        &mut self,
        ids: &[Uuid],
        station: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.set_status(ids, "held", Some(station), None, now)
    }

    /// Marks records as confirmed by central.
    pub fn mark_confirmed(
        &mut self,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.set_status(ids, "confirmed", None, None, now)
    }

    /// Marks one record as rejected by central, with the reason.
    pub fn mark_rejected(
        &mut self,
        id: Uuid,
        code: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.set_status(&[id], "rejected", None, Some((code, reason)), now)
    }

    fn set_status(
        &mut self,
        ids: &[Uuid],
        status: &str,
        held_by: Option<&str>,
        reject: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let at = format_utc_millis(&now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut changed = 0;
        {
            // A confirmed record never goes back to an earlier state.
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE records SET status = ?2, status_at = ?3, held_by = COALESCE(?4, held_by),
                            reject_code = ?5, reject_reason = ?6
                     WHERE record_id = ?1 AND status <> 'confirmed'",
                )
                .map_err(err)?;
            for id in ids {
                changed += stmt
                    .execute(params![
                        id.to_string(),
                        status,
                        at,
                        held_by,
                        reject.map(|r| r.0),
                        reject.map(|r| r.1)
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(changed)
    }

    /// Refuses a store with damaged pages before anything is written to it
    /// (`PRAGMA quick_check`: every page read, indexes not cross-checked;
    /// about 0.3 s per 100,000 records). Writing into a damaged file could
    /// spread the damage; the file itself is never changed here.
    pub fn verify(&self) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(self.err())?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        if problems == ["ok"] {
            return Ok(());
        }
        Err(StoreError::Damaged {
            path: self.path.clone(),
            problems: problems.into_iter().take(3).collect::<Vec<_>>().join("; "),
        })
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a healthy store.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        integrity_check(&self.conn).map_err(self.err())
    }

    /// Gap-free check: sequence numbers are exactly 1..=last_seq.
    pub fn sequence_is_gap_free(&self) -> Result<bool, StoreError> {
        let (count, min, max): (i64, Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                "SELECT COUNT(*), MIN(device_seq), MAX(device_seq) FROM records",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err())?;
        let last = i64::try_from(self.last_seq()?).unwrap_or(i64::MAX);
        Ok(match (min, max) {
            (None, None) => last == 0,
            (Some(1), Some(max)) => max == count && max == last,
            _ => false,
        })
    }
}

/// Runs `PRAGMA integrity_check` on a connection.
pub fn integrity_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Adds the body keys of records after `after_seq` to `map`, each with the
/// first sequence number that has it.
fn load_body_keys(conn: &Connection, after_seq: u64, map: &mut BodyKeys) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT body_key, device_seq FROM records WHERE device_seq > ?1 ORDER BY device_seq",
    )?;
    let keys = stmt.query_map([i64::try_from(after_seq).unwrap_or(i64::MAX)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    for key in keys {
        let (key, seq) = key?;
        map.entry(key).or_insert(u64::try_from(seq).unwrap_or(0));
    }
    Ok(())
}

/// Body keys with the first sequence number that has each.
type BodyKeys = HashMap<i64, u64>;

/// The first 8 bytes of a body hash as an integer (the `body_key` column).
pub(crate) fn body_key(hash: &ContentHash) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.0[..8]);
    i64::from_be_bytes(first)
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Inconsistent(format!("`{s}` is not a UUID")))
}

/// A content hash as stored (32 bytes), or why the row is inconsistent.
pub(crate) fn stored_hash(seq: i64, bytes: &[u8]) -> Result<ContentHash, StoreError> {
    <[u8; 32]>::try_from(bytes).map(ContentHash).map_err(|_| {
        StoreError::Inconsistent(format!("record #{seq} has a malformed content hash"))
    })
}

/// A stored signature (64 bytes), or why the row is inconsistent.
pub(crate) fn stored_signature(
    seq: i64,
    bytes: Option<Vec<u8>>,
) -> Result<Option<[u8; 64]>, StoreError> {
    bytes
        .map(|b| {
            <[u8; 64]>::try_from(b.as_slice()).map_err(|_| {
                StoreError::Inconsistent(format!("record #{seq} has a malformed signature"))
            })
        })
        .transpose()
}

/// This laptop's signature over a record's content hash.
pub fn sign_record(key: &SigningKey, hash: &ContentHash) -> [u8; 64] {
    use ed25519_dalek::Signer;
    key.sign(&doorstep_core::canonical::record_signing_bytes(hash))
        .to_bytes()
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Opens the SQLite file with the store's settings: WAL, full fsync on
/// commit (a record is on disk before anyone is told it is stored),
/// foreign keys, a busy timeout.
fn open_connection(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let conn = crate::sqlite::open_wal(path, create)?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StoreError::sqlite(path, e))?;
    // Space freed by a purge (or by encrypting old plaintext rows) is
    // zeroed, not left for a file carver.
    conn.execute_batch("PRAGMA secure_delete = ON;")
        .map_err(|e| StoreError::sqlite(path, e))?;
    // 16 MiB of page cache: a bulk enroll appends (table, record ID and
    // status indexes grow at their right edge), so a larger cache only
    // filled fresh memory (page faults) with pages never read again.
    // The WAL is checkpointed at SQLite's default (about every 1,000 pages):
    // a larger WAL made the checkpoint at close longer than the time the
    // commits saved (docs/PERFORMANCE.md).
    conn.execute_batch("PRAGMA cache_size = -16384;")
        .map_err(|e| StoreError::sqlite(path, e))?;
    Ok(conn)
}
