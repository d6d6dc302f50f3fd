//! Logs and OpenTelemetry traces.
//!
//! The BFF's spans are `tracing` spans (request, part, cache lookup, upstream attempt) at
//! `debug` level, bridged to OpenTelemetry by `tracing-opentelemetry` when
//! `telemetry.otlp_endpoint` is set, and exported in batches over OTLP/HTTP (protobuf). Without
//! an endpoint no layer wants them and they cost next to nothing. Only this crate's spans are
//! exported: the exporter's own HTTP requests must not become spans to export.
//!
//! The trace context goes to the data services as W3C `traceparent`, from each upstream
//! attempt's span, and an incoming `traceparent` makes a request part of its caller's trace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::{LogFormat, TelemetryConfig};

/// `telemetry.trust_traceparent`, set once by [`init`].
static TRUST_TRACEPARENT: AtomicBool = AtomicBool::new(false);
/// Whether [`init`] installed the exporter: without it no span has a trace context, and the
/// per-request look for one (a subscriber lookup and a context made) is skipped.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Why traces cannot be exported.
#[derive(Debug, thiserror::Error)]
#[error("telemetry.otlp_endpoint: {0}")]
pub struct TelemetryError(#[from] opentelemetry_otlp::ExporterBuildError);

/// The exporter, kept to send the last spans when the BFF stops.
#[derive(Debug)]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Sends the spans still waiting and stops the exporter (it blocks: call it off the
    /// runtime, or after it).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: the last spans could not be exported: {e}");
        }
    }
}

/// Installs the process's logging (to stdout in `format`, what is logged chosen by `RUST_LOG`) and, with an
/// endpoint, the trace exporter.
pub fn init(format: LogFormat, telemetry: &TelemetryConfig) -> Result<Tracing, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Text => fmt::layer().boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
    }
    .with_filter(filter);
    TRUST_TRACEPARENT.store(telemetry.trust_traceparent, Ordering::Relaxed);
    let Some(endpoint) = &telemetry.otlp_endpoint else {
        tracing_subscriber::registry().with(logs).init();
        return Ok(Tracing { provider: None });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(Duration::from_millis(telemetry.export_delay_ms))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_resource(
            Resource::builder()
                .with_service_name(telemetry.service_name.clone())
                .build(),
        )
        .build();
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("tessera-bff"))
        .with_filter(Targets::new().with_target("tessera_bff", tracing::Level::DEBUG));
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    EXPORTING.store(true, Ordering::Relaxed);
    tracing::info!(%endpoint, "exporting traces over OTLP");
    Ok(Tracing {
        provider: Some(provider),
    })
}

/// Makes `span` part of the trace an incoming `traceparent` names, if any and if trusted
/// (`telemetry.trust_traceparent`); otherwise the request begins a trace of its own.
pub(crate) fn continue_trace(span: &Span, headers: &HeaderMap) {
    if !TRUST_TRACEPARENT.load(Ordering::Relaxed) || !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only for a span no layer records (tracing is off): nothing to continue then.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` (and `tracestate`) naming `span`, for a call it makes; empty when
/// tracing is off.
pub(crate) fn propagation(span: &Span) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if !EXPORTING.load(Ordering::Relaxed) {
        return headers;
    }
    let context = span.context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(&mut headers));
    }
    headers
}

/// Names `span` in the trace, after it began (its route is known only once the request has
/// been looked at).
pub(crate) fn rename(span: &Span, name: impl FnOnce() -> String) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let context = span.context();
    let otel = context.span();
    if otel.span_context().is_valid() {
        otel.update_name(name());
    }
}

/// The trace id of `span` (32 lowercase hex digits), when it is being traced.
pub(crate) fn trace_id(span: &Span) -> Option<String> {
    if !EXPORTING.load(Ordering::Relaxed) {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
