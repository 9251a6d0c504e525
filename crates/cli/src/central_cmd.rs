//! `doorstep central serve | status`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorstep_central::sqlite::UnitSource;
use doorstep_central::tls::{ServerConfig, TlsFiles};
use doorstep_central::{AppState, CentralStore, router};

use crate::central_store::Central;
use serde_json::json;

use crate::cli::{CentralServeArgs, CentralStatusArgs, ServerTlsArgs};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

pub fn serve(args: CentralServeArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let tls = server_tls(&args.tls, lang)?;
    let units = read_units(args.units.as_deref(), lang)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let central = Central::open_or_create(&args.dir, units).await?;
        tracing::info!(store = %central.describe(), "central store open");
        match central {
            Central::Sqlite(store) => serve_store(store, &args, tls, lang).await,
            Central::Postgres(store) => serve_store(store, &args, tls, lang).await,
        }
    })?;
    Ok(Outcome::Ok)
}

async fn serve_store<S: CentralStore>(
    store: S,
    args: &CentralServeArgs,
    tls: Option<Arc<ServerConfig>>,
    lang: Lang,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| UserError(format!("--listen {}: {e}", args.listen)))?;
    let addr = listener.local_addr().context("no local address")?;
    tracing::info!(%addr, node = %store.node_id(), tls = tls.is_some(), "central listening");
    println!("listening on {}://{addr}", scheme(tls.as_ref()));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let store = Arc::new(store);
    let mut state = AppState::new(Arc::clone(&store));
    state.require_registration = !args.allow_unregistered;
    let _audit = (args.audit_every > 0).then(|| {
        state.audit.spawn(
            store,
            Duration::from_secs(args.audit_every.saturating_mul(60)),
        )
    });
    if args.allow_unregistered {
        tracing::warn!("accepting records from unregistered devices (--allow-unregistered)");
    }
    let app = router(state);
    serve_http(listener, app, tls).await?;
    eprintln!("{}", lang.pick("central đã dừng", "central stopped"));
    Ok(())
}

/// The HTTPS configuration of `--tls-cert` and `--tls-key` (clap makes
/// sure both or neither are given), `None` for plain HTTP.
pub fn server_tls(args: &ServerTlsArgs, lang: Lang) -> anyhow::Result<Option<Arc<ServerConfig>>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let files = TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
    };
    match files.server_config() {
        Ok(config) => Ok(Some(config)),
        Err(e) => Err(UserError(crate::messages::server_tls(&e, lang)).into()),
    }
}

/// `https` or `http`, for the printed listen URL.
pub fn scheme(tls: Option<&Arc<ServerConfig>>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// Serves `app` on `listener` (HTTPS only when `tls` is given) until
/// Ctrl-C or SIGTERM, then lets the requests in flight finish.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<Arc<ServerConfig>>,
) -> anyhow::Result<()> {
    match tls {
        None => doorstep_central::http::serve(listener, app, shutdown_signal()).await,
        Some(config) => {
            doorstep_central::http::serve_tls(listener, app, config, shutdown_signal()).await
        }
    }
    .context("the HTTP server stopped")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub fn read_units(
    path: Option<&std::path::Path>,
    lang: Lang,
) -> anyhow::Result<Option<UnitSource>> {
    let Some(path) = path else { return Ok(None) };
    let csv = std::fs::read(path).map_err(|e| {
        UserError(format!(
            "{} {}: {e}",
            lang.pick(
                "không đọc được danh mục đơn vị",
                "cannot read the unit list"
            ),
            path.display()
        ))
    })?;
    doorstep_core::Units::from_csv(&csv).map_err(|e| {
        UserError(format!(
            "{} {}: {e}",
            lang.pick("danh mục đơn vị không hợp lệ", "invalid unit list"),
            path.display()
        ))
    })?;
    Ok(Some(UnitSource {
        source: path.display().to_string(),
        csv,
    }))
}

pub fn status(args: CentralStatusArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let rt = crate::central_store::runtime()?;
    let st = rt.block_on(async {
        let central = Central::open(&args.dir).await?;
        central.store().status().await
    })?;
    if args.json {
        println!("{}", json!(st));
        return Ok(Outcome::Ok);
    }
    let l = |vi, en| lang.pick(vi, en);
    println!("{} {}", l("Trung tâm", "Central"), st.node_id);
    println!("  {}: {}", l("hồ sơ đang giữ", "records held"), st.records);
    for (kind, n) in &st.by_kind {
        println!("    {kind}: {n}");
    }
    let o = &st.outcomes;
    println!(
        "  {}: {} {}, {} {}, {} {}, {} {}",
        l("kết quả đã trả lời", "outcomes answered"),
        o.accepted,
        l("mới", "accepted"),
        o.duplicate,
        l("trùng", "duplicate"),
        o.conflict,
        l("xung đột", "conflict"),
        o.invalid,
        l("không hợp lệ", "invalid")
    );
    println!(
        "  {}: {}  ({} {})",
        l("phiên đồng bộ", "sync sessions"),
        st.sessions_total,
        l("danh mục đơn vị:", "unit list:"),
        st.units_source
    );
    let rows: Vec<[String; 6]> = st
        .devices
        .iter()
        .map(|d| {
            [
                d.device_id.to_string(),
                d.name.clone().unwrap_or_default(),
                d.records.to_string(),
                d.contiguous_seq.to_string(),
                crate::table::gaps(&d.gaps),
                d.last_sync_at.clone(),
            ]
        })
        .collect();
    println!();
    let mut out = std::io::stdout().lock();
    crate::table::write(
        &mut out,
        &[
            l("thiết bị", "device"),
            l("tên", "name"),
            l("hồ sơ", "records"),
            l("liên tục đến", "contiguous to"),
            l("khoảng trống", "gaps"),
            l("đồng bộ cuối (UTC)", "last sync (UTC)"),
        ],
        &rows,
    )?;
    if !st.recent_sessions.is_empty() {
        println!();
        println!("{}", l("Phiên đồng bộ gần nhất", "Recent sync sessions"));
        let rows: Vec<[String; 7]> = st
            .recent_sessions
            .iter()
            .map(|s| {
                [
                    s.node_id.to_string(),
                    s.role.clone(),
                    s.started_at.clone(),
                    s.batches.to_string(),
                    format!(
                        "{}/{}/{}/{}",
                        s.counts.accepted, s.counts.duplicate, s.counts.conflict, s.counts.invalid
                    ),
                    s.bytes_in.to_string(),
                    format!("{} ms, {}", s.busy_ms, s.client_version),
                ]
            })
            .collect();
        crate::table::write(
            &mut out,
            &[
                l("thiết bị gửi", "sender"),
                l("vai trò", "role"),
                l("bắt đầu (UTC)", "started (UTC)"),
                l("lô", "batches"),
                l("mới/trùng/xung đột/sai", "acc/dup/conf/inv"),
                l("byte nhận", "bytes in"),
                l("thời gian xử lý, phiên bản", "time spent, client"),
            ],
            &rows,
        )?;
    }
    Ok(Outcome::Ok)
}
