//! The client for data services. Every call goes through its upstream's guards, in this order:
//! circuit breaker (answers at once while open), bulkhead (rejects at once when full), then
//! attempts on hosts picked round-robin (skipping ejected ones), each inside the caller's
//! deadline, retried only when that can help and the retry budget allows. Bodies are capped,
//! and errors say what failed without leaking upstream internals.
//!
//! Reads, writes and images each have their own breaker and bulkhead ([`Lane`]): a burst of
//! failing writes must not open the circuit for every read part of the upstream, nor a flood
//! of images take the reads' concurrency.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

use tessera_contract::ops::{BreakerInfo, Bulkhead, HostInfo, UpstreamStats};

use crate::config::UpstreamConfig;
use crate::metrics::{Metrics, UpstreamLabels, UpstreamMeters};
use crate::ops::{Recent, unix_ms};
use crate::telemetry;
pub(crate) use attempt::{Fetched, Media};
use attempt::{Sent, attempt, attempt_media, classify, read_body};
use breaker::{Breaker, BreakerState};
pub(crate) use error::UpstreamError;
use hosts::Hosts;
use retry::RetryPolicy;

mod attempt;
mod breaker;
mod error;
mod hosts;
mod retry;

/// An attempt that timed out sooner than this is not held against the upstream.
const MIN_TIMEOUT_FOR_FAILURE: Duration = Duration::from_millis(50);

/// What a call is for; each has its own breaker and bulkhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// JSON parts of views (the breaker exported in metrics).
    Reads = 0,
    /// Writes relayed by actions.
    Writes = 1,
    /// Images relayed from the page's origin.
    Media = 2,
}

/// The breaker and bulkhead of one lane.
#[derive(Debug)]
struct Guards {
    breaker: Breaker,
    bulkhead: Arc<Semaphore>,
}

#[derive(Debug)]
struct Upstream {
    name: String,
    /// What it was built from: a reload keeps an upstream (and its guards' state) whose
    /// settings did not change.
    config: UpstreamConfig,
    /// Replaced by a reload: what calls still under way on it bring back is not cached (it
    /// may come from hosts the configuration no longer has).
    retired: AtomicBool,
    hosts: Hosts,
    client: reqwest::Client,
    /// Indexed by [`Lane`].
    lanes: [Guards; 3],
    retry: RetryPolicy,
    /// The request headers passed on to it.
    forward: Vec<HeaderName>,
    /// Its series, looked up once here rather than on every call.
    meters: UpstreamMeters,
}

/// What a read sends on behalf of the request it serves: the request id, the request's
/// headers (each upstream passes on those of its allow-list only) and, for a user part, the
/// token signed for the shopper.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Behalf<'a> {
    pub(crate) request_id: Option<&'a str>,
    pub(crate) forwarded: Option<&'a HeaderMap>,
    pub(crate) bearer: Option<&'a str>,
}

/// A header value as it goes into a key: percent-encoded, so that no value can pass for
/// another header's (`fr#x-currency=EUR`) and distinct bytes stay distinct.
pub(crate) fn key_text(value: &[u8]) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b',')
        .remove(b';')
        .remove(b'*');
    percent_encoding::percent_encode(value, KEEP).to_string()
}

/// All configured upstreams by name. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Upstreams {
    by_name: HashMap<String, Arc<Upstream>>,
    metrics: Metrics,
}

impl Upstreams {
    /// The clients of `configs`. Those of `previous` whose settings are the same are kept as
    /// they are — breakers, bulkheads, host ejection, connection pools and all.
    pub(crate) fn new<'a>(
        configs: impl IntoIterator<Item = (&'a String, &'a UpstreamConfig)>,
        metrics: Metrics,
        previous: Option<&Upstreams>,
    ) -> Result<Self, reqwest::Error> {
        let mut by_name = HashMap::new();
        for (name, config) in configs {
            let kept = previous
                .and_then(|p| p.by_name.get(name))
                .filter(|upstream| upstream.config == *config);
            if let Some(kept) = kept {
                by_name.insert(name.clone(), kept.clone());
                continue;
            }
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
                .pool_idle_timeout(Duration::from_secs(60))
                .tcp_nodelay(true)
                // SECURITY: a redirect is the upstream's failure (a 3xx status), never an
                // address to follow: the BFF asks only the hosts its configuration names.
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let hosts = config
                .hosts()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect();
            by_name.insert(
                name.clone(),
                Arc::new(Upstream {
                    name: name.clone(),
                    config: config.clone(),
                    retired: AtomicBool::new(false),
                    hosts: Hosts::new(hosts, config.ejection.clone()),
                    client,
                    lanes: [(); 3].map(|()| Guards {
                        breaker: Breaker::new(config.breaker.clone()),
                        bulkhead: Arc::new(Semaphore::new(config.max_concurrency)),
                    }),
                    retry: RetryPolicy::new(config.retry.clone()),
                    meters: metrics.upstream_meters(name),
                    forward: config
                        .forward_headers
                        .iter()
                        .filter_map(|h| HeaderName::try_from(h.get_ref().as_str()).ok())
                        .collect(),
                }),
            );
        }
        for (name, old) in previous.map(|p| &p.by_name).into_iter().flatten() {
            if by_name.get(name).is_none_or(|new| !Arc::ptr_eq(new, old)) {
                old.retired.store(true, Ordering::Relaxed);
            }
        }
        Ok(Self { by_name, metrics })
    }

    /// Sets every upstream's breaker gauge from its breaker, and takes those of upstreams no
    /// longer configured out of the metrics (after a reload).
    pub(crate) fn publish_breakers(&self, gone: &[String]) {
        for upstream in self.by_name.values() {
            upstream.publish_breaker();
        }
        for name in gone.iter().filter(|name| !self.by_name.contains_key(*name)) {
            self.metrics.breaker_state.remove(&UpstreamLabels {
                upstream: name.clone(),
            });
        }
    }

    /// Whether a reload replaced `upstream` (its answers are then not to be cached).
    pub(crate) fn is_retired(&self, upstream: &str) -> bool {
        self.by_name
            .get(upstream)
            .is_none_or(|u| u.retired.load(Ordering::Relaxed))
    }

    /// The upstreams that are new here, were changed or are gone since `previous`.
    pub(crate) fn changed_since(&self, previous: &Upstreams) -> Vec<String> {
        let mut changed: Vec<String> = self
            .by_name
            .iter()
            .filter(|(name, upstream)| {
                previous
                    .by_name
                    .get(*name)
                    .is_none_or(|old| !Arc::ptr_eq(old, upstream))
            })
            .map(|(name, _)| name.clone())
            .chain(
                previous
                    .by_name
                    .keys()
                    .filter(|name| !self.by_name.contains_key(*name))
                    .cloned(),
            )
            .collect();
        changed.sort();
        changed
    }

    /// The request's headers that some upstream passes on (what a view's parts may send).
    pub(crate) fn forwarded(&self, headers: &HeaderMap) -> HeaderMap {
        let mut picked = HeaderMap::new();
        for name in self.by_name.values().flat_map(|u| &u.forward) {
            if picked.contains_key(name) {
                continue;
            }
            for value in headers.get_all(name) {
                picked.append(name.clone(), value.clone());
            }
        }
        picked
    }

    /// What `upstream` would be sent of `forwarded`, as a suffix for the cache keys of its
    /// answers (`#accept-language=fr`); `None` when it forwards nothing of it.
    pub(crate) fn vary(&self, upstream: &str, forwarded: &HeaderMap) -> Option<String> {
        let target = self.by_name.get(upstream)?;
        let mut suffix = String::new();
        for name in &target.forward {
            for value in forwarded.get_all(name) {
                suffix.push_str(&format!("#{name}={}", key_text(value.as_bytes())));
            }
        }
        (!suffix.is_empty()).then_some(suffix)
    }

    /// The request headers every upstream passes on, by name (for the responses' `Vary`).
    pub(crate) fn forwarded_names(&self) -> Vec<HeaderName> {
        let mut names: Vec<HeaderName> = self
            .by_name
            .values()
            .flat_map(|u| u.forward.iter().cloned())
            .collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
        names
    }

    /// `GET {upstream}{path}` as JSON, giving up at `deadline`. With `if_none_match`, a 304
    /// comes back as [`Fetched::NotModified`].
    pub(crate) async fn get(
        &self,
        upstream: &str,
        path: &str,
        deadline: Instant,
        behalf: Behalf<'_>,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, UpstreamError> {
        let extra = self.extra_headers(upstream, behalf);
        let request_id = behalf.request_id;
        self.call(
            upstream,
            Lane::Reads,
            path,
            deadline,
            |client, url, mut trace| {
                trace.extend(extra.clone());
                async move {
                    let sent = Sent {
                        request_id,
                        if_none_match,
                        trace,
                    };
                    attempt(&client, &url, sent).await
                }
            },
        )
        .await
    }

    /// The headers a read of `upstream` carries for its request: the forwarded ones of its
    /// allow-list, and the shopper's token.
    fn extra_headers(&self, upstream: &str, behalf: Behalf<'_>) -> HeaderMap {
        let mut extra = HeaderMap::new();
        if let (Some(target), Some(forwarded)) = (self.by_name.get(upstream), behalf.forwarded) {
            for name in &target.forward {
                for value in forwarded.get_all(name) {
                    extra.append(name.clone(), value.clone());
                }
            }
        }
        if let Some(token) = behalf.bearer
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            // SECURITY: never in logs or traces.
            value.set_sensitive(true);
            extra.insert(header::AUTHORIZATION, value);
        }
        extra
    }

    /// `GET {upstream}{path}` for an image: its bytes and validators, under the same
    /// kind of protection (bulkhead, breaker, retries, ejection) as JSON parts, in a lane of
    /// their own.
    pub(crate) async fn get_media(
        &self,
        upstream: &str,
        path: &str,
        deadline: Instant,
        request_id: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Media, UpstreamError> {
        self.call(
            upstream,
            Lane::Media,
            path,
            deadline,
            |client, url, trace| async move {
                let sent = Sent {
                    request_id,
                    if_none_match,
                    trace,
                };
                attempt_media(&client, &url, sent).await
            },
        )
        .await
    }

    /// A guarded call to `upstream`, its outcome counted in the metrics.
    async fn call<T, F, Fut>(
        &self,
        upstream: &str,
        lane: Lane,
        path: &str,
        deadline: Instant,
        attempt: F,
    ) -> Result<T, UpstreamError>
    where
        F: Fn(reqwest::Client, String, http::HeaderMap) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let target = self.target(upstream)?;
        let started = Instant::now();
        let result = self.guarded(target, lane, path, deadline, attempt).await;
        match &result {
            Ok(_) => {
                target.meters.ok.inc();
            }
            Err(e) => self.metrics.upstream_outcome(upstream, e.code()),
        }
        if lane == Lane::Reads {
            let failed = result.as_ref().is_err_and(UpstreamError::is_failure);
            let refused = matches!(
                result,
                Err(UpstreamError::CircuitOpen | UpstreamError::Overloaded)
            );
            let took = (!refused).then(|| started.elapsed());
            self.metrics.recent.call(upstream, took, failed);
        }
        result
    }

    /// One call through the upstream's bulkhead and breaker, retried and balanced over its
    /// hosts; `call` makes one attempt at a full URL, with the attempt's trace headers. Each
    /// attempt is a span of its own, so retries show as siblings.
    async fn guarded<T, F, Fut>(
        &self,
        target: &Upstream,
        lane: Lane,
        path: &str,
        deadline: Instant,
        call: F,
    ) -> Result<T, UpstreamError>
    where
        F: Fn(reqwest::Client, String, http::HeaderMap) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let guards = &target.lanes[lane as usize];
        // The bulkhead first: a call it rejects must not use up a half-open probe.
        let Ok(_permit) = guards.bulkhead.clone().try_acquire_owned() else {
            target.meters.bulkhead_rejections.inc();
            return Err(UpstreamError::Overloaded);
        };
        if !guards.breaker.allow() {
            return Err(UpstreamError::CircuitOpen);
        }
        target.retry.on_request();
        let mut delays = target.retry.delays();
        let mut number = 0u32;
        loop {
            number += 1;
            let (host, base) = target.hosts.pick();
            let attempt_deadline = target
                .retry
                .attempt_timeout()
                .map_or(deadline, |t| deadline.min(Instant::now() + t));
            let started = Instant::now();
            let url = format!("{base}{path}");
            let span = tracing::debug_span!(
                "upstream attempt",
                otel.name = %format!("GET {}", target.name),
                otel.kind = "client",
                tessera.upstream = %target.name,
                tessera.attempt = number,
                server.address = hosts::without_credentials(base),
                url.path = path,
                tessera.outcome = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let request = call(target.client.clone(), url, telemetry::propagation(&span));
            let result = tokio::time::timeout_at(attempt_deadline, request)
                .instrument(span.clone())
                .await
                .unwrap_or(Err(UpstreamError::Timeout));
            span.record(
                "tessera.outcome",
                result.as_ref().map_or_else(UpstreamError::code, |_| "ok"),
            );
            if result.is_err() {
                span.record("otel.status_code", "error");
            }
            drop(span);
            target
                .meters
                .latency
                .observe(started.elapsed().as_secs_f64());
            // A timeout only says the upstream is slow if it had a fair chance; one that came
            // sooner says nothing either way, so it is not recorded at all: a caller's 1 ms
            // budget must neither open the circuit for everyone nor keep a dead one closed.
            let fair_chance = started.elapsed() >= MIN_TIMEOUT_FOR_FAILURE;
            let healthy = match &result {
                Ok(_) => Some(true),
                Err(UpstreamError::Timeout) if !fair_chance => None,
                Err(e) => Some(!e.is_failure()),
            };
            if let Some(healthy) = healthy {
                target.hosts.record(host, healthy);
                guards.breaker.record(healthy);
                if lane == Lane::Reads {
                    target.publish_breaker();
                }
            }

            let error = match result {
                Ok(fetched) => return Ok(fetched),
                Err(e) => e,
            };
            if !error.is_retryable() || guards.breaker.state() == BreakerState::Open {
                return Err(error);
            }
            let Some(delay) = delays.next() else {
                return Err(error);
            };
            if Instant::now() + delay >= deadline || !target.retry.withdraw() {
                return Err(error);
            }
            tracing::debug!(upstream = %target.name, %path, error = %error, ?delay, "retrying");
            target.meters.retries.inc();
            tokio::time::sleep(delay).await;
        }
    }

    /// Each upstream's guards and its recent calls, by name, for the ops page.
    pub(crate) fn stats(&self, recent: &Recent) -> Vec<UpstreamStats> {
        let mut stats: Vec<UpstreamStats> = self
            .by_name
            .values()
            .map(|upstream| {
                let reads = &upstream.lanes[Lane::Reads as usize];
                let (state, since) = reads.breaker.state_since();
                let limit = upstream.config.max_concurrency as u64;
                let free = reads.bulkhead.available_permits() as u64;
                let (last_minute, history) = recent.upstream(&upstream.name);
                UpstreamStats {
                    name: upstream.name.clone(),
                    breaker: BreakerInfo {
                        state: state.as_str().to_owned(),
                        since_ms: unix_ms(since),
                    },
                    hosts: upstream
                        .hosts
                        .states()
                        .into_iter()
                        .map(|(url, ejected_until)| HostInfo {
                            url: url.to_owned(),
                            state: if ejected_until.is_some() {
                                "ejected"
                            } else {
                                "up"
                            }
                            .to_owned(),
                            ejected_until_ms: ejected_until.map(unix_ms),
                        })
                        .collect(),
                    bulkhead: Bulkhead {
                        in_use: limit.saturating_sub(free),
                        limit,
                    },
                    last_minute,
                    history,
                }
            })
            .collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }

    /// Whether `upstream` is configured.
    pub(crate) fn has(&self, upstream: &str) -> bool {
        self.target(upstream).is_ok()
    }

    fn target(&self, upstream: &str) -> Result<&Upstream, UpstreamError> {
        self.by_name
            .get(upstream)
            .map(|u| &**u)
            .ok_or_else(|| UpstreamError::Unknown(upstream.to_owned()))
    }

    /// `POST {upstream}{path}` with a JSON body, once (writes are never retried). Returns the
    /// upstream's status and JSON body.
    pub(crate) async fn post_json(
        &self,
        upstream: &str,
        path: &str,
        body: bytes::Bytes,
        deadline: Instant,
        request_id: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<(u16, serde_json::Value), UpstreamError> {
        let target = self.target(upstream)?;
        let guards = &target.lanes[Lane::Writes as usize];
        let Ok(_permit) = guards.bulkhead.clone().try_acquire_owned() else {
            return Err(UpstreamError::Overloaded);
        };
        if !guards.breaker.allow() {
            return Err(UpstreamError::CircuitOpen);
        }
        let (_, base) = target.hosts.pick();
        let call = async {
            let mut request = target
                .client
                .post(format!("{base}{path}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .headers(telemetry::propagation(&tracing::Span::current()))
                .body(body);
            if let Some(id) = request_id {
                request = request.header("x-request-id", id);
            }
            if let Some(token) = bearer {
                let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| UpstreamError::Decode)?;
                value.set_sensitive(true);
                request = request.header(header::AUTHORIZATION, value);
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
            Ok((status.as_u16(), json))
        };
        let result = tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        let healthy = match &result {
            Ok((status, _)) => *status < 500,
            Err(e) => !e.is_failure(),
        };
        // A write's outcome says something about writes only: its lane's breaker, not the
        // hosts the reads are balanced over.
        guards.breaker.record(healthy);
        result
    }
}

impl Upstream {
    /// Sets its breaker gauge from its read lane's breaker.
    fn publish_breaker(&self) {
        let state = match self.lanes[Lane::Reads as usize].breaker.state() {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        self.meters.breaker_state.set(state);
    }
}
