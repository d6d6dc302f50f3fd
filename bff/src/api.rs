//! The composite-view API: one view as a JSON document or as an NDJSON stream, and one part
//! alone. Request parsing (ids, `?parts=`, the budget header) and HTTP caching (ETag, 304) live
//! here; running the view is [`crate::compose`]'s job.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tessera_contract::{PartOutcome, StreamLine, encode_part_line, if_none_match};

use crate::app::AppState;
use crate::cache::RenderedView;
use crate::compose::{self, Execution, Request};
use crate::error::AppError;
use crate::ops;

/// The request header with which a client asks for a shorter budget than the view's, in ms.
pub const BUDGET_HEADER: &str = "x-budget-ms";
/// The media type of a streamed view.
pub const NDJSON: &str = "application/x-ndjson";

/// The query string of the view and part routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
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
pub struct PartQuery {
    page: Option<String>,
}

/// The largest page number accepted: far beyond any real list, small enough for any upstream.
const MAX_PAGE: u32 = 100_000;

/// `GET /api/views/{view}/{id}`.
pub async fn view(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ViewQuery>, QueryRejection>,
    // Taken whole rather than as a `HeaderMap`, which would be a copy.
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let headers = request.headers();
    let Path((view, id)) = path.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let parts = query.parts.as_deref().map(parse_parts).transpose()?;
    let page = query.page.as_deref().map(parse_page).transpose()?;
    let streamed = query.stream.is_some() || accepts_ndjson(headers);
    let budget = budget(headers)?;

    // A view whose parts are all still fresh in the cache is served as it was rendered.
    let rendered_key = format!(
        "{view}/{id}?{}&{}",
        parts.as_ref().map_or_else(|| "*".into(), |p| p.join(",")),
        page.unwrap_or(1)
    );
    if !streamed && let Some(rendered) = state.cache.rendered(&rendered_key) {
        return Ok(json_response(
            headers,
            rendered.body.clone(),
            &rendered.etag,
        ));
    }

    let request = Request {
        parts,
        budget,
        page,
        request_id: ops::request_id(),
    };
    let mark = state.cache.invalidation_mark();
    let execution = state.composer.start(&view, &id, request)?;
    if streamed {
        return Ok(stream(execution));
    }

    let rendered = execution.collect().await?;
    let envelope = &rendered.envelope;
    let etag = compose::etag(
        &envelope.view,
        &envelope.id,
        envelope.parts.iter().map(|(n, o)| (n.as_str(), o)),
    );
    if rendered.status != StatusCode::OK {
        let mut response = (rendered.status, axum::Json(rendered.envelope)).into_response();
        set_validators(&mut response, &etag);
        return Ok(response);
    }
    let body = Bytes::from(serde_json::to_vec(&rendered.envelope).expect("envelopes serialize"));
    if let Some((keys, valid_until_ms)) = rendered.reusable {
        state.cache.keep_rendered(
            rendered_key,
            RenderedView {
                body: body.clone(),
                etag: etag.clone(),
                keys,
                valid_until_ms,
            },
            mark,
        );
    }
    Ok(json_response(headers, body, &etag))
}

/// A 200 JSON response with its ETag, or a 304 when the client has it already.
fn json_response(headers: &HeaderMap, body: Bytes, etag: &str) -> Response {
    if matches_etag(headers, etag) {
        return not_modified(etag);
    }
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set_validators(&mut response, etag);
    response
}

/// `GET /api/parts/{view}/{part}/{id}`: one part (and whatever it needs), for tiles that load
/// on their own. The HTTP status is the part's own, as if it were critical.
pub async fn part(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<PartQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Path((view, part, id)) = path.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let request = Request {
        parts: Some(vec![part.clone()]),
        budget: budget(&headers)?,
        page: query.page.as_deref().map(parse_page).transpose()?,
        request_id: ops::request_id(),
    };
    let mut execution = state.composer.start(&view, &id, request)?;
    let (_, outcome) = execution
        .next()
        .await
        .expect("an execution yields every requested part");
    drop(execution);
    let outcome = Arc::try_unwrap(outcome).unwrap_or_else(|shared| (*shared).clone());
    let status = compose::part_status(&outcome);
    if status == StatusCode::NOT_FOUND {
        return Err(AppError::NotFound(format!("no {view} with id {id}")));
    }
    let etag = compose::etag(&view, &id, [(part.as_str(), &outcome)]);
    if status == StatusCode::OK && matches_etag(&headers, &etag) {
        return Ok(not_modified(&etag));
    }
    let mut response = (status, axum::Json(outcome)).into_response();
    set_validators(&mut response, &etag);
    Ok(response)
}

/// The view as NDJSON: each part's line is written the moment the part finishes, then a
/// summary line. The body polls the execution, so dropping it cancels the upstream calls.
fn stream(execution: Execution) -> Response {
    struct Progress {
        execution: Execution,
        outcomes: Vec<Arc<PartOutcome>>,
        done: bool,
    }
    let progress = Progress {
        execution,
        outcomes: Vec::new(),
        done: false,
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
                    status: compose::view_status(outcomes).as_u16(),
                    elapsed_ms: progress.execution.started().elapsed().as_millis() as u64,
                };
                serde_json::to_vec(&summary).expect("stream lines serialize")
            }
        };
        line.push(b'\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), progress))
    });
    let mut response = Response::new(Body::from_stream(lines));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Ask reverse proxies (nginx and the like) not to buffer the stream either.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
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

/// Views are fresh data: caches may keep them but must revalidate every time.
fn set_validators(response: &mut Response, etag: &str) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
}

fn not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    set_validators(&mut response, etag);
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
