//! `doorstep field export` and `doorstep station import`: offline bundle
//! files (`proto/bundle-v1.md`) for teams with no network.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use doorstep_central::check::check_batch;
use doorstep_central::{CentralStore, SqliteCentral};
use doorstep_core::canonical::format_utc_millis;
use doorstep_store::FieldStore;
use doorstep_sync::bundle::{self, BundleError, BundleFileError, BundleWriter};
use doorstep_wire::log::JournalHead;
use doorstep_wire::{Batch, NodeRole, OutcomeCounts, PROTOCOL_VERSION, Sender};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::cli::{ExportArgs, ImportArgs};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

/// Outbox records read from SQLite at a time.
const EXPORT_PAGE: u64 = 1_000;
/// SQLite page cache while exporting, in KiB.
const EXPORT_PAGE_CACHE_KIB: u32 = 4 * 1024;

/// A bundle of the whole outbox, made and not yet written anywhere.
#[derive(Debug)]
pub struct BuiltBundle {
    pub bytes: Vec<u8>,
    pub count: usize,
    pub seq_from: u64,
    pub seq_to: u64,
    pub sha256: String,
    exported: Vec<(Uuid, doorstep_core::ContentHash)>,
}

/// Packs every record of the outbox into a bundle (`None`: the queue is
/// empty). The store must be unlocked when records need sealing.
pub fn build_bundle(store: &mut FieldStore) -> anyhow::Result<Option<BuiltBundle>> {
    let device = store.device().clone();
    let mut writer = BundleWriter::new(device.device_id, &device.device_name, &device.unit_code)?;
    let mut after_seq = 0;
    let (mut seq_from, mut seq_to) = (0, 0);
    let mut exported = Vec::new();
    loop {
        let items = store.outbox(after_seq, EXPORT_PAGE)?;
        let Some(last) = items.last() else { break };
        after_seq = last.device_seq;
        for item in &items {
            if writer.is_empty() {
                seq_from = item.device_seq;
            }
            writer.push(item)?;
            exported.push((item.record_id, item.content_hash));
            seq_to = item.device_seq;
        }
    }
    let journal = store.journal_head()?.map(|h| JournalHead {
        seq: h.seq,
        hash: h.hash,
    });
    let count = writer.len();
    if count == 0 {
        return Ok(None);
    }
    let bytes = writer.finish(&format_utc_millis(&Utc::now()), journal)?;
    let sha256 = bundle::file_sha256(&bytes);
    Ok(Some(BuiltBundle {
        bytes,
        count,
        seq_from,
        seq_to,
        sha256,
        exported,
    }))
}

/// Notes in the laptop's journal what left it, in which file: once the
/// bundle's bytes are written (or handed to the browser).
pub fn journal_bundle(store: &mut FieldStore, built: &BuiltBundle) -> anyhow::Result<()> {
    store.journal_exported(
        &built.sha256,
        built.count as u64,
        &built.exported,
        Utc::now(),
    )?;
    Ok(())
}

pub fn export(args: ExportArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let out = &args.out;
    if out.symlink_metadata().is_ok() {
        return Err(exists_error(out, lang).into());
    }
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    crate::passphrase::unlock_if_needed(&mut store, lang)?;
    store.limit_page_cache(EXPORT_PAGE_CACHE_KIB)?;
    let device = store.device().clone();
    let Some(built) = build_bundle(&mut store)? else {
        if args.json {
            println!(
                "{}",
                json!({"device_id": device.device_id, "count": 0, "file": null})
            );
        } else {
            println!(
                "{}",
                lang.pick(
                    "Hàng đợi trống: không có hồ sơ nào cần mang đi, không tạo tệp.",
                    "The queue is empty: no record to carry, no file written."
                )
            );
        }
        return Ok(Outcome::Ok);
    };
    write_new(out, &built.bytes, lang)?;
    journal_bundle(&mut store, &built)?;
    drop(store);
    let BuiltBundle {
        bytes,
        count,
        seq_from,
        seq_to,
        sha256,
        ..
    } = built;
    if args.json {
        println!(
            "{}",
            json!({
                "file": out.display().to_string(),
                "device_id": device.device_id,
                "device_name": device.device_name,
                "unit_code": device.unit_code,
                "seq_from": seq_from,
                "seq_to": seq_to,
                "count": count,
                "bytes": bytes.len(),
                "sha256": sha256,
            })
        );
        return Ok(Outcome::Ok);
    }
    let l = |vi, en| lang.pick(vi, en);
    println!(
        "{} {} {}",
        l("Đã ghi gói dữ liệu", "Bundle written:"),
        out.display(),
        l(
            "(hồ sơ vẫn nằm trong hàng đợi cho tới khi máy đồng bộ được)",
            "(the records stay queued until the laptop syncs)"
        )
    );
    println!(
        "  {}: {} ({})",
        l("thiết bị", "device"),
        device.device_id,
        device.device_name
    );
    println!(
        "  {}: #{seq_from}–#{seq_to}  {}: {count}  {}: {}",
        l("số thứ tự", "sequence"),
        l("số hồ sơ", "records"),
        l("dung lượng", "size"),
        bytes.len()
    );
    println!("  SHA-256: {sha256}");
    println!(
        "  {}",
        l(
            "Mang tệp tới trạm xã và chạy `doorstep station import` ở đó.",
            "Take the file to the commune station and run `doorstep station import` there."
        )
    );
    Ok(Outcome::Ok)
}

fn exists_error(out: &Path, lang: Lang) -> UserError {
    UserError(format!(
        "{}: {}",
        out.display(),
        lang.pick(
            "tệp đã tồn tại; không ghi đè — hãy chọn tên khác",
            "the file exists already; it is never overwritten — choose another name"
        )
    ))
}

/// Writes `bytes` to `out` completely or not at all: a temporary file in
/// the same directory, flushed to disk, then moved into place without
/// replacing an existing file.
fn write_new(out: &Path, bytes: &[u8], lang: Lang) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| UserError(format!("--out {}: not a file name", out.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let cannot_write = |e: std::io::Error, path: &Path| {
        UserError(format!(
            "{} {}: {e}",
            lang.pick("không ghi được", "cannot write"),
            path.display()
        ))
    };
    let result = (|| -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| cannot_write(e, &tmp))?;
        file.write_all(bytes).map_err(|e| cannot_write(e, &tmp))?;
        file.sync_all().map_err(|e| cannot_write(e, &tmp))?;
        drop(file);
        // A hard link never replaces an existing file; file systems
        // without hard links (FAT on USB sticks) get a rename after a
        // last check.
        match std::fs::hard_link(&tmp, out) {
            Ok(()) => {
                let _ = std::fs::remove_file(&tmp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(exists_error(out, lang).into());
            }
            Err(_) => {
                if out.symlink_metadata().is_ok() {
                    return Err(exists_error(out, lang).into());
                }
                std::fs::rename(&tmp, out).map_err(|e| cannot_write(e, out))?;
            }
        }
        // Make the new directory entry durable too (best effort: not every
        // platform can sync a directory).
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What became of one bundle file.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    /// `imported`, `refused` (the file is not a valid bundle: nothing
    /// imported) or `failed` (the store could not apply it: nothing
    /// imported).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq_from: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq_to: Option<u64>,
    records: u64,
    bytes: u64,
    counts: OutcomeCounts,
}

impl FileReport {
    fn new(file: &Path) -> FileReport {
        FileReport {
            file: file.display().to_string(),
            status: "refused",
            reason: None,
            device_id: None,
            device_name: None,
            seq_from: None,
            seq_to: None,
            records: 0,
            bytes: 0,
            counts: OutcomeCounts::default(),
        }
    }
}

pub fn import(args: ImportArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let store = SqliteCentral::open(&args.data_dir)?;
    if store.role() != NodeRole::Station {
        return Err(UserError(format!(
            "{}: {}",
            args.data_dir.display(),
            lang.pick(
                "không phải kho dữ liệu của trạm xã (bundle chỉ được nhập ở trạm; tạo kho trạm bằng `doorstep station serve`)",
                "not a commune station's store (bundles are imported at a station; `doorstep station serve` creates one)"
            )
        ))
        .into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut reports = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let report = import_one(&store, &rt, file, lang);
        if !args.json {
            print_file(&report, lang);
        }
        reports.push(report);
    }
    let mut totals = OutcomeCounts::default();
    for r in &reports {
        totals.merge(&r.counts);
    }
    let refused = reports.iter().filter(|r| r.status == "refused").count();
    let failed = reports.iter().filter(|r| r.status == "failed").count();
    let imported = reports.len() - refused - failed;
    if args.json {
        println!(
            "{}",
            json!({
                "files": reports,
                "imported": imported,
                "refused": refused,
                "failed": failed,
                "totals": totals,
            })
        );
    } else {
        let l = |vi, en| lang.pick(vi, en);
        println!(
            "{}: {imported} {}, {refused} {}{}",
            l("Tổng", "Total"),
            l("tệp đã nhập", "files imported"),
            l("tệp bị từ chối", "files refused"),
            if failed > 0 {
                format!(", {failed} {}", l("tệp lỗi lưu trữ", "files failed"))
            } else {
                String::new()
            }
        );
        println!("  {}", counts_line(&totals, lang));
    }
    Ok(if failed > 0 {
        Outcome::Failed
    } else if refused > 0 {
        Outcome::InvalidInput
    } else {
        Outcome::Ok
    })
}

/// Verifies one file and applies it in one transaction.
fn import_one(
    store: &SqliteCentral,
    rt: &tokio::runtime::Runtime,
    file: &Path,
    lang: Lang,
) -> FileReport {
    let mut report = FileReport::new(file);
    let (bundle, file_len) = match bundle::read_file(file) {
        Ok(ok) => ok,
        Err(e) => {
            report.reason = Some(refusal_text(&e, lang));
            return report;
        }
    };
    let manifest = bundle.manifest;
    report.device_id = Some(manifest.device_id);
    report.device_name = Some(manifest.device_name.clone());
    report.seq_from = Some(manifest.seq_from);
    report.seq_to = Some(manifest.seq_to);
    report.records = manifest.count;
    report.bytes = file_len;
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let batch = Batch {
        protocol: PROTOCOL_VERSION,
        batch_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        sender: Sender {
            node_id: manifest.device_id,
            role: NodeRole::Field,
            name: Some(manifest.device_name),
            client_version: format!("bundle:{file_name}"),
        },
        journal: manifest.journal,
        records: bundle.records,
    };
    let incoming = check_batch(batch, &store.units(), Utc::now(), file_len);
    match rt.block_on(store.apply(incoming)) {
        Ok(applied) => {
            for line in &applied.lines {
                report.counts.add(line.outcome);
            }
            report.status = "imported";
        }
        Err(e) => {
            report.status = "failed";
            report.reason = Some(format!(
                "{}: {e}",
                lang.pick(
                    "không lưu được vào kho của trạm, chưa nhập gì",
                    "cannot store into the station's store, nothing imported"
                )
            ));
        }
    }
    report
}

/// Why a file was refused, for people: what to do first (in their
/// language), then the exact cause.
fn refusal_text(e: &BundleFileError, lang: Lang) -> String {
    let detail = e.to_string();
    let hint = match e {
        BundleFileError::Read { .. } => return detail,
        BundleFileError::FileTooLarge { .. } => lang.pick(
            "tệp quá lớn, không phải gói dữ liệu",
            "the file is too large to be a bundle",
        ),
        BundleFileError::Invalid { source, .. } => match source {
            BundleError::TooShort { .. } | BundleError::FileHashMismatch { .. } => lang.pick(
                "tệp bị hỏng hoặc chép chưa hết — hãy chép lại từ máy của tổ",
                "the file is damaged or incomplete — copy it again from the team's laptop",
            ),
            BundleError::BadMagic => lang.pick(
                "không phải tệp gói dữ liệu Doorstep",
                "not a Doorstep bundle file",
            ),
            BundleError::UnsupportedVersion(_) => lang.pick(
                "gói dữ liệu của phiên bản mới hơn — hãy cập nhật phần mềm của trạm",
                "a bundle of a newer version — update the station's software",
            ),
            _ => lang.pick(
                "nội dung gói dữ liệu không hợp lệ",
                "the bundle's content is not valid",
            ),
        },
    };
    format!("{hint}; {}: {detail}", lang.pick("chi tiết", "details"))
}

fn counts_line(c: &OutcomeCounts, lang: Lang) -> String {
    let l = |vi, en| lang.pick(vi, en);
    format!(
        "{}: {}  {}: {}  {}: {}  {}: {}",
        l("tiếp nhận mới", "accepted"),
        c.accepted,
        l("đã có (trùng)", "duplicate"),
        c.duplicate,
        l("xung đột", "conflict"),
        c.conflict,
        l("không hợp lệ", "invalid"),
        c.invalid
    )
}

fn print_file(r: &FileReport, lang: Lang) {
    let l = |vi, en| lang.pick(vi, en);
    match r.status {
        "imported" => {
            println!(
                "{}: {} ({} {} {}, #{}–#{}, {} {})",
                r.file,
                l("đã nhập", "imported"),
                l("thiết bị", "device"),
                r.device_id.map(|d| d.to_string()).unwrap_or_default(),
                r.device_name.as_deref().unwrap_or(""),
                r.seq_from.unwrap_or(0),
                r.seq_to.unwrap_or(0),
                r.records,
                l("hồ sơ", "records")
            );
            println!("  {}", counts_line(&r.counts, lang));
        }
        "failed" => println!(
            "{}: {} — {}",
            r.file,
            l("LỖI, không nhập", "FAILED, nothing imported"),
            r.reason.as_deref().unwrap_or("")
        ),
        _ => println!(
            "{}: {} — {}",
            r.file,
            l("TỪ CHỐI, không nhập gì", "REFUSED, nothing imported"),
            r.reason.as_deref().unwrap_or("")
        ),
    }
}
