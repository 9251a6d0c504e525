#![forbid(unsafe_code)]
//! The `doorstep` command.

mod audit_cmd;
mod builtin_units;
mod bundle_cmd;
mod central_cmd;
mod central_store;
mod cli;
mod demo;
mod enroll;
mod enroll_files;
mod field;
mod gen_cmd;
mod input;
mod lang;
mod loadgen;
mod messages;
mod passphrase;
mod provision_cmd;
mod report_cmd;
mod roster_cmd;
mod serve;
mod station_cmd;
mod sync_cmd;
mod table;
mod worklist_args;
mod worklist_cmd;
mod worklist_sync;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{
    AuditCommand, CampaignCommand, CentralCommand, Cli, Command, FieldCommand, ReportCommand,
    StationCommand,
};
use crate::lang::{Lang, Pick};

// Enrolling is allocation-heavy (JSON trees, strings); mimalloc is markedly
// faster than glibc malloc for it (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A mistake by the person running the command (bad input, wrong
/// directory...): exit code 2, message without a backtrace.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Exit status of a command that ran to the end.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    /// Finished, but some input was invalid (exit 2).
    InvalidInput,
    /// Finished without doing all of its job, and said why (exit 1).
    Failed,
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOORSTEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let lang = Lang::from_flag(&cli.lang);
    match run(cli, lang) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::InvalidInput) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(err) => {
            let user = is_user_error(&err);
            let text = if let Some((server, detail)) = messages::find_untrusted(&err) {
                // One clear line: what is wrong and the flag that fixes it.
                messages::untrusted(server, detail, lang)
            } else {
                match lang {
                    Lang::Vi => vietnamese(&err).unwrap_or_else(|| chain(&err)),
                    Lang::En => chain(&err),
                }
            };
            eprintln!("{}: {text}", lang.pick("lỗi", "error"));
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli, lang: Lang) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Field(cmd) => match cmd {
            FieldCommand::Init(args) => field::init(args, lang),
            FieldCommand::Register(args) => provision_cmd::register(args, lang),
            FieldCommand::Enroll(args) => enroll::run(args, lang),
            FieldCommand::List(args) => field::list(args, lang),
            FieldCommand::Passphrase(args) => field::change_passphrase(args, lang),
            FieldCommand::Purge(args) => field::purge(args, lang),
            FieldCommand::Status(args) => field::status(args, lang),
            FieldCommand::Biometrics(args) => field::biometrics(args, lang),
            FieldCommand::Check(args) => field::check(args, lang),
            FieldCommand::Sync(args) => sync_cmd::run(args, lang),
            FieldCommand::SyncLog(args) => sync_cmd::log(args, lang),
            FieldCommand::Serve(args) => serve::run(args, lang),
            FieldCommand::Export(args) => bundle_cmd::export(args, lang),
            FieldCommand::Worklist(args) => worklist_cmd::list(args, lang),
            FieldCommand::Visit(args) => worklist_cmd::visit(args, lang),
        },
        Command::Gen(args) => gen_cmd::run(args),
        Command::Central(cmd) => match cmd {
            CentralCommand::Serve(args) => central_cmd::serve(args, lang),
            CentralCommand::Status(args) => central_cmd::status(args, lang),
            CentralCommand::Provision(args) => provision_cmd::provision(args, lang),
            CentralCommand::Devices(args) => provision_cmd::devices(args, lang),
            CentralCommand::Revoke(args) => provision_cmd::revoke(args, lang),
            CentralCommand::Campaign(CampaignCommand::Import(args)) => {
                report_cmd::campaign_import(args, lang)
            }
            CentralCommand::Campaign(CampaignCommand::List(args)) => {
                report_cmd::campaign_list(args, lang)
            }
            CentralCommand::Roster(worklist_args::RosterCommand::Import(args)) => {
                roster_cmd::import(args, lang)
            }
            CentralCommand::Assign(args) => roster_cmd::central_assign(args, lang),
        },
        Command::Station(cmd) => match cmd {
            StationCommand::Serve(args) => station_cmd::serve(args, lang),
            StationCommand::Import(args) => bundle_cmd::import(args, lang),
            StationCommand::Report(args) => station_cmd::report(args, lang),
            StationCommand::Register(args) => provision_cmd::register_station(args, lang),
            StationCommand::Assign(args) => roster_cmd::station_assign(args, lang),
        },
        Command::Report(ReportCommand::Progress(args)) => report_cmd::progress(args, lang),
        Command::Report(ReportCommand::Coverage(args)) => roster_cmd::coverage(args, lang),
        Command::Audit(cmd) => match cmd {
            AuditCommand::Verify(args) => audit_cmd::verify(args, lang),
            AuditCommand::Log(args) => audit_cmd::log(args, lang),
            AuditCommand::Reconcile(args) => audit_cmd::reconcile(args, lang),
            AuditCommand::Gaps(args) => audit_cmd::gaps(args, lang),
            AuditCommand::Alarms(args) => audit_cmd::alarms(args, lang),
        },
        Command::Demo(args) => demo::run(args, lang),
        Command::Loadgen(args) => loadgen::run(args, lang),
    }
}

/// `doorstep … | head` closes the pipe early; Rust's `println!` then
/// panics. Exit quietly instead, as command-line tools do (the standard
/// library offers no safe way to restore the default SIGPIPE action).
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The error and its causes on one line: "what: why: deeper why".
fn chain(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The Vietnamese message of the innermost store error, if any.
fn vietnamese(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .filter_map(|c| c.downcast_ref::<doorstep_store::StoreError>())
        .find_map(messages::store_error_vi)
}

fn is_user_error(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<UserError>().is_some()
            || c.downcast_ref::<doorstep_store::StoreError>()
                .is_some_and(doorstep_store::StoreError::is_user_error)
            || c.downcast_ref::<doorstep_central::CentralError>()
                .is_some_and(doorstep_central::CentralError::is_user_error)
    })
}
