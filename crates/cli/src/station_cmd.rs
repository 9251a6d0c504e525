//! `doorstep station serve`: the same /v1 API as central for the commune's
//! laptops, on a store of role `station`, and a background loop that
//! forwards held records to central.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use doorstep_central::{AppState, SqliteCentral, router};
use doorstep_sync::{Client, RetryPolicy, SyncOptions, forward_all};
use doorstep_wire::NodeRole;

use crate::cli::{StationReportArgs, StationServeArgs};
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

pub fn serve(args: StationServeArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let upstream = crate::sync_cmd::check_server_url(&args.upstream, lang)?;
    let tls = crate::central_cmd::server_tls(&args.tls, lang)?;
    let units = crate::central_cmd::read_units(args.units.as_deref(), lang)?;
    let store = Arc::new(SqliteCentral::open_or_create_as(
        &args.data_dir,
        NodeRole::Station,
        units,
        Utc::now(),
    )?);
    let client = crate::sync_cmd::client(
        &upstream,
        Duration::from_secs(120),
        &crate::cli::ClientTlsArgs {
            ca_cert: args.ca_cert.clone(),
        },
        lang,
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| UserError(format!("--listen {}: {e}", args.listen)))?;
        let addr = listener.local_addr().context("no local address")?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "station listening beyond loopback");
        }
        println!(
            "listening on {}://{addr}",
            crate::central_cmd::scheme(tls.as_ref())
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let forwarder = tokio::spawn(forward_loop(
            Arc::clone(&store),
            client,
            SyncOptions {
                batch_records: args.batch_size.max(1),
                retry: RetryPolicy {
                    retries: 3,
                    cap: Duration::from_secs(5),
                    ..RetryPolicy::default()
                },
                ..SyncOptions::default()
            },
            Duration::from_secs(args.forward_interval.max(1)),
            stop_rx,
        ));
        let mut state = AppState::new(Arc::clone(&store));
        state.role = NodeRole::Station;
        // A station does not hold its laptops' keys yet: it keeps and
        // relays their records, and central checks signatures and scope.
        state.require_registration = false;
        crate::central_cmd::serve_http(listener, router(state), tls).await?;
        let _ = stop_tx.send(true);
        let _ = forwarder.await;
        eprintln!("{}", lang.pick("trạm đã dừng", "station stopped"));
        anyhow::Ok(())
    })?;
    Ok(Outcome::Ok)
}

/// Forwards whenever there is something held, until told to stop. A
/// failed round is logged (and in the store's forward log) and retried
/// after a growing pause; the server keeps serving laptops meanwhile.
async fn forward_loop(
    store: Arc<SqliteCentral>,
    client: Client,
    opts: SyncOptions,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        let pause = match forward_all(&store, &client, None, &opts).await {
            Ok(report) => {
                if report.records > 0 {
                    tracing::info!(
                        records = report.records,
                        accepted = report.counts.accepted,
                        duplicate = report.counts.duplicate,
                        backlog = report.backlog,
                        "forwarded to central"
                    );
                }
                if report.blobs_relayed > 0 || !report.blobs_refused.is_empty() {
                    tracing::info!(
                        blobs = report.blobs_relayed,
                        bytes = report.blob_bytes_sent,
                        refused = report.blobs_refused.len(),
                        incomplete = report.incomplete,
                        "relayed attachment blobs to central"
                    );
                }
                // Codes only: a biometric image's hash is not for logs.
                for (_, code) in &report.blobs_refused {
                    tracing::warn!(%code, "central refused a relayed blob");
                }
                match report.error {
                    None => {
                        failures = 0;
                        interval
                    }
                    Some(e) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(error = %e, backlog = report.backlog, "forwarding stopped; will retry");
                        interval
                            .saturating_mul(1 << failures.min(5))
                            .min(Duration::from_secs(60))
                    }
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::error!(error = %e, "forwarding failed on the station's store");
                Duration::from_secs(30)
            }
        };
        // The commune's worklist comes down in the same round.
        match doorstep_sync::station_worklist::pull_station_worklist(&store, &client, None).await {
            Ok(w) if w.put + w.removed + w.dropped + w.devices > 0 => tracing::info!(
                people = w.put,
                removed = w.removed + w.dropped,
                devices = w.devices,
                bytes = w.bytes,
                full = w.full,
                "worklist downloaded from central"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "worklist download from central failed; will retry")
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

pub fn report(args: StationReportArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let store = SqliteCentral::open(&args.data_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(store.station_report())?;
    if args.json {
        println!("{}", serde_json::json!(report));
        return Ok(Outcome::Ok);
    }
    let l = |vi, en| lang.pick(vi, en);
    let rows: Vec<[String; 9]> = report
        .devices
        .iter()
        .map(|d| {
            [
                d.name.clone().unwrap_or_else(|| d.device_id.to_string()),
                d.received.to_string(),
                d.forwarded_confirmed.to_string(),
                d.forwarded_rejected.to_string(),
                d.waiting.to_string(),
                d.duplicates.to_string(),
                d.contiguous_seq.to_string(),
                d.max_seq.to_string(),
                crate::table::gaps(&d.gaps),
            ]
        })
        .collect();
    let mut out = std::io::stdout().lock();
    crate::table::write(
        &mut out,
        &[
            l("thiết bị", "device"),
            l("đã nhận", "received"),
            l("TT xác nhận", "confirmed"),
            l("TT từ chối", "rejected"),
            l("chờ chuyển", "waiting"),
            l("gửi trùng", "duplicates"),
            l("liên tục đến", "contiguous to"),
            l("số lớn nhất", "highest"),
            l("khoảng trống", "gaps"),
        ],
        &rows,
    )?;
    drop(out);
    if report.same_citizen.is_empty() {
        println!(
            "{}",
            l(
                "Không có công dân nào được hai thiết bị cùng ghi nhận.",
                "No citizen was recorded by two devices."
            )
        );
    } else {
        println!(
            "{} ({}):",
            l(
                "Cùng công dân và loại hồ sơ từ nhiều thiết bị — cần rà soát, không hồ sơ nào bị bỏ",
                "Same citizen and kind from several devices — for review, none dropped"
            ),
            report.same_citizen.len()
        );
        for s in &report.same_citizen {
            let list: Vec<String> = s
                .records
                .iter()
                .map(|(r, d)| format!("{r} ({} {d})", l("thiết bị", "device")))
                .collect();
            println!("  {} {}: {}", s.personal_id, s.kind, list.join(", "));
        }
    }
    Ok(Outcome::Ok)
}
