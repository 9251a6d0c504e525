//! The bytes of attachment blobs (proto/attachments-v1.md, sections 5 and
//! 11): partial uploads, appended one checked chunk at a time and resumable
//! from their offset, and complete objects named by the SHA-256 of their
//! bytes. Only storage: the HTTP layer checks signatures, chunk checksums
//! and hashes, and keeps the metadata (which record names which blob).
//!
//! Two backends behind [`BlobBytes`]: [`DirBlobs`], files in a data
//! directory (the embedded default, and commune stations), and [`PgBlobs`],
//! tables in central's PostgreSQL database (schema version 3).

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

mod dir;
mod pg;

pub use dir::DirBlobs;
pub use pg::PgBlobs;

/// Largest plaintext blob (4 MiB).
pub const MAX_BLOB_LEN: u64 = 4 * 1024 * 1024;
/// A sealed object is its plaintext and this many bytes (header, nonce, tag).
pub const SEAL_OVERHEAD: u64 = 121;
/// Largest upload (`Upload-Length`) and largest stored object.
pub const MAX_SEALED_LEN: u64 = MAX_BLOB_LEN + SEAL_OVERHEAD;
/// Largest chunk the protocol lets a sender PATCH (enforced by the HTTP layer).
pub const MAX_CHUNK: usize = 256 * 1024;
/// Most partial uploads open at once on one node.
pub const MAX_OPEN_UPLOADS: usize = 64;

/// Identifies one upload: the plaintext hash the record names and the hash
/// of the object as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadKey {
    pub sha256: String,
    pub sealed_sha256: String,
}

impl UploadKey {
    /// A key from two hashes, each 64 lower-case hex digits.
    pub fn new(sha256: &str, sealed_sha256: &str) -> Result<UploadKey, BlobError> {
        check_name(sha256)?;
        check_name(sealed_sha256)?;
        Ok(UploadKey {
            sha256: sha256.to_owned(),
            sealed_sha256: sealed_sha256.to_owned(),
        })
    }

    /// Checks a key made without [`UploadKey::new`] (its fields are public).
    fn check(&self) -> Result<(), BlobError> {
        check_name(&self.sha256)?;
        check_name(&self.sealed_sha256)
    }
}

/// How far an open upload has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialUpload {
    /// Bytes held, from the start.
    pub offset: u64,
    /// The total length declared by the first chunk.
    pub length: u64,
    /// When the last chunk was appended (microsecond precision).
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the chunk does not start at the upload's offset {expected}")]
    OffsetMismatch { expected: u64 },

    #[error("the upload was started with length {length}")]
    LengthMismatch { length: u64 },

    #[error("the chunk goes beyond the upload's length")]
    BeyondLength,

    #[error("too many partial uploads are open (at most {MAX_OPEN_UPLOADS})")]
    TooManyUploads,

    #[error("the object is larger than {MAX_SEALED_LEN} bytes")]
    TooLarge,

    #[error("{0:?} is not a blob name (64 lower-case hex digits)")]
    BadName(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("PostgreSQL, {what}: {source}")]
    Db {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("no PostgreSQL connection available: {0}")]
    Pool(String),

    /// `read_upload` of an upload that is not open (never started,
    /// discarded or expired).
    #[error("no such partial upload")]
    NoUpload,

    #[error("blob storage is inconsistent: {0}")]
    Inconsistent(String),
}

impl BlobError {
    /// True for refusals of what the sender asked (the HTTP layer answers
    /// them with a 4xx problem); false for the server's own failures.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            BlobError::OffsetMismatch { .. }
                | BlobError::LengthMismatch { .. }
                | BlobError::BeyondLength
                | BlobError::TooManyUploads
                | BlobError::TooLarge
                | BlobError::BadName(_)
        )
    }
}

/// Storage of blob bytes: partial uploads and complete objects.
#[async_trait::async_trait]
pub trait BlobBytes: Send + Sync + std::fmt::Debug + 'static {
    /// The partial upload under `key`, if one is open.
    async fn upload(&self, key: &UploadKey) -> Result<Option<PartialUpload>, BlobError>;

    /// Appends `chunk` at `offset` to the upload (creating it at offset 0
    /// with `length`), durably, and returns the new offset. Checks, in
    /// order: length ≤ [`MAX_SEALED_LEN`] (`TooLarge`); an open upload with
    /// another length (`LengthMismatch`); offset ≠ current offset
    /// (`OffsetMismatch`, 0 when none); offset + chunk > length
    /// (`BeyondLength`); creating one more than [`MAX_OPEN_UPLOADS`]
    /// (`TooManyUploads`). Nothing is stored on error. The chunk size is
    /// not checked here ([`MAX_CHUNK`] is the HTTP layer's limit). An empty
    /// chunk at offset 0 opens the upload.
    async fn append(
        &self,
        key: &UploadKey,
        length: u64,
        offset: u64,
        chunk: &[u8],
        now: DateTime<Utc>,
    ) -> Result<u64, BlobError>;

    /// The whole uploaded object (call when offset == length; earlier it
    /// is the bytes held so far). `NoUpload` when none is open.
    async fn read_upload(&self, key: &UploadKey) -> Result<Vec<u8>, BlobError>;

    /// Forgets an upload (no error if absent).
    async fn discard_upload(&self, key: &UploadKey) -> Result<(), BlobError>;

    /// Deletes partial uploads untouched since `before`; returns how many.
    async fn expire_uploads(&self, before: DateTime<Utc>) -> Result<u64, BlobError>;

    /// Stores a complete object under `name` (64 hex: the hash of its
    /// bytes, which the caller has checked), durably; idempotent (storing
    /// it again is a no-op). `TooLarge` above [`MAX_SEALED_LEN`] bytes.
    async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), BlobError>;

    /// A complete object's bytes, if held.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BlobError>;

    /// Whether a complete object is held (and its size).
    async fn size(&self, name: &str) -> Result<Option<u64>, BlobError>;

    /// Deletes a complete object (no error if absent).
    async fn delete(&self, name: &str) -> Result<(), BlobError>;

    /// Every complete object's name, sorted (for orphan checks and tests).
    async fn names(&self) -> Result<Vec<String>, BlobError>;
}

/// Whether `name` is 64 lower-case hex digits (so also never a path).
pub fn is_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_name(name: &str) -> Result<(), BlobError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(BlobError::BadName(name.chars().take(80).collect()))
    }
}

/// `t` to the microsecond, the precision both backends keep.
fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// The checks of [`BlobBytes::append`] after `TooLarge`, given the open
/// upload's `(length, offset)`; `open_uploads` counts the open uploads and
/// is asked only when the chunk would open a new one. Returns the new offset.
fn check_append(
    open: Option<(u64, u64)>,
    length: u64,
    offset: u64,
    chunk_len: usize,
    open_uploads: impl FnOnce() -> Result<usize, BlobError>,
) -> Result<u64, BlobError> {
    let (current, declared) = match open {
        Some((declared, current)) => {
            if declared != length {
                return Err(BlobError::LengthMismatch { length: declared });
            }
            (current, declared)
        }
        None => (0, length),
    };
    if offset != current {
        return Err(BlobError::OffsetMismatch { expected: current });
    }
    let end = u64::try_from(chunk_len)
        .ok()
        .and_then(|n| offset.checked_add(n))
        .ok_or(BlobError::BeyondLength)?;
    if end > declared {
        return Err(BlobError::BeyondLength);
    }
    if open.is_none() && open_uploads()? >= MAX_OPEN_UPLOADS {
        return Err(BlobError::TooManyUploads);
    }
    Ok(end)
}
