//! OpenTelemetry traces (issue 16): the real BFF binary exports its spans over OTLP to the
//! testkit's receiver (the official OTLP protobuf messages), passes `traceparent` on to the
//! data services, which join the trace with spans of their own, and answers with the trace id.

mod support;

use std::time::Duration;

use support::{Binary, config_text};
use tessera_services::demo::Demo;
use tessera_services::{Scale, Telemetry};
use tessera_testkit::otlp::{OtlpReceiver, ReceivedSpan, SpanKind};

const WAIT: Duration = Duration::from_secs(15);

/// The built-in configuration over `demo`, exporting to `receiver` promptly.
fn traced_config(demo: &Demo, receiver: &OtlpReceiver, trust_traceparent: bool) -> String {
    let extra = format!(
        "\n[telemetry]\notlp_endpoint = \"{}\"\nexport_delay_ms = 20\ntrust_traceparent = {trust_traceparent}\n",
        receiver.endpoint()
    );
    config_text(&demo.upstreams(), &extra)
}

fn bff_spans<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.service_name == "tessera-bff" && s.name.starts_with(name))
        .collect()
}

#[tokio::test]
async fn one_product_page_request_is_one_trace_across_the_bff_and_the_services() {
    let receiver = OtlpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let telemetry =
        Telemetry::otlp(receiver.endpoint()).with_schedule_delay(Duration::from_millis(20));
    let demo = Demo::start_with(dir.path(), Scale::SMALL, &telemetry)
        .await
        .unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, traced_config(&demo, &receiver, false)).unwrap();
    let bff = Binary::start(&file, &[]).await;

    // The product page's view request, as the browser sends it.
    let response = reqwest::Client::new()
        .get(format!("http://{}/api/views/product/7", bff.addr))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let trace_id = response.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    response.bytes().await.unwrap();

    let spans = receiver
        .wait_for(
            |spans| {
                let services: std::collections::BTreeSet<&str> = spans
                    .iter()
                    .filter(|s| s.trace_id == trace_id && s.kind == SpanKind::Server)
                    .map(|s| s.service_name.as_str())
                    .collect();
                services.contains("tessera-bff") && services.len() >= 3
            },
            WAIT,
        )
        .await;
    let trace: Vec<ReceivedSpan> = spans
        .into_iter()
        .filter(|s| s.trace_id == trace_id)
        .collect();

    // The BFF: one request span at the root, a span per part under it, and under each part
    // its cache lookup (if cached) and the upstream attempts.
    let request = bff_spans(&trace, "GET /api/views/product/{id}");
    assert_eq!(request.len(), 1, "{trace:#?}");
    let request = request[0];
    assert_eq!(request.kind, SpanKind::Server);
    assert_eq!(
        request.parent_span_id, None,
        "a request without traceparent is a root"
    );
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    assert_eq!(request.attribute("tessera.name"), Some("product"));
    let parts = bff_spans(&trace, "part product.");
    assert!(parts.len() >= 4, "{parts:#?}");
    for part in &parts {
        assert!(part.is_child_of(request), "{part:#?}");
        assert!(part.attribute("tessera.outcome").is_some(), "{part:#?}");
    }
    let summary = parts
        .iter()
        .find(|p| p.name == "part product.product")
        .unwrap();
    let lookup = bff_spans(&trace, "cache product.product");
    assert_eq!(lookup.len(), 1, "{trace:#?}");
    assert!(lookup[0].is_child_of(summary));
    assert_eq!(lookup[0].attribute("tessera.cache"), Some("miss"));
    let attempts = bff_spans(&trace, "GET ");
    let attempts: Vec<&&ReceivedSpan> = attempts
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert!(attempts.len() >= 4, "{attempts:#?}");

    // Each service's server span is the child of one of the BFF's attempts, and has its
    // SQLite statements under it.
    let mut services = Vec::new();
    for server in trace
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.service_name != "tessera-bff")
    {
        let attempt = attempts.iter().find(|a| server.is_child_of(a));
        assert!(attempt.is_some(), "{server:#?} has no attempt parent");
        let attempt = attempt.unwrap();
        assert_eq!(
            attempt.attribute("tessera.upstream"),
            Some(server.service_name.as_str())
        );
        assert_eq!(attempt.attribute("tessera.attempt"), Some("1"));
        assert!(
            trace
                .iter()
                .any(|q| q.is_child_of(server) && q.attribute("db.system.name") == Some("sqlite")),
            "{} ran no traced query",
            server.service_name
        );
        services.push(server.service_name.clone());
    }
    services.sort();
    services.dedup();
    assert!(services.len() >= 2, "{services:?}");
}

#[tokio::test]
async fn a_caller_traceparent_is_continued_only_when_trusted() {
    let receiver = OtlpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    let file = dir.path().join("tessera.toml");
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traced = async |trust: bool| {
        std::fs::write(&file, traced_config(&demo, &receiver, trust)).unwrap();
        let bff = Binary::start(&file, &[]).await;
        let response = reqwest::Client::new()
            .get(format!("http://{}/api/parts/product/stock/3", bff.addr))
            .header(
                "traceparent",
                format!("00-{caller_trace}-00f067aa0ba902b7-01"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let trace_id = response.headers()["x-trace-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // The BFF runs on (to export its spans) until the test ends.
        (trace_id, bff)
    };
    // By default a client cannot choose the trace: the BFF faces browsers.
    let (untrusted, _first) = traced(false).await;
    assert_ne!(untrusted, caller_trace);
    let (trusted, _second) = traced(true).await;
    assert_eq!(trusted, caller_trace);
    let spans = receiver
        .wait_for(
            |spans| {
                spans
                    .iter()
                    .any(|s| s.trace_id == caller_trace && s.kind == SpanKind::Server)
            },
            WAIT,
        )
        .await;
    let request = spans
        .iter()
        .find(|s| s.trace_id == caller_trace && s.kind == SpanKind::Server)
        .unwrap();
    assert_eq!(request.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
}
