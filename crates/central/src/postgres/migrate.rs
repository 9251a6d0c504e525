//! Numbered migrations of central's PostgreSQL schema, applied in one
//! transaction under an advisory lock (two nodes starting together migrate
//! once); a database newer than this build is refused.

use tokio_postgres::Client;

use crate::error::CentralError;

/// The schema, in order; the version is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations-pg/0001_central.sql"),
    include_str!("../../migrations-pg/0002_progress.sql"),
    include_str!("../../migrations-pg/0003_blobs.sql"),
    include_str!("../../migrations-pg/0004_biometric_policy.sql"),
    include_str!("../../migrations-pg/0005_worklist.sql"),
];

/// Key of the advisory lock taken while migrating ("doorstep" in ASCII).
const MIGRATION_LOCK: i64 = 0x646f_6f72_7374_6570;

pub(crate) async fn apply(client: &mut Client, target: &str) -> Result<(), CentralError> {
    let tx = client.transaction().await.map_err(CentralError::pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(CentralError::pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS doorstep_schema (
             id      SMALLINT PRIMARY KEY CHECK (id = 1),
             version INTEGER  NOT NULL
         )",
    )
    .await
    .map_err(CentralError::pg)?;
    let found: i64 = tx
        .query_opt("SELECT version FROM doorstep_schema WHERE id = 1", &[])
        .await
        .map_err(CentralError::pg)?
        .map_or(0, |r| i64::from(r.get::<_, i32>(0)));
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if found > known {
        return Err(CentralError::SchemaTooNew {
            target: target.to_owned(),
            found,
            known,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tracing::info!(version = n + 1, %target, "migrating the PostgreSQL schema");
        tx.batch_execute(sql).await.map_err(CentralError::pg)?;
    }
    if start < MIGRATIONS.len() {
        let version = i32::try_from(known).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO doorstep_schema (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            &[&version],
        )
        .await
        .map_err(CentralError::pg)?;
    }
    tx.commit().await.map_err(CentralError::pg)
}
