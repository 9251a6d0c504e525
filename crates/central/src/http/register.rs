//! `POST /v1/register`: a laptop or station registers the public key it
//! made, against a one-time token from `doorstep central provision`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use doorstep_wire::PROTOCOL_VERSION;
use doorstep_wire::register::RegisterRequest;

use super::{AppState, ProblemResponse, check_content_type};
use crate::registry::RegistryError;
use crate::store::CentralStore;

pub(crate) use doorstep_wire::register::REGISTER_PATH;

/// A registration body is a few hundred bytes.
const MAX_REGISTER_BODY: usize = 16 * 1024;

pub(crate) async fn post_register<S: CentralStore>(
    State(state): State<AppState<S>>,
    req: Request,
) -> Response {
    match register(&state, req).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(problem) => {
            state.metrics.count_problem(&problem.0.code);
            problem.into_response()
        }
    }
}

async fn register<S: CentralStore>(
    state: &AppState<S>,
    req: Request,
) -> Result<doorstep_wire::register::RegisterAnswer, ProblemResponse> {
    let (parts, body) = req.into_parts();
    check_content_type(&parts.headers)?;
    let bytes = axum::body::to_bytes(body, MAX_REGISTER_BODY)
        .await
        .map_err(|_| {
            ProblemResponse::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "register.too_large",
                "A registration is a small JSON document",
                Some(format!("at most {MAX_REGISTER_BODY} bytes")),
            )
        })?;
    let request: RegisterRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "register.malformed",
            "The body is not a v1 registration",
            Some(e.to_string()),
        )
    })?;
    if request.protocol != PROTOCOL_VERSION {
        return Err(ProblemResponse::new(
            StatusCode::BAD_REQUEST,
            "protocol.unsupported",
            "Unsupported protocol version",
            Some(format!(
                "this server speaks protocol {PROTOCOL_VERSION}, the request says {}",
                request.protocol
            )),
        ));
    }
    if state.role != doorstep_wire::NodeRole::Central {
        return Err(ProblemResponse::new(
            StatusCode::NOT_FOUND,
            "register.not_here",
            "Nodes register with central, not with a station",
            None,
        ));
    }
    let node = request.node_id;
    state
        .store
        .register(request, Utc::now())
        .await
        .map_err(|e| {
            let status = match &e {
                RegistryError::UnknownToken => StatusCode::UNAUTHORIZED,
                RegistryError::TokenUsed { .. } | RegistryError::TokenExpired { .. } => {
                    StatusCode::GONE
                }
                RegistryError::NodeExists(_) | RegistryError::KeyInUse(_) => StatusCode::CONFLICT,
                RegistryError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(error = %e, "registration could not be stored");
            } else {
                tracing::warn!(%node, code = e.code(), "registration refused");
            }
            ProblemResponse::new(
                status,
                e.code(),
                "Registration refused",
                Some(e.to_string()),
            )
        })
}
