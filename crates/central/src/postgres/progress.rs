//! Campaign progress on PostgreSQL: the counts kept at ingest (inside the
//! batch transaction, under the log lock, so nodes never race on a
//! bucket), the campaign import, and what the reports read.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use doorstep_core::RecordKind;
use doorstep_core::campaign::{Metric, Target};
use doorstep_core::canonical::format_utc_millis;
use doorstep_core::progress::VisitCount;
use uuid::Uuid;

use super::apply::{NewRecords, Tx, run};
use super::{to_i64, to_u64};
use crate::error::CentralError;
use crate::reports::{
    CampaignSummary, ConflictLine, CountKey, ImportedCampaign, by_campaign, count_changes,
    visit_count,
};

/// The change to the counts these new records make: each counts in its
/// bucket, and each correction uncounts the held record of the same kind
/// it supersedes (marking it, so it is uncounted once).
pub(super) async fn count_new<'a>(
    tx: &Tx<'_>,
    new: impl Iterator<Item = &'a NewRecords<'a>>,
) -> Result<HashMap<CountKey, i64>, CentralError> {
    let mut records = Vec::new();
    let (mut new_ids, mut old_ids, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
    for n in new {
        for ((id, kind), visit) in n.ids.iter().zip(&n.kinds).zip(&n.visits) {
            records.push((*kind, *visit));
            if let Some(old) = visit.and_then(|v| v.supersedes) {
                new_ids.push(*id);
                old_ids.push(old);
                kinds.push(*kind);
            }
        }
    }
    let mut changes = count_changes(records.into_iter());
    if new_ids.is_empty() {
        return Ok(changes);
    }
    let corrected = run(
        tx,
        "UPDATE records r SET superseded_by = w.new_id
         FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS w(new_id, old_id, kind)
         WHERE r.record_id = w.old_id AND r.kind = w.kind AND r.superseded_by IS NULL
           AND r.visit_day IS NOT NULL AND r.visit_unit IS NOT NULL AND r.visit_place IS NOT NULL
         RETURNING r.kind, r.visit_day::text, r.visit_unit, r.visit_place, coalesce(r.visit_reason, '')",
        &[&new_ids, &old_ids, &kinds],
    )
    .await?;
    for row in corrected {
        // Stored values are ones this build wrote; anything else is left.
        let Some(c) = visit_count(
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
            1,
        ) else {
            continue;
        };
        let key: CountKey = (
            c.kind.as_str(),
            c.day.to_string(),
            c.unit_code,
            c.place.as_str(),
            c.reason.map_or("", |r| r.as_str()),
        );
        *changes.entry(key).or_default() -= 1;
    }
    Ok(changes)
}

/// Adds the changes to the counts, in one statement.
pub(super) async fn write_counts(
    tx: &Tx<'_>,
    changes: &HashMap<CountKey, i64>,
) -> Result<(), CentralError> {
    let changes: Vec<(&CountKey, &i64)> = changes.iter().filter(|(_, n)| **n != 0).collect();
    if changes.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = changes.iter().map(|(k, _)| k.0).collect();
    let days: Vec<&str> = changes.iter().map(|(k, _)| k.1.as_str()).collect();
    let units: Vec<&str> = changes.iter().map(|(k, _)| k.2.as_str()).collect();
    let places: Vec<&str> = changes.iter().map(|(k, _)| k.3).collect();
    let reasons: Vec<&str> = changes.iter().map(|(k, _)| k.4).collect();
    let ns: Vec<i64> = changes.iter().map(|(_, n)| **n).collect();
    run(
        tx,
        "INSERT INTO visit_counts (kind, day, unit_code, place, reason, n)
         SELECT c.kind, c.day::date, c.unit_code, c.place, c.reason, c.n
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[])
              AS c(kind, day, unit_code, place, reason, n)
         ON CONFLICT (kind, day, unit_code, place, reason)
         DO UPDATE SET n = visit_counts.n + excluded.n",
        &[&kinds, &days, &units, &places, &reasons, &ns],
    )
    .await?;
    Ok(())
}

pub(super) async fn import_targets(
    client: &mut deadpool_postgres::Object,
    targets: &[Target],
    now: DateTime<Utc>,
) -> Result<Vec<ImportedCampaign>, CentralError> {
    let at = format_utc_millis(&now);
    let tx = client.transaction().await.map_err(CentralError::pg)?;
    let mut out = Vec::new();
    for (campaign, rows) in by_campaign(targets) {
        let replaced = tx
            .execute(
                "DELETE FROM campaign_targets WHERE campaign = $1",
                &[&campaign],
            )
            .await
            .map_err(CentralError::pg)?;
        let metrics: Vec<&str> = rows.iter().map(|t| t.metric.as_str()).collect();
        let units: Vec<&str> = rows.iter().map(|t| t.unit_code.as_str()).collect();
        let goals: Vec<i64> = rows.iter().map(|t| to_i64(t.target)).collect();
        let starts: Vec<String> = rows.iter().map(|t| t.start.to_string()).collect();
        let deadlines: Vec<String> = rows.iter().map(|t| t.deadline.to_string()).collect();
        tx.execute(
            "INSERT INTO campaign_targets (campaign, metric, unit_code, target, start, deadline, imported_at)
             SELECT $1, t.metric, t.unit_code, t.target, t.start::date, t.deadline::date, $7
             FROM unnest($2::text[], $3::text[], $4::int8[], $5::text[], $6::text[])
                  AS t(metric, unit_code, target, start, deadline)",
            &[&campaign, &metrics, &units, &goals, &starts, &deadlines, &at],
        )
        .await
        .map_err(CentralError::pg)?;
        out.push(ImportedCampaign {
            campaign: campaign.to_owned(),
            targets: rows.len() as u64,
            replaced,
        });
    }
    tx.commit().await.map_err(CentralError::pg)?;
    Ok(out)
}

pub(super) async fn campaigns<C: GenericClient>(
    client: &C,
) -> Result<Vec<CampaignSummary>, CentralError> {
    let rows = client
        .query(
            "SELECT campaign, array_agg(DISTINCT metric), min(start)::text, max(deadline)::text,
                    count(*), max(imported_at)
             FROM campaign_targets GROUP BY campaign ORDER BY min(start) DESC, campaign",
            &[],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut out = Vec::new();
    for r in rows {
        let metrics: Vec<String> = r.get(1);
        let mut metrics: Vec<Metric> = metrics.iter().filter_map(|m| Metric::parse(m)).collect();
        metrics.sort();
        out.push(CampaignSummary {
            campaign: r.get(0),
            metrics,
            start: date(r.get(2))?,
            deadline: date(r.get(3))?,
            targets: to_u64(r.get(4)),
            imported_at: r.get(5),
        });
    }
    Ok(out)
}

pub(super) async fn campaign_targets<C: GenericClient>(
    client: &C,
    campaign: &str,
) -> Result<Vec<Target>, CentralError> {
    let rows = client
        .query(
            "SELECT metric, unit_code, target, start::text, deadline::text FROM campaign_targets
             WHERE campaign = $1 ORDER BY metric, unit_code",
            &[&campaign],
        )
        .await
        .map_err(CentralError::pg)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let metric: &str = r.get(0);
        let metric = Metric::parse(metric).ok_or_else(|| {
            CentralError::Inconsistent(format!(
                "campaign `{campaign}` has a target for metric `{metric}`, which this build does not know"
            ))
        })?;
        out.push(Target {
            campaign: campaign.to_owned(),
            unit_code: r.get(1),
            metric,
            target: to_u64(r.get(2)),
            start: date(r.get(3))?,
            deadline: date(r.get(4))?,
        });
    }
    Ok(out)
}

pub(super) async fn visit_counts<C: GenericClient>(
    client: &C,
    kinds: &[RecordKind],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<VisitCount>, CentralError> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows = client
        .query(
            "SELECT kind, day::text, unit_code, place, reason, n FROM visit_counts
             WHERE kind = ANY($1) AND day BETWEEN $2::text::date AND $3::text::date AND n > 0",
            &[&kinds, &from.to_string(), &to.to_string()],
        )
        .await
        .map_err(CentralError::pg)?;
    Ok(rows
        .iter()
        .filter_map(|r| visit_count(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect())
}

pub(super) async fn conflicts<C: GenericClient>(
    client: &C,
    limit: u64,
) -> Result<(u64, Vec<ConflictLine>), CentralError> {
    let total = client
        .query_one(
            "SELECT count(*) FROM refusals WHERE outcome = 'conflict'",
            &[],
        )
        .await
        .map_err(CentralError::pg)?;
    let rows = client
        .query(
            "SELECT at, batch_id, sender_id, device_id, device_seq, record_id, code, reason
             FROM refusals WHERE outcome = 'conflict' ORDER BY id DESC LIMIT $1",
            &[&to_i64(limit)],
        )
        .await
        .map_err(CentralError::pg)?;
    let text = |u: Option<Uuid>| u.map(|u| u.to_string());
    let lines = rows
        .iter()
        .map(|r| ConflictLine {
            at: r.get(0),
            batch_id: r.get::<_, Uuid>(1).to_string(),
            sender_id: r.get::<_, Uuid>(2).to_string(),
            device_id: text(r.get(3)),
            device_seq: r.get::<_, Option<i64>>(4).map(to_u64),
            record_id: text(r.get(5)),
            code: r.get(6),
            reason: r.get(7),
        })
        .collect();
    Ok((to_u64(total.get(0)), lines))
}

fn date(s: &str) -> Result<NaiveDate, CentralError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| CentralError::Inconsistent(format!("`{s}` in campaign_targets is not a date")))
}
