//! The admin API, behind a bearer token: `POST /admin/invalidate` drops cache entries by key
//! or prefix on every replica, `POST /admin/reload` loads the configuration again, and
//! `GET /admin/stats` is the live state the ops page shows; `GET /admin/cache` lists what this
//! replica keeps in memory.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_contract::ops::Stats;

use super::error::AppError;
use super::extract::Json;
use super::state::{App, AppState, Current};
use crate::app::ReloadTrigger;
use crate::cache::Invalidation;

/// `POST /admin/invalidate` with `{"key": "..."}` or `{"prefix": "..."}` (keys are
/// `upstream:/path?query`; prefixes count in whole path segments). Answers what was dropped
/// and whether the shared cache took it; a drop Redis did not take is a 503 (this replica's
/// layers are dropped all the same).
pub(crate) async fn invalidate(
    Current(state): Current,
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

/// `POST /admin/reload`: loads and validates the configuration again. 200 with what the reload
/// did (`applied` or `unchanged`); 422 with the errors (file, line, key) when it was rejected
/// and the running configuration stays.
pub(crate) async fn reload(
    State(live): State<AppState>,
    Current(app): Current,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    authorize(&app, &headers)?;
    let info = live.reload(ReloadTrigger::Admin).await;
    let status = if info.outcome == "rejected" {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(info)).into_response())
}

/// `GET /admin/stats`: this replica's live state (see [`Stats`]). Never cached.
pub(crate) async fn stats(
    State(live): State<AppState>,
    Current(app): Current,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    authorize(&app, &headers)?;
    let stats: Stats = live.stats();
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(stats)).into_response())
}

/// `GET /admin/cache`: the keys of the part entries and rendered views this replica holds in
/// memory (at most 10,000 of each), to see what is cached — and what never may be.
pub(crate) async fn cache_keys(
    Current(app): Current,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    authorize(&app, &headers)?;
    let (entries, rendered) = app.cache.keys(10_000);
    let body = serde_json::json!({ "entries": entries, "rendered": rendered });
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

/// The admin API is off without a token, and needs exactly that token as a bearer.
fn authorize(state: &App, headers: &HeaderMap) -> Result<(), AppError> {
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
