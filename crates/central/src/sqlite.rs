//! The embedded SQLite backend of central: one file in the data directory,
//! WAL with full fsync, one writer connection (a batch is one transaction),
//! numbered migrations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use doorstep_core::campaign::Target;
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::progress::VisitCount;
use doorstep_core::{ContentHash, RecordKind, Units};
use doorstep_store::sqlite::{apply_migrations, integrity_check, open_wal};
use doorstep_wire::{NodeRole, Outcome, OutcomeCounts, RecordReceipt};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use uuid::Uuid;

use crate::error::CentralError;
use crate::outcome;
use crate::reports::{CampaignSummary, ConflictLine, ImportedCampaign};
use crate::signing::LogSigner;
use crate::store::{
    Applied, CentralStatus, CentralStore, CheckedRecord, DeviceStatus, Incoming, IncomingBatch,
    Refused, SessionQuery, SessionSummary, VisitFacts,
};
use doorstep_wire::log::{
    ConsistencyAnswer, DeviceRecordsAnswer, InclusionAnswer, LogEntry, LogEntryLine, ReceiptLog,
    SessionLine, TreeHeadAnswer,
};

/// File name of central's database inside its data directory.
pub const DB_FILE: &str = "central.sqlite3";

mod attachments;
pub mod audit;
mod forward;
mod identity;
mod log;
mod registry;
mod relay;
mod reports;
mod witness;
mod worklist;
mod worklist_node;
pub use crate::worklist::{
    AssignMode, AssignmentLine, CoverageReport, RemainingPerson, ReviewOutcome, ReviewPerson,
    RosterImport,
};
pub use forward::{ForwardItem, SameCitizen, StationDeviceReport, StationReport, UpstreamAck};
pub use relay::{IncompleteUpstream, SealedToRelay};
pub use worklist::UpstreamApplied;

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_station.sql"),
    include_str!("../migrations/0003_log.sql"),
    include_str!("../migrations/0004_registry.sql"),
    include_str!("../migrations/0005_signatures.sql"),
    include_str!("../migrations/0006_station_identity.sql"),
    include_str!("../migrations/0007_sealing.sql"),
    include_str!("../migrations/0008_progress.sql"),
    include_str!("../migrations/0009_attachments.sql"),
    include_str!("../migrations/0010_station_blobs.sql"),
    include_str!("../migrations/0011_biometric_policy.sql"),
    include_str!("../migrations/0012_worklist.sql"),
];

/// The unit list to create a central store with.
#[derive(Debug, Clone)]
pub struct UnitSource {
    /// Where it came from (a file path, "built-in: …").
    pub source: String,
    /// The CSV; empty for the built-in 63 provinces.
    pub csv: Vec<u8>,
}

impl UnitSource {
    /// The list to store, with its SHA-256, given the stored list's hash
    /// and the list given now: the given one if it differs, the built-in
    /// provinces for a new store, otherwise none. Parsed first: a bad file
    /// never replaces a good list.
    pub(crate) fn to_store(
        stored_sha: Option<&str>,
        given: Option<UnitSource>,
    ) -> Result<Option<(UnitSource, String)>, CentralError> {
        let wanted = match (stored_sha, given) {
            (_, Some(u)) => u,
            (None, None) => UnitSource {
                source: "built-in: 63 provinces".into(),
                csv: Vec::new(),
            },
            (Some(_), None) => return Ok(None),
        };
        if !wanted.csv.is_empty() {
            Units::from_csv(&wanted.csv).map_err(doorstep_store::StoreError::Units)?;
        }
        let sha = ContentHash::of(&wanted.csv).to_hex();
        if stored_sha == Some(sha.as_str()) {
            return Ok(None);
        }
        if stored_sha.is_some() {
            tracing::info!(source = %wanted.source, "replacing central's unit list");
        }
        Ok(Some((wanted, sha)))
    }

    /// The units a stored list stands for (empty: the built-in provinces).
    pub(crate) fn parse_stored(csv: &[u8]) -> Result<Units, CentralError> {
        if csv.is_empty() {
            Ok(Units::builtin_provinces())
        } else {
            Ok(Units::from_csv(csv).map_err(doorstep_store::StoreError::Units)?)
        }
    }
}

/// Central on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteCentral {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    node_id: Uuid,
    role: NodeRole,
    units: Arc<Units>,
    units_source: String,
    signer: Arc<LogSigner>,
    /// Opens records sealed to this central (`None` on a station).
    opener: Option<Arc<doorstep_crypto::Opener>>,
    /// Attachment blobs, in `blobs/` and `uploads/` of the data directory:
    /// plaintext by SHA-256 at central, sealed objects by their own SHA-256
    /// at a station (which cannot open them and relays them).
    blobs: Option<Arc<dyn crate::blobs::BlobBytes>>,
}

impl SqliteCentral {
    pub fn db_path(dir: &Path) -> PathBuf {
        dir.join(DB_FILE)
    }

    /// Opens the store in `dir`, creating it first (with `units`, or the
    /// built-in provinces) if the directory holds none. With `units` on an
    /// existing store, its unit list is replaced when it differs.
    pub fn open_or_create(
        dir: &Path,
        units: Option<UnitSource>,
        now: DateTime<Utc>,
    ) -> Result<SqliteCentral, CentralError> {
        Self::open_or_create_as(dir, NodeRole::Central, units, now)
    }

    /// Like [`SqliteCentral::open_or_create`] for a node of `role`
    /// (central or station). A store made for one role is refused for the
    /// other: a station's data directory is never served as central.
    pub fn open_or_create_as(
        dir: &Path,
        role: NodeRole,
        units: Option<UnitSource>,
        now: DateTime<Utc>,
    ) -> Result<SqliteCentral, CentralError> {
        let path = Self::db_path(dir);
        let create = !path.exists();
        if create {
            create_private_dir(dir)?;
        }
        let mut conn = open_wal(&path, create)?;
        apply_migrations(&mut conn, &path, MIGRATIONS)?;
        let err = |e| CentralError::sqlite(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let at = format_utc_millis(&now);
        let node: Option<String> = tx
            .query_row("SELECT node_id FROM node WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let node_id = match node {
            Some(id) => Uuid::parse_str(&id)
                .map_err(|_| CentralError::Inconsistent(format!("node id `{id}` is not a UUID")))?,
            None => {
                let id = Uuid::now_v7();
                tx.execute(
                    "INSERT INTO node (id, node_id, created_at, role) VALUES (1, ?1, ?2, ?3)",
                    params![id.to_string(), at, role.as_str()],
                )
                .map_err(err)?;
                id
            }
        };
        let stored_role: String = tx
            .query_row("SELECT role FROM node WHERE id = 1", [], |r| r.get(0))
            .map_err(err)?;
        if stored_role != role.as_str() {
            return Err(CentralError::WrongRole {
                path: path.clone(),
                found: stored_role,
                wanted: role.as_str(),
            });
        }
        let stored: Option<(String, String)> = tx
            .query_row(
                "SELECT source, sha256 FROM unit_list WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        if let Some((u, sha)) = UnitSource::to_store(stored.as_ref().map(|s| s.1.as_str()), units)?
        {
            tx.execute(
                "INSERT INTO unit_list (id, source, sha256, csv, loaded_at) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET source = excluded.source, sha256 = excluded.sha256,
                    csv = excluded.csv, loaded_at = excluded.loaded_at",
                params![u.source, sha, u.csv, at],
            )
            .map_err(err)?;
        }
        let (units_source, csv): (String, Vec<u8>) = tx
            .query_row("SELECT source, csv FROM unit_list WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let signer = log::open_log(&tx, &path, dir, node_id, role, &now)?;
        let opener = match role {
            NodeRole::Central => Some(Arc::new(crate::sealing::open_seal_key(
                &tx, &path, dir, &at,
            )?)),
            _ => None,
        };
        tx.commit().map_err(err)?;
        let units = UnitSource::parse_stored(&csv)?;
        let blobs: Option<Arc<dyn crate::blobs::BlobBytes>> = match role {
            NodeRole::Central | NodeRole::Station => Some(Arc::new(
                crate::blobs::DirBlobs::open(dir).map_err(CentralError::Blob)?,
            )),
            NodeRole::Field => None,
        };
        Ok(SqliteCentral {
            blobs,
            conn: Arc::new(Mutex::new(conn)),
            path,
            node_id,
            role,
            units: Arc::new(units),
            units_source,
            signer: Arc::new(signer),
            opener,
        })
    }

    /// Opens an existing store (of either role); refuses a directory
    /// without one.
    pub fn open(dir: &Path) -> Result<SqliteCentral, CentralError> {
        let path = Self::db_path(dir);
        if !path.exists() {
            return Err(CentralError::NotInitialized {
                path: dir.to_path_buf(),
            });
        }
        let conn = open_wal(&path, false)?;
        let role: Option<String> = conn
            .query_row("SELECT role FROM node WHERE id = 1", [], |r| r.get(0))
            .optional()
            .unwrap_or(None);
        drop(conn);
        let role = match role.as_deref() {
            Some("station") => NodeRole::Station,
            _ => NodeRole::Central,
        };
        Self::open_or_create_as(dir, role, None, Utc::now())
    }

    /// The role this store was made for.
    pub fn role(&self) -> NodeRole {
        self.role
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA integrity_check` of the database file.
    pub fn integrity_check(&self) -> Result<Vec<String>, CentralError> {
        let conn = self.lock()?;
        integrity_check(&conn).map_err(|e| CentralError::sqlite(&self.path, e))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, CentralError> {
        self.conn
            .lock()
            .map_err(|_| CentralError::Task("the database connection was poisoned".into()))
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn blocking<T, F>(&self, f: F) -> Result<T, CentralError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Path) -> Result<T, CentralError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| CentralError::Task("the database connection was poisoned".into()))?;
            f(&mut guard, &path)
        })
        .await
        .map_err(|e| CentralError::Task(e.to_string()))?
    }

    /// Applies batches in one transaction, in order: each batch appends
    /// its own log entry, and one tree head (signed once) covers them all.
    /// For bulk loads (benchmarks, future imports of many files); the HTTP
    /// path and bundle import apply one batch per transaction.
    pub fn apply_all(&self, batches: &[IncomingBatch]) -> Result<Vec<Applied>, CentralError> {
        let mut guard = self.lock()?;
        Self::apply_many(&mut guard, &self.path, &self.signer, batches)
    }

    fn apply_many(
        conn: &mut Connection,
        path: &Path,
        signer: &LogSigner,
        batches: &[IncomingBatch],
    ) -> Result<Vec<Applied>, CentralError> {
        let err = |e| CentralError::sqlite(path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut placed = Vec::with_capacity(batches.len());
        for batch in batches {
            let lines = Self::apply_in(&tx, path, batch)?;
            let entry = LogEntry::new(
                batch.batch_id,
                batch.session_id,
                &batch.sender,
                batch.journal,
                &format_utc_millis(&batch.received_at),
                &lines,
            );
            let index = log::append(&tx, path, &entry)?;
            placed.push((lines, index));
        }
        let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let head = log::sign_head(&tx, path, signer, now)?;
        let mut applied = Vec::with_capacity(placed.len());
        for (lines, index) in placed {
            let proof = log::inclusion(&tx, path, index, head.tree_size)?;
            applied.push(Applied {
                lines,
                log: ReceiptLog {
                    index,
                    tree_head: head.clone(),
                    public_key: signer.public_key(),
                    inclusion: proof.path,
                },
            });
        }
        tx.commit().map_err(err)?;
        Ok(applied)
    }

    /// Applies one batch inside `tx`.
    fn apply_in(
        tx: &Transaction<'_>,
        path: &Path,
        batch: &IncomingBatch,
    ) -> Result<Vec<RecordReceipt>, CentralError> {
        let started = std::time::Instant::now();
        let err = |e| CentralError::sqlite(path, e);
        let at = format_utc_millis(&batch.received_at);
        let batch_id = batch.batch_id.to_string();
        let relayed_by = (batch.sender.role == doorstep_wire::NodeRole::Station)
            .then(|| batch.sender.node_id.to_string());
        let mut receipts = Vec::with_capacity(batch.records.len());
        let mut counts = OutcomeCounts::default();
        // Per device: highest sequence seen in this batch, records accepted.
        let mut touched = outcome::Touched::new();
        for (index, incoming) in batch.records.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let receipt = match incoming {
                Incoming::Valid(rec) => {
                    let (outcome, conflict) =
                        apply_valid(tx, rec, &at, &batch_id, relayed_by.as_deref()).map_err(err)?;
                    if outcome == Outcome::Accepted {
                        outcome::touch(&mut touched, rec.device_id, rec.device_seq, true);
                    }
                    if let Some(conflict) = &conflict {
                        insert_refusal(
                            tx,
                            &at,
                            &batch_id,
                            &batch.sender.node_id,
                            &outcome::conflict_refusal(rec, conflict),
                            Outcome::Conflict,
                        )
                        .map_err(err)?;
                    }
                    outcome::valid_line(index, rec, outcome, conflict.as_ref())
                }
                Incoming::Invalid(refused) if held_as_is(tx, refused).map_err(err)? => {
                    outcome::held_line(index, refused)
                }
                Incoming::Invalid(refused) => {
                    insert_refusal(
                        tx,
                        &at,
                        &batch_id,
                        &batch.sender.node_id,
                        refused,
                        Outcome::Invalid,
                    )
                    .map_err(err)?;
                    outcome::touch_refused(&mut touched, refused);
                    outcome::invalid_line(index, refused)
                }
            };
            let mut receipt = receipt;
            // A record accepted just now names what it was checked with:
            // only one naming attachments needs the lookup (the hot path of
            // records without any pays nothing).
            let names_none = matches!(incoming, Incoming::Valid(rec) if rec.attachments.is_empty());
            let lookup = match receipt.outcome {
                Outcome::Accepted => !names_none,
                Outcome::Duplicate => true,
                _ => false,
            };
            if lookup && let Some(id) = receipt.record_id {
                receipt.missing_attachments =
                    attachments::missing(tx, &id.to_string()).map_err(err)?;
            }
            counts.add(receipt.outcome);
            receipts.push(receipt);
        }
        for (device, (max_seq, accepted)) in &touched {
            let name = (batch.sender.node_id == *device)
                .then(|| batch.sender.name.clone())
                .flatten();
            update_device(tx, device, name.as_deref(), &at, *max_seq, *accepted).map_err(err)?;
        }
        if batch.sender.role == doorstep_wire::NodeRole::Field
            && !touched.contains_key(&batch.sender.node_id)
        {
            // A laptop that synced without new records still shows its last sync.
            tx.execute(
                "UPDATE devices SET last_sync_at = ?2 WHERE device_id = ?1",
                params![batch.sender.node_id.to_string(), at],
            )
            .map_err(err)?;
        }
        if let (doorstep_wire::NodeRole::Field, Some(journal)) = (batch.sender.role, batch.journal)
        {
            tx.execute(
                "UPDATE devices SET journal_seq = ?2, journal_hash = ?3 WHERE device_id = ?1",
                params![
                    batch.sender.node_id.to_string(),
                    to_i64(journal.seq),
                    &journal.hash[..]
                ],
            )
            .map_err(err)?;
        }
        let busy_ms =
            batch.check_ms + u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tx.execute(
            "INSERT INTO sessions (session_id, node_id, role, client_version, started_at, last_batch_at,
                                   batches, accepted, duplicate, conflict, invalid, bytes_in, busy_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(session_id) DO UPDATE SET
                last_batch_at = excluded.last_batch_at, client_version = excluded.client_version,
                batches = batches + 1, accepted = accepted + excluded.accepted,
                duplicate = duplicate + excluded.duplicate, conflict = conflict + excluded.conflict,
                invalid = invalid + excluded.invalid, bytes_in = bytes_in + excluded.bytes_in,
                busy_ms = busy_ms + excluded.busy_ms",
            params![
                batch.session_id.to_string(),
                batch.sender.node_id.to_string(),
                batch.sender.role.as_str(),
                batch.sender.client_version,
                at,
                to_i64(counts.accepted),
                to_i64(counts.duplicate),
                to_i64(counts.conflict),
                to_i64(counts.invalid),
                to_i64(batch.bytes_in),
                to_i64(busy_ms),
            ],
        )
        .map_err(err)?;
        Ok(receipts)
    }

    fn status_blocking(
        conn: &mut Connection,
        path: &Path,
        node_id: Uuid,
        units_source: String,
        units_count: usize,
    ) -> Result<CentralStatus, CentralError> {
        let err = |e| CentralError::sqlite(path, e);
        // One read transaction: every figure from the same snapshot.
        let tx = conn.transaction().map_err(err)?;
        let records: i64 = tx
            .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
            .map_err(err)?;
        let by_kind = pairs(
            &tx,
            "SELECT kind, COUNT(*) FROM records GROUP BY kind ORDER BY kind",
        )
        .map_err(err)?;
        let refusals = pairs(
            &tx,
            "SELECT outcome, COUNT(*) FROM refusals GROUP BY outcome",
        )
        .map_err(err)?;
        let refused = |o: &str| refusals.iter().find(|p| p.0 == o).map_or(0, |p| p.1);
        let outcomes = tx
            .query_row(
                "SELECT COALESCE(SUM(accepted),0), COALESCE(SUM(duplicate),0), COALESCE(SUM(conflict),0),
                        COALESCE(SUM(invalid),0), COUNT(*) FROM sessions",
                [],
                |r| {
                    Ok((
                        OutcomeCounts {
                            accepted: to_u64(r.get(0)?),
                            duplicate: to_u64(r.get(1)?),
                            conflict: to_u64(r.get(2)?),
                            invalid: to_u64(r.get(3)?),
                        },
                        to_u64(r.get(4)?),
                    ))
                },
            )
            .map_err(err)?;
        let devices = devices_in(&tx, path)?;
        let mut recent_sessions = Vec::new();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT session_id, node_id, role, client_version, started_at, last_batch_at, batches,
                            accepted, duplicate, conflict, invalid, bytes_in, busy_ms
                     FROM sessions ORDER BY last_batch_at DESC LIMIT 20",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        SessionSummary {
                            session_id: Uuid::nil(),
                            node_id: Uuid::nil(),
                            role: r.get(2)?,
                            client_version: r.get(3)?,
                            started_at: r.get(4)?,
                            last_batch_at: r.get(5)?,
                            batches: to_u64(r.get(6)?),
                            counts: OutcomeCounts {
                                accepted: to_u64(r.get(7)?),
                                duplicate: to_u64(r.get(8)?),
                                conflict: to_u64(r.get(9)?),
                                invalid: to_u64(r.get(10)?),
                            },
                            bytes_in: to_u64(r.get(11)?),
                            busy_ms: to_u64(r.get(12)?),
                        },
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (sid, nid, mut s) = row.map_err(err)?;
                s.session_id = Uuid::parse_str(&sid).unwrap_or_default();
                s.node_id = Uuid::parse_str(&nid).unwrap_or_default();
                recent_sessions.push(s);
            }
        }
        Ok(CentralStatus {
            node_id,
            records: to_u64(records),
            by_kind,
            outcomes: outcomes.0,
            refused_conflict: refused("conflict"),
            refused_invalid: refused("invalid"),
            devices,
            sessions_total: outcomes.1,
            recent_sessions,
            units_source,
            units_count,
        })
    }
}

#[async_trait]
impl CentralStore for SqliteCentral {
    fn node_id(&self) -> Uuid {
        self.node_id
    }

    fn units(&self) -> Arc<Units> {
        Arc::clone(&self.units)
    }

    fn opener(&self) -> Option<Arc<doorstep_crypto::Opener>> {
        self.opener.clone()
    }

    async fn apply(&self, batch: IncomingBatch) -> Result<Applied, CentralError> {
        let signer = Arc::clone(&self.signer);
        let mut applied = self
            .blocking(move |conn, path| {
                SqliteCentral::apply_many(conn, path, &signer, std::slice::from_ref(&batch))
            })
            .await?;
        applied.pop().ok_or_else(|| {
            CentralError::Inconsistent("a batch was applied without an answer".into())
        })
    }

    async fn tree_head(&self) -> Result<TreeHeadAnswer, CentralError> {
        let log_id = self.node_id;
        let public_key = self.signer.public_key();
        self.blocking(move |conn, path| {
            let head = log::latest_head(conn, log_id)
                .map_err(|e| CentralError::sqlite(path, e))?
                .ok_or_else(|| CentralError::Inconsistent("the log has no signed head".into()))?;
            Ok(TreeHeadAnswer {
                tree_head: head,
                public_key,
            })
        })
        .await
    }

    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<LogEntryLine>, CentralError> {
        self.blocking(move |conn, path| log::entries(conn, path, start, end))
            .await
    }

    async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionAnswer, CentralError> {
        self.blocking(move |conn, path| log::inclusion(conn, path, index, tree_size))
            .await
    }

    async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyAnswer, CentralError> {
        self.blocking(move |conn, path| log::consistency(conn, path, first, second))
            .await
    }

    async fn sessions(&self, query: SessionQuery) -> Result<Vec<SessionLine>, CentralError> {
        self.blocking(move |conn, path| log::sessions(conn, path, &query))
            .await
    }

    async fn grants(
        &self,
        nodes: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, crate::check::NodeGrant>, CentralError> {
        self.blocking(move |conn, path| registry::grants_in(conn, path, &nodes))
            .await
    }

    async fn register(
        &self,
        request: doorstep_wire::register::RegisterRequest,
        now: DateTime<Utc>,
    ) -> Result<doorstep_wire::register::RegisterAnswer, crate::registry::RegistryError> {
        let central_id = self.node_id;
        let public_key = self.signer.public_key();
        // Laptops seal citizen data to this key from now on.
        let seal_key = self
            .opener
            .as_ref()
            .filter(|_| request.role == NodeRole::Field)
            .map(|o| hex::encode(o.public()));
        self.blocking(move |conn, path| {
            let node = match registry::register_in(
                conn,
                path,
                &request.token,
                request.node_id,
                request.role,
                &request.public_key,
                now,
            ) {
                Ok(node) => node,
                Err(e) => return Ok(Err(e)),
            };
            let head = log::latest_head(conn, central_id)
                .map_err(|e| CentralError::sqlite(path, e))?
                .ok_or_else(|| CentralError::Inconsistent("the log has no signed head".into()))?;
            let biometrics = biometrics_of(&node);
            Ok(Ok(doorstep_wire::register::RegisterAnswer {
                node_id: node.node_id,
                role: node.role,
                unit_code: node.unit_code,
                name: node.name,
                station_id: node.station_id,
                biometrics,
                registered_at: node.registered_at,
                central_id,
                log: TreeHeadAnswer {
                    tree_head: head,
                    public_key,
                },
                seal_key,
            }))
        })
        .await?
    }

    // Admin commands, not the ingest path: a short blocking call is fine.
    async fn issue_token(
        &self,
        role: NodeRole,
        unit_code: &str,
        name: &str,
        station_id: Option<Uuid>,
        biometrics: doorstep_core::record::BiometricPolicy,
        valid_for: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<crate::registry::IssuedToken, crate::registry::RegistryError> {
        self.provision(
            role, unit_code, name, station_id, biometrics, valid_for, now,
        )
    }

    async fn list_nodes(
        &self,
    ) -> Result<Vec<crate::registry::RegisteredNode>, crate::registry::RegistryError> {
        self.registered_nodes()
    }

    async fn revoke_node(
        &self,
        node_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::registry::RegisteredNode, crate::registry::RegistryError> {
        self.revoke(node_id, reason, now)
    }

    async fn device_records(
        &self,
        device_id: Uuid,
        after_seq: u64,
        limit: u64,
    ) -> Result<DeviceRecordsAnswer, CentralError> {
        self.blocking(move |conn, path| {
            log::device_records(conn, path, device_id, after_seq, limit)
        })
        .await
    }

    fn blobs(&self) -> Option<Arc<dyn crate::blobs::BlobBytes>> {
        self.blobs.clone()
    }

    async fn blob_facts(&self, sha256: &str) -> Result<crate::store::BlobFacts, CentralError> {
        let sha256 = sha256.to_owned();
        self.blocking(move |conn, path| {
            attachments::facts(conn, &sha256).map_err(|e| CentralError::sqlite(path, e))
        })
        .await
    }

    async fn sealed_blob_held(&self, sealed_sha256: &str) -> Result<Option<u64>, CentralError> {
        let sealed = sealed_sha256.to_owned();
        self.blocking(move |conn, path| {
            relay::sealed_held(conn, &sealed).map_err(|e| CentralError::sqlite(path, e))
        })
        .await
    }

    async fn blob_completed(
        &self,
        completion: crate::store::BlobCompletion,
    ) -> Result<Vec<(Uuid, String)>, CentralError> {
        let station = self.role == NodeRole::Station;
        self.blocking(move |conn, path| {
            let done = if station {
                relay::sealed_received(conn, &completion).map(|()| Vec::new())
            } else {
                attachments::completed(conn, &completion)
            };
            done.map_err(|e| CentralError::sqlite(path, e))
        })
        .await
    }

    async fn custody(
        &self,
        keys: Vec<doorstep_wire::CustodyKey>,
    ) -> Result<Vec<doorstep_wire::CustodyLine>, CentralError> {
        let role = self.role;
        self.blocking(move |conn, path| forward::custody(conn, path, role, &keys))
            .await
    }

    async fn import_targets(
        &self,
        targets: Vec<Target>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ImportedCampaign>, CentralError> {
        self.blocking(move |conn, path| reports::import_targets(conn, path, &targets, now))
            .await
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, CentralError> {
        self.blocking(|conn, path| reports::campaigns(conn, path))
            .await
    }

    async fn campaign_targets(&self, campaign: &str) -> Result<Vec<Target>, CentralError> {
        let campaign = campaign.to_owned();
        self.blocking(move |conn, path| reports::campaign_targets(conn, path, &campaign))
            .await
    }

    async fn visit_counts(
        &self,
        kinds: Vec<RecordKind>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<VisitCount>, CentralError> {
        self.blocking(move |conn, path| reports::visit_counts(conn, path, &kinds, from, to))
            .await
    }

    async fn conflicts(&self, limit: u64) -> Result<(u64, Vec<ConflictLine>), CentralError> {
        self.blocking(move |conn, path| reports::conflicts(conn, path, limit))
            .await
    }

    async fn devices(&self) -> Result<Vec<DeviceStatus>, CentralError> {
        self.blocking(|conn, path| devices_in(conn, path)).await
    }

    async fn verify_log(&self) -> Result<crate::audit::AuditReport, CentralError> {
        // Its own read-only connection: ingest goes on while it reads.
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        tokio::task::spawn_blocking(move || audit::verify(&dir, &mut |_, _, _| {}))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn worklist_page(
        &self,
        device: Uuid,
        request: doorstep_wire::worklist::WorklistRequest,
    ) -> Result<doorstep_wire::worklist::WorklistPage, CentralError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.worklist_page_blocking(device, &request))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn station_device_key(
        &self,
        device: Uuid,
    ) -> Result<Option<([u8; 32], bool)>, CentralError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.station_device_key_blocking(device))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn coverage(
        &self,
        under: Option<String>,
        remaining: bool,
    ) -> Result<CoverageReport, CentralError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.coverage_blocking(under.as_deref(), remaining))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn import_roster(
        &self,
        residents: Vec<doorstep_core::roster::Resident>,
        now: DateTime<Utc>,
    ) -> Result<RosterImport, CentralError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || SqliteCentral::import_roster(&this, &residents, now))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn assign(
        &self,
        device: Uuid,
        mode: AssignMode,
        units: Vec<String>,
        households: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<doorstep_wire::worklist::Assignment, crate::worklist::AssignError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            SqliteCentral::assign(&this, device, mode, &units, &households, now)
        })
        .await
        .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn assignments(&self) -> Result<Vec<AssignmentLine>, CentralError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || SqliteCentral::assignments(&this))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn roster_counts(
        &self,
    ) -> Result<std::collections::HashMap<&'static str, u64>, CentralError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || SqliteCentral::roster_counts(&this))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    async fn status(&self) -> Result<CentralStatus, CentralError> {
        let node_id = self.node_id;
        let source = self.units_source.clone();
        let count = self.units.len();
        self.blocking(move |conn, path| {
            SqliteCentral::status_blocking(conn, path, node_id, source, count)
        })
        .await
    }
}

/// Per device: its marks, gaps and journal head (`central status`,
/// `GET /v1/devices`, the review report).
fn devices_in(conn: &Connection, path: &Path) -> Result<Vec<DeviceStatus>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut devices = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT device_id, name, records, contiguous_seq, max_seq, first_seen_at, last_sync_at,
                        journal_seq, journal_hash
                 FROM devices ORDER BY first_seen_at, device_id",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<Vec<u8>>>(8)?,
            ))
        })
        .map_err(err)?;
    for row in rows {
        let (id, name, records, contiguous, max, first, last, jseq, jhash) = row.map_err(err)?;
        let journal = match (jseq, jhash.map(|h| <[u8; 32]>::try_from(h.as_slice()))) {
            (Some(seq), Some(Ok(hash))) => Some(doorstep_wire::log::JournalHead {
                seq: to_u64(seq),
                hash,
            }),
            _ => None,
        };
        let device_id = Uuid::parse_str(&id)
            .map_err(|_| CentralError::Inconsistent(format!("device id `{id}` is not a UUID")))?;
        let gaps = gaps(conn, &id, to_u64(contiguous), to_u64(max)).map_err(err)?;
        devices.push(DeviceStatus {
            device_id,
            name,
            records: to_u64(records),
            contiguous_seq: to_u64(contiguous),
            max_seq: to_u64(max),
            gaps,
            first_seen_at: first,
            last_sync_at: last,
            journal,
        });
    }
    Ok(devices)
}

/// Accepted, duplicate or conflict for a record that passed the checks.
fn apply_valid(
    tx: &Transaction<'_>,
    rec: &CheckedRecord,
    at: &str,
    batch_id: &str,
    relayed_by: Option<&str>,
) -> rusqlite::Result<(Outcome, Option<outcome::ConflictReason>)> {
    let id = rec.record_id.to_string();
    let held: Option<Vec<u8>> = tx
        .prepare_cached("SELECT content_hash FROM records WHERE record_id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    if let Some(hash) = held {
        if hash.as_slice() == rec.content_hash.0.as_slice() {
            return Ok((Outcome::Duplicate, None));
        }
        return Ok((
            Outcome::Conflict,
            Some(outcome::record_id_conflict(rec.record_id, &hash)),
        ));
    }
    let device = rec.device_id.to_string();
    let seq = to_i64(rec.device_seq);
    let other: Option<String> = tx
        .prepare_cached("SELECT record_id FROM records WHERE device_id = ?1 AND device_seq = ?2")?
        .query_row(params![device, seq], |r| r.get(0))
        .optional()?;
    if let Some(other) = other {
        return Ok((
            Outcome::Conflict,
            Some(outcome::device_seq_conflict(
                rec.device_id,
                rec.device_seq,
                &other,
            )),
        ));
    }
    let visit = rec.visit.as_ref();
    tx.prepare_cached(
        "INSERT INTO records (record_id, device_id, device_seq, content_hash, kind, canonical,
                              enrolled_at, received_at, batch_id, relayed_by, signature, sealed,
                              visit_unit, visit_day, visit_place, visit_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        id,
        device,
        seq,
        rec.content_hash.0.as_slice(),
        rec.kind.as_str(),
        rec.canonical,
        rec.enrolled_at,
        at,
        batch_id,
        relayed_by,
        rec.signature.as_ref().map(|s| &s[..]),
        rec.sealed,
        visit.map(|v| &v.unit_code),
        visit.map(|v| v.day.to_string()),
        visit.map(|v| v.place.as_str()),
        visit.and_then(|v| v.reason).map(|r| r.as_str()),
    ])?;
    if let Some(v) = visit {
        count_visit(tx, rec, &id, v)?;
    }
    attachments::insert(tx, &id, &rec.attachments)?;
    if let Some(person) = &rec.person {
        worklist::record_event(tx, &id, &device, seq, rec.kind, person)?;
    }
    Ok((Outcome::Accepted, None))
}

/// Counts an accepted record towards campaign progress, and stops counting
/// the held record of the same kind it corrects (proto/reports-v1.md §2).
fn count_visit(
    tx: &Transaction<'_>,
    rec: &CheckedRecord,
    id: &str,
    v: &VisitFacts,
) -> rusqlite::Result<()> {
    let kind = rec.kind.as_str();
    let reason = v.reason.map_or("", |r| r.as_str());
    bump_count(
        tx,
        kind,
        &v.day.to_string(),
        &v.unit_code,
        v.place.as_str(),
        reason,
        1,
    )?;
    let Some(old) = v.supersedes else {
        return Ok(());
    };
    let corrected: Option<(String, String, String, String)> = tx
        .prepare_cached(
            "UPDATE records SET superseded_by = ?1
             WHERE record_id = ?2 AND kind = ?3 AND superseded_by IS NULL
               AND visit_day IS NOT NULL AND visit_unit IS NOT NULL AND visit_place IS NOT NULL
             RETURNING visit_day, visit_unit, visit_place, coalesce(visit_reason, '')",
        )?
        .query_row(params![id, old.to_string(), kind], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if let Some((day, unit, place, reason)) = corrected {
        bump_count(tx, kind, &day, &unit, &place, &reason, -1)?;
    }
    Ok(())
}

fn bump_count(
    tx: &Transaction<'_>,
    kind: &str,
    day: &str,
    unit: &str,
    place: &str,
    reason: &str,
    by: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO visit_counts (kind, day, unit_code, place, reason, n)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (kind, day, unit_code, place, reason) DO UPDATE SET n = n + excluded.n",
    )?
    .execute(params![kind, day, unit, place, reason, by])?;
    Ok(())
}

/// Whether a record refused by the checks is one central already holds
/// with exactly these bytes (only for records that decoded and hashed
/// correctly: their content broke a rule).
fn held_as_is(tx: &Transaction<'_>, r: &Refused) -> rusqlite::Result<bool> {
    let (true, Some(id)) = (r.seq_seen, r.record_id) else {
        return Ok(false);
    };
    let held: Option<Vec<u8>> = tx
        .prepare_cached("SELECT content_hash FROM records WHERE record_id = ?1")?
        .query_row([id.to_string()], |row| row.get(0))
        .optional()?;
    Ok(held.is_some_and(|h| hex::encode(h) == r.content_hash))
}

fn insert_refusal(
    tx: &Transaction<'_>,
    at: &str,
    batch_id: &str,
    sender: &Uuid,
    r: &Refused,
    outcome: Outcome,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO refusals (at, batch_id, sender_id, record_id, device_id, device_seq, content_hash,
                               outcome, code, reason, canonical)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        at,
        batch_id,
        sender.to_string(),
        r.record_id.map(|u| u.to_string()),
        r.device_id.map(|u| u.to_string()),
        // Only a number the device really used counts for gap detection.
        if r.seq_seen { r.device_seq.map(to_i64) } else { None },
        r.content_hash,
        outcome.as_str(),
        r.code,
        r.reason,
        r.canonical,
    ])?;
    Ok(())
}

/// Records the device's progress and moves its contiguous mark forward
/// over every number now seen.
fn update_device(
    tx: &Transaction<'_>,
    device: &Uuid,
    name: Option<&str>,
    at: &str,
    max_seq: u64,
    accepted: u64,
) -> rusqlite::Result<()> {
    let id = device.to_string();
    tx.prepare_cached(
        "INSERT INTO devices (device_id, name, role, first_seen_at, last_sync_at, max_seq, records)
         VALUES (?1, ?2, 'field', ?3, ?3, ?4, ?5)
         ON CONFLICT(device_id) DO UPDATE SET
            name = COALESCE(excluded.name, name), last_sync_at = excluded.last_sync_at,
            max_seq = MAX(max_seq, excluded.max_seq), records = records + excluded.records",
    )?
    .execute(params![id, name, at, to_i64(max_seq), to_i64(accepted)])?;
    let mut contiguous: i64 = tx
        .prepare_cached("SELECT contiguous_seq FROM devices WHERE device_id = ?1")?
        .query_row([&id], |r| r.get(0))?;
    let start = contiguous;
    let mut seen = tx.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM records WHERE device_id = ?1 AND device_seq = ?2)
             OR EXISTS(SELECT 1 FROM refusals WHERE device_id = ?1 AND device_seq = ?2)",
    )?;
    while seen.query_row(params![id, contiguous + 1], |r| r.get::<_, bool>(0))? {
        contiguous += 1;
    }
    if contiguous != start {
        tx.prepare_cached("UPDATE devices SET contiguous_seq = ?2 WHERE device_id = ?1")?
            .execute(params![id, contiguous])?;
    }
    Ok(())
}

/// Ranges of sequence numbers in (contiguous, max) never seen.
fn gaps(
    tx: &Connection,
    device: &str,
    contiguous: u64,
    max: u64,
) -> rusqlite::Result<Vec<(u64, u64)>> {
    if max <= contiguous {
        return Ok(Vec::new());
    }
    let mut stmt = tx.prepare_cached(
        "SELECT device_seq FROM records WHERE device_id = ?1 AND device_seq > ?2
         UNION SELECT device_seq FROM refusals WHERE device_id = ?1 AND device_seq > ?2
         ORDER BY 1",
    )?;
    let seen = stmt.query_map(params![device, to_i64(contiguous)], |r| r.get::<_, i64>(0))?;
    let mut out = Vec::new();
    let mut next = contiguous + 1;
    for s in seen {
        let s = to_u64(s?);
        if s > next {
            out.push((next, s - 1));
        }
        next = s + 1;
    }
    Ok(out)
}

fn pairs(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, to_u64(r.get(1)?))))?;
    rows.collect()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CentralError> {
    let io = |source| {
        CentralError::Store(doorstep_store::StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// The policy a registration answer tells a laptop (none for a station).
pub(crate) fn biometrics_of(node: &crate::registry::RegisteredNode) -> Option<String> {
    (node.role == NodeRole::Field).then(|| node.biometrics.spec())
}
