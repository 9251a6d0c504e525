//! What the reports read and the campaign import writes, on SQLite.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use doorstep_core::RecordKind;
use doorstep_core::campaign::{Metric, Target};
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::progress::VisitCount;
use rusqlite::{Connection, params};

use super::{to_i64, to_u64};
use crate::error::CentralError;
use crate::reports::{CampaignSummary, ConflictLine, ImportedCampaign, by_campaign, visit_count};

/// Replaces the targets of every campaign named in `targets`, in one
/// transaction.
pub(crate) fn import_targets(
    conn: &mut Connection,
    path: &Path,
    targets: &[Target],
    now: DateTime<Utc>,
) -> Result<Vec<ImportedCampaign>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let at = format_utc_millis(&now);
    let tx = conn.transaction().map_err(err)?;
    let mut out = Vec::new();
    for (campaign, rows) in by_campaign(targets) {
        let replaced = tx
            .execute(
                "DELETE FROM campaign_targets WHERE campaign = ?1",
                [campaign],
            )
            .map_err(err)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO campaign_targets (campaign, metric, unit_code, target, start, deadline, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(err)?;
        for t in &rows {
            insert
                .execute(params![
                    campaign,
                    t.metric.as_str(),
                    t.unit_code,
                    to_i64(t.target),
                    t.start.to_string(),
                    t.deadline.to_string(),
                    at,
                ])
                .map_err(err)?;
        }
        out.push(ImportedCampaign {
            campaign: campaign.to_owned(),
            targets: rows.len() as u64,
            replaced: replaced as u64,
        });
    }
    tx.commit().map_err(err)?;
    Ok(out)
}

pub(crate) fn campaigns(
    conn: &Connection,
    path: &Path,
) -> Result<Vec<CampaignSummary>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare(
            "SELECT campaign, group_concat(DISTINCT metric), min(start), max(deadline), count(*),
                    max(imported_at)
             FROM campaign_targets GROUP BY campaign ORDER BY min(start) DESC, campaign",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (campaign, metrics, start, deadline, n, imported_at) = row.map_err(err)?;
        let mut metrics: Vec<Metric> = metrics.split(',').filter_map(Metric::parse).collect();
        metrics.sort();
        out.push(CampaignSummary {
            campaign,
            metrics,
            start: date(&start, path)?,
            deadline: date(&deadline, path)?,
            targets: to_u64(n),
            imported_at,
        });
    }
    Ok(out)
}

pub(crate) fn campaign_targets(
    conn: &Connection,
    path: &Path,
    campaign: &str,
) -> Result<Vec<Target>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT metric, unit_code, target, start, deadline FROM campaign_targets
             WHERE campaign = ?1 ORDER BY metric, unit_code",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([campaign], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (metric, unit_code, target, start, deadline) = row.map_err(err)?;
        let metric = Metric::parse(&metric).ok_or_else(|| {
            CentralError::Inconsistent(format!(
                "{}: campaign `{campaign}` has a target for metric `{metric}`, which this build does not know",
                path.display()
            ))
        })?;
        out.push(Target {
            campaign: campaign.to_owned(),
            unit_code,
            metric,
            target: to_u64(target),
            start: date(&start, path)?,
            deadline: date(&deadline, path)?,
        });
    }
    Ok(out)
}

pub(crate) fn visit_counts(
    conn: &Connection,
    path: &Path,
    kinds: &[RecordKind],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<VisitCount>, CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT day, unit_code, place, reason, n FROM visit_counts
             WHERE kind = ?1 AND day >= ?2 AND day <= ?3 AND n > 0",
        )
        .map_err(err)?;
    let mut out = Vec::new();
    for kind in kinds {
        let rows = stmt
            .query_map(
                params![kind.as_str(), from.to_string(), to.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .map_err(err)?;
        for row in rows {
            let (day, unit, place, reason, n) = row.map_err(err)?;
            out.extend(visit_count(kind.as_str(), &day, unit, &place, &reason, n));
        }
    }
    Ok(out)
}

pub(crate) fn conflicts(
    conn: &Connection,
    path: &Path,
    limit: u64,
) -> Result<(u64, Vec<ConflictLine>), CentralError> {
    let err = |e| CentralError::sqlite(path, e);
    let total: i64 = conn
        .query_row(
            "SELECT count(*) FROM refusals WHERE outcome = 'conflict'",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    let mut stmt = conn
        .prepare(
            "SELECT at, batch_id, sender_id, device_id, device_seq, record_id, code, reason
             FROM refusals WHERE outcome = 'conflict' ORDER BY id DESC LIMIT ?1",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([to_i64(limit)], |r| {
            Ok(ConflictLine {
                at: r.get(0)?,
                batch_id: r.get(1)?,
                sender_id: r.get(2)?,
                device_id: r.get(3)?,
                device_seq: r.get::<_, Option<i64>>(4)?.map(to_u64),
                record_id: r.get(5)?,
                code: r.get(6)?,
                reason: r.get(7)?,
            })
        })
        .map_err(err)?;
    let lines = rows.collect::<Result<Vec<_>, _>>().map_err(err)?;
    Ok((to_u64(total), lines))
}

fn date(s: &str, path: &Path) -> Result<NaiveDate, CentralError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        CentralError::Inconsistent(format!(
            "{}: `{s}` in campaign_targets is not a date",
            path.display()
        ))
    })
}
