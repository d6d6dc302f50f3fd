//! Request ids: taken from the client or made, echoed on the response, passed to upstreams and
//! put in error bodies and log spans.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// The header a request id travels in, both ways.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if called inside [`with_request_id`].
pub(crate) fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Takes the client's `x-request-id` (if short and printable) or makes one, makes it available
/// to handlers and error bodies while `run` answers, and echoes it on the response.
pub(crate) async fn with_request_id<F>(
    mut request: Request,
    run: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let header = HeaderValue::from_str(&id).expect("request ids are printable ASCII");
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, header.clone());
    // The request's span, for logs and traces: it continues the caller's trace, and `observe`
    // names it after its route (`GET /api/views/product/{id}`) once that is known.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        otel.kind = "server",
        tessera.route = tracing::field::Empty,
        tessera.name = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, request.headers());
    let mut response =
        tracing::Instrument::instrument(REQUEST_ID.scope(id, run(request)), span).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    response
}

fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Process start (nanos) + counter: unique per process without a random source.
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    format!(
        "{:x}-{:x}",
        start & 0xffff_ffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
