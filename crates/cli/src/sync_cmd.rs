//! `doorstep field sync` and `doorstep field sync-log`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use doorstep_store::FieldStore;
use doorstep_sync::{
    Client, ClientTls, Progress, RetryPolicy, SyncOptions, SyncReport, sync_outbox,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{ClientTlsArgs, SyncArgs, SyncLogArgs};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

pub fn run(args: SyncArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let server = check_server_url(&args.server, lang)?;
    let mut store = FieldStore::open(&args.dir.data_dir)?;
    // A sync reads each page once: a small cache keeps memory flat.
    store.limit_page_cache(doorstep_sync::SYNC_PAGE_CACHE_KIB)?;
    crate::passphrase::unlock_if_needed(&mut store, lang)?;
    // The worklist comes down after the push and is stored encrypted.
    let locked = crate::worklist_sync::unlock_for_pull(&mut store, lang);
    let opts = SyncOptions {
        batch_records: args.batch_size.max(1),
        retry: RetryPolicy {
            retries: args.retries,
            cap: Duration::from_secs(args.max_backoff.max(1)),
            ..RetryPolicy::default()
        },
        ..SyncOptions::default()
    };
    let client = client(
        &server,
        Duration::from_secs(args.timeout.max(1)),
        &args.tls,
        lang,
    )?;
    let mut bar = Bar::new(
        !args.no_progress && !args.json && std::io::stderr().is_terminal(),
        lang,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(sync_outbox(&mut store, &client, &opts, &mut bar))?;
    bar.finish();
    if let (Some(detail), false) = (&report.certificate_untrusted, args.json) {
        // Nothing was sent and retrying cannot help: one clear line.
        eprintln!(
            "{}: {}",
            lang.pick("lỗi", "error"),
            crate::messages::untrusted(&report.server, detail, lang)
        );
        return Ok(Outcome::Failed);
    }
    // Confirmed long enough ago: the citizen data goes (retention).
    let purged = store.purge_confirmed(chrono::Utc::now())?;
    if purged.purged > 0 && !args.json {
        eprintln!(
            "{}",
            lang.pick(
                &format!(
                    "đã xóa dữ liệu công dân của {} hồ sơ xác nhận quá {} ngày",
                    purged.purged, purged.retention_days
                ),
                &format!(
                    "purged the citizen data of {} records confirmed more than {} days ago",
                    purged.purged, purged.retention_days
                ),
            )
        );
    }
    // Then the worklist comes down, unless the push could not get through.
    let pulled = match &report.error {
        None => crate::worklist_sync::pull(&rt, &client, &mut store, &opts.retry, locked),
        Some(_) => {
            crate::worklist_sync::Pulled::NotTried(crate::worklist_sync::PUSH_STOPPED.to_owned())
        }
    };
    if args.json {
        let mut doc = json!(report);
        doc["worklist"] = crate::worklist_sync::json(&pulled);
        println!("{doc}");
    } else {
        print_report(&report, lang);
        crate::worklist_sync::print(&pulled, lang);
    }
    // Done when nothing is left unacknowledged: records a station holds
    // are in its custody and reach central through it. A worklist that did
    // not come down is reported, not counted, unless the laptop is revoked.
    if report.pending_after == 0 && report.error.is_none() && !pulled.revoked() {
        Ok(Outcome::Ok)
    } else {
        Ok(Outcome::Failed)
    }
}

/// The client of a command that talks to `server`, trusting the CA of
/// `--ca-cert` when given. A CA file that cannot be used is a usage error.
pub fn client(
    server: &str,
    timeout: Duration,
    tls: &ClientTlsArgs,
    lang: Lang,
) -> anyhow::Result<Client> {
    let config = ClientTls {
        ca_cert: tls.ca_cert.clone(),
    };
    Client::new_with(server, timeout, &config).map_err(|e| {
        if e.is_user_error() {
            UserError(crate::messages::client_setup(&e, lang)).into()
        } else {
            anyhow::Error::new(e)
        }
    })
}

/// A base URL the client can use: http(s), host, optional port.
pub fn check_server_url(raw: &str, lang: Lang) -> Result<String, UserError> {
    let trimmed = raw.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(UserError(format!(
            "--server `{raw}`: {}",
            lang.pick(
                "cần một địa chỉ http:// hoặc https://, ví dụ http://127.0.0.1:8750",
                "needs an http:// or https:// URL, e.g. http://127.0.0.1:8750"
            )
        ))),
    }
}

fn print_report(r: &SyncReport, lang: Lang) {
    let l = |vi, en| lang.pick(vi, en);
    println!(
        "{} {} ({} {}, {} {})",
        l("Đồng bộ với", "Synced with"),
        r.server,
        r.batches,
        l("lô", "batches"),
        r.records_sent,
        l("hồ sơ đã gửi", "records sent")
    );
    println!(
        "  {}: {}  {}: {}  {}: {}  {}: {}",
        l("tiếp nhận mới", "accepted"),
        r.accepted,
        l("đã có (trùng)", "duplicate"),
        r.duplicate,
        l("xung đột", "conflict"),
        r.conflict,
        l("không hợp lệ", "invalid"),
        r.invalid
    );
    if r.rejected > 0 {
        println!(
            "  {} {} — {}",
            r.rejected,
            l("hồ sơ bị từ chối", "records rejected"),
            l(
                "xem `doorstep field list --status rejected` để biết lý do và lập hồ sơ đính chính",
                "see `doorstep field list --status rejected` for the reasons, and enroll corrections"
            )
        );
    }
    if r.blobs_uploaded > 0 || r.blobs_refused > 0 || r.incomplete_after > 0 {
        println!(
            "  {}: {} ({:.1} MB)  {}: {}  {}: {}",
            l("ảnh/vân tay đã gửi", "images uploaded"),
            r.blobs_uploaded,
            r.blob_bytes_sent as f64 / 1e6,
            l("bị từ chối", "refused"),
            r.blobs_refused,
            l("hồ sơ thiếu ảnh/vân tay", "records missing images"),
            r.incomplete_after
        );
        if r.blobs_refused > 0 {
            println!(
                "  {}",
                l(
                    "xem `doorstep field status` để biết mã lỗi của ảnh bị từ chối",
                    "see `doorstep field status` for the refused images' codes"
                )
            );
        }
    }
    if r.log_alarm {
        // Loud on purpose: the server's history does not match what this
        // laptop saw before. Nothing more is sent to it.
        eprintln!(
            "{}",
            l(
                "CẢNH BÁO KIỂM TOÁN: nhật ký của máy chủ không khớp với những gì máy này đã thấy (có thể đã bị sửa). Đã dừng đồng bộ, không gửi thêm hồ sơ nào; hồ sơ vẫn được giữ an toàn trên máy. Báo ngay cho cán bộ phụ trách; bằng chứng: `doorstep audit alarms`.",
                "AUDIT ALARM: the server's log does not match what this laptop saw before (it may have been rewritten). Sync stopped, no record was sent; the records stay safe on this laptop. Report it now; evidence: `doorstep audit alarms`."
            )
        );
    }
    if let Some(e) = &r.error {
        println!("  {}: {e}", l("dừng vì lỗi", "stopped by an error"));
        // What the officer can do about the refusals that are theirs to fix.
        let hint = if e.contains("auth.clock_skew") {
            Some(l(
                "đồng hồ của máy trạm lệch quá 5 phút so với trung tâm (xem số phút ở trên): hãy chỉnh ngày giờ của máy rồi đồng bộ lại",
                "this laptop's clock is more than 5 minutes off central's (see above by how much): set the date and time, then sync again",
            ))
        } else if e.contains("auth.required") || e.contains("auth.unknown_node") {
            Some(l(
                "máy trạm chưa đăng ký với trung tâm: xin mã đăng ký rồi chạy `doorstep field register`",
                "this laptop is not registered with central: get a token and run `doorstep field register`",
            ))
        } else if e.contains("auth.revoked") {
            Some(l(
                "máy trạm này đã bị thu hồi: liên hệ cán bộ phụ trách; hồ sơ vẫn được giữ trên máy",
                "this laptop was revoked: contact the officer in charge; the records stay on this laptop",
            ))
        } else {
            None
        };
        if let Some(hint) = hint {
            println!("  {hint}");
        }
    }
    if r.held_after > 0 {
        println!(
            "  {}: {} — {}",
            l("trạm đang giữ", "held by the station"),
            r.held_after,
            l(
                "trạm sẽ chuyển lên trung tâm; lần đồng bộ sau sẽ cập nhật xác nhận",
                "the station forwards them to central; a later sync learns central's answers"
            )
        );
    }
    if r.outbox_after == 0 {
        println!(
            "  {}",
            l(
                "Hàng đợi trống: mọi hồ sơ đã được xử lý.",
                "The queue is empty: every record was answered."
            )
        );
    } else if r.pending_after > 0 {
        println!(
            "  {}: {} — {}",
            l("còn trong hàng đợi", "still queued"),
            r.pending_after,
            l(
                "chạy lại `doorstep field sync` khi có mạng",
                "run `doorstep field sync` again when the network is back"
            )
        );
    }
}

/// Progress bar on a terminal (records sent of the outbox).
struct Bar {
    bar: Option<ProgressBar>,
    lang: Lang,
}

impl Bar {
    fn new(show: bool, lang: Lang) -> Bar {
        Bar {
            bar: show.then(ProgressBar::hidden),
            lang,
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, outbox: u64) {
        if let Some(bar) = &mut self.bar {
            let b = ProgressBar::new(outbox);
            b.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_message(self.lang.pick("đang gửi", "sending").to_owned());
            *bar = b;
        }
    }

    fn sent(&mut self, records: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(records);
        }
    }

    fn retrying(&mut self, retry: u32, delay: Duration, why: &str) {
        let text = format!(
            "{} {retry} {} {:.1}s: {why}",
            self.lang.pick("thử lại lần", "retry"),
            self.lang.pick("sau", "in"),
            delay.as_secs_f64()
        );
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

pub fn log(args: SyncLogArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let store = FieldStore::open(&args.dir.data_dir)?;
    let entries = store.sync_log(args.limit)?;
    if args.json {
        println!("{}", json!(entries));
        return Ok(Outcome::Ok);
    }
    let l = |vi, en| lang.pick(vi, en);
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            let ev = &e.event;
            [
                e.at.clone(),
                ev.event.as_str().to_owned(),
                ev.server.clone(),
                if ev.records > 0 {
                    ev.records.to_string()
                } else {
                    String::new()
                },
                if ev.event == doorstep_store::SyncEventKind::BatchSent {
                    format!(
                        "{}/{}/{}/{}",
                        ev.accepted, ev.duplicate, ev.conflict, ev.invalid
                    )
                } else {
                    String::new()
                },
                ev.detail.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = std::io::stdout().lock();
    crate::table::write(
        &mut out,
        &[
            l("thời điểm (UTC)", "at (UTC)"),
            l("sự kiện", "event"),
            l("máy chủ", "server"),
            l("hồ sơ", "records"),
            l("mới/trùng/xung đột/sai", "acc/dup/conf/inv"),
            l("chi tiết", "detail"),
        ],
        &rows,
    )?;
    Ok(Outcome::Ok)
}
