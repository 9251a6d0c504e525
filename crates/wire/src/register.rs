//! Provisioning (`proto/sync-v1.md` section 16): a node (laptop or
//! station) proves it holds a one-time token central issued and registers
//! the Ed25519 public key it generated.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::NodeRole;
use crate::log::TreeHeadAnswer;

/// `POST` a registration.
pub const REGISTER_PATH: &str = "/v1/register";

/// `POST /v1/register` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub protocol: u32,
    /// The token as printed by `doorstep central provision` (case, spaces
    /// and dashes do not matter).
    pub token: String,
    /// The ID the node chose for itself (UUIDv7).
    pub node_id: Uuid,
    /// What the node is; must match what the token was issued for.
    pub role: NodeRole,
    /// The node's Ed25519 public key, lowercase hex.
    pub public_key: String,
}

/// `POST /v1/register` response body (200): what the node was registered as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAnswer {
    pub node_id: Uuid,
    pub role: NodeRole,
    /// The unit the node may submit records for (it and the units under it).
    pub unit_code: String,
    pub name: String,
    /// For a laptop: the station it syncs through, if it was provisioned for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_id: Option<Uuid>,
    /// For a laptop: which biometrics its card applications must carry
    /// (`proto/attachments-v1.md` 3.1; e.g. `none`, `face,all`). Central
    /// checks every record against it; the laptop keeps it and checks first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometrics: Option<String>,
    pub registered_at: String,
    /// Central's ID and its audit log's current signed head and key: the
    /// node pins this key from now on.
    pub central_id: Uuid,
    pub log: TreeHeadAnswer,
    /// Central's X25519 key that laptops seal citizen data to (§17),
    /// lowercase hex; a laptop keeps it from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_key: Option<String>,
}
