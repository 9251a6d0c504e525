//! `doorstep field enroll`: validate records and store them durably.
//!
//! Two stages on two threads, so both cores work: one reads and validates
//! (the CPU-heavy part), the other writes. The writer takes whatever the
//! validator has ready, up to `MAX_BATCH`, into one transaction: a fast
//! file gives large batches, an officer typing one record gives one.
//! Record IDs are printed only after their transaction is on disk.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use doorstep_core::violation::Violation;
use doorstep_core::{ValidationContext, validate};
use doorstep_store::{EnrollOutcome, FieldStore, PreparedBody};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::EnrollArgs;
use crate::input::{Counting, InputError, Item, Records};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// Most records committed in one transaction.
const MAX_BATCH: usize = 10_000;
/// Longest a record waits for others to share its transaction. An officer
/// enrolling one record waits this much at most; a bulk file gets few,
/// large transactions.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// A record after validation, in input order.
struct Checked {
    position: u64,
    locate: String,
    result: Result<PreparedBody, Vec<Violation>>,
}

/// What happened to each input record, for the report.
enum Report {
    Stored { id: String, seq: u64, hash: String },
    Already { id: String, seq: u64 },
    Invalid(Vec<Violation>),
}

pub fn run(args: EnrollArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    let (reader, total_bytes): (Box<dyn BufRead + Send>, Option<u64>) = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            let file = File::open(path).map_err(|e| {
                UserError(format!(
                    "{}: {}: {e}",
                    lang.pick("không mở được tệp", "cannot open"),
                    path.display()
                ))
            })?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(BufReader::with_capacity(1 << 16, file)), len)
        }
        _ => (
            Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())),
            None,
        ),
    };
    let counting = Counting::new(reader);
    let bytes_read = counting.count.clone();
    let records = Records::new(BufReader::new(counting)).map_err(|e| input_error(e, lang))?;

    let progress = progress_bar(&args, total_bytes);
    let units = store.units().clone();
    let (tx, rx) = mpsc::sync_channel::<Result<Checked, InputError>>(8 * MAX_BATCH);

    let validator = std::thread::spawn(move || {
        for item in records {
            let checked = item.map(|item| check(item, &units));
            let stop = checked.is_err();
            if tx.send(checked).is_err() || stop {
                break;
            }
        }
    });

    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut reports: Vec<(u64, String, Report)> = Vec::new();
    let (mut stored, mut already, mut invalid) = (0u64, 0u64, 0u64);
    let mut fatal: Option<InputError> = None;
    let mut done = false;
    while !done {
        // Block for the first record, then take whatever else is ready.
        let mut batch: Vec<Checked> = Vec::new();
        match rx.recv() {
            Ok(Ok(c)) => batch.push(c),
            Ok(Err(e)) => {
                fatal = Some(e);
                done = true;
            }
            Err(_) => done = true,
        }
        // Then gather for up to BATCH_WINDOW: committing whatever happens to
        // be ready would, with a writer faster than the validator, mean
        // thousands of tiny fsync'd transactions.
        let deadline = Instant::now() + BATCH_WINDOW;
        while !done && batch.len() < MAX_BATCH {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Ok(c)) => batch.push(c),
                Ok(Err(e)) => {
                    fatal = Some(e);
                    done = true;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => done = true,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let bodies: Vec<PreparedBody> = batch
            .iter()
            .filter_map(|c| c.result.as_ref().ok().cloned())
            .collect();
        let started = Instant::now();
        let result = store.enroll(&bodies, Utc::now());
        tracing::debug!(
            records = bodies.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "enroll batch committed"
        );
        let mut outcomes = result
            .context(lang.pick("không lưu được hồ sơ", "could not store records"))?
            .into_iter();
        for c in batch {
            let report = match c.result {
                Err(violations) => Report::Invalid(violations),
                Ok(_) => match outcomes.next() {
                    Some(EnrollOutcome::Stored {
                        record_id,
                        device_seq,
                        content_hash,
                    }) => Report::Stored {
                        id: record_id.to_string(),
                        seq: device_seq,
                        hash: content_hash.to_hex(),
                    },
                    Some(EnrollOutcome::AlreadyStored {
                        record_id,
                        device_seq,
                    }) => Report::Already {
                        id: record_id.to_string(),
                        seq: device_seq,
                    },
                    Some(EnrollOutcome::Refused(v)) => Report::Invalid(vec![v]),
                    None => anyhow::bail!(
                        "internal error: the store returned fewer outcomes than records"
                    ),
                },
            };
            match &report {
                Report::Stored { .. } => stored += 1,
                Report::Already { .. } => already += 1,
                Report::Invalid(_) => invalid += 1,
            }
            if args.json {
                reports.push((c.position, c.locate, report));
            } else {
                print_text(&mut out, &c.locate, &report, lang)?;
            }
        }
        out.flush()?;
        progress.set_position(bytes_read.load(Ordering::Relaxed));
        progress.set_message(format!(
            "{} {}",
            stored + already,
            lang.pick("hồ sơ", "records")
        ));
    }
    progress.finish_and_clear();
    if validator.join().is_err() {
        anyhow::bail!("internal error: the validation thread stopped unexpectedly");
    }

    if args.json {
        let results: Vec<_> = reports
            .iter()
            .map(|(pos, locate, r)| report_json(*pos, locate, r))
            .collect();
        let doc = json!({
            "stored": stored, "already_stored": already, "invalid": invalid,
            "input_error": fatal.as_ref().map(|e| e.to_string()),
            "results": results,
        });
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
        out.flush()?;
    }
    let summary = match lang {
        Lang::Vi => format!(
            "Đã lưu {stored} hồ sơ mới; {already} hồ sơ đã có từ trước; {invalid} hồ sơ không hợp lệ."
        ),
        Lang::En => format!(
            "Stored {stored} new records; {already} were already stored; {invalid} invalid."
        ),
    };
    eprintln!("{summary}");
    if let Some(e) = fatal {
        return Err(input_error(e, lang).into());
    }
    Ok(if invalid > 0 {
        Outcome::InvalidInput
    } else {
        Outcome::Ok
    })
}

fn check(item: Item, units: &doorstep_core::Units) -> Checked {
    let locate = item.locate();
    let result = match item.value {
        Err(msg) => Err(vec![Violation::new(
            "$",
            "json.syntax",
            msg.clone(),
            format!("dòng này không phải JSON hợp lệ: {msg}"),
        )]),
        Ok(value) => validate(
            &value,
            &ValidationContext {
                units,
                now: Utc::now(),
            },
        )
        .map(PreparedBody::new),
    };
    Checked {
        position: item.position,
        locate,
        result,
    }
}

fn input_error(e: InputError, lang: Lang) -> UserError {
    UserError(format!(
        "{}: {e}",
        lang.pick("dữ liệu vào không đọc được", "unreadable input")
    ))
}

fn print_text(
    out: &mut impl Write,
    locate: &str,
    report: &Report,
    lang: Lang,
) -> anyhow::Result<()> {
    match report {
        Report::Stored { id, .. } => writeln!(out, "{id}")?,
        Report::Already { id, seq } => {
            writeln!(out, "{id}")?;
            let note = match lang {
                Lang::Vi => {
                    format!("hồ sơ {locate} đã được lưu trước đó (số thứ tự {seq}), không lưu lại")
                }
                Lang::En => {
                    format!("record {locate} was stored before (sequence {seq}); not stored again")
                }
            };
            eprintln!("{note}");
        }
        Report::Invalid(violations) => {
            let mut err = std::io::stderr().lock();
            match lang {
                Lang::Vi => writeln!(err, "hồ sơ {locate} không hợp lệ, không lưu:")?,
                Lang::En => writeln!(err, "record {locate} is invalid and was not stored:")?,
            }
            for v in violations {
                writeln!(err, "  {}: {} [{}]", v.path, v.message_in(lang), v.code)?;
            }
        }
    }
    Ok(())
}

fn report_json(position: u64, locate: &str, report: &Report) -> serde_json::Value {
    match report {
        Report::Stored { id, seq, hash } => json!({
            "position": position, "at": locate, "outcome": "stored",
            "record_id": id, "device_seq": seq, "content_hash": hash,
        }),
        Report::Already { id, seq } => json!({
            "position": position, "at": locate, "outcome": "already_stored",
            "record_id": id, "device_seq": seq,
        }),
        Report::Invalid(violations) => json!({
            "position": position, "at": locate, "outcome": "invalid", "violations": violations,
        }),
    }
}

fn progress_bar(args: &EnrollArgs, total: Option<u64>) -> ProgressBar {
    if args.no_progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(len) => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {msg} ({elapsed}, ETA {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
