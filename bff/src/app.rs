//! The router: the only place where routes and layers are put together.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::assets::Assets;
use crate::cache::PartCache;
use crate::compose::Composer;
use crate::config::{ActionConfig, MediaConfig};
use crate::error::{AppError, json_error};
use crate::metrics::Metrics;
use crate::{admin, api, media, ops};

/// Everything a request handler can reach, behind one `Arc`: axum clones the state for every
/// request, and one reference count is cheaper than a dozen.
pub type AppState = Arc<App>;

#[derive(Debug)]
pub struct App {
    pub composer: Composer,
    /// The front-end build; `None` serves the API only.
    pub assets: Option<Arc<Assets>>,
    pub cache: PartCache,
    pub metrics: Metrics,
    /// The admin API's bearer token; without one the admin API is off.
    pub admin_token: Option<Arc<str>>,
    pub actions: Arc<BTreeMap<String, ActionConfig>>,
    pub media: BTreeMap<String, MediaConfig>,
}

/// The BFF's HTTP interface.
pub fn router(state: AppState, body_limit_bytes: usize) -> Router {
    // Compressed on the fly, except NDJSON streams: an encoder would hold their lines back.
    // Level 4: most of brotli's gain at a small fraction of its default (11) cost per response.
    let compression = CompressionLayer::new()
        .quality(CompressionLevel::Precise(4))
        .compress_when(DefaultPredicate::new().and(NotForContentType::const_new(api::NDJSON)));
    let api = Router::new()
        .route("/views/{view}/{id}", get(api::view))
        .route("/parts/{view}/{part}/{id}", get(api::part))
        .route("/actions/{name}/{id}", post(admin::action))
        .fallback(|| async { AppError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(compression);

    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route(
            "/admin/invalidate",
            post(admin::invalidate).fallback(|| async { AppError::MethodNotAllowed }),
        )
        .route("/media/{name}/{file}", get(media::media))
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
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(ops::with_request_id))
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
