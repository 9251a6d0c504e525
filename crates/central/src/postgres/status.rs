//! `central status` on PostgreSQL: every figure from one snapshot
//! (a repeatable-read, read-only transaction).

use doorstep_wire::OutcomeCounts;
use doorstep_wire::log::JournalHead;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::{to_i64, to_u64};
use crate::error::CentralError;
use crate::store::{CentralStatus, DeviceStatus, SessionSummary};

pub(crate) async fn status(
    client: &mut tokio_postgres::Client,
    node_id: Uuid,
    units_source: String,
    units_count: usize,
) -> Result<CentralStatus, CentralError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(CentralError::pg)?;
    let q = |sql: &'static str| {
        let tx = &tx;
        async move { tx.query(sql, &[]).await.map_err(CentralError::pg) }
    };
    let records = to_u64(q("SELECT COUNT(*) FROM records").await?[0].get::<_, i64>(0));
    let by_kind: Vec<(String, u64)> =
        q("SELECT kind, COUNT(*) FROM records GROUP BY kind ORDER BY kind")
            .await?
            .iter()
            .map(|r| (r.get(0), to_u64(r.get(1))))
            .collect();
    let refusals: Vec<(String, u64)> = q("SELECT outcome, COUNT(*) FROM refusals GROUP BY outcome")
        .await?
        .iter()
        .map(|r| (r.get(0), to_u64(r.get(1))))
        .collect();
    let refused = |o: &str| refusals.iter().find(|p| p.0 == o).map_or(0, |p| p.1);
    let totals = &q(
        "SELECT COALESCE(SUM(accepted),0)::int8, COALESCE(SUM(duplicate),0)::int8,
                COALESCE(SUM(conflict),0)::int8, COALESCE(SUM(invalid),0)::int8, COUNT(*) FROM sessions",
    )
    .await?[0];
    let outcomes = OutcomeCounts {
        accepted: to_u64(totals.get(0)),
        duplicate: to_u64(totals.get(1)),
        conflict: to_u64(totals.get(2)),
        invalid: to_u64(totals.get(3)),
    };
    let sessions_total = to_u64(totals.get(4));
    let devices = devices(&tx).await?;
    let recent_sessions = q(
        "SELECT session_id, node_id, role, client_version, started_at, last_batch_at, batches,
                accepted, duplicate, conflict, invalid, bytes_in, busy_ms
         FROM sessions ORDER BY last_batch_at DESC LIMIT 20",
    )
    .await?
    .iter()
    .map(|r| SessionSummary {
        session_id: r.get(0),
        node_id: r.get(1),
        role: r.get(2),
        client_version: r.get(3),
        started_at: r.get(4),
        last_batch_at: r.get(5),
        batches: to_u64(r.get(6)),
        counts: OutcomeCounts {
            accepted: to_u64(r.get(7)),
            duplicate: to_u64(r.get(8)),
            conflict: to_u64(r.get(9)),
            invalid: to_u64(r.get(10)),
        },
        bytes_in: to_u64(r.get(11)),
        busy_ms: to_u64(r.get(12)),
    })
    .collect();
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(CentralStatus {
        node_id,
        records,
        by_kind,
        outcomes,
        refused_conflict: refused("conflict"),
        refused_invalid: refused("invalid"),
        devices,
        sessions_total,
        recent_sessions,
        units_source,
        units_count,
    })
}

/// Per device: its marks, gaps and journal head (`central status`,
/// `GET /v1/devices`, the review report).
pub(crate) async fn devices<C: GenericClient>(
    client: &C,
) -> Result<Vec<DeviceStatus>, CentralError> {
    let mut devices = Vec::new();
    for r in client
        .query(
            "SELECT device_id, name, records, contiguous_seq, max_seq, first_seen_at, last_sync_at,
                journal_seq, journal_hash
         FROM devices ORDER BY first_seen_at, device_id",
            &[],
        )
        .await
        .map_err(CentralError::pg)?
    {
        let device_id: Uuid = r.get(0);
        let contiguous = to_u64(r.get(3));
        let max = to_u64(r.get(4));
        let journal = match (
            r.get::<_, Option<i64>>(7),
            r.get::<_, Option<Vec<u8>>>(8)
                .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()),
        ) {
            (Some(seq), Some(hash)) => Some(JournalHead {
                seq: to_u64(seq),
                hash,
            }),
            _ => None,
        };
        devices.push(DeviceStatus {
            device_id,
            name: r.get(1),
            records: to_u64(r.get(2)),
            contiguous_seq: contiguous,
            max_seq: max,
            gaps: gaps(client, device_id, contiguous, max).await?,
            first_seen_at: r.get(5),
            last_sync_at: r.get(6),
            journal,
        });
    }
    Ok(devices)
}

/// Ranges of sequence numbers in (contiguous, max) never seen.
async fn gaps<C: GenericClient>(
    tx: &C,
    device: Uuid,
    contiguous: u64,
    max: u64,
) -> Result<Vec<(u64, u64)>, CentralError> {
    if max <= contiguous {
        return Ok(Vec::new());
    }
    let rows = tx
        .query(
            "SELECT device_seq FROM records WHERE device_id = $1 AND device_seq > $2
             UNION SELECT device_seq FROM refusals WHERE device_id = $1 AND device_seq > $2
             ORDER BY 1",
            &[&device, &to_i64(contiguous)],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut out = Vec::new();
    let mut next = contiguous + 1;
    for r in rows {
        let s = to_u64(r.get(0));
        if s > next {
            out.push((next, s - 1));
        }
        next = s + 1;
    }
    Ok(out)
}
