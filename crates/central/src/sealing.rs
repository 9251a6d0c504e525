//! Central's sealing key: the X25519 key laptops seal citizen data to
//! (`proto/sync-v1.md` §17). Its secret half lives in `seal.key` (32 raw
//! bytes, mode 0600) in the data directory, its public half in the
//! database, so a lost or swapped file is noticed at start rather than
//! when records stop opening.

use std::path::{Path, PathBuf};

use doorstep_crypto::{Opener, SealKey};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::CentralError;

/// File name of the secret key inside the data directory.
pub const SEAL_KEY_FILE: &str = "seal.key";

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(SEAL_KEY_FILE)
}

/// Loads central's sealing key, making it on first start.
pub(crate) fn open_seal_key(
    conn: &Connection,
    path: &Path,
    dir: &Path,
    at: &str,
) -> Result<Opener, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT public_key FROM seal_key WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(err)?;
    let file = key_path(dir);
    let key = match (stored, file.exists()) {
        (Some(public), true) => {
            let key = SealKey::from_bytes(doorstep_store::keyfile::load(&file)?);
            if public.as_slice() != key.public().as_slice() {
                return Err(CentralError::SealKeyMismatch { path: file });
            }
            key
        }
        (Some(_), false) => return Err(CentralError::SealKeyMissing { path: file }),
        (None, exists) => {
            let key = SealKey::from_bytes(if exists {
                doorstep_store::keyfile::load(&file)?
            } else {
                doorstep_store::keyfile::create(&file)?
            });
            conn.execute(
                "INSERT INTO seal_key (id, public_key, created_at) VALUES (1, ?1, ?2)",
                params![&key.public()[..], at],
            )
            .map_err(err)?;
            key
        }
    };
    Ok(Opener::new(&key))
}
