//! Serving connections: HTTP/1.1 with a deadline on each request head (a client that sends
//! half a request, or keeps an idle connection open, is closed when it passes) and a bound on
//! its size, and a graceful shutdown that finishes in-flight requests and streams.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires under it; this is
//! the same loop with the limits set.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::ServerConfig;

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections to
/// finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: super::HttpService,
    limits: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        // Heads past the limit (up to 1 MiB, or four times the limit) still reach the router,
        // which answers them with a JSON 431; hyper refuses anything larger itself (an empty
        // 431). The buffer only grows as far as a request needs.
        .max_buf_size((limits.max_header_bytes * 4).max(1024 * 1024));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written whole; waiting for an ACK before the next write only adds
        // latency.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut app = app.clone();
            let mut request = request.map(Body::new);
            // The client's address, for what is counted per client (failed sign-ins).
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower::Service::call(&mut app, request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
