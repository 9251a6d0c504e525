//! `doorstep loadgen`: many simulated laptops (and commune stations)
//! syncing generated records to a running central at once, to measure it.
//!
//! Records are made as a laptop makes them — `doorstep gen`'s generator,
//! the core validation, the core canonical encoding and content hash — but
//! with IDs and times derived from `--seed` instead of the clock, so a
//! second run with the same seed sends the very same bytes (and must be
//! answered `duplicate`). Each sender generates one batch ahead while the
//! previous one is in flight; memory holds a few batches per sender.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use doorstep_core::canonical::{encode_body, encode_envelope};
use doorstep_core::units::UnitLevel;
use doorstep_core::{ContentHash, Units, ValidationContext, validate};
use doorstep_gen::{Generator, RecordKind};
use doorstep_sync::push::{check_lines, encode_batch};
use doorstep_sync::{Client, RetryPolicy, SendError};
use doorstep_wire::{MAX_BATCH_RECORDS, NodeRole, Outcome as LineOutcome, Sender};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sha2::Digest;
use uuid::Uuid;

use crate::cli::LoadgenArgs;
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// Bình Dương: the province of the source articles.
const DEFAULT_UNIT: &str = "74";
/// zstd level of request bodies, as `field sync` sends them.
const ZSTD_LEVEL: i32 = 3;
/// A laptop stores a record a little after the visit starts.
const ENROLL_AFTER_VISIT_SECS: i64 = 120;
/// Informative `client_version`: central's session log tells loadgen's
/// sessions from real ones.
const CLIENT_VERSION: &str = concat!("doorstep/", env!("CARGO_PKG_VERSION"), " (loadgen)");

pub fn run(args: LoadgenArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let server = crate::sync_cmd::check_server_url(&args.server, lang)?;
    let plan = Plan::new(&args)?;
    let client = crate::sync_cmd::client(
        &server,
        Duration::from_secs(args.timeout.max(1)),
        &args.tls,
        lang,
    )?;
    let retry = RetryPolicy {
        retries: args.retries,
        cap: Duration::from_secs(args.max_backoff.max(1)),
        ..RetryPolicy::default()
    };
    let concurrency = args
        .concurrency
        .map_or(plan.devices + plan.stations, u64::from)
        .max(1);
    // On standard error: it can run beside --json on standard output.
    let show_bar = !args.no_progress && std::io::stderr().is_terminal();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Generation is CPU work: no more threads than cores for it.
        .max_blocking_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
        )
        .build()
        .context("cannot start the async runtime")?;
    let mut report = rt.block_on(drive(plan, client, retry, concurrency, show_bar))?;
    report.server = server;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report, lang);
    }
    if let Some(e) = report.error.as_ref().filter(|e| e.user_mistake) {
        return Err(UserError(e.message.clone()).into());
    }
    Ok(if report.ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// Who sends what: every simulated sender with its laptops, from the flags.
#[derive(Debug)]
struct Plan {
    senders: Vec<SenderPlan>,
    devices: u64,
    stations: u64,
    total: u64,
    batch_records: usize,
    seed: u64,
    kind: String,
    units: Arc<Units>,
}

/// One sender (a laptop, or a station relaying its laptops) and the
/// records it has left to send.
#[derive(Debug)]
struct SenderPlan {
    sender: Sender,
    /// Records it sends in all.
    total: u64,
    devices: Vec<DevicePlan>,
    /// Index in `devices` of the laptop whose records come next.
    current: usize,
}

/// One simulated laptop: its identity, its generator, its next sequence number.
#[derive(Debug)]
struct DevicePlan {
    device_id: Uuid,
    records: u64,
    next_seq: u64,
    last_enrolled_at: Option<DateTime<Utc>>,
    generator: Generator,
}

/// A record as the laptop stored it: what a batch carries.
#[derive(Debug)]
struct Made {
    record_id: Uuid,
    device_seq: u64,
    content_hash: ContentHash,
    canonical: Vec<u8>,
}

impl Plan {
    fn new(args: &LoadgenArgs) -> anyhow::Result<Plan> {
        let units = match &args.units {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    UserError(format!("cannot read the unit list {}: {e}", path.display()))
                })?;
                Units::from_csv(&bytes)
                    .map_err(|e| UserError(format!("invalid unit list {}: {e}", path.display())))?
            }
            None => Units::builtin_provinces(),
        };
        let kind = parse_kind(&args.kind)?;
        let devices = u64::from(args.devices);
        let stations = args.stations.map_or(0, u64::from);
        if stations > devices {
            return Err(UserError(format!(
                "--stations {stations} is more than --devices {devices}: every station needs at least one laptop"
            ))
            .into());
        }
        let per_device = match (args.records_per_device, args.records) {
            (Some(m), _) => {
                devices.checked_mul(m).ok_or_else(|| {
                    UserError(format!(
                        "--devices {devices} × --records-per-device {m} is too many records"
                    ))
                })?;
                vec![m; usize::try_from(devices)?]
            }
            (None, Some(total)) => spread(total, devices),
            // clap requires one of the two.
            (None, None) => {
                return Err(
                    UserError("give --records-per-device M or --records TOTAL".to_owned()).into(),
                );
            }
        };
        // The area of each sender's visits: one commune each, or every
        // commune under --unit.
        let senders_n = if stations > 0 { stations } else { devices };
        let areas: Vec<String> = match &args.communes_of {
            Some(code) => {
                if !units.contains(code) {
                    return Err(UserError(format!(
                        "--communes-of {code}: not in the unit list ({} units loaded; pass --units FILE)",
                        units.len()
                    ))
                    .into());
                }
                let communes: Vec<String> = units
                    .leaves_under(code)
                    .into_iter()
                    .filter(|u| u.level == UnitLevel::Commune)
                    .map(|u| u.code.clone())
                    .collect();
                if communes.is_empty() {
                    return Err(UserError(format!(
                        "--communes-of {code}: the unit list has no commune under it (pass --units data/units/units_2023.csv)"
                    ))
                    .into());
                }
                (0..senders_n)
                    .map(|i| communes[(i % communes.len() as u64) as usize].clone())
                    .collect()
            }
            None => {
                let unit = args.unit.clone().unwrap_or_else(|| DEFAULT_UNIT.to_owned());
                if !units.contains(&unit) {
                    return Err(UserError(format!(
                        "--unit {unit}: not in the unit list ({} units loaded; pass --units FILE)",
                        units.len()
                    ))
                    .into());
                }
                vec![unit]
            }
        };
        let area_of = |sender: u64| -> &str {
            if areas.len() == 1 {
                &areas[0]
            } else {
                &areas[sender as usize]
            }
        };
        let groups = if stations > 0 {
            split(devices, stations)
        } else {
            vec![1; usize::try_from(devices)?]
        };
        let mut senders = Vec::with_capacity(groups.len());
        let mut device_index = 0u64;
        for (s, &group) in groups.iter().enumerate() {
            let s = s as u64;
            let area = area_of(s);
            let place = units
                .get(area)
                .map_or_else(|| area.to_owned(), |u| u.name.clone());
            let mut members = Vec::with_capacity(usize::try_from(group)?);
            for _ in 0..group {
                let records = per_device[usize::try_from(device_index)?];
                let mut opts = crate::gen_cmd::options_for(
                    &units,
                    area,
                    derive_u64(args.seed, "gen", device_index),
                );
                opts.kind = kind;
                let generator = Generator::new(opts)
                    .map_err(|e| UserError(format!("cannot generate records for {area}: {e}")))?;
                members.push(DevicePlan {
                    device_id: derive_id(args.seed, "device", device_index),
                    records,
                    next_seq: 1,
                    last_enrolled_at: None,
                    generator,
                });
                device_index += 1;
            }
            let sender = if stations > 0 {
                Sender {
                    node_id: derive_id(args.seed, "station", s),
                    role: NodeRole::Station,
                    name: Some(format!("loadgen station {} ({place})", s + 1)),
                    client_version: CLIENT_VERSION.to_owned(),
                }
            } else {
                Sender {
                    node_id: members.first().map_or_else(Uuid::nil, |d| d.device_id),
                    role: NodeRole::Field,
                    name: Some(format!("loadgen laptop {} ({place})", s + 1)),
                    client_version: CLIENT_VERSION.to_owned(),
                }
            };
            senders.push(SenderPlan {
                sender,
                total: members.iter().map(|d| d.records).sum(),
                devices: members,
                current: 0,
            });
        }
        Ok(Plan {
            total: per_device.iter().sum(),
            senders,
            devices,
            stations,
            batch_records: usize::try_from(args.batch_records)?.clamp(1, MAX_BATCH_RECORDS),
            seed: args.seed,
            kind: kind.map_or("mixed", RecordKind::as_str).to_owned(),
            units: Arc::new(units),
        })
    }
}

fn parse_kind(raw: &str) -> Result<Option<RecordKind>, UserError> {
    if raw.trim().eq_ignore_ascii_case("mixed") {
        return Ok(None);
    }
    RecordKind::parse(raw).map(Some).ok_or_else(|| {
        UserError(format!(
            "--kind {raw}: not a record kind (id_card_application, eid_registration, eid_activation, driver_license_link, info_correction, or mixed)"
        ))
    })
}

impl SenderPlan {
    /// The next batch: up to `max` records, laptop after laptop in
    /// sequence order (as a station forwards them). Empty when done.
    fn next_batch(&mut self, max: usize, units: &Units) -> anyhow::Result<Vec<Made>> {
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let Some(device) = self.devices.get_mut(self.current) else {
                break;
            };
            if device.next_seq > device.records {
                self.current += 1;
                continue;
            }
            out.push(device.make(units)?);
        }
        Ok(out)
    }
}

impl DevicePlan {
    /// The laptop's next record, made as `field enroll` makes it: the
    /// generated JSON validated and cleaned by the core rules, its
    /// canonical body wrapped in the envelope, hashed.
    fn make(&mut self, units: &Units) -> anyhow::Result<Made> {
        let seq = self.next_seq;
        let value = self.generator.next_record();
        let ctx = ValidationContext::new(units, Utc::now());
        let body = validate(&value, &ctx).map_err(|violations| {
            let first = violations
                .first()
                .map(|v| format!("{}: {}", v.path, v.message))
                .unwrap_or_default();
            anyhow::anyhow!(
                "generated record #{seq} of laptop {} breaks {} rule(s) ({first}); this is a bug in loadgen or gen",
                self.device_id,
                violations.len()
            )
        })?;
        // Derived, not read from the clock: the same seed gives the same
        // bytes. A laptop's clock only moves forward, so its record IDs
        // (UUIDv7 of `enrolled_at`) grow with its sequence as real ones do
        // (central keeps records clustered by ID: random IDs would make its
        // inserts random, which no real laptop causes).
        let after_visit =
            body.visit.at.with_timezone(&Utc) + chrono::Duration::seconds(ENROLL_AFTER_VISIT_SECS);
        let enrolled_at = match self.last_enrolled_at {
            Some(last) => after_visit.max(last + chrono::Duration::seconds(1)),
            None => after_visit,
        };
        self.last_enrolled_at = Some(enrolled_at);
        let record_id = record_id(&self.device_id, seq, &enrolled_at);
        let canonical = encode_envelope(
            &record_id,
            &self.device_id,
            seq,
            &enrolled_at,
            &encode_body(&body),
        );
        self.next_seq += 1;
        Ok(Made {
            record_id,
            device_seq: seq,
            content_hash: ContentHash::of(&canonical),
            canonical,
        })
    }
}

/// 32 bytes derived from the seed, a label and a number.
fn derive(seed: u64, label: &str, n: u64, extra: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"doorstep-loadgen\n");
    h.update(label.as_bytes());
    h.update(seed.to_be_bytes());
    h.update(n.to_be_bytes());
    h.update(extra);
    h.finalize().into()
}

fn derive_u64(seed: u64, label: &str, n: u64) -> u64 {
    let d = derive(seed, label, n, &[]);
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// A UUIDv7 (as `field init` makes device IDs) whose time and random
/// bits come from the seed.
fn derive_id(seed: u64, label: &str, n: u64) -> Uuid {
    // 2023-07-01T00:00:00Z, shortly before the campaign's visits.
    const EPOCH_MS: u64 = 1_688_169_600_000;
    let d = derive(seed, label, n, &[]);
    let mut random = [0u8; 10];
    random.copy_from_slice(&d[..10]);
    uuid::Builder::from_unix_timestamp_millis(EPOCH_MS + n, &random).into_uuid()
}

/// The record ID a laptop would have made when it stored the record (a
/// UUIDv7 of `enrolled_at`), with random bits derived from the laptop and
/// the sequence number.
fn record_id(device_id: &Uuid, seq: u64, enrolled_at: &DateTime<Utc>) -> Uuid {
    let d = derive(0, "record", seq, device_id.as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&d[..10]);
    let ms = u64::try_from(enrolled_at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
}

/// `total` split into `parts` counts as even as possible (the first ones
/// one larger), summing to `total` exactly.
fn spread(total: u64, parts: u64) -> Vec<u64> {
    if parts == 0 {
        return Vec::new();
    }
    let base = total / parts;
    let extra = total % parts;
    (0..parts).map(|i| base + u64::from(i < extra)).collect()
}

/// Group sizes of `items` split over `groups` in order, as even as possible.
fn split(items: u64, groups: u64) -> Vec<u64> {
    spread(items, groups)
}

/// Nearest-rank percentile: the smallest value with at least `pct`
/// percent of `sorted` (ascending) at or below it. Exact, no interpolation.
fn percentile(sorted: &[u64], pct: u32) -> Option<u64> {
    if sorted.is_empty() || pct > 100 {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(pct) * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// What every sender shares.
#[derive(Debug)]
struct Shared {
    client: Client,
    retry: RetryPolicy,
    slots: tokio::sync::Semaphore,
    /// Set on an error that no sender can get past (wrong server mode,
    /// untrusted certificate, a request the server refuses as such).
    stop: AtomicBool,
    /// The first batch given up on (the first that stopped everything, if any).
    first_error: Mutex<Option<RunError>>,
    bar: Option<ProgressBar>,
    batch_records: usize,
    units: Arc<Units>,
}

/// The first batch loadgen gave up on, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RunError {
    pub kind: String,
    pub message: String,
    /// The person running loadgen can fix it (exit 2).
    pub user_mistake: bool,
    /// Every sender stopped (otherwise only the one whose retries ran out).
    pub stopped_all: bool,
}

/// What one sender did.
#[derive(Debug, Default)]
struct SenderResult {
    batches: u64,
    failed_batches: u64,
    records_answered: u64,
    records_unsent: u64,
    counts: Counts,
    refusals: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    retried: BTreeMap<String, u64>,
    retries: u64,
    latencies_us: Vec<u64>,
}

/// Receipt lines by outcome.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub accepted: u64,
    pub duplicate: u64,
    pub conflict: u64,
    pub invalid: u64,
    /// Outcomes this build does not know.
    pub unknown: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.accepted += o.accepted;
        self.duplicate += o.duplicate;
        self.conflict += o.conflict;
        self.invalid += o.invalid;
        self.unknown += o.unknown;
    }
}

/// Batch latency figures, in milliseconds.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Everything loadgen measured (`--json` prints it as is).
#[derive(Debug, Serialize)]
pub struct Report {
    pub server: String,
    pub central_id: Uuid,
    pub devices: u64,
    pub stations: u64,
    pub senders: u64,
    pub concurrency: u64,
    pub batch_records: usize,
    pub seed: u64,
    pub kind: String,
    /// Records the run was to send.
    pub records_total: u64,
    /// Records answered by a receipt.
    pub records_answered: u64,
    /// Records never answered (their sender stopped on an error).
    pub records_unsent: u64,
    pub batches: u64,
    pub failed_batches: u64,
    pub outcomes: Counts,
    /// Conflict and invalid lines by code.
    pub refusals: BTreeMap<String, u64>,
    pub wall_seconds: f64,
    pub records_per_second: f64,
    pub latency_ms: Latency,
    /// Batches given up on, by kind of the last error.
    pub errors: BTreeMap<String, u64>,
    /// Attempts that failed and were retried, by kind.
    pub retried: BTreeMap<String, u64>,
    pub retries: u64,
    /// Every record accepted exactly once, no error.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
}

async fn drive(
    plan: Plan,
    client: Client,
    retry: RetryPolicy,
    concurrency: u64,
    show_bar: bool,
) -> anyhow::Result<Report> {
    // Before anything is sent: is this central, and does it answer?
    let health = client.health().await.map_err(|e| {
        let what = match &e {
            SendError::Untrusted { .. } => e.to_string(),
            SendError::Network { detail, .. } => format!(
                "cannot reach {}: {detail} (is `doorstep central serve --allow-unregistered` running there?)",
                client.server()
            ),
            other => format!(
                "{} does not answer like a Doorstep node: {other}",
                client.server()
            ),
        };
        UserError(what)
    })?;
    if health.role != NodeRole::Central {
        return Err(UserError(format!(
            "{} is a {} node: loadgen sends to central (`doorstep central serve --allow-unregistered`)",
            client.server(),
            health.role.as_str()
        ))
        .into());
    }
    let bar = show_bar.then(|| {
        let b = ProgressBar::new(plan.total);
        b.set_style(
            ProgressStyle::with_template("loadgen [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let shared = Arc::new(Shared {
        client,
        retry,
        slots: tokio::sync::Semaphore::new(
            usize::try_from(concurrency)
                .unwrap_or(usize::MAX)
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        ),
        stop: AtomicBool::new(false),
        first_error: Mutex::new(None),
        bar,
        batch_records: plan.batch_records,
        units: Arc::clone(&plan.units),
    });
    let senders = plan.senders.len() as u64;
    // Every laptop has its first batch ready before the clock starts, as a
    // laptop's outbox is: made during the burst, it would take the cores
    // central is being measured on (loadgen shares the machine).
    let mut making = Vec::with_capacity(plan.senders.len());
    for sender in plan.senders {
        making.push(generate(sender, &shared));
    }
    let mut ready = Vec::with_capacity(making.len());
    for m in making {
        ready.push(m.await.context("record generation stopped")?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (sender, first) in ready {
        tasks.spawn(run_sender(sender, first, Arc::clone(&shared)));
    }
    let mut total = SenderResult::default();
    while let Some(joined) = tasks.join_next().await {
        let r = joined.context("a sender task failed")??;
        total.batches += r.batches;
        total.failed_batches += r.failed_batches;
        total.records_answered += r.records_answered;
        total.records_unsent += r.records_unsent;
        total.counts.add(&r.counts);
        total.retries += r.retries;
        merge(&mut total.refusals, r.refusals);
        merge(&mut total.errors, r.errors);
        merge(&mut total.retried, r.retried);
        total.latencies_us.extend(r.latencies_us);
    }
    let wall = started.elapsed();
    if let Some(bar) = &shared.bar {
        bar.finish_and_clear();
    }
    let mut lat = total.latencies_us;
    lat.sort_unstable();
    let ms = |us: Option<u64>| us.map_or(0.0, |v| round3(v as f64 / 1000.0));
    let latency = Latency {
        p50: ms(percentile(&lat, 50)),
        p95: ms(percentile(&lat, 95)),
        p99: ms(percentile(&lat, 99)),
        max: ms(lat.last().copied()),
        mean: if lat.is_empty() {
            0.0
        } else {
            round3(lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0)
        },
    };
    let error = shared.first_error.lock().ok().and_then(|f| f.clone());
    let ok = total.counts.accepted == plan.total
        && total.errors.is_empty()
        && total.records_unsent == 0
        && error.is_none();
    Ok(Report {
        server: String::new(),
        central_id: health.node_id,
        devices: plan.devices,
        stations: plan.stations,
        senders,
        concurrency: concurrency.min(senders),
        batch_records: plan.batch_records,
        seed: plan.seed,
        kind: plan.kind,
        records_total: plan.total,
        records_answered: total.records_answered,
        records_unsent: total.records_unsent,
        batches: total.batches,
        failed_batches: total.failed_batches,
        outcomes: total.counts,
        refusals: total.refusals,
        wall_seconds: round3(wall.as_secs_f64()),
        records_per_second: if wall.as_secs_f64() > 0.0 {
            (total.records_answered as f64 / wall.as_secs_f64()).round()
        } else {
            0.0
        },
        latency_ms: latency,
        errors: total.errors,
        retried: total.retried,
        retries: total.retries,
        ok,
        error,
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn merge(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// Type of the generation task: the sender's plan comes back with its batch.
type Generated = (SenderPlan, anyhow::Result<Vec<Made>>);

fn generate(mut plan: SenderPlan, shared: &Arc<Shared>) -> tokio::task::JoinHandle<Generated> {
    let units = Arc::clone(&shared.units);
    let max = shared.batch_records;
    tokio::task::spawn_blocking(move || {
        let batch = plan.next_batch(max, &units);
        (plan, batch)
    })
}

/// One sender: batches one after another, as `field sync` (or a station's
/// forwarding) sends them, from `first`; the next batch is generated while
/// one is in flight.
async fn run_sender(
    plan: SenderPlan,
    first: anyhow::Result<Vec<Made>>,
    shared: Arc<Shared>,
) -> anyhow::Result<SenderResult> {
    let sender = plan.sender.clone();
    let total = plan.total;
    let session_id = Uuid::now_v7();
    let mut result = SenderResult::default();
    let mut sent = 0u64;
    let (mut plan, mut batch) = (plan, first);
    loop {
        let made = batch?;
        if made.is_empty() || shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let next = generate(plan, &shared);
        let n = made.len() as u64;
        match send_batch(&shared, &sender, session_id, &made, &mut result).await {
            Ok(()) => sent += n,
            Err(()) => break,
        }
        (plan, batch) = next.await.context("record generation stopped")?;
    }
    result.records_unsent = total - sent;
    Ok(result)
}

/// Sends one batch until it has a receipt (retrying what may succeed
/// later), then counts its lines. `Err` when the sender must stop.
async fn send_batch(
    shared: &Shared,
    sender: &Sender,
    session_id: Uuid,
    batch: &[Made],
    result: &mut SenderResult,
) -> Result<(), ()> {
    let batch_id = Uuid::now_v7();
    // The batch's latency: building and compressing the body, every
    // attempt and the waits between them — not the wait for a free slot
    // under --concurrency, which no laptop would see.
    let started = Instant::now();
    let body = encode_batch(
        batch_id,
        session_id,
        sender,
        None,
        batch.iter().map(|m| {
            (
                m.device_seq,
                &m.content_hash,
                m.canonical.as_slice(),
                None,
                None,
            )
        }),
        ZSTD_LEVEL,
    );
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            give_up(
                shared,
                result,
                "encode".to_owned(),
                e.to_string(),
                false,
                true,
            );
            return Err(());
        }
    };
    let mut spent = started.elapsed();
    let mut retry = 0;
    let receipt = loop {
        let answer = {
            // A slot only while the request is in flight, not while waiting to retry.
            let Ok(_slot) = shared.slots.acquire().await else {
                return Err(());
            };
            let attempt = Instant::now();
            let answer = shared.client.post_batch(body.clone(), true).await;
            spent += attempt.elapsed();
            answer
        };
        match answer {
            Ok((receipt, _raw)) => break receipt,
            Err(e) => {
                let kind = error_kind(&e);
                let retryable = e.is_retryable();
                if retryable && retry < shared.retry.retries && !shared.stop.load(Ordering::Relaxed)
                {
                    retry += 1;
                    result.retries += 1;
                    *result.retried.entry(kind).or_default() += 1;
                    let delay = shared.retry.delay(retry);
                    tokio::time::sleep(delay).await;
                    spent += delay;
                    continue;
                }
                // Retries used up: this sender stops, as `field sync` does.
                // Refused as such (not retryable): every sender would be
                // refused the same, so all stop.
                let user = is_user_mistake(&e);
                give_up(shared, result, kind, explain(&e), user, !retryable);
                return Err(());
            }
        }
    };
    if let Err(detail) = check_lines(
        &receipt,
        batch_id,
        batch.iter().map(|m| (m.record_id, &m.content_hash)),
    ) {
        let message = format!(
            "the receipt from {} does not match the batch sent: {detail}",
            shared.client.server()
        );
        give_up(
            shared,
            result,
            "bad_receipt".to_owned(),
            message,
            false,
            true,
        );
        return Err(());
    }
    result
        .latencies_us
        .push(u64::try_from(spent.as_micros()).unwrap_or(u64::MAX));
    result.batches += 1;
    result.records_answered += batch.len() as u64;
    for line in &receipt.records {
        match line.outcome {
            LineOutcome::Accepted => result.counts.accepted += 1,
            LineOutcome::Duplicate => result.counts.duplicate += 1,
            LineOutcome::Conflict => result.counts.conflict += 1,
            LineOutcome::Invalid => result.counts.invalid += 1,
            LineOutcome::Unknown(_) => result.counts.unknown += 1,
        }
        if line.outcome.is_refused() {
            let code = line
                .code
                .clone()
                .unwrap_or_else(|| line.outcome.as_str().to_owned());
            *result.refusals.entry(code).or_default() += 1;
        }
    }
    if let Some(bar) = &shared.bar {
        bar.inc(batch.len() as u64);
    }
    Ok(())
}

/// A batch given up on: counted by kind; the first such error is kept to
/// be shown; with `stop_all`, every sender stops before its next batch.
fn give_up(
    shared: &Shared,
    result: &mut SenderResult,
    kind: String,
    message: String,
    user_mistake: bool,
    stop_all: bool,
) {
    result.failed_batches += 1;
    *result.errors.entry(kind.clone()).or_default() += 1;
    if stop_all {
        shared.stop.store(true, Ordering::Relaxed);
    }
    if let Ok(mut first) = shared.first_error.lock() {
        // A reason to stop everything outranks one sender's failure.
        if first.as_ref().is_none_or(|f| stop_all && !f.stopped_all) {
            *first = Some(RunError {
                kind,
                message,
                user_mistake,
                stopped_all: stop_all,
            });
        }
    }
}

/// A short, stable name for a failed attempt, to count them by.
fn error_kind(e: &SendError) -> String {
    match e {
        SendError::Network { .. } => "network".to_owned(),
        SendError::Problem {
            status, problem, ..
        } => format!("{status} {}", problem.code),
        SendError::Untrusted { .. } => "tls_untrusted".to_owned(),
        SendError::Unexpected { status, .. } => format!("{status} unexpected"),
    }
}

/// Problem codes that mean central is not open to unregistered devices.
const NOT_OPEN: [&str; 2] = ["auth.required", "auth.unknown_node"];

/// Whether the person running loadgen caused the error and can fix it
/// (exit 2): a central not started with --allow-unregistered, an untrusted
/// certificate, a URL that is not central's base.
fn is_user_mistake(e: &SendError) -> bool {
    match e {
        SendError::Untrusted { .. } => true,
        SendError::Problem {
            status, problem, ..
        } => NOT_OPEN.contains(&problem.code.as_str()) || *status == 404,
        SendError::Network { .. } | SendError::Unexpected { .. } => false,
    }
}

/// What to tell the person about an error that stopped the run.
fn explain(e: &SendError) -> String {
    match e {
        SendError::Problem {
            server,
            problem,
            status,
        } if NOT_OPEN.contains(&problem.code.as_str()) => format!(
            "central at {server} requires registered devices ({status} {}): loadgen's laptops and stations are not registered; start it with `doorstep central serve --allow-unregistered` for load tests",
            problem.code
        ),
        SendError::Problem {
            server,
            status: 404,
            ..
        } => format!(
            "{server} has no {}: give central's base URL, e.g. http://127.0.0.1:8750",
            doorstep_wire::BATCHES_PATH
        ),
        other => other.to_string(),
    }
}

fn print_text(r: &Report, lang: Lang) {
    let l = |vi, en| lang.pick(vi, en);
    let via = if r.stations > 0 {
        format!(
            " {} {} {}",
            l("qua", "via"),
            r.stations,
            l("trạm", "stations")
        )
    } else {
        String::new()
    };
    println!(
        "loadgen → {} ({} {}{via}, seed {}, {})",
        r.server,
        r.devices,
        l("máy trạm", "laptops"),
        r.seed,
        r.kind
    );
    let rows: Vec<(&str, String)> = vec![
        (
            l("hồ sơ", "records"),
            format!(
                "{} {} {}, {} {}",
                r.records_answered,
                l("đã trả lời /", "answered of"),
                r.records_total,
                r.records_unsent,
                l("chưa gửi", "not sent")
            ),
        ),
        (
            l("kết quả", "outcomes"),
            format!(
                "{} {}, {} {}, {} {}, {} {}{}",
                r.outcomes.accepted,
                l("mới", "accepted"),
                r.outcomes.duplicate,
                l("trùng", "duplicate"),
                r.outcomes.conflict,
                l("xung đột", "conflict"),
                r.outcomes.invalid,
                l("không hợp lệ", "invalid"),
                if r.outcomes.unknown > 0 {
                    format!(", {} unknown", r.outcomes.unknown)
                } else {
                    String::new()
                }
            ),
        ),
        (
            l("lô", "batches"),
            format!(
                "{} ({} {}; {} {}, {} {})",
                r.batches,
                l("tối đa", "up to"),
                format_args!("{} {}", r.batch_records, l("hồ sơ", "records")),
                r.senders,
                l("bên gửi", "senders"),
                r.concurrency,
                l("yêu cầu song song", "in flight at most")
            ),
        ),
        (
            l("thông lượng", "throughput"),
            format!("{} {}", r.records_per_second, l("hồ sơ/giây", "records/s")),
        ),
        (
            l("độ trễ mỗi lô", "batch latency"),
            format!(
                "p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} {:.1} ms)",
                r.latency_ms.p50,
                r.latency_ms.p95,
                r.latency_ms.p99,
                r.latency_ms.max,
                l("trung bình", "mean"),
                r.latency_ms.mean
            ),
        ),
        (
            l("lỗi", "errors"),
            counts_line(&r.errors, l("không", "none")),
        ),
        (
            l("thử lại", "retries"),
            if r.retries == 0 {
                "0".to_owned()
            } else {
                format!("{} ({})", r.retries, counts_line(&r.retried, ""))
            },
        ),
        (
            l("thời gian", "wall time"),
            format!("{:.3} s", r.wall_seconds),
        ),
    ];
    let mut rows = rows;
    if !r.refusals.is_empty() {
        rows.insert(
            2,
            (
                l("lý do từ chối", "refused by code"),
                counts_line(&r.refusals, ""),
            ),
        );
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in rows {
        let pad = width - k.chars().count();
        println!("  {k}{}  {v}", " ".repeat(pad));
    }
    if let Some(e) = &r.error {
        println!(
            "  {}: {} ({})",
            l("dừng vì lỗi", "stopped by an error"),
            e.message,
            e.kind
        );
    }
    println!(
        "  {}",
        if r.ok {
            l(
                "Mọi hồ sơ được tiếp nhận đúng một lần.",
                "Every record was accepted exactly once.",
            )
        } else {
            l(
                "Không phải mọi hồ sơ đều được tiếp nhận mới đúng một lần (xem trên).",
                "Not every record was accepted exactly once (see above).",
            )
        }
    );
}

/// `a 3, b 1`, or `none` when empty.
fn counts_line(m: &BTreeMap<String, u64>, none: &str) -> String {
    if m.is_empty() {
        return none.to_owned();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_exact() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 0), Some(7));
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 100), Some(7));
        assert_eq!(percentile(&[1, 2], 101), None);
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&v, 100), Some(100));
        assert_eq!(percentile(&v, 1), Some(1));
        // 10 values: p95 and p99 are the largest (rank 10), p50 the 5th.
        let v: Vec<u64> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(100));
        assert_eq!(percentile(&v, 90), Some(90));
        // 3 values: p50 is the middle one.
        assert_eq!(percentile(&[3, 5, 9], 50), Some(5));
        assert_eq!(percentile(&[3, 5, 9], 34), Some(5));
        assert_eq!(percentile(&[3, 5, 9], 33), Some(3));
        // 2,001 values: p99 is the 1,981st (ceil(19.81 * 100)).
        let v: Vec<u64> = (1..=2001).collect();
        assert_eq!(percentile(&v, 99), Some(1981));
    }

    #[test]
    fn totals_spread_exactly_and_evenly() {
        assert_eq!(spread(10, 3), vec![4, 3, 3]);
        assert_eq!(spread(9, 3), vec![3, 3, 3]);
        assert_eq!(spread(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(spread(5, 0), Vec::<u64>::new());
        let s = spread(1_455_967, 364);
        assert_eq!(s.iter().sum::<u64>(), 1_455_967);
        assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
        assert_eq!(split(364, 91), vec![4; 91]);
    }

    #[test]
    fn ids_are_v7_and_follow_the_seed() {
        let a = derive_id(1, "device", 0);
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a, derive_id(1, "device", 0));
        assert_ne!(a, derive_id(2, "device", 0));
        assert_ne!(a, derive_id(1, "device", 1));
        assert_ne!(a, derive_id(1, "station", 0));
        let at = DateTime::parse_from_rfc3339("2023-09-25T02:32:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = record_id(&a, 1, &at);
        assert_eq!(r.get_version_num(), 7);
        assert_eq!(r, record_id(&a, 1, &at));
        assert_ne!(r, record_id(&a, 2, &at));
        // The UUIDv7 time is the enrollment time.
        let (secs, _) = r.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, u64::try_from(at.timestamp()).unwrap());
    }

    fn args(extra: &[&str]) -> LoadgenArgs {
        use clap::Parser;
        let mut a = vec!["doorstep", "loadgen", "--server", "http://127.0.0.1:1"];
        a.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(a).unwrap().command {
            crate::cli::Command::Loadgen(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn units_csv() -> String {
        format!(
            "{}/../../data/units/units_2023.csv",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn records_are_canonical_valid_and_the_same_for_the_same_seed() {
        let units = units_csv();
        let make = |seed: &str| {
            let mut plan = Plan::new(&args(&[
                "--devices",
                "4",
                "--records",
                "10",
                "--stations",
                "2",
                "--seed",
                seed,
                "--units",
                &units,
                "--communes-of",
                "74",
            ]))
            .unwrap();
            assert_eq!(plan.total, 10);
            assert_eq!(plan.senders.len(), 2);
            let u = Arc::clone(&plan.units);
            plan.senders
                .iter_mut()
                .map(|s| s.next_batch(100, &u).unwrap())
                .collect::<Vec<_>>()
        };
        let a = make("7");
        // Station 1 relays laptops 1-2 (3 + 3 records), station 2 laptops 3-4 (2 + 2).
        assert_eq!(a[0].len(), 6);
        assert_eq!(a[1].len(), 4);
        let seqs: Vec<u64> = a[0].iter().map(|m| m.device_seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 1, 2, 3]);
        // A laptop's record IDs grow with its sequence, as UUIDv7s made at
        // enrollment do.
        assert!(a[0][0].record_id < a[0][1].record_id && a[0][1].record_id < a[0][2].record_id);
        let units = Units::from_csv(&std::fs::read(units_csv()).unwrap()).unwrap();
        let communes: Vec<String> = units
            .leaves_under("74")
            .into_iter()
            .map(|u| u.code.clone())
            .collect();
        for (station, batch) in a.iter().enumerate() {
            for m in batch {
                assert_eq!(ContentHash::of(&m.canonical), m.content_hash);
                // What central runs on every record: hash, canonical form, rules.
                let ctx = ValidationContext::new(&units, Utc::now());
                let record = doorstep_core::recheck(&m.canonical, &m.content_hash, &ctx)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(record.record_id, m.record_id);
                assert_eq!(record.device_seq, m.device_seq);
                assert_eq!(record.body.kind, doorstep_core::RecordKind::EidActivation);
                // Each station's visits are in its own commune, in list order.
                assert_eq!(record.body.visit.unit_code, communes[station]);
            }
        }
        let b = make("7");
        let hashes = |x: &Vec<Vec<Made>>| {
            x.iter()
                .flatten()
                .map(|m| m.content_hash)
                .collect::<Vec<_>>()
        };
        assert_eq!(hashes(&a), hashes(&b));
        assert_ne!(hashes(&a), hashes(&make("8")));
    }

    #[test]
    fn mistakes_in_the_flags_are_user_errors() {
        let units = units_csv();
        for (extra, needle) in [
            (
                vec!["--devices", "2", "--records", "5", "--stations", "3"],
                "--stations 3",
            ),
            (
                vec!["--devices", "2", "--records", "5", "--kind", "pizza"],
                "--kind pizza",
            ),
            (
                vec!["--devices", "2", "--records", "5", "--unit", "99999"],
                "--unit 99999",
            ),
            // The built-in list has provinces only.
            (
                vec!["--devices", "2", "--records", "5", "--communes-of", "74"],
                "no commune",
            ),
        ] {
            let err = Plan::new(&args(&extra)).unwrap_err();
            assert!(err.downcast_ref::<UserError>().is_some(), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        let ok = Plan::new(&args(&[
            "--devices",
            "2",
            "--records",
            "5",
            "--units",
            &units,
            "--communes-of",
            "74",
        ]));
        assert!(ok.is_ok());
    }
}
