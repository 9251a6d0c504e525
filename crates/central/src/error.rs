//! Central's errors. Storage failures are the server's problem (HTTP 503,
//! retryable by clients); nothing a client sends becomes one of these.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error(transparent)]
    Store(#[from] doorstep_store::StoreError),

    #[error("this node does not take {0}")]
    Unsupported(&'static str),

    #[error("attachment storage: {0}")]
    Blob(#[source] crate::blobs::BlobError),

    #[error(
        "no central store in {path}: start `doorstep central serve --data-dir {path}` once to create it"
    )]
    NotInitialized { path: PathBuf },

    #[error(
        "{path} is a {found} store, not a {wanted} store: use the matching command or another data directory"
    )]
    WrongRole {
        path: PathBuf,
        found: String,
        wanted: &'static str,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the log signing key {path} is missing but the log has entries signed with it: restore the file from the backup of this data directory (a new key would make every issued tree head unverifiable)"
    )]
    KeyMissing { path: PathBuf },

    #[error(
        "the log signing key {path} does not match the public key stored with the log: restore the right file"
    )]
    KeyMismatch { path: PathBuf },

    #[error(
        "the sealing key {path} is missing but laptops seal records to it: restore the file from the backup of this data directory (records sealed to it cannot be opened without it)"
    )]
    SealKeyMissing { path: PathBuf },

    #[error(
        "the sealing key {path} does not match the public key stored for this central: restore the right file"
    )]
    SealKeyMismatch { path: PathBuf },

    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    PostgresConnect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error(
        "no central in the PostgreSQL database {target}: start `doorstep central serve --database URL --data-dir DIR` once to create it"
    )]
    PostgresEmpty { target: String },

    #[error("PostgreSQL: {source}")]
    Postgres {
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("no PostgreSQL connection available: {0}")]
    PostgresPool(String),

    #[error(
        "the PostgreSQL database {target} has schema version {found}, newer than this build knows ({known}): use a newer doorstep"
    )]
    SchemaTooNew {
        target: String,
        found: i64,
        known: i64,
    },

    #[error("{what} is not a valid PostgreSQL URL: {source}")]
    BadDatabaseUrl {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("the batch could not be applied, send it again: {0}")]
    NotApplied(String),

    #[error("a proof was asked for beyond the log: {0}")]
    OutOfRange(String),

    #[error("central store data is inconsistent: {0}")]
    Inconsistent(String),

    #[error("a storage task stopped unexpectedly: {0}")]
    Task(String),
}

impl CentralError {
    pub(crate) fn sqlite(path: &std::path::Path, e: rusqlite::Error) -> CentralError {
        CentralError::Store(doorstep_store::StoreError::sqlite(path, e))
    }

    pub(crate) fn pg(source: tokio_postgres::Error) -> CentralError {
        CentralError::Postgres { source }
    }

    /// True for errors the person running the command can fix.
    pub fn is_user_error(&self) -> bool {
        match self {
            CentralError::Store(e) => e.is_user_error(),
            CentralError::NotInitialized { .. }
            | CentralError::WrongRole { .. }
            | CentralError::KeyMissing { .. }
            | CentralError::KeyMismatch { .. }
            | CentralError::SealKeyMissing { .. }
            | CentralError::SealKeyMismatch { .. }
            | CentralError::PostgresConnect { .. }
            | CentralError::PostgresEmpty { .. }
            | CentralError::SchemaTooNew { .. }
            | CentralError::BadDatabaseUrl { .. } => true,
            _ => false,
        }
    }
}
