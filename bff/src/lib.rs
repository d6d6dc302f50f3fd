//! Tessera's backend-for-frontend: composes views from several data services (server-side
//! mashup) and serves the front end's build CDN-style.
//!
//! # Layout
//!
//! An edge that knows HTTP, over a core that does not; arrows point down only.
//!
//! - `http`: the edge — router, state, handlers, request ids, and the one error type that
//!   turns the core's errors and axum's rejections into responses. The only module that
//!   imports axum (with this file and `main.rs`).
//! - `compose`: composite views — fan-out, dependencies, deadlines, per-part outcomes,
//!   verdicts, rendered documents.
//! - `cache`: the part cache — local (moka) and Redis layers, entries, invalidations,
//!   rendered views.
//! - `upstream`: the client for data services — attempts, retries, breaker, bulkhead, hosts.
//! - `metrics`: Prometheus metrics, shared by all of the above.
//! - [`config`]: the one typed configuration (types, validation, sources, path templates).
//! - [`assets`]: static hosting of the front end, the CDN export and the fingerprinting step.

pub mod assets;
mod cache;
mod compose;
pub mod config;
mod http;
mod metrics;
mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::assets::Assets;
use crate::cache::{PartCache, SharedCache};
use crate::compose::Composer;
use crate::config::Config;
use crate::http::App;
use crate::metrics::Metrics;
use crate::upstream::Upstreams;

/// The Redis channel every replica's invalidations go out on.
pub use crate::cache::CHANNEL as INVALIDATION_CHANNEL;

/// Why the BFF could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("building the upstream clients failed: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Assets(#[from] assets::AssetError),
    #[error("cache.redis_url: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Builds the application from a validated configuration. The front-end build is optional: if
/// `dist_dir` does not exist the BFF serves its API alone. Must run inside a Tokio runtime
/// (with a shared cache, it starts listening for invalidations).
pub fn build(config: &Config) -> Result<axum::Router, StartError> {
    let metrics = Metrics::for_config(config);
    let upstreams = Arc::new(Upstreams::new(&config.upstreams, metrics.clone())?);
    let shared = config
        .cache
        .redis_url
        .as_deref()
        .map(|url| {
            SharedCache::new(
                url,
                Duration::from_millis(config.cache.redis_timeout_ms),
                config.drop_retention(),
                metrics.clone(),
            )
        })
        .transpose()?;
    let cache = PartCache::new(
        &config.cache,
        upstreams.clone(),
        shared,
        config.drop_retention(),
        metrics.clone(),
    );
    if let Some(shared) = cache.shared() {
        let listener_cache = cache.clone();
        shared.listen(move |target, origin| {
            listener_cache.invalidate_local(target, origin);
            tracing::debug!(?target, origin, "invalidated by another replica");
        });
    }
    let composer = Composer::new(
        &config.views,
        cache.clone(),
        upstreams.clone(),
        metrics.clone(),
    );
    let assets = if config.server.dist_dir.exists() {
        Some(Arc::new(Assets::load_with_origin(
            &config.server.dist_dir,
            config.server.asset_origin.as_deref(),
        )?))
    } else {
        tracing::warn!(dist_dir = %config.server.dist_dir.display(), "no front-end build; serving the API only");
        None
    };
    Ok(http::router(
        Arc::new(App {
            composer,
            upstreams,
            cache,
            assets,
            metrics,
            admin_token: config.admin.token.clone().map(Arc::from),
            actions: config.actions.clone(),
            media: config.media.clone(),
        }),
        &config.server,
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

/// Starts the BFF on an ephemeral loopback port in the background (for tests and benchmarks)
/// and returns its address. It runs until the Tokio runtime stops.
pub async fn spawn(config: &Config) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = build(config)?;
    let server = config.server.clone();
    tokio::spawn(async move {
        http::serve(listener, app, &server, std::future::pending::<()>()).await;
    });
    Ok(addr)
}

/// Serves the BFF on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = build(config)?;
    http::serve(listener, app, &config.server, shutdown).await;
    Ok(())
}
