//! The composite-view API: one view as a JSON document or as an NDJSON stream, and one part
//! alone. Request parsing (`?parts=`, `?page=`, the budget header) and HTTP caching (ETag, 304)
//! live here; running the view, and keeping it rendered, is [`crate::compose`]'s job.

use std::sync::atomic::AtomicI64;

use prometheus_client::metrics::gauge::Gauge;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tessera_contract::{PartOutcome, StreamLine, encode_part_line, if_none_match};

use super::error::{AppError, verdict_status};
use super::extract::{Path, Query};
use super::line_encoder::LineEncoder;
use super::request_id::request_id;
use super::session::caller;
use super::state::{App, Current};
use crate::compose::{self, Execution, Verdict, ViewRequest};

/// The request header with which a client asks for a shorter budget than the view's, in ms.
pub(crate) const BUDGET_HEADER: &str = "x-budget-ms";
/// The media type of a streamed view.
pub(crate) const NDJSON: &str = "application/x-ndjson";

/// The query string of the view and part routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ViewQuery {
    /// `?parts=a,b`: only these parts.
    parts: Option<String>,
    /// `?stream`: NDJSON, one line per part as it finishes.
    stream: Option<String>,
    /// `?page=N`: the page of paged parts (the `{page}` of their templates).
    page: Option<String>,
}

/// The query string of the part route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartQuery {
    page: Option<String>,
}

/// The largest page number accepted: far beyond any real list, small enough for any upstream.
const MAX_PAGE: u32 = 100_000;

/// `GET /api/views/{view}/{id}`.
pub(crate) async fn view(
    Current(state): Current,
    Path((view, id)): Path<(String, String)>,
    Query(query): Query<ViewQuery>,
    // Taken whole rather than as a `HeaderMap`, which would be a copy.
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let headers = request.headers();
    let parts = query.parts.as_deref().map(parse_parts).transpose()?;
    let personal = state.composer.is_personal(&view, parts.as_deref());
    let request = ViewRequest {
        parts,
        budget: budget(headers)?,
        page: query.page.as_deref().map(parse_page).transpose()?,
        request_id: request_id(),
        // The session is looked up only for a view that holds a user part.
        caller: if personal {
            caller(&state, headers).await?
        } else {
            None
        },
        forwarded: state.composer.forwarded(headers),
    };
    let vary = Vary::of(&state, personal);
    if query.stream.is_some() || accepts_ndjson(headers) {
        let open = OpenStream::new(&state.metrics.streams_open);
        let encoder = LineEncoder::negotiate(headers);
        return Ok(stream(
            state.composer.start(&view, &id, request)?,
            open,
            encoder,
        ));
    }
    let document = state.composer.document(&view, &id, request).await?;
    let summary = PartsSummary(document.summary);
    let vary = Vary {
        edge: document.edge.clone(),
        ..vary
    };
    let mut response = if document.verdict == Verdict::Ok {
        json_response(headers, document.body, &document.etag, &vary)
    } else {
        let mut response =
            (verdict_status(document.verdict), json_body(document.body)).into_response();
        set_validators(&mut response, &document.etag, &vary);
        response
    };
    response.extensions_mut().insert(summary);
    Ok(response)
}

/// What a view's answer varies with besides its URL: the encoding, the forwarded headers,
/// and — for one holding a user part — the cookie (and then no shared cache may keep it).
#[derive(Debug)]
struct Vary {
    header: HeaderValue,
    personal: bool,
    /// A view a shared cache may keep (never a personal one).
    edge: Option<compose::Edge>,
    /// The header its edge tags go in.
    tag_header: HeaderName,
}

impl Vary {
    fn of(app: &App, personal: bool) -> Self {
        Self {
            header: app.vary[usize::from(personal)].clone(),
            personal,
            edge: None,
            tag_header: app.edge_tag_header.clone(),
        }
    }
}

/// A 200 JSON response with its ETag, or a 304 when the client has it already.
fn json_response(headers: &HeaderMap, body: Bytes, etag: &str, vary: &Vary) -> Response {
    if matches_etag(headers, etag) {
        return not_modified(etag, vary);
    }
    let mut response = json_body(body).into_response();
    set_validators(&mut response, etag, vary);
    response
}

/// A serialized JSON document as a response body.
fn json_body(body: Bytes) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from(body),
    )
}

/// `GET /api/parts/{view}/{part}/{id}`: one part (and whatever it needs), for tiles that load
/// on their own. The HTTP status is the part's own, as if it were critical.
pub(crate) async fn part(
    Current(state): Current,
    Path((view, part, id)): Path<(String, String, String)>,
    Query(query): Query<PartQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let personal = state
        .composer
        .is_personal(&view, Some(std::slice::from_ref(&part)));
    let request = ViewRequest {
        parts: None,
        budget: budget(&headers)?,
        page: query.page.as_deref().map(parse_page).transpose()?,
        request_id: request_id(),
        caller: if personal {
            caller(&state, &headers).await?
        } else {
            None
        },
        forwarded: state.composer.forwarded(&headers),
    };
    let vary = Vary::of(&state, personal);
    let answer = state.composer.part(&view, &part, &id, request).await?;
    if answer.verdict == Verdict::Ok && matches_etag(&headers, &answer.etag) {
        return Ok(not_modified(&answer.etag, &vary));
    }
    let mut response = (verdict_status(answer.verdict), axum::Json(answer.outcome)).into_response();
    set_validators(&mut response, &answer.etag, &vary);
    Ok(response)
}

/// The view as NDJSON: each part's line is written the moment the part finishes, then a
/// summary line, compressed line by line when the client accepts it. The body polls the
/// execution, so dropping it cancels the upstream calls.
fn stream(execution: Execution, open: OpenStream, encoder: Option<LineEncoder>) -> Response {
    struct Progress {
        execution: Execution,
        outcomes: Vec<Arc<PartOutcome>>,
        done: bool,
        encoder: Option<LineEncoder>,
        _open: OpenStream,
    }
    let personal = execution.is_personal();
    let coding = encoder.as_ref().map(LineEncoder::coding);
    let progress = Progress {
        execution,
        outcomes: Vec::new(),
        done: false,
        encoder,
        _open: open,
    };
    let lines = futures::stream::unfold(progress, |mut progress| async move {
        if progress.done {
            return None;
        }
        let mut line = match progress.execution.next().await {
            Some((name, outcome)) => {
                let line = encode_part_line(&name, &outcome);
                progress.outcomes.push(outcome);
                line
            }
            None => {
                progress.done = true;
                let outcomes = progress.outcomes.iter().map(AsRef::as_ref);
                let summary = StreamLine::Summary {
                    view: progress.execution.view().to_owned(),
                    id: progress.execution.id().to_owned(),
                    complete: compose::is_complete(outcomes.clone()),
                    status: verdict_status(Verdict::of_view(outcomes)).as_u16(),
                    elapsed_ms: progress.execution.started().elapsed().as_millis() as u64,
                };
                serde_json::to_vec(&summary).expect("stream lines serialize")
            }
        };
        line.push(b'\n');
        let bytes = match (progress.encoder.take(), progress.done) {
            (None, _) => Bytes::from(line),
            (Some(encoder), true) => encoder.last(&line),
            (Some(mut encoder), false) => {
                let bytes = encoder.line(&line);
                progress.encoder = Some(encoder);
                bytes
            }
        };
        Some((Ok::<_, Infallible>(bytes), progress))
    });
    let mut response = Response::new(Body::from_stream(lines));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if personal {
            "private, no-store"
        } else {
            "no-store"
        }),
    );
    // Ask reverse proxies (nginx and the like) not to buffer the stream either.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A word per part of a buffered view, for the access log.
#[derive(Debug, Clone)]
pub(crate) struct PartsSummary(pub(crate) String);

/// Counts an NDJSON stream in `tessera_http_streams_open` while its body lives (until it
/// ends, or the client goes away).
struct OpenStream(Gauge<i64, AtomicI64>);

impl OpenStream {
    fn new(gauge: &Gauge<i64, AtomicI64>) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn parse_parts(list: &str) -> Result<Vec<String>, AppError> {
    let mut parts: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    parts.sort_unstable();
    parts.dedup();
    if parts.is_empty() {
        return Err(AppError::BadRequest(
            "?parts= names no part; leave it out to get them all".into(),
        ));
    }
    Ok(parts)
}

fn parse_page(text: &str) -> Result<u32, AppError> {
    text.parse::<u32>()
        .ok()
        .filter(|page| (1..=MAX_PAGE).contains(page))
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "?page= must be a whole number from 1 to {MAX_PAGE}, got {text:?}"
            ))
        })
}

fn budget(headers: &HeaderMap) -> Result<Option<Duration>, AppError> {
    let Some(value) = headers.get(BUDGET_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(|ms| Some(Duration::from_millis(ms)))
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "{BUDGET_HEADER} must be a positive number of milliseconds"
            ))
        })
}

fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().is_some_and(|m| m.trim() == NDJSON))
}

fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, etag))
}

/// Views are fresh data: caches may keep them but must revalidate every time. A 304 carries the
/// same validators and `Vary` as the 200 it stands for (RFC 9110 §15.4.5); the compression layer
/// adds nothing to a `Vary` that already names the encoding.
fn set_validators(response: &mut Response, etag: &str, vary: &Vary) {
    let headers = response.headers_mut();
    // SECURITY: a shopper's answer is theirs alone: no shared cache may keep it.
    let cache_control = match (&vary.edge, vary.personal) {
        (_, true) => HeaderValue::from_static("private, no-cache"),
        // Browsers revalidate every time; a shared cache in front keeps it while its parts
        // are fresh, and is purged by its tags when one of them drops.
        (Some(edge), false) => {
            headers.insert(vary.tag_header.clone(), edge.tags.clone());
            HeaderValue::from_str(&format!(
                "public, max-age=0, s-maxage={}, stale-while-revalidate={}",
                edge.max_age_s, edge.revalidate_s
            ))
            .unwrap_or(HeaderValue::from_static("no-cache"))
        }
        (None, false) => HeaderValue::from_static("no-cache"),
    };
    headers.insert(header::CACHE_CONTROL, cache_control);
    headers.insert(header::VARY, vary.header.clone());
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
}

fn not_modified(etag: &str, vary: &Vary) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    set_validators(&mut response, etag, vary);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_lists_are_trimmed_and_deduplicated() {
        assert_eq!(parse_parts(" b,a,,b ").unwrap(), ["a", "b"]);
        assert!(parse_parts(",").is_err());
    }

    #[test]
    fn pages_are_bounded_whole_numbers() {
        assert_eq!(parse_page("2").unwrap(), 2);
        for bad in ["0", "-1", "1.5", "", "two", "100001", "99999999999"] {
            assert!(parse_page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn budgets_must_be_positive_milliseconds() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(BUDGET_HEADER, HeaderValue::from_str(v).unwrap());
            budget(&h)
        };
        assert_eq!(with("150").unwrap(), Some(Duration::from_millis(150)));
        for bad in ["0", "-1", "1.5", "soon", ""] {
            assert!(with(bad).is_err(), "{bad}");
        }
        assert_eq!(budget(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn ndjson_is_recognised_among_other_media_types() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html, application/x-ndjson;q=0.9"),
        );
        assert!(accepts_ndjson(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!accepts_ndjson(&h));
    }
}
