//! Request metrics and the access log: every request counted by route, name and status
//! class, timed to its response head, counted while in flight, and logged in one line.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use prometheus_client::metrics::gauge::Gauge;

use super::request_id::request_id;
use super::state::{App, AppState};
use super::views::PartsSummary;
use crate::telemetry;

/// The response header naming the configuration generation that answered.
pub(crate) const GENERATION_HEADER: HeaderName = HeaderName::from_static("x-tessera-generation");
/// The response header with the request's trace id (when traces are exported), so one
/// browser request can be found in the collector.
pub(crate) const TRACE_HEADER: HeaderName = HeaderName::from_static("x-trace-id");

/// Loads the running generation for the request (its handlers all see that one), and counts
/// and times the request (see [`crate::metrics::Metrics::request`]).
pub(crate) async fn observe<F>(
    live: &AppState,
    mut request: Request,
    run: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let app = live.current();
    request.extensions_mut().insert(app.clone());
    let (route, name) = route_of(&app, request.uri().path());
    let metrics = &app.metrics;
    // The request's span (made with its id, outside this layer) gets its route's name.
    let span = tracing::Span::current();
    let method = request.method();
    // Named only when traced: the name is per-request formatting nobody else reads.
    telemetry::rename(&span, || span_name(method, route, name));
    span.record("tessera.route", route);
    span.record("tessera.name", name);
    let trace_id = telemetry::trace_id(&span);
    // A guard: a request whose client went away is dropped mid-way, and still leaves.
    let in_flight = InFlight::new(&metrics.in_flight);
    let started = Instant::now();
    let mut response = run(request).await;
    drop(in_flight);
    let headers = response.headers_mut();
    headers.insert(GENERATION_HEADER, HeaderValue::from(app.generation));
    if let Some(id) = trace_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert(TRACE_HEADER, id);
    }
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
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
        trace_id = trace_id.as_deref().unwrap_or(""),
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
        ("healthz" | "readyz", None) => ("health", ""),
        ("metrics", None) => ("metrics", ""),
        _ => ("assets", ""),
    }
}

/// A request span's name: the method and the route's template with its configured name,
/// `GET /api/views/product/{id}` (never the id itself: names must stay few).
fn span_name(method: &axum::http::Method, route: &str, name: &str) -> String {
    let template = match route {
        "view" => format!("/api/views/{name}/{{id}}"),
        "part" => format!("/api/parts/{name}/{{part}}/{{id}}"),
        "action" => format!("/api/actions/{name}/{{id}}"),
        "media" => format!("/media/{name}/{{file}}"),
        "health" => "/healthz".to_owned(),
        "metrics" => "/metrics".to_owned(),
        "admin" => "/admin".to_owned(),
        _ => "(front end)".to_owned(),
    };
    format!("{method} {template}")
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
