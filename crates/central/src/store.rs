//! The storage trait central's ingest runs on, and the types it exchanges.
//! The embedded SQLite backend is [`crate::SqliteCentral`]; every backend
//! passes the same conformance suite (`tests/conformance.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use doorstep_core::record::{VisitPlace, VisitReason};
use doorstep_core::{ContentHash, RecordKind, Units};
use doorstep_wire::log::{
    ConsistencyAnswer, DeviceRecordsAnswer, InclusionAnswer, JournalHead, LogEntryLine, ReceiptLog,
    SessionLine, TreeHeadAnswer,
};
use doorstep_wire::{CustodyKey, CustodyLine, OutcomeCounts, RecordReceipt, Sender, WireViolation};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::AuditReport;
use crate::error::CentralError;
use crate::registry::RegistryError;
use crate::reports::{CampaignSummary, ConflictLine, ImportedCampaign};
use doorstep_core::campaign::Target;
use doorstep_core::progress::VisitCount;
use doorstep_wire::register::{RegisterAnswer, RegisterRequest};

/// A received batch after the checks of [`crate::check`], ready to apply.
#[derive(Debug)]
pub struct IncomingBatch {
    pub batch_id: Uuid,
    pub session_id: Uuid,
    pub sender: Sender,
    /// The sending laptop's journal head, if it sent one.
    pub journal: Option<JournalHead>,
    pub received_at: DateTime<Utc>,
    /// Request body size as sent (compressed if it was).
    pub bytes_in: u64,
    /// Time spent reading and checking the batch before it is applied.
    pub check_ms: u64,
    pub records: Vec<Incoming>,
}

/// One record of a batch, checked.
#[derive(Debug)]
pub enum Incoming {
    /// Well-formed, canonical and valid: the store decides between
    /// accepted, duplicate and conflict.
    Valid(CheckedRecord),
    /// Refused by the checks: recorded and answered `invalid`.
    Invalid(Refused),
}

/// A record that passed every check.
#[derive(Debug)]
pub struct CheckedRecord {
    pub content_hash: ContentHash,
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub kind: RecordKind,
    pub enrolled_at: String,
    /// The canonical record bytes; on a station, for a sealed record,
    /// the record as sealed (`SealedRecord` JSON).
    pub canonical: Vec<u8>,
    /// `canonical` holds the record as sealed (a station relaying what it
    /// cannot open).
    pub sealed: bool,
    /// The device's signature over the content hash, as sent.
    pub signature: Option<[u8; 64]>,
    /// What campaign progress counts; `None` for a record kept sealed.
    pub visit: Option<VisitFacts>,
    /// The attachments the record names: SHA-256 (hex) and size; empty
    /// for a record kept sealed (a station cannot read them).
    pub attachments: Vec<(String, u64)>,
    /// Who the record is about, for worklists; `None` for a record kept
    /// sealed or of a kind worklists do not follow.
    pub person: Option<PersonFacts>,
}

/// What a record tells a worklist about a person (`proto/worklist-v1.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFacts {
    pub personal_id: String,
    /// The visit time as written (RFC 3339 with offset).
    pub at: String,
    /// For a `visit_outcome`: what the team found.
    pub result: Option<doorstep_core::record::OutcomeKind>,
    /// For a referral or a move: the unit the person is to be reached in.
    pub unit_code: Option<String>,
    pub supersedes: Option<Uuid>,
}

impl PersonFacts {
    /// The facts of `rec`, when worklists follow its kind.
    pub fn of(rec: &doorstep_core::Record) -> Option<PersonFacts> {
        let b = &rec.body;
        let follows = b.kind == RecordKind::VisitOutcome
            || doorstep_core::roster::Need::covered_by(b.kind).is_some();
        follows.then(|| PersonFacts {
            personal_id: b.citizen.personal_id.clone(),
            at: doorstep_core::canonical::format_visit_time(&b.visit.at),
            result: b.outcome.as_ref().map(|o| o.result),
            unit_code: b.outcome.as_ref().and_then(|o| o.unit_code.clone()),
            supersedes: b.supersedes,
        })
    }
}

/// Where and when a record's visit took place, and the record it corrects:
/// what campaign progress counts (`proto/reports-v1.md` section 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VisitFacts {
    pub unit_code: String,
    /// The visit's date where it happened (`visit.at`'s local date).
    pub day: NaiveDate,
    pub place: VisitPlace,
    pub reason: Option<VisitReason>,
    pub supersedes: Option<Uuid>,
}

impl VisitFacts {
    pub fn of(rec: &doorstep_core::Record) -> VisitFacts {
        VisitFacts {
            unit_code: rec.body.visit.unit_code.clone(),
            day: rec.body.visit.at.date_naive(),
            place: rec.body.visit.place,
            reason: rec.body.visit.reason,
            supersedes: rec.body.supersedes,
        }
    }
}

/// A record refused by the checks, with whatever could be read from it.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The content hash as sent.
    pub content_hash: String,
    pub record_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub device_seq: Option<u64>,
    /// The device really used this sequence number (the record decoded
    /// and hashed correctly, only its content broke a rule): it counts as
    /// seen for gap detection.
    pub seq_seen: bool,
    pub code: String,
    pub reason: String,
    pub reason_vi: String,
    pub violations: Vec<WireViolation>,
    /// The bytes as received, kept as evidence.
    pub canonical: Option<Vec<u8>>,
}

/// Where central stores what it ingests. Implementations apply a batch in
/// one transaction: all of it or none of it.
#[async_trait]
pub trait CentralStore: Send + Sync + 'static {
    /// This central's node ID (issuer of receipts).
    fn node_id(&self) -> Uuid;

    /// The unit list records are validated against.
    fn units(&self) -> Arc<Units>;

    /// Opens records sealed to this node (central); `None` for a node that
    /// relays sealed records unopened (a station).
    fn opener(&self) -> Option<Arc<doorstep_crypto::Opener>> {
        None
    }

    /// Where this node keeps attachment blobs, when it takes them
    /// (`attachments` in `/healthz`); `None`: records naming attachments
    /// are refused.
    fn blobs(&self) -> Option<Arc<dyn crate::blobs::BlobBytes>> {
        None
    }

    /// What the node knows of a blob: held whole (size), and the size the
    /// held records naming it give (`None`: no held record names it).
    async fn blob_facts(&self, _sha256: &str) -> Result<BlobFacts, CentralError> {
        Ok(BlobFacts::default())
    }

    /// A station's answer for a sealed object: its size when held whole
    /// (received, relayed or not). Central answers by plaintext hash
    /// ([`Self::blob_facts`]).
    async fn sealed_blob_held(&self, _sealed_sha256: &str) -> Result<Option<u64>, CentralError> {
        Ok(None)
    }

    /// Marks a blob held whole (its bytes are already stored durably in
    /// [`Self::blobs`]) and notes the object it came in; returns the held
    /// records this made complete.
    async fn blob_completed(
        &self,
        _completion: BlobCompletion,
    ) -> Result<Vec<(Uuid, String)>, CentralError> {
        Err(CentralError::Unsupported("attachments"))
    }

    /// Applies a checked batch and appends its entry to the audit log;
    /// returns one receipt line per record, in the batch's order, and the
    /// entry's place in the log with a signed tree head and proof.
    async fn apply(&self, batch: IncomingBatch) -> Result<Applied, CentralError>;

    /// The newest signed tree head and the log's public key.
    async fn tree_head(&self) -> Result<TreeHeadAnswer, CentralError>;

    /// Log entries `start..end` (end exclusive, clipped to the log).
    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<LogEntryLine>, CentralError>;

    /// Inclusion proof of entry `index` in the tree of `tree_size` entries.
    async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionAnswer, CentralError>;

    /// Consistency proof between two tree sizes.
    async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyAnswer, CentralError>;

    /// Sync sessions, newest first, optionally of one sender and since a time.
    async fn sessions(&self, query: SessionQuery) -> Result<Vec<SessionLine>, CentralError>;

    /// What central knows of these nodes (registered ones only), for
    /// [`crate::check::Policy`].
    async fn grants(
        &self,
        nodes: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, crate::check::NodeGrant>, CentralError>;

    /// Registers a laptop or station against a one-time token
    /// (`POST /v1/register`); the answer carries the log's current head.
    async fn register(
        &self,
        request: RegisterRequest,
        now: DateTime<Utc>,
    ) -> Result<RegisterAnswer, RegistryError>;

    /// Issues a one-time enrollment token for a laptop or station of
    /// `unit_code` (`central provision`).
    #[allow(clippy::too_many_arguments)] // one per property of the token
    async fn issue_token(
        &self,
        role: doorstep_wire::NodeRole,
        unit_code: &str,
        name: &str,
        station_id: Option<Uuid>,
        biometrics: doorstep_core::record::BiometricPolicy,
        valid_for: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<crate::registry::IssuedToken, RegistryError>;

    /// Every registered laptop and station, oldest first (`central devices`).
    async fn list_nodes(&self) -> Result<Vec<crate::registry::RegisteredNode>, RegistryError>;

    /// Revokes a laptop or station: from now on nothing it sends is
    /// accepted (`central revoke`).
    async fn revoke_node(
        &self,
        node_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::registry::RegisteredNode, RegistryError>;

    /// What is held from one device, in sequence order, after `after_seq`.
    async fn device_records(
        &self,
        device_id: Uuid,
        after_seq: u64,
        limit: u64,
    ) -> Result<DeviceRecordsAnswer, CentralError>;

    /// What central holds.
    async fn status(&self) -> Result<CentralStatus, CentralError>;

    /// Where each record stands here (see [`doorstep_wire::CustodyState`]).
    async fn custody(&self, keys: Vec<CustodyKey>) -> Result<Vec<CustodyLine>, CentralError>;

    /// Replaces every target of the campaigns `targets` name, at once.
    async fn import_targets(
        &self,
        targets: Vec<Target>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ImportedCampaign>, CentralError>;

    /// Every campaign imported, newest start first.
    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, CentralError>;

    /// One campaign's targets (none if it is not known).
    async fn campaign_targets(&self, campaign: &str) -> Result<Vec<Target>, CentralError>;

    /// The progress counts of these kinds for visit days `from..=to`.
    async fn visit_counts(
        &self,
        kinds: Vec<RecordKind>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<VisitCount>, CentralError>;

    /// Every device heard of: its sequence marks, gaps and journal head
    /// (what `status` lists, without the totals over every record).
    async fn devices(&self) -> Result<Vec<DeviceStatus>, CentralError>;

    /// Records refused as conflicts: how many, and the newest `limit`.
    async fn conflicts(&self, limit: u64) -> Result<(u64, Vec<ConflictLine>), CentralError>;

    /// Checks the audit log as `doorstep audit verify` does.
    async fn verify_log(&self) -> Result<AuditReport, CentralError>;

    /// One page of `device`'s worklist feed (`proto/worklist-v1.md`).
    /// Backends without worklists answer [`CentralError::Unsupported`].
    async fn worklist_page(
        &self,
        _device: uuid::Uuid,
        _request: doorstep_wire::worklist::WorklistRequest,
    ) -> Result<doorstep_wire::worklist::WorklistPage, CentralError> {
        Err(CentralError::Unsupported("worklists"))
    }

    /// A laptop registered under this station, as central reported it:
    /// its key and whether it was revoked. Only stations know any.
    async fn station_device_key(
        &self,
        _device: uuid::Uuid,
    ) -> Result<Option<([u8; 32], bool)>, CentralError> {
        Ok(None)
    }

    /// The coverage report (`GET /v1/reports/coverage`): aggregates per
    /// unit; with `people`, also who is flagged and who is left.
    async fn coverage(
        &self,
        _under: Option<String>,
        _people: bool,
    ) -> Result<crate::worklist::CoverageReport, CentralError> {
        Err(CentralError::Unsupported("worklists"))
    }

    /// Loads a roster extract in one transaction (`central roster
    /// import`): new residents added, changed ones updated, people of the
    /// file's units it no longer lists taken off the worklists.
    async fn import_roster(
        &self,
        _residents: Vec<doorstep_core::roster::Resident>,
        _now: DateTime<Utc>,
    ) -> Result<crate::worklist::RosterImport, CentralError> {
        Err(CentralError::Unsupported("worklists"))
    }

    /// Changes what `device` is assigned (`central assign`): a registered,
    /// unrevoked node, units of the unit list within the unit it was
    /// provisioned for (on a station: a laptop central registered under
    /// it, units within what central assigned the station). Answers the
    /// device's whole assignment.
    async fn assign(
        &self,
        _device: Uuid,
        _mode: crate::worklist::AssignMode,
        _units: Vec<String>,
        _households: Vec<String>,
        _now: DateTime<Utc>,
    ) -> Result<doorstep_wire::worklist::Assignment, crate::worklist::AssignError> {
        Err(CentralError::Unsupported("worklists").into())
    }

    /// Every device's assignment and how many people it covers now.
    async fn assignments(&self) -> Result<Vec<crate::worklist::AssignmentLine>, CentralError> {
        Err(CentralError::Unsupported("worklists"))
    }

    /// Roster size (`people`), people still to reach (`remaining`), people
    /// flagged (`review`) and the feed's head (`rev`).
    async fn roster_counts(
        &self,
    ) -> Result<std::collections::HashMap<&'static str, u64>, CentralError> {
        Err(CentralError::Unsupported("worklists"))
    }
}

/// What a node knows of one blob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobFacts {
    /// Held whole: its plaintext size (central) or object size (station).
    pub held: Option<u64>,
    /// The plaintext size the held records naming it give.
    pub named_size: Option<u64>,
}

/// A blob whose upload just completed and was checked.
#[derive(Debug, Clone)]
pub struct BlobCompletion {
    pub sha256: String,
    pub sealed_sha256: String,
    /// Plaintext size.
    pub size: u64,
    /// Size of the object as uploaded.
    pub object_size: u64,
    pub sender: Uuid,
    pub at: DateTime<Utc>,
}

/// What applying a batch answered.
#[derive(Debug)]
pub struct Applied {
    pub lines: Vec<RecordReceipt>,
    pub log: ReceiptLog,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    /// Only sessions of this sender (laptop or station).
    pub node_id: Option<Uuid>,
    /// Only sessions active at or after this time (RFC 3339, UTC).
    pub since: Option<String>,
    pub limit: u64,
}

/// `doorstep central status`.
#[derive(Debug, Clone, Serialize)]
pub struct CentralStatus {
    pub node_id: Uuid,
    /// Records held (accepted).
    pub records: u64,
    pub by_kind: Vec<(String, u64)>,
    /// Every outcome answered so far, summed over sessions.
    pub outcomes: OutcomeCounts,
    /// Refusals kept for the audit, by outcome.
    pub refused_conflict: u64,
    pub refused_invalid: u64,
    pub devices: Vec<DeviceStatus>,
    pub sessions_total: u64,
    /// The most recent sessions, newest first.
    pub recent_sessions: Vec<SessionSummary>,
    pub units_source: String,
    pub units_count: usize,
}

/// Per device: what central has seen of its sequence.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceStatus {
    pub device_id: Uuid,
    pub name: Option<String>,
    pub records: u64,
    /// Every number up to this one has been seen.
    pub contiguous_seq: u64,
    /// The highest number seen.
    pub max_seq: u64,
    /// Ranges of numbers never seen, inclusive, between the two.
    pub gaps: Vec<(u64, u64)>,
    pub first_seen_at: String,
    pub last_sync_at: String,
    /// The device's journal head as last received.
    pub journal: Option<JournalHead>,
}

/// One sync session as central logged it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    pub session_id: Uuid,
    pub node_id: Uuid,
    pub role: String,
    pub client_version: String,
    pub started_at: String,
    pub last_batch_at: String,
    pub batches: u64,
    pub counts: OutcomeCounts,
    pub bytes_in: u64,
    /// Time central spent on the session's batches.
    pub busy_ms: u64,
}
