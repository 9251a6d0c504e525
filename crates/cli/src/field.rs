//! `doorstep field init | list | status | check`.

use std::io::Write;

use anyhow::Context;
use chrono::Utc;
use doorstep_core::record::{BiometricPolicy, Finger};
use doorstep_store::{FieldStore, InitOptions, ListFilter, RecordStatus, StoreError};
use serde_json::json;

use crate::cli::{BiometricsArgs, InitArgs, ListArgs, StatusArgs, StatusFilter};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

pub fn init(args: InitArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let units_csv = match &args.units {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                UserError(format!(
                    "{} {}: {e}",
                    lang.pick(
                        "không đọc được danh mục đơn vị",
                        "cannot read the unit list"
                    ),
                    path.display()
                ))
            })?;
            Some((path.display().to_string(), bytes))
        }
        None => None,
    };
    let device_name = doorstep_core::text::clean(&args.device_name);
    if device_name.is_empty() {
        return Err(UserError(
            lang.pick(
                "--device-name không được để trống",
                "--device-name must not be empty",
            )
            .into(),
        )
        .into());
    }
    if FieldStore::db_path(&args.dir.data_dir).exists() {
        // Refused before asking for a passphrase that would not be used; a
        // store that does not open says why (damaged, too new).
        match FieldStore::open(&args.dir.data_dir) {
            // A file an interrupted init left without a device: init again.
            Err(StoreError::NotInitialized { .. }) => {}
            Err(e) => return Err(e.into()),
            Ok(_) => {
                return Err(StoreError::AlreadyInitialized {
                    path: FieldStore::db_path(&args.dir.data_dir),
                }
                .into());
            }
        }
    }
    let passphrase = crate::passphrase::read(lang, true)?;
    let opts = InitOptions {
        device_name,
        unit_code: args.unit.trim().to_owned(),
        units_csv,
        passphrase: passphrase.to_string(),
        kdf: doorstep_crypto::KdfParams::DEFAULT,
    };
    let store = FieldStore::init(&args.dir.data_dir, &opts, Utc::now()).map_err(|e| match e {
        StoreError::Units(u) => anyhow::Error::new(UserError(format!(
            "{} {}: {u}",
            lang.pick("danh mục đơn vị không hợp lệ", "invalid unit list"),
            args.units
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))),
        other => other.into(),
    })?;
    // Registering right away: the store exists first, so a refused token
    // leaves a laptop that can still enroll and register later.
    let mut store = store;
    store.set_retention_days(args.retention_days)?;
    store.set_biometrics(args.biometrics)?;
    let registered = match (&args.server, &args.token) {
        (Some(server), Some(token)) => Some(
            crate::provision_cmd::register_store(&mut store, server, token, &args.tls, lang)
                .map_err(|e| {
                    let note = format!(
                        "{}: doorstep field register --data-dir {} --server {server} --token …",
                        lang.pick(
                            "kho dữ liệu đã được tạo nhưng chưa đăng ký; đăng ký lại bằng",
                            "the store was created but is not registered; register it with"
                        ),
                        args.dir.data_dir.display()
                    );
                    match e.downcast::<UserError>() {
                        Ok(UserError(text)) => {
                            anyhow::Error::new(UserError(format!("{text}\n{note}")))
                        }
                        Err(other) => other.context(note),
                    }
                })?,
        ),
        _ => None,
    };
    let d = store.device();
    let unit_name = store
        .units()
        .get(&d.unit_code)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    if args.json {
        println!(
            "{}",
            json!({"device_id": d.device_id, "device_name": d.device_name, "unit_code": d.unit_code,
                   "unit_name": unit_name, "units": store.units().len(), "store": store.path(),
                   "biometrics": store.biometrics(), "registration": registered})
        );
    } else {
        let label = |vi, en| lang.pick(vi, en);
        println!(
            "{} {}",
            label("Đã tạo kho dữ liệu", "Created store"),
            store.path().display()
        );
        println!("  {}: {}", label("mã thiết bị", "device id"), d.device_id);
        println!(
            "  {}: {}",
            label("tên thiết bị", "device name"),
            d.device_name
        );
        println!(
            "  {}: {} {}",
            label("đơn vị", "unit"),
            d.unit_code,
            unit_name
        );
        println!(
            "  {}: {} {}",
            label("danh mục", "unit list"),
            store.units().len(),
            label("đơn vị hành chính", "administrative units")
        );
        println!(
            "  {}: {}",
            label(
                "sinh trắc học bắt buộc (hồ sơ cấp căn cước)",
                "biometrics required (id_card_application)"
            ),
            policy_text(store.biometrics(), lang)
        );
        if let Some(r) = &registered {
            crate::provision_cmd::print_registration(r, lang);
        }
    }
    Ok(Outcome::Ok)
}

fn status_label(status: RecordStatus, lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => status.label_vi(),
        Lang::En => match status {
            RecordStatus::Pending => "pending sync",
            RecordStatus::Held => "held by station",
            RecordStatus::Incomplete => "held, attachments missing",
            RecordStatus::Confirmed => "confirmed",
            RecordStatus::Rejected => "rejected",
        },
    }
}

pub fn list(args: ListArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    if let Some(kind) = &args.kind
        && doorstep_core::RecordKind::parse(kind).is_none()
    {
        return Err(UserError(format!(
            "--kind {kind}: {} {}",
            lang.pick(
                "không hợp lệ; chọn một trong",
                "is not valid; choose one of"
            ),
            doorstep_core::RecordKind::allowed()
        ))
        .into());
    }
    let filter = ListFilter {
        status: args.status.map(|s| match s {
            StatusFilter::Pending => RecordStatus::Pending,
            StatusFilter::Held => RecordStatus::Held,
            StatusFilter::Confirmed => RecordStatus::Confirmed,
            StatusFilter::Rejected => RecordStatus::Rejected,
        }),
        kind: args.kind.clone(),
        limit: args.limit,
        record_id: None,
    };
    crate::passphrase::unlock(&mut store, lang)?;
    let records = store.list(&filter)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer(&mut out, &records)?;
        writeln!(out)?;
        return Ok(Outcome::Ok);
    }
    let headers: [&str; 7] = match lang {
        Lang::Vi => [
            "STT",
            "MÃ HỒ SƠ",
            "LOẠI",
            "TRẠNG THÁI",
            "THỜI ĐIỂM LƯU (UTC)",
            "SỐ ĐỊNH DANH",
            "HỌ VÀ TÊN",
        ],
        Lang::En => [
            "SEQ",
            "RECORD ID",
            "KIND",
            "STATUS",
            "ENROLLED (UTC)",
            "PERSONAL ID",
            "FULL NAME",
        ],
    };
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            let mut status = status_label(r.status, lang).to_owned();
            if let (RecordStatus::Held, Some(by)) = (r.status, &r.held_by) {
                status.push_str(&format!(" {}", by.chars().take(8).collect::<String>()));
            }
            if let Some(by) = &r.superseded_by {
                status.push_str(&format!(
                    " ({} {})",
                    lang.pick("đã sửa bởi", "corrected by"),
                    short(by)
                ));
            }
            let reason = match lang {
                Lang::Vi => r.reject_reason_vi.as_ref().or(r.reject_reason.as_ref()),
                Lang::En => r.reject_reason.as_ref(),
            };
            if let Some(reason) = reason.filter(|t| !t.is_empty()) {
                status.push_str(&format!(": {reason}"));
            }
            if let Some(code) = &r.reject_code {
                status.push_str(&format!(" [{code}]"));
            }
            [
                r.device_seq.to_string(),
                r.record_id.to_string(),
                r.kind.clone(),
                status,
                r.enrolled_at.clone(),
                r.personal_id.clone().unwrap_or_default(),
                r.full_name.clone().unwrap_or_else(|| {
                    lang.pick("(đã xóa sau khi xác nhận)", "(purged after confirmation)")
                        .to_owned()
                }),
            ]
        })
        .collect();
    crate::table::write(&mut out, &headers, &rows)?;
    if records.is_empty() {
        writeln!(out, "{}", lang.pick("(không có hồ sơ nào)", "(no records)"))?;
    }
    Ok(Outcome::Ok)
}

/// `field passphrase`: rewraps the store's key under a new passphrase.
pub fn change_passphrase(args: StatusArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    if !store.has_passphrase()? {
        // A store from before encryption at rest: this sets its first one.
        crate::passphrase::unlock(&mut store, lang)?;
        return Ok(Outcome::Ok);
    }
    let current = crate::passphrase::read(lang, false)?;
    let new = match std::env::var("DOORSTEP_NEW_PASSPHRASE") {
        Ok(v) => zeroize::Zeroizing::new(v),
        Err(_) if std::env::var(crate::passphrase::ENV).is_ok() => {
            return Err(UserError(
                lang.pick(
                    "với DOORSTEP_PASSPHRASE, hãy đặt mật khẩu mới trong DOORSTEP_NEW_PASSPHRASE",
                    "with DOORSTEP_PASSPHRASE set, give the new passphrase in DOORSTEP_NEW_PASSPHRASE",
                )
                .into(),
            )
            .into());
        }
        Err(_) => crate::passphrase::read(lang, true)?,
    };
    store.change_passphrase(&current, &new, Utc::now())?;
    if args.json {
        println!("{}", json!({ "changed": true }));
    } else {
        println!("{}", lang.pick("đã đổi mật khẩu", "passphrase changed"));
    }
    Ok(Outcome::Ok)
}

/// `field purge`: removes confirmed records' citizen data after the
/// retention period.
pub fn purge(args: crate::cli::PurgeArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    if let Some(days) = args.retention_days {
        store.set_retention_days(days)?;
    }
    let report = store.purge_confirmed(Utc::now())?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}",
            lang.pick(
                &format!(
                    "đã xóa dữ liệu công dân của {} hồ sơ đã được xác nhận quá {} ngày",
                    report.purged, report.retention_days
                ),
                &format!(
                    "purged the citizen data of {} records confirmed more than {} days ago",
                    report.purged, report.retention_days
                ),
            )
        );
    }
    Ok(Outcome::Ok)
}

fn short(id: &uuid::Uuid) -> String {
    id.to_string().chars().take(8).collect()
}

pub fn status(args: StatusArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let store = FieldStore::open(&args.dir.data_dir)?;
    let report = store.status()?;
    let blobs = store.blob_status()?;
    let worklist = store.worklist_state()?;
    if args.json {
        let by_status: serde_json::Map<_, _> = report
            .by_status
            .iter()
            .map(|(k, n)| (k.clone(), json!(n)))
            .collect();
        let by_kind: serde_json::Map<_, _> = report
            .by_kind
            .iter()
            .map(|(k, n)| (k.clone(), json!(n)))
            .collect();
        println!(
            "{}",
            json!({
                "device": report.device, "total": report.total, "by_status": by_status, "by_kind": by_kind,
                "outbox": report.outbox, "last_enrolled_at": report.last_enrolled_at,
                "schema_version": report.schema_version, "units_source": report.units_source,
                "units_count": report.units_count, "biometrics": report.device.biometrics,
                "blobs": blobs, "worklist": worklist,
            })
        );
        return Ok(Outcome::Ok);
    }
    let d = &report.device;
    let mut out = std::io::stdout().lock();
    match lang {
        Lang::Vi => {
            writeln!(
                out,
                "Thiết bị {} ({}), đơn vị {}",
                d.device_name, d.device_id, d.unit_code
            )?;
            writeln!(
                out,
                "Tổng số hồ sơ: {}   chờ gửi (hàng đợi): {}   số thứ tự cuối: {}",
                report.total, report.outbox, d.last_seq
            )?;
        }
        Lang::En => {
            writeln!(
                out,
                "Device {} ({}), unit {}",
                d.device_name, d.device_id, d.unit_code
            )?;
            writeln!(
                out,
                "Records: {}   outbox (not yet acknowledged): {}   last sequence: {}",
                report.total, report.outbox, d.last_seq
            )?;
        }
    }
    writeln!(out, "{}", lang.pick("Theo trạng thái:", "By state:"))?;
    for (k, n) in &report.by_status {
        let label = RecordStatus::parse(k)
            .map(|s| status_label(s, lang))
            .unwrap_or(k);
        writeln!(out, "  {label:<18} {k:<10} {n:>9}")?;
    }
    writeln!(out, "{}", lang.pick("Theo loại hồ sơ:", "By kind:"))?;
    for (k, n) in &report.by_kind {
        writeln!(out, "  {k:<22} {n:>9}")?;
    }
    writeln!(
        out,
        "{} {}",
        lang.pick("Hồ sơ lưu gần nhất:", "Last record stored:"),
        report.last_enrolled_at.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "{} {}",
        lang.pick(
            "Sinh trắc học bắt buộc (hồ sơ cấp căn cước):",
            "Biometrics required (id_card_application):"
        ),
        policy_text(d.biometrics, lang)
    )?;
    if blobs.blobs > 0 || blobs.refused > 0 {
        let size = |n| human_bytes(n, lang);
        match lang {
            Lang::Vi => writeln!(
                out,
                "Tệp đính kèm: {} ({})   chờ gửi: {} ({})   bị từ chối: {}",
                blobs.blobs,
                size(blobs.bytes),
                blobs.to_upload,
                size(blobs.bytes_to_upload),
                blobs.refused
            )?,
            Lang::En => writeln!(
                out,
                "Attachment files: {} ({})   to upload: {} ({})   refused: {}",
                blobs.blobs,
                size(blobs.bytes),
                blobs.to_upload,
                size(blobs.bytes_to_upload),
                blobs.refused
            )?,
        }
    }
    worklist_lines(&mut out, &worklist, lang)?;
    Ok(Outcome::Ok)
}

/// The worklist in `field status`: people held, the last complete download,
/// the checkpoint, and a download cut short (resumed by the next sync).
fn worklist_lines(
    out: &mut impl Write,
    w: &doorstep_store::WorklistState,
    lang: Lang,
) -> std::io::Result<()> {
    if w.checkpoint.is_none() && w.pending.is_none() && w.people == 0 {
        return writeln!(
            out,
            "{}",
            lang.pick(
                "Danh sách cần tiếp cận: chưa tải về",
                "Worklist: not downloaded yet"
            )
        );
    }
    let last = match &w.last_download {
        Some(d) => {
            let kind = match (d.full, lang) {
                (true, Lang::Vi) => "toàn bộ",
                (false, Lang::Vi) => "thay đổi",
                (true, Lang::En) => "full",
                (false, Lang::En) => "changes",
            };
            format!("{} ({kind}, {})", d.at, human_bytes(d.bytes, lang))
        }
        None => "-".to_owned(),
    };
    let checkpoint = w
        .checkpoint
        .as_ref()
        .map_or_else(|| "-".to_owned(), |c| c.rev.to_string());
    match lang {
        Lang::Vi => writeln!(
            out,
            "Danh sách cần tiếp cận: {} người   tải về lần cuối: {last}   mốc: {checkpoint}",
            w.people
        )?,
        Lang::En => writeln!(
            out,
            "Worklist: {} {}   last download: {last}   checkpoint: {checkpoint}",
            w.people,
            if w.people == 1 { "person" } else { "people" }
        )?,
    }
    if let Some(p) = &w.pending {
        match lang {
            Lang::Vi => writeln!(
                out,
                "  đang tải dở: {} trang, {} thay đổi (đến {}); lần đồng bộ sau tải tiếp",
                p.pages, p.changes, p.after
            )?,
            Lang::En => writeln!(
                out,
                "  download under way: {} pages, {} changes (up to {}); the next sync resumes it",
                p.pages, p.changes, p.after
            )?,
        }
    }
    Ok(())
}

/// `field biometrics`: sets which biometrics an id_card_application must
/// carry on this laptop (no passphrase: it is a setting, not citizen data).
pub fn biometrics(args: BiometricsArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    // A registered laptop's policy is its campaign's: central checks its
    // records against the one it registered (proto/attachments-v1.md 3.1).
    if let Some(server) = store.identity()?.registered_server {
        return Err(UserError(format!(
            "{} {server}: {}",
            lang.pick(
                "máy này đã đăng ký với",
                "this laptop is registered with"
            ),
            lang.pick(
                "yêu cầu sinh trắc học là của chiến dịch, đặt khi cấp mã đăng ký (central provision --biometrics)",
                "its biometric policy is its campaign's, set when central issues the token (central provision --biometrics)"
            )
        ))
        .into());
    }
    let previous = store.biometrics();
    store.set_biometrics(args.spec)?;
    if args.json {
        println!("{}", json!({"biometrics": args.spec, "previous": previous}));
    } else {
        println!(
            "{}: {}",
            lang.pick(
                "sinh trắc học bắt buộc (hồ sơ cấp căn cước)",
                "biometrics required (id_card_application)"
            ),
            policy_text(args.spec, lang)
        );
        if previous != args.spec {
            println!(
                "  {}: {}",
                lang.pick("trước đây", "was"),
                policy_text(previous, lang)
            );
        }
    }
    Ok(Outcome::Ok)
}

/// A biometric policy for people: its spelling, and in Vietnamese what it
/// means (`ảnh chân dung, vân tay 10 ngón (face,all)`).
fn policy_text(policy: BiometricPolicy, lang: Lang) -> String {
    let spec = policy.spec();
    match lang {
        Lang::En if policy.is_none() => "none (no face or fingerprint required)".to_owned(),
        Lang::En => spec,
        Lang::Vi if policy.is_none() => "không (không bắt buộc ảnh hay vân tay)".to_owned(),
        Lang::Vi => {
            let mut parts: Vec<String> = Vec::new();
            if policy.face {
                parts.push("ảnh chân dung".to_owned());
            }
            let fingers = policy.fingers();
            if fingers.len() == Finger::ALL.len() {
                parts.push("vân tay 10 ngón".to_owned());
            } else if !fingers.is_empty() {
                let names: Vec<&str> = fingers.iter().map(|f| f.label_vi()).collect();
                parts.push(format!("vân tay {}", names.join(", ")));
            }
            format!("{} ({spec})", parts.join(", "))
        }
    }
}

/// A byte count for people, in decimal units: `6.6 MB` (`6,6 MB` in Vietnamese).
pub fn human_bytes(n: u64, lang: Lang) -> String {
    let text = if n < 1_000 {
        format!("{n} B")
    } else {
        let (value, unit) = [(1e3, "kB"), (1e6, "MB"), (1e9, "GB")]
            .into_iter()
            .rev()
            .find(|(size, _)| n as f64 >= *size)
            .unwrap_or((1e3, "kB"));
        format!("{:.1} {unit}", n as f64 / value)
    };
    match lang {
        Lang::Vi => text.replace('.', ","),
        Lang::En => text,
    }
}

pub fn check(args: StatusArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    let integrity = store.integrity_check()?;
    // Every record is decrypted and decoded: that needs the passphrase.
    crate::passphrase::unlock(&mut store, lang)?;
    let gap_free = store.sequence_is_gap_free()?;
    let decode = store
        .list(&ListFilter::default())
        .map(|r| r.len())
        .context(lang.pick("có hồ sơ không giải mã được", "a record does not decode"));
    let ok = integrity == ["ok"] && gap_free && decode.is_ok();
    if args.json {
        println!(
            "{}",
            json!({"ok": ok, "integrity_check": integrity, "sequence_gap_free": gap_free,
                   "records_decoded": decode.as_ref().ok(), "decode_error": decode.as_ref().err().map(|e| format!("{e:#}"))})
        );
    } else {
        println!("integrity_check: {}", integrity.join("; "));
        println!(
            "{}: {}",
            lang.pick("số thứ tự liên tục", "sequence gap-free"),
            gap_free
        );
        match &decode {
            Ok(n) => println!(
                "{}: {n}",
                lang.pick("hồ sơ giải mã được", "records decoded")
            ),
            Err(e) => println!("{e:#}"),
        }
        println!(
            "{}",
            if ok {
                lang.pick("KẾT QUẢ: tốt", "RESULT: ok")
            } else {
                lang.pick("KẾT QUẢ: có lỗi", "RESULT: problems found")
            }
        );
    }
    if ok {
        Ok(Outcome::Ok)
    } else {
        anyhow::bail!(lang.pick(
            "kho dữ liệu có lỗi (xem trên); không xóa tệp",
            "the store has problems (see above); do not delete it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_both_languages() {
        assert_eq!(human_bytes(0, Lang::En), "0 B");
        assert_eq!(human_bytes(999, Lang::En), "999 B");
        assert_eq!(human_bytes(6_600_000, Lang::En), "6.6 MB");
        assert_eq!(human_bytes(6_600_000, Lang::Vi), "6,6 MB");
        assert_eq!(human_bytes(25_000, Lang::En), "25.0 kB");
        assert_eq!(human_bytes(1_550_000_000, Lang::En), "1.6 GB");
    }

    #[test]
    fn policies_read_in_both_languages() {
        let full = BiometricPolicy::FULL;
        assert_eq!(policy_text(full, Lang::En), "face,all");
        assert_eq!(
            policy_text(full, Lang::Vi),
            "ảnh chân dung, vân tay 10 ngón (face,all)"
        );
        let two = BiometricPolicy::new(false, &[Finger::RightIndex, Finger::LeftIndex]);
        assert_eq!(
            policy_text(two, Lang::Vi),
            "vân tay ngón trỏ phải, ngón trỏ trái (right_index,left_index)"
        );
        assert!(policy_text(BiometricPolicy::NONE, Lang::En).starts_with("none"));
    }
}
