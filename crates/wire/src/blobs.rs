//! The resumable blob upload of `proto/attachments-v1.md` section 5: its
//! headers and the answer to a completed upload.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Issuer;

/// `HEAD` and `PATCH` path of one blob, by its plaintext SHA-256.
pub fn blob_path(sha256: &str) -> String {
    format!("/v1/blobs/{sha256}")
}

/// The feature `/healthz` lists when a node takes attachments.
pub const FEATURE: &str = "attachments";
/// Content type of a chunk.
pub const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";
pub const UPLOAD_OFFSET_HEADER: &str = "upload-offset";
pub const UPLOAD_LENGTH_HEADER: &str = "upload-length";
pub const UPLOAD_CHECKSUM_HEADER: &str = "upload-checksum";
/// SHA-256 of the whole object uploaded (the sealed blob, or the plaintext).
pub const SEALED_SHA256_HEADER: &str = "doorstep-sealed-sha256";
/// `complete`, `partial` or `absent` (HEAD).
pub const BLOB_STATE_HEADER: &str = "doorstep-blob-state";
/// Size of a blob held whole (HEAD).
pub const BLOB_SIZE_HEADER: &str = "doorstep-blob-size";
/// Largest chunk body.
pub const MAX_CHUNK: usize = 256 * 1024;

/// A record a completed blob made complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobCompleted {
    pub record_id: Uuid,
    pub content_hash: String,
}

/// The answer (200) when the node holds the blob whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobAnswer {
    pub protocol: u32,
    pub issuer: Issuer,
    pub sha256: String,
    pub sealed_sha256: String,
    /// Plaintext size at central.
    pub size: u64,
    /// Always `complete`.
    pub state: String,
    pub received_at: String,
    /// Records this upload made complete (central); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completes: Vec<BlobCompleted>,
}
