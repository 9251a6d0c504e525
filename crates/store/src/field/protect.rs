//! Citizen data at rest (docs/adr/0009): every record is stored encrypted
//! under the store's data key, which only the officer's passphrase
//! unwraps, and (once the laptop knows central's key) sealed to central
//! for sending. What sync needs — IDs, sequence numbers, hashes,
//! signatures, custody state, the sealed boxes — stays readable while the
//! store is locked.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use doorstep_core::canonical::{self, ContentHash, format_utc_millis};
use doorstep_crypto::{CryptoError, DataKey, KdfParams, RecordKeys, Sealer, WrappedKey};
use doorstep_wire::{SealedParts, SealedRecord};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::FieldStore;
use crate::error::StoreError;

/// The keys of an unlocked store: shared with the validating threads of a
/// bulk enroll, which encrypt and seal there rather than in the writer.
#[derive(Debug, Clone)]
pub struct Protection {
    records: RecordKeys,
    /// `None` until the laptop knows central's sealing key.
    sealer: Option<Sealer>,
}

/// What unlocking did besides opening the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UnlockReport {
    /// The store had no passphrase yet: this one was set.
    pub passphrase_set: bool,
    /// Records stored before encryption at rest, encrypted now.
    pub encrypted: u64,
    /// Records sealed to central now (they were stored before the laptop
    /// knew central's key).
    pub sealed: u64,
}

/// What a retention purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub purged: u64,
    pub retention_days: u32,
}

impl Protection {
    fn new(key: &DataKey, seal_key: Option<[u8; 32]>) -> Result<Protection, StoreError> {
        Ok(Protection {
            records: key.record_keys(),
            sealer: seal_key
                .map(Sealer::new)
                .transpose()
                .map_err(StoreError::Crypto)?,
        })
    }

    /// A whole canonical record encrypted for this store, bound to its
    /// content hash.
    pub fn encrypt(&self, hash: &ContentHash, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.records
            .encrypt(&hash.0, record)
            .map_err(StoreError::Crypto)
    }

    /// The record sealed to central (the JSON of `SealedRecord`), when the
    /// laptop knows central's key.
    pub fn seal(
        &self,
        facts: &SealFacts<'_>,
        record: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(sealer) = &self.sealer else {
            return Ok(None);
        };
        let b = sealer.seal(record).map_err(StoreError::Crypto)?;
        let sealed = SealedRecord::new(
            facts.record_id,
            facts.device_id,
            facts.device_seq,
            facts.kind,
            facts.enrolled_at,
            &SealedParts {
                to: b.to,
                from: b.from,
                nonce: b.nonce,
                ciphertext: b.ciphertext,
            },
        );
        serde_json::to_vec(&sealed)
            .map(Some)
            .map_err(|e| StoreError::Inconsistent(format!("cannot encode a sealed record: {e}")))
    }

    /// The sealer, when the laptop knows central's key.
    pub(crate) fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_ref()
    }

    /// The keyed name a blob is stored under: the disk does not show
    /// which records share an image, nor lets a thief test a guess.
    pub fn blob_name(&self, sha256: &[u8; 32]) -> [u8; 32] {
        self.records.index(&blob_index_input(sha256))
    }

    /// A blob encrypted for this store, bound to its SHA-256.
    pub(crate) fn encrypt_blob(
        &self,
        sha256: &[u8; 32],
        bytes: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.records
            .encrypt(&blob_index_input(sha256), bytes)
            .map_err(StoreError::Crypto)
    }

    pub(crate) fn decrypt_blob(
        &self,
        sha256: &[u8; 32],
        stored: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.records
            .decrypt(&blob_index_input(sha256), stored)
            .map_err(|source| StoreError::Undecryptable { seq: 0, source })
    }

    /// The stored (keyed) form of a body hash: finds the same capture
    /// enrolled twice without keeping a plaintext hash of citizen data.
    pub fn body_index(&self, body_hash: &ContentHash) -> ContentHash {
        ContentHash(self.records.index(&body_hash.0))
    }

    pub(crate) fn decrypt(
        &self,
        seq: i64,
        hash: &ContentHash,
        stored: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.records
            .decrypt(&hash.0, stored)
            .map_err(|source| StoreError::Undecryptable { seq, source })
    }

    /// A worklist entry (the person's JSON) encrypted for this store,
    /// bound to central's roster ID: a row's ciphertext moved to another
    /// row, or taken for a record's or a blob's, does not decrypt.
    pub(crate) fn encrypt_worklist_item(
        &self,
        person_id: u64,
        bytes: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.records
            .encrypt(&worklist_item_binding(person_id), bytes)
            .map_err(StoreError::Crypto)
    }

    pub(crate) fn decrypt_worklist_item(
        &self,
        person_id: u64,
        stored: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.records
            .decrypt(&worklist_item_binding(person_id), stored)
            .map_err(|source| StoreError::WorklistUndecryptable { person_id, source })
    }

    /// The keyed index of a personal ID in the worklist: finds a person
    /// without decrypting every row, and tells a thief nothing.
    pub(crate) fn worklist_person_key(&self, personal_id: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"doorstep-worklist-pid-v1\n");
        h.update(personal_id.as_bytes());
        self.records.index(&<[u8; 32]>::from(h.finalize()))
    }
}

/// What a worklist entry's encryption binds to: a context string and the
/// roster ID, hashed, so it can never equal a record's content hash.
fn worklist_item_binding(person_id: u64) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"doorstep-worklist-item-v1\n");
    h.update(person_id.to_be_bytes());
    h.finalize().into()
}

/// What blob names and blob encryption bind to: a context prefix and the
/// blob's SHA-256, so a blob's name or ciphertext can never be taken for a
/// record's (whose index and associated data are a bare 32-byte hash).
fn blob_index_input(sha256: &[u8; 32]) -> [u8; 37] {
    let mut out = [0u8; 37];
    out[..5].copy_from_slice(b"blob:");
    out[5..].copy_from_slice(sha256);
    out
}

/// A stored record's sequence number, ID and canonical bytes (`None`
/// once purged).
pub type StoredBytes = (u64, Uuid, Option<Vec<u8>>);

/// The vault row: Argon2id memory, passes, lanes, salt, wrapped key.
type VaultRow = (i64, i64, i64, Vec<u8>, Vec<u8>);

/// The public facts a sealed record carries beside its box.
#[derive(Debug, Clone, Copy)]
pub struct SealFacts<'a> {
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub kind: &'a str,
    pub enrolled_at: &'a str,
}

/// A stored record's citizen bytes as the row holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Stored before encryption at rest (until the first unlock).
    Plain,
    Encrypted,
    /// Removed by the retention purge.
    Purged,
}

impl Stored {
    pub(crate) fn of(protected: i64, purged: bool) -> Stored {
        match (purged, protected) {
            (true, _) => Stored::Purged,
            (false, 0) => Stored::Plain,
            _ => Stored::Encrypted,
        }
    }
}

impl FieldStore {
    /// True once the officer's passphrase was set on this store.
    pub fn has_passphrase(&self) -> Result<bool, StoreError> {
        Ok(load_vault(&self.conn, &self.path)?.is_some())
    }

    /// True while the store's key is open in this process.
    pub fn is_unlocked(&self) -> bool {
        self.protection.is_some()
    }

    /// Drops the store's key from this process: citizen data is unreadable
    /// again until the next [`FieldStore::unlock`].
    pub fn lock(&mut self) {
        self.protection = None;
    }

    /// Takes the open keys of another connection to the same store (one
    /// passphrase check serves both); with `other` locked, locks this one.
    pub fn adopt_keys(&mut self, other: &FieldStore) -> Result<(), StoreError> {
        if other.path != self.path {
            return Err(StoreError::Inconsistent(format!(
                "keys of {} offered to {}",
                other.path.display(),
                self.path.display()
            )));
        }
        self.protection = other.protection.clone();
        Ok(())
    }

    /// Opens the store's key with the officer's passphrase. A store that
    /// has none yet (made before encryption at rest) takes this one, and
    /// its plaintext records are encrypted now, in one transaction.
    pub fn unlock(
        &mut self,
        passphrase: &str,
        now: DateTime<Utc>,
    ) -> Result<UnlockReport, StoreError> {
        let mut report = UnlockReport::default();
        let key = match load_vault(&self.conn, &self.path)? {
            Some(wrapped) => DataKey::unlock(passphrase, &wrapped).map_err(|e| match e {
                CryptoError::WrongPassphrase => StoreError::WrongPassphrase {
                    path: self.path.clone(),
                },
                other => StoreError::Passphrase(other),
            })?,
            None => {
                let (key, wrapped) = DataKey::create(passphrase, KdfParams::DEFAULT)
                    .map_err(StoreError::Passphrase)?;
                save_vault(&self.conn, &self.path, &wrapped, &now, true)?;
                report.passphrase_set = true;
                key
            }
        };
        self.protection = Some(Arc::new(Protection::new(&key, self.seal_key()?)?));
        report.encrypted = self.encrypt_plaintext_records()?;
        report.sealed = self.seal_unsealed_records()?;
        Ok(report)
    }

    /// Sets the passphrase of a new store (inside `init`).
    pub(crate) fn set_first_passphrase(
        conn: &Connection,
        path: &std::path::Path,
        passphrase: &str,
        kdf: KdfParams,
        now: &DateTime<Utc>,
    ) -> Result<DataKey, StoreError> {
        let (key, wrapped) = DataKey::create(passphrase, kdf).map_err(StoreError::Passphrase)?;
        save_vault(conn, path, &wrapped, now, true)?;
        Ok(key)
    }

    pub(crate) fn open_with_key(&mut self, key: &DataKey) -> Result<(), StoreError> {
        self.protection = Some(Arc::new(Protection::new(key, self.seal_key()?)?));
        Ok(())
    }

    /// Rewraps the store's key under a new passphrase (the store must be
    /// unlocked with the current one). Records are not touched.
    pub fn change_passphrase(
        &mut self,
        current: &str,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let wrapped = load_vault(&self.conn, &self.path)?.ok_or(StoreError::Locked {
            path: self.path.clone(),
            what: "changing the passphrase",
        })?;
        let key = DataKey::unlock(current, &wrapped).map_err(|e| match e {
            CryptoError::WrongPassphrase => StoreError::WrongPassphrase {
                path: self.path.clone(),
            },
            other => StoreError::Passphrase(other),
        })?;
        let rewrapped = key
            .wrap(new, wrapped.params)
            .map_err(StoreError::Passphrase)?;
        save_vault(&self.conn, &self.path, &rewrapped, &now, false)
    }

    /// The open keys, or [`StoreError::Locked`] naming what needed them.
    pub fn protection(&self, what: &'static str) -> Result<Arc<Protection>, StoreError> {
        self.protection.clone().ok_or_else(|| StoreError::Locked {
            path: self.path.clone(),
            what,
        })
    }

    /// The canonical bytes of a stored record (decrypting them).
    pub(crate) fn citizen_bytes(
        &self,
        seq: i64,
        hash: &ContentHash,
        stored: Stored,
        bytes: Vec<u8>,
        what: &'static str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match stored {
            Stored::Purged => Ok(None),
            Stored::Plain => Ok(Some(bytes)),
            Stored::Encrypted => self.protection(what)?.decrypt(seq, hash, &bytes).map(Some),
        }
    }

    /// True when sending needs the store unlocked: a record waiting to be
    /// sent is encrypted here but not sealed to central yet, or records
    /// from before encryption at rest are still in plaintext.
    pub fn needs_unlock_to_send(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM records WHERE protected = 0 AND purged_at IS NULL)
                     OR EXISTS(SELECT 1 FROM records INDEXED BY records_unsealed
                               WHERE sealed IS NULL AND purged_at IS NULL AND status IN ('pending', 'held'))",
                [],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Every record's canonical bytes in sequence order, decrypted (`None`
    /// once purged): record ID, sequence number, bytes. Needs the store
    /// unlocked when it holds encrypted records.
    pub fn canonical_records(&self) -> Result<Vec<StoredBytes>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT device_seq, record_id, content_hash, canonical, protected, purged_at IS NOT NULL
                 FROM records ORDER BY device_seq",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, hash, bytes, protected, purged) = row.map_err(err)?;
            let hash = super::stored_hash(seq, &hash)?;
            let bytes = self.citizen_bytes(
                seq,
                &hash,
                Stored::of(protected, purged),
                bytes,
                "reading records",
            )?;
            out.push((
                u64::try_from(seq).unwrap_or(0),
                super::parse_uuid(&id)?,
                bytes,
            ));
        }
        Ok(out)
    }

    /// Central's sealing key, once the laptop registered.
    pub fn seal_key(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let key: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT seal_key FROM device WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))?
            .flatten();
        key.map(|k| {
            <[u8; 32]>::try_from(k.as_slice()).map_err(|_| {
                StoreError::Inconsistent("central's sealing key is not 32 bytes".into())
            })
        })
        .transpose()
    }

    /// Keeps central's sealing key (from registration) and, if the store
    /// is unlocked, seals the records waiting for it. A different key than
    /// the one kept is refused.
    pub fn keep_seal_key(&mut self, key: [u8; 32]) -> Result<(), StoreError> {
        if let Some(kept) = self.seal_key()?
            && kept != key
        {
            return Err(StoreError::Inconsistent(format!(
                "central answered with sealing key {}, but this laptop keeps key {} for it",
                hex::encode(key),
                hex::encode(kept)
            )));
        }
        self.conn
            .execute("UPDATE device SET seal_key = ?1 WHERE id = 1", [&key[..]])
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        if let Some(p) = &self.protection {
            let mut fresh = (**p).clone();
            fresh.sealer = Some(Sealer::new(key).map_err(StoreError::Crypto)?);
            self.protection = Some(Arc::new(fresh));
            self.seal_unsealed_records()?;
        }
        Ok(())
    }

    /// Days a confirmed record's citizen data is kept.
    pub fn retention_days(&self) -> Result<u32, StoreError> {
        self.conn
            .query_row("SELECT retention_days FROM device WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|d| u32::try_from(d).unwrap_or(0))
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    pub fn set_retention_days(&mut self, days: u32) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE device SET retention_days = ?1 WHERE id = 1",
                [i64::from(days)],
            )
            .map(|_| ())
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Removes the citizen data of records central confirmed at least
    /// the retention period before `now`; IDs, hashes, signatures,
    /// journal and receipts stay. Journaled as `purged`. Needs no
    /// passphrase: nothing is read.
    pub fn purge_confirmed(&mut self, now: DateTime<Utc>) -> Result<PurgeReport, StoreError> {
        let days = self.retention_days()?;
        let cutoff = format_utc_millis(&(now - chrono::Duration::days(i64::from(days))));
        let at = format_utc_millis(&now);
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let due: Vec<(i64, String, Vec<u8>)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT device_seq, record_id, content_hash FROM records INDEXED BY records_to_purge
                     WHERE status = 'confirmed' AND purged_at IS NULL AND status_at <= ?1
                     ORDER BY device_seq",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([&cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)?
        };
        let mut listed = Vec::with_capacity(due.len());
        {
            let mut update = tx
                .prepare(
                    "UPDATE records SET canonical = x'', sealed = NULL, purged_at = ?2 WHERE device_seq = ?1",
                )
                .map_err(err)?;
            for (seq, id, hash) in &due {
                update.execute(params![seq, at]).map_err(err)?;
                listed.push((super::parse_uuid(id)?, super::stored_hash(*seq, hash)?));
            }
        }
        if !listed.is_empty() {
            super::journal::purged(&tx, &path, &at, days, &listed)?;
        }
        tx.commit().map_err(err)?;
        if !listed.is_empty() {
            // Old page images leave the write-ahead log now, not at some
            // later checkpoint.
            self.checkpoint()?;
        }
        Ok(PurgeReport {
            purged: listed.len() as u64,
            retention_days: days,
        })
    }

    /// Copies the write-ahead log into the database and truncates it.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Encrypts the records stored before encryption at rest (and keys
    /// their body index), in one transaction.
    fn encrypt_plaintext_records(&mut self) -> Result<u64, StoreError> {
        let p = self.protection("encrypting stored records")?;
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let plain: Vec<(i64, Vec<u8>, Vec<u8>)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT device_seq, content_hash, canonical FROM records INDEXED BY records_plain
                     WHERE protected = 0 AND purged_at IS NULL",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)?
        };
        {
            let mut update = tx
                .prepare(
                    "UPDATE records SET canonical = ?2, body_hash = ?3, body_key = ?4, protected = 1
                     WHERE device_seq = ?1",
                )
                .map_err(err)?;
            for (seq, hash, bytes) in &plain {
                let hash = super::stored_hash(*seq, hash)?;
                let record = canonical::decode_record(bytes)
                    .map_err(|source| StoreError::BadRecord { seq: *seq, source })?;
                let index = p.body_index(&ContentHash::of(&canonical::encode_body(&record.body)));
                update
                    .execute(params![
                        seq,
                        p.encrypt(&hash, bytes)?,
                        &index.0[..],
                        super::body_key(&index)
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.known_bodies = None;
        if !plain.is_empty() {
            self.checkpoint()?;
        }
        Ok(plain.len() as u64)
    }

    /// Seals to central the records not sealed yet that are still to be
    /// sent, in one transaction; 0 when central's key is not known.
    pub(crate) fn seal_unsealed_records(&mut self) -> Result<u64, StoreError> {
        let Some(p) = self.protection.clone() else {
            return Ok(0);
        };
        if p.sealer.is_none() {
            return Ok(0);
        }
        let device_id = self.device.device_id;
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        type Row = (i64, String, String, String, Vec<u8>, Vec<u8>, i64);
        let rows: Vec<Row> = {
            let mut stmt = tx
                .prepare(
                    "SELECT device_seq, record_id, kind, enrolled_at, content_hash, canonical, protected
                     FROM records INDEXED BY records_unsealed
                     WHERE sealed IS NULL AND purged_at IS NULL AND status IN ('pending', 'held', 'rejected')",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)?
        };
        {
            let mut update = tx
                .prepare("UPDATE records SET sealed = ?2 WHERE device_seq = ?1")
                .map_err(err)?;
            for (seq, id, kind, at, hash, bytes, protected) in &rows {
                let hash = super::stored_hash(*seq, hash)?;
                let plain = match Stored::of(*protected, false) {
                    Stored::Encrypted => p.decrypt(*seq, &hash, bytes)?,
                    _ => bytes.clone(),
                };
                let facts = SealFacts {
                    record_id: super::parse_uuid(id)?,
                    device_id,
                    device_seq: u64::try_from(*seq).unwrap_or(0),
                    kind,
                    enrolled_at: at,
                };
                update
                    .execute(params![seq, p.seal(&facts, &plain)?])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(rows.len() as u64)
    }
}

/// The wrapped key, if the store has a passphrase.
fn load_vault(conn: &Connection, path: &std::path::Path) -> Result<Option<WrappedKey>, StoreError> {
    let row: Option<VaultRow> = conn
        .query_row(
            "SELECT m_kib, t_cost, p_cost, salt, wrapped FROM vault WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(|e| StoreError::sqlite(path, e))?;
    let Some((m, t, p, salt, wrapped)) = row else {
        return Ok(None);
    };
    let bad = || StoreError::Inconsistent("the stored key settings are malformed".into());
    Ok(Some(WrappedKey {
        params: KdfParams {
            m_kib: u32::try_from(m).map_err(|_| bad())?,
            t: u32::try_from(t).map_err(|_| bad())?,
            p: u32::try_from(p).map_err(|_| bad())?,
        },
        salt: <[u8; 16]>::try_from(salt.as_slice()).map_err(|_| bad())?,
        wrapped,
    }))
}

fn save_vault(
    conn: &Connection,
    path: &std::path::Path,
    w: &WrappedKey,
    now: &DateTime<Utc>,
    first: bool,
) -> Result<(), StoreError> {
    let at = format_utc_millis(now);
    let sql = if first {
        "INSERT INTO vault (id, kdf, m_kib, t_cost, p_cost, salt, wrapped, created_at, changed_at)
         VALUES (1, 'argon2id', ?1, ?2, ?3, ?4, ?5, ?6, ?6)"
    } else {
        "UPDATE vault SET m_kib = ?1, t_cost = ?2, p_cost = ?3, salt = ?4, wrapped = ?5, changed_at = ?6 WHERE id = 1"
    };
    conn.execute(
        sql,
        params![
            i64::from(w.params.m_kib),
            i64::from(w.params.t),
            i64::from(w.params.p),
            &w.salt[..],
            w.wrapped,
            at
        ],
    )
    .map(|_| ())
    .map_err(|e| StoreError::sqlite(path, e))
}
