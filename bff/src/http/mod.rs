//! The HTTP edge: the only part of the BFF that knows axum and HTTP statuses. It parses
//! requests, calls the core (composition, cache, upstream client, assets) and turns what comes
//! back — answers and typed errors — into responses, in one place ([`error`]).
//!
//! - `router` (here): the one place routes and layers are stacked;
//! - `state`: what handlers can reach; `extract`: extractors whose rejections are ours;
//! - `views`: composite views and single parts; `actions`: writes; `admin`: invalidation,
//!   reload and the ops page's stats;
//! - `session`: signing in and out, and the shopper a cookie stands for; `keys`: vault keys;
//!   `same_site`: state-changing requests from other sites refused;
//!   `media`: relayed images; `health`: `/healthz` and `/metrics`; `page`: a page with its
//!   first paint drawn from its route's part;
//!   `line_encoder`: NDJSON streams compressed and flushed line by line;
//! - `request_id`: the id every request carries; `observe`: request metrics;
//!   `error`: the one error type and its mapping;
//! - `serve`: the connection loop (head deadlines and size, graceful shutdown).

mod actions;
mod admin;
mod error;
mod extract;
mod health;
mod keys;
mod line_encoder;
mod media;
mod observe;
mod page;
mod request_id;
mod same_site;
mod serve;
mod session;
mod state;
mod views;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::convert::Infallible;

use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::assets::Refusal;
use crate::config::ServerConfig;
use error::{AppError, json_error};
pub(crate) use serve::serve;
pub(crate) use state::AppState;

/// The BFF's HTTP interface: the routes, wrapped once in the layers every request passes.
///
/// The layers wrap the finished router as one service (`ServiceBuilder`), not each route
/// (`Router::layer`): a route layer is a boxed service cloned, and its future boxed, on every
/// request, and a cached view would pay that a dozen times over.
pub(crate) fn router(state: AppState, server: &ServerConfig) -> HttpService {
    let max_header_bytes = server.max_header_bytes;
    // Compressed on the fly, except NDJSON streams: they compress each line themselves
    // (`line_encoder`), where this layer's encoder would hold lines back.
    // Level 4: most of brotli's gain at a small fraction of its default (11) cost per response.
    let compression = CompressionLayer::new()
        .quality(CompressionLevel::Precise(4))
        .compress_when(DefaultPredicate::new().and(NotForContentType::const_new(views::NDJSON)));
    let api = Router::new()
        .route("/views/{view}/{id}", get(views::view))
        .route("/parts/{view}/{part}/{id}", get(views::part))
        .route("/actions/{name}/{id}", post(actions::action))
        .route(
            "/session",
            post(session::sign_in)
                .get(session::whoami)
                .delete(session::sign_out),
        )
        .route("/keys/{grant}/{id}", post(keys::grant))
        .fallback(|| async { AppError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .with_state(state.clone());
    let api = ServiceBuilder::new()
        .layer(compression)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            every_api_request,
        ))
        .service(api);

    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/admin/invalidate",
            post(admin::invalidate).fallback(|| async { AppError::MethodNotAllowed }),
        )
        .route(
            "/admin/reload",
            post(admin::reload).fallback(|| async { AppError::MethodNotAllowed }),
        )
        .route(
            "/admin/stats",
            get(admin::stats).fallback(|| async { AppError::MethodNotAllowed }),
        )
        .route(
            "/admin/cache",
            get(admin::cache_keys).fallback(|| async { AppError::MethodNotAllowed }),
        )
        .route("/media/{name}/{file}", get(media::media))
        .nest_service("/api", api)
        .fallback(static_files)
        // Every route's wrong method gets the JSON error shape (axum's own 405 is empty).
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .with_state(state.clone());

    let live = state.clone();
    let service = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            every_request(live.clone(), max_header_bytes, request, next)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }))
        .layer(DefaultBodyLimit::max(server.body_limit_bytes))
        .service(routes);
    HttpService::new(service)
}

/// The whole HTTP interface as one service: what [`serve`] runs on each connection.
pub(crate) type HttpService = tower::util::BoxCloneSyncService<Request, Response, Infallible>;

/// What every request passes, outermost first: its id and span (`request_id`), the generation
/// that answers it and its metrics and access-log line (`observe`), the bound on its head.
/// One middleware rather than three: each `from_fn` layer boxes its inner service and its
/// future on every request.
async fn every_request(
    live: AppState,
    max_header_bytes: usize,
    request: Request,
    next: Next,
) -> Response {
    request_id::with_request_id(request, |request| {
        observe::observe(&live, request, |request| async move {
            match head_within(max_header_bytes, &request) {
                Some(refused) => refused,
                None => next.run(request).await,
            }
        })
    })
    .await
}

/// What every `/api` request passes: a state-changing one from another site is refused
/// (`same_site`), and every answer names the build served now, so a page opened on an
/// earlier one can offer the new one while it goes on working.
async fn every_api_request(
    axum::extract::State(live): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let app = request
        .extensions()
        .get::<std::sync::Arc<state::App>>()
        .cloned()
        .unwrap_or_else(|| live.current());
    let build = app
        .assets
        .as_ref()
        .and_then(|assets| assets.build().cloned());
    let mut response = match same_site::refusal(&request, &app) {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    if let Some(build) = build {
        response
            .headers_mut()
            .insert(tessera_contract::BUILD_HEADER, build);
    }
    response
}

/// SECURITY: a request head larger than `limit` (request line and headers) is refused with a
/// 431 before any handler runs, so no one can make the BFF hold or forward huge headers.
fn head_within(limit: usize, request: &Request) -> Option<Response> {
    let uri = request.uri();
    let size = uri.path().len()
        + uri.query().map_or(0, str::len)
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if size > limit {
        return Some(json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request head is {size} bytes; at most {limit} are accepted"),
        ));
    }
    None
}

/// Everything outside `/api`: the front-end build, with the page's security headers.
async fn static_files(
    state::Current(state): state::Current,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(assets) = &state.assets else {
        return AppError::Asset(Refusal::NoFrontEnd).into_response();
    };
    let file = match page::drawn(&state, &method, &uri, &headers).await {
        Some(page) => Ok(page),
        None => assets.respond(&method, &uri, &headers),
    };
    let mut response = match file {
        Ok(file) => file.map(Body::from),
        Err(refusal) => AppError::Asset(refusal).into_response(),
    };
    let h = response.headers_mut();
    let policy = state.page_policy.as_ref().unwrap_or(assets.policy());
    h.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
