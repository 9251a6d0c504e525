//! A station's own identity at central: its Ed25519 key (secret half in
//! `node.key`, `0600`) and what central registered it as.

use std::path::PathBuf;

use doorstep_store::StoredLogHead;
use ed25519_dalek::SigningKey;
use rusqlite::params;
use uuid::Uuid;

use super::SqliteCentral;
use crate::error::CentralError;

/// File name of a station's secret key inside its data directory.
pub const NODE_KEY_FILE: &str = "node.key";

/// What central registered this station as.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeIdentity {
    pub public_key: Option<String>,
    pub registered_with: Option<Uuid>,
    pub registered_at: Option<String>,
    pub registered_server: Option<String>,
}

impl SqliteCentral {
    fn node_key_path(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from(NODE_KEY_FILE), |d| d.join(NODE_KEY_FILE))
    }

    /// This node's identity as stored.
    pub fn identity(&self) -> Result<NodeIdentity, CentralError> {
        let conn = self.lock()?;
        conn.query_row(
            "SELECT identity_key, registered_with, registered_at, registered_server FROM node WHERE id = 1",
            [],
            |r| {
                Ok(NodeIdentity {
                    public_key: r.get::<_, Option<Vec<u8>>>(0)?.map(hex::encode),
                    registered_with: r
                        .get::<_, Option<String>>(1)?
                        .and_then(|s| Uuid::parse_str(&s).ok()),
                    registered_at: r.get(2)?,
                    registered_server: r.get(3)?,
                })
            },
        )
        .map_err(|e| CentralError::sqlite(&self.path, e))
    }

    /// This node's key, made now if it has none; returns the public half.
    pub fn ensure_identity_key(&self) -> Result<[u8; 32], CentralError> {
        let path = self.node_key_path();
        let seed = if path.exists() {
            doorstep_store::keyfile::load(&path)?
        } else {
            doorstep_store::keyfile::create(&path)?
        };
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        match self.identity()?.public_key {
            Some(k) if k != hex::encode(public) => Err(CentralError::KeyMismatch { path }),
            Some(_) => Ok(public),
            None => {
                let conn = self.lock()?;
                conn.execute(
                    "UPDATE node SET identity_key = ?1 WHERE id = 1",
                    [&public[..]],
                )
                .map_err(|e| CentralError::sqlite(&self.path, e))?;
                Ok(public)
            }
        }
    }

    /// Keeps what central registered this station as, and pins central's
    /// log (the upstream it witnesses), in one transaction.
    pub fn record_node_registration(
        &self,
        central_id: Uuid,
        server: &str,
        registered_at: &str,
        log_head: &StoredLogHead,
    ) -> Result<(), CentralError> {
        let mut conn = self.lock()?;
        let err = |e| CentralError::sqlite(&self.path, e);
        let tx = conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE node SET registered_with = ?1, registered_at = ?2, registered_server = ?3 WHERE id = 1",
            params![central_id.to_string(), registered_at, server],
        )
        .map_err(err)?;
        // Pin central's log unless it is pinned already (see the laptop's
        // `record_registration`).
        match doorstep_store::witness::load_head(&tx, "upstream_heads", log_head.log_id)
            .map_err(err)?
        {
            None => {
                doorstep_store::witness::save_head(&tx, "upstream_heads", log_head).map_err(err)?
            }
            Some(pinned) if pinned.public_key != log_head.public_key => {
                return Err(CentralError::Inconsistent(format!(
                    "central's log {} answered with another key than the one this station pinned",
                    log_head.log_id
                )));
            }
            Some(_) => {}
        }
        tx.commit().map_err(err)
    }
}

impl SqliteCentral {
    /// This station's signing key once it is registered (for signing the
    /// requests it forwards upstream).
    pub fn identity_signer(&self) -> Result<Option<std::sync::Arc<SigningKey>>, CentralError> {
        let identity = self.identity()?;
        let (Some(public), Some(_)) = (identity.public_key, identity.registered_at) else {
            return Ok(None);
        };
        let path = self.node_key_path();
        let key = SigningKey::from_bytes(&doorstep_store::keyfile::load(&path)?);
        if hex::encode(key.verifying_key().to_bytes()) != public {
            return Err(CentralError::KeyMismatch { path });
        }
        Ok(Some(std::sync::Arc::new(key)))
    }
}
