//! What the enrollment form needs from the core: its lists with their
//! labels (`GET /api/form`), the unit picker (`GET /api/units`) and the
//! rules themselves (`POST /api/validate`), so the app never keeps a copy
//! of a rule.

use std::sync::{Arc, PoisonError};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use doorstep_core::labels;
use serde_json::{Value, json};

use super::{App, ProblemResponse, ReqLang, bad_query, internal, parse_limit, store_problem};

/// Default and largest `limit` of `GET /api/units`.
const UNITS_DEFAULT: u64 = 20;
const UNITS_MAX: u64 = 200;

/// `GET /api/form`.
pub async fn form(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
) -> Result<Response, ProblemResponse> {
    let (policy, device_unit) = app
        .with_store(lang, |s| Ok((s.biometrics(), s.device().unit_code.clone())))
        .await?;
    let fingers: Vec<&str> = policy.fingers().iter().map(|f| f.as_str()).collect();
    let attachments: Vec<Value> = labels::attachments()
        .into_iter()
        .map(|l| {
            let media: Vec<&str> = doorstep_core::record::AttachmentKind::parse(&l.value)
                .map(|k| k.media_types().iter().map(|m| m.as_str()).collect())
                .unwrap_or_default();
            json!({"value": l.value, "vi": l.vi, "en": l.en, "media_types": media})
        })
        .collect();
    let outcomes: Vec<Value> = labels::outcomes()
        .into_iter()
        .map(|l| {
            let needs_unit = l.value == "living_elsewhere";
            json!({"value": l.value, "vi": l.vi, "en": l.en, "needs_unit": needs_unit})
        })
        .collect();
    Ok(axum::Json(json!({
        "kinds": labels::kinds(),
        "places": labels::places(),
        "reasons": labels::reasons(),
        "sexes": labels::sexes(),
        "eid_levels": [1, 2],
        "correction_fields": labels::correction_fields(),
        "outcomes": outcomes,
        "attachments": attachments,
        "exemption_reasons": labels::exemption_reasons(),
        "biometrics": {"face": policy.face, "fingers": fingers},
        "device_unit": device_unit,
        "today": super::summary::vietnam_today(Utc::now()).to_string(),
    }))
    .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct UnitsQuery {
    q: Option<String>,
    limit: Option<String>,
}

/// `GET /api/units`.
pub async fn units(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    query: Result<Query<UnitsQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let Query(q) = query.map_err(|e| bad_query(lang, e.body_text()))?;
    let limit = parse_limit(q.limit.as_deref(), lang)?
        .unwrap_or(UNITS_DEFAULT)
        .clamp(1, UNITS_MAX);
    let home = app.device_unit.clone();
    let app2 = Arc::clone(&app);
    let text = q.q.unwrap_or_default();
    let found = tokio::task::spawn_blocking(move || {
        app2.unit_index
            .search(
                &app2.units,
                &text,
                Some(&home),
                usize::try_from(limit).unwrap_or(20),
            )
            .into_iter()
            .map(|m| {
                json!({
                    "code": m.unit.code, "name": m.unit.name, "level": m.unit.level.as_str(),
                    "parent_code": m.unit.parent_code, "path": m.path,
                })
            })
            .collect::<Vec<Value>>()
    })
    .await
    .map_err(|e| internal(lang, e.to_string()))?;
    Ok(axum::Json(found).into_response())
}

/// `POST /api/validate`: one record through the rules, stored nowhere.
pub async fn validate(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    req: Request,
) -> Result<Response, ProblemResponse> {
    let values = super::read_json_records(req, lang).await?;
    let Some(value) = values.into_iter().next() else {
        return Ok(axum::Json(json!({"valid": true})).into_response());
    };
    let units = Arc::clone(&app.units);
    let app2 = Arc::clone(&app);
    let checked = tokio::task::spawn_blocking(move || {
        let store = app2.store.lock().unwrap_or_else(PoisonError::into_inner);
        super::prepare_value(&store, &units, value, Utc::now()).map(|r| r.err())
    })
    .await
    .map_err(|e| internal(lang, e.to_string()))?
    .map_err(|e| store_problem(&e, lang))?;
    let doc = match checked {
        None => json!({"valid": true}),
        Some(vs) => json!({"valid": false, "violations": super::violations_json(&vs, lang)}),
    };
    Ok(axum::Json(doc).into_response())
}
