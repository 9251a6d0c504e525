//! Command-line definition (clap derive). Help texts explain what each
//! command does and why; officer-facing output is Vietnamese by default.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use doorstep_core::record::BiometricPolicy;

#[derive(Debug, Parser)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep: offline-first enrollment for door-to-door ID card and e-ID (VNeID) campaigns",
    long_about = "Doorstep keeps every enrollment record an officer takes in the field in a local, \
durable SQLite store on the laptop, validated (correct, complete, clean, live) and queued for sync.\n\n\
Messages are in Vietnamese by default; use --lang en (or DOORSTEP_LANG=en) for English.\n\
Exit codes: 0 ok, 2 invalid input or usage, 1 anything else."
)]
pub struct Cli {
    /// Language of messages for people: vi (Vietnamese) or en (English).
    #[arg(long, global = true, env = "DOORSTEP_LANG", default_value = "vi", value_parser = ["vi", "en"])]
    pub lang: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work on an officer's laptop: create the store, enroll records, see the queue.
    #[command(subcommand)]
    Field(FieldCommand),

    /// Print deterministic, realistic synthetic records as NDJSON (for demos, tests, benchmarks).
    ///
    /// Records have Vietnamese names with diacritics, ID numbers consistent with birth date,
    /// sex and a province, mobile numbers, and a realistic mix of visit places (homes,
    /// hospital beds of bedridden and elderly citizens, factories, boarding houses). The same
    /// arguments always print the same records.
    Gen(GenArgs),

    /// Run the central ingest service and look at what it holds.
    #[command(subcommand)]
    Central(CentralCommand),

    /// Run a commune station: laptops sync to it over the LAN (or bring bundle files); it
    /// holds their records and forwards them to central exactly once.
    #[command(subcommand)]
    Station(StationCommand),

    /// Audit: check a store's tamper-evident log or journal, list sync sessions, reconcile a
    /// laptop with central, find sequence gaps.
    ///
    /// Central (and each station) keeps an append-only Merkle log (RFC 9162) of every batch it
    /// applied, with signed tree heads; each laptop keeps a hash-chained journal of its own
    /// events. These commands check them and compare what each side holds.
    #[command(subcommand)]
    Audit(AuditCommand),

    /// Campaign reports as leaders read them: achieved / target and percent, units done,
    /// the date each unit reached its target and how many days ahead of its deadline, rank
    /// among its peers, and where the work was done (homes, hospital beds, factories).
    #[command(subcommand)]
    Report(ReportCommand),

    /// Show the whole flow on this machine: central on loopback, three field laptops
    /// enrolling offline while central is down, then syncing when it comes up.
    ///
    /// Needs nothing installed: central uses its embedded SQLite store. Everything is
    /// written under --dir (a new temporary directory by default) and the ports are
    /// loopback ports chosen by the system.
    Demo(DemoArgs),

    /// Load-test a running central: many simulated laptops (optionally relayed by commune
    /// stations) sync generated records to it at once; prints throughput and batch latency.
    ///
    /// Each simulated laptop has its own device ID and numbers its records 1, 2, 3… with no
    /// gap; its records are generated as `doorstep gen` makes them, validated and encoded
    /// exactly as `field enroll` stores them (canonical bytes, content hash), a batch at a
    /// time, so memory stays flat however many records are sent. Everything is derived from
    /// --seed: running again with the same seed sends the very same records, which central
    /// must answer `duplicate` (exactly once); another seed makes new laptops.
    ///
    /// Without --stations each laptop sends its own batches (sender role `field`), one after
    /// another as `field sync` does. With --stations K the laptops are split over K stations
    /// and each station relays its laptops' records (sender role `station`), in (laptop,
    /// sequence) order, as `station serve` forwards them.
    ///
    /// Central must run with --allow-unregistered (`doorstep central serve
    /// --allow-unregistered`): the simulated laptops and stations are not registered, so
    /// their requests are not signed, their records carry no signature and are sent in
    /// plaintext (not sealed) — which such a central accepts from unregistered devices, and
    /// only then. A central that requires registration answers `auth.required`; loadgen
    /// stops and says so (exit 2). The records are real: they stay in central's store.
    ///
    /// Printed: records/s, batches, batch latency p50/p95/p99/max (from the start of building
    /// the request, compression included, to the receipt; retries and their waits included,
    /// the wait for a free slot under --concurrency not), errors by kind,
    /// outcomes (accepted, duplicate, conflict, invalid), wall time. Exit 0 when every record
    /// was accepted exactly once with no error, 1 otherwise, 2 for a usage mistake.
    Loadgen(LoadgenArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute and check a store's log (central or station data directory) or journal
    /// (laptop data directory); name the first entry or record that does not match.
    ///
    /// For central and stations: every log entry is re-hashed and the Merkle tree rebuilt;
    /// every stored tree node and every signed tree head (root and Ed25519 signature) is
    /// compared with it; every held record's bytes must hash to its content hash and be the
    /// record a log entry accepted, and every accepted record must still be held. For a
    /// laptop: the journal's hash chain and the records each entry covers. Reads only.
    /// Exit 0 when everything matches, 1 when something does not.
    Verify(AuditVerifyArgs),

    /// List sync sessions a server logged: who, when, what, bytes, outcomes (newest first).
    Log(AuditLogArgs),

    /// Compare a laptop's records and receipts with what the server holds from it: records
    /// missing at the server, records the server holds that the laptop never made, content
    /// hash mismatches. Exit 1 when they differ.
    Reconcile(AuditReconcileArgs),

    /// Per device: sequence numbers the server never received, with the device's last contact.
    Gaps(AuditGapsArgs),

    /// Alarms a laptop or station raised about a server's log (a log that was rewritten, a
    /// bad signature, a receipt not in the log), with the evidence kept.
    Alarms(AuditAlarmsArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// A data directory: central's, a station's or a laptop's.
    #[arg(long, value_name = "DIR", required_unless_present = "database")]
    pub data_dir: Option<PathBuf>,
    /// Check central's log in PostgreSQL instead (the URL `central serve --database` uses).
    /// Reads one consistent snapshot while ingest nodes keep serving.
    #[arg(
        long,
        env = "DOORSTEP_DATABASE_URL",
        value_name = "URL",
        conflicts_with = "data_dir"
    )]
    pub database: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct AuditLogArgs {
    /// Base URL of central or a station, e.g. http://127.0.0.1:8750.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    /// Only sessions of this device or station (its ID).
    #[arg(long, value_name = "ID")]
    pub device: Option<uuid::Uuid>,
    /// Only sessions active at or after this time (RFC 3339, e.g. 2026-11-23T00:00:00+07:00).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Most sessions to show.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: u64,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditReconcileArgs {
    /// Directory of the laptop's store.
    #[arg(long, env = "DOORSTEP_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Base URL of the server the laptop syncs to.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditGapsArgs {
    /// Base URL of central or a station.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    /// Also list devices without gaps.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditAlarmsArgs {
    /// A laptop's or a station's data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// The unit the laptop or station will work for (records outside it are refused).
    #[arg(long, value_name = "CODE")]
    pub unit: String,
    /// A name people recognise, e.g. "Tổ 3 - CA Thuận Giao".
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// What the token registers.
    #[arg(long, value_enum, default_value = "field")]
    pub role: ProvisionRole,
    /// For a laptop: the station (its ID) it will sync through.
    #[arg(long, value_name = "STATION_ID")]
    pub station: Option<uuid::Uuid>,
    /// For a laptop: the biometrics its ID card applications must carry — `none`, or `face`,
    /// `all` (the ten fingers) and finger names, comma-separated (e.g. `face,all`). The laptop
    /// learns it when it registers; central refuses a card application without them (or
    /// without an exemption for each missing finger).
    #[arg(long, value_name = "SPEC", default_value = "none", value_parser = biometric_policy)]
    pub biometrics: BiometricPolicy,
    /// Hours the token stays valid.
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    pub valid_hours: u32,
    /// Print JSON (no QR code).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProvisionRole {
    Field,
    Station,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// The laptop's or station's ID.
    #[arg(value_name = "DEVICE")]
    pub device: uuid::Uuid,
    /// Why (kept with the registration), e.g. "laptop stolen 2026-11-20".
    #[arg(long, default_value = "revoked by an operator", value_name = "TEXT")]
    pub reason: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CentralCommand {
    /// Serve the ingest API (`POST /v1/batches`, `GET /healthz`, `GET /metrics`).
    ///
    /// The store is created in --data-dir on first start (with --units, or the 63 built-in
    /// provinces). Listens on loopback unless told otherwise; port 0 picks a free port. The
    /// first line on standard output is `listening on http://ADDR` (`https://` with
    /// --tls-cert and --tls-key: then it serves HTTPS only, and laptops pass the CA that
    /// signed the certificate with --ca-cert). Ctrl-C or SIGTERM stops it gracefully:
    /// batches in flight finish first.
    Serve(CentralServeArgs),

    /// What central holds: records by kind and outcome, and per device its highest
    /// contiguous sequence number, its gaps and its last sync.
    Status(CentralStatusArgs),

    /// Issue a one-time, expiring token that registers one laptop (or station) for a unit.
    ///
    /// The token is printed once (and as a QR code on a terminal); only its hash is kept.
    /// On the laptop: `doorstep field init ... --server URL --token TOKEN` (or
    /// `doorstep field register`). A token is used once and expires after --valid-hours.
    Provision(ProvisionArgs),

    /// List registered laptops and stations: ID, role, unit, station, registration, revocation.
    Devices(DevicesArgs),

    /// Revoke a laptop or station (lost, stolen, retired): nothing it sends is accepted any more.
    Revoke(RevokeArgs),

    /// Campaigns: targets per unit that progress reports measure against.
    #[command(subcommand)]
    Campaign(CampaignCommand),

    /// The roster of residents still to reach, that worklists are made of.
    #[command(subcommand)]
    Roster(crate::worklist_args::RosterCommand),

    /// Assign a laptop (or station) the units or households whose residents it is to reach.
    ///
    /// The device downloads exactly its assignment at its next sync (`field sync`, or the
    /// background sync of `field serve`); people no longer assigned leave it. By default the
    /// given units and households replace the device's assignment; --add and --remove change
    /// it. A station without an assignment gets its registered unit. --list shows every
    /// device's assignment and how many people it covers.
    Assign(crate::worklist_args::CentralAssignArgs),
}

#[derive(Debug, Subcommand)]
pub enum StationCommand {
    /// Serve the same /v1 API as central, for the laptops of the commune, and forward upstream.
    ///
    /// Each batch a laptop sends is stored durably before the laptop gets its receipt
    /// ("held by station S"). A background loop forwards held records to --upstream (central)
    /// in batches, retrying until central answers, across restarts; each record keeps its
    /// origin device, sequence number and content hash, and central records which station
    /// relayed it. Laptops learn central's answers from the station (`POST /v1/custody`).
    /// The store is created in --data-dir on first start. Binds loopback unless told
    /// otherwise; the first line on standard output is `listening on http://ADDR`
    /// (`https://` with --tls-cert and --tls-key: HTTPS only). --ca-cert is the CA that
    /// signed central's certificate, for an https:// --upstream.
    Serve(StationServeArgs),

    /// Import bundle files brought from laptops with no network (`doorstep field export`).
    ///
    /// Each file is verified first (file SHA-256, format, manifest against records; see
    /// proto/bundle-v1.md), then its records go through the same checks as a laptop's sync
    /// batch and are stored in one transaction: a refused file imports nothing. Importing a
    /// bundle again, or bundles that overlap, changes nothing twice (records come back
    /// `duplicate`). Imported records are forwarded to central like synced ones. Prints
    /// counts per file (accepted, duplicate, conflict, invalid) and totals; exit 2 when any
    /// file was refused (the others are still imported).
    Import(ImportArgs),

    /// Register this station with central: make its Ed25519 key and present a one-time token
    /// from `doorstep central provision --role station` (creates the store if needed).
    Register(StationRegisterArgs),

    /// The merge report: per laptop, records received, forwarded and confirmed or rejected by
    /// central, still waiting, duplicates, sequence gaps; and records about the same citizen
    /// (personal ID and kind) from two laptops, flagged for review (never dropped).
    Report(StationReportArgs),

    /// Sub-assign a laptop of this station units or households within what central assigned
    /// the station (the laptop keeps what central assigned it, too).
    Assign(crate::worklist_args::StationAssignArgs),
}

#[derive(Debug, Args)]
pub struct StationRegisterArgs {
    /// Directory of the station's store.
    #[arg(long, env = "DOORSTEP_STATION_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Central's address.
    #[arg(long, value_name = "URL")]
    pub server: String,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// The one-time token from `doorstep central provision --role station`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DOORSTEP_TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// Unit list CSV, when the store is created now.
    #[arg(long, value_name = "FILE")]
    pub units: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StationReportArgs {
    /// Directory of the station's store.
    #[arg(long, env = "DOORSTEP_STATION_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Directory of the station's store (created by `station serve`).
    #[arg(long, env = "DOORSTEP_STATION_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Bundle files to import, in order.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StationServeArgs {
    /// Directory of the station's store.
    #[arg(long, env = "DOORSTEP_STATION_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Base URL of central, e.g. https://central.example:8750.
    #[arg(long, env = "DOORSTEP_UPSTREAM", value_name = "URL")]
    pub upstream: String,
    /// Address to listen on (IP:PORT); use the LAN address to serve the commune's laptops.
    #[arg(long, default_value = "127.0.0.1:8751", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Unit list CSV records are validated against (stored in the data directory).
    #[arg(long, value_name = "FILE")]
    pub units: Option<PathBuf>,
    /// Seconds between forwarding rounds when there is nothing new.
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    pub forward_interval: u64,
    /// Records per forwarded batch.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    #[command(flatten)]
    pub tls: ServerTlsArgs,
    /// CA certificate (PEM) central's HTTPS certificate must chain to (only this CA is trusted
    /// then); without it an https:// --upstream is checked against the public roots.
    #[arg(long, env = "DOORSTEP_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CentralDataDir {
    /// Directory of central's store (the embedded SQLite database and the node's secret
    /// keys: log-signing.key, seal.key). With --database it holds only the keys.
    #[arg(long, env = "DOORSTEP_CENTRAL_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Keep central in PostgreSQL instead of the embedded SQLite store, e.g.
    /// postgres://doorstep@127.0.0.1/doorstep. Several `central serve` processes may share
    /// one database: give each a copy of --data-dir's key files (docs/SCALING.md).
    #[arg(long, env = "DOORSTEP_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct CentralServeArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// Address to listen on (IP:PORT).
    #[arg(long, default_value = "127.0.0.1:8750", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Unit list CSV records are validated against (stored in the data directory; given
    /// again later, it replaces the stored list).
    #[arg(long, value_name = "FILE")]
    pub units: Option<PathBuf>,
    /// Also accept records from devices central has not registered (for trials and tests).
    /// Registered devices are still held to their signatures, units and revocation.
    #[arg(long)]
    pub allow_unregistered: bool,
    /// Verify the audit log (the checks of `doorstep audit verify`) at start and then every
    /// this many minutes, for the dashboard and `GET /v1/reports/audit`; 0 turns it off.
    /// Each check reads the whole log and every record.
    #[arg(long, default_value_t = 15, value_name = "MINUTES")]
    pub audit_every: u64,
    #[command(flatten)]
    pub tls: ServerTlsArgs,
}

/// HTTPS for central or a station (both flags or neither).
#[derive(Debug, Clone, Args)]
pub struct ServerTlsArgs {
    /// Serve HTTPS only, with this certificate: PEM, the server's certificate first, then any
    /// intermediates. It must name the address laptops use (DNS name or IP). Needs --tls-key.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC). Keep it readable only by the
    /// service. Needs --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// How a command checks an https:// server's certificate.
#[derive(Debug, Clone, Args)]
pub struct ClientTlsArgs {
    /// CA certificate (PEM) the server's HTTPS certificate must chain to; only this CA is
    /// trusted then. Without it an https:// server is checked against the public roots.
    #[arg(long, env = "DOORSTEP_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CentralStatusArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("amount").required(true).args(["records_per_device", "records"])))]
pub struct LoadgenArgs {
    /// Base URL of central, e.g. http://127.0.0.1:8750 (started with --allow-unregistered).
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    /// Simulated laptops.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub devices: u32,
    /// Records each laptop enrolls and syncs.
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u64).range(1..))]
    pub records_per_device: Option<u64>,
    /// Records in all, spread over the laptops as evenly as possible (instead of
    /// --records-per-device); exactly this many are sent.
    #[arg(long, value_name = "TOTAL", value_parser = clap::value_parser!(u64).range(1..))]
    pub records: Option<u64>,
    /// Commune stations relaying the laptops' records (the laptops are split over them, in
    /// order, as evenly as possible; at most --devices). Without it laptops send directly.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub stations: Option<u32>,
    /// Records per batch (at most 5000, the protocol's limit).
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub batch_records: u32,
    /// Most requests in flight at once (default: devices + stations). Each laptop, or each
    /// station with --stations, sends one batch at a time, so fewer senders mean fewer.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Seed of everything generated (device and station IDs, records, record IDs).
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Unit whose communes the visits happen in (default 74, Bình Dương).
    #[arg(long, value_name = "CODE", conflicts_with = "communes_of")]
    pub unit: Option<String>,
    /// Give each station (each laptop without --stations) one commune under this province or
    /// district, in the unit list's order (starting over when there are more senders than
    /// communes); its records are visits in that commune. Needs a list with communes (--units).
    #[arg(long, value_name = "CODE")]
    pub communes_of: Option<String>,
    /// Unit list CSV (`code,name,level,parent_code`, e.g. data/units/units_2023.csv); use the
    /// list central was started with, or its records may be invalid there. Default: the 63
    /// built-in provinces.
    #[arg(long, value_name = "FILE")]
    pub units: Option<PathBuf>,
    /// Record kind (id_card_application, eid_registration, eid_activation,
    /// driver_license_link, info_correction), or `mixed` for the realistic mix of `gen`.
    #[arg(long, default_value = "eid_activation", value_name = "KIND")]
    pub kind: String,
    /// Retries per batch after network or server errors (408, 429, 5xx), with the sync
    /// client's exponential backoff and jitter.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub retries: u32,
    /// Longest wait between two retries, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub max_backoff: u64,
    /// Time limit of one request, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print one JSON object with every figure instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not draw the progress bar (drawn on standard error when it is a terminal, also
    /// with --json).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to put the demo's stores (default: a new temporary directory, kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Records each of the three laptops enrolls.
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    pub records: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DataDir {
    /// Directory holding the laptop's store (created by `field init`).
    #[arg(long, env = "DOORSTEP_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum FieldCommand {
    /// Register this laptop with central: make its Ed25519 key and present a one-time token
    /// from `doorstep central provision` (for a store made with `field init` without --token).
    Register(RegisterArgs),

    /// Create the laptop's store: a new device identity, its unit and the unit list.
    ///
    /// The unit list is a CSV `code,name,level,parent_code` (see data/units/ in the
    /// repository). Without --units only the 63 provinces are known, so addresses and visits
    /// can only name provinces. An existing store is never overwritten.
    Init(InitArgs),

    /// Validate records and store them durably, queued for sync.
    ///
    /// Input (a file, or standard input when FILE is `-` or absent): one JSON object, a JSON
    /// array of objects, or NDJSON (one object per line). Valid records are stored and their
    /// new record IDs printed, one per line; every invalid record is listed with its position
    /// and each rule it breaks, and the exit code is then 2. A record is reported stored only
    /// after it is committed to disk. Enrolling the same input again stores nothing twice.
    ///
    /// Attachments may name files: `"attachments": [{"kind": "face", "file":
    /// "att/000001-face.jpg"}, {"kind": "fingerprint_right_thumb", "file": "…"}]`, with an
    /// optional `media_type`. A relative path is read from the input file's directory (from
    /// the current directory for standard input; --files-dir overrides both). Each file is
    /// read (at most 4 MiB), its type recognised from its first bytes (JPEG, PNG, JPEG 2000,
    /// WSQ, PDF; a different `media_type` given is refused), hashed and stored encrypted with
    /// the record, once however many records name it. A missing or unreadable file makes its
    /// record invalid (`$.attachments[i].file`). Items already given as `{kind, media_type,
    /// sha256, size}` name files this laptop already holds. id_card_applications must carry
    /// the biometrics of the laptop's policy (see `field biometrics`).
    Enroll(EnrollArgs),

    /// List records in sequence order with their custody state (asks for the passphrase:
    /// names and ID numbers are stored encrypted).
    List(ListArgs),

    /// Change the officer's passphrase (asks for the current one and the new one twice;
    /// scripts give the current one in DOORSTEP_PASSPHRASE and the new one in
    /// DOORSTEP_NEW_PASSPHRASE). Records are not re-encrypted: only the store's key is
    /// wrapped again.
    Passphrase(StatusArgs),

    /// Remove the citizen data of records central confirmed more than the retention period
    /// ago (default 7 days; `--retention-days` to change it for this laptop). IDs, hashes,
    /// signatures, the journal and receipts stay. `field sync` also does this after every
    /// sync; no passphrase is needed.
    Purge(PurgeArgs),

    /// Counts by state and by kind, the outbox size, the last record time, the biometric
    /// policy and the attachment files held (to upload, bytes, refused).
    Status(StatusArgs),

    /// Change which biometrics an id_card_application must carry on this laptop (the
    /// campaign's policy; `field init --biometrics` sets it first).
    ///
    /// SPEC is `none`, or a comma-separated list of `face`, `all` (the ten fingers) and finger
    /// names (right_thumb, right_index, right_middle, right_ring, right_little, left_thumb,
    /// left_index, left_middle, left_ring, left_little), e.g. `face,all` or
    /// `face,right_index,left_index`. `field enroll` refuses an id_card_application without a
    /// required face or finger (a finger the citizen cannot give is listed in
    /// `biometric_exemptions` with a reason). Records already stored are not checked again.
    /// No passphrase is needed. A laptop registered with central is refused: its policy is
    /// its campaign's, set when central issues the token.
    Biometrics(BiometricsArgs),

    /// Check the store: SQLite integrity, gap-free sequence, every record decrypts and decodes
    /// (asks for the passphrase).
    Check(StatusArgs),

    /// Send every queued record to central (or a station), exactly once.
    ///
    /// Records go in batches read from the store as they are sent (memory does not grow
    /// with the queue). Network errors and server errors are retried with exponential
    /// backoff and jitter; a record central refuses is marked rejected with the reason
    /// (see `field list --status rejected`) and the rest go on. Records are marked
    /// acknowledged only after the receipt is stored. Exit 0 only when the queue is empty
    /// at the end; otherwise 1, with the counts.
    Sync(SyncArgs),

    /// The local sync log: every sync session, batch and failure, newest last.
    SyncLog(SyncLogArgs),

    /// Serve the officer app and the local HTTP API on this laptop, and sync in the background.
    ///
    /// Open http://127.0.0.1:8760/ in a browser: the officer app (Vietnamese, with an
    /// English switch; see docs/OFFICER-APP.md) works with no network at all: its files are
    /// inside this program. It starts locked: the officer unlocks it with the passphrase,
    /// and it locks again after --lock-after seconds without use (or with the lock button).
    /// JSON endpoints (see docs/LOCAL-API.md): `POST /api/unlock` opens a session, then
    /// `POST /api/records` validates and stores records exactly like `field enroll`,
    /// `GET /api/records`, `GET /api/status`, `POST /api/sync`, `GET /api/worklist`,
    /// `POST /api/visits`, `GET /api/summary` and more. Listens on 127.0.0.1 only unless
    /// told otherwise (to let a tablet on the laptop's own hotspot in, --listen on the
    /// hotspot's address); port 0 picks a free port and the first line on standard output
    /// is `listening on http://ADDR`. Every --sync-interval seconds, and shortly after
    /// records are stored, a background loop checks whether --server answers and, when
    /// records are queued, syncs them (no session needed: what sync sends stays readable
    /// while locked); while the server is unreachable it waits longer between checks (up to
    /// --max-backoff). A failed sync never stops the API: it shows in `/api/status` and in
    /// `field sync-log`. Ctrl-C or SIGTERM stops it gracefully.
    Serve(ServeArgs),

    /// The residents this laptop is to reach (its worklist, downloaded by `field sync`), with
    /// what central knows of them and what was done here since (asks for the passphrase:
    /// names and ID numbers are stored encrypted).
    ///
    /// One line per person: unit, household, name, personal ID, the needs still open (card,
    /// e-ID registration, e-ID activation), why central still lists them and how many visits
    /// it knows of, and this laptop's own records about them (enrollments and visit
    /// outcomes, not yet reflected by central). --remaining hides the people those records
    /// already settle.
    Worklist(crate::worklist_cmd::WorklistArgs),

    /// Record what came of a visit to a person on the worklist (a `visit_outcome` record,
    /// validated, stored and synced like any other record).
    ///
    /// The citizen's data comes from the worklist entry; the visit is at home in the
    /// person's worklist unit now, unless --place and --at say otherwise. Outcomes: enrolled
    /// (links the enrollment record, by default this laptop's newest one for the person),
    /// not_home, moved (--unit: the new address's unit, optional), living_elsewhere (--unit:
    /// the unit the person is referred to, required), deceased, refused, cannot_travel,
    /// done_elsewhere. Prints the new record's ID; exit 2 when the person is not on this
    /// laptop's worklist or the record breaks a rule.
    Visit(crate::worklist_cmd::VisitArgs),

    /// Write every unconfirmed record into one bundle file, to carry to the commune station.
    ///
    /// For teams with no network: the bundle (see proto/bundle-v1.md) holds every record
    /// central has not confirmed (pending or held), byte for byte, with a manifest and a
    /// SHA-256 of the whole file, so the station can tell a damaged or incomplete copy.
    /// Take it on a USB stick to the station and run `doorstep station import` there.
    /// Exporting changes nothing on the laptop: the records stay queued, and the laptop
    /// learns they are held when it next syncs. FILE must not exist yet; it is written
    /// completely or not at all. Prints the device, sequence range, record count, size and
    /// the file's SHA-256. With an empty queue nothing is written (exit 0).
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// The bundle file to write (refused if it exists), e.g. /media/usb/to-3.dsbundle.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Base URL of central or of the commune station to sync with, e.g. http://127.0.0.1:8750.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    /// Address of the local API (IP:PORT).
    #[arg(long, default_value = "127.0.0.1:8760", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Seconds between two background checks of the server (and syncs when records are queued).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub sync_interval: u64,
    /// Longest wait between two checks while the server is unreachable, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub max_backoff: u64,
    /// Records per sync batch (at most 5000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    /// Time limit of one request to the server, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    /// Lock the store (drop the key from memory) after this many seconds without use.
    #[arg(long, default_value_t = 600, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub lock_after: u64,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Base URL of central or of the commune station, e.g. http://127.0.0.1:8750.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    /// Records per batch (at most 5000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    /// Retries per batch after network or server errors (0: try once).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub retries: u32,
    /// Longest wait between two retries, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub max_backoff: u64,
    /// Time limit of one request, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not draw a progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct SyncLogArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Only the newest N lines.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Code of the administrative unit this laptop works for (e.g. 25972, or 74 for a province).
    /// With --token, central's provisioning decides and this is replaced by it.
    #[arg(long, value_name = "CODE")]
    pub unit: String,
    /// A name for this laptop, shown to stations and central (e.g. "Tổ 3 - CA Thuận Giao").
    #[arg(long, value_name = "NAME")]
    pub device_name: String,
    /// Unit list CSV (`code,name,level,parent_code`), kept inside the store.
    #[arg(long, value_name = "FILE")]
    pub units: Option<PathBuf>,
    /// Days central-confirmed records keep their citizen data on this laptop before it is
    /// purged (the journal, hashes and receipts stay).
    #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub retention_days: u32,
    /// Which biometrics every id_card_application must carry on this laptop (the campaign's
    /// policy): `none`, or a comma-separated list of `face`, `all` (the ten fingers) and
    /// finger names (right_thumb … left_little), e.g. `face,all` or
    /// `face,right_index,left_index`. `field biometrics` changes it later; with --token,
    /// a policy central issued with the token replaces it.
    #[arg(long, value_name = "SPEC", default_value = "none", value_parser = biometric_policy)]
    pub biometrics: BiometricPolicy,
    /// Central's address, to register this laptop right away (with --token).
    #[arg(long, value_name = "URL", requires = "token")]
    pub server: Option<String>,
    /// The one-time token from `doorstep central provision` (with --server).
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "server",
        env = "DOORSTEP_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Central's address, e.g. https://central.example:8750.
    #[arg(long, value_name = "URL")]
    pub server: String,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// The one-time token from `doorstep central provision`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DOORSTEP_TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Records to enroll: a JSON object, a JSON array or NDJSON; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Directory that relative attachment `file` paths are read from (default: the directory
    /// of FILE; the current directory for standard input).
    #[arg(long, value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
    /// Print one JSON document with every record's outcome instead of plain record IDs.
    #[arg(long)]
    pub json: bool,
    /// Do not draw a progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFilter {
    Pending,
    Held,
    Confirmed,
    Rejected,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Only records in this state.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// Only records of this kind (e.g. eid_registration).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only the newest N records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Print JSON (an array of records) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Keep confirmed records' citizen data this many days (kept for this laptop from now on).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub retention_days: Option<u32>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BiometricsArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// The policy: `none`, or `face`, `all` and finger names, comma-separated (e.g. `face,all`).
    #[arg(value_name = "SPEC", value_parser = biometric_policy)]
    pub spec: BiometricPolicy,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Reads a biometric policy flag; the error lists what is accepted.
fn biometric_policy(spec: &str) -> Result<BiometricPolicy, String> {
    BiometricPolicy::parse(spec).map_err(|e| {
        format!(
            "{e}; write `none`, or `face`, `all` (the ten fingers) and finger names separated \
             by commas, e.g. `face,all` or `face,right_index,left_index`"
        )
    })
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// How many records to print.
    #[arg(long, value_name = "N")]
    pub count: u64,
    /// Seed: the same seed and arguments give the same records.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Unit whose communes the visits happen in (default: the store's unit with --data-dir, else 74, Bình Dương).
    #[arg(long, value_name = "CODE")]
    pub unit: Option<String>,
    /// Only records of this kind (id_card_application, eid_registration, eid_activation, driver_license_link, info_correction).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Unit list CSV to draw unit codes from (default: the store's list with --data-dir, else the built-in provinces).
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub units: Option<PathBuf>,
    /// Take the unit list and unit from this laptop store, so the records are valid there.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// First visit date (YYYY-MM-DD).
    #[arg(long, default_value = "2023-07-25", value_name = "DATE")]
    pub visit_from: String,
    /// Last visit date (YYYY-MM-DD).
    #[arg(long, default_value = "2023-09-25", value_name = "DATE")]
    pub visit_to: String,
    /// Also write synthetic biometric files for every id_card_application record into
    /// this directory (created if missing), and list them in the record.
    ///
    /// Files: `<i>-face.jpg` (JPEG-shaped) and `<i>-<finger>.wsq` (WSQ-shaped), where `<i>`
    /// is the record's 0-based position in the output, zero-padded to 6 digits. They are
    /// random bytes with real headers, not images; the same seed gives the same files. The
    /// record gets `"attachments": [{"kind": "face", "file": "DIR/000000-face.jpg"},
    /// {"kind": "fingerprint_right_thumb", "file": "DIR/000000-right_thumb.wsq"}, …]`, DIR
    /// spelled as given: `field enroll` reads the files relative to the input file's
    /// directory, so run gen from there (`doorstep gen --count 100 --attachments att >
    /// records.ndjson`). Other record kinds get no attachments; the records themselves are
    /// the same as without this flag.
    #[arg(long, value_name = "DIR")]
    pub attachments: Option<PathBuf>,
    /// With --attachments: which files to make, comma-separated: `face`, finger names
    /// (right_thumb, right_index, right_middle, right_ring, right_little, left_thumb,
    /// left_index, left_middle, left_ring, left_little), `all` (the ten fingers), or `none`
    /// alone.
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "face,all",
        requires = "attachments"
    )]
    pub biometrics: String,
    /// With --attachments: target size of each face photo in bytes (each file within ±10%).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 60_000,
        requires = "attachments",
        value_parser = clap::value_parser!(u64).range(1024..=3_800_000)
    )]
    pub face_bytes: u64,
    /// With --attachments: target size of each fingerprint image in bytes (each file
    /// within ±10%).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 25_000,
        requires = "attachments",
        value_parser = clap::value_parser!(u64).range(1024..=3_800_000)
    )]
    pub fingerprint_bytes: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use clap::Parser;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("doorstep").chain(args.iter().copied()))
    }

    #[test]
    fn tls_cert_and_key_come_together() {
        for (serve, base) in [
            ("central", vec!["central", "serve", "--data-dir", "d"]),
            (
                "station",
                vec![
                    "station",
                    "serve",
                    "--data-dir",
                    "d",
                    "--upstream",
                    "http://c",
                ],
            ),
        ] {
            for (given, missing) in [("--tls-cert", "--tls-key"), ("--tls-key", "--tls-cert")] {
                let mut args = base.clone();
                args.extend([given, "x.pem"]);
                let err = parse(&args).expect_err(serve);
                assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{serve}");
                assert_eq!(err.exit_code(), 2, "{serve}");
                assert!(err.to_string().contains(missing), "{serve}: {err}");
            }
            let mut args = base.clone();
            args.extend(["--tls-cert", "c.pem", "--tls-key", "k.pem"]);
            let cli = parse(&args).unwrap();
            let tls = match cli.command {
                Command::Central(CentralCommand::Serve(a)) => a.tls,
                Command::Station(StationCommand::Serve(a)) => a.tls,
                other => panic!("{other:?}"),
            };
            assert_eq!(tls.tls_cert, Some(PathBuf::from("c.pem")));
            assert_eq!(tls.tls_key, Some(PathBuf::from("k.pem")));
            let cli = parse(&base).unwrap();
            let tls = match cli.command {
                Command::Central(CentralCommand::Serve(a)) => a.tls,
                Command::Station(StationCommand::Serve(a)) => a.tls,
                other => panic!("{other:?}"),
            };
            assert!(tls.tls_cert.is_none() && tls.tls_key.is_none());
        }
    }

    #[test]
    fn every_client_command_takes_a_ca_certificate() {
        let server = ["--server", "https://c", "--ca-cert", "ca.pem"];
        let cases: Vec<Vec<&str>> = vec![
            vec!["field", "sync", "--data-dir", "d"],
            vec!["field", "serve", "--data-dir", "d"],
            vec!["field", "register", "--data-dir", "d", "--token", "t"],
            vec!["field", "init", "--data-dir", "d", "--unit", "74"],
            vec!["station", "register", "--data-dir", "d", "--token", "t"],
            vec!["audit", "log"],
            vec!["audit", "gaps"],
            vec!["audit", "reconcile", "--data-dir", "d"],
            vec!["loadgen", "--devices", "1", "--records", "1"],
        ];
        for mut args in cases {
            if args[1] == "init" {
                args.extend(["--device-name", "n", "--token", "t"]);
            }
            args.extend(server);
            parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        parse(&[
            "station",
            "serve",
            "--data-dir",
            "d",
            "--upstream",
            "https://c",
            "--ca-cert",
            "ca.pem",
        ])
        .unwrap();
    }
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Import campaign targets from a CSV file `campaign,unit_code,metric,target,start,deadline`.
    ///
    /// Metrics: id_card_intake, eid_registration, eid_activation, driver_license_link.
    /// Targets may be given at any level (province, district, commune); a unit without its
    /// own target is measured against the sum of its children's. Every row of a campaign has
    /// the same start date; deadlines may differ per unit. Importing replaces every target
    /// of the campaigns the file names; others are untouched. The whole file is checked
    /// first and every bad line reported; nothing is stored unless all lines are good.
    /// Excel's "CSV UTF-8" (with a byte order mark) is accepted.
    Import(CampaignImportArgs),

    /// List the campaigns imported: metrics, start, latest deadline, target rows.
    List(CampaignListArgs),
}

#[derive(Debug, Args)]
pub struct CampaignImportArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// The CSV file of targets.
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CampaignListArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A campaign's progress per unit, from central (`GET /v1/reports/progress`).
    ///
    /// Without --unit and --level: the top-level units (provinces) taking part, ranked.
    /// --unit CODE drills into one unit: it first, then its children. --level lists every
    /// unit of that level (within --unit when given). Records count once central has
    /// accepted them, on the day and in the unit of the visit. A table on a terminal;
    /// --csv writes CSV that opens in Excel with Vietnamese intact (UTF-8 with BOM);
    /// --json the report as the API answers it.
    Progress(ReportProgressArgs),

    /// Who is left: per unit, residents eligible, reached, enrolled, closed (deceased, done
    /// elsewhere), referred in and out, flagged for review, and still to reach by reason.
    ///
    /// From a server (`GET /v1/reports/coverage`, aggregates only) or straight from central's
    /// or a station's store with --data-dir (and --database for central on PostgreSQL), which
    /// adds the people flagged for review and, with --remaining, the list of who is left per
    /// unit for the next day's planning.
    Coverage(crate::worklist_args::ReportCoverageArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("format").args(["json", "csv"])))]
pub struct ReportProgressArgs {
    /// Base URL of central, e.g. http://127.0.0.1:8750.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: String,
    /// The campaign's ID, as imported.
    #[arg(long, value_name = "ID")]
    pub campaign: String,
    /// Drill into this unit (its code): it and its children.
    #[arg(long, value_name = "CODE")]
    pub unit: Option<String>,
    /// Every unit of this level (within --unit when given).
    #[arg(long, value_parser = ["province", "district", "commune"])]
    pub level: Option<String>,
    /// Only this metric, when the campaign counts several.
    #[arg(long, value_parser = ["id_card_intake", "eid_registration", "eid_activation", "driver_license_link"])]
    pub metric: Option<String>,
    /// Progress as of this date (YYYY-MM-DD); default: today in Vietnam.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print CSV (UTF-8 with a byte order mark, for Excel).
    #[arg(long)]
    pub csv: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}
