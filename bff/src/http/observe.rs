//! Request metrics and the access log: every request counted by route, name and status
//! class, timed to its response head, counted while in flight, and logged in one line.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::gauge::Gauge;

use super::request_id::request_id;
use super::state::{App, AppState};
use super::views::PartsSummary;

/// The response header naming the configuration generation that answered.
pub(crate) const GENERATION_HEADER: &str = "x-tessera-generation";

/// Loads the running generation for the request (its handlers all see that one), and counts
/// and times the request (see [`crate::metrics::Metrics::request`]).
pub(crate) async fn observe(
    State(live): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let app = live.current();
    request.extensions_mut().insert(app.clone());
    let (route, name) = route_of(&app, request.uri().path());
    let metrics = &app.metrics;
    // A guard: a request whose client went away is dropped mid-way, and still leaves.
    let in_flight = InFlight::new(&metrics.in_flight);
    let started = Instant::now();
    let mut response = next.run(request).await;
    drop(in_flight);
    response
        .headers_mut()
        .insert(GENERATION_HEADER, HeaderValue::from(app.generation));
    let took = started.elapsed();
    let status = response.status().as_u16();
    metrics.request(route, name, status, took);
    let parts = response
        .extensions()
        .get::<PartsSummary>()
        .map_or("", |summary| summary.0.as_str());
    tracing::info!(
        target: "tessera_bff::access",
        request_id = request_id().as_deref().unwrap_or(""),
        route,
        name,
        status,
        ms = took.as_secs_f64() * 1e3,
        parts,
    );
    response
}

/// The route of a path and the configured name it names (borrowed from the configuration, so
/// the request can move on): `""` when the route names none, `other` for a name the
/// configuration does not have (clients cannot mint series).
fn route_of<'a>(app: &'a App, path: &str) -> (&'static str, &'a str) {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    let second = segments.next();
    let known = |name: Option<&'a str>| name.unwrap_or("other");
    match (first, second) {
        ("api", Some("views")) => ("view", known(app.composer.view_name(segments.next()))),
        ("api", Some("parts")) => ("part", known(app.composer.view_name(segments.next()))),
        ("api", Some("actions")) => (
            "action",
            known(key_of(&app.config.actions, segments.next())),
        ),
        ("api", _) => ("view", "other"),
        ("media", media) => ("media", known(key_of(&app.config.media, media))),
        ("admin", _) => ("admin", ""),
        ("healthz", None) => ("health", ""),
        ("metrics", None) => ("metrics", ""),
        _ => ("assets", ""),
    }
}

/// The map's own copy of `name`, if it has that key.
fn key_of<'a, V>(
    map: &'a std::collections::BTreeMap<String, V>,
    name: Option<&str>,
) -> Option<&'a str> {
    map.get_key_value(name?).map(|(key, _)| key.as_str())
}

/// Counts a request in `tessera_http_requests_in_flight` while it lives.
struct InFlight(Gauge<i64, AtomicI64>);

impl InFlight {
    fn new(gauge: &Gauge<i64, AtomicI64>) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
