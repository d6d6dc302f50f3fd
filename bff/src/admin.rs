//! Writes and invalidation: `POST /admin/invalidate` (token-protected) drops cache entries by
//! key or prefix on every replica; `POST /api/actions/{name}/{id}` relays a write to its
//! upstream and, when it succeeds, drops what the write changed (e.g. a new review drops that
//! product's review parts).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::app::AppState;
use crate::compose::validate_id;
use crate::config::IdKind;
use crate::error::AppError;
use crate::ops;
use crate::shared_cache::Invalidation;

/// `POST /admin/invalidate` with `{"key": "..."}` or `{"prefix": "..."}` (keys are
/// `upstream:/path?query`). Answers how many local entries were dropped.
pub async fn invalidate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Invalidation>, JsonRejection>,
) -> Result<Response, AppError> {
    let Some(token) = &state.admin_token else {
        return Err(AppError::NotFound(
            "the admin API is off (set admin.token or TESSERA_ADMIN_TOKEN)".into(),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
        return Err(AppError::Unauthorized);
    }
    let Json(target) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let dropped = state.cache.invalidate(&target).await;
    tracing::info!(?target, dropped, "cache invalidated");
    Ok(Json(serde_json::json!({ "dropped": dropped })).into_response())
}

/// `POST /api/actions/{name}/{id}`: the JSON body goes to the action's upstream once (writes
/// are not retried); the upstream's answer comes back, and on success the action's
/// invalidation prefixes are dropped everywhere.
pub async fn action(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Path((name, id)) = path.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        _ => AppError::BadRequest(e.body_text()),
    })?;
    let action = state
        .actions
        .get(&name)
        .ok_or_else(|| AppError::NotFound(format!("no action named {name:?}")))?;
    validate_id(IdKind::Slug, &id)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim() == "application/json")
        });
    if !is_json {
        return Err(AppError::UnsupportedMediaType);
    }
    serde_json::from_slice::<serde_json::Value>(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is not JSON: {e}")))?;

    let upstream = action.upstream.get_ref();
    let path = action.path.get_ref().replace("{id}", &id);
    let deadline = Instant::now() + std::time::Duration::from_millis(action.timeout_ms);
    let request_id = ops::request_id();
    let (status, answer) = state
        .cache
        .upstreams()
        .post_json(upstream, &path, body, deadline, request_id.as_deref())
        .await
        .map_err(|e| AppError::Upstream {
            status: if matches!(e, crate::upstream::UpstreamError::Timeout) {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            },
            code: e.code(),
            message: format!("{upstream} {e}"),
        })?;
    if status.is_success() {
        for prefix in &action.invalidate {
            let target = Invalidation::Prefix(prefix.get_ref().replace("{id}", &id));
            state.cache.invalidate(&target).await;
        }
        return Ok((status, Json(answer)).into_response());
    }
    if status.is_client_error() {
        // The upstream's verdict on the client's input: its message, in our error shape.
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("the request was rejected")
            .to_owned();
        return Err(AppError::Upstream {
            status,
            code: client_error_code(status),
            message,
        });
    }
    Err(AppError::Upstream {
        status: StatusCode::BAD_GATEWAY,
        code: "upstream_status",
        message: format!("{upstream} answered {status}"),
    })
}

fn client_error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::CONFLICT => "conflict",
        _ => "bad_request",
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
