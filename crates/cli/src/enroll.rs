//! `doorstep field enroll`: validate records and store them durably.
//!
//! A reader thread cuts the input into chunks, validator threads (one per
//! core) parse, validate and canonicalise them, and the writer (this
//! thread) puts them back in input order and stores them, up to
//! `MAX_BATCH` or `BATCH_WINDOW` of input per transaction: a fast
//! file gives large batches, an officer typing one record gives one.
//! Record IDs are printed only after their transaction is on disk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use doorstep_core::canonical::Envelope;
use doorstep_core::validate::{TextError, validate_text};
use doorstep_core::violation::Violation;
use doorstep_core::{ContentHash, Units, ValidationContext, validate};
use doorstep_store::{EnrollOutcome, FieldStore, PreparedBody, Protection};
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use uuid::Uuid;

use crate::cli::EnrollArgs;
use crate::input::{self, Counting, InputError, Item, Payload, Records};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// Records handed to a validator thread at a time.
const CHUNK: usize = 256;
/// Most records committed in one transaction.
const MAX_BATCH: usize = 10_000;
/// Longest a record waits for others to share its transaction. An officer
/// enrolling one record waits this much at most; a bulk file gets few,
/// large transactions.
const BATCH_WINDOW: Duration = Duration::from_millis(25);
/// Most spare record buffers kept for the validators (about 1 KiB each).
const MAX_SPARE: usize = 3 * MAX_BATCH;

/// Buffers of stored records, handed back from the writer to the
/// validators: each ~1 KiB buffer is allocated once, not once per record
/// on one thread and freed on another (the allocator then kept faulting
/// in fresh, zeroed memory on the validating threads).
type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// A record after validation, in input order.
struct Checked {
    position: u64,
    line: Option<u64>,
    result: Result<PreparedBody, Vec<Violation>>,
}

/// A record's place in the input (position, line) and, if invalid, why.
type Placed = (u64, Option<u64>, Option<Vec<Violation>>);

/// What happened to each input record, for the report.
enum Report {
    Stored {
        id: Uuid,
        seq: u64,
        hash: ContentHash,
    },
    Already {
        id: Uuid,
        seq: u64,
    },
    Invalid(Vec<Violation>),
}

pub fn run(args: EnrollArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    store.verify()?;
    crate::passphrase::unlock(&mut store, lang)?;
    let (source, total_bytes): (Box<dyn Read + Send>, Option<u64>) = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            let file = File::open(path).map_err(|e| {
                UserError(format!(
                    "{}: {}: {e}",
                    lang.pick("không mở được tệp", "cannot open"),
                    path.display()
                ))
            })?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), len)
        }
        _ => (Box::new(std::io::stdin()), None),
    };
    let counting = Counting::new(source);
    let bytes_read = counting.count.clone();
    let records = Records::new(BufReader::with_capacity(1 << 16, counting))
        .map_err(|e| input_error(e, lang))?;

    let progress = progress_bar(&args, total_bytes);
    let spare: Spare = Arc::new(Mutex::new(Vec::new()));
    let (pipeline, results) = Pipeline::start(
        records,
        store.units_shared(),
        store.device().device_id,
        store.device().last_seq,
        store.signer()?,
        store.protection("enrolling")?,
        Arc::clone(&spare),
    )
    .context("cannot start the enroll threads")?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut reports: Vec<(u64, Option<u64>, Report)> = Vec::new();
    let (mut stored, mut already, mut invalid) = (0u64, 0u64, 0u64);
    let mut fatal: Option<InputError> = None;
    let mut ordered = InOrder::new(results);
    let mut done = false;
    let (mut waited, mut storing) = (Duration::ZERO, Duration::ZERO);
    // Reused from batch to batch: growing fresh vectors of ~20,000 records
    // each time showed up as page faults and copies in profiles.
    let mut chunks: Vec<Vec<Checked>> = Vec::new();
    let mut bodies: Vec<PreparedBody> = Vec::with_capacity(MAX_BATCH + CHUNK);
    let mut batch: Vec<Placed> = Vec::with_capacity(MAX_BATCH + CHUNK);
    while !done {
        // Block for the first record, then gather for up to BATCH_WINDOW:
        // committing whatever happens to be ready would, with a writer
        // faster than the validators, mean many tiny fsync'd transactions.
        let mut gathered = 0usize;
        let mut deadline: Option<Instant> = None;
        while gathered < MAX_BATCH {
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let asked = Instant::now();
            let next = ordered.next(wait);
            waited += asked.elapsed();
            match next {
                Next::Chunk(chunk) => {
                    gathered += chunk.len();
                    chunks.push(chunk);
                    deadline.get_or_insert_with(|| Instant::now() + BATCH_WINDOW);
                }
                Next::Fatal(e) => {
                    fatal = Some(e);
                    done = true;
                    break;
                }
                Next::Timeout => break,
                Next::End => {
                    done = true;
                    break;
                }
            }
        }
        if gathered == 0 {
            continue;
        }
        // Move the valid bodies out (no copies); keep each record's place.
        batch.clear();
        for c in chunks.drain(..).flatten() {
            batch.push(match c.result {
                Ok(body) => {
                    bodies.push(body);
                    (c.position, c.line, None)
                }
                Err(v) => (c.position, c.line, Some(v)),
            });
        }
        let started = Instant::now();
        let result = store.enroll(&bodies, Utc::now());
        storing += started.elapsed();
        tracing::debug!(
            records = bodies.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "enroll batch committed"
        );
        let mut outcomes = result
            .context(lang.pick("không lưu được hồ sơ", "could not store records"))?
            .into_iter();
        for (position, line, violations) in batch.drain(..) {
            let report = match violations {
                Some(violations) => Report::Invalid(violations),
                None => match outcomes.next() {
                    Some(EnrollOutcome::Stored {
                        record_id,
                        device_seq,
                        content_hash,
                    }) => Report::Stored {
                        id: record_id,
                        seq: device_seq,
                        hash: content_hash,
                    },
                    Some(EnrollOutcome::AlreadyStored {
                        record_id,
                        device_seq,
                    }) => Report::Already {
                        id: record_id,
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
                reports.push((position, line, report));
            } else {
                print_text(&mut out, position, line, &report, lang)?;
            }
        }
        if let Ok(mut spare) = spare.lock() {
            let room = MAX_SPARE.saturating_sub(spare.len());
            spare.extend(bodies.drain(..).take(room).map(PreparedBody::into_buffer));
        }
        bodies.clear();
        out.flush()?;
        progress.set_position(bytes_read.load(Ordering::Relaxed));
        progress.set_message(format!(
            "{} {}",
            stored + already,
            lang.pick("hồ sơ", "records")
        ));
    }
    progress.finish_and_clear();
    tracing::debug!(
        waited_ms = waited.as_millis() as u64,
        storing_ms = storing.as_millis() as u64,
        "writer time: waiting for validated records vs storing"
    );
    drop(ordered);
    // Closing the store checkpoints the write-ahead log into the database
    // file; time it for the debug log (it is part of every bulk enroll).
    let closing = Instant::now();
    drop(store);
    tracing::debug!(
        closing_ms = closing.elapsed().as_millis() as u64,
        "store closed"
    );
    if !pipeline.join() {
        anyhow::bail!("internal error: a validation thread stopped unexpectedly");
    }

    if args.json {
        let results: Vec<_> = reports
            .iter()
            .map(|(pos, line, r)| report_json(*pos, *line, r))
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
        Lang::En => {
            format!(
                "Stored {stored} new records; {already} were already stored; {invalid} invalid."
            )
        }
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

/// A numbered chunk of checked records, or the input error that ended the input.
type Done = (u64, Result<Vec<Checked>, InputError>);

/// Reader thread → validator threads → (results, possibly out of order).
struct Pipeline {
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pipeline {
    fn start(
        mut records: Records<BufReader<Counting<Box<dyn Read + Send>>>>,
        units: Arc<Units>,
        device_id: Uuid,
        base_seq: u64,
        signer: Option<Arc<SigningKey>>,
        protection: Arc<Protection>,
        spare: Spare,
    ) -> std::io::Result<(Pipeline, mpsc::Receiver<Done>)> {
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<Item>)>(workers * 4);
        // Room for two full batches: the validators keep working while the
        // writer commits (a smaller buffer stalls them and halves throughput).
        let (done_tx, results) = mpsc::sync_channel::<Done>(2 * MAX_BATCH / CHUNK + workers);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let mut threads = Vec::new();

        let reader_done = done_tx.clone();
        threads.push(
            std::thread::Builder::new()
                .name("enroll-reader".into())
                .spawn(move || {
                    let mut number = 0u64;
                    let mut chunk: Vec<Item> = Vec::with_capacity(CHUNK);
                    loop {
                        match records.next() {
                            None => break,
                            Some(Err(e)) => {
                                if !chunk.is_empty() {
                                    let _ = work_tx.send((number, std::mem::take(&mut chunk)));
                                    number += 1;
                                }
                                let _ = reader_done.send((number, Err(e)));
                                return;
                            }
                            Some(Ok(item)) => {
                                chunk.push(item);
                                // Hand the chunk over when full, or when no more input is
                                // buffered (the next read may wait for an officer typing).
                                if chunk.len() >= CHUNK || !records.input_buffered() {
                                    if work_tx.send((number, std::mem::take(&mut chunk))).is_err() {
                                        return;
                                    }
                                    number += 1;
                                }
                            }
                        }
                    }
                    if !chunk.is_empty() {
                        let _ = work_tx.send((number, chunk));
                    }
                })?,
        );

        for n in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let units = Arc::clone(&units);
            let spare = Arc::clone(&spare);
            let signer = signer.clone();
            let protection = Arc::clone(&protection);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("enroll-check-{n}"))
                    .spawn(move || {
                        loop {
                            let job = match work_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok((number, items)) = job else { return };
                            // One timestamp per chunk: `enrolled_at` is the laptop's
                            // clock when the record was prepared for storing.
                            let envelope = Envelope::new(&device_id, &Utc::now());
                            let mut buffers = match spare.lock() {
                                Ok(mut spare) => {
                                    let keep = spare.len().saturating_sub(items.len());
                                    spare.split_off(keep)
                                }
                                Err(_) => Vec::new(),
                            };
                            let checked = items
                                .into_iter()
                                .map(|i| {
                                    let buf =
                                        buffers.pop().unwrap_or_else(|| Vec::with_capacity(1024));
                                    check(
                                        i,
                                        &units,
                                        Some((
                                            &envelope,
                                            base_seq,
                                            buf,
                                            signer.as_deref(),
                                            &protection,
                                        )),
                                    )
                                })
                                .collect();
                            if done_tx.send((number, Ok(checked))).is_err() {
                                return;
                            }
                        }
                    })?,
            );
        }
        Ok((Pipeline { threads }, results))
    }

    /// Waits for every thread; false if one panicked.
    fn join(self) -> bool {
        self.threads.into_iter().all(|t| t.join().is_ok())
    }
}

enum Next {
    Chunk(Vec<Checked>),
    Fatal(InputError),
    Timeout,
    End,
}

/// Puts the validators' chunks back into input order.
struct InOrder {
    rx: Option<mpsc::Receiver<Done>>,
    expected: u64,
    waiting: BTreeMap<u64, Result<Vec<Checked>, InputError>>,
}

impl InOrder {
    fn new(rx: mpsc::Receiver<Done>) -> Self {
        InOrder {
            rx: Some(rx),
            expected: 0,
            waiting: BTreeMap::new(),
        }
    }

    /// The next chunk in input order; waits at most `wait` if given.
    fn next(&mut self, wait: Option<Duration>) -> Next {
        loop {
            if let Some(ready) = self.waiting.remove(&self.expected) {
                self.expected += 1;
                return match ready {
                    Ok(chunk) => Next::Chunk(chunk),
                    Err(e) => Next::Fatal(e),
                };
            }
            let Some(rx) = &self.rx else { return Next::End };
            let got = match wait {
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(w) => rx.recv_timeout(w),
            };
            match got {
                Ok((number, chunk)) => {
                    self.waiting.insert(number, chunk);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return Next::Timeout,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.rx = None;
                    // Anything still waiting is out of sequence only if a
                    // thread died; deliver it in order anyway.
                    if let Some((&first, _)) = self.waiting.iter().next() {
                        self.expected = first;
                        continue;
                    }
                    return Next::End;
                }
            }
        }
    }
}

/// Validates one record and prepares its bytes; with `seal`, also makes
/// the whole canonical record for the sequence number it will get if every
/// record before it is stored (the usual case in a bulk file).
/// What a validator needs to seal a record ahead of the writer: the
/// envelope, the sequence the chunk starts after, a buffer, the signing key,
/// the store's keys (records are encrypted and sealed there too).
type Seal<'a> = (
    &'a Envelope,
    u64,
    Vec<u8>,
    Option<&'a SigningKey>,
    &'a Protection,
);

fn check(item: Item, units: &Units, seal: Option<Seal<'_>>) -> Checked {
    let position = item.position;
    let line = item.line;
    let ctx = ValidationContext::new(units, Utc::now());
    // A line of NDJSON is validated from its text (no JSON tree unless the
    // record is invalid and must be explained).
    let validated = match item.payload {
        Payload::Line(text) => validate_text(&text, &ctx).map_err(|e| match e {
            TextError::Syntax(e) => syntax_violation(&input::syntax_message(&e)),
            TextError::Invalid(violations) => violations,
        }),
        Payload::Parsed(value) => validate(&value, &ctx),
    };
    let result = validated.map(|body| match seal {
        Some((envelope, base_seq, buf, signer, protection)) => PreparedBody::with_envelope_in(
            buf,
            body,
            envelope,
            base_seq + position,
            signer,
            Some(protection),
        ),
        None => PreparedBody::new(body),
    });
    Checked {
        position,
        line,
        result,
    }
}

/// A record whose text is not JSON.
fn syntax_violation(msg: &str) -> Vec<Violation> {
    vec![Violation::new(
        "$",
        "json.syntax",
        msg,
        format!("dòng này không phải JSON hợp lệ: {msg}"),
    )]
}

fn input_error(e: InputError, lang: Lang) -> UserError {
    UserError(format!(
        "{}: {e}",
        lang.pick("dữ liệu vào không đọc được", "unreadable input")
    ))
}

fn print_text(
    out: &mut impl Write,
    position: u64,
    line: Option<u64>,
    report: &Report,
    lang: Lang,
) -> anyhow::Result<()> {
    // Only the rare notes need the location text: not built for stored records.
    let locate = || crate::input::locate(position, line, lang);
    match report {
        Report::Stored { id, .. } => writeln!(out, "{id}")?,
        Report::Already { id, seq } => {
            writeln!(out, "{id}")?;
            let note = match lang {
                Lang::Vi => {
                    format!(
                        "hồ sơ {} đã được lưu trước đó (số thứ tự {seq}), không lưu lại",
                        locate()
                    )
                }
                Lang::En => {
                    format!(
                        "record {} was stored before (sequence {seq}); not stored again",
                        locate()
                    )
                }
            };
            eprintln!("{note}");
        }
        Report::Invalid(violations) => {
            let mut err = std::io::stderr().lock();
            match lang {
                Lang::Vi => writeln!(err, "hồ sơ {} không hợp lệ, không lưu:", locate())?,
                Lang::En => writeln!(err, "record {} is invalid and was not stored:", locate())?,
            }
            for v in violations {
                writeln!(err, "  {}: {} [{}]", v.path, v.message_in(lang), v.code)?;
            }
        }
    }
    Ok(())
}

/// One outcome for scripts: language-independent (`at` is always English).
fn report_json(position: u64, line: Option<u64>, report: &Report) -> serde_json::Value {
    let locate = crate::input::locate(position, line, Lang::En);
    match report {
        Report::Stored { id, seq, hash } => json!({
            "position": position, "line": line, "at": locate, "outcome": "stored",
            "record_id": id, "device_seq": seq, "content_hash": hash.to_hex(),
        }),
        Report::Already { id, seq } => json!({
            "position": position, "line": line, "at": locate, "outcome": "already_stored",
            "record_id": id, "device_seq": seq,
        }),
        Report::Invalid(violations) => json!({
            "position": position, "line": line, "at": locate, "outcome": "invalid", "violations": violations,
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
