//! Command-line arguments of the worklist commands run at central and at
//! stations: roster import, assignments, the coverage report.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::{CentralDataDir, ClientTlsArgs};

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Load residents still to reach from a CSV extract:
    /// `personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs`.
    ///
    /// `needs` lists what each person still lacks, separated by `;`: card,
    /// eid_registration, eid_activation. The whole file is checked first (ID numbers
    /// against birth date and sex, names, units) and every bad line reported; nothing is
    /// stored unless all lines are good. Importing a newer extract updates people in
    /// place: what teams recorded about them is kept, and people of the file's units that
    /// it no longer lists leave the worklists (their outcomes stay). Excel's "CSV UTF-8"
    /// (with a byte order mark) is accepted.
    Import(RosterImportArgs),
}

#[derive(Debug, Args)]
pub struct RosterImportArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    /// The roster CSV file.
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `central assign`: central's store, embedded or on PostgreSQL.
#[derive(Debug, Args)]
pub struct CentralAssignArgs {
    #[command(flatten)]
    pub dir: CentralDataDir,
    #[command(flatten)]
    pub assign: AssignArgs,
}

/// `station assign`: the station's embedded store.
#[derive(Debug, Args)]
pub struct StationAssignArgs {
    /// Directory of the station's store.
    #[arg(long, env = "DOORSTEP_STATION_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub assign: AssignArgs,
}

/// What to assign, or --list.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").args(["add", "remove"])))]
pub struct AssignArgs {
    /// The laptop (or station) to assign, by its device ID (`central devices` lists them).
    #[arg(long, value_name = "ID")]
    pub device: Option<uuid::Uuid>,
    /// Units whose residents the device is to reach (each with every unit under it),
    /// comma-separated codes.
    #[arg(long, value_name = "CODE,...", value_delimiter = ',')]
    pub units: Vec<String>,
    /// Households the device is to reach, comma-separated household numbers.
    #[arg(long, value_name = "H,...", value_delimiter = ',')]
    pub households: Vec<String>,
    /// Add to the device's assignment instead of replacing it.
    #[arg(long)]
    pub add: bool,
    /// Remove these units and households from the device's assignment.
    #[arg(long)]
    pub remove: bool,
    /// List every device's assignment instead (no change).
    #[arg(long, conflicts_with_all = ["device", "units", "households", "add", "remove"])]
    pub list: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("format").args(["json", "csv"])))]
#[command(group(clap::ArgGroup::new("source").args(["server", "data_dir"]).required(true)))]
pub struct ReportCoverageArgs {
    /// Base URL of central (or a station), e.g. http://127.0.0.1:8750: aggregates per unit.
    #[arg(long, env = "DOORSTEP_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Read central's (or a station's) store directly instead: adds who is flagged for
    /// review and, with --remaining, who is left (these name citizens, so they are never
    /// served over HTTP). With --database, the directory of central's key files.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: central is kept in PostgreSQL (as `central serve --database`), e.g.
    /// postgres://doorstep@127.0.0.1/doorstep.
    #[arg(long, env = "DOORSTEP_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
    /// Only this unit and the units under it.
    #[arg(long, value_name = "CODE")]
    pub unit: Option<String>,
    /// List who is still to reach, per unit, for the next day's planning (with --data-dir).
    #[arg(long, requires = "data_dir")]
    pub remaining: bool,
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
