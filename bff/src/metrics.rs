//! Prometheus metrics, served as text at `/metrics`: per upstream, request latency, outcomes,
//! retries, breaker state and bulkhead rejections; per part, cache hits, misses, stale serves
//! and coalesced waits; whether the shared cache (Redis) is reachable.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::config::Config;
use crate::ops::{Lookup, Recent};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabels {
    pub(crate) upstream: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub(crate) upstream: String,
    /// `ok`, or an error code (`timeout`, `unavailable`, `upstream_status`, ...).
    pub(crate) outcome: String,
}

/// A layer of this replica's own cache: `parts` (the part cache) or `rendered` (whole views).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LayerLabels {
    pub(crate) layer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheLabels {
    /// `view.part`.
    pub(crate) part: String,
    /// `hit`, `miss`, `stale_while_revalidate`, `stale_if_error`, `coalesced`, `revalidated`,
    /// `undetached` (a fill that ends with its last client: too many run detached already).
    pub(crate) event: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OriginLabels {
    /// `here` (an action or the admin API on this replica), `replica` (another one's, through
    /// pub/sub) or `resubscribe` (everything, when this replica (re)subscribes).
    pub(crate) origin: String,
}

/// What a request was for: the route (`view`, `part`, `action`, `media`, `admin`, `health`,
/// `metrics`, `assets`) and the configured view, action or media it named (`""` for none,
/// `other` for a name the configuration does not have, so clients cannot mint series).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: String,
    pub(crate) name: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: String,
    pub(crate) name: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub(crate) class: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PartLabels {
    /// `view.part`.
    pub(crate) part: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PartOutcomeLabels {
    pub(crate) part: String,
    /// `ok`, `stale`, `partial`, `fallback`, `timeout` or `error`.
    pub(crate) status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReloadLabels {
    pub(crate) outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ViewLabels {
    pub(crate) view: String,
}

/// Every metric the BFF exports. Cheap to clone (all handles are shared).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    pub(crate) upstream_latency: Family<UpstreamLabels, Histogram>,
    pub(crate) upstream_requests: Family<OutcomeLabels, Counter>,
    pub(crate) upstream_retries: Family<UpstreamLabels, Counter>,
    pub(crate) breaker_state: Family<UpstreamLabels, Gauge<i64, AtomicI64>>,
    pub(crate) bulkhead_rejections: Family<UpstreamLabels, Counter>,
    pub(crate) cache_events: Family<CacheLabels, Counter>,
    /// Entries and their weight (bytes, at least each entry's even share of the budget) in
    /// each layer of this replica's cache, read when `/metrics` is scraped.
    cache_entries: Family<LayerLabels, Gauge<i64, AtomicI64>>,
    cache_weight: Family<LayerLabels, Gauge<i64, AtomicI64>>,
    /// The scopes of cache drops this replica remembers, read when `/metrics` is scraped.
    drops_remembered: Gauge<i64, AtomicI64>,
    pub(crate) redis_up: Gauge<i64, AtomicI64>,
    pub(crate) redis_skipping: Gauge<i64, AtomicI64>,
    pub(crate) redis_skipped: Counter,
    pub(crate) invalidations: Family<OriginLabels, Counter>,
    pub(crate) invalidation_failures: Counter,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) request_duration: Family<RouteLabels, Histogram>,
    pub(crate) in_flight: Gauge<i64, AtomicI64>,
    pub(crate) streams_open: Gauge<i64, AtomicI64>,
    pub(crate) part_outcomes: Family<PartOutcomeLabels, Counter>,
    pub(crate) part_duration: Family<PartLabels, Histogram>,
    pub(crate) rendered_hits: Family<ViewLabels, Counter>,
    /// The running configuration's generation (1 at start, one more per applied reload).
    pub(crate) config_generation: Gauge<i64, AtomicI64>,
    /// Reloads by outcome (`applied`, `unchanged`, `rejected`).
    pub(crate) reloads: Family<ReloadLabels, Counter>,
    /// The last minutes, per second, for the ops page.
    pub(crate) recent: Arc<Recent>,
    process: Process,
}

/// The process's own resources, read (with `procfs`) when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
struct Process {
    resident_bytes: Gauge<i64, AtomicI64>,
    open_fds: Gauge<i64, AtomicI64>,
    cpu_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let r = &mut registry;
        let upstream_latency = register(
            r,
            "upstream_request_duration_seconds",
            "Upstream attempt latency",
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let upstream_requests = new(r, "upstream_requests", "Upstream requests by outcome");
        let upstream_retries = new(r, "upstream_retries", "Retried upstream attempts");
        let breaker_state = new(
            r,
            "upstream_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
        );
        let bulkhead_rejections = new(
            r,
            "upstream_bulkhead_rejections",
            "Requests rejected because the upstream's concurrency limit was full",
        );
        let cache_events = new(
            r,
            "cache_events",
            "Part cache events: hit, miss, stale serves, coalesced waits",
        );
        let cache_entries = new(
            r,
            "cache_entries",
            "Entries in this replica's cache, by layer (parts, rendered)",
        );
        let cache_weight = new(
            r,
            "cache_weight_bytes",
            "Weight of this replica's cache by layer: bytes, each entry at least its even share \
             of cache.max_bytes; the bound is cache.max_bytes (parts) and a quarter of it \
             (rendered)",
        );
        let drops_remembered = new(
            r,
            "cache_drops_remembered",
            "Scopes of cache drops this replica remembers, each once, for longer than anything \
             begun before its latest drop can live (at most 100,000)",
        );
        let redis_up: Gauge<i64, AtomicI64> = new(
            r,
            "redis_up",
            "Whether the shared cache answered its last command (1), failed (0) or is off (-1)",
        );
        redis_up.set(-1);
        let redis_skipping: Gauge<i64, AtomicI64> = new(
            r,
            "redis_skipping",
            "Whether the shared cache is skipped after timeouts in a row, until a probe answers (1)",
        );
        let redis_skipped = new(
            r,
            "redis_skipped_commands",
            "Shared cache commands not sent because Redis is skipped",
        );
        let invalidations = new(
            r,
            "cache_invalidations",
            "Cache drops applied on this replica, by origin (here, or another replica)",
        );
        let invalidation_failures = new(
            r,
            "cache_invalidation_failures",
            "Drops the shared cache (Redis) did not take: other replicas may serve dropped data",
        );
        let requests = new(
            r,
            "http_requests",
            "Requests by route, name and status class",
        );
        let request_duration = register(
            r,
            "http_request_duration_seconds",
            "Time to the response head, by route and name",
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let in_flight = new(r, "http_requests_in_flight", "Requests being answered now");
        let streams_open = new(r, "http_streams_open", "NDJSON view streams open now");
        let part_outcomes = new(r, "part_outcomes", "Parts composed, by status");
        let part_duration = register(
            r,
            "part_duration_seconds",
            "Time a part took, from its start (after its dependencies) to its outcome",
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let rendered_hits = new(
            r,
            "rendered_view_hits",
            "Views answered whole from the rendered-view cache",
        );
        let config_generation = new(
            r,
            "config_generation",
            "The running configuration's generation: 1 at start, one more per applied reload",
        );
        let reloads = new(
            r,
            "config_reloads",
            "Configuration reloads by outcome: applied, unchanged, rejected",
        );
        let process = Process::default();
        register(
            r,
            "process_resident_memory_bytes",
            "Resident memory",
            process.resident_bytes.clone(),
        );
        register(
            r,
            "process_open_fds",
            "Open file descriptors",
            process.open_fds.clone(),
        );
        register(
            r,
            "process_cpu_seconds",
            "CPU time used (user and system)",
            process.cpu_seconds.clone(),
        );
        Self {
            registry: Arc::new(registry),
            upstream_latency,
            upstream_requests,
            upstream_retries,
            breaker_state,
            bulkhead_rejections,
            cache_events,
            cache_entries,
            cache_weight,
            drops_remembered,
            redis_up,
            redis_skipping,
            redis_skipped,
            invalidations,
            invalidation_failures,
            requests,
            request_duration,
            in_flight,
            streams_open,
            part_outcomes,
            part_duration,
            rendered_hits,
            config_generation,
            reloads,
            recent: Arc::default(),
            process,
        }
    }
}

/// Registers `metric` under `name` and hands it back (the registry keeps a handle to the same
/// shared counters).
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// A new metric of its default kind, registered.
fn new<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    register(registry, name, help, M::default())
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every part cache event, as counted in `tessera_cache_events_total`.
const CACHE_EVENTS: [&str; 7] = [
    "hit",
    "miss",
    "stale_while_revalidate",
    "stale_if_error",
    "coalesced",
    "revalidated",
    "undetached",
];

impl Metrics {
    /// Every series the configuration implies, at zero from the start — so rates and absence
    /// alerts see each upstream and cached part before its first request or failure.
    pub(crate) fn for_config(config: &Config) -> Self {
        let metrics = Self::default();
        metrics.declare(config);
        metrics.config_generation.set(1);
        for outcome in ["applied", "unchanged", "rejected"] {
            drop(metrics.reloads.get_or_create(&ReloadLabels {
                outcome: outcome.into(),
            }));
        }
        metrics
    }

    /// Creates, at zero, the series `config` implies that do not exist yet (a reload's new
    /// views, parts and upstreams); existing ones keep counting.
    pub(crate) fn declare(&self, config: &Config) {
        let metrics = self;
        for name in config.upstreams.keys() {
            let labels = UpstreamLabels {
                upstream: name.clone(),
            };
            // Creating a series is all that is wanted here; the guards are dropped at once.
            drop(metrics.upstream_latency.get_or_create(&labels));
            drop(metrics.upstream_retries.get_or_create(&labels));
            drop(metrics.bulkhead_rejections.get_or_create(&labels));
            // Created at 0 (closed); a kept upstream's value is left as it is.
            drop(metrics.breaker_state.get_or_create(&labels));
            drop(metrics.upstream_requests.get_or_create(&OutcomeLabels {
                upstream: name.clone(),
                outcome: "ok".into(),
            }));
        }
        for origin in ["here", "replica", "resubscribe"] {
            drop(metrics.invalidations.get_or_create(&OriginLabels {
                origin: origin.into(),
            }));
        }
        for (route, name) in route_names(config) {
            let labels = RouteLabels {
                route: route.to_owned(),
                name: name.clone(),
            };
            drop(metrics.request_duration.get_or_create(&labels));
            for class in ["2xx", "3xx", "4xx", "5xx"] {
                drop(metrics.requests.get_or_create(&RequestLabels {
                    route: route.to_owned(),
                    name: name.clone(),
                    class: class.to_owned(),
                }));
            }
        }
        for (view_name, view) in &config.views {
            drop(metrics.rendered_hits.get_or_create(&ViewLabels {
                view: view_name.clone(),
            }));
            for part_name in view.parts.get_ref().keys() {
                let part = format!("{view_name}.{part_name}");
                drop(
                    metrics
                        .part_duration
                        .get_or_create(&PartLabels { part: part.clone() }),
                );
                for status in PART_STATUSES {
                    drop(metrics.part_outcomes.get_or_create(&PartOutcomeLabels {
                        part: part.clone(),
                        status: status.to_owned(),
                    }));
                }
            }
            for (part_name, part) in view.parts.get_ref() {
                if part.cache.is_none() {
                    continue;
                }
                for event in CACHE_EVENTS {
                    drop(metrics.cache_events.get_or_create(&CacheLabels {
                        part: format!("{view_name}.{part_name}"),
                        event: event.to_owned(),
                    }));
                }
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        self.process.read();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// The size of one layer of this replica's cache, as its last reading had it.
    pub(crate) fn cache_size(&self, layer: &str, entries: u64, weight: u64) {
        let labels = LayerLabels {
            layer: layer.to_owned(),
        };
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.cache_entries
            .get_or_create(&labels)
            .set(gauge(entries));
        self.cache_weight.get_or_create(&labels).set(gauge(weight));
    }

    /// How many scopes of cache drops this replica remembers, as its last reading had it.
    pub(crate) fn drops_remembered(&self, scopes: usize) {
        self.drops_remembered
            .set(i64::try_from(scopes).unwrap_or(i64::MAX));
    }

    pub(crate) fn cache_event(&self, part: &str, event: &str) {
        if let Some(lookup) = Lookup::of_event(event) {
            self.recent.lookup(part, lookup);
        }
        self.cache_events
            .get_or_create(&CacheLabels {
                part: part.to_owned(),
                event: event.to_owned(),
            })
            .inc();
    }

    pub(crate) fn invalidation(&self, origin: &str) {
        self.invalidations
            .get_or_create(&OriginLabels {
                origin: origin.to_owned(),
            })
            .inc();
    }

    /// One answered request.
    pub(crate) fn request(&self, route: &str, name: &str, status: u16, took: std::time::Duration) {
        let class = match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = RouteLabels {
            route: route.to_owned(),
            name: name.to_owned(),
        };
        self.request_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route: labels.route,
                name: labels.name,
                class: class.to_owned(),
            })
            .inc();
    }

    /// The series of part `label` (`view.part`), looked up once, when its view is planned,
    /// rather than on every request.
    pub(crate) fn part_meters(&self, label: &str) -> PartMeters {
        PartMeters {
            duration: self
                .part_duration
                .get_or_create(&PartLabels {
                    part: label.to_owned(),
                })
                .clone(),
            outcomes: PART_STATUSES.map(|status| {
                self.part_outcomes
                    .get_or_create(&PartOutcomeLabels {
                        part: label.to_owned(),
                        status: status.to_owned(),
                    })
                    .clone()
            }),
        }
    }

    /// One composed part, counted in the series `meters` holds.
    pub(crate) fn part_done(
        &self,
        meters: &PartMeters,
        label: &str,
        status: &str,
        took: std::time::Duration,
    ) {
        meters.duration.observe(took.as_secs_f64());
        self.recent.outcome(label, status);
        match PART_STATUSES.iter().position(|s| *s == status) {
            Some(i) => meters.outcomes[i].inc(),
            // Every status is in the list; a new one is still counted, the slow way.
            None => self
                .part_outcomes
                .get_or_create(&PartOutcomeLabels {
                    part: label.to_owned(),
                    status: status.to_owned(),
                })
                .inc(),
        };
    }

    /// The series of upstream `name`, looked up once per upstream client.
    pub(crate) fn upstream_meters(&self, name: &str) -> UpstreamMeters {
        let labels = UpstreamLabels {
            upstream: name.to_owned(),
        };
        UpstreamMeters {
            latency: self.upstream_latency.get_or_create(&labels).clone(),
            retries: self.upstream_retries.get_or_create(&labels).clone(),
            bulkhead_rejections: self.bulkhead_rejections.get_or_create(&labels).clone(),
            breaker_state: self.breaker_state.get_or_create(&labels).clone(),
            ok: self
                .upstream_requests
                .get_or_create(&OutcomeLabels {
                    upstream: name.to_owned(),
                    outcome: "ok".into(),
                })
                .clone(),
        }
    }

    pub(crate) fn rendered_hit(&self, view: &str) {
        self.rendered_hits
            .get_or_create(&ViewLabels {
                view: view.to_owned(),
            })
            .inc();
    }

    pub(crate) fn upstream_outcome(&self, upstream: &str, outcome: &str) {
        self.upstream_requests
            .get_or_create(&OutcomeLabels {
                upstream: upstream.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

pub(crate) use crate::ops::PART_STATUSES;

/// One part's series, shared with the registry (a handle counts into the same series).
#[derive(Debug, Clone)]
pub(crate) struct PartMeters {
    duration: Histogram,
    /// Indexed as [`PART_STATUSES`].
    outcomes: [Counter; PART_STATUSES.len()],
}

/// One upstream's series, shared with the registry.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamMeters {
    pub(crate) latency: Histogram,
    pub(crate) retries: Counter,
    pub(crate) bulkhead_rejections: Counter,
    pub(crate) breaker_state: Gauge<i64, AtomicI64>,
    /// Its `ok` outcomes; the others are rare, and looked up when they happen.
    pub(crate) ok: Counter,
}

/// Every (route, name) the configuration implies.
fn route_names(config: &Config) -> Vec<(&'static str, String)> {
    let mut names: Vec<(&'static str, String)> = Vec::new();
    for view in config.views.keys() {
        names.push(("view", view.clone()));
        names.push(("part", view.clone()));
    }
    names.extend(config.actions.keys().map(|a| ("action", a.clone())));
    names.extend(config.media.keys().map(|m| ("media", m.clone())));
    for route in ["admin", "health", "metrics", "assets"] {
        names.push((route, String::new()));
    }
    names
}

impl Process {
    /// Reads the process's figures; on a system without `/proc` they stay at zero.
    fn read(&self) {
        let Ok(me) = procfs::process::Process::myself() else {
            return;
        };
        if let Ok(stat) = me.stat() {
            let page = procfs::page_size();
            self.resident_bytes
                .set(i64::try_from(stat.rss.saturating_mul(page)).unwrap_or(i64::MAX));
            let ticks = procfs::ticks_per_second().max(1);
            self.cpu_seconds
                .set((stat.utime + stat.stime) as f64 / ticks as f64);
        }
        if let Ok(fds) = me.fd_count() {
            self.open_fds.set(i64::try_from(fds).unwrap_or(i64::MAX));
        }
    }
}
