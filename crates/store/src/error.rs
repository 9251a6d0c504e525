//! Store errors. A damaged database is reported, never repaired by
//! deleting it: it may hold records no one else has.

use std::path::PathBuf;

use rusqlite::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no Doorstep store in {path}: run `doorstep field init` first")]
    NotInitialized { path: PathBuf },

    #[error("a Doorstep store already exists at {path}; it was left untouched")]
    AlreadyInitialized { path: PathBuf },

    #[error(
        "the store {path} is damaged ({source}). It was NOT changed or deleted: it may hold records not yet synced. \
         Keep a copy (cp {path} {path}.bak), then recover what it holds with \
         `sqlite3 {path} .recover | sqlite3 recovered.sqlite3` and ask support to import it"
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "the store {path} is damaged (SQLite quick_check: {problems}). It was NOT changed or deleted: it may hold records not yet synced. \
         Keep a copy (cp {path} {path}.bak), then recover what it holds with \
         `sqlite3 {path} .recover | sqlite3 recovered.sqlite3` and ask support to import it; enroll new records into a new data directory meanwhile"
    )]
    Damaged { path: PathBuf, problems: String },

    #[error(
        "the store {path} has schema version {found}, newer than this doorstep understands ({supported}): \
         upgrade doorstep; the store was not changed"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("the store {path} is busy (another doorstep process holds it for too long); try again")]
    Busy {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the store {path} cannot use write-ahead logging (journal mode is `{mode}`); use a local disk"
    )]
    NoWal { path: PathBuf, mode: String },

    #[error("unit list: {0}")]
    Units(#[from] doorstep_core::units::UnitsError),

    #[error("the device's unit `{code}` is not in the unit list")]
    UnknownDeviceUnit { code: String },

    #[error("record #{seq} in the store is not valid canonical data: {source}")]
    BadRecord {
        seq: i64,
        #[source]
        source: doorstep_core::canonical::CanonicalError,
    },

    #[error("store data is inconsistent: {0}")]
    Inconsistent(String),

    /// The store holds citizen data only encrypted; this needs it open.
    #[error(
        "the store {path} is locked: {what} needs the officer's passphrase \
         (type it when asked, or set DOORSTEP_PASSPHRASE for scripts)"
    )]
    Locked { path: PathBuf, what: &'static str },

    #[error("wrong passphrase for the store {path}: nothing was read or changed")]
    WrongPassphrase { path: PathBuf },

    #[error("passphrase: {0}")]
    Passphrase(#[source] doorstep_crypto::CryptoError),

    /// A record's ciphertext does not decrypt under the store's key.
    #[error("record #{seq} in the store cannot be decrypted: {source}")]
    Undecryptable {
        seq: i64,
        #[source]
        source: doorstep_crypto::CryptoError,
    },

    /// A worklist entry's ciphertext does not decrypt under the store's key.
    #[error("worklist entry {person_id} in the store cannot be decrypted: {source}")]
    WorklistUndecryptable {
        person_id: u64,
        #[source]
        source: doorstep_crypto::CryptoError,
    },

    /// A worklist page that does not follow the protocol: nothing of it
    /// was applied.
    #[error("the worklist page from the server was not applied: {0}")]
    WorklistPage(String),

    #[error("cannot protect citizen data: {0}")]
    Crypto(#[source] doorstep_crypto::CryptoError),

    #[error("SQLite error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Classifies a SQLite error: corruption and lock contention get their
    /// own variants so callers can tell the user what to do.
    pub fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Corrupt { path, source }
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy { path, source }
            }
            _ => StoreError::Sqlite { path, source },
        }
    }

    /// True for errors a user can fix (wrong directory, existing store…),
    /// as opposed to failures of the machine or the software.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::NotInitialized { .. }
                | StoreError::AlreadyInitialized { .. }
                | StoreError::Units(_)
                | StoreError::UnknownDeviceUnit { .. }
                | StoreError::TooNew { .. }
                | StoreError::Locked { .. }
                | StoreError::WrongPassphrase { .. }
                | StoreError::Passphrase(_)
        )
    }
}
