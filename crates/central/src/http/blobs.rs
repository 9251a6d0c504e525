//! Resumable upload of attachment blobs (`proto/attachments-v1.md`
//! section 5): `HEAD /v1/blobs/{sha256}` tells how much of a blob the node
//! holds, `PATCH` appends one checksummed chunk at the node's offset. At
//! central the completed object is opened (or taken as is, when it is the
//! plaintext), checked against the hash the record names, stored, and the
//! records it completes are answered. A station holds sealed objects by
//! their own hash, unopened, and relays them (section 7).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use doorstep_core::canonical::format_utc_millis;
use doorstep_wire::blobs::{
    BLOB_SIZE_HEADER, BLOB_STATE_HEADER, BlobAnswer, BlobCompleted, OFFSET_CONTENT_TYPE,
    SEALED_SHA256_HEADER, UPLOAD_CHECKSUM_HEADER, UPLOAD_LENGTH_HEADER, UPLOAD_OFFSET_HEADER,
};
use doorstep_wire::{Issuer, NodeRole, PROTOCOL_VERSION};
use sha2::{Digest, Sha256};

use super::{AppState, ProblemResponse, auth, unavailable};
use crate::blobs::{BlobBytes, BlobError, MAX_CHUNK, MAX_SEALED_LEN, SEAL_OVERHEAD, UploadKey};
use crate::error::CentralError;
use crate::store::{BlobCompletion, CentralStore};

/// The upload endpoints' route.
pub const BLOB_PATH: &str = "/v1/blobs/{sha256}";

fn problem(status: StatusCode, code: &str, title: &str, detail: String) -> ProblemResponse {
    ProblemResponse::new(status, code, title, Some(detail))
}

fn malformed(detail: &str) -> ProblemResponse {
    problem(
        StatusCode::BAD_REQUEST,
        "upload.malformed",
        "The upload request is malformed",
        detail.to_owned(),
    )
}

fn storage(e: BlobError) -> ProblemResponse {
    unavailable(&CentralError::Blob(e))
}

/// The node's blob storage, or 404 on a node that does not take attachments.
fn blobs_of<S: CentralStore>(
    state: &AppState<S>,
) -> Result<std::sync::Arc<dyn BlobBytes>, ProblemResponse> {
    state.store.blobs().ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "This node does not take attachments",
            "`attachments` is not among the features in /healthz".into(),
        )
    })
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The upload addressed by the path and `doorstep-sealed-sha256`.
fn upload_key(sha256: &str, headers: &HeaderMap) -> Result<UploadKey, ProblemResponse> {
    if !hex64(sha256) {
        return Err(malformed(
            "the path must name the blob's SHA-256: 64 lower-case hex digits",
        ));
    }
    let sealed = header_str(headers, SEALED_SHA256_HEADER)
        .filter(|s| hex64(s))
        .ok_or_else(|| malformed("doorstep-sealed-sha256 must be 64 lower-case hex digits"))?;
    UploadKey::new(sha256, sealed).map_err(|e| malformed(&e.to_string()))
}

fn set(resp: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        resp.headers_mut().insert(name, v);
    }
}

fn expires(updated: chrono::DateTime<Utc>) -> String {
    (updated + chrono::Duration::days(7))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `HEAD /v1/blobs/{sha256}`.
pub async fn head<S: CentralStore>(
    State(state): State<AppState<S>>,
    Path(sha256): Path<String>,
    req: Request,
) -> Response {
    match head_inner(&state, &sha256, req).await {
        Ok(resp) => resp,
        Err(p) => {
            state.metrics.count_problem(&p.0.code);
            p.into_response()
        }
    }
}

async fn head_inner<S: CentralStore>(
    state: &AppState<S>,
    sha256: &str,
    req: Request,
) -> Result<Response, ProblemResponse> {
    let blobs = blobs_of(state)?;
    let path = format!("/v1/blobs/{sha256}");
    auth::authenticate(state, req.headers(), "HEAD", &path, &[]).await?;
    let key = upload_key(sha256, req.headers())?;
    let held = held_whole(state, &key).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(size) = held {
        set(&mut resp, BLOB_STATE_HEADER, "complete");
        set(&mut resp, BLOB_SIZE_HEADER, size);
        return Ok(resp);
    }
    match blobs.upload(&key).await.map_err(storage)? {
        Some(partial) => {
            set(&mut resp, BLOB_STATE_HEADER, "partial");
            set(&mut resp, UPLOAD_OFFSET_HEADER, partial.offset);
            set(&mut resp, UPLOAD_LENGTH_HEADER, partial.length);
            set(&mut resp, "upload-expires", expires(partial.updated_at));
        }
        None => {
            set(&mut resp, BLOB_STATE_HEADER, "absent");
            set(&mut resp, UPLOAD_OFFSET_HEADER, 0);
        }
    }
    Ok(resp)
}

/// The size of what this node holds whole for an upload: the blob by its
/// plaintext hash at central, the sealed object by its own at a station.
async fn held_whole<S: CentralStore>(
    state: &AppState<S>,
    key: &UploadKey,
) -> Result<Option<u64>, ProblemResponse> {
    let held = if state.role == NodeRole::Station {
        state.store.sealed_blob_held(&key.sealed_sha256).await
    } else {
        state.store.blob_facts(&key.sha256).await.map(|f| f.held)
    };
    held.map_err(|e| unavailable(&e))
}

/// `PATCH /v1/blobs/{sha256}`.
pub async fn patch<S: CentralStore>(
    State(state): State<AppState<S>>,
    Path(sha256): Path<String>,
    req: Request,
) -> Response {
    match patch_inner(&state, &sha256, req).await {
        Ok(resp) => resp,
        Err(p) => {
            state.metrics.count_problem(&p.0.code);
            if p.0.status >= 500 {
                tracing::warn!(code = %p.0.code, detail = ?p.0.detail, "blob upload failed");
            }
            p.into_response()
        }
    }
}

/// The chunk headers, checked for form.
struct ChunkHeaders {
    offset: u64,
    length: u64,
    checksum: [u8; 32],
}

fn chunk_headers(headers: &HeaderMap) -> Result<ChunkHeaders, ProblemResponse> {
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    if !content_type.eq_ignore_ascii_case(OFFSET_CONTENT_TYPE) {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type.unsupported",
            "A chunk is sent as application/offset+octet-stream",
            format!("Content-Type was `{content_type}`"),
        ));
    }
    if let Some(enc) = header_str(headers, header::CONTENT_ENCODING.as_str())
        && !enc.eq_ignore_ascii_case("identity")
    {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "encoding.unsupported",
            "Chunks are not compressed",
            format!("Content-Encoding was `{enc}`"),
        ));
    }
    let number = |name: &str| {
        header_str(headers, name)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| malformed(&format!("{name} must be a decimal number of bytes")))
    };
    let offset = number(UPLOAD_OFFSET_HEADER)?;
    let length = number(UPLOAD_LENGTH_HEADER)?;
    let checksum = header_str(headers, UPLOAD_CHECKSUM_HEADER).ok_or_else(|| {
        malformed("Upload-Checksum is required: `sha256 <base64 of the chunk's SHA-256>`")
    })?;
    let (algorithm, value) = checksum.split_once(' ').unwrap_or((checksum, ""));
    if algorithm != "sha256" {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "checksum.unsupported",
            "Only sha256 chunk checksums are taken",
            format!("Upload-Checksum algorithm `{algorithm}`"),
        ));
    }
    let checksum = data_encoding::BASE64
        .decode(value.trim().as_bytes())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| malformed("Upload-Checksum must carry the base64 of 32 bytes"))?;
    Ok(ChunkHeaders {
        offset,
        length,
        checksum,
    })
}

async fn read_chunk(body: Body) -> Result<axum::body::Bytes, ProblemResponse> {
    axum::body::to_bytes(body, MAX_CHUNK).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<super::http_body_util_limit::LengthLimitError>());
        if too_large || e.to_string().contains("length limit") {
            problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "chunk.too_large",
                "The chunk is too large",
                format!("at most {MAX_CHUNK} bytes per chunk"),
            )
        } else {
            // A body cut short: nothing of it is kept, the sender resumes.
            problem(
                StatusCode::BAD_REQUEST,
                "upload.body_incomplete",
                "The chunk did not arrive whole; nothing of it was stored",
                e.to_string(),
            )
        }
    })
}

async fn patch_inner<S: CentralStore>(
    state: &AppState<S>,
    sha256: &str,
    req: Request,
) -> Result<Response, ProblemResponse> {
    let blobs = blobs_of(state)?;
    let (parts, body) = req.into_parts();
    let chunk = read_chunk(body).await?;
    let h = chunk_headers(&parts.headers)?;
    // The checksum comes before the signature (which also covers the
    // body): a chunk damaged on the way is then answered "send it again"
    // rather than refused as a forgery. Nothing is stored either way.
    if <[u8; 32]>::from(Sha256::digest(&chunk)) != h.checksum {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "chunk.bad_checksum",
            "The chunk does not match its checksum; nothing of it was stored: send it again",
            format!("{} bytes at offset {}", chunk.len(), h.offset),
        ));
    }
    let path = format!("/v1/blobs/{sha256}");
    let sender = auth::authenticate(state, &parts.headers, "PATCH", &path, &chunk).await?;
    let key = upload_key(sha256, &parts.headers)?;
    if h.length > MAX_SEALED_LEN {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "blob.too_large",
            "The blob is too large",
            format!("Upload-Length {} is over {MAX_SEALED_LEN} bytes", h.length),
        ));
    }
    if let Some(size) = held_whole(state, &key).await? {
        return Ok(answer(state, &key, size, Vec::new()));
    }
    let plaintext_upload = key.sha256 == key.sealed_sha256;
    // A station cannot read the records (they are sealed): it checks
    // neither reference nor size, and central checks both when relayed.
    if state.role == NodeRole::Central {
        let facts = state
            .store
            .blob_facts(&key.sha256)
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(named) = facts.named_size else {
            return Err(problem(
                StatusCode::CONFLICT,
                "blob.not_referenced",
                "No record held here names this blob: sync the record first",
                format!("no held record names attachment {}", key.sha256),
            ));
        };
        let expected = if plaintext_upload {
            named
        } else {
            named + SEAL_OVERHEAD
        };
        if h.length != expected {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "blob.size_mismatch",
                "The upload's length does not match the size the record gives",
                format!(
                    "Upload-Length {} but the record's size gives {expected}",
                    h.length
                ),
            ));
        }
    }
    let now = Utc::now();
    let offset = match blobs.append(&key, h.length, h.offset, &chunk, now).await {
        Ok(offset) => offset,
        Err(BlobError::OffsetMismatch { expected }) => {
            let mut resp = problem(
                StatusCode::CONFLICT,
                "upload.offset_mismatch",
                "The chunk does not start where the upload stands",
                format!(
                    "the upload stands at {expected}, the chunk starts at {}",
                    h.offset
                ),
            );
            resp.0.offset = Some(expected);
            let mut resp = resp.into_response();
            set(&mut resp, UPLOAD_OFFSET_HEADER, expected);
            return Ok(resp);
        }
        Err(BlobError::LengthMismatch { length }) => {
            return Err(problem(
                StatusCode::CONFLICT,
                "upload.length_mismatch",
                "Upload-Length differs from the upload's",
                format!("the upload was started with length {length}"),
            ));
        }
        Err(BlobError::BeyondLength) => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "upload.beyond_length",
                "The chunk would pass Upload-Length",
                format!("offset {} + {} bytes > {}", h.offset, chunk.len(), h.length),
            ));
        }
        Err(BlobError::TooManyUploads) => {
            let mut resp = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "upload.too_many",
                "Too many uploads are open on this node; retry later",
                String::new(),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return Ok(resp);
        }
        Err(e) => return Err(storage(e)),
    };
    if offset < h.length {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        set(&mut resp, UPLOAD_OFFSET_HEADER, offset);
        set(&mut resp, "upload-expires", expires(now));
        return Ok(resp);
    }
    complete(state, &*blobs, &key, h.length, sender, now).await
}

/// The last chunk arrived: check the whole object, open it, store it.
async fn complete<S: CentralStore>(
    state: &AppState<S>,
    blobs: &dyn BlobBytes,
    key: &UploadKey,
    length: u64,
    sender: Option<uuid::Uuid>,
    now: chrono::DateTime<Utc>,
) -> Result<Response, ProblemResponse> {
    let object = blobs.read_upload(key).await.map_err(storage)?;
    let refuse = |code: &str, title: &str, detail: String| {
        problem(StatusCode::UNPROCESSABLE_ENTITY, code, title, detail)
    };
    if hex::encode(Sha256::digest(&object)) != key.sealed_sha256 {
        blobs.discard_upload(key).await.map_err(storage)?;
        return Err(refuse(
            "blob.sealed_mismatch",
            "The uploaded object does not hash to doorstep-sealed-sha256; the upload was deleted: start again from 0",
            format!("{} bytes received", object.len()),
        ));
    }
    if state.role == NodeRole::Station {
        return keep_sealed(state, blobs, key, object, sender, now).await;
    }
    let plaintext = if key.sealed_sha256 == key.sha256 {
        object
    } else {
        let opened = open(state, &object);
        match opened {
            Ok(p) => p,
            Err(p) => {
                blobs.discard_upload(key).await.map_err(storage)?;
                return Err(p);
            }
        }
    };
    if hex::encode(Sha256::digest(&plaintext)) != key.sha256 {
        blobs.discard_upload(key).await.map_err(storage)?;
        return Err(refuse(
            "blob.plaintext_mismatch",
            "The opened blob is not the file the record names",
            format!("its SHA-256 is not {}", key.sha256),
        ));
    }
    blobs.put(&key.sha256, &plaintext).await.map_err(storage)?;
    let size = plaintext.len() as u64;
    let completes = state
        .store
        .blob_completed(BlobCompletion {
            sha256: key.sha256.clone(),
            sealed_sha256: key.sealed_sha256.clone(),
            size,
            object_size: length,
            sender: sender.unwrap_or_default(),
            at: now,
        })
        .await
        .map_err(|e| unavailable(&e))?;
    blobs.discard_upload(key).await.map_err(storage)?;
    tracing::debug!(sha256 = %key.sha256, size, completes = completes.len(), "blob held");
    Ok(answer(state, key, size, completes))
}

/// A station keeps the object as received, by its own hash, to relay.
async fn keep_sealed<S: CentralStore>(
    state: &AppState<S>,
    blobs: &dyn BlobBytes,
    key: &UploadKey,
    object: Vec<u8>,
    sender: Option<uuid::Uuid>,
    now: chrono::DateTime<Utc>,
) -> Result<Response, ProblemResponse> {
    let length = object.len() as u64;
    blobs
        .put(&key.sealed_sha256, &object)
        .await
        .map_err(storage)?;
    state
        .store
        .blob_completed(BlobCompletion {
            sha256: key.sha256.clone(),
            sealed_sha256: key.sealed_sha256.clone(),
            size: length,
            object_size: length,
            sender: sender.unwrap_or_default(),
            at: now,
        })
        .await
        .map_err(|e| unavailable(&e))?;
    blobs.discard_upload(key).await.map_err(storage)?;
    tracing::debug!(sealed_sha256 = %key.sealed_sha256, length, "sealed blob held for relay");
    Ok(answer(state, key, length, Vec::new()))
}

/// Opens a sealed blob with central's key.
fn open<S: CentralStore>(state: &AppState<S>, object: &[u8]) -> Result<Vec<u8>, ProblemResponse> {
    let refuse = |code: &str, title: &str, detail: String| {
        problem(StatusCode::UNPROCESSABLE_ENTITY, code, title, detail)
    };
    let opener = state.store.opener().ok_or_else(|| {
        refuse(
            "blob.sealed_to_other_key",
            "This node cannot open sealed blobs",
            "only central opens sealed blobs".into(),
        )
    })?;
    let sealed = doorstep_crypto::SealedBox::from_blob(object).ok_or_else(|| {
        refuse(
            "blob.sealed_malformed",
            "The object is not a sealed blob",
            "it does not start with doorstep-blob-v1 or is too short".into(),
        )
    })?;
    if sealed.to != opener.public() {
        return Err(refuse(
            "blob.sealed_to_other_key",
            "The blob is sealed to another key than this central's",
            hex::encode(sealed.to),
        ));
    }
    opener.open(&sealed).map_err(|_| {
        refuse(
            "blob.sealed_tampered",
            "The sealed blob does not open: it was altered",
            "the authentication tag does not verify".into(),
        )
    })
}

fn answer<S: CentralStore>(
    state: &AppState<S>,
    key: &UploadKey,
    size: u64,
    completes: Vec<(uuid::Uuid, String)>,
) -> Response {
    axum::Json(BlobAnswer {
        protocol: PROTOCOL_VERSION,
        issuer: Issuer {
            node_id: state.store.node_id(),
            role: state.role,
        },
        sha256: key.sha256.clone(),
        sealed_sha256: key.sealed_sha256.clone(),
        size,
        state: "complete".into(),
        received_at: format_utc_millis(&Utc::now()),
        completes: completes
            .into_iter()
            .map(|(record_id, content_hash)| BlobCompleted {
                record_id,
                content_hash,
            })
            .collect(),
    })
    .into_response()
}
