//! The laptop's identity at central: its Ed25519 key (secret half in
//! `device.key`, `0600`), and what central registered it as.

use std::path::PathBuf;

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::FieldStore;
use crate::error::StoreError;
use crate::witness::{StoredLogHead, save_head};

/// File name of the laptop's secret key inside its data directory.
pub const KEY_FILE: &str = "device.key";

/// What central registered this laptop as (all `None` before provisioning).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceIdentity {
    /// Lowercase hex Ed25519 public key.
    pub public_key: Option<String>,
    pub central_id: Option<Uuid>,
    pub registered_at: Option<String>,
    pub registered_server: Option<String>,
    pub station_id: Option<Uuid>,
}

/// A registration central answered, to keep.
#[derive(Debug, Clone)]
pub struct Registration {
    pub central_id: Uuid,
    pub server: String,
    pub registered_at: String,
    pub unit_code: String,
    pub station_id: Option<Uuid>,
    /// Central's log head and key as of registration: pinned from now on.
    pub log_head: StoredLogHead,
    /// Central's X25519 key to seal citizen data to.
    pub seal_key: Option<[u8; 32]>,
}

/// The device row's identity columns.
type IdentityRow = (
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl FieldStore {
    /// Path of the secret key file.
    pub fn key_path(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from(KEY_FILE), |d| d.join(KEY_FILE))
    }

    /// The laptop's identity as stored.
    pub fn identity(&self) -> Result<DeviceIdentity, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let row: Option<IdentityRow> = self
            .conn
            .query_row(
                "SELECT public_key, central_id, registered_at, registered_server, station_id FROM device WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((key, central, at, server, station)) = row else {
            return Ok(DeviceIdentity::default());
        };
        Ok(DeviceIdentity {
            public_key: key.map(hex::encode),
            central_id: central.and_then(|c| Uuid::parse_str(&c).ok()),
            registered_at: at,
            registered_server: server,
            station_id: station.and_then(|s| Uuid::parse_str(&s).ok()),
        })
    }

    /// The laptop's signing key, made now if it has none; returns the
    /// public half.
    pub fn ensure_device_key(&mut self) -> Result<[u8; 32], StoreError> {
        let path = self.key_path();
        let seed = if path.exists() {
            crate::keyfile::load(&path)?
        } else {
            crate::keyfile::create(&path)?
        };
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let stored = self.identity()?.public_key;
        match stored {
            Some(k) if k != hex::encode(public) => Err(StoreError::Inconsistent(format!(
                "{} does not match the public key stored for this laptop: restore the right file",
                path.display()
            ))),
            Some(_) => Ok(public),
            None => {
                self.conn
                    .execute(
                        "UPDATE device SET public_key = ?1 WHERE id = 1",
                        [&public[..]],
                    )
                    .map_err(|e| StoreError::sqlite(&self.path, e))?;
                Ok(public)
            }
        }
    }

    /// The laptop's signing key once it has one (read from `device.key`
    /// once per open store).
    pub fn signer(&self) -> Result<Option<Arc<SigningKey>>, StoreError> {
        if let Some(cached) = self.signer.get() {
            return Ok(cached.clone());
        }
        let key = match self.identity()?.public_key {
            None => None,
            Some(public) => {
                let seed = crate::keyfile::load(&self.key_path())?;
                let key = SigningKey::from_bytes(&seed);
                if hex::encode(key.verifying_key().to_bytes()) != public {
                    return Err(StoreError::Inconsistent(format!(
                        "{} does not match the public key stored for this laptop: restore the right file",
                        self.key_path().display()
                    )));
                }
                Some(Arc::new(key))
            }
        };
        Ok(self.signer.get_or_init(|| key).clone())
    }

    /// Keeps what central registered this laptop as, and pins central's
    /// log key and head, in one transaction.
    pub fn record_registration(&mut self, reg: &Registration) -> Result<(), StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE device SET central_id = ?1, registered_at = ?2, registered_server = ?3,
                               station_id = ?4, unit_code = ?5 WHERE id = 1",
            params![
                reg.central_id.to_string(),
                reg.registered_at,
                reg.server,
                reg.station_id.map(|s| s.to_string()),
                reg.unit_code
            ],
        )
        .map_err(err)?;
        // Pin central's log unless it is pinned already: a head seen before
        // is checked against later ones by the witness, never replaced here.
        match crate::witness::load_head(&tx, "log_heads", reg.log_head.log_id).map_err(err)? {
            None => save_head(&tx, "log_heads", &reg.log_head).map_err(err)?,
            Some(pinned) if pinned.public_key != reg.log_head.public_key => {
                return Err(StoreError::Inconsistent(format!(
                    "central's log {} answered with key {}, but this laptop pinned key {} for it before",
                    reg.log_head.log_id,
                    hex::encode(reg.log_head.public_key),
                    hex::encode(pinned.public_key)
                )));
            }
            Some(_) => {}
        }
        tx.commit().map_err(err)?;
        self.device.unit_code = reg.unit_code.clone();
        self.signer = std::sync::OnceLock::new();
        self.sign_unsigned_records()?;
        if let Some(key) = reg.seal_key {
            self.keep_seal_key(key)?;
        }
        Ok(())
    }

    /// Signs the records enrolled before this laptop had a key (one
    /// transaction); returns how many.
    pub fn sign_unsigned_records(&mut self) -> Result<u64, StoreError> {
        let Some(key) = self.signer()? else {
            return Ok(0);
        };
        let err = |e| StoreError::sqlite(&self.path, e);
        let tx = self.conn.transaction().map_err(err)?;
        let unsigned: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx
                .prepare("SELECT device_seq, content_hash FROM records WHERE signature IS NULL")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)?
        };
        {
            let mut update = tx
                .prepare("UPDATE records SET signature = ?2 WHERE device_seq = ?1")
                .map_err(err)?;
            for (seq, hash) in &unsigned {
                let hash = super::stored_hash(*seq, hash)?;
                let signature = super::sign_record(&key, &hash);
                update.execute(params![seq, &signature[..]]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(unsigned.len() as u64)
    }
}
