//! Layers a test puts in front of the BFF ([`crate::Stack::start_tampered`]) to play what can
//! sit between the browser and it: a proxy that cuts a view's stream short, a path that is slow,
//! a request the BFF refuses with an error of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};

/// Whether a request is one a layer tampers with: its path starts with `path` and its query
/// contains `query`.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub path: &'static str,
    pub query: &'static str,
}

impl Target {
    pub fn path(path: &'static str) -> Self {
        Self { path, query: "" }
    }

    fn matches(&self, request: &Request) -> bool {
        request.uri().path().starts_with(self.path)
            && request
                .uri()
                .query()
                .unwrap_or_default()
                .contains(self.query)
    }
}

/// Turns tampering on and off while a test runs (on from the start).
#[derive(Debug, Clone)]
pub struct Switch(Arc<AtomicBool>);

impl Switch {
    pub fn on() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    pub fn off() -> Self {
        Self(Arc::new(AtomicBool::new(false)))
    }

    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }

    fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Cuts the NDJSON stream of the views `target` picks just before the line of part `before`
/// (or before the summary, if that part comes last), as a proxy dropping the connection at a
/// line boundary would: the stream then ends cleanly, without its summary line.
pub fn cut_stream(
    target: Target,
    before: &'static str,
    switch: Switch,
) -> impl FnOnce(Router) -> Router {
    move |router| {
        router.layer(from_fn(move |mut request: Request, next: Next| {
            let switch = switch.clone();
            async move {
                let tampered = switch.is_on() && target.matches(&request);
                if tampered {
                    // Lines are cut where they can be read: the stream uncompressed.
                    request
                        .headers_mut()
                        .remove(axum::http::header::ACCEPT_ENCODING);
                }
                let response = next.run(request).await;
                if !tampered {
                    return response;
                }
                let (head, body) = response.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                    return axum::http::StatusCode::BAD_GATEWAY.into_response();
                };
                let kept: Vec<u8> = bytes
                    .split_inclusive(|&b| b == b'\n')
                    .take_while(|line| {
                        let line: serde_json::Value =
                            serde_json::from_slice(line).unwrap_or_default();
                        line["type"] != "summary" && line["name"] != before
                    })
                    .flatten()
                    .copied()
                    .collect();
                Response::from_parts(head, Body::from(kept))
            }
        }))
    }
}

/// Rewrites the data of part `part` in the NDJSON streams of the views `target` picks, as a
/// service answering with other values would: `edit` gets the part's `data`.
pub fn rewrite_part(
    target: Target,
    part: &'static str,
    edit: fn(&mut serde_json::Value),
) -> impl FnOnce(Router) -> Router {
    move |router| {
        router.layer(from_fn(
            move |mut request: Request, next: Next| async move {
                if !target.matches(&request) {
                    return next.run(request).await;
                }
                request
                    .headers_mut()
                    .remove(axum::http::header::ACCEPT_ENCODING);
                let (mut head, body) = next.run(request).await.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                    return axum::http::StatusCode::BAD_GATEWAY.into_response();
                };
                let mut out = Vec::with_capacity(bytes.len());
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    match serde_json::from_slice::<serde_json::Value>(line) {
                        Ok(mut value) if value["type"] == "part" && value["name"] == part => {
                            edit(&mut value["data"]);
                            out.extend(serde_json::to_vec(&value).unwrap_or_default());
                            out.push(b'\n');
                        }
                        _ => out.extend_from_slice(line),
                    }
                }
                // The body changed length, and its validators no longer name it.
                head.headers.remove(axum::http::header::CONTENT_LENGTH);
                head.headers.remove(axum::http::header::ETAG);
                Response::from_parts(head, Body::from(out))
            },
        ))
    }
}

/// What became of the requests a [`delay`] held back.
#[derive(Debug, Default)]
pub struct Delayed {
    /// Held back, then passed on to the BFF.
    pub answered: AtomicUsize,
    /// Dropped while held back: the browser gave up on them (aborted them).
    pub abandoned: AtomicUsize,
}

/// Holds the requests `target` picks back for `latency` before the BFF sees them, counting in
/// `delayed` which were answered and which the browser abandoned meanwhile.
pub fn delay(
    target: Target,
    latency: Duration,
    delayed: Arc<Delayed>,
) -> impl FnOnce(Router) -> Router {
    /// Counts a held request as abandoned unless it was let through.
    struct Held(Arc<Delayed>, bool);
    impl Drop for Held {
        fn drop(&mut self) {
            let count = if self.1 {
                &self.0.answered
            } else {
                &self.0.abandoned
            };
            count.fetch_add(1, Ordering::SeqCst);
        }
    }
    move |router| {
        router.layer(from_fn(move |request: Request, next: Next| {
            let delayed = delayed.clone();
            async move {
                if !target.matches(&request) {
                    return next.run(request).await;
                }
                let mut held = Held(delayed, false);
                tokio::time::sleep(latency).await;
                held.1 = true;
                next.run(request).await
            }
        }))
    }
}

/// Answers the requests `target` picks with the BFF's JSON error of `status` and `code`, as it
/// does for a view, part or id it does not know.
pub fn refuse(
    target: Target,
    status: axum::http::StatusCode,
    code: &'static str,
) -> impl FnOnce(Router) -> Router {
    move |router| {
        router.layer(from_fn(move |request: Request, next: Next| async move {
            if !target.matches(&request) {
                return next.run(request).await;
            }
            let body = serde_json::json!({
                "error": { "code": code, "message": "scripted refusal" }
            });
            (status, axum::Json(body)).into_response()
        }))
    }
}
