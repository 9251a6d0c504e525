//! `doorstep audit verify --database URL`: streams central's log entries,
//! tree nodes, signed heads and records from PostgreSQL into the shared
//! [`Auditor`], from one snapshot (repeatable read, read only), while
//! ingest nodes keep serving. Never writes, never migrates.

use futures_util::{TryStreamExt, pin_mut};
use tokio_postgres::Transaction;

use super::migrate::MIGRATIONS;
use super::to_u64;
use crate::audit::{AuditReport, AuditStage, Auditor};
use crate::error::CentralError;

pub async fn verify(
    url: &str,
    progress: &mut (dyn FnMut(AuditStage, u64, u64) + Send),
) -> Result<AuditReport, CentralError> {
    let (pool, target) = super::connect(url, 1).await?;
    let mut client = pool.get().await.map_err(super::pool_error)?;
    verify_on(&mut client, &target, progress).await
}

/// The same check on a connection of a running node's pool.
pub(crate) async fn verify_on(
    client: &mut tokio_postgres::Client,
    target: &str,
    progress: &mut (dyn FnMut(AuditStage, u64, u64) + Send),
) -> Result<AuditReport, CentralError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let version = client
        .query_opt("SELECT version FROM doorstep_schema WHERE id = 1", &[])
        .await
        .ok()
        .flatten()
        .map_or(0, |r| i64::from(r.get::<_, i32>(0)));
    if version == 0 {
        return Err(CentralError::Inconsistent(format!(
            "{target} holds no central: start `doorstep central serve --database …` once to create it"
        )));
    }
    if version != known {
        return Err(CentralError::Inconsistent(format!(
            "{target} has schema version {version}, this build checks version {known}: {}",
            if version < known {
                "start a node once with this build to migrate it"
            } else {
                "use a newer build"
            }
        )));
    }
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(CentralError::pg)?;
    let node = tx
        .query_opt("SELECT node_id, log_key FROM node WHERE id = 1", &[])
        .await
        .map_err(CentralError::pg)?;
    let (log_id, key) = match &node {
        Some(row) => (row.get::<_, uuid::Uuid>(0), Some(row.get::<_, &[u8]>(1))),
        None => (uuid::Uuid::nil(), None),
    };
    let mut audit = Auditor::new(key, log_id);

    let total = count(&tx, "SELECT COUNT(*) FROM log_entries").await?;
    let rows = stream(
        &tx,
        "SELECT idx, batch_id::text, entry, leaf_hash FROM log_entries ORDER BY idx",
    )
    .await?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await.map_err(CentralError::pg)? {
        audit.entry(
            to_u64(row.get(0)),
            row.get(1),
            row.get::<_, &[u8]>(2),
            row.get::<_, &[u8]>(3),
        );
        if audit.entries_seen().is_multiple_of(4096) {
            progress(AuditStage::Entries, audit.entries_seen(), total);
        }
    }
    progress(AuditStage::Entries, audit.entries_seen(), total);

    let total = count(&tx, "SELECT COUNT(*) FROM log_nodes").await?;
    let rows = stream(&tx, "SELECT level, idx, hash FROM log_nodes").await?;
    pin_mut!(rows);
    let mut seen = 0u64;
    while let Some(row) = rows.try_next().await.map_err(CentralError::pg)? {
        audit.node(
            i64::from(row.get::<_, i16>(0)),
            to_u64(row.get(1)),
            row.get::<_, &[u8]>(2),
        );
        seen += 1;
        if seen.is_multiple_of(65536) {
            progress(AuditStage::Nodes, seen, total);
        }
    }
    progress(AuditStage::Nodes, seen, total);
    audit.end_nodes();

    let total = count(&tx, "SELECT COUNT(*) FROM tree_heads").await?;
    let rows = stream(
        &tx,
        "SELECT tree_size, timestamp, root_hash, signature FROM tree_heads ORDER BY tree_size",
    )
    .await?;
    pin_mut!(rows);
    let mut seen = 0u64;
    while let Some(row) = rows.try_next().await.map_err(CentralError::pg)? {
        audit.head(
            to_u64(row.get(0)),
            to_u64(row.get(1)),
            row.get::<_, &[u8]>(2),
            row.get::<_, &[u8]>(3),
        );
        seen += 1;
        if seen.is_multiple_of(4096) {
            progress(AuditStage::TreeHeads, seen, total);
        }
    }
    progress(AuditStage::TreeHeads, seen, total);
    audit.end_heads();

    let total = count(&tx, "SELECT COUNT(*) FROM records").await?;
    let rows = stream(
        &tx,
        "SELECT record_id::text, content_hash, canonical FROM records",
    )
    .await?;
    pin_mut!(rows);
    let mut seen = 0u64;
    while let Some(row) = rows.try_next().await.map_err(CentralError::pg)? {
        // Central opens every sealed record: its rows hold the plaintext.
        audit.record(
            row.get(0),
            row.get::<_, &[u8]>(1),
            row.get::<_, &[u8]>(2),
            false,
        );
        seen += 1;
        if seen.is_multiple_of(4096) {
            progress(AuditStage::Records, seen, total);
        }
    }
    progress(AuditStage::Records, seen, total);
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(audit.finish())
}

async fn count(tx: &Transaction<'_>, sql: &str) -> Result<u64, CentralError> {
    let row = tx.query_one(sql, &[]).await.map_err(CentralError::pg)?;
    Ok(to_u64(row.get(0)))
}

async fn stream(
    tx: &Transaction<'_>,
    sql: &str,
) -> Result<tokio_postgres::RowStream, CentralError> {
    tx.query_raw(sql, std::iter::empty::<i64>())
        .await
        .map_err(CentralError::pg)
}
