//! Which store a `central` command works on: the embedded SQLite store in
//! `--data-dir`, or PostgreSQL with `--database` (the data directory then
//! holds only the node's secret keys).

use chrono::Utc;
use doorstep_central::sqlite::UnitSource;
use doorstep_central::{CentralError, CentralStore, PgCentral, SqliteCentral};

use crate::cli::CentralDataDir;

/// Central, on one backend or the other.
#[derive(Debug)]
pub enum Central {
    Sqlite(SqliteCentral),
    Postgres(PgCentral),
}

impl Central {
    /// Opens an existing central (for status and admin commands).
    pub async fn open(dir: &CentralDataDir) -> Result<Central, CentralError> {
        Ok(match &dir.database {
            Some(url) => Central::Postgres(PgCentral::open(url, &dir.data_dir).await?),
            None => Central::Sqlite(SqliteCentral::open(&dir.data_dir)?),
        })
    }

    /// Opens central, creating it on first start (for `central serve`).
    pub async fn open_or_create(
        dir: &CentralDataDir,
        units: Option<UnitSource>,
    ) -> Result<Central, CentralError> {
        Ok(match &dir.database {
            Some(url) => Central::Postgres(
                PgCentral::open_or_create(url, &dir.data_dir, units, Utc::now()).await?,
            ),
            None => Central::Sqlite(SqliteCentral::open_or_create(
                &dir.data_dir,
                units,
                Utc::now(),
            )?),
        })
    }

    pub fn store(&self) -> &dyn CentralStore {
        match self {
            Central::Sqlite(s) => s,
            Central::Postgres(p) => p,
        }
    }

    /// Where the data is, for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            Central::Sqlite(s) => s.path().display().to_string(),
            Central::Postgres(p) => format!("postgres {}", p.target()),
        }
    }
}

/// A runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
