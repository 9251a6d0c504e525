//! Opening central on PostgreSQL: the node row with the public halves of
//! its keys, the unit list, the log's first signed head. Done under a lock
//! on the node table, so ingest nodes starting together on an empty
//! database create one central, not two.

use std::path::Path;

use chrono::{DateTime, Utc};
use doorstep_core::Units;
use doorstep_core::canonical::format_utc_millis;
use doorstep_crypto::{Opener, SealKey};
use uuid::Uuid;

use crate::error::CentralError;
use crate::signing::LogSigner;
use crate::sqlite::UnitSource;

pub(crate) struct Opened {
    pub node_id: Uuid,
    pub units: Units,
    pub units_source: String,
    pub signer: LogSigner,
    pub opener: Opener,
}

pub(crate) async fn open_node(
    client: &mut tokio_postgres::Client,
    key_dir: &Path,
    units: Option<UnitSource>,
    now: DateTime<Utc>,
    create: bool,
    target: &str,
) -> Result<Opened, CentralError> {
    let at = format_utc_millis(&now);
    let tx = client.transaction().await.map_err(CentralError::pg)?;
    tx.batch_execute("LOCK TABLE node IN EXCLUSIVE MODE")
        .await
        .map_err(CentralError::pg)?;
    let row = tx
        .query_opt(
            "SELECT node_id, log_key, seal_key FROM node WHERE id = 1",
            &[],
        )
        .await
        .map_err(CentralError::pg)?;
    let log_path = LogSigner::key_path(key_dir);
    let seal_path = crate::sealing::key_path(key_dir);
    let (node_id, signer, opener) = match row {
        Some(row) => {
            let node_id: Uuid = row.get(0);
            let log_public: &[u8] = row.get(1);
            let seal_public: &[u8] = row.get(2);
            if !log_path.exists() {
                return Err(CentralError::KeyMissing { path: log_path });
            }
            let signer = LogSigner::load(key_dir, node_id)?;
            if signer.public_key().as_slice() != log_public {
                return Err(CentralError::KeyMismatch { path: log_path });
            }
            if !seal_path.exists() {
                return Err(CentralError::SealKeyMissing { path: seal_path });
            }
            let seal = SealKey::from_bytes(doorstep_store::keyfile::load(&seal_path)?);
            if seal.public().as_slice() != seal_public {
                return Err(CentralError::SealKeyMismatch { path: seal_path });
            }
            (node_id, signer, Opener::new(&seal))
        }
        None if !create => {
            return Err(CentralError::PostgresEmpty {
                target: target.to_owned(),
            });
        }
        None => {
            crate::sqlite::create_private_dir(key_dir)?;
            let node_id = Uuid::now_v7();
            // Key files already there (a copy restored before the database
            // was) are used, never overwritten.
            let signer = if log_path.exists() {
                LogSigner::load(key_dir, node_id)?
            } else {
                LogSigner::create(key_dir, node_id)?
            };
            let seal = SealKey::from_bytes(if seal_path.exists() {
                doorstep_store::keyfile::load(&seal_path)?
            } else {
                doorstep_store::keyfile::create(&seal_path)?
            });
            tx.execute(
                "INSERT INTO node (id, node_id, created_at, log_key, seal_key) VALUES (1, $1, $2, $3, $4)",
                &[&node_id, &at, &&signer.public_key()[..], &&seal.public()[..]],
            )
            .await
            .map_err(CentralError::pg)?;
            // The log starts empty, with its first signed head.
            let timestamp = u64::try_from(now.timestamp_millis()).unwrap_or(0);
            let head = signer.sign(0, timestamp, doorstep_core::merkle::empty_root());
            tx.execute(
                "INSERT INTO log_state (id, tree_size, last_timestamp) VALUES (1, 0, $1)",
                &[&super::to_i64(head.timestamp)],
            )
            .await
            .map_err(CentralError::pg)?;
            tx.execute(
                "INSERT INTO tree_heads (tree_size, timestamp, root_hash, signature) VALUES (0, $1, $2, $3)",
                &[&super::to_i64(head.timestamp), &&head.root_hash[..], &&head.signature[..]],
            )
            .await
            .map_err(CentralError::pg)?;
            tracing::info!(%node_id, "created central in PostgreSQL");
            (node_id, signer, Opener::new(&seal))
        }
    };
    let stored = tx
        .query_opt("SELECT source, sha256 FROM unit_list WHERE id = 1", &[])
        .await
        .map_err(CentralError::pg)?
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
    if let Some((u, sha)) = UnitSource::to_store(stored.as_ref().map(|s| s.1.as_str()), units)? {
        tx.execute(
            "INSERT INTO unit_list (id, source, sha256, csv, loaded_at) VALUES (1, $1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, sha256 = excluded.sha256,
                csv = excluded.csv, loaded_at = excluded.loaded_at",
            &[&u.source, &sha, &u.csv, &at],
        )
        .await
        .map_err(CentralError::pg)?;
    }
    let row = tx
        .query_one("SELECT source, csv FROM unit_list WHERE id = 1", &[])
        .await
        .map_err(CentralError::pg)?;
    let units_source: String = row.get(0);
    let csv: Vec<u8> = row.get(1);
    tx.commit().await.map_err(CentralError::pg)?;
    let units = UnitSource::parse_stored(&csv)?;
    Ok(Opened {
        node_id,
        units,
        units_source,
        signer,
        opener,
    })
}
