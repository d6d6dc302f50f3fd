//! Tessera's backend-for-frontend: composes views from several data services (server-side
//! mashup) and serves the front end's build CDN-style.
//!
//! # Layout
//!
//! - [`config`]: the one typed configuration, from TOML with env and CLI overrides.
//! - [`app`]: the router, where routes and layers are put together.
//! - [`api`]: the composite-view API — JSON, NDJSON streams, single parts, ETags.
//! - [`compose`]: composite views — fan-out, dependencies, deadlines, per-part outcomes.
//! - [`template`]: path templates of parts and the dependencies they imply.
//! - [`upstream`]: the HTTP client for data services.
//! - [`assets`]: static hosting of the front end, and the fingerprinting build step.
//! - [`ops`]: request ids and health.
//! - [`error`]: the one mapping from errors to HTTP responses.

pub mod api;
pub mod app;
pub mod assets;
pub mod compose;
pub mod config;
pub mod error;
pub mod ops;
pub mod template;
pub mod upstream;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::AppState;
use crate::assets::Assets;
use crate::compose::Composer;
use crate::config::Config;
use crate::upstream::Upstreams;

/// Why the BFF could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("building the upstream clients failed: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Assets(#[from] assets::AssetError),
}

/// Builds the application from a validated configuration. The front-end build is optional: if
/// `dist_dir` does not exist the BFF serves its API alone.
pub fn build(config: &Config) -> Result<axum::Router, StartError> {
    let upstreams = Upstreams::new(&config.upstreams)?;
    let composer = Composer::new(&config.views, upstreams);
    let assets = if config.server.dist_dir.exists() {
        Some(Arc::new(Assets::load(&config.server.dist_dir)?))
    } else {
        tracing::warn!(dist_dir = %config.server.dist_dir.display(), "no front-end build; serving the API only");
        None
    };
    Ok(app::router(
        AppState { composer, assets },
        config.server.body_limit_bytes,
    ))
}

/// Accepted connections with Nagle's algorithm off: responses are written whole, and waiting
/// for an ACK before the next small write only adds latency.
pub fn with_nodelay(
    listener: TcpListener,
) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    })
}

/// Serves the BFF on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = build(config)?;
    axum::serve(with_nodelay(listener), app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
