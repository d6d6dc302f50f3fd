//! Wraps a service's routes with what every service has (faults, JSON 404/405/413, health,
//! tracing) and serves it until shutdown.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use super::faults::{self, FaultSwitch};
use super::http::{BODY_LIMIT, ServiceError};

/// The full router of a service: its own `routes` behind fault injection, plus the admin and
/// health routes (which faults never touch).
pub fn wrap(name: &'static str, routes: Router, faults: FaultSwitch) -> Router {
    let api = routes
        .layer(middleware::from_fn_with_state(
            faults.clone(),
            faults::inject,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .merge(api)
        .merge(faults::admin_routes(faults))
        .route("/healthz", get(move || async move { axum::Json(serde_json::json!({"service": name, "status": "ok"})) }))
        .fallback(|| async { ServiceError::NotFound("no such route".into()).into_response() })
        .method_not_allowed_fallback(|| async { ServiceError::MethodNotAllowed.into_response() })
        // SECURITY: the span names the path only: a vault key's query is its signature.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }))
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr`, naming it in the error.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
