//! Provisioning, backend-neutral: one-time enrollment tokens, registered
//! node keys, revocation, and why a request was refused. The SQLite
//! implementation is in `sqlite/registry.rs`.

use doorstep_core::record::BiometricPolicy;
use doorstep_wire::NodeRole;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::CentralError;

/// Random bytes in a token (160 bits).
const TOKEN_BYTES: usize = 20;

/// A token as issued: its text is shown once.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub role: NodeRole,
    pub unit_code: String,
    pub name: String,
    pub station_id: Option<Uuid>,
    /// What the laptop's card applications must carry.
    pub biometrics: BiometricPolicy,
    pub expires_at: String,
}

/// A registered laptop or station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredNode {
    pub node_id: Uuid,
    pub role: NodeRole,
    /// Lowercase hex Ed25519 public key.
    pub public_key: String,
    pub unit_code: String,
    pub name: String,
    pub station_id: Option<Uuid>,
    /// What its card applications must carry (`none` for a station).
    pub biometrics: BiometricPolicy,
    pub registered_at: String,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

/// Why a provisioning request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unit {0} is not in central's unit list")]
    UnknownUnit(String),
    #[error("station {0} is not a registered, active station")]
    UnknownStation(Uuid),
    #[error("this token is not one central issued (mistyped?)")]
    UnknownToken,
    #[error("this token was already used, at {at}; ask for a new one")]
    TokenUsed { at: String },
    #[error("this token expired at {at}; ask for a new one")]
    TokenExpired { at: String },
    #[error("this token is for a {token} node, not a {node}")]
    WrongRole {
        token: &'static str,
        node: &'static str,
    },
    #[error("`{0}` is not an Ed25519 public key (64 hex digits)")]
    BadKey(String),
    #[error("node {0} is already registered")]
    NodeExists(Uuid),
    #[error("this public key is already registered to node {0}")]
    KeyInUse(Uuid),
    #[error("node {0} is not registered")]
    UnknownNode(Uuid),
    #[error("node {node} was already revoked, at {at}")]
    AlreadyRevoked { node: Uuid, at: String },
    #[error(transparent)]
    Store(#[from] CentralError),
}

impl RegistryError {
    /// A stable code for problem documents and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::UnknownUnit(_) => "unit.unknown",
            RegistryError::UnknownStation(_) => "station.unknown",
            RegistryError::UnknownToken => "token.unknown",
            RegistryError::TokenUsed { .. } => "token.used",
            RegistryError::TokenExpired { .. } => "token.expired",
            RegistryError::WrongRole { .. } => "token.wrong_role",
            RegistryError::BadKey(_) => "key.invalid",
            RegistryError::NodeExists(_) => "node.exists",
            RegistryError::KeyInUse(_) => "key.in_use",
            RegistryError::UnknownNode(_) => "node.unknown",
            RegistryError::AlreadyRevoked { .. } => "node.revoked",
            RegistryError::Store(_) => "store.unavailable",
        }
    }
}

/// The token text normalised: upper case, no spaces or dashes.
pub fn normalise_token(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

pub(crate) fn token_hash(text: &str) -> Vec<u8> {
    Sha256::digest(normalise_token(text).as_bytes()).to_vec()
}

/// A new token: 160 random bits in base32, in groups of four.
pub(crate) fn new_token() -> Result<String, CentralError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| CentralError::Inconsistent(format!("no randomness for a token: {e}")))?;
    let text = data_encoding::BASE32_NOPAD.encode(&bytes);
    let groups: Vec<String> = text
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(groups.join("-"))
}

pub(crate) fn role_str(role: NodeRole) -> &'static str {
    role.as_str()
}

pub(crate) fn parse_role(s: &str) -> NodeRole {
    if s == "station" {
        NodeRole::Station
    } else {
        NodeRole::Field
    }
}

/// The Ed25519 public key a node registers (lowercase hex), checked.
pub(crate) fn parse_public_key(text: &str) -> Result<[u8; 32], RegistryError> {
    <[u8; 32]>::try_from(hex::decode(text).unwrap_or_default().as_slice())
        .ok()
        .filter(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| RegistryError::BadKey(text.to_owned()))
}

/// An unused token's checks: not expired at `now`, issued for `role`.
pub(crate) fn check_token(
    expires_at: String,
    token_role: &str,
    role: NodeRole,
    now: &chrono::DateTime<chrono::Utc>,
) -> Result<(), RegistryError> {
    // Stored times are UTC with a `Z`, in one format: they compare as text.
    if expires_at <= doorstep_core::canonical::format_utc_millis(now) {
        return Err(RegistryError::TokenExpired { at: expires_at });
    }
    let token_role = parse_role(token_role);
    if token_role != role {
        return Err(RegistryError::WrongRole {
            token: role_str(token_role),
            node: role_str(role),
        });
    }
    Ok(())
}

/// The refusal when `other` already holds the node ID or the key.
pub(crate) fn already_registered(other: Uuid, node_id: Uuid) -> RegistryError {
    if other == node_id {
        RegistryError::NodeExists(node_id)
    } else {
        RegistryError::KeyInUse(other)
    }
}

/// A policy as stored (its spelling); an unreadable one requires
/// everything rather than nothing.
pub(crate) fn parse_biometrics(spec: &str) -> BiometricPolicy {
    BiometricPolicy::parse(spec).unwrap_or(BiometricPolicy::FULL)
}
