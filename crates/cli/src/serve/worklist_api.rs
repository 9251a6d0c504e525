//! The worklist in the app: who is still to reach, filtered by unit,
//! hamlet, need or name (`GET /api/worklist`), and one tap to record what
//! came of a visit (`POST /api/visits`), built from the roster exactly as
//! `doorstep field visit` builds it.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doorstep_core::record::OutcomeKind;
use doorstep_core::text::fold_key;
use doorstep_store::{EnrollOutcome, LocalVisit};
use doorstep_wire::worklist::WorklistPerson;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{App, ProblemResponse, ReqLang, bad_query, outcome_json, problem};
use crate::worklist_cmd::{VisitInput, needs_left, newest_enrollment, settled_here, visit_record};

#[derive(Debug, serde::Deserialize)]
pub struct WorklistQuery {
    unit: Option<String>,
    need: Option<String>,
    hamlet: Option<String>,
    q: Option<String>,
    include_reached: Option<String>,
}

/// The hamlet (thôn, ấp, khu phố, tổ…) of an address detail: its last
/// comma-separated part ("Tổ 3, khu phố 2" → "khu phố 2").
pub fn hamlet_of(detail: Option<&str>) -> Option<String> {
    detail
        .and_then(|d| d.rsplit(',').next())
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

fn nonempty(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `GET /api/worklist`.
pub async fn worklist(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    query: Result<Query<WorklistQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let Query(q) = query.map_err(|e| bad_query(lang, e.body_text()))?;
    let include_reached = match nonempty(q.include_reached.as_ref()) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(bad_query(
                lang,
                format!("include_reached `{other}`: expected true or false"),
            ));
        }
    };
    if let Some(need) = nonempty(q.need.as_ref())
        && doorstep_core::roster::Need::parse(need).is_none()
    {
        return Err(bad_query(
            lang,
            format!("need `{need}`: expected card, eid_registration or eid_activation"),
        ));
    }
    let (state, people, visits) = app
        .with_store(lang, |s| {
            Ok((s.worklist_state()?, s.worklist(None)?, s.local_visits()?))
        })
        .await?;
    let units: BTreeSet<String> = people.iter().map(|p| p.worklist_unit.clone()).collect();
    let hamlets: BTreeSet<String> = people
        .iter()
        .filter_map(|p| hamlet_of(p.address_detail.as_deref()))
        .collect();
    let unit = nonempty(q.unit.as_ref());
    let need = nonempty(q.need.as_ref());
    let hamlet = nonempty(q.hamlet.as_ref()).map(fold_key);
    let search = nonempty(q.q.as_ref()).map(fold_key);
    let none: Vec<LocalVisit> = Vec::new();
    let mut rows: Vec<(bool, &WorklistPerson, Value)> = Vec::new();
    for p in &people {
        if unit.is_some_and(|u| !app.units.is_within(&p.worklist_unit, u)) {
            continue;
        }
        if need.is_some_and(|n| !p.needs.iter().any(|x| x == n)) {
            continue;
        }
        let h = hamlet_of(p.address_detail.as_deref());
        if let Some(want) = &hamlet
            && h.as_deref().map(fold_key).as_ref() != Some(want)
        {
            continue;
        }
        if let Some(text) = &search
            && !p.personal_id.contains(text.as_str())
            && !super::records_api::name_matches(&p.full_name, text)
        {
            continue;
        }
        let here = visits.get(&p.personal_id).unwrap_or(&none);
        let left = needs_left(p, here);
        let reached = settled_here(here) || left.is_empty();
        if reached && !include_reached {
            continue;
        }
        let mut doc = json!(p);
        doc["hamlet"] = json!(h);
        doc["needs_left"] = json!(left.iter().map(|n| n.as_str()).collect::<Vec<_>>());
        doc["visits"] = json!(here);
        doc["reached_here"] = json!(reached);
        rows.push((reached, p, doc));
    }
    // Still to reach first, then by household and name.
    rows.sort_by(|a, b| {
        (a.0, &a.1.worklist_unit, &a.1.household, &a.1.full_name).cmp(&(
            b.0,
            &b.1.worklist_unit,
            &b.1.household,
            &b.1.full_name,
        ))
    });
    let people: Vec<Value> = rows.into_iter().map(|(_, _, doc)| doc).collect();
    Ok(axum::Json(json!({
        "state": state, "people": people, "hamlets": hamlets, "units": units,
    }))
    .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct VisitBody {
    personal_id: String,
    outcome: OutcomeKind,
    officer_id: String,
    #[serde(default = "home")]
    place: String,
    reason: Option<String>,
    unit_code: Option<String>,
    note: Option<String>,
    detail: Option<String>,
    at: Option<String>,
    record_id: Option<Uuid>,
}

fn home() -> String {
    "home".to_owned()
}

fn trimmed(v: Option<&String>) -> Option<&str> {
    nonempty(v)
}

/// `POST /api/visits`.
pub async fn visit(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    body: Result<axum::Json<VisitBody>, JsonRejection>,
) -> Result<Response, ProblemResponse> {
    let axum::Json(body) = body.map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "body.malformed",
            lang,
            "Nội dung gửi lên không đúng dạng kết quả tiếp xúc",
            "The body is not a visit outcome",
            Some(e.body_text()),
        )
    })?;
    let units = Arc::clone(&app.units);
    let found = app
        .with_store(lang, move |store| {
            let pid = body.personal_id.trim().to_owned();
            let Some(person) = store.worklist_person(&pid)? else {
                return Ok(None);
            };
            let record_id = match (body.outcome, body.record_id) {
                (OutcomeKind::Enrolled, None) => newest_enrollment(store, &pid)?,
                (_, given) => given,
            };
            let input = VisitInput {
                outcome: body.outcome,
                officer: body.officer_id.trim(),
                place: body.place.trim(),
                reason: trimmed(body.reason.as_ref()),
                unit: trimmed(body.unit_code.as_ref()),
                detail: trimmed(body.detail.as_ref()),
                note: trimmed(body.note.as_ref()),
                at: trimmed(body.at.as_ref()),
            };
            let value = visit_record(&input, &person, record_id);
            let mut results = super::enroll_values(store, &units, vec![value])?;
            Ok(Some(results.pop()))
        })
        .await?;
    let Some(result) = found else {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "worklist.not_found",
            lang,
            "Người này không có trong danh sách cần tiếp cận của máy",
            "This person is not on the laptop's worklist",
            None,
        ));
    };
    let result = result.unwrap_or_else(|| Err(Vec::new()));
    let stored = matches!(result, Ok(EnrollOutcome::Stored { .. }));
    let ok = matches!(
        result,
        Ok(EnrollOutcome::Stored { .. } | EnrollOutcome::AlreadyStored { .. })
    );
    let item = outcome_json(0, result, lang);
    if stored {
        app.syncer.wake.notify_one();
    }
    let count = |yes: bool| u64::from(yes);
    let status = item["status"].as_str().unwrap_or("invalid").to_owned();
    let doc = json!({
        "stored": count(status == "stored"), "already_stored": count(status == "already_stored"),
        "invalid": count(status == "invalid"), "refused": count(status == "refused"),
        "results": [item],
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((code, axum::Json(doc)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hamlet_is_the_last_part_of_the_address() {
        assert_eq!(
            hamlet_of(Some("Tổ 3, khu phố 2")).as_deref(),
            Some("khu phố 2")
        );
        assert_eq!(
            hamlet_of(Some("Ấp Bình Hòa")).as_deref(),
            Some("Ấp Bình Hòa")
        );
        assert_eq!(hamlet_of(Some(" , ")), None);
        assert_eq!(hamlet_of(None), None);
    }
}
