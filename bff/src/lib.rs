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
//! - `app`: one generation of all the above, built from one configuration; the running one,
//!   swapped whole by a reload; what triggers reloads.
//! - `metrics`: Prometheus metrics, shared by all of the above; `ops`: the per-second windows
//!   of the ops page.
//! - [`config`]: the one typed configuration (types, validation, sources, path templates).
//! - [`telemetry`]: logs and OpenTelemetry traces (the spans are made where the work is).
//! - [`assets`]: static hosting of the front end, the CDN export and the fingerprinting step.

mod app;
pub mod assets;
mod cache;
mod compose;
pub mod config;
mod http;
mod identity;
mod metrics;
mod ops;
pub mod telemetry;
mod upstream;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::{App, Live};
use crate::config::{Config, Loader};
use crate::metrics::Metrics;

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
    #[error("identity.keys_dir: {0}")]
    Keys(String),
}

/// Writes a new signing key pair into the key ring at `dir` (`tessera-bff keys generate`):
/// its key id, or why not (a bad id, an existing key, a folder that cannot be written).
pub fn generate_key(dir: &std::path::Path, kid: Option<&str>) -> Result<String, String> {
    let kid = kid.map_or_else(identity::default_kid, str::to_owned);
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(plain) {
        return Err(format!(
            "{kid:?} is not a key id (letters, digits, '-' and '_', at most 64)"
        ));
    }
    identity::generate(dir, &kid)
        .map(|key| key.kid().to_owned())
        .map_err(|e| e.to_string())
}

/// Builds the application from a validated configuration held in memory (a reload finds
/// nothing to load). Must run inside a Tokio runtime (with a shared cache, it starts listening
/// for invalidations).
pub fn build(config: &Config) -> Result<axum::Router, StartError> {
    build_with(config.clone(), None)
}

/// Builds the application from `config`, as loaded by `loader`: reloads (SIGHUP,
/// `POST /admin/reload`, the file changing) load it again the same way.
pub fn build_with(config: Config, loader: Option<Loader>) -> Result<axum::Router, StartError> {
    Ok(axum::Router::new().fallback_service(service(config, loader)?))
}

/// The application as the one service a connection runs (what [`build_with`] wraps).
fn service(config: Config, loader: Option<Loader>) -> Result<http::HttpService, StartError> {
    let server = config.server.clone();
    let metrics = Metrics::for_config(&config);
    let app = App::first(config, metrics)?;
    let live = Arc::new(Live::new(app, loader));
    if let Some(shared) = live.current().cache.shared() {
        // Drops from other replicas go to whichever generation runs when they arrive.
        let weak = Arc::downgrade(&live);
        shared.listen(move |target, origin| {
            if let Some(live) = weak.upgrade() {
                live.current().cache.invalidate_local(target, origin);
                tracing::debug!(?target, origin, "invalidated by another replica");
            }
        });
    }
    app::watch(Arc::downgrade(&live));
    app::warm_up(Arc::downgrade(&live));
    Ok(http::router(live, &server))
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
    spawn_with(config.clone(), None).await
}

/// [`spawn`], with reloads from `loader`.
pub async fn spawn_with(
    config: Config,
    loader: Option<Loader>,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = config.server.clone();
    let app = service(config, loader)?;
    tokio::spawn(async move {
        http::serve(listener, app, &server, std::future::pending::<()>()).await;
    });
    Ok(addr)
}

/// Serves the BFF on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: Config,
    loader: Option<Loader>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let server = config.server.clone();
    let app = service(config, loader)?;
    http::serve(listener, app, &server, shutdown).await;
    Ok(())
}
