//! Central's errors. Storage failures are the server's problem (HTTP 503,
//! retryable by clients); nothing a client sends becomes one of these.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error(transparent)]
    Store(#[from] doorstep_store::StoreError),

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

    #[error("central store data is inconsistent: {0}")]
    Inconsistent(String),

    #[error("a storage task stopped unexpectedly: {0}")]
    Task(String),
}

impl CentralError {
    pub(crate) fn sqlite(path: &std::path::Path, e: rusqlite::Error) -> CentralError {
        CentralError::Store(doorstep_store::StoreError::sqlite(path, e))
    }

    /// True for errors the person running the command can fix.
    pub fn is_user_error(&self) -> bool {
        match self {
            CentralError::Store(e) => e.is_user_error(),
            CentralError::NotInitialized { .. } | CentralError::WrongRole { .. } => true,
            _ => false,
        }
    }
}
