//! Authenticating signed requests: the node is registered and not
//! revoked, its clock is within [`MAX_CLOCK_SKEW_MS`], the nonce is new,
//! and the signature covers this method, path, time, nonce and body.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};
use doorstep_wire::auth::{
    MAX_CLOCK_SKEW_MS, NODE_HEADER, NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER, request_message,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AppState, ProblemResponse};
use crate::store::CentralStore;

/// Nonces seen within the skew window, per node. In memory: after a
/// restart a request from the last few minutes could be replayed once,
/// which is harmless (every batch is idempotent by record ID).
#[derive(Debug, Default)]
pub struct Nonces {
    seen: Mutex<HashMap<(Uuid, String), u64>>,
}

impl Nonces {
    /// Records `nonce` of `node` at `now_ms`; false if it was seen already.
    fn fresh(&self, node: Uuid, nonce: &str, now_ms: u64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        // Forget what is older than the window: it would be refused for its time anyway.
        if seen.len() > 4096 {
            seen.retain(|_, at| now_ms.saturating_sub(*at) <= 2 * MAX_CLOCK_SKEW_MS);
        }
        seen.insert((node, nonce.to_owned()), now_ms).is_none()
    }
}

fn refuse(status: StatusCode, code: &str, title: &str, detail: String) -> ProblemResponse {
    ProblemResponse::new(status, code, title, Some(detail))
}

/// The authenticated node, or `None` for an unsigned request a central
/// open to unregistered devices (or a station) accepts.
pub(crate) async fn authenticate<S: CentralStore>(
    state: &AppState<S>,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<Uuid>, ProblemResponse> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(node) = get(NODE_HEADER) else {
        if state.require_registration {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "auth.required",
                "Only registered devices may send",
                "the request is not signed: register this device (doorstep field register) and sync again".into(),
            ));
        }
        return Ok(None);
    };
    let malformed = |what: &str| {
        refuse(
            StatusCode::BAD_REQUEST,
            "auth.malformed",
            "The request's signature headers are not valid",
            what.to_owned(),
        )
    };
    let node = Uuid::parse_str(node).map_err(|_| malformed("doorstep-node is not a UUID"))?;
    let time: u64 = get(TIME_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| malformed("doorstep-time is not milliseconds since the epoch"))?;
    let nonce = get(NONCE_HEADER)
        .filter(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| malformed("doorstep-nonce is not 32 hex digits"))?;
    let mut signature = [0u8; 64];
    get(SIGNATURE_HEADER)
        .and_then(|s| hex::decode_to_slice(s, &mut signature).ok())
        .ok_or_else(|| malformed("doorstep-signature is not 128 hex digits"))?;

    let grants = state
        .store
        .grants(vec![node])
        .await
        .map_err(|e| super::unavailable(&e))?;
    // A station knows the laptops central registered under it (sent with
    // its worklist): their requests are checked like central checks them.
    let key = match grants.get(&node) {
        Some(grant) => Some((grant.public_key, grant.revoked)),
        None => state
            .store
            .station_device_key(node)
            .await
            .map_err(|e| super::unavailable(&e))?,
    };
    let Some((public_key, revoked)) = key else {
        if state.require_registration {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "auth.unknown_node",
                "The sending device is not registered",
                format!("node {node} is not registered with this server"),
            ));
        }
        // A station cannot know every laptop's key: central checks the records.
        return Ok(None);
    };
    if revoked {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "auth.revoked",
            "The sending device was revoked",
            format!("node {node} was revoked: nothing it sends is accepted"),
        ));
    }
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let skew = i128::from(time) - i128::from(now);
    if skew.unsigned_abs() > u128::from(MAX_CLOCK_SKEW_MS) {
        let minutes = skew.unsigned_abs() / 60_000;
        let seconds = (skew.unsigned_abs() / 1000) % 60;
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "auth.clock_skew",
            "The sending device's clock is wrong",
            format!(
                "the device's clock is {minutes} min {seconds} s {} the server's (at most {} min allowed): set the laptop's clock and sync again",
                if skew > 0 { "ahead of" } else { "behind" },
                MAX_CLOCK_SKEW_MS / 60_000
            ),
        ));
    }
    let body_hash: [u8; 32] = Sha256::digest(body).into();
    let message = request_message(method, path, time, nonce, &body_hash);
    let verified = ed25519_dalek::VerifyingKey::from_bytes(&public_key).is_ok_and(|key| {
        key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .is_ok()
    });
    if !verified {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "auth.bad_signature",
            "The request's signature does not verify",
            format!("not signed by node {node}'s registered key, or altered on the way"),
        ));
    }
    if !state.nonces.fresh(node, nonce, now) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "auth.replayed",
            "This request was already received",
            "the nonce was used before: a replayed request is refused".into(),
        ));
    }
    Ok(Some(node))
}
