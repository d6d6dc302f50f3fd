//! The part cache: cache-aside in front of the upstreams, with RFC 5861 windows. Within its TTL
//! an entry is served as `ok`; then, for `stale_while_revalidate`, it is served at once as
//! `stale` while one background refresh runs; and for `stale_if_error`, it stands in (as
//! `stale`, with its age) when the upstream fails. Refreshes revalidate with the upstream's
//! ETag. Concurrent misses for one key make one upstream call. Entries live in a bounded
//! in-process cache (moka), and, when configured, in Redis shared by every replica.
//!
//! - `entry`: an entry and its windows; `invalidation`: what to drop, and the log of drops;
//! - `redis`: the shared layer and the invalidation channel between replicas;
//! - `rendered`: whole view responses kept while all their parts are fresh.

mod entry;
mod invalidation;
mod redis;
mod rendered;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use tokio::time::Instant;

use crate::config::{CacheConfig, PartCacheConfig};
use crate::metrics::Metrics;
use crate::upstream::{Fetched, UpstreamError, Upstreams};
pub(crate) use entry::FreshKey;
use entry::{ByLifetime, Entry, estimate_size, new_entry, now_ms};
pub(crate) use invalidation::Invalidation;
use invalidation::Invalidations;
pub use redis::CHANNEL;
pub(crate) use redis::SharedCache;
pub(crate) use rendered::RenderedView;
use rendered::RenderedViews;

/// One part's request of the cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup<'a> {
    /// `view.part`, for metrics.
    pub label: &'a str,
    pub upstream: &'a str,
    pub path: &'a str,
    pub policy: &'a PartCacheConfig,
    pub deadline: Instant,
    /// The deadline of a background refresh, from when it starts.
    pub refresh_timeout: Duration,
    pub request_id: Option<&'a str>,
}

/// What the cache gives a part.
#[derive(Debug)]
pub(crate) struct Served {
    pub data: serde_json::Value,
    /// `Some(age in seconds)` when the data is stale.
    pub stale_age_s: Option<u64>,
    /// For fresh cached data: its key and freshness.
    pub fresh: Option<FreshKey>,
}

type FlightFuture = BoxFuture<'static, Result<Arc<Entry>, UpstreamError>>;
type Flight = Shared<FlightFuture>;

/// The cache of every part. Cheap to clone.
#[derive(Clone)]
pub(crate) struct PartCache {
    inner: Arc<Inner>,
}

struct Inner {
    local: moka::future::Cache<String, Arc<Entry>>,
    rendered: RenderedViews,
    shared: Option<SharedCache>,
    /// Upstream calls under way, by key (each also held by the task that drives it).
    /// Each with the invalidation mark it started at, which also tells flights apart.
    in_flight: Mutex<HashMap<String, (u64, WeakShared<FlightFuture>)>>,
    invalidations: Mutex<Invalidations>,
    upstreams: Arc<Upstreams>,
    metrics: Metrics,
}

impl std::fmt::Debug for PartCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartCache")
            .field("entries", &self.inner.local.entry_count())
            .field("shared", &self.inner.shared.is_some())
            .finish()
    }
}

impl PartCache {
    pub(crate) fn new(
        config: &CacheConfig,
        upstreams: Arc<Upstreams>,
        shared: Option<SharedCache>,
        metrics: Metrics,
    ) -> Self {
        // Weigh each entry by its size, but at least by an even share of the byte budget, so
        // the byte bound also bounds the number of entries.
        let floor = (config.max_bytes / config.max_entries.max(1)).max(1);
        let local = moka::future::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(move |key: &String, entry: &Arc<Entry>| {
                let size = key.len() as u64 + estimate_size(&entry.data);
                u32::try_from(size.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(ByLifetime)
            .build();
        let rendered = RenderedViews::new(config.max_bytes / 4, floor);
        Self {
            inner: Arc::new(Inner {
                local,
                rendered,
                shared,
                in_flight: Mutex::new(HashMap::new()),
                invalidations: Mutex::new(Invalidations::default()),
                upstreams,
                metrics,
            }),
        }
    }

    pub(crate) fn shared(&self) -> Option<&SharedCache> {
        self.inner.shared.as_ref()
    }

    /// The part's data from the cache or its upstream, per its policy.
    pub(crate) async fn get(&self, lookup: Lookup<'_>) -> Result<Served, UpstreamError> {
        let key = cache_key(lookup.upstream, lookup.path);
        // A slow shared layer counts as a miss, not as time past the part's deadline.
        let cached = tokio::time::timeout_at(lookup.deadline, self.lookup(&key))
            .await
            .ok()
            .flatten();
        let now = now_ms();
        let metrics = &self.inner.metrics;
        if let Some(entry) = &cached {
            if entry.is_fresh(now) {
                metrics.cache_event(lookup.label, "hit");
                return Ok(fresh(entry, &key));
            }
            if entry.may_revalidate_in_background(now) {
                metrics.cache_event(lookup.label, "stale_while_revalidate");
                // The refresh outlives this request on purpose, with the part's own timeout;
                // coalescing makes it happen once however many requests see the stale entry.
                let deadline = Instant::now() + lookup.refresh_timeout;
                drop(self.flight(&lookup, &key, Some(entry.clone()), deadline));
                return Ok(stale(entry, now));
            }
        }
        metrics.cache_event(lookup.label, "miss");
        // The shared call has the part's own timeout; each caller stops waiting at its own
        // deadline (a short client budget must not cut the call short for the others).
        let flight_deadline = Instant::now() + lookup.refresh_timeout;
        let flight = self.flight(&lookup, &key, cached.clone(), flight_deadline);
        let result = tokio::time::timeout_at(lookup.deadline, flight)
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        match (result, cached) {
            (Ok(entry), _) => Ok(fresh(&entry, &key)),
            (Err(e), Some(entry)) if e.is_failure() && entry.may_stand_in_for_errors(now_ms()) => {
                metrics.cache_event(lookup.label, "stale_if_error");
                tracing::info!(%key, error = %e, "serving a stale entry for a failing upstream");
                Ok(stale(&entry, now_ms()))
            }
            (Err(e), _) => Err(e),
        }
    }

    /// The upstream call for `key`, shared by every caller that wants it at the same time.
    fn flight(
        &self,
        lookup: &Lookup<'_>,
        key: &str,
        previous: Option<Arc<Entry>>,
        deadline: Instant,
    ) -> Flight {
        let mut in_flight = self.inner.in_flight.lock().expect("in-flight lock");
        if let Some(existing) = in_flight.get(key).and_then(|(_, f)| f.upgrade()) {
            self.inner.metrics.cache_event(lookup.label, "coalesced");
            return existing;
        }
        let inner = self.inner.clone();
        let key_owned = key.to_owned();
        let (upstream, path) = (lookup.upstream.to_owned(), lookup.path.to_owned());
        let request_id = lookup.request_id.map(str::to_owned);
        let policy = lookup.policy.clone();
        let label = lookup.label.to_owned();
        let mark = self.invalidation_mark();
        let flight = async move {
            let etag = previous.as_ref().and_then(|p| p.etag.clone());
            let result = inner
                .upstreams
                .get(
                    &upstream,
                    &path,
                    deadline,
                    request_id.as_deref(),
                    etag.as_deref(),
                )
                .await;
            let outcome = match result {
                Ok(Fetched::Fresh {
                    data,
                    etag,
                    max_age,
                    no_store,
                }) => {
                    // `no-store`: served once, never kept (zero windows also keep the view
                    // that contains it from being kept as rendered).
                    let max_age = if no_store {
                        Some(Duration::ZERO)
                    } else {
                        max_age
                    };
                    let mut entry = new_entry(data, etag, &policy, max_age);
                    if no_store {
                        (entry.swr_ms, entry.sie_ms) = (0, 0);
                    }
                    let entry = Arc::new(entry);
                    store(&inner, &key_owned, entry.clone(), mark).await;
                    Ok(entry)
                }
                Ok(Fetched::NotModified { max_age }) => match previous {
                    Some(previous) => {
                        inner.metrics.cache_event(&label, "revalidated");
                        let renewed = Arc::new(new_entry(
                            previous.data.clone(),
                            previous.etag.clone(),
                            &policy,
                            max_age,
                        ));
                        store(&inner, &key_owned, renewed.clone(), mark).await;
                        Ok(renewed)
                    }
                    None => Err(UpstreamError::Status(304)),
                },
                Err(e) => Err(e),
            };
            // Leave the map, unless an invalidation already took this flight out of it (and a
            // newer flight for the key may be there now).
            let mut in_flight = inner.in_flight.lock().expect("in-flight lock");
            if in_flight.get(&key_owned).is_some_and(|(m, _)| *m == mark) {
                in_flight.remove(&key_owned);
            }
            drop(in_flight);
            outcome
        }
        .boxed()
        .shared();
        if let Some(weak) = flight.downgrade() {
            in_flight.insert(key.to_owned(), (mark, weak));
        }
        // A cache fill runs to its end (within the part's timeout) even if every client that
        // wanted it has gone: its answer serves the next ones. (Uncached calls, by contrast,
        // are dropped with their client.) Finishing, it leaves the in-flight map itself.
        tokio::spawn(flight.clone());
        flight
    }

    /// The local entry, or the shared one (which then fills the local layer).
    async fn lookup(&self, key: &str) -> Option<Arc<Entry>> {
        if let Some(entry) = self.inner.local.get(key).await {
            return Some(entry);
        }
        let shared = self.inner.shared.as_ref()?;
        let entry = Arc::new(shared.get(key).await?);
        if entry.remaining(now_ms()) > Duration::ZERO {
            self.inner.local.insert(key.to_owned(), entry.clone()).await;
            Some(entry)
        } else {
            None
        }
    }

    /// Drops entries here and, through Redis, in the shared layer and every replica's local one.
    /// Returns how many local entries were dropped.
    pub(crate) async fn invalidate(&self, target: &Invalidation) -> u64 {
        // Redis first, so a concurrent lookup cannot refill the local layer from it.
        if let Some(shared) = &self.inner.shared {
            shared.invalidate(target).await;
        }
        self.invalidate_local(target).await
    }

    /// A rendered view still valid, by its key (see [`PartCache::keep_rendered`]).
    pub(crate) fn rendered(&self, key: &str) -> Option<Arc<RenderedView>> {
        self.inner.rendered.get(key)
    }

    /// Where this replica's invalidations stand now: work that starts here (a fill, a view)
    /// can tell later whether an invalidation overtook it.
    pub(crate) fn invalidation_mark(&self) -> u64 {
        self.inner
            .invalidations
            .lock()
            .expect("invalidations lock")
            .next
    }

    /// Keeps a view's response until its first part goes stale — unless one of its parts was
    /// invalidated since `mark` (taken before the view was composed), which would keep data
    /// the invalidation meant to drop.
    pub(crate) fn keep_rendered(&self, key: String, view: RenderedView, mark: u64) {
        let invalidations = self.inner.invalidations.lock().expect("invalidations lock");
        self.inner.rendered.keep(key, view, mark, &invalidations);
    }

    /// Drops matching entries of this replica only (what a pub/sub message asks for), and the
    /// rendered views made from them.
    pub(crate) async fn invalidate_local(&self, target: &Invalidation) -> u64 {
        // Recorded first: a fill under way for a matching key will not store its answer, and
        // new requests start a fill of their own rather than joining it.
        self.inner
            .invalidations
            .lock()
            .expect("invalidations lock")
            .record(target);
        self.inner
            .in_flight
            .lock()
            .expect("in-flight lock")
            .retain(|key, _| !target.matches(key));
        self.inner.rendered.drop_matching(target);
        let keys: Vec<Arc<String>> = self
            .inner
            .local
            .iter()
            .filter(|(key, _)| target.matches(key))
            .map(|(key, _)| key)
            .collect();
        for key in &keys {
            self.inner.local.invalidate(key.as_str()).await;
        }
        keys.len() as u64
    }
}

/// Keeps a fetched entry, unless it is useless (no lifetime) or an invalidation of its key
/// overtook the fill that fetched it (begun at `mark`).
async fn store(inner: &Inner, key: &str, entry: Arc<Entry>, mark: u64) {
    if entry.lifetime().is_zero() {
        return;
    }
    let overtaken = inner
        .invalidations
        .lock()
        .expect("invalidations lock")
        .overtook(mark, key);
    if overtaken {
        tracing::debug!(%key, "not storing a fill an invalidation overtook");
        return;
    }
    inner.local.insert(key.to_owned(), entry.clone()).await;
    if let Some(shared) = inner.shared.clone() {
        // Sharing must not delay the response that fetched the entry.
        let key = key.to_owned();
        tokio::spawn(async move { shared.set(&key, &entry).await });
    }
}

fn fresh(entry: &Entry, key: &str) -> Served {
    Served {
        data: entry.data.clone(),
        stale_age_s: None,
        fresh: Some(FreshKey {
            key: key.to_owned(),
            fresh_until_ms: entry.stored_at_ms.saturating_add(entry.fresh_ms),
        }),
    }
}

fn stale(entry: &Entry, now_ms: u64) -> Served {
    Served {
        data: entry.data.clone(),
        stale_age_s: Some(entry.age_ms(now_ms) / 1000),
        fresh: None,
    }
}

/// The key of an upstream response: `upstream:/path?query`. Invalidation prefixes use the same
/// form.
pub(crate) fn cache_key(upstream: &str, path: &str) -> String {
    format!("{upstream}:{path}")
}
