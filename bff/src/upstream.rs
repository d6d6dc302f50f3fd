//! The client for data services. Every call goes through its upstream's guards, in this order:
//! circuit breaker (answers at once while open), bulkhead (rejects at once when full), then
//! attempts on hosts picked round-robin (skipping ejected ones), each inside the caller's
//! deadline, retried only when that can help and the retry budget allows. Bodies are capped,
//! and errors say what failed without leaking upstream internals.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::UpstreamConfig;
use crate::metrics::{Metrics, UpstreamLabels};
use crate::resilience::{Breaker, BreakerState, Hosts, RetryPolicy};

/// An attempt that timed out sooner than this is not held against the upstream.
const MIN_TIMEOUT_FOR_FAILURE: Duration = Duration::from_millis(50);

/// The largest upstream body the BFF reads; a larger one is an error, not an allocation.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream named {0:?}")]
    Unknown(String),
    #[error("did not answer before the deadline")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("answered {0}")]
    Status(u16),
    #[error("sent a body that is not what was asked for")]
    Decode,
    #[error("sent a body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the connection failed mid-request")]
    Transport,
    #[error("is failing; its circuit is open")]
    CircuitOpen,
    #[error("is at its concurrency limit")]
    Overloaded,
}

impl UpstreamError {
    /// The stable code clients see in a part's error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_upstream",
            Self::Timeout => "timeout",
            Self::Connect | Self::Transport => "unavailable",
            Self::Status(404) => "not_found",
            Self::Status(_) => "upstream_status",
            Self::Decode | Self::TooLarge => "bad_upstream_response",
            Self::CircuitOpen => "circuit_open",
            Self::Overloaded => "overloaded",
        }
    }

    /// Whether this says the service is unhealthy (for breakers, ejection and stale-if-error),
    /// as opposed to an answer about the request itself (a 404).
    pub fn is_failure(&self) -> bool {
        match self {
            Self::Status(status) => *status >= 500 || *status == 429,
            Self::Unknown(_) => false,
            _ => true,
        }
    }

    /// Whether another attempt may succeed: connect errors, timeouts, 502/503/504 only.
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Connect | Self::Timeout | Self::Status(502..=504)
        )
    }
}

/// A successful upstream answer.
#[derive(Debug)]
pub enum Fetched {
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

#[derive(Debug)]
struct Upstream {
    name: String,
    hosts: Hosts,
    client: reqwest::Client,
    breaker: Breaker,
    bulkhead: Arc<Semaphore>,
    retry: RetryPolicy,
}

/// All configured upstreams by name. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Upstreams {
    by_name: HashMap<String, Upstream>,
    metrics: Metrics,
}

impl Upstreams {
    pub fn new<'a>(
        configs: impl IntoIterator<Item = (&'a String, &'a UpstreamConfig)>,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let mut by_name = HashMap::new();
        for (name, config) in configs {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
                .pool_idle_timeout(Duration::from_secs(60))
                .tcp_nodelay(true)
                .build()?;
            let hosts = config
                .hosts()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect();
            by_name.insert(
                name.clone(),
                Upstream {
                    name: name.clone(),
                    hosts: Hosts::new(hosts, config.ejection.clone()),
                    client,
                    breaker: Breaker::new(config.breaker.clone()),
                    bulkhead: Arc::new(Semaphore::new(config.max_concurrency)),
                    retry: RetryPolicy::new(config.retry.clone()),
                },
            );
            metrics
                .breaker_state
                .get_or_create(&UpstreamLabels {
                    upstream: name.clone(),
                })
                .set(0);
        }
        Ok(Self { by_name, metrics })
    }

    /// `GET {upstream}{path}` as JSON, giving up at `deadline`. With `if_none_match`, a 304
    /// comes back as [`Fetched::NotModified`].
    pub async fn get(
        &self,
        upstream: &str,
        path: &str,
        deadline: Instant,
        request_id: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, UpstreamError> {
        self.call(upstream, path, deadline, |client, url| async move {
            attempt(&client, &url, request_id, if_none_match).await
        })
        .await
    }

    /// `GET {upstream}{path}` for an image: its bytes and validators, under the same
    /// protection (bulkhead, breaker, retries, ejection) as JSON parts.
    pub async fn get_media(
        &self,
        upstream: &str,
        path: &str,
        deadline: Instant,
        request_id: Option<&str>,
    ) -> Result<Media, UpstreamError> {
        self.call(upstream, path, deadline, |client, url| async move {
            attempt_media(&client, &url, request_id).await
        })
        .await
    }

    /// A guarded call to `upstream`, its outcome counted in the metrics.
    async fn call<T, F, Fut>(
        &self,
        upstream: &str,
        path: &str,
        deadline: Instant,
        attempt: F,
    ) -> Result<T, UpstreamError>
    where
        F: Fn(reqwest::Client, String) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let target = self.target(upstream)?;
        let labels = UpstreamLabels {
            upstream: upstream.to_owned(),
        };
        let result = self.guarded(target, &labels, path, deadline, attempt).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.metrics.upstream_outcome(upstream, outcome);
        result
    }

    /// One call through the upstream's bulkhead and breaker, retried and balanced over its
    /// hosts; `call` makes one attempt at a full URL.
    async fn guarded<T, F, Fut>(
        &self,
        target: &Upstream,
        labels: &UpstreamLabels,
        path: &str,
        deadline: Instant,
        call: F,
    ) -> Result<T, UpstreamError>
    where
        F: Fn(reqwest::Client, String) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        // The bulkhead first: a call it rejects must not use up a half-open probe.
        let Ok(_permit) = target.bulkhead.clone().try_acquire_owned() else {
            self.metrics.bulkhead_rejections.get_or_create(labels).inc();
            return Err(UpstreamError::Overloaded);
        };
        if !target.breaker.allow() {
            return Err(UpstreamError::CircuitOpen);
        }
        target.retry.on_request();
        let mut delays = target.retry.delays();
        loop {
            let (host, base) = target.hosts.pick();
            let attempt_deadline = target
                .retry
                .attempt_timeout()
                .map_or(deadline, |t| deadline.min(Instant::now() + t));
            let started = Instant::now();
            let url = format!("{base}{path}");
            let request = call(target.client.clone(), url);
            let result = tokio::time::timeout_at(attempt_deadline, request)
                .await
                .unwrap_or(Err(UpstreamError::Timeout));
            self.metrics
                .upstream_latency
                .get_or_create(labels)
                .observe(started.elapsed().as_secs_f64());
            // A timeout only says the upstream is slow if it had a fair chance: a caller's
            // 1 ms budget must not open the circuit for everyone.
            let fair_chance = started.elapsed() >= MIN_TIMEOUT_FOR_FAILURE;
            let healthy = match &result {
                Ok(_) => true,
                Err(UpstreamError::Timeout) if !fair_chance => true,
                Err(e) => !e.is_failure(),
            };
            target.hosts.record(host, healthy);
            target.breaker.record(healthy);
            self.update_breaker_gauge(target, labels);

            let error = match result {
                Ok(fetched) => return Ok(fetched),
                Err(e) => e,
            };
            if !error.is_retryable() || target.breaker.state() == BreakerState::Open {
                return Err(error);
            }
            let Some(delay) = delays.next() else {
                return Err(error);
            };
            if Instant::now() + delay >= deadline || !target.retry.withdraw() {
                return Err(error);
            }
            tracing::debug!(upstream = %target.name, %path, error = %error, ?delay, "retrying");
            self.metrics.upstream_retries.get_or_create(labels).inc();
            tokio::time::sleep(delay).await;
        }
    }

    fn target(&self, upstream: &str) -> Result<&Upstream, UpstreamError> {
        self.by_name
            .get(upstream)
            .ok_or_else(|| UpstreamError::Unknown(upstream.to_owned()))
    }

    fn update_breaker_gauge(&self, target: &Upstream, labels: &UpstreamLabels) {
        let state = match target.breaker.state() {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        self.metrics.breaker_state.get_or_create(labels).set(state);
    }

    /// `POST {upstream}{path}` with a JSON body, once (writes are never retried). Returns the
    /// upstream's status and JSON body.
    pub async fn post_json(
        &self,
        upstream: &str,
        path: &str,
        body: bytes::Bytes,
        deadline: Instant,
        request_id: Option<&str>,
    ) -> Result<(StatusCode, serde_json::Value), UpstreamError> {
        let target = self.target(upstream)?;
        if !target.breaker.allow() {
            return Err(UpstreamError::CircuitOpen);
        }
        let (host, base) = target.hosts.pick();
        let call = async {
            let mut request = target
                .client
                .post(format!("{base}{path}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .body(body);
            if let Some(id) = request_id {
                request = request.header("x-request-id", id);
            }
            let response = request.send().await.map_err(classify)?;
            let status = response.status();
            let body = read_body(response).await?;
            // A write may well answer 201/204 with no body.
            let json = if body.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&body).map_err(|_| UpstreamError::Decode)?
            };
            Ok((status, json))
        };
        let result = tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        let healthy = match &result {
            Ok((status, _)) => !status.is_server_error(),
            Err(e) => !e.is_failure(),
        };
        target.hosts.record(host, healthy);
        target.breaker.record(healthy);
        result
    }
}

/// One attempt: send, check the status, read at most [`MAX_BODY_BYTES`], parse.
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    request_id: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<Fetched, UpstreamError> {
    let mut request = client.get(url).header(header::ACCEPT, "application/json");
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = request.send().await.map_err(classify)?;
    let status = response.status();
    let (max_age, no_store) = cache_directives(response.headers());
    if status == StatusCode::NOT_MODIFIED && if_none_match.is_some() {
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
pub struct Media {
    pub bytes: bytes::Bytes,
    pub content_type: HeaderValue,
    pub etag: Option<HeaderValue>,
    pub max_age: Option<Duration>,
}

/// One attempt at an image: anything but an `image/*` answer is an error, so the relay can
/// never serve a service's HTML or JSON as if it were ours.
async fn attempt_media(
    client: &reqwest::Client,
    url: &str,
    request_id: Option<&str>,
) -> Result<Media, UpstreamError> {
    let mut request = client.get(url).header(header::ACCEPT, "image/*");
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.map_err(classify)?;
    let status = response.status();
    if !status.is_success() {
        return Err(UpstreamError::Status(status.as_u16()));
    }
    let headers = response.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .filter(|t| t.to_str().is_ok_and(|t| t.starts_with("image/")))
        .cloned()
        .ok_or(UpstreamError::Decode)?;
    let etag = headers.get(header::ETAG).cloned();
    let (max_age, _) = cache_directives(headers);
    let bytes = read_body(response).await?.into();
    Ok(Media {
        bytes,
        content_type,
        etag,
        max_age,
    })
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(UpstreamError::TooLarge);
    }
    let mut body = Vec::new();
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

fn classify(e: reqwest::Error) -> UpstreamError {
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
    use axum::http::HeaderValue;

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

    #[test]
    fn only_transient_failures_are_retried() {
        for e in [
            UpstreamError::Connect,
            UpstreamError::Timeout,
            UpstreamError::Status(503),
        ] {
            assert!(e.is_retryable(), "{e:?}");
        }
        for e in [
            UpstreamError::Status(500),
            UpstreamError::Status(404),
            UpstreamError::Decode,
            UpstreamError::Transport,
            UpstreamError::CircuitOpen,
        ] {
            assert!(!e.is_retryable(), "{e:?}");
        }
        assert!(!UpstreamError::Status(404).is_failure());
    }
}
