//! The node's log signing key: an Ed25519 key whose secret half lives in
//! `log-signing.key` (32 raw bytes, mode 0600) in the data directory and
//! whose public half is kept in the database, so `audit verify` can check
//! every tree head without the secret.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use uuid::Uuid;

use doorstep_wire::log::{SignedTreeHead, tree_head_message};

use crate::error::CentralError;

/// File name of the secret key inside the data directory.
pub const KEY_FILE: &str = "log-signing.key";

/// Signs tree heads.
#[derive(Clone)]
pub struct LogSigner {
    key: SigningKey,
    log_id: Uuid,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("LogSigner")
            .field("log_id", &self.log_id)
            .field("public_key", &hex::encode(self.public_key()))
            .finish()
    }
}

impl LogSigner {
    /// Path of the key file in `dir`.
    pub fn key_path(dir: &Path) -> PathBuf {
        dir.join(KEY_FILE)
    }

    /// Reads the key in `dir`.
    pub fn load(dir: &Path, log_id: Uuid) -> Result<LogSigner, CentralError> {
        let seed = doorstep_store::keyfile::load(&Self::key_path(dir))?;
        Ok(LogSigner {
            key: SigningKey::from_bytes(&seed),
            log_id,
        })
    }

    /// Makes a new key and writes it to `dir` (refuses to overwrite one).
    pub fn create(dir: &Path, log_id: Uuid) -> Result<LogSigner, CentralError> {
        let seed = doorstep_store::keyfile::create(&Self::key_path(dir))?;
        Ok(LogSigner {
            key: SigningKey::from_bytes(&seed),
            log_id,
        })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn log_id(&self) -> Uuid {
        self.log_id
    }

    /// Signs the head of a tree of `tree_size` entries with root `root`.
    pub fn sign(&self, tree_size: u64, timestamp: u64, root: [u8; 32]) -> SignedTreeHead {
        let message = tree_head_message(&self.log_id, tree_size, timestamp, &root);
        SignedTreeHead {
            log_id: self.log_id,
            tree_size,
            timestamp,
            root_hash: root,
            signature: self.key.sign(&message).to_bytes(),
        }
    }
}
