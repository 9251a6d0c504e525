//! Signed requests (`proto/sync-v1.md`, "Request authentication"): a
//! registered node signs each request with its Ed25519 key over the
//! method, path, time, a nonce and the SHA-256 of the body as sent.

/// The sending node's ID.
pub const NODE_HEADER: &str = "doorstep-node";
/// The sender's clock, milliseconds since the Unix epoch (UTC).
pub const TIME_HEADER: &str = "doorstep-time";
/// 16 random bytes, lowercase hex: never used twice by a node.
pub const NONCE_HEADER: &str = "doorstep-nonce";
/// Ed25519 signature over [`request_message`], lowercase hex.
pub const SIGNATURE_HEADER: &str = "doorstep-signature";

/// How far the sender's clock may be from the receiver's.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

const CONTEXT: &[u8] = b"doorstep-request-v1\n";

/// The bytes a node signs for one request.
pub fn request_message(
    method: &str,
    path: &str,
    time_ms: u64,
    nonce: &str,
    body_sha256: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + method.len() + path.len() + 128);
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(method.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(path.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(time_ms.to_string().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(hex::encode(body_sha256).as_bytes());
    m
}
