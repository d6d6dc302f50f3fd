//! The router: the only place where routes and layers are put together.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::assets::Assets;
use crate::compose::Composer;
use crate::error::{AppError, json_error};
use crate::ops;

/// Everything a request handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub composer: Composer,
    /// The front-end build; `None` serves the API only.
    pub assets: Option<Arc<Assets>>,
}

/// The BFF's HTTP interface.
pub fn router(state: AppState, body_limit_bytes: usize) -> Router {
    let api = Router::new()
        .route("/views/{view}/{id}", get(view))
        .fallback(|| async { AppError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed });

    Router::new()
        .route("/healthz", get(ops::healthz))
        .nest("/api", api)
        .fallback(static_files)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(ops::with_request_id))
}

/// `GET /api/views/{view}/{id}`: the composite view as one JSON document.
async fn view(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let Path((view, id)) = path.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let request_id = ops::request_id();
    let rendered = state
        .composer
        .render(&view, &id, request_id.as_deref())
        .await?;
    let mut response = (rendered.status, axum::Json(rendered.envelope)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Everything outside `/api`: the front-end build.
async fn static_files(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match &state.assets {
        Some(assets) => assets.respond(&method, &uri, &headers),
        None => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "this BFF serves no front end (no build was found at start-up)",
        ),
    }
}
