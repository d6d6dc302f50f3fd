//! One attempt at an upstream: send, check the status, read a bounded body, parse — for JSON
//! parts and for images.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::{MAX_BODY_BYTES, UpstreamError};

/// A successful upstream answer.
#[derive(Debug)]
pub(crate) enum Fetched {
    Fresh {
        data: serde_json::Value,
        etag: Option<String>,
        /// The upstream's `max-age`, if it gave one.
        max_age: Option<Duration>,
        /// `no-store` or `private`: not to be cached.
        no_store: bool,
    },
    /// The `If-None-Match` tag still holds.
    NotModified { max_age: Option<Duration> },
}

/// What an attempt sends besides its URL: the request id, the caller's validator and the
/// trace context (`traceparent`).
#[derive(Debug, Default)]
pub(crate) struct Sent<'a> {
    pub(crate) request_id: Option<&'a str>,
    pub(crate) if_none_match: Option<&'a str>,
    pub(crate) trace: HeaderMap,
}

/// Sends `GET url` asking for `accept`, with the request id, the caller's validator and the
/// trace context.
async fn send_get(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
    sent: Sent<'_>,
) -> Result<reqwest::Response, UpstreamError> {
    let Sent {
        request_id,
        if_none_match,
        trace,
    } = sent;
    let mut request = client
        .get(url)
        .header(header::ACCEPT, accept)
        .headers(trace);
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    request.send().await.map_err(classify)
}

/// One attempt: send, check the status, read at most [`MAX_BODY_BYTES`], parse.
pub(super) async fn attempt(
    client: &reqwest::Client,
    url: &str,
    sent: Sent<'_>,
) -> Result<Fetched, UpstreamError> {
    let if_none_match = sent.if_none_match.is_some();
    let response = send_get(client, url, "application/json", sent).await?;
    let status = response.status();
    let (max_age, no_store) = cache_directives(response.headers());
    if status == StatusCode::NOT_MODIFIED && if_none_match {
        return Ok(Fetched::NotModified { max_age });
    }
    if !status.is_success() {
        return Err(UpstreamError::Status(status.as_u16()));
    }
    let etag = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(response).await?;
    let data = serde_json::from_slice(&body).map_err(|_| UpstreamError::Decode)?;
    Ok(Fetched::Fresh {
        data,
        etag,
        max_age,
        no_store,
    })
}

/// An image relayed from an upstream.
#[derive(Debug)]
pub(crate) struct Media {
    /// Empty when the upstream answered 304 to the caller's `If-None-Match`.
    pub bytes: bytes::Bytes,
    /// `None` only for a 304.
    pub content_type: Option<HeaderValue>,
    pub etag: Option<HeaderValue>,
    pub max_age: Option<Duration>,
    /// `no-store` or `private`: no shared cache may keep it.
    pub no_store: bool,
    /// The upstream said the caller's copy is still good.
    pub not_modified: bool,
}

/// One attempt at an image: anything but an `image/*` answer (or a 304 to the caller's own
/// validator) is an error, so the relay can never serve a service's HTML or JSON as if it were
/// ours.
pub(super) async fn attempt_media(
    client: &reqwest::Client,
    url: &str,
    sent: Sent<'_>,
) -> Result<Media, UpstreamError> {
    let if_none_match = sent.if_none_match.is_some();
    let response = send_get(client, url, "image/*", sent).await?;
    let status = response.status();
    let headers = response.headers();
    let etag = headers.get(header::ETAG).cloned();
    let (max_age, no_store) = cache_directives(headers);
    if status == StatusCode::NOT_MODIFIED && if_none_match {
        return Ok(Media {
            bytes: bytes::Bytes::new(),
            content_type: None,
            etag,
            max_age,
            no_store,
            not_modified: true,
        });
    }
    if !status.is_success() {
        return Err(UpstreamError::Status(status.as_u16()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .filter(|t| t.to_str().is_ok_and(|t| t.starts_with("image/")))
        .cloned()
        .ok_or(UpstreamError::Decode)?;
    let bytes = read_body(response).await?.into();
    Ok(Media {
        bytes,
        content_type: Some(content_type),
        etag,
        max_age,
        no_store,
        not_modified: false,
    })
}

/// The most room a body is given before its bytes arrive.
const PREALLOCATED: u64 = 256 * 1024;

pub(super) async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > MAX_BODY_BYTES as u64 {
        return Err(UpstreamError::TooLarge);
    }
    // Room for what the upstream announced, so the body is not copied as it grows; at most
    // `PREALLOCATED` ahead of the bytes, so a length that lies holds no more than that.
    let mut body = Vec::with_capacity(announced.min(PREALLOCATED) as usize);
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(UpstreamError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `max-age` and whether the response may be stored, from `Cache-Control`.
fn cache_directives(headers: &HeaderMap) -> (Option<Duration>, bool) {
    let mut max_age = None;
    let mut no_store = false;
    for directive in headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "private" {
            no_store = true;
        } else if let Some(seconds) = lower.strip_prefix("max-age=") {
            max_age = seconds.parse().ok().map(Duration::from_secs);
        }
    }
    (max_age, no_store)
}

pub(super) fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Connect
    } else {
        UpstreamError::Transport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_is_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=30"),
        );
        assert_eq!(cache_directives(&h), (Some(Duration::from_secs(30)), false));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(cache_directives(&h), (None, true));
        assert_eq!(cache_directives(&HeaderMap::new()), (None, false));
    }
}
