//! OpenTelemetry traces: a server span per request, joined to the caller's trace through its
//! W3C `traceparent`, and a child span per SQLite statement, exported over OTLP/HTTP.
//!
//! Each service has a tracer provider of its own, whose resource names it (`service.name` =
//! `catalog`, …), so spans stay told apart when several services share one process, as in
//! [`crate::demo`]. The OpenTelemetry API is used directly rather than through
//! tracing-opentelemetry: that bridge serves one tracer per subscriber, and here one process may
//! hold four.
//!
//! Tracing is off unless an endpoint is given; then [`ServiceTracer::layer`] adds nothing and a
//! request's context carries no tracer, so no span is ever made.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};

/// Where the services send their spans, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    endpoint: Option<String>,
    schedule_delay: Option<Duration>,
}

impl Telemetry {
    /// No tracing.
    pub fn off() -> Self {
        Self::default()
    }

    /// Export to the OTLP/HTTP collector at `endpoint`, a base URL such as
    /// `http://127.0.0.1:4318` (spans go to its `/v1/traces`).
    pub fn otlp(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            schedule_delay: None,
        }
    }

    /// How long finished spans wait to be sent in a batch. Unset, it is
    /// `OTEL_BSP_SCHEDULE_DELAY` or the SDK's 5 s; tests want it short.
    #[must_use]
    pub fn with_schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = Some(delay);
        self
    }

    pub fn is_on(&self) -> bool {
        self.endpoint.is_some()
    }

    /// The tracer of the service `service` (its `service.name`): a provider of its own with a
    /// batch exporter, or an off tracer when tracing is off.
    pub fn tracer(&self, service: &'static str) -> Result<ServiceTracer, TelemetryError> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(ServiceTracer::off());
        };
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .build()?;
        let mut batch = BatchConfigBuilder::default();
        if let Some(delay) = self.schedule_delay {
            batch = batch.with_scheduled_delay(delay);
        }
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch.build())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let tracer = provider.tracer("tessera-services");
        Ok(ServiceTracer(Some(Arc::new(On { provider, tracer }))))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("flushing spans failed: {0}")]
    Flush(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// One service's tracer, or none. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ServiceTracer(Option<Arc<On>>);

#[derive(Debug)]
struct On {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl ServiceTracer {
    pub fn off() -> Self {
        Self(None)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// `app` with a server span around each of its requests; `app` as it is when off.
    ///
    /// Layered on the finished router (after its routes are merged), so the span can be named
    /// after the matched route and covers injected faults too.
    pub fn layer(&self, app: Router) -> Router {
        match &self.0 {
            None => app,
            Some(on) => app.layer(middleware::from_fn_with_state(
                on.tracer.clone(),
                trace_request,
            )),
        }
    }

    /// Sends the spans still waiting. Blocks until the collector answers: call it from a
    /// blocking thread (`spawn_blocking`), never from a runtime thread that may also run the
    /// collector.
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        match &self.0 {
            None => Ok(()),
            Some(on) => Ok(on.provider.force_flush()?),
        }
    }

    /// Flushes and stops exporting; blocks like [`ServiceTracer::force_flush`].
    pub fn shutdown(&self) -> Result<(), TelemetryError> {
        match &self.0 {
            None => Ok(()),
            Some(on) => Ok(on.provider.shutdown()?),
        }
    }
}

/// The server span of one request: named `METHOD /route`, a child of the caller's span when
/// the request carries a valid `traceparent`, a new trace otherwise.
async fn trace_request(State(tracer): State<SdkTracer>, request: Request, next: Next) -> Response {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.clone(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.path", request.uri().path().to_owned()),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route));
    }
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span).with_value(SqlTracer(tracer));
    // If the client goes away first, this future is dropped with `cx`, and dropping the span
    // ends it.
    let response = next.run(request).with_context(cx.clone()).await;
    let status = response.status();
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    // For a server span only 5xx is an error: a 4xx is the client's.
    if status.is_server_error() {
        span.set_status(Status::error(status.canonical_reason().unwrap_or_default()));
    }
    span.end();
    response
}

/// What a traced request's context carries so that its SQLite statements become spans.
struct SqlTracer(SdkTracer);

/// The parent of the statement spans of one `Db::call`: the request it serves, if traced.
pub(crate) struct StatementParent {
    tracer: SdkTracer,
    cx: Context,
}

impl fmt::Debug for StatementParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatementParent")
            .field("span", &self.cx.span().span_context())
            .finish()
    }
}

impl StatementParent {
    /// The current request's span, when the request is traced; `None` costs a thread-local
    /// look-up.
    pub(crate) fn current() -> Option<Self> {
        Context::map_current(|cx| {
            cx.get::<SqlTracer>().map(|SqlTracer(tracer)| Self {
                tracer: tracer.clone(),
                cx: cx.clone(),
            })
        })
    }

    /// Records one statement that just finished after running for `took`.
    pub(crate) fn finished(&self, sql: &str, took: Duration) {
        let end = SystemTime::now();
        let start = end.checked_sub(took).unwrap_or(end);
        // The text as written in the code, parameters unexpanded (`?1`), so no value leaks.
        let text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let operation = text
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let name = if operation.is_empty() {
            "sqlite".to_owned()
        } else {
            operation.clone()
        };
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("db.system.name", "sqlite"),
                KeyValue::new("db.operation.name", operation),
                KeyValue::new("db.query.text", text),
            ])
            .start_with_context(&self.tracer, &self.cx);
        span.end_with_timestamp(end);
    }
}
