//! `doorstep audit verify | log | reconcile | gaps | alarms`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use doorstep_central::SqliteCentral;
use doorstep_central::sqlite::audit::{self, AuditReport, AuditStage};
use doorstep_store::{FieldStore, RecordStatus};
use doorstep_sync::Client;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::cli::{
    AuditAlarmsArgs, AuditGapsArgs, AuditLogArgs, AuditReconcileArgs, AuditVerifyArgs,
    ClientTlsArgs,
};
use crate::lang::{Lang, Pick};
use crate::sync_cmd::check_server_url;
use crate::{Outcome, UserError, table};

/// Problems printed in text mode (JSON has all the report holds).
const SHOWN: usize = 20;

pub fn verify(args: AuditVerifyArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let dir = match (&args.data_dir, &args.database) {
        (Some(dir), _) => dir,
        (None, Some(url)) => return verify_log(LogSource::Postgres(url), &args, lang),
        (None, None) => {
            return Err(UserError("--data-dir DIR or --database URL".into()).into());
        }
    };
    if SqliteCentral::db_path(dir).exists() {
        verify_log(LogSource::Dir(dir), &args, lang)
    } else if FieldStore::db_path(dir).exists() {
        verify_journal(dir, &args, lang)
    } else {
        Err(UserError(format!(
            "--data-dir {}: {}",
            dir.display(),
            lang.pick(
                "không có kho Doorstep (trung tâm, trạm hay máy trạm) trong thư mục này",
                "no Doorstep store (central, station or laptop) in this directory"
            )
        ))
        .into())
    }
}

/// Where a central's (or station's) log is kept.
enum LogSource<'a> {
    Dir(&'a Path),
    Postgres(&'a str),
}

fn verify_log(
    source: LogSource<'_>,
    args: &AuditVerifyArgs,
    lang: Lang,
) -> anyhow::Result<Outcome> {
    let bar = if args.no_progress || args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{msg:24} {bar:30} {pos}/{len} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let started = std::time::Instant::now();
    let mut progress = |stage, done, total| {
        bar.set_message(match stage {
            AuditStage::Entries => lang.pick("mục nhật ký", "log entries"),
            AuditStage::Nodes => lang.pick("nút cây Merkle", "tree nodes"),
            AuditStage::TreeHeads => lang.pick("đầu cây đã ký", "signed tree heads"),
            AuditStage::Records => lang.pick("hồ sơ", "records"),
        });
        bar.set_length(total);
        bar.set_position(done);
    };
    let (report, checked) = match source {
        LogSource::Dir(dir) => (
            audit::verify(dir, &mut progress)?,
            ("data_dir", dir.display().to_string()),
        ),
        LogSource::Postgres(url) => {
            let rt = crate::central_store::runtime()?;
            (
                rt.block_on(doorstep_central::postgres::audit::verify(
                    url,
                    &mut progress,
                ))?,
                ("database", doorstep_central::postgres::describe_url(url)),
            )
        }
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    if args.json {
        let mut doc = json!({
            "kind": "log",
            "ok": report.is_clean(),
            "report": report,
            "elapsed_ms": elapsed.as_millis() as u64,
        });
        doc[checked.0] = json!(checked.1);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_log_report(&report, elapsed, lang);
    }
    Ok(if report.is_clean() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn print_log_report(report: &AuditReport, elapsed: Duration, lang: Lang) {
    let mut out = std::io::stdout().lock();
    let head = report
        .latest_head
        .as_ref()
        .map_or_else(|| "-".to_owned(), |(size, root)| format!("{size} / {root}"));
    let _ = writeln!(
        out,
        "{}: {} {}, {} {}, {} {}, {} {} ({:.1} s)",
        lang.pick("Đã kiểm tra", "Checked"),
        report.entries,
        lang.pick("mục nhật ký", "log entries"),
        report.nodes,
        lang.pick("nút cây", "tree nodes"),
        report.tree_heads,
        lang.pick("đầu cây đã ký", "signed tree heads"),
        report.records,
        lang.pick("hồ sơ", "records"),
        elapsed.as_secs_f64(),
    );
    let _ = writeln!(
        out,
        "{}: {head}",
        lang.pick(
            "Đầu cây mới nhất (kích thước / gốc)",
            "Latest tree head (size / root)"
        )
    );
    if report.is_clean() {
        let _ = writeln!(
            out,
            "{}",
            lang.pick(
                "KHỚP: nhật ký, cây Merkle, chữ ký và hồ sơ đều khớp nhau.",
                "OK: the log, the Merkle tree, the signatures and the records all match."
            )
        );
        return;
    }
    let _ = writeln!(
        out,
        "{} {} {}",
        lang.pick("KHÔNG KHỚP:", "MISMATCH:"),
        report.problems_total,
        lang.pick("điểm không khớp. Điểm đầu tiên:", "problems. The first:")
    );
    for p in report.problems.iter().take(SHOWN) {
        let _ = writeln!(out, "  [{}] {}: {}", p.code, p.location, p.detail);
    }
    if report.problems_total > SHOWN as u64 {
        let _ = writeln!(
            out,
            "  … {} {}",
            report.problems_total - SHOWN as u64,
            lang.pick("điểm nữa (xem --json)", "more (see --json)")
        );
    }
}

fn verify_journal(dir: &Path, args: &AuditVerifyArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let store = FieldStore::open(dir)?;
    let check = store.verify_journal()?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "kind": "journal",
                "data_dir": dir.display().to_string(),
                "ok": check.is_ok(),
                "entries": check.entries,
                "records": check.records,
                "head": check.head,
                "problem": check.problem.as_ref().map(|p| json!({
                    "seq": p.seq, "device_seq": p.device_seq,
                    "message": p.message, "message_vi": p.message_vi,
                })),
            }))?
        );
    } else {
        println!(
            "{}: {} {}, {} {}",
            lang.pick("Nhật ký máy trạm", "Laptop journal"),
            check.entries,
            lang.pick("mục", "entries"),
            check.records,
            lang.pick("hồ sơ", "records"),
        );
        match &check.problem {
            None => println!(
                "{}",
                lang.pick(
                    "KHỚP: chuỗi băm của nhật ký và các hồ sơ đều khớp nhau.",
                    "OK: the journal's hash chain and the records match."
                )
            ),
            Some(p) => println!(
                "{} {}",
                lang.pick("KHÔNG KHỚP:", "MISMATCH:"),
                lang.pick(&p.message_vi, &p.message)
            ),
        }
    }
    Ok(if check.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn client(server: &str, tls: &ClientTlsArgs, lang: Lang) -> anyhow::Result<Client> {
    let server = check_server_url(server, lang)?;
    crate::sync_cmd::client(&server, Duration::from_secs(60), tls, lang)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn log(args: AuditLogArgs, lang: Lang) -> anyhow::Result<Outcome> {
    if let Some(since) = &args.since {
        chrono::DateTime::parse_from_rfc3339(since).map_err(|e| {
            UserError(format!(
                "--since `{since}`: {} ({e})",
                lang.pick(
                    "cần thời điểm RFC 3339, ví dụ 2026-11-23T08:00:00+07:00",
                    "expected an RFC 3339 time, e.g. 2026-11-23T08:00:00+07:00"
                )
            ))
        })?;
    }
    let client = client(&args.server, &args.tls, lang)?;
    let answer = runtime()?.block_on(client.sessions(
        args.device,
        args.since.as_deref(),
        args.limit.clamp(1, 1_000),
    ))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(Outcome::Ok);
    }
    if answer.sessions.is_empty() {
        println!(
            "{}",
            lang.pick("Không có phiên đồng bộ nào.", "No sync sessions.")
        );
        return Ok(Outcome::Ok);
    }
    let rows: Vec<[String; 9]> = answer
        .sessions
        .iter()
        .map(|s| {
            [
                s.last_batch_at.clone(),
                s.node_id.to_string(),
                format!(
                    "{}{}",
                    s.role,
                    s.name
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ),
                s.batches.to_string(),
                s.counts.accepted.to_string(),
                s.counts.duplicate.to_string(),
                s.counts.conflict.to_string(),
                s.counts.invalid.to_string(),
                s.bytes_in.to_string(),
            ]
        })
        .collect();
    let headers = if matches!(lang, Lang::Vi) {
        [
            "lần cuối",
            "thiết bị/trạm",
            "vai trò (tên)",
            "lô",
            "nhận",
            "trùng",
            "xung đột",
            "không hợp lệ",
            "byte",
        ]
    } else {
        [
            "last batch",
            "node",
            "role (name)",
            "batches",
            "accepted",
            "duplicate",
            "conflict",
            "invalid",
            "bytes",
        ]
    };
    table::write(&mut std::io::stdout().lock(), &headers, &rows)?;
    Ok(Outcome::Ok)
}

pub fn gaps(args: AuditGapsArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let client = client(&args.server, &args.tls, lang)?;
    let answer = runtime()?.block_on(client.devices())?;
    let shown: Vec<_> = answer
        .devices
        .iter()
        .filter(|d| args.all || !d.gaps.is_empty())
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "devices": shown }))?
        );
        return Ok(Outcome::Ok);
    }
    let with_gaps = answer.devices.iter().filter(|d| !d.gaps.is_empty()).count();
    println!(
        "{} {} {}, {} {}",
        answer.devices.len(),
        lang.pick("thiết bị", "devices"),
        lang.pick("đã gửi dữ liệu", "have sent records"),
        with_gaps,
        lang.pick(
            "thiết bị còn thiếu số thứ tự",
            "with sequence numbers never received"
        ),
    );
    if shown.is_empty() {
        return Ok(Outcome::Ok);
    }
    let rows: Vec<[String; 6]> = shown
        .iter()
        .map(|d| {
            let missing: u64 = d.gaps.iter().map(|(a, b)| b - a + 1).sum();
            [
                d.device_id.to_string(),
                d.name.clone().unwrap_or_default(),
                format!("{}/{}", d.contiguous_seq, d.max_seq),
                missing.to_string(),
                table::gaps(&d.gaps),
                d.last_sync_at.clone(),
            ]
        })
        .collect();
    let headers = if matches!(lang, Lang::Vi) {
        [
            "thiết bị",
            "tên",
            "liên tục/cao nhất",
            "thiếu",
            "số thứ tự thiếu",
            "liên lạc cuối",
        ]
    } else {
        [
            "device",
            "name",
            "contiguous/max",
            "missing",
            "gaps",
            "last contact",
        ]
    };
    table::write(&mut std::io::stdout().lock(), &headers, &rows)?;
    Ok(Outcome::Ok)
}

/// One difference between a laptop and the server.
#[derive(Debug, Serialize)]
struct Difference {
    /// `missing_at_server`, `extra_at_server`, `hash_mismatch`, `id_mismatch`.
    kind: &'static str,
    device_seq: u64,
    record_id: Uuid,
    detail: String,
}

impl Difference {
    /// A record the server holds under this device that the laptop never made.
    fn extra(held: &doorstep_wire::log::HeldRecordLine) -> Difference {
        Difference {
            kind: "extra_at_server",
            device_seq: held.device_seq,
            record_id: held.record_id,
            detail: "the server holds a record with this device's ID that this laptop never made"
                .into(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Reconciliation {
    device_id: Uuid,
    server: String,
    server_role: String,
    local_records: u64,
    server_records: u64,
    matched: u64,
    /// Never acknowledged yet (pending) or refused: not expected at the server.
    not_yet_sent: u64,
    rejected: u64,
    /// Held by a station, on their way to central.
    held_by_station: u64,
    receipts: u64,
    differences: Vec<Difference>,
}

pub fn reconcile(args: AuditReconcileArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let store = FieldStore::open(&args.data_dir)?;
    let client = client(&args.server, &args.tls, lang)?;
    let rt = runtime()?;
    let health = rt.block_on(client.health())?;
    let device = store.device().device_id;
    let mut r = Reconciliation {
        device_id: device,
        server: client.server().to_owned(),
        server_role: health.role.as_str().to_owned(),
        receipts: store.receipt_count()?,
        ..Reconciliation::default()
    };
    // Both sides in sequence order, merged page by page.
    let mut remote = Vec::new();
    let mut after = 0;
    loop {
        let page = rt.block_on(client.device_records(device, after))?;
        let Some(last) = page.records.last() else {
            break;
        };
        after = last.device_seq;
        remote.extend(page.records);
    }
    r.server_records = remote.len() as u64;
    let mut remote = remote.into_iter().peekable();
    let mut after = 0;
    loop {
        let page = store.record_keys(after, 10_000)?;
        let Some(last) = page.last() else { break };
        after = last.device_seq;
        for local in page {
            r.local_records += 1;
            while let Some(extra) = remote.next_if(|x| x.device_seq < local.device_seq) {
                r.differences.push(Difference::extra(&extra));
            }
            match remote.next_if(|x| x.device_seq == local.device_seq) {
                Some(held) if held.record_id != local.record_id => r.differences.push(Difference {
                    kind: "id_mismatch",
                    device_seq: local.device_seq,
                    record_id: local.record_id,
                    detail: format!(
                        "the server holds record {} under this sequence number",
                        held.record_id
                    ),
                }),
                Some(held) if held.content_hash != local.content_hash.0 => {
                    r.differences.push(Difference {
                        kind: "hash_mismatch",
                        device_seq: local.device_seq,
                        record_id: local.record_id,
                        detail: format!(
                            "content hash here {}, at the server {}",
                            local.content_hash.to_hex(),
                            doorstep_core::ContentHash(held.content_hash).to_hex()
                        ),
                    })
                }
                Some(_) => r.matched += 1,
                None => match local.status {
                    RecordStatus::Pending => r.not_yet_sent += 1,
                    RecordStatus::Rejected => r.rejected += 1,
                    RecordStatus::Held if health.role != doorstep_wire::NodeRole::Station => {
                        r.held_by_station += 1;
                    }
                    RecordStatus::Held | RecordStatus::Incomplete | RecordStatus::Confirmed => {
                        r.differences.push(Difference {
                            kind: "missing_at_server",
                            device_seq: local.device_seq,
                            record_id: local.record_id,
                            detail: format!(
                                "acknowledged by a receipt ({}), not held by the server now",
                                local.status.as_str()
                            ),
                        })
                    }
                },
            }
        }
    }
    for extra in remote {
        r.differences.push(Difference::extra(&extra));
    }
    let ok = r.differences.is_empty();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{} {}: {} {}, {} {} ({} {}, {} {}, {} {}, {} {})",
            lang.pick("Đối chiếu thiết bị", "Reconciling device"),
            r.device_id,
            r.local_records,
            lang.pick("hồ sơ trên máy", "records here"),
            r.server_records,
            lang.pick("hồ sơ ở máy chủ", "at the server"),
            r.matched,
            lang.pick("khớp", "match"),
            r.not_yet_sent,
            lang.pick("chưa gửi", "not yet sent"),
            r.rejected,
            lang.pick("bị từ chối", "rejected"),
            r.held_by_station,
            lang.pick("trạm đang giữ", "held by a station"),
        );
        if ok {
            println!(
                "{}",
                lang.pick(
                    "KHỚP: máy chủ giữ đúng mọi hồ sơ đã được xác nhận, không thừa, không khác.",
                    "OK: the server holds every acknowledged record, nothing extra, nothing different."
                )
            );
        } else {
            println!(
                "{} {} {}",
                lang.pick("KHÔNG KHỚP:", "MISMATCH:"),
                r.differences.len(),
                lang.pick("khác biệt", "differences")
            );
            for d in r.differences.iter().take(SHOWN) {
                println!(
                    "  [{}] #{} {}: {}",
                    d.kind, d.device_seq, d.record_id, d.detail
                );
            }
        }
    }
    Ok(if ok { Outcome::Ok } else { Outcome::Failed })
}

pub fn alarms(args: AuditAlarmsArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let dir = &args.data_dir;
    let alarms = if FieldStore::db_path(dir).exists() {
        FieldStore::open(dir)?.log_alarms()?
    } else if SqliteCentral::db_path(dir).exists() {
        SqliteCentral::open(dir)?.log_alarms()?
    } else {
        return Err(UserError(format!(
            "--data-dir {}: {}",
            dir.display(),
            lang.pick(
                "không có kho của máy trạm hay trạm trong thư mục này",
                "no laptop or station store in this directory"
            )
        ))
        .into());
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "alarms": alarms }))?
        );
    } else if alarms.is_empty() {
        println!(
            "{}",
            lang.pick(
                "Không có cảnh báo: mọi nhật ký máy chủ đã kiểm tra đều nhất quán.",
                "No alarms: every server log checked was consistent."
            )
        );
    } else {
        for a in &alarms {
            println!(
                "{} {} [{}] {}: {}",
                a.at, a.server, a.kind, a.log_id, a.detail
            );
            println!("    {}", a.evidence);
        }
    }
    Ok(if alarms.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
