//! Reads on PostgreSQL: log entries and proofs, sessions, what is held
//! from a device, custody answers.

use deadpool_postgres::GenericClient;
use doorstep_core::merkle;
use doorstep_wire::log::{
    ConsistencyAnswer, DeviceRecordsAnswer, HeldRecordLine, InclusionAnswer, LogEntryLine,
    SessionLine,
};
use doorstep_wire::{CustodyKey, CustodyLine, CustodyState, OutcomeCounts};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{to_hash, to_i64, to_u64, with_nodes};
use crate::error::CentralError;
use crate::store::SessionQuery;

/// Entries in the log now (committed).
pub(crate) async fn log_size<C: GenericClient>(client: &C) -> Result<u64, CentralError> {
    let row = client
        .query_one("SELECT tree_size FROM log_state WHERE id = 1", &[])
        .await
        .map_err(CentralError::pg)?;
    Ok(to_u64(row.get(0)))
}

pub(crate) async fn entries<C: GenericClient>(
    client: &C,
    start: u64,
    end: u64,
) -> Result<Vec<LogEntryLine>, CentralError> {
    let rows = client
        .query(
            "SELECT idx, leaf_hash, entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            &[&to_i64(start), &to_i64(end)],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let idx: i64 = row.get(0);
        let entry: Vec<u8> = row.get(2);
        let text = String::from_utf8(entry).map_err(|_| {
            CentralError::Inconsistent(format!("log entry {idx} is not UTF-8 text"))
        })?;
        let entry = RawValue::from_string(text)
            .map_err(|_| CentralError::Inconsistent(format!("log entry {idx} is not JSON")))?;
        out.push(LogEntryLine {
            index: to_u64(idx),
            leaf_hash: to_hash(row.get(1), "log_entries.leaf_hash")?,
            entry,
        });
    }
    Ok(out)
}

pub(crate) async fn inclusion<C: GenericClient>(
    client: &C,
    index: u64,
    tree_size: u64,
) -> Result<InclusionAnswer, CentralError> {
    let current = log_size(client).await?;
    if tree_size > current {
        return Err(CentralError::OutOfRange(format!(
            "tree size {tree_size} is beyond the log's {current} entries"
        )));
    }
    let (path, leaf_hash) = with_nodes(client, |nodes| {
        let path = merkle::inclusion_proof(nodes, index, tree_size)?;
        let leaf = merkle::range_root(nodes, index, index + 1)?;
        Ok((path, leaf))
    })
    .await?;
    Ok(InclusionAnswer {
        index,
        tree_size,
        leaf_hash,
        path,
    })
}

pub(crate) async fn consistency<C: GenericClient>(
    client: &C,
    first: u64,
    second: u64,
) -> Result<ConsistencyAnswer, CentralError> {
    let current = log_size(client).await?;
    if second > current {
        return Err(CentralError::OutOfRange(format!(
            "tree size {second} is beyond the log's {current} entries"
        )));
    }
    let path = with_nodes(client, |nodes| {
        merkle::consistency_proof(nodes, first, second)
    })
    .await?;
    Ok(ConsistencyAnswer {
        first,
        second,
        path,
    })
}

pub(crate) async fn sessions<C: GenericClient>(
    client: &C,
    query: &SessionQuery,
) -> Result<Vec<SessionLine>, CentralError> {
    let rows = client
        .query(
            "SELECT s.session_id, s.node_id, s.role, d.name, s.client_version, s.started_at,
                    s.last_batch_at, s.batches, s.accepted, s.duplicate, s.conflict, s.invalid, s.bytes_in
             FROM sessions s LEFT JOIN devices d ON d.device_id = s.node_id
             WHERE ($1::uuid IS NULL OR s.node_id = $1) AND ($2::text IS NULL OR s.last_batch_at >= $2)
             ORDER BY s.last_batch_at DESC, s.session_id LIMIT $3",
            &[&query.node_id, &query.since, &to_i64(query.limit)],
        )
        .await
        .map_err(CentralError::pg)?;
    Ok(rows
        .iter()
        .map(|r| SessionLine {
            session_id: r.get(0),
            node_id: r.get(1),
            role: r.get(2),
            name: r.get(3),
            client_version: r.get(4),
            started_at: r.get(5),
            last_batch_at: r.get(6),
            batches: to_u64(r.get(7)),
            counts: OutcomeCounts {
                accepted: to_u64(r.get(8)),
                duplicate: to_u64(r.get(9)),
                conflict: to_u64(r.get(10)),
                invalid: to_u64(r.get(11)),
            },
            bytes_in: to_u64(r.get(12)),
        })
        .collect())
}

pub(crate) async fn device_records<C: GenericClient>(
    client: &C,
    device_id: Uuid,
    after_seq: u64,
    limit: u64,
) -> Result<DeviceRecordsAnswer, CentralError> {
    let rows = client
        .query(
            "SELECT device_seq, record_id, content_hash FROM records
             WHERE device_id = $1 AND device_seq > $2 ORDER BY device_seq LIMIT $3",
            &[&device_id, &to_i64(after_seq), &to_i64(limit)],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut records = Vec::with_capacity(rows.len());
    for r in rows {
        records.push(HeldRecordLine {
            device_seq: to_u64(r.get(0)),
            record_id: r.get(1),
            content_hash: to_hash(r.get(2), "records.content_hash")?,
        });
    }
    Ok(DeviceRecordsAnswer { records })
}

/// Central's custody answers: held with this content and every attachment
/// it names is confirmed, held without some of them incomplete (with the
/// list); else the newest refusal of exactly this content, else unknown.
pub(crate) async fn custody<C: GenericClient>(
    client: &C,
    keys: &[CustodyKey],
) -> Result<Vec<CustodyLine>, CentralError> {
    let ids: Vec<Uuid> = keys.iter().map(|k| k.record_id).collect();
    let hashes: Vec<&str> = keys.iter().map(|k| k.content_hash.as_str()).collect();
    // Two independent reads, pipelined in one round trip. A held record's
    // missing attachments are read in the same statement (one snapshot):
    // read apart, a record committed between the two reads would be seen
    // held with no attachment rows, so confirmed without them.
    let (held, refused) = tokio::try_join!(
        async {
            client
                .query(
                    "SELECT r.record_id, r.content_hash,
                            ARRAY(SELECT ra.sha256 FROM record_attachments ra
                                  WHERE ra.record_id = r.record_id
                                    AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = ra.sha256)
                                  ORDER BY ra.sha256)
                     FROM records r WHERE r.record_id = ANY($1)",
                    &[&ids],
                )
                .await
                .map_err(CentralError::pg)
        },
        async {
            client
                .query(
                    "SELECT DISTINCT ON (f.record_id, f.content_hash) f.record_id, f.content_hash, f.code, f.reason
                     FROM refusals f JOIN unnest($1::uuid[], $2::text[]) AS k(record_id, content_hash)
                       ON f.record_id = k.record_id AND f.content_hash = k.content_hash
                     ORDER BY f.record_id, f.content_hash, f.id DESC",
                    &[&ids, &hashes],
                )
                .await
                .map_err(CentralError::pg)
        },
    )?;
    let held: std::collections::HashMap<Uuid, (Vec<u8>, Vec<String>)> = held
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let refused: std::collections::HashMap<(Uuid, String), (String, String)> = refused
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    Ok(keys
        .iter()
        .map(|key| {
            let line = |state, code, reason| CustodyLine {
                record_id: key.record_id,
                state,
                code,
                reason,
                reason_vi: None,
                missing_attachments: Vec::new(),
            };
            match held.get(&key.record_id) {
                // Confirmed only with every attachment held whole.
                Some((hash, missing)) if hex::encode(hash) == key.content_hash => {
                    if missing.is_empty() {
                        line(CustodyState::Confirmed, None, None)
                    } else {
                        CustodyLine {
                            missing_attachments: missing.clone(),
                            ..line(CustodyState::Incomplete, None, None)
                        }
                    }
                }
                _ => match refused.get(&(key.record_id, key.content_hash.clone())) {
                    Some((code, reason)) => line(
                        CustodyState::Rejected,
                        Some(code.clone()),
                        Some(reason.clone()),
                    ),
                    None => line(CustodyState::Unknown, None, None),
                },
            }
        })
        .collect())
}
