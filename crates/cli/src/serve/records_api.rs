//! The queue: records with their custody state, searched without accents
//! (`GET /api/records`), one record to read or correct
//! (`GET /api/records/{id}`), and its photos (`GET /api/attachments/{sha}`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorstep_core::canonical;
use doorstep_core::record::MediaType;
use doorstep_core::text::fold_key;
use doorstep_store::{ListFilter, RecordStatus, RecordSummary};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{App, ProblemResponse, ReqLang, bad_query, parse_limit, problem};
use crate::lang::{Lang, Pick};

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
    q: Option<String>,
}

/// What an officer can do about a refusal, by its code; and whether
/// enrolling a correction is the way.
pub fn advice(code: &str, lang: Lang) -> (&'static str, bool) {
    let (vi, en, correctable) = match code {
        "record.out_of_scope" => (
            "Đơn vị nơi tiếp xúc nằm ngoài địa bàn của máy này: mở hồ sơ, sửa đơn vị cho đúng rồi lưu bản sửa; nếu người dân thuộc địa bàn khác, chuyển cho tổ phụ trách địa bàn đó.",
            "The visit unit is outside this laptop's area: open the record, correct the unit and save the correction; if the person belongs to another area, hand them to that area's team.",
            true,
        ),
        "record.invalid" => (
            "Trung tâm thấy hồ sơ sai quy tắc (xem lý do): mở hồ sơ, sửa các trường được nêu rồi lưu bản sửa.",
            "Central found the record breaks a rule (see the reason): open it, correct the fields named and save the correction.",
            true,
        ),
        "attachment.unsupported" => (
            "Trung tâm không nhận tệp đính kèm này: lưu bản sửa với ảnh đúng định dạng.",
            "Central does not take this attachment: save a correction with an image in a supported format.",
            true,
        ),
        c if c.starts_with("conflict.") => (
            "Trùng số hồ sơ với một hồ sơ khác: không cần nhập lại; báo cán bộ phụ trách.",
            "The record's number clashes with another record: do not enter it again; tell the officer in charge.",
            false,
        ),
        c if c.starts_with("device.") || c.starts_with("station.") => (
            "Máy này (hoặc trạm) không được phép gửi: liên hệ cán bộ phụ trách; hồ sơ vẫn được giữ trên máy.",
            "This laptop (or its station) may not send: contact the officer in charge; the records stay on the laptop.",
            false,
        ),
        _ => (
            "Hồ sơ bị từ chối vì lỗi kỹ thuật (hỏng hoặc bị sửa): không nhập lại; báo cán bộ phụ trách kèm số hồ sơ.",
            "The record was refused for a technical reason (damaged or altered): do not enter it again; report it with the record ID.",
            false,
        ),
    };
    (lang.pick(vi, en), correctable)
}

/// A list item as the app shows it: the store's summary plus what to do
/// about a refusal.
fn item_json(r: &RecordSummary, lang: Lang) -> Value {
    let mut v = json!(r);
    if let (RecordStatus::Rejected, Some(code)) = (r.status, r.reject_code.as_deref()) {
        let (text, correctable) = advice(code, lang);
        v["advice"] = json!(text);
        v["correctable"] = json!(correctable && r.superseded_by.is_none());
    }
    v
}

/// Whether the record's name (without accents) or ID number matches `q`.
fn matches(r: &RecordSummary, folded: &str, digits: &str) -> bool {
    let by_id = !digits.is_empty()
        && r.personal_id
            .as_deref()
            .is_some_and(|id| id.contains(digits));
    by_id
        || (!folded.is_empty()
            && r.full_name
                .as_deref()
                .is_some_and(|n| name_matches(n, folded)))
}

/// Every word of the folded query is in the folded name ("nguyen lan"
/// finds "Nguyễn Thị Lan").
pub fn name_matches(name: &str, folded_query: &str) -> bool {
    let name = fold_key(name);
    folded_query
        .split(' ')
        .filter(|w| !w.is_empty())
        .all(|w| name.contains(w))
}

/// `GET /api/records`.
pub async fn list(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let Query(q) = query.map_err(|e| bad_query(lang, e.body_text()))?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(RecordStatus::parse(s).ok_or_else(|| {
            bad_query(
                lang,
                format!("status `{s}`: expected pending, held, confirmed or rejected"),
            )
        })?),
    };
    let limit = parse_limit(q.limit.as_deref(), lang)?;
    let search = q.q.as_deref().map(str::trim).unwrap_or("").to_owned();
    let filter = ListFilter {
        status,
        kind: q
            .kind
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty()),
        // A search filters first, then keeps the newest `limit` matches.
        limit: if search.is_empty() { limit } else { None },
        record_id: None,
    };
    let mut records = app.with_store(lang, move |s| s.list(&filter)).await?;
    if !search.is_empty() {
        let folded = fold_key(&search);
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        // Digits alone search the ID number; words the name.
        let folded = if digits.len() == search.chars().filter(|c| !c.is_whitespace()).count() {
            String::new()
        } else {
            folded
        };
        records.retain(|r| matches(r, &folded, &digits));
        if let Some(n) = limit.and_then(|n| usize::try_from(n).ok()) {
            let skip = records.len().saturating_sub(n);
            records.drain(..skip);
        }
    }
    let items: Vec<Value> = records.iter().map(|r| item_json(r, lang)).collect();
    Ok(axum::Json(items).into_response())
}

fn not_found(lang: Lang, code: &str, vi: &str, en: &str) -> ProblemResponse {
    problem(StatusCode::NOT_FOUND, code, lang, vi, en, None)
}

/// `GET /api/records/{record_id}`.
pub async fn one(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    Path(id): Path<String>,
) -> Result<Response, ProblemResponse> {
    let missing = || {
        not_found(
            lang,
            "record.not_found",
            "Không có hồ sơ này trên máy",
            "No such record on this laptop",
        )
    };
    let record_id = Uuid::parse_str(id.trim()).map_err(|_| missing())?;
    let found = app.with_store(lang, move |s| s.record(record_id)).await?;
    let Some((summary, record)) = found else {
        return Err(missing());
    };
    // The body in input shape: what the form fills itself from.
    let body = record
        .map(|r| {
            serde_json::from_slice::<Value>(&canonical::encode_record(&r))
                .map(|mut doc| doc["body"].take())
        })
        .transpose()
        .map_err(|e| super::internal(lang, e.to_string()))?;
    Ok(axum::Json(json!({"summary": item_json(&summary, lang), "record": body})).into_response())
}

/// `GET /api/attachments/{sha256}`.
pub async fn attachment(
    State(app): State<Arc<App>>,
    ReqLang(lang): ReqLang,
    Path(sha): Path<String>,
) -> Result<Response, ProblemResponse> {
    let missing = || {
        not_found(
            lang,
            "attachment.not_found",
            "Không có tệp đính kèm này trên máy",
            "No such attachment on this laptop",
        )
    };
    let mut digest = [0u8; 32];
    hex::decode_to_slice(sha.trim(), &mut digest).map_err(|_| missing())?;
    let bytes = app
        .with_store(lang, move |s| s.blob_plaintext(&digest))
        .await?
        .ok_or_else(missing)?;
    let media = MediaType::sniff(&bytes).map_or("application/octet-stream", |m| m.as_str());
    Ok((
        [
            (header::CONTENT_TYPE, media),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correctable_refusals_are_those_an_officer_can_fix() {
        assert!(advice("record.out_of_scope", Lang::En).1);
        assert!(advice("record.invalid", Lang::Vi).1);
        assert!(!advice("conflict.record_id", Lang::En).1);
        assert!(!advice("device.revoked", Lang::En).1);
        assert!(!advice("record.bad_signature", Lang::En).1);
        assert!(advice("record.out_of_scope", Lang::Vi).0.contains("đơn vị"));
    }

    #[test]
    fn names_match_word_by_word_without_accents() {
        assert!(name_matches("Nguyễn Thị Lan", "nguyen lan"));
        assert!(name_matches("Nguyễn Thị Lan", &fold_key("THỊ")));
        assert!(name_matches("Đặng Văn Đức", "dang duc"));
        assert!(!name_matches("Nguyễn Thị Lan", "nguyen hoa"));
    }
}
