//! Attachment blobs on the laptop (`proto/attachments-v1.md` sections 4
//! and 12): stored once per laptop under a keyed name, encrypted under the
//! store's key, sealed to central when stored so an upload needs no
//! passphrase, and queued for upload once central (or a station) holds the
//! record that names them.

use doorstep_core::record::MediaType;
use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::FieldStore;
use super::protect::Protection;
use crate::error::StoreError;

/// One attachment's bytes made ready for the store on a validating thread:
/// hashed, encrypted, and sealed to central when the laptop knows its key.
#[derive(Debug, Clone)]
pub struct PreparedBlob {
    pub(crate) name: [u8; 32],
    pub(crate) sha256: [u8; 32],
    pub(crate) size: u64,
    pub(crate) media_type: MediaType,
    pub(crate) stored: Vec<u8>,
    /// The sealed object and its SHA-256.
    pub(crate) sealed: Option<(Vec<u8>, [u8; 32])>,
}

impl PreparedBlob {
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
}

impl Protection {
    /// Prepares one attachment's bytes for [`FieldStore::enroll`].
    pub fn prepare_blob(
        &self,
        bytes: &[u8],
        media_type: MediaType,
    ) -> Result<PreparedBlob, StoreError> {
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let sealed = match self.sealer() {
            None => None,
            Some(sealer) => {
                let object = sealer.seal(bytes).map_err(StoreError::Crypto)?.to_blob();
                let hash: [u8; 32] = Sha256::digest(&object).into();
                Some((object, hash))
            }
        };
        Ok(PreparedBlob {
            name: self.blob_name(&sha256),
            sha256,
            size: bytes.len() as u64,
            media_type,
            stored: self.encrypt_blob(&sha256, bytes)?,
            sealed,
        })
    }
}

/// A blob waiting to be uploaded to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobToSend {
    /// The keyed name it is stored under here.
    pub name: [u8; 32],
    /// SHA-256 of the plaintext, hex: the upload's address.
    pub sha256: String,
    /// Plaintext size.
    pub size: u64,
    /// SHA-256 of the object uploaded (the sealed blob; the plaintext's
    /// own hash for a laptop that does not seal).
    pub sealed_sha256: String,
}

/// Blob counts for `field status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlobStatus {
    pub blobs: u64,
    pub bytes: u64,
    /// Blobs some held or incomplete record names that central does not hold yet.
    pub to_upload: u64,
    pub bytes_to_upload: u64,
    /// Uploads refused for good (`field status` shows the code).
    pub refused: u64,
}

/// The first of a record's attachments (by position) that is neither
/// given with it nor already stored here: such a record would never be
/// complete, so it is refused.
pub(crate) fn first_missing(
    tx: &Transaction<'_>,
    path: &std::path::Path,
    names: &[[u8; 32]],
    given: &[PreparedBlob],
) -> Result<Option<usize>, StoreError> {
    // Most records name no attachment: no statement-cache look-up for them.
    if names.is_empty() {
        return Ok(None);
    }
    let err = |e| StoreError::sqlite(path, e);
    let mut exists = tx
        .prepare_cached("SELECT 1 FROM blobs WHERE name = ?1 AND stored IS NOT NULL")
        .map_err(err)?;
    for (position, name) in names.iter().enumerate() {
        if given.iter().any(|b| b.name == *name) {
            continue;
        }
        if exists
            .query_row([&name[..]], |_| Ok(()))
            .optional()
            .map_err(err)?
            .is_none()
        {
            return Ok(Some(position));
        }
    }
    Ok(None)
}

/// Stores the blobs of one record inside the enroll transaction: each blob
/// once (by name), then the record's references in attachment order.
/// `shas` are the attachments' plaintext hashes, in the order of `names`.
pub(crate) fn store_record_blobs(
    tx: &Transaction<'_>,
    path: &std::path::Path,
    seq: i64,
    names: &[[u8; 32]],
    shas: &[[u8; 32]],
    given: &[PreparedBlob],
    at: &str,
) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let mut insert_blob = tx
        .prepare_cached(
            "INSERT INTO blobs (name, sha256, size, media_type, stored, sealed, sealed_sha256, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(name) DO UPDATE SET stored = excluded.stored, purged_at = NULL
             WHERE blobs.stored IS NULL",
        )
        .map_err(err)?;
    let mut link = tx
        .prepare_cached("INSERT INTO record_blobs (device_seq, position, name) VALUES (?1, ?2, ?3)")
        .map_err(err)?;
    for (position, name) in names.iter().enumerate() {
        if let Some(b) = given.iter().find(|b| b.name == *name) {
            insert_blob
                .execute(params![
                    &b.name[..],
                    &b.sha256[..],
                    i64::try_from(b.size).unwrap_or(i64::MAX),
                    b.media_type.as_str(),
                    &b.stored,
                    b.sealed.as_ref().map(|s| &s.0),
                    b.sealed.as_ref().map(|s| &s.1[..]),
                    at,
                ])
                .map_err(err)?;
        }
        link.execute(params![seq, position as i64, &name[..]])
            .map_err(err)?;
    }
    // A blob stored earlier for a record now settled (a rejected record
    // being corrected with the same photo) had its plaintext hash
    // forgotten: this record needs it uploaded, so the hash comes back.
    // One delivered to central stays as it is: central holds it whole.
    let mut remember = tx
        .prepare_cached(
            "UPDATE blobs SET sha256 = ?2
             WHERE name = ?1 AND sha256 IS NULL AND delivered_to IS NULL AND stored IS NOT NULL",
        )
        .map_err(err)?;
    for (name, sha) in names.iter().zip(shas) {
        remember
            .execute(params![&name[..], &sha[..]])
            .map_err(err)?;
    }
    Ok(())
}

impl FieldStore {
    /// Blobs named by records some node holds (`held`, `incomplete`) that
    /// `node` has not answered it holds whole, and that were not refused:
    /// the upload queue toward `node`.
    pub fn blobs_to_send(&self, node: &str) -> Result<Vec<BlobToSend>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT b.name, b.sha256, b.size, COALESCE(b.sealed_sha256, b.sha256)
                 FROM blobs b
                 WHERE b.sha256 IS NOT NULL AND b.refused_code IS NULL AND b.stored IS NOT NULL
                   AND (b.delivered_to IS NULL OR b.delivered_to <> ?1)
                   AND EXISTS (SELECT 1 FROM record_blobs rb JOIN records r ON r.device_seq = rb.device_seq
                               WHERE rb.name = b.name AND r.status IN ('held', 'incomplete'))
                 ORDER BY b.rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([node], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (name, sha, size, sealed) = row.map_err(err)?;
            out.push(BlobToSend {
                name: <[u8; 32]>::try_from(name.as_slice())
                    .map_err(|_| StoreError::Inconsistent("a blob has a malformed name".into()))?,
                sha256: hex::encode(sha),
                size: u64::try_from(size).unwrap_or(0),
                sealed_sha256: hex::encode(sealed),
            });
        }
        Ok(out)
    }

    /// The object to upload for a blob: its sealed form, or (a laptop that
    /// does not seal: not provisioned) its plaintext, which needs the store
    /// unlocked.
    pub fn blob_object(&self, name: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let row: Option<[Option<Vec<u8>>; 3]> = self
            .conn
            .query_row(
                "SELECT sealed, stored, sha256 FROM blobs WHERE name = ?1",
                [&name[..]],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]),
            )
            .optional()
            .map_err(err)?;
        match row {
            Some([Some(sealed), _, _]) => Ok(sealed),
            Some([None, Some(stored), Some(sha)]) => {
                let sha = <[u8; 32]>::try_from(sha.as_slice())
                    .map_err(|_| StoreError::Inconsistent("a blob has a malformed hash".into()))?;
                self.protection("uploading attachments of a laptop not provisioned")?
                    .decrypt_blob(&sha, &stored)
            }
            _ => Err(StoreError::Inconsistent(
                "a queued attachment is no longer stored".into(),
            )),
        }
    }

    /// `node` answered it holds the blob whole. When that node is central
    /// the plaintext hash is no longer needed in the clear and is dropped.
    pub fn mark_blob_delivered(
        &mut self,
        name: &[u8; 32],
        node: &str,
        central: bool,
    ) -> Result<(), StoreError> {
        let sql = if central {
            "UPDATE blobs SET delivered_to = ?2, refused_code = NULL, sha256 = NULL WHERE name = ?1"
        } else {
            "UPDATE blobs SET delivered_to = ?2, refused_code = NULL WHERE name = ?1"
        };
        self.conn
            .execute(sql, params![&name[..], node])
            .map(|_| ())
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Drops the plaintext hash of every blob no unsettled record names
    /// any more (each record naming it is confirmed — central holds it
    /// whole — or rejected): the upload queue needs it no longer, and the
    /// hash of a biometric image is not kept in the clear longer than
    /// needed. Returns how many were dropped.
    pub fn forget_settled_blob_hashes(&mut self) -> Result<u64, StoreError> {
        self.conn
            .execute(
                "UPDATE blobs SET sha256 = NULL
                 WHERE sha256 IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM record_blobs rb JOIN records r ON r.device_seq = rb.device_seq
                                   WHERE rb.name = blobs.name
                                     AND r.status IN ('pending', 'held', 'incomplete'))",
                [],
            )
            .map(|n| n as u64)
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// An upload of the blob was refused for good (a problem code): it is
    /// not retried automatically; `field status` shows it.
    pub fn mark_blob_refused(&mut self, name: &[u8; 32], code: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE blobs SET refused_code = ?2 WHERE name = ?1",
                params![&name[..], code],
            )
            .map(|_| ())
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Counts for `field status`.
    pub fn blob_status(&self) -> Result<BlobStatus, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        self.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0),
                        COALESCE(SUM(sha256 IS NOT NULL AND refused_code IS NULL), 0),
                        COALESCE(SUM(CASE WHEN sha256 IS NOT NULL AND refused_code IS NULL THEN size END), 0),
                        COALESCE(SUM(refused_code IS NOT NULL), 0)
                 FROM blobs WHERE stored IS NOT NULL",
                [],
                |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok(BlobStatus {
                        blobs: n(0)?,
                        bytes: n(1)?,
                        to_upload: n(2)?,
                        bytes_to_upload: n(3)?,
                        refused: n(4)?,
                    })
                },
            )
            .map_err(err)
    }

    /// A stored blob's plaintext (the store must be unlocked), by its
    /// SHA-256; `None` when this laptop does not hold it.
    pub fn blob_plaintext(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let protection = self.protection("reading attachments")?;
        let name = protection.blob_name(sha256);
        let stored: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT stored FROM blobs WHERE name = ?1",
                [&name[..]],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        match stored.flatten() {
            None => Ok(None),
            Some(bytes) => protection.decrypt_blob(sha256, &bytes).map(Some),
        }
    }

    /// Records this laptop must ask custody about again: `incomplete` ones
    /// (central holds them, waiting for attachments), after `after_seq`.
    pub fn incomplete_records(
        &self,
        after_seq: u64,
        limit: u64,
    ) -> Result<Vec<(u64, uuid::Uuid, doorstep_core::ContentHash)>, StoreError> {
        Ok(self
            .page_in_state(super::RecordStatus::Incomplete, after_seq, limit, false)?
            .into_iter()
            .map(|i| (i.device_seq, i.record_id, i.content_hash))
            .collect())
    }
}
