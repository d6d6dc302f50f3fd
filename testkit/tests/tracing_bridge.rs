//! The BFF's recipe, checked end to end: `tracing` spans bridged by tracing-opentelemetry to an
//! OTLP/HTTP exporter, joined to an incoming `traceparent`, passing their own on to a reqwest
//! 0.13 request, and arriving at the test receiver correctly parented.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::HeaderInjector;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tessera_testkit::otlp::{OtlpReceiver, SpanKind};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn tracing_spans_join_the_callers_trace_and_propagate() {
    let receiver = OtlpReceiver::start().await;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(receiver.traces_url())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_scheduled_delay(Duration::from_millis(20))
                        .build(),
                )
                .build(),
        )
        .with_resource(Resource::builder().with_service_name("tessera-bff").build())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tessera-bff")));

    let propagator = TraceContextPropagator::new();
    let incoming = HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"),
    )]);
    // Synchronous on purpose: `with_default` sets the subscriber for this thread only.
    let (outgoing, current_trace) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(
            "request",
            otel.name = "GET /api/views/product/{id}",
            otel.kind = "server",
            http.route = "/api/views/product/{id}",
        );
        request.set_parent(propagator.extract(&incoming)).unwrap();
        let _in_request = request.enter();
        let attempt = tracing::info_span!(
            "upstream attempt",
            otel.kind = "client",
            upstream = "catalog"
        );
        let _in_attempt = attempt.enter();
        let mut headers = reqwest::header::HeaderMap::new();
        propagator.inject_context(
            &tracing::Span::current().context(),
            &mut HeaderInjector(&mut headers),
        );
        let trace_id = tracing::Span::current()
            .context()
            .span()
            .span_context()
            .trace_id()
            .to_string();
        (headers, trace_id)
    });
    assert_eq!(current_trace, CALLER_TRACE);
    let traceparent = outgoing["traceparent"].to_str().unwrap().to_owned();
    // A reqwest 0.13 request takes the injected map as it is (both are http 1's HeaderMap).
    let request = reqwest::Client::new()
        .get("http://127.0.0.1:9/")
        .headers(outgoing)
        .build()
        .unwrap();
    assert_eq!(request.headers()["traceparent"], traceparent.as_str());

    let spans = receiver
        .wait_for(|spans| spans.len() == 2, Duration::from_secs(10))
        .await;
    let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    let client = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
    assert_eq!(server.name, "GET /api/views/product/{id}");
    assert_eq!(server.service_name, "tessera-bff");
    assert_eq!(server.trace_id, CALLER_TRACE);
    assert_eq!(server.parent_span_id.as_deref(), Some(CALLER_SPAN));
    assert_eq!(
        server.attribute("http.route"),
        Some("/api/views/product/{id}")
    );
    assert!(client.is_child_of(server));
    assert_eq!(client.attribute("upstream"), Some("catalog"));
    // The header carries the attempt's span, the parent the service's span will name.
    assert_eq!(
        traceparent,
        format!("00-{CALLER_TRACE}-{}-01", client.span_id)
    );
    provider.shutdown().unwrap();
}
