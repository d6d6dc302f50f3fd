//! The admin API: `POST /admin/invalidate` (bearer token) drops cache entries by key or prefix
//! on every replica.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::extract::Json;
use super::state::AppState;
use crate::cache::Invalidation;

/// `POST /admin/invalidate` with `{"key": "..."}` or `{"prefix": "..."}` (keys are
/// `upstream:/path?query`; prefixes count in whole path segments). Answers what was dropped
/// and whether the shared cache took it; a drop Redis did not take is a 503 (this replica's
/// layers are dropped all the same).
pub(crate) async fn invalidate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Invalidation>, AppError>,
) -> Result<Response, AppError> {
    authorize(&state, &headers)?;
    let Json(target) = body?;
    target.check(|name| state.upstreams.has(name))?;
    state.cache.invalidate(&target).await?;
    tracing::info!(?target, "cache invalidated");
    let shared = if state.cache.shared().is_some() {
        "dropped"
    } else {
        "off"
    };
    let answer = serde_json::json!({ "dropped": target, "shared_cache": shared });
    Ok(axum::Json(answer).into_response())
}

/// The admin API is off without a token, and needs exactly that token as a bearer.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(token) = &state.admin_token else {
        return Err(AppError::NotFound(
            "the admin API is off (set admin.token or TESSERA_ADMIN_TOKEN)".into(),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
    }
}

/// SECURITY: compares every byte whatever the first difference, so the time taken says
/// nothing about how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
