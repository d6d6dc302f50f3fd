//! The part cache: cache-aside in front of the upstreams, with RFC 5861 windows. Within its TTL
//! an entry is served as `ok`; then, for `stale_while_revalidate`, it is served at once as
//! `stale` while one background refresh runs; and for `stale_if_error`, it stands in (as
//! `stale`, with its age) when the upstream fails. Refreshes revalidate with the upstream's
//! ETag. Concurrent misses for one key make one upstream call. Entries live in a bounded
//! in-process cache (moka), and, when configured, in Redis shared by every replica.
//!
//! Invalidation never scans: a drop names a scope (a key, or a path prefix in whole
//! segments), is recorded once here and once in Redis, and every entry, fill and rendered view
//! begun before it is found dead when next read.
//!
//! - `entry`: an entry and its windows; `invalidation`: scopes, and the log of drops;
//! - `redis`: the shared layer and the invalidation channel between replicas;
//! - `rendered`: whole view responses kept while all their parts are fresh.

mod edge;
mod entry;
mod invalidation;
mod redis;
mod rendered;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{CacheConfig, PartCacheConfig};
use crate::metrics::Metrics;
use crate::upstream::{Behalf, Fetched, UpstreamError, Upstreams};
use edge::EdgeCache;
pub(crate) use edge::tags as edge_tags;
pub(crate) use entry::FreshKey;
use entry::{ByLifetime, Entry, Kept, estimate_size, new_entry, now_ms};
use invalidation::Invalidations;
pub(crate) use invalidation::{BadTarget, Invalidation};
pub use redis::CHANNEL;
use redis::Generations;
pub(crate) use redis::{SharedCache, SharedError};
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
    /// The request's headers some upstream passes on (the fill sends its upstream's).
    pub forwarded: &'a Arc<http::HeaderMap>,
    /// What of them this upstream is sent, which makes the answer differ
    /// ([`Upstreams::vary`]): part of the key.
    pub vary: Option<&'a str>,
    /// The client a fill calls: the one of the configuration the request began on (a reload
    /// may replace it while the cache, and its entries, stay).
    pub upstreams: &'a Arc<Upstreams>,
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

/// How a lookup was answered, on its span (`tessera.cache`): the last word counts.
fn answered(how: &'static str) {
    tracing::Span::current().record("tessera.cache", how);
}

/// The in-flight map is first swept when it holds this many calls.
const MIN_SWEEP: usize = 1_024;

type FlightFuture = BoxFuture<'static, Result<Arc<Entry>, UpstreamError>>;
type Flight = Shared<FlightFuture>;

struct InFlight {
    mark: u64,
    number: u64,
    flight: WeakShared<FlightFuture>,
}

/// What the layers hold for a key: the entry, and the shared layer's generations when it was
/// asked (the generations a fill begun now stores its answer under).
#[derive(Debug, Default)]
struct Found {
    entry: Option<Arc<Entry>>,
    generations: Option<Generations>,
}

/// The cache of every part. Cheap to clone.
#[derive(Clone)]
pub(crate) struct PartCache {
    inner: Arc<Inner>,
}

struct Inner {
    local: moka::future::Cache<String, Kept>,
    rendered: RenderedViews,
    shared: Option<SharedCache>,
    /// Upstream calls under way, by key, each with the invalidation mark it began at and a
    /// number that tells flights apart.
    in_flight: Mutex<HashMap<String, InFlight>>,
    /// Numbers flights.
    flights: AtomicU64,
    /// When the in-flight map grows past this, calls dropped with their callers are swept out.
    sweep_at: AtomicUsize,
    invalidations: Mutex<Invalidations>,
    /// Fills that may go on after every client waiting for them left (each holds a permit).
    detached: Arc<Semaphore>,
    /// The edge cache in front, purged by tag when something drops.
    edge: Option<EdgeCache>,
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
    /// `retention`: how long a drop is remembered, longer than anything begun before it lives.
    pub(crate) fn new(
        config: &CacheConfig,
        shared: Option<SharedCache>,
        retention: Duration,
        metrics: Metrics,
    ) -> Self {
        // Weigh each entry by its size, but at least by an even share of the byte budget, so
        // the byte bound also bounds the number of entries.
        let floor = (config.max_bytes / config.max_entries.max(1)).max(1);
        let local = moka::future::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(move |key: &String, kept: &Kept| {
                let size = key.len() as u64 + estimate_size(&kept.entry.data);
                u32::try_from(size.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(ByLifetime)
            .build();
        let rendered = RenderedViews::new(config.max_bytes / 4, floor);
        let edge = config.edge_purge_url.as_deref().and_then(|url| {
            EdgeCache::new(url, Duration::from_millis(config.edge_timeout_ms))
                .inspect_err(|e| tracing::error!(error = %e, "no edge purges: no HTTP client"))
                .ok()
        });
        Self {
            inner: Arc::new(Inner {
                local,
                rendered,
                shared,
                in_flight: Mutex::new(HashMap::new()),
                flights: AtomicU64::new(0),
                sweep_at: AtomicUsize::new(MIN_SWEEP),
                invalidations: Mutex::new(Invalidations::new(retention)),
                detached: Arc::new(Semaphore::new(config.max_detached_fills)),
                edge,
                metrics,
            }),
        }
    }

    /// Remembers drops for at least `retention` (here and in Redis): a reload whose parts
    /// live longer than those it started with.
    pub(crate) fn raise_retention(&self, retention: Duration) {
        self.inner
            .invalidations
            .lock()
            .expect("invalidations lock")
            .raise_retention(retention);
        if let Some(shared) = &self.inner.shared {
            shared.raise_retention(retention);
        }
    }

    pub(crate) fn shared(&self) -> Option<&SharedCache> {
        self.inner.shared.as_ref()
    }

    /// The part's data from the cache or its upstream, per its policy; traced as a span
    /// whose `tessera.cache` says how it was answered (the event names of the metrics).
    pub(crate) async fn get(&self, lookup: Lookup<'_>) -> Result<Served, UpstreamError> {
        let mut key = cache_key(lookup.upstream, lookup.path);
        if let Some(vary) = lookup.vary {
            key.push_str(vary);
        }
        let span = tracing::debug_span!(
            "cache lookup",
            otel.name = %format!("cache {}", lookup.label),
            tessera.part = lookup.label,
            tessera.key = %key,
            tessera.cache = tracing::field::Empty,
        );
        self.answer(lookup, key).instrument(span).await
    }

    async fn answer(&self, lookup: Lookup<'_>, key: String) -> Result<Served, UpstreamError> {
        // A slow shared layer counts as a miss, not as time past the part's deadline.
        let Found {
            entry: cached,
            generations,
        } = tokio::time::timeout_at(lookup.deadline, self.lookup(&key))
            .await
            .unwrap_or_default();
        let now = now_ms();
        let metrics = &self.inner.metrics;
        if let Some(entry) = &cached {
            if entry.is_fresh(now) {
                metrics.cache_event(lookup.label, "hit");
                answered("hit");
                return Ok(fresh(entry, &key));
            }
            if entry.may_revalidate_in_background(now) {
                metrics.cache_event(lookup.label, "stale_while_revalidate");
                answered("stale_while_revalidate");
                // The refresh outlives this request on purpose, with the part's own timeout;
                // coalescing makes it happen once however many requests see the stale entry.
                // Only as a detached fill: a refresh no client waits for would never run.
                let deadline = Instant::now() + lookup.refresh_timeout;
                match self.inner.detached.clone().try_acquire_owned() {
                    Ok(permit) => drop(self.flight(
                        &lookup,
                        &key,
                        Some(entry.clone()),
                        generations,
                        deadline,
                        Some(permit),
                    )),
                    Err(_) => metrics.cache_event(lookup.label, "undetached"),
                }
                return Ok(stale(entry, now));
            }
        }
        metrics.cache_event(lookup.label, "miss");
        answered("miss");
        // The shared call has the part's own timeout; each caller stops waiting at its own
        // deadline (a short client budget must not cut the call short for the others).
        let flight_deadline = Instant::now() + lookup.refresh_timeout;
        let permit = self.inner.detached.clone().try_acquire_owned().ok();
        let flight = self.flight(
            &lookup,
            &key,
            cached.clone(),
            generations,
            flight_deadline,
            permit,
        );
        let result = tokio::time::timeout_at(lookup.deadline, flight)
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        match (result, cached) {
            (Ok(entry), _) => Ok(fresh(&entry, &key)),
            (Err(e), Some(entry)) if e.is_failure() && entry.may_stand_in_for_errors(now_ms()) => {
                metrics.cache_event(lookup.label, "stale_if_error");
                answered("stale_if_error");
                tracing::info!(%key, error = %e, "serving a stale entry for a failing upstream");
                Ok(stale(&entry, now_ms()))
            }
            (Err(e), _) => Err(e),
        }
    }

    /// The upstream call for `key`, shared by every caller that wants it at the same time
    /// (unless a drop of its key overtook it: then a new one starts). With a `permit`, a new
    /// call runs to its end even if every caller leaves (its answer serves the next ones);
    /// without, it ends with its last caller, like an uncached call.
    fn flight(
        &self,
        lookup: &Lookup<'_>,
        key: &str,
        previous: Option<Arc<Entry>>,
        generations: Option<Generations>,
        deadline: Instant,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Flight {
        let mut in_flight = self.inner.in_flight.lock().expect("in-flight lock");
        if let Some(existing) = in_flight.get(key)
            && let Some(flight) = existing.flight.upgrade()
            && !self.overtaken(existing.mark, key)
        {
            self.inner.metrics.cache_event(lookup.label, "coalesced");
            return flight;
        }
        let inner = self.inner.clone();
        let key_owned = key.to_owned();
        let (upstream, path) = (lookup.upstream.to_owned(), lookup.path.to_owned());
        let request_id = lookup.request_id.map(str::to_owned);
        let forwarded = lookup.forwarded.clone();
        let policy = lookup.policy.clone();
        let label = lookup.label.to_owned();
        let upstreams = lookup.upstreams.clone();
        let mark = self.invalidation_mark();
        let number = self.inner.flights.fetch_add(1, Ordering::Relaxed);
        let flight = async move {
            // The generations are taken before the upstream call, so that an answer a drop
            // overtakes is stored under generations the drop retired.
            let generations = match (generations, &inner.shared) {
                (Some(generations), _) => Some(generations),
                (None, Some(shared)) => shared.generations(&key_owned).await,
                (None, None) => None,
            };
            let etag = previous.as_ref().and_then(|p| p.etag.clone());
            let result = upstreams
                .get(
                    &upstream,
                    &path,
                    deadline,
                    Behalf {
                        request_id: request_id.as_deref(),
                        forwarded: Some(&forwarded),
                        bearer: None,
                    },
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
                    if !upstreams.is_retired(&upstream) {
                        store(&inner, &key_owned, entry.clone(), mark, generations).await;
                    }
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
                        if !upstreams.is_retired(&upstream) {
                            store(&inner, &key_owned, renewed.clone(), mark, generations).await;
                        }
                        Ok(renewed)
                    }
                    None => Err(UpstreamError::Status(304)),
                },
                Err(e) => Err(e),
            };
            // Leave the map, unless a newer flight for the key took this one's place.
            let mut in_flight = inner.in_flight.lock().expect("in-flight lock");
            if in_flight
                .get(&key_owned)
                .is_some_and(|f| f.number == number)
            {
                in_flight.remove(&key_owned);
            }
            drop(in_flight);
            outcome
        }
        // A span of its own, under the lookup that began it: whoever polls the shared call
        // (a joined request, the detached task), its attempts stay in the initiator's trace.
        .instrument(tracing::debug_span!(
            "cache fill",
            otel.name = %format!("fill {}", lookup.label),
            tessera.key = key,
        ))
        .boxed()
        .shared();
        if let Some(weak) = flight.downgrade() {
            let entry = InFlight {
                mark,
                number,
                flight: weak,
            };
            in_flight.insert(key.to_owned(), entry);
            // Calls that ended with their last caller never removed themselves.
            if in_flight.len() > self.inner.sweep_at.load(Ordering::Relaxed) {
                in_flight.retain(|_, f| f.flight.upgrade().is_some());
                let next = (2 * in_flight.len()).max(MIN_SWEEP);
                self.inner.sweep_at.store(next, Ordering::Relaxed);
            }
        }
        drop(in_flight);
        match permit {
            Some(permit) => {
                let detached = flight.clone();
                tokio::spawn(async move {
                    let _ = detached.await;
                    drop(permit);
                });
            }
            None => self.inner.metrics.cache_event(lookup.label, "undetached"),
        }
        flight
    }

    /// Whether a drop since `mark` concerns `key`.
    fn overtaken(&self, mark: u64, key: &str) -> bool {
        self.inner
            .invalidations
            .lock()
            .expect("invalidations lock")
            .overtook(mark, key)
    }

    /// The live local entry, or the shared one (which then fills the local layer).
    async fn lookup(&self, key: &str) -> Found {
        // Taken before either layer is read: a drop from now on makes what is found dead.
        let mark = self.invalidation_mark();
        if let Some(kept) = self.inner.local.get(key).await {
            if !self.overtaken(kept.mark, key) {
                return Found {
                    entry: Some(kept.entry),
                    generations: None,
                };
            }
            self.inner.local.invalidate(key).await;
        }
        let Some(shared) = self.inner.shared.as_ref() else {
            return Found::default();
        };
        let Some(found) = shared.get(key).await else {
            return Found::default();
        };
        let entry = found
            .entry
            .map(Arc::new)
            .filter(|entry| entry.remaining(now_ms()) > Duration::ZERO);
        if let Some(entry) = &entry {
            let kept = Kept {
                mark,
                entry: entry.clone(),
            };
            self.inner.local.insert(key.to_owned(), kept).await;
        }
        Found {
            entry,
            generations: Some(found.generations),
        }
    }

    /// Drops the target here, in Redis, and in every replica. A drop Redis did not take is an
    /// error (logged and counted too): other replicas may serve what it meant to drop until
    /// their entries expire. This replica's own layers are dropped either way.
    pub(crate) async fn invalidate(&self, target: &Invalidation) -> Result<(), SharedError> {
        // Redis first, so a lookup here cannot refill the local layer from it meanwhile.
        let shared = match &self.inner.shared {
            Some(shared) => shared.invalidate(target).await,
            None => Ok(()),
        };
        self.invalidate_local(target, "here");
        // Then the edge: views it keeps were made of what is now dropped.
        if let Some(edge) = &self.inner.edge
            && let Err(error) = edge.purge(target).await
        {
            self.inner.metrics.invalidation_failures.inc();
            tracing::error!(?target, %error, "an invalidation did not reach the edge cache");
        }
        if let Err(error) = &shared {
            self.inner.metrics.invalidation_failures.inc();
            tracing::error!(
                ?target,
                %error,
                "an invalidation did not reach the shared cache: other replicas may serve \
                 dropped entries until they expire"
            );
        }
        shared
    }

    /// Writes the size of each layer of this replica's cache, and how many drops it remembers,
    /// into its gauges (for a scrape).
    /// Both layers apply their pending inserts and evictions first, so the figures are exact
    /// at that moment rather than moka's lagging estimate.
    pub(crate) async fn report_size(&self) {
        let metrics = &self.inner.metrics;
        let local = &self.inner.local;
        local.run_pending_tasks().await;
        metrics.cache_size("parts", local.entry_count(), local.weighted_size());
        let (views, weight) = self.inner.rendered.size();
        metrics.cache_size("rendered", views, weight);
        let drops = self
            .inner
            .invalidations
            .lock()
            .expect("invalidations lock")
            .remembered();
        metrics.drops_remembered(drops);
    }

    /// The keys this replica holds, part entries and rendered views, sorted, at most `limit`
    /// of each (for `GET /admin/cache`).
    pub(crate) fn keys(&self, limit: usize) -> (Vec<String>, Vec<String>) {
        let mut entries: Vec<String> = self
            .inner
            .local
            .iter()
            .take(limit)
            .map(|(key, _)| key.to_string())
            .collect();
        entries.sort();
        let mut rendered = self.inner.rendered.keys(limit);
        rendered.sort();
        (entries, rendered)
    }

    /// A rendered view still valid, by its key (see [`PartCache::keep_rendered`]).
    pub(crate) fn rendered(&self, key: &str) -> Option<Arc<RenderedView>> {
        let invalidations = self.inner.invalidations.lock().expect("invalidations lock");
        self.inner.rendered.get(key, &invalidations)
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

    /// Drops the target in this replica's layers (what a pub/sub message asks for): one
    /// record, and everything begun before it under its scope is dead from now on.
    /// `origin`: `here` or `replica`, for the metric.
    pub(crate) fn invalidate_local(&self, target: &Invalidation, origin: &str) {
        self.inner
            .invalidations
            .lock()
            .expect("invalidations lock")
            .record(target.scope());
        self.inner.metrics.invalidation(origin);
    }
}

/// Keeps a fetched entry, unless it is useless (no lifetime) or a drop of its key overtook
/// the fill that fetched it (begun at `mark`). A drop landing after this check still wins:
/// the entry keeps `mark`, so it is dead when read, and in Redis it carries the generations
/// the drop retired.
async fn store(
    inner: &Inner,
    key: &str,
    entry: Arc<Entry>,
    mark: u64,
    generations: Option<Generations>,
) {
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
    let kept = Kept {
        mark,
        entry: entry.clone(),
    };
    inner.local.insert(key.to_owned(), kept).await;
    if let (Some(shared), Some(generations)) = (inner.shared.clone(), generations) {
        // Sharing must not delay the response that fetched the entry.
        let key = key.to_owned();
        let entry = Entry::clone(&entry);
        tokio::spawn(async move { shared.set(&key, entry, generations).await });
    }
}

fn fresh(entry: &Entry, key: &str) -> Served {
    Served {
        data: entry.data.clone(),
        stale_age_s: None,
        fresh: Some(FreshKey {
            key: key.to_owned(),
            fresh_until_ms: entry.stored_at_ms.saturating_add(entry.fresh_ms),
            revalidate_ms: entry.swr_ms,
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
