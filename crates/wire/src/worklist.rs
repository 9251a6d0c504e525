//! Worklists (`proto/worklist-v1.md`): the residents a device is assigned
//! to reach, sent down from central (or a commune station) as a feed of
//! changes ordered by the server's revision counter, paged and resumable.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST` (signed) a worklist request.
pub const WORKLIST_PATH: &str = "/v1/worklist";
/// Most changes in one page.
pub const MAX_WORKLIST_PAGE: u32 = 2_000;
/// Changes in one page when the request does not say.
pub const DEFAULT_WORKLIST_PAGE: u32 = 500;

/// Where the last complete download left the device: the server's revision
/// counter and the fingerprint of the device's assignments then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistCheckpoint {
    pub rev: u64,
    pub scope: String,
}

/// `POST /v1/worklist` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistRequest {
    pub protocol: u32,
    /// The checkpoint of the last complete download; `None` for a first
    /// download (everything assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<WorklistCheckpoint>,
    /// Resuming a download: the `cursor` of the last page applied, with
    /// the same `since` as that download's first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Most changes wanted in this page (at most [`MAX_WORKLIST_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What a device is assigned: units (and every unit under them) and
/// households.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub households: Vec<String>,
}

/// `POST /v1/worklist` response body (200): one page of changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistPage {
    pub protocol: u32,
    /// The node that answered (central or a station).
    pub issuer: Uuid,
    /// A full download: `since` was absent or the assignments changed.
    /// When its last page is applied, the device keeps only the people
    /// this download sent.
    pub full: bool,
    /// Fingerprint of the device's assignments; goes into the checkpoint.
    pub scope: String,
    pub assignment: Assignment,
    /// In revision order.
    pub changes: Vec<WorklistChange>,
    /// Pass as `after` to get the next page; with `more == false`, the
    /// `rev` of the new checkpoint.
    pub cursor: u64,
    pub more: bool,
    /// For a station asking: the laptops registered under it, their keys
    /// and what central assigned them (first page only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<StationDevice>>,
}

/// One change of the feed.
#[allow(
    clippy::large_enum_variant,
    reason = "almost every change is a Put: boxing would add an allocation per person"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WorklistChange {
    /// Add or replace this person.
    Put { rev: u64, person: WorklistPerson },
    /// The person left the device's worklist (reached, reassigned, moved
    /// out of its units, or removed from the roster).
    Remove { rev: u64, id: u64 },
}

impl WorklistChange {
    pub fn rev(&self) -> u64 {
        match self {
            WorklistChange::Put { rev, .. } | WorklistChange::Remove { rev, .. } => *rev,
        }
    }
}

/// A resident still to reach, as the device sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistPerson {
    /// Central's ID for this roster entry (not the personal ID number).
    pub id: u64,
    pub personal_id: String,
    pub full_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `male` | `female`.
    pub sex: String,
    /// Unit of the permanent address (the roster's).
    pub unit_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<String>,
    /// What the person still needed at import: `card`, `eid_registration`,
    /// `eid_activation`.
    pub needs: Vec<String>,
    /// Needs central already holds a record for.
    #[serde(default)]
    pub covered: Vec<String>,
    /// The unit whose teams are to reach the person now: `unit_code`, or
    /// the unit the person was referred to.
    pub worklist_unit: String,
    /// Set when the person was referred here from their own unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_from: Option<String>,
    /// `open` or `review` (teams reported contradictory outcomes).
    pub status: String,
    /// Why the person is still to reach: `not_visited`, `not_home`,
    /// `cannot_travel`, `refused`, `moved`, `partly_enrolled`, `review`.
    pub reason: String,
    /// Visits central knows of.
    pub visits: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit_at: Option<String>,
}

/// A laptop registered under the asking station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationDevice {
    pub device_id: Uuid,
    /// Ed25519 public key, lowercase hex.
    pub public_key: String,
    pub unit_code: String,
    pub name: String,
    pub revoked: bool,
    /// What central assigned it (the station may add to it).
    pub assignment: Assignment,
}
