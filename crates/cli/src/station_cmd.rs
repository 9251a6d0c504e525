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

use crate::cli::StationServeArgs;
use crate::lang::{Lang, Pick};
use crate::{Outcome, UserError};

pub fn serve(args: StationServeArgs, lang: Lang) -> anyhow::Result<Outcome> {
    let upstream = crate::sync_cmd::check_server_url(&args.upstream, lang)?;
    let units = crate::central_cmd::read_units(args.units.as_deref(), lang)?;
    let store = Arc::new(SqliteCentral::open_or_create_as(
        &args.data_dir,
        NodeRole::Station,
        units,
        Utc::now(),
    )?);
    let client = Client::new(&upstream, Duration::from_secs(120))
        .context("cannot set up the HTTP client")?;
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
        println!("listening on http://{addr}");
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
        doorstep_central::http::serve(
            listener,
            router(state),
            crate::central_cmd::shutdown_signal(),
        )
        .await
        .context("the HTTP server stopped")?;
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
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}
