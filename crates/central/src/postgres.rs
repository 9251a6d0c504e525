//! Central on PostgreSQL (ADR 0010): the same [`CentralStore`] as the
//! embedded SQLite backend, for a province or the nation. Several
//! `central serve` processes may share one database: each batch is applied
//! in one transaction that locks the log's single state row first, so log
//! order is commit order and duplicate checks see every committed record,
//! whichever node a batch lands on. Worklists (`worklist.rs`) take their
//! revisions under the same lock, so they follow commit order too.
//!
//! The secret keys stay files in a data directory (`log-signing.key`,
//! `seal.key`), as with SQLite; every ingest node is given a copy, and the
//! database keeps the public halves so a node with the wrong files refuses
//! to start.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use doorstep_core::campaign::Target;
use doorstep_core::merkle::{self, Hash, MerkleError, MissingNode, NodeMap};
use doorstep_core::progress::VisitCount;
use doorstep_core::roster::Resident;
use doorstep_core::{RecordKind, Units};
use doorstep_wire::NodeRole;
use doorstep_wire::log::{
    ConsistencyAnswer, DeviceRecordsAnswer, InclusionAnswer, LogEntryLine, SessionLine,
    SignedTreeHead, TreeHeadAnswer,
};
use doorstep_wire::register::{RegisterAnswer, RegisterRequest};
use doorstep_wire::worklist::{Assignment, WorklistPage, WorklistRequest};
use doorstep_wire::{CustodyKey, CustodyLine};
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::blobs::{BlobBytes, PgBlobs};
use crate::error::CentralError;
use crate::registry::{IssuedToken, RegisteredNode, RegistryError};
use crate::reports::{CampaignSummary, ConflictLine, ImportedCampaign};
use crate::signing::LogSigner;
use crate::sqlite::UnitSource;
use crate::store::{
    Applied, BlobCompletion, BlobFacts, CentralStatus, CentralStore, IncomingBatch, SessionQuery,
};
use crate::worklist::{AssignError, AssignMode, AssignmentLine, CoverageReport, RosterImport};

mod apply;
mod attachments;
pub mod audit;
mod migrate;
mod open;
mod progress;
mod query;
mod registry;
mod status;
mod worklist;

/// Connections per ingest node. Applying a batch holds the log lock, so
/// more connections than a few only queue behind it; reads (proofs,
/// status, custody) use the others.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// Connections per ingest node for attachment bytes: their own pool, so
/// uploads of megabytes never take the connections batches are applied
/// and answered on.
pub const BLOB_POOL_SIZE: usize = 4;

/// Most batches one transaction applies (group commit).
const MAX_GROUP_BATCHES: usize = 64;
/// Most records one transaction applies: a group stops growing past it.
const MAX_GROUP_RECORDS: usize = 20_000;
/// Batches that may wait for this node's applier.
const APPLY_QUEUE: usize = 1024;

/// A batch waiting for the applier, and where its answer goes.
struct Job {
    batch: IncomingBatch,
    answer: tokio::sync::oneshot::Sender<Result<Applied, CentralError>>,
}

/// Central on PostgreSQL.
pub struct PgCentral {
    pool: Pool,
    /// Attachment bytes, in the same database (their own pool).
    blobs: Arc<PgBlobs>,
    /// This node's applier: batches are applied by one task, as many
    /// together as are waiting (see [`apply::apply_group`]).
    applier: tokio::sync::mpsc::Sender<Job>,
    /// `host:port/dbname`, never the password.
    target: String,
    node_id: Uuid,
    units: Arc<Units>,
    units_source: String,
    signer: Arc<LogSigner>,
    opener: Arc<doorstep_crypto::Opener>,
}

impl std::fmt::Debug for PgCentral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCentral")
            .field("target", &self.target)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Where a PostgreSQL URL points, without its password.
pub fn describe_url(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => describe(&config),
        Err(_) => "(an unreadable PostgreSQL URL)".into(),
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config, CentralError> {
    url.parse().map_err(|source| CentralError::BadDatabaseUrl {
        what: describe_url(url),
        source,
    })
}

/// A connection pool for `url`, checked by opening one connection.
async fn connect(url: &str, size: usize) -> Result<(Pool, String), CentralError> {
    let config = parse_url(url)?;
    let target = describe(&config);
    let pool = pool_of(config, size)?;
    // Fail at start with a clear message, not at the first batch.
    match pool.get().await {
        Ok(_) => Ok((pool, target)),
        Err(deadpool_postgres::PoolError::Backend(source)) => {
            Err(CentralError::PostgresConnect { target, source })
        }
        Err(e) => Err(CentralError::PostgresPool(e.to_string())),
    }
}

/// A pool of at most `size` connections, opened when first needed.
fn pool_of(config: tokio_postgres::Config, size: usize) -> Result<Pool, CentralError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .build()
        .map_err(|e| CentralError::PostgresPool(e.to_string()))
}

impl PgCentral {
    /// Connects to `url`, migrates the schema, and opens (or, on an empty
    /// database, creates) central there, its secret keys in `key_dir`.
    /// With `units`, the unit list is replaced when it differs.
    pub async fn open_or_create(
        url: &str,
        key_dir: &Path,
        units: Option<UnitSource>,
        now: DateTime<Utc>,
    ) -> Result<PgCentral, CentralError> {
        Self::open_with_pool_size(url, key_dir, units, now, DEFAULT_POOL_SIZE).await
    }

    /// Opens central in an existing database (migrating its schema);
    /// refuses a database without one.
    pub async fn open(url: &str, key_dir: &Path) -> Result<PgCentral, CentralError> {
        Self::open_as(url, key_dir, None, Utc::now(), DEFAULT_POOL_SIZE, false).await
    }

    /// [`PgCentral::open_or_create`] with `pool_size` connections.
    pub async fn open_with_pool_size(
        url: &str,
        key_dir: &Path,
        units: Option<UnitSource>,
        now: DateTime<Utc>,
        pool_size: usize,
    ) -> Result<PgCentral, CentralError> {
        Self::open_as(url, key_dir, units, now, pool_size, true).await
    }

    async fn open_as(
        url: &str,
        key_dir: &Path,
        units: Option<UnitSource>,
        now: DateTime<Utc>,
        pool_size: usize,
        create: bool,
    ) -> Result<PgCentral, CentralError> {
        let (pool, target) = connect(url, pool_size).await?;
        let blob_pool = pool_of(parse_url(url)?, BLOB_POOL_SIZE)?;
        let mut client = pool.get().await.map_err(pool_error)?;
        migrate::apply(&mut client, &target).await?;
        let opened = open::open_node(&mut client, key_dir, units, now, create, &target).await?;
        drop(client);
        let signer = Arc::new(opened.signer);
        Ok(PgCentral {
            applier: spawn_applier(pool.clone(), Arc::clone(&signer)),
            pool,
            blobs: Arc::new(PgBlobs::new(blob_pool)),
            target,
            node_id: opened.node_id,
            units: Arc::new(opened.units),
            units_source: opened.units_source,
            signer,
            opener: Arc::new(opened.opener),
        })
    }

    /// `host:port/dbname` of the database.
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, CentralError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// Starts the task that applies this node's batches: it takes every batch
/// waiting (up to a group's limits) and applies them in one transaction.
/// The log lock makes appends one at a time anyway; grouping shares one
/// lock, one fsync and one head signature among them. A group that fails
/// is applied again batch by batch, so one bad batch fails alone.
fn spawn_applier(pool: Pool, signer: Arc<LogSigner>) -> tokio::sync::mpsc::Sender<Job> {
    let (sender, mut jobs) = tokio::sync::mpsc::channel::<Job>(APPLY_QUEUE);
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            let mut records = job.batch.records.len();
            let mut group = vec![job];
            while group.len() < MAX_GROUP_BATCHES && records < MAX_GROUP_RECORDS {
                let Ok(job) = jobs.try_recv() else { break };
                records += job.batch.records.len();
                group.push(job);
            }
            let (batches, answers): (Vec<_>, Vec<_>) =
                group.into_iter().map(|j| (j.batch, j.answer)).unzip();
            match apply_with(&pool, &signer, &batches).await {
                Ok(applied) => {
                    for (answer, applied) in answers.into_iter().zip(applied) {
                        let _ = answer.send(Ok(applied));
                    }
                }
                Err(e) if batches.len() == 1 => {
                    if let Some(answer) = answers.into_iter().next() {
                        let _ = answer.send(Err(e));
                    }
                }
                Err(e) => {
                    tracing::warn!(batches = batches.len(), error = %e, "a group of batches failed; applying them one by one");
                    for (batch, answer) in batches.iter().zip(answers) {
                        let one = apply_with(&pool, &signer, std::slice::from_ref(batch))
                            .await
                            .and_then(|mut a| {
                                a.pop().ok_or_else(|| {
                                    CentralError::NotApplied("no answer for the batch".into())
                                })
                            });
                        let _ = answer.send(one);
                    }
                }
            }
        }
    });
    sender
}

async fn apply_with(
    pool: &Pool,
    signer: &LogSigner,
    batches: &[IncomingBatch],
) -> Result<Vec<Applied>, CentralError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    apply::apply_group(&mut client, signer, batches).await
}

pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> CentralError {
    match e {
        deadpool_postgres::PoolError::Backend(source) => CentralError::Postgres { source },
        other => CentralError::PostgresPool(other.to_string()),
    }
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn to_hash(bytes: &[u8], what: &str) -> Result<Hash, CentralError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| CentralError::Inconsistent(format!("{what} should be 32 bytes")))
}

pub(crate) fn merkle_error(e: MerkleError<MissingNode>) -> CentralError {
    match e {
        MerkleError::Source(missing) => CentralError::Inconsistent(format!(
            "the log's {missing}: the database was changed outside central"
        )),
        other => CentralError::OutOfRange(other.to_string()),
    }
}

/// Reads the stored nodes named by two arrays (levels, indices).
pub(crate) const FETCH_NODES: &str = "SELECT n.level, n.idx, n.hash FROM log_nodes n
     JOIN unnest($1::int2[], $2::int8[]) AS w(level, idx)
       ON n.level = w.level AND n.idx = w.idx";

/// The stored nodes `reads` names, in one query.
pub(crate) async fn fetch_nodes<C: deadpool_postgres::GenericClient + Sync>(
    client: &C,
    reads: &[(u32, u64)],
) -> Result<NodeMap, CentralError> {
    let mut map = NodeMap::default();
    if reads.is_empty() {
        return Ok(map);
    }
    let levels: Vec<i16> = reads
        .iter()
        .map(|(l, _)| i16::try_from(*l).unwrap_or(i16::MAX))
        .collect();
    let idxs: Vec<i64> = reads.iter().map(|(_, i)| to_i64(*i)).collect();
    // Prepared once per connection: every batch and every proof reads nodes.
    let statement = client
        .prepare_cached(FETCH_NODES)
        .await
        .map_err(CentralError::pg)?;
    let rows = client
        .query(&statement, &[&levels, &idxs])
        .await
        .map_err(CentralError::pg)?;
    for row in rows {
        let level: i16 = row.get(0);
        let idx: i64 = row.get(1);
        let hash: &[u8] = row.get(2);
        map.0.insert(
            (u32::try_from(level).unwrap_or(0), to_u64(idx)),
            to_hash(hash, "log_nodes.hash")?,
        );
    }
    Ok(map)
}

/// Where a Merkle operation reads nodes: first a plan of its reads, then
/// the nodes fetched for it.
pub(crate) enum Nodes {
    Plan(merkle::NodePlan),
    Map(NodeMap),
}

impl merkle::NodeSource for Nodes {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        match self {
            Nodes::Plan(plan) => plan.node(level, index),
            Nodes::Map(map) => map.node(level, index),
        }
    }
}

/// Runs a Merkle operation against the stored nodes: plans its reads,
/// fetches them in one query, runs it.
pub(crate) async fn with_nodes<C, T, F>(client: &C, op: F) -> Result<T, CentralError>
where
    C: deadpool_postgres::GenericClient + Sync,
    F: Fn(&mut Nodes) -> Result<T, MerkleError<MissingNode>>,
{
    let mut plan = Nodes::Plan(merkle::NodePlan::default());
    // Only the reads matter here, not the answer.
    let _ = op(&mut plan);
    let reads = match plan {
        Nodes::Plan(plan) => plan.into_reads(),
        Nodes::Map(_) => Vec::new(),
    };
    let mut nodes = Nodes::Map(fetch_nodes(client, &reads).await?);
    op(&mut nodes).map_err(merkle_error)
}

/// The stored head of a tree of `tree_size` entries (newest when `None`).
pub(crate) async fn stored_head<C: tokio_postgres::GenericClient>(
    client: &C,
    log_id: Uuid,
    tree_size: Option<u64>,
) -> Result<Option<SignedTreeHead>, CentralError> {
    let row = match tree_size {
        Some(size) => client
            .query_opt(
                "SELECT tree_size, timestamp, root_hash, signature FROM tree_heads WHERE tree_size = $1",
                &[&to_i64(size)],
            )
            .await,
        None => client
            .query_opt(
                "SELECT tree_size, timestamp, root_hash, signature FROM tree_heads
                 ORDER BY tree_size DESC LIMIT 1",
                &[],
            )
            .await,
    }
    .map_err(CentralError::pg)?;
    let Some(row) = row else { return Ok(None) };
    let signature: &[u8] = row.get(3);
    Ok(Some(SignedTreeHead {
        log_id,
        tree_size: to_u64(row.get(0)),
        timestamp: to_u64(row.get(1)),
        root_hash: to_hash(row.get(2), "tree_heads.root_hash")?,
        signature: <[u8; 64]>::try_from(signature).map_err(|_| {
            CentralError::Inconsistent("tree_heads.signature should be 64 bytes".into())
        })?,
    }))
}

#[async_trait]
impl CentralStore for PgCentral {
    fn node_id(&self) -> Uuid {
        self.node_id
    }

    fn units(&self) -> Arc<Units> {
        Arc::clone(&self.units)
    }

    fn opener(&self) -> Option<Arc<doorstep_crypto::Opener>> {
        Some(Arc::clone(&self.opener))
    }

    fn blobs(&self) -> Option<Arc<dyn BlobBytes>> {
        Some(Arc::clone(&self.blobs) as Arc<dyn BlobBytes>)
    }

    async fn blob_facts(&self, sha256: &str) -> Result<BlobFacts, CentralError> {
        let client = self.client().await?;
        attachments::facts(&client, sha256).await
    }

    async fn blob_completed(
        &self,
        completion: BlobCompletion,
    ) -> Result<Vec<(Uuid, String)>, CentralError> {
        let mut client = self.client().await?;
        attachments::completed(&mut client, &completion).await
    }

    async fn apply(&self, batch: IncomingBatch) -> Result<Applied, CentralError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.applier
            .send(Job { batch, answer })
            .await
            .map_err(|_| CentralError::NotApplied("the applier stopped".into()))?;
        answered
            .await
            .map_err(|_| CentralError::NotApplied("the applier stopped".into()))?
    }

    async fn tree_head(&self) -> Result<TreeHeadAnswer, CentralError> {
        let client = self.client().await?;
        let head = stored_head(&**client, self.node_id, None)
            .await?
            .ok_or_else(|| CentralError::Inconsistent("the log has no signed head".into()))?;
        Ok(TreeHeadAnswer {
            tree_head: head,
            public_key: self.signer.public_key(),
        })
    }

    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<LogEntryLine>, CentralError> {
        let client = self.client().await?;
        query::entries(&client, start, end).await
    }

    async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionAnswer, CentralError> {
        let client = self.client().await?;
        query::inclusion(&client, index, tree_size).await
    }

    async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyAnswer, CentralError> {
        let client = self.client().await?;
        query::consistency(&client, first, second).await
    }

    async fn sessions(&self, query: SessionQuery) -> Result<Vec<SessionLine>, CentralError> {
        let client = self.client().await?;
        query::sessions(&client, &query).await
    }

    async fn grants(
        &self,
        nodes: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, crate::check::NodeGrant>, CentralError> {
        let client = self.client().await?;
        registry::grants(&**client, &nodes).await
    }

    async fn register(
        &self,
        request: RegisterRequest,
        now: DateTime<Utc>,
    ) -> Result<RegisterAnswer, RegistryError> {
        let mut client = self.client().await?;
        let node = registry::register(
            &mut client,
            &request.token,
            request.node_id,
            request.role,
            &request.public_key,
            now,
        )
        .await?;
        let head = stored_head(&**client, self.node_id, None)
            .await?
            .ok_or_else(|| CentralError::Inconsistent("the log has no signed head".into()))?;
        let biometrics = crate::sqlite::biometrics_of(&node);
        Ok(RegisterAnswer {
            node_id: node.node_id,
            role: node.role,
            unit_code: node.unit_code,
            name: node.name,
            station_id: node.station_id,
            biometrics,
            registered_at: node.registered_at,
            central_id: self.node_id,
            log: TreeHeadAnswer {
                tree_head: head,
                public_key: self.signer.public_key(),
            },
            // Laptops seal citizen data to this key from now on.
            seal_key: (request.role == NodeRole::Field).then(|| hex::encode(self.opener.public())),
        })
    }

    async fn issue_token(
        &self,
        role: NodeRole,
        unit_code: &str,
        name: &str,
        station_id: Option<Uuid>,
        biometrics: doorstep_core::record::BiometricPolicy,
        valid_for: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, RegistryError> {
        if !self.units.contains(unit_code) {
            return Err(RegistryError::UnknownUnit(unit_code.to_owned()));
        }
        let mut client = self.client().await?;
        registry::provision(
            &mut client,
            role,
            unit_code,
            name,
            station_id,
            biometrics,
            valid_for,
            now,
        )
        .await
    }

    async fn list_nodes(&self) -> Result<Vec<RegisteredNode>, RegistryError> {
        let client = self.client().await?;
        Ok(registry::nodes(&**client, None).await?)
    }

    async fn revoke_node(
        &self,
        node_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RegisteredNode, RegistryError> {
        let mut client = self.client().await?;
        registry::revoke(&mut client, node_id, reason, now).await
    }

    async fn device_records(
        &self,
        device_id: Uuid,
        after_seq: u64,
        limit: u64,
    ) -> Result<DeviceRecordsAnswer, CentralError> {
        let client = self.client().await?;
        query::device_records(&client, device_id, after_seq, limit).await
    }

    async fn status(&self) -> Result<CentralStatus, CentralError> {
        let mut client = self.client().await?;
        status::status(
            &mut client,
            self.node_id,
            self.units_source.clone(),
            self.units.len(),
        )
        .await
    }

    async fn custody(&self, keys: Vec<CustodyKey>) -> Result<Vec<CustodyLine>, CentralError> {
        let client = self.client().await?;
        query::custody(&client, &keys).await
    }

    async fn import_targets(
        &self,
        targets: Vec<Target>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ImportedCampaign>, CentralError> {
        let mut client = self.client().await?;
        progress::import_targets(&mut client, &targets, now).await
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, CentralError> {
        let client = self.client().await?;
        progress::campaigns(&client).await
    }

    async fn campaign_targets(&self, campaign: &str) -> Result<Vec<Target>, CentralError> {
        let client = self.client().await?;
        progress::campaign_targets(&client, campaign).await
    }

    async fn visit_counts(
        &self,
        kinds: Vec<RecordKind>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<VisitCount>, CentralError> {
        let client = self.client().await?;
        progress::visit_counts(&client, &kinds, from, to).await
    }

    async fn conflicts(&self, limit: u64) -> Result<(u64, Vec<ConflictLine>), CentralError> {
        let client = self.client().await?;
        progress::conflicts(&client, limit).await
    }

    async fn devices(&self) -> Result<Vec<crate::store::DeviceStatus>, CentralError> {
        let client = self.client().await?;
        status::devices(&**client).await
    }

    async fn verify_log(&self) -> Result<crate::audit::AuditReport, CentralError> {
        let mut client = self.client().await?;
        audit::verify_on(&mut client, &self.target, &mut |_, _, _| {}).await
    }

    async fn worklist_page(
        &self,
        device: Uuid,
        request: WorklistRequest,
    ) -> Result<WorklistPage, CentralError> {
        let mut client = self.client().await?;
        worklist::page(&mut client, &self.units, self.node_id, device, &request).await
    }

    async fn coverage(
        &self,
        under: Option<String>,
        people: bool,
    ) -> Result<CoverageReport, CentralError> {
        let client = self.client().await?;
        worklist::coverage(&client, &self.units, under.as_deref(), people).await
    }

    async fn import_roster(
        &self,
        residents: Vec<Resident>,
        now: DateTime<Utc>,
    ) -> Result<RosterImport, CentralError> {
        let mut client = self.client().await?;
        worklist::import_roster(&mut client, &residents, now).await
    }

    async fn assign(
        &self,
        device: Uuid,
        mode: AssignMode,
        units: Vec<String>,
        households: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Assignment, AssignError> {
        let mut client = self.client().await?;
        worklist::assign(
            &mut client,
            &self.units,
            device,
            mode,
            &units,
            &households,
            now,
        )
        .await
    }

    async fn assignments(&self) -> Result<Vec<AssignmentLine>, CentralError> {
        let client = self.client().await?;
        worklist::assignments(&client, &self.units).await
    }

    async fn roster_counts(&self) -> Result<HashMap<&'static str, u64>, CentralError> {
        let client = self.client().await?;
        worklist::roster_counts(&client).await
    }
}
