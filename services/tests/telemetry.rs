//! The services join a caller's trace: a server span per request, parented by the incoming
//! `traceparent`, a child span per SQLite statement, and one `service.name` per service even
//! when all five share a process.

mod support;

use std::time::Duration;

use tessera_services::catalog::Catalog;
use tessera_services::demo::Demo;
use tessera_services::{FaultSwitch, Faults, Scale, Telemetry};
use tessera_testkit::otlp::{OtlpReceiver, ReceivedSpan, SpanKind, SpanStatus};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";
const WAIT: Duration = Duration::from_secs(10);

/// Export promptly, so a test waits milliseconds for its spans rather than the SDK's 5 s.
fn telemetry(receiver: &OtlpReceiver) -> Telemetry {
    Telemetry::otlp(receiver.endpoint()).with_schedule_delay(Duration::from_millis(20))
}

fn traceparent() -> String {
    format!("00-{TRACE}-{CALLER}-01")
}

async fn get_traced(client: &reqwest::Client, url: String) -> reqwest::StatusCode {
    client
        .get(url)
        .header("traceparent", traceparent())
        .send()
        .await
        .unwrap()
        .status()
}

fn server_span<'a>(spans: &'a [ReceivedSpan], service: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.service_name == service)
}

#[tokio::test]
async fn a_request_joins_the_callers_trace_with_a_span_per_sqlite_statement() {
    let receiver = OtlpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db"), Scale::SMALL).unwrap();
    let tracer = telemetry(&receiver).tracer("catalog").unwrap();
    let addr = support::serve(tracer.layer(catalog.router(FaultSwitch::default()))).await;

    let client = reqwest::Client::new();
    let status = get_traced(&client, format!("http://{addr}/products/1")).await;
    assert_eq!(status, 200);

    let spans = receiver
        .wait_for(|spans| server_span(spans, "catalog").is_some(), WAIT)
        .await;
    let server = server_span(&spans, "catalog").unwrap();
    assert_eq!(server.name, "GET /products/{id}");
    assert_eq!(server.trace_id, TRACE);
    assert_eq!(server.parent_span_id.as_deref(), Some(CALLER));
    assert_eq!(server.attribute("http.route"), Some("/products/{id}"));
    assert_eq!(server.attribute("http.request.method"), Some("GET"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));
    assert_eq!(server.status, SpanStatus::Unset);

    // The statement ends before the response does, so it was exported no later.
    let query = spans
        .iter()
        .find(|s| s.is_child_of(server))
        .expect("the SQLite statement has a span under the request's");
    assert_eq!(query.kind, SpanKind::Client);
    assert_eq!(query.service_name, "catalog");
    assert_eq!(query.name, "SELECT");
    assert_eq!(query.attribute("db.system.name"), Some("sqlite"));
    assert_eq!(query.attribute("db.operation.name"), Some("SELECT"));
    let text = query.attribute("db.query.text").unwrap();
    assert!(text.contains("FROM products p JOIN categories c"), "{text}");
    assert!(text.contains("?1"), "parameters stay unexpanded: {text}");
    // Not compared with the request's own times: the statement's start is derived from
    // SQLite's own duration figure, which a wall clock can put a hair before the request's.
    assert!(query.end_unix_nanos >= query.start_unix_nanos);
}

#[tokio::test]
async fn the_in_process_demo_names_each_service_and_marks_server_errors() {
    let receiver = OtlpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start_with(dir.path(), Scale::SMALL, &telemetry(&receiver))
        .await
        .unwrap();
    demo.reviews.faults.set(Faults::failing(503));
    let client = reqwest::Client::new();
    for (url, expected) in [
        (format!("http://{}/products/1", demo.catalog.addr), 200),
        (
            format!("http://{}/products/1/stock", demo.inventory.addr),
            200,
        ),
        (
            format!("http://{}/products/1/summary", demo.reviews.addr),
            503,
        ),
        // No token: refused, which is the client's doing, not the server's.
        (format!("http://{}/me", demo.accounts.addr), 401),
    ] {
        assert_eq!(get_traced(&client, url.clone()).await, expected, "{url}");
    }
    // No traceparent: a trace of its own.
    let untraced = client
        .get(format!("http://{}/healthz", demo.recommendations.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(untraced.status(), 200);

    let services = [
        "catalog",
        "inventory",
        "reviews",
        "recommendations",
        "accounts",
    ];
    let spans = receiver
        .wait_for(
            |spans| services.iter().all(|s| server_span(spans, s).is_some()),
            WAIT,
        )
        .await;
    for service in &services[..3] {
        let server = server_span(&spans, service).unwrap();
        assert_eq!(server.trace_id, TRACE, "{service}");
        assert_eq!(server.parent_span_id.as_deref(), Some(CALLER), "{service}");
    }
    let stock = server_span(&spans, "inventory").unwrap();
    assert_eq!(stock.name, "GET /products/{id}/stock");
    assert!(
        spans
            .iter()
            .any(|s| s.is_child_of(stock) && s.service_name == "inventory")
    );

    let failed = server_span(&spans, "reviews").unwrap();
    assert_eq!(failed.attribute("http.response.status_code"), Some("503"));
    assert!(matches!(failed.status, SpanStatus::Error(_)));
    assert!(
        !spans.iter().any(|s| s.is_child_of(failed)),
        "an injected fault answers before any query"
    );

    let refused = server_span(&spans, "accounts").unwrap();
    assert_eq!(refused.name, "GET /me");
    assert_eq!(refused.trace_id, TRACE);
    assert_eq!(refused.attribute("http.response.status_code"), Some("401"));
    assert_eq!(
        refused.status,
        SpanStatus::Unset,
        "a 4xx is not a server error"
    );

    let health = server_span(&spans, "recommendations").unwrap();
    assert_eq!(health.name, "GET /healthz");
    assert_eq!(health.parent_span_id, None);
    assert_ne!(health.trace_id, TRACE);
}
