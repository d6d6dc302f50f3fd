//! A test OTLP/HTTP trace receiver: it takes the spans that exporters send to `POST /v1/traces`
//! (protobuf, plain or gzip), decodes them with the official proto types and keeps them for
//! assertions.
//!
//! The receiver serves from a thread of its own, with its own small Tokio runtime, and stops
//! when the [`OtlpReceiver`] is dropped. It does not run on the test's runtime on purpose: the
//! SDK's `force_flush` and `shutdown` block the calling thread until the export is answered,
//! and a test on a current-thread runtime that called them (or dropped the last provider) would
//! otherwise wait on a receiver that its own blocked thread is meant to run.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message;
use tokio::sync::{oneshot, watch};

/// The most an export may carry: the exporters' own cap on a request body.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One span as it arrived, with ids as lowercase hex.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    /// `service.name` from the span's resource; empty when the resource names none.
    pub service_name: String,
    /// The name of the instrumentation scope (the tracer) that made the span.
    pub scope: String,
    /// Every attribute, its value rendered as text (see [`ReceivedSpan::attribute`]).
    pub attributes: BTreeMap<String, String>,
    pub status: SpanStatus,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
}

impl ReceivedSpan {
    /// The attribute `key`, as text: strings as they are, numbers and booleans as Rust prints
    /// them, arrays as `[a, b]`, byte strings as hex.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// Whether `parent` is this span's parent (same trace, and its span id).
    pub fn is_child_of(&self, parent: &ReceivedSpan) -> bool {
        self.trace_id == parent.trace_id
            && self.parent_span_id.as_deref() == Some(parent.span_id.as_str())
    }
}

impl fmt::Display for ReceivedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} {:?} trace={} span={} parent={} {:?}",
            self.service_name,
            self.kind,
            self.name,
            self.trace_id,
            self.span_id,
            self.parent_span_id.as_deref().unwrap_or("-"),
            self.attributes,
        )
    }
}

/// The kind of a span, as OTLP encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// The status of a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    /// An error, with its description (often empty).
    Error(String),
}

#[derive(Debug)]
struct Shared {
    spans: Mutex<Vec<ReceivedSpan>>,
    /// How many spans have arrived; waiters watch it.
    arrived: watch::Sender<usize>,
}

impl Shared {
    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A running receiver on a loopback port. Dropping it stops it.
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
        listener
            .set_nonblocking(true)
            .expect("a socket can be made non-blocking");
        let addr = listener.local_addr().expect("bound socket has an address");
        let (arrived, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            spans: Mutex::new(Vec::new()),
            arrived,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route("/v1/traces", post(export))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a Tokio runtime can be built");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a bound std listener converts");
                    // Not a graceful shutdown: when the test is done, idle keep-alive
                    // connections must not hold the receiver open.
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("a thread can be spawned");
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`: what `OTEL_EXPORTER_OTLP_ENDPOINT` takes, and
    /// what Tessera's services and BFF take as their OTLP endpoint (they append `/v1/traces`).
    /// An `opentelemetry-otlp` exporter given an endpoint in code uses it as it is, so give it
    /// [`OtlpReceiver::traces_url`] instead.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full URL exporters post to: `http://127.0.0.1:PORT/v1/traces`.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.endpoint())
    }

    /// Every span received so far, in the order they arrived.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.spans()
    }

    /// The spans received so far of the trace `trace_id` (lowercase hex).
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let mut spans = self.spans();
        spans.retain(|s| s.trace_id == trace_id);
        spans
    }

    /// Waits until `done` holds for the spans received so far, and returns them.
    ///
    /// # Panics
    ///
    /// After `timeout`, listing what did arrive. The timeout runs on Tokio's clock: do not use
    /// this in a test with paused time, where the clock would jump ahead while the exporter's
    /// threads are still at work.
    pub async fn wait_for(
        &self,
        mut done: impl FnMut(&[ReceivedSpan]) -> bool,
        timeout: Duration,
    ) -> Vec<ReceivedSpan> {
        let mut arrived = self.shared.arrived.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                // Subscribed before looking, so no arrival between the look and the wait is
                // missed.
                let spans = self.spans();
                if done(&spans) {
                    return spans;
                }
                arrived
                    .changed()
                    .await
                    .expect("the sender lives as long as the receiver");
            }
        })
        .await;
        match waited {
            Ok(spans) => spans,
            Err(_) => {
                let spans = self.spans();
                let listed: Vec<String> = spans.iter().map(ToString::to_string).collect();
                panic!(
                    "the expected spans did not arrive within {timeout:?}; {} arrived:\n{}",
                    spans.len(),
                    listed.join("\n")
                );
            }
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Joined so the port refuses connections once the receiver is gone.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `POST /v1/traces`: the OTLP/HTTP binary protocol.
async fn export(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-protobuf" {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this receiver takes application/x-protobuf only",
        )
            .into_response();
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    let body = match encoding {
        "identity" => body.to_vec(),
        "gzip" => {
            let mut plain = Vec::new();
            if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain) {
                return (StatusCode::BAD_REQUEST, format!("bad gzip body: {e}")).into_response();
            }
            plain
        }
        other => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other:?}"),
            )
                .into_response();
        }
    };
    let request = match ExportTraceServiceRequest::decode(&body[..]) {
        Ok(request) => request,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("bad protobuf body: {e}")).into_response();
        }
    };
    let received = flatten(request);
    let count = {
        let mut spans = shared.spans.lock().unwrap_or_else(|p| p.into_inner());
        spans.extend(received);
        spans.len()
    };
    shared.arrived.send_replace(count);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        )],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

/// The spans of an export, each with its resource's service name and its scope's name.
fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let service_name = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(render)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            for span in scope_spans.spans {
                let status = match span.status {
                    Some(s) if s.code == status::StatusCode::Error as i32 => {
                        SpanStatus::Error(s.message)
                    }
                    Some(s) if s.code == status::StatusCode::Ok as i32 => SpanStatus::Ok,
                    _ => SpanStatus::Unset,
                };
                out.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    kind: kind(span.kind),
                    service_name: service_name.clone(),
                    scope: scope.clone(),
                    attributes: attributes(&span.attributes),
                    status,
                    start_unix_nanos: span.start_time_unix_nano,
                    end_unix_nanos: span.end_time_unix_nano,
                });
            }
        }
    }
    out
}

fn kind(code: i32) -> SpanKind {
    match span::SpanKind::try_from(code) {
        Ok(span::SpanKind::Internal) => SpanKind::Internal,
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(span::SpanKind::Unspecified) | Err(_) => SpanKind::Unspecified,
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(render).unwrap_or_default(),
            )
        })
        .collect()
}

fn render(value: &AnyValue) -> String {
    match &value.value {
        // A string-table index is for profiles only; traces must treat it as absent.
        None | Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(l)) => format!("{:?}", attributes(&l.values)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use opentelemetry::KeyValue;
    use opentelemetry::trace::{
        Span as _, SpanKind as ApiKind, TraceContextExt, Tracer as _, TracerProvider as _,
    };
    use opentelemetry_otlp::{Compression, Protocol, WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    /// A provider exporting through the real OTLP/HTTP exporter to `url`, in batches sent
    /// every 20 ms.
    fn provider(url: String, service: &'static str, gzip: bool) -> SdkTracerProvider {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url);
        if gzip {
            exporter = exporter.with_compression(Compression::Gzip);
        }
        let exporter = exporter.build().unwrap();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(20))
                    .build(),
            )
            .build();
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build()
    }

    #[tokio::test]
    async fn spans_from_the_otlp_exporter_arrive_decoded() {
        let receiver = OtlpReceiver::start().await;
        let provider = provider(receiver.traces_url(), "unit", false);
        let tracer = provider.tracer("testkit");
        let parent = tracer
            .span_builder("GET /things/{id}")
            .with_kind(ApiKind::Server)
            .with_attributes([
                KeyValue::new("http.route", "/things/{id}"),
                KeyValue::new("http.response.status_code", 200),
            ])
            .start(&tracer);
        let cx = opentelemetry::Context::current_with_span(parent);
        tracer.start_with_context("child", &cx).end();
        cx.span().end();

        let spans = receiver.wait_for(|spans| spans.len() == 2, WAIT).await;
        let parent = spans.iter().find(|s| s.name == "GET /things/{id}").unwrap();
        let child = spans.iter().find(|s| s.name == "child").unwrap();
        assert_eq!(parent.kind, SpanKind::Server);
        assert_eq!(parent.service_name, "unit");
        assert_eq!(parent.scope, "testkit");
        assert_eq!(parent.attribute("http.route"), Some("/things/{id}"));
        assert_eq!(parent.attribute("http.response.status_code"), Some("200"));
        assert_eq!(parent.parent_span_id, None);
        assert_eq!(parent.trace_id.len(), 32);
        assert_eq!(parent.span_id.len(), 16);
        assert!(
            parent
                .trace_id
                .chars()
                .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        );
        assert!(parent.start_unix_nanos > 0 && parent.end_unix_nanos >= parent.start_unix_nanos);
        assert!(child.is_child_of(parent));
        assert_eq!(child.kind, SpanKind::Internal);
        assert_eq!(receiver.trace(&parent.trace_id).len(), 2);
        // Blocking, but safe on this runtime: the receiver serves from its own thread.
        provider.shutdown().unwrap();
    }

    #[tokio::test]
    async fn exports_one_after_another_all_arrive() {
        let receiver = OtlpReceiver::start().await;
        let provider = provider(receiver.traces_url(), "twice", false);
        let tracer = provider.tracer("testkit");
        for n in 1..=3 {
            tracer.start(format!("span {n}")).end();
            receiver.wait_for(|spans| spans.len() == n, WAIT).await;
        }
        provider.shutdown().unwrap();
    }

    #[tokio::test]
    async fn gzip_compressed_exports_are_accepted() {
        let receiver = OtlpReceiver::start().await;
        let provider = provider(receiver.traces_url(), "zipped", true);
        let mut span = provider.tracer("testkit").start("compressed");
        span.set_status(opentelemetry::trace::Status::error("broken"));
        span.end();
        let spans = receiver.wait_for(|spans| !spans.is_empty(), WAIT).await;
        assert_eq!(spans[0].name, "compressed");
        assert_eq!(spans[0].service_name, "zipped");
        assert_eq!(spans[0].status, SpanStatus::Error("broken".into()));
        provider.shutdown().unwrap();
    }

    #[tokio::test]
    async fn answers_as_the_otlp_http_protocol_says() {
        let receiver = OtlpReceiver::start().await;
        let client = reqwest::Client::new();
        let post = |content_type: &'static str, encoding: Option<&'static str>, body: Vec<u8>| {
            let mut request = client
                .post(receiver.traces_url())
                .header("content-type", content_type)
                .body(body);
            if let Some(encoding) = encoding {
                request = request.header("content-encoding", encoding);
            }
            request.send()
        };

        // A hand-gzipped empty export: 200 with an empty ExportTraceServiceResponse.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&ExportTraceServiceRequest::default().encode_to_vec())
            .unwrap();
        let ok = post("application/x-protobuf", Some("gzip"), gz.finish().unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "application/x-protobuf");
        let body = ok.bytes().await.unwrap();
        assert_eq!(
            ExportTraceServiceResponse::decode(&body[..]).unwrap(),
            ExportTraceServiceResponse::default()
        );

        let json = post("application/json", None, b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(json.status(), 415);
        let garbage = post("application/x-protobuf", None, vec![0xff; 7])
            .await
            .unwrap();
        assert_eq!(garbage.status(), 400);
        let wrong_path = client
            .post(format!("{}/v1/logs", receiver.endpoint()))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong_path.status(), 404);
        assert!(receiver.spans().is_empty());
    }

    #[tokio::test]
    async fn the_port_is_closed_once_the_receiver_is_dropped() {
        let receiver = OtlpReceiver::start().await;
        let url = receiver.traces_url();
        drop(receiver);
        assert!(reqwest::Client::new().post(url).send().await.is_err());
    }
}
