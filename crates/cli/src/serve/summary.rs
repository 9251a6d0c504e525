//! The end-of-day summary (`GET /api/summary`): the day's records by kind,
//! place, custody state and outcome, and what stands between them and
//! central's confirmation.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use doorstep_store::{ListFilter, RecordStatus, RecordSummary};
use serde_json::{Value, json};

use super::{App, ProblemResponse, ReqLang, SyncState, bad_query};
use crate::lang::{Lang, Pick};

/// Past this, the app warns about the laptop's clock (central refuses
/// signed requests past 5 minutes).
pub const CLOCK_WARNING_SECONDS: i64 = 120;

/// Today in Vietnam (UTC+7), where the teams work.
pub fn vietnam_today(now: DateTime<Utc>) -> NaiveDate {
    FixedOffset::east_opt(7 * 3600)
        .map_or(now.date_naive(), |vn| now.with_timezone(&vn).date_naive())
}

/// The visit's own date, as the officer's clock gave it with its offset.
fn visit_date(r: &RecordSummary) -> Option<NaiveDate> {
    r.visit_at
        .as_deref()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.date_naive())
}

#[derive(Debug, serde::Deserialize)]
pub struct SummaryQuery {
    date: Option<String>,
}

/// One thing blocking confirmation.
fn blocking(code: &str, count: u64, message: String) -> Value {
    json!({"code": code, "count": count, "message": message})
}

/// `GET /api/summary`.
pub async fn summary(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    query: Result<Query<SummaryQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let Query(q) = query.map_err(|e| bad_query(lang, e.body_text()))?;
    let date = match q.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => vietnam_today(Utc::now()),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| bad_query(lang, format!("date `{d}`: expected YYYY-MM-DD")))?,
    };
    let (records, visits, alarms, registered) = app
        .with_store(lang, |s| {
            Ok((
                s.list(&ListFilter::default())?,
                s.local_visits()?,
                s.log_alarms()?.len(),
                s.identity()?.central_id.is_some(),
            ))
        })
        .await?;
    let outcome_of: BTreeMap<uuid::Uuid, String> = visits
        .values()
        .flatten()
        .filter_map(|v| v.outcome.clone().map(|o| (v.record_id, o)))
        .collect();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_place: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for r in records.iter().filter(|r| visit_date(r) == Some(date)) {
        total += 1;
        *by_kind.entry(r.kind.clone()).or_default() += 1;
        if let Some(place) = &r.visit_place {
            *by_place.entry(place.clone()).or_default() += 1;
        }
        *by_status.entry(r.status.as_str()).or_default() += 1;
        if let Some(o) = outcome_of.get(&r.record_id) {
            *outcomes.entry(o.clone()).or_default() += 1;
        }
    }
    let sync = app.syncer.snapshot();
    let blocks = blocking_list(&records, &sync, alarms, registered, lang);
    Ok(axum::Json(json!({
        "date": date.to_string(), "total": total, "by_kind": by_kind, "by_place": by_place,
        "by_status": by_status, "outcomes": outcomes, "blocking": blocks,
    }))
    .into_response())
}

/// What stands between the laptop's records and confirmation, over every
/// record (yesterday's rejection still blocks today).
fn blocking_list(
    records: &[RecordSummary],
    sync: &SyncState,
    alarms: usize,
    registered: bool,
    lang: Lang,
) -> Vec<Value> {
    let count = |f: &dyn Fn(&RecordSummary) -> bool| records.iter().filter(|r| f(r)).count() as u64;
    let mut out = Vec::new();
    let rejected = count(&|r| r.status == RecordStatus::Rejected && r.superseded_by.is_none());
    if rejected > 0 {
        out.push(blocking(
            "rejected",
            rejected,
            lang.pick(
                &format!("{rejected} hồ sơ bị từ chối chưa được sửa: mở Hàng đợi, lọc \"bị từ chối\""),
                &format!("{rejected} rejected record(s) not corrected yet: open the queue, filter \"rejected\""),
            )
            .to_owned(),
        ));
    }
    let incomplete = count(&|r| r.status == RecordStatus::Incomplete);
    if incomplete > 0 {
        out.push(blocking(
            "incomplete",
            incomplete,
            lang.pick(
                &format!("{incomplete} hồ sơ trung tâm còn chờ ảnh/vân tay: đồng bộ lại khi có mạng"),
                &format!("{incomplete} record(s) central holds waiting for their images: sync again when online"),
            )
            .to_owned(),
        ));
    }
    let pending = count(&|r| r.status == RecordStatus::Pending);
    if pending > 0 && sync.central_reachable != Some(true) {
        out.push(blocking(
            "not_sent",
            pending,
            lang.pick(
                &format!("{pending} hồ sơ chưa gửi được vì không kết nối được trung tâm: đồng bộ khi có mạng, hoặc xuất gói dữ liệu mang về trạm"),
                &format!("{pending} record(s) not sent: central is unreachable; sync when online or export a bundle for the station"),
            )
            .to_owned(),
        ));
    }
    let held = count(&|r| r.status == RecordStatus::Held);
    if held > 0 {
        out.push(blocking(
            "held",
            held,
            lang.pick(
                &format!("{held} hồ sơ đang ở trạm xã, chờ trạm chuyển lên trung tâm"),
                &format!("{held} record(s) held by the commune station, waiting to be forwarded"),
            )
            .to_owned(),
        ));
    }
    if !registered {
        out.push(blocking(
            "not_registered",
            1,
            lang.pick(
                "máy này chưa đăng ký với trung tâm nên chưa gửi được hồ sơ: xin mã đăng ký rồi chạy `doorstep field register`",
                "this laptop is not registered with central, so no record can be sent: get a token and run `doorstep field register`",
            )
            .to_owned(),
        ));
    }
    if let Some(skew) = sync.clock_skew_seconds
        && skew.abs() > CLOCK_WARNING_SECONDS
    {
        out.push(blocking("clock", 1, clock_message(skew, lang)));
    }
    let revoked = [&sync.last_error, &sync.worklist_error]
        .iter()
        .any(|e| e.as_deref().is_some_and(|e| e.contains("revoked")));
    if revoked {
        out.push(blocking(
            "revoked",
            1,
            lang.pick(
                "máy này đã bị thu hồi quyền gửi: liên hệ cán bộ phụ trách; hồ sơ vẫn được giữ trên máy",
                "this laptop was revoked: contact the officer in charge; the records stay on the laptop",
            )
            .to_owned(),
        ));
    }
    if alarms > 0 {
        out.push(blocking(
            "audit_alarm",
            alarms as u64,
            lang.pick(
                "CẢNH BÁO KIỂM TOÁN: nhật ký của máy chủ không khớp; đồng bộ đã dừng. Báo ngay cho cán bộ phụ trách",
                "AUDIT ALARM: the server's log does not match; sync stopped. Report it now",
            )
            .to_owned(),
        ));
    }
    out
}

/// The clock warning: by how much and which way the laptop is off.
pub fn clock_message(skew_seconds: i64, lang: Lang) -> String {
    let minutes = skew_seconds.unsigned_abs().div_ceil(60);
    match (skew_seconds > 0, lang) {
        (true, Lang::Vi) => format!(
            "đồng hồ của máy chậm khoảng {minutes} phút so với trung tâm: hãy chỉnh ngày giờ (lệch quá 5 phút thì không đồng bộ được)"
        ),
        (false, Lang::Vi) => format!(
            "đồng hồ của máy nhanh khoảng {minutes} phút so với trung tâm: hãy chỉnh ngày giờ (lệch quá 5 phút thì không đồng bộ được)"
        ),
        (true, Lang::En) => format!(
            "this laptop's clock is about {minutes} min behind central's: set the date and time (past 5 minutes sync is refused)"
        ),
        (false, Lang::En) => format!(
            "this laptop's clock is about {minutes} min ahead of central's: set the date and time (past 5 minutes sync is refused)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_vietnam_time() {
        let late = DateTime::parse_from_rfc3339("2026-11-23T18:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(vietnam_today(late).to_string(), "2026-11-24");
    }

    #[test]
    fn the_clock_message_says_which_way() {
        assert!(clock_message(400, Lang::En).contains("7 min behind"));
        assert!(clock_message(-130, Lang::En).contains("3 min ahead"));
        assert!(clock_message(-130, Lang::Vi).contains("nhanh"));
    }
}
