//! `doorstep field enroll`: validate records and store them durably.
//!
//! A reader thread cuts the input into chunks, validator threads (one per
//! core) parse, validate and canonicalise them, and the writer (this
//! thread) puts them back in input order and stores them, up to
//! `MAX_BATCH` or `BATCH_WINDOW` of input per transaction: a fast
//! file gives large batches, an officer typing one record gives one.
//! Record IDs are printed only after their transaction is on disk.
//!
//! Records naming attachment files (`enroll_files`) are parsed by the
//! reader, which admits their bytes into a fixed budget before handing
//! them on in small chunks; the validators read, hash, encrypt and seal
//! the files; the writer also ends a batch at `MAX_BATCH_FILE_BYTES` and
//! frees the budget once the batch is committed. Memory stays bounded
//! however many images the input names.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use doorstep_core::canonical::Envelope;
use doorstep_core::record::BiometricPolicy;
use doorstep_core::validate::{TextError, validate_text};
use doorstep_core::violation::Violation;
use doorstep_core::{ContentHash, Units, ValidationContext, validate};
use doorstep_store::{EnrollOutcome, FieldStore, PreparedBody, Protection, StoreError};
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use uuid::Uuid;

use crate::cli::EnrollArgs;
use crate::enroll_files::{self, Rejected};
use crate::input::{self, Counting, InputError, Item, Payload, Records};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// Records handed to a validator thread at a time.
const CHUNK: usize = 256;
/// Most records committed in one transaction. 5,000 rather than 10,000:
/// a bulk enroll is no slower (docs/PERFORMANCE.md) and holds a quarter
/// less memory in flight (peak RSS ≈ 104 MB against ≈ 138 MB for 100,000
/// records); larger transactions were slower.
const MAX_BATCH: usize = 5_000;
/// Longest a record waits for others to share its transaction. An officer
/// enrolling one record waits this much at most; a bulk file gets few,
/// large transactions.
const BATCH_WINDOW: Duration = Duration::from_millis(25);
/// Most spare record buffers kept for the validators (about 1 KiB each).
const MAX_SPARE: usize = 3 * MAX_BATCH;
/// Most records naming files in one chunk: a face and ten fingerprints
/// are ~300 KB a record, so their chunks are small enough to share out
/// among the validators.
const FILE_CHUNK: usize = 8;
/// Most attachment bytes committed in one transaction (about 100 card
/// applications with a face and ten fingerprints).
const MAX_BATCH_FILE_BYTES: u64 = 32 << 20;
/// Most attachment bytes read into the pipeline and not yet committed: a
/// batch being stored and the next being prepared. Prepared, each byte is
/// held about twice (encrypted at rest, sealed to central). Measured on
/// 5,000 card applications (1.6 GB of files, release build, a registered
/// laptop): peak RSS 204 MB, writer-bound at ~60 MB/s; twice these limits
/// took 352 MB and was no faster.
const FILE_BUDGET: u64 = 2 * MAX_BATCH_FILE_BYTES;

/// Buffers of stored records, handed back from the writer to the
/// validators: each ~1 KiB buffer is allocated once, not once per record
/// on one thread and freed on another (the allocator then kept faulting
/// in fresh, zeroed memory on the validating threads).
type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// A record after validation, in input order.
struct Checked {
    position: u64,
    line: Option<u64>,
    result: Result<PreparedBody, Problem>,
    /// Attachments the valid record names.
    attachments: usize,
    /// Files read for it, and their bytes.
    files: usize,
    file_bytes: u64,
    /// Bytes of the file budget it holds until its batch is committed.
    held: u64,
}

/// Why a record is not ready for the store.
enum Problem {
    Invalid(Vec<Violation>),
    /// Not the record's fault: stops the command (exit 1).
    Failed(StoreError),
}

/// A record's place in the input and, if invalid, why.
struct Placed {
    position: u64,
    line: Option<u64>,
    violations: Option<Vec<Violation>>,
    attachments: usize,
    files: usize,
    file_bytes: u64,
}

/// What happened to each input record, for the report.
enum Report {
    Stored {
        id: Uuid,
        seq: u64,
        hash: ContentHash,
        attachments: usize,
    },
    Already {
        id: Uuid,
        seq: u64,
        attachments: usize,
    },
    Invalid(Vec<Violation>),
}

/// Bytes of attachment files admitted into the pipeline and not yet
/// committed. The reader takes (in input order, so records admitted can
/// always be stored without any later one); the writer gives back after
/// each commit.
#[derive(Debug)]
struct Budget {
    limit: u64,
    state: Mutex<BudgetState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct BudgetState {
    in_use: u64,
    /// The writer stopped: nobody will give back.
    closed: bool,
}

impl Budget {
    fn new(limit: u64) -> Self {
        Budget {
            limit,
            state: Mutex::new(BudgetState::default()),
            freed: Condvar::new(),
        }
    }

    fn fits(&self, state: &BudgetState, n: u64) -> bool {
        // A record larger than the whole budget goes alone.
        state.in_use == 0 || state.in_use.saturating_add(n) <= self.limit
    }

    /// Takes `n` bytes if they fit now.
    fn try_take(&self, n: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let fits = self.fits(&state, n);
        if fits {
            state.in_use += n;
        }
        fits
    }

    /// Waits until `n` bytes fit and takes them; false once closed.
    fn take(&self, n: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !state.closed && !self.fits(&state, n) {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !state.closed {
            state.in_use += n;
        }
        !state.closed
    }

    fn give_back(&self, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_use = state.in_use.saturating_sub(n);
        self.freed.notify_all();
    }

    fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.closed = true;
        self.freed.notify_all();
    }
}

/// Closes the budget when the writer stops, however it stops, so a reader
/// waiting for room does not wait forever.
struct CloseOnDrop(Arc<Budget>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
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
    if let Some(dir) = &args.files_dir
        && !dir.is_dir()
    {
        return Err(UserError(format!(
            "--files-dir {}: {}",
            dir.display(),
            lang.pick("không phải là thư mục", "not a directory")
        ))
        .into());
    }
    let files_dir = enroll_files::base_dir(args.files_dir.as_deref(), args.file.as_deref());
    let counting = Counting::new(source);
    let bytes_read = counting.count.clone();
    let records = Records::new(BufReader::with_capacity(1 << 16, counting))
        .map_err(|e| input_error(e, lang))?;

    let progress = progress_bar(&args, total_bytes);
    let spare: Spare = Arc::new(Mutex::new(Vec::new()));
    let budget = Arc::new(Budget::new(FILE_BUDGET));
    let _close_budget = CloseOnDrop(Arc::clone(&budget));
    let (pipeline, results) = Pipeline::start(
        records,
        Settings {
            units: store.units_shared(),
            biometrics: store.biometrics(),
            files_dir,
            device_id: store.device().device_id,
            base_seq: store.device().last_seq,
            signer: store.signer()?,
            protection: store.protection("enrolling")?,
        },
        Arc::clone(&spare),
        Arc::clone(&budget),
    )
    .context("cannot start the enroll threads")?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut reports: Vec<(u64, Option<u64>, Report)> = Vec::new();
    let (mut stored, mut already, mut invalid) = (0u64, 0u64, 0u64);
    // Attachment files stored with new records, and their bytes.
    let (mut files_stored, mut file_bytes_stored) = (0u64, 0u64);
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
        let mut gathered_bytes = 0u64;
        let mut deadline: Option<Instant> = None;
        while gathered < MAX_BATCH && gathered_bytes < MAX_BATCH_FILE_BYTES {
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let asked = Instant::now();
            let next = ordered.next(wait);
            waited += asked.elapsed();
            match next {
                Next::Chunk(chunk) => {
                    gathered += chunk.len();
                    gathered_bytes += chunk.iter().map(|c| c.held).sum::<u64>();
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
        let mut held = 0u64;
        for c in chunks.drain(..).flatten() {
            held += c.held;
            let violations = match c.result {
                Ok(body) => {
                    bodies.push(body);
                    None
                }
                Err(Problem::Invalid(v)) => Some(v),
                Err(Problem::Failed(e)) => {
                    return Err(anyhow::Error::new(e).context(lang.pick(
                        "không chuẩn bị được tệp đính kèm để lưu",
                        "could not prepare an attachment file for storing",
                    )));
                }
            };
            batch.push(Placed {
                position: c.position,
                line: c.line,
                violations,
                attachments: c.attachments,
                files: c.files,
                file_bytes: c.file_bytes,
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
        // The files of this batch are in the store (or dropped): room for the next.
        budget.give_back(held);
        for placed in batch.drain(..) {
            let Placed {
                position,
                line,
                violations,
                attachments,
                ..
            } = placed;
            let report = match violations {
                Some(violations) => Report::Invalid(violations),
                None => match outcomes.next() {
                    Some(EnrollOutcome::Stored {
                        record_id,
                        device_seq,
                        content_hash,
                    }) => {
                        files_stored += placed.files as u64;
                        file_bytes_stored += placed.file_bytes;
                        Report::Stored {
                            id: record_id,
                            seq: device_seq,
                            hash: content_hash,
                            attachments,
                        }
                    }
                    Some(EnrollOutcome::AlreadyStored {
                        record_id,
                        device_seq,
                    }) => Report::Already {
                        id: record_id,
                        seq: device_seq,
                        attachments,
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
            "attachment_files": files_stored, "attachment_bytes": file_bytes_stored,
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
    if files_stored > 0 {
        let size = crate::field::human_bytes(file_bytes_stored, lang);
        match lang {
            Lang::Vi => eprintln!(
                "Tệp đính kèm: đã đọc {files_stored} tệp ({size}) cho các hồ sơ mới; tệp đã có trên máy không lưu lại."
            ),
            Lang::En => eprintln!(
                "Attachments: {files_stored} files ({size}) read for the new records; a file already on this laptop is not stored again."
            ),
        }
    }
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

/// A record let into the pipeline, with the file budget it took.
struct Admitted {
    item: Item,
    held: u64,
}

/// What the validators need, shared by all of them.
struct Settings {
    units: Arc<Units>,
    /// What an id_card_application must carry on this laptop.
    biometrics: BiometricPolicy,
    /// Where relative attachment paths start.
    files_dir: PathBuf,
    device_id: Uuid,
    /// The sequence the input's records follow (for sealing ahead).
    base_seq: u64,
    signer: Option<Arc<SigningKey>>,
    protection: Arc<Protection>,
}

/// Reader thread → validator threads → (results, possibly out of order).
struct Pipeline {
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pipeline {
    fn start(
        mut records: Records<BufReader<Counting<Box<dyn Read + Send>>>>,
        settings: Settings,
        spare: Spare,
        budget: Arc<Budget>,
    ) -> std::io::Result<(Pipeline, mpsc::Receiver<Done>)> {
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<Admitted>)>(workers * 4);
        // Room for two full batches: the validators keep working while the
        // writer commits (a smaller buffer stalls them and halves throughput).
        let (done_tx, results) = mpsc::sync_channel::<Done>(2 * MAX_BATCH / CHUNK + workers);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let settings = Arc::new(settings);
        let mut threads = Vec::new();

        let reader_done = done_tx.clone();
        let files_dir = settings.files_dir.clone();
        threads.push(
            std::thread::Builder::new()
                .name("enroll-reader".into())
                .spawn(move || {
                    let mut number = 0u64;
                    let mut chunk: Vec<Admitted> = Vec::with_capacity(CHUNK);
                    // Records naming files in `chunk`.
                    let mut with_files = 0usize;
                    let send = |chunk: &mut Vec<Admitted>, number: &mut u64| {
                        let sent = work_tx.send((*number, std::mem::take(chunk))).is_ok();
                        *number += 1;
                        sent
                    };
                    loop {
                        match records.next() {
                            None => break,
                            Some(Err(e)) => {
                                if !chunk.is_empty() {
                                    send(&mut chunk, &mut number);
                                }
                                let _ = reader_done.send((number, Err(e)));
                                return;
                            }
                            Some(Ok(mut item)) => {
                                let (names_files, held) = admit(&mut item, &files_dir);
                                if held > 0 && !budget.try_take(held) {
                                    // The writer gives room back only for records it
                                    // has: hand over the chunk before waiting.
                                    if !chunk.is_empty() {
                                        with_files = 0;
                                        if !send(&mut chunk, &mut number) {
                                            return;
                                        }
                                    }
                                    if !budget.take(held) {
                                        return;
                                    }
                                }
                                with_files += usize::from(names_files);
                                chunk.push(Admitted { item, held });
                                // Hand the chunk over when full, or when no more input is
                                // buffered (the next read may wait for an officer typing).
                                if chunk.len() >= CHUNK
                                    || with_files >= FILE_CHUNK
                                    || !records.input_buffered()
                                {
                                    with_files = 0;
                                    if !send(&mut chunk, &mut number) {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                    if !chunk.is_empty() {
                        send(&mut chunk, &mut number);
                    }
                })?,
        );

        for n in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let spare = Arc::clone(&spare);
            let settings = Arc::clone(&settings);
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
                            let envelope = Envelope::new(&settings.device_id, &Utc::now());
                            let mut buffers = match spare.lock() {
                                Ok(mut spare) => {
                                    let keep = spare.len().saturating_sub(items.len());
                                    spare.split_off(keep)
                                }
                                Err(_) => Vec::new(),
                            };
                            let checked = items
                                .into_iter()
                                .map(|a| {
                                    let buf =
                                        buffers.pop().unwrap_or_else(|| Vec::with_capacity(1024));
                                    check(a, &settings, &envelope, buf)
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

/// On the reader: a line that may name files is parsed (it will not take
/// the text fast path); returns whether the record names files, and the
/// bytes they will take in memory.
fn admit(item: &mut Item, files_dir: &Path) -> (bool, u64) {
    if let Payload::Line(text) = &item.payload
        && enroll_files::may_name_files(text)
        && let Ok(value) = serde_json::from_str(text)
    {
        item.payload = Payload::Parsed(value);
    }
    match &item.payload {
        Payload::Parsed(value) if enroll_files::names_files(value) => {
            (true, enroll_files::file_bytes(value, files_dir))
        }
        _ => (false, 0),
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

/// Validates one record (reading the files it names) and prepares its
/// bytes: the whole canonical record is made, signed and sealed for the
/// sequence number it will get if every record before it is stored (the
/// usual case in a bulk file).
fn check(admitted: Admitted, settings: &Settings, envelope: &Envelope, buf: Vec<u8>) -> Checked {
    let Admitted { item, held } = admitted;
    let position = item.position;
    let line = item.line;
    let ctx =
        ValidationContext::new(&settings.units, Utc::now()).with_biometrics(settings.biometrics);
    let mut blobs = Vec::new();
    let mut file_bytes = 0u64;
    // A line of NDJSON is validated from its text (no JSON tree unless the
    // record is invalid and must be explained).
    let validated = match item.payload {
        Payload::Line(text) => validate_text(&text, &ctx).map_err(|e| match e {
            TextError::Syntax(e) => Problem::Invalid(syntax_violation(&input::syntax_message(&e))),
            TextError::Invalid(violations) => Problem::Invalid(violations),
        }),
        Payload::Parsed(value) if enroll_files::names_files(&value) => {
            match enroll_files::validate_with_files(
                value,
                enroll_files::ItemSource::Files(&settings.files_dir),
                &ctx,
                &settings.protection,
            ) {
                Ok(with) => {
                    blobs = with.blobs;
                    file_bytes = with.bytes;
                    Ok(with.body)
                }
                Err(Rejected::Invalid(v)) => Err(Problem::Invalid(v)),
                Err(Rejected::Failed(e)) => Err(Problem::Failed(e)),
            }
        }
        Payload::Parsed(value) => validate(&value, &ctx).map_err(Problem::Invalid),
    };
    let attachments = validated.as_ref().map_or(0, |body| body.attachments.len());
    let files = blobs.len();
    let result = validated.map(|body| {
        let prepared = PreparedBody::with_envelope_in(
            buf,
            body,
            envelope,
            settings.base_seq + position,
            settings.signer.as_deref(),
            Some(&settings.protection),
        );
        if blobs.is_empty() {
            prepared
        } else {
            prepared.with_blobs(blobs)
        }
    });
    Checked {
        position,
        line,
        result,
        attachments,
        files,
        file_bytes,
        held,
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
        Report::Already { id, seq, .. } => {
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
    let mut doc = match report {
        Report::Stored { id, seq, hash, .. } => json!({
            "position": position, "line": line, "at": locate, "outcome": "stored",
            "record_id": id, "device_seq": seq, "content_hash": hash.to_hex(),
        }),
        Report::Already { id, seq, .. } => json!({
            "position": position, "line": line, "at": locate, "outcome": "already_stored",
            "record_id": id, "device_seq": seq,
        }),
        Report::Invalid(violations) => json!({
            "position": position, "line": line, "at": locate, "outcome": "invalid", "violations": violations,
        }),
    };
    // Only records naming attachments say how many (older output unchanged).
    if let (Report::Stored { attachments, .. } | Report::Already { attachments, .. }, Some(map)) =
        (report, doc.as_object_mut())
        && *attachments > 0
    {
        map.insert("attachments".to_owned(), json!(attachments));
    }
    doc
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
