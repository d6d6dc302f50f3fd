//! The shared layer (Redis): entries in Redis, so replicas share what one of them fetched, and
//! invalidations published on a channel every replica listens to, so they reach each replica's
//! local layer. Redis is an optimisation, never a dependency: every command has a short
//! deadline, a failure is logged and counted, and the BFF goes on with its local cache and the
//! upstreams. Whether Redis answered its last command is in `/healthz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::invalidation::{Invalidation, Scope, scopes_of};
use crate::metrics::Metrics;

/// Where entries live in Redis, under this prefix.
const KEY_PREFIX: &str = "tessera:cache:";
/// Where each dropped scope's generation lives.
const GENERATION_PREFIX: &str = "tessera:gen:";
/// The counter every new generation is drawn from. It never expires, so a scope's generation
/// never comes back to a value an old entry was stored under, even after the scope's own key
/// expired.
const GENERATION_COUNTER: &str = "tessera:generations";
/// The pub/sub channel of invalidations.
pub const CHANNEL: &str = "tessera:invalidate";
/// How long subscribing, and a heartbeat on the subscription, may take.
const CHANNEL_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscription is checked (a connection a NAT dropped sends nothing, not even
/// an end).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Drops Redis missed that are kept for replaying; past that, one drop of everything.
const MAX_PENDING_DROPS: usize = 1_000;
/// After this many commands in a row time out, Redis is skipped until a probe answers.
const SKIP_AFTER_TIMEOUTS: u32 = 3;
/// How often a skipped Redis is probed.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The generation of each scope of a key (see [`scopes_of`]), as Redis had them when a fill
/// began. An entry is stored with them and is valid only while they are still current: a
/// drop increments its scope's generation, which retires every entry under it at once,
/// including entries a slow fill writes after the drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Generations(Vec<u64>);

/// A drop as published: with the replica that made it, which ignores its own.
#[derive(Serialize, Deserialize)]
struct Message {
    from: u64,
    #[serde(flatten)]
    drop: Invalidation,
}

/// An entry as Redis holds it.
#[derive(Serialize, Deserialize)]
struct Stored {
    generations: Generations,
    entry: Entry,
}

/// What Redis had for a key: its entry, if still valid, and the current generations.
#[derive(Debug)]
pub(crate) struct SharedLookup {
    pub entry: Option<Entry>,
    pub generations: Generations,
}

/// Why a shared-layer command did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum SharedError {
    #[error("the shared cache (Redis) did not answer within its timeout")]
    Timeout,
    #[error("the shared cache (Redis) is skipped until it answers a probe")]
    Skipped,
    #[error("the shared cache (Redis) failed: {0}")]
    Failed(String),
}

/// Whether Redis answers, as the cache sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharedState {
    Up,
    /// Its last command failed.
    Down,
    /// Commands timed out in a row (a black-holed Redis): it is not asked until a probe answers.
    Skipped,
}

impl SharedState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Skipped => "skipped",
        }
    }
}

/// A drop, atomically: a new generation for the scope (kept for `retention`), the key itself
/// gone when one key is dropped, and the message to every replica.
static INVALIDATE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local generation = redis.call('INCR', KEYS[1])
        redis.call('SET', KEYS[2], generation, 'PX', ARGV[1])
        if KEYS[3] then redis.call('DEL', KEYS[3]) end
        redis.call('PUBLISH', ARGV[2], ARGV[3])
        ",
    )
});

#[derive(Debug, Default)]
struct Health {
    up: AtomicBool,
    timeouts_in_a_row: AtomicU32,
    skipping: AtomicBool,
}

#[derive(Clone)]
pub(crate) struct SharedCache {
    client: redis::Client,
    connection: ConnectionManager,
    timeout: Duration,
    /// How long a scope's generation is kept after its last drop, in ms: longer than any
    /// entry written under an older generation can live. A reload may raise it, never lower it.
    retention_ms: Arc<AtomicU64>,
    health: Arc<Health>,
    /// Drops Redis did not take. Until they are replayed, Redis is not asked for entries (it
    /// may hold what they meant to drop) and gets none.
    pending: Arc<tokio::sync::Mutex<Vec<Invalidation>>>,
    unsettled: Arc<AtomicBool>,
    /// Whether a task is replaying them.
    replaying: Arc<AtomicBool>,
    /// This replica, in the messages it publishes.
    replica: u64,
    metrics: Metrics,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("state", &self.state())
            .finish()
    }
}

impl SharedCache {
    /// Keeps drops for at least `retention` from now on (a reload whose parts live longer).
    pub(crate) fn raise_retention(&self, retention: Duration) {
        let ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        self.retention_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Sets up the connection without making it: a Redis that is down at start-up only means
    /// the BFF starts without it.
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        retention: Duration,
        metrics: Metrics,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        metrics.redis_up.set(0);
        metrics.redis_skipping.set(0);
        Ok(Self {
            client,
            connection,
            timeout,
            retention_ms: Arc::new(AtomicU64::new(
                u64::try_from(retention.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )),
            health: Arc::new(Health::default()),
            pending: Arc::default(),
            unsettled: Arc::default(),
            replaying: Arc::default(),
            replica: std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0u8),
            metrics,
        })
    }

    pub(crate) fn state(&self) -> SharedState {
        if self.health.skipping.load(Ordering::Relaxed) {
            SharedState::Skipped
        } else if self.health.up.load(Ordering::Relaxed) {
            SharedState::Up
        } else {
            SharedState::Down
        }
    }

    /// Runs one command within the deadline, recording whether Redis answered. A `skippable`
    /// command is not sent at all while Redis is skipped.
    async fn run<T>(
        &self,
        what: &str,
        skippable: bool,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedError> {
        if skippable && self.health.skipping.load(Ordering::Relaxed) {
            self.metrics.redis_skipped.inc();
            return Err(SharedError::Skipped);
        }
        let result = match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            // The connection's own response timeout is the same as ours, and may come first.
            Ok(Err(e)) if e.is_timeout() => Err(SharedError::Timeout),
            Ok(Err(e)) => Err(SharedError::Failed(e.to_string())),
            Err(_) => Err(SharedError::Timeout),
        };
        if matches!(result, Err(SharedError::Timeout)) {
            let in_a_row = self
                .health
                .timeouts_in_a_row
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            if in_a_row >= SKIP_AFTER_TIMEOUTS {
                self.start_skipping();
            }
        } else {
            self.health.timeouts_in_a_row.store(0, Ordering::Relaxed);
        }
        self.record(what, result.is_ok());
        if let Err(e) = &result {
            tracing::debug!(what, error = %e, "redis command failed");
        }
        result
    }

    fn record(&self, what: &str, ok: bool) {
        if self.health.up.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                tracing::info!("shared cache (Redis) is reachable");
            } else {
                tracing::warn!(
                    what,
                    "shared cache (Redis) is unreachable; going on without it"
                );
            }
        }
        self.metrics.redis_up.set(i64::from(ok));
    }

    /// Stops sending skippable commands, and probes until Redis answers again.
    fn start_skipping(&self) {
        if self.health.skipping.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::warn!(
            timeouts = SKIP_AFTER_TIMEOUTS,
            "shared cache (Redis) timed out repeatedly; skipping it until a probe answers"
        );
        self.metrics.redis_skipping.set(1);
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let mut connection = this.connection.clone();
                let ping = redis::cmd("PING");
                let answer = ping.query_async::<String>(&mut connection);
                if let Ok(Ok(_)) = tokio::time::timeout(this.timeout, answer).await {
                    this.health.timeouts_in_a_row.store(0, Ordering::Relaxed);
                    this.health.skipping.store(false, Ordering::Relaxed);
                    this.settle().await;
                    this.metrics.redis_skipping.set(0);
                    this.record("PING", true);
                    tracing::info!("shared cache (Redis) answers again; no longer skipped");
                    return;
                }
            }
        });
    }

    /// The key's entry, if Redis has one valid under the current generations, and those.
    pub(crate) async fn get(&self, key: &str) -> Option<SharedLookup> {
        let (stored, generations) = self.read(key, true).await?;
        let entry = stored
            .and_then(|bytes| serde_json::from_slice::<Stored>(&bytes).ok())
            .filter(|stored| stored.generations == generations)
            .map(|stored| stored.entry);
        Some(SharedLookup { entry, generations })
    }

    /// The current generations of the key's scopes.
    pub(crate) async fn generations(&self, key: &str) -> Option<Generations> {
        Some(self.read(key, false).await?.1)
    }

    /// One MGET: the key's stored bytes (when `with_entry`) and its scopes' generations.
    /// `None` while Redis cannot be used or did not answer.
    async fn read(&self, key: &str, with_entry: bool) -> Option<(Option<Vec<u8>>, Generations)> {
        if !self.settle().await {
            return None;
        }
        let mut names: Vec<String> = with_entry
            .then(|| format!("{KEY_PREFIX}{key}"))
            .into_iter()
            .collect();
        names.extend(scopes_of(key).iter().map(generation_key));
        let mut connection = self.connection.clone();
        let mut values: Vec<Option<Vec<u8>>> = self
            .run(
                "MGET",
                true,
                redis::cmd("MGET").arg(&names).query_async(&mut connection),
            )
            .await
            .ok()?;
        if values.len() != names.len() {
            return None;
        }
        let stored = if with_entry { values.remove(0) } else { None };
        let generations = values.iter().map(|v| parse_generation(v.as_deref()));
        Some((stored, Generations(generations.collect())))
    }

    /// Stores an entry fetched by a fill that began under `generations`.
    pub(crate) async fn set(&self, key: &str, entry: Entry, generations: Generations) {
        // After a replay, `generations` are retired ones: the entry would be dead anyway.
        if !self.settle().await {
            return;
        }
        let ttl_ms = entry.lifetime().as_millis().max(1) as u64;
        let Ok(bytes) = serde_json::to_vec(&Stored { generations, entry }) else {
            return;
        };
        let mut connection = self.connection.clone();
        let _ = self
            .run(
                "SET",
                true,
                redis::cmd("SET")
                    .arg(format!("{KEY_PREFIX}{key}"))
                    .arg(bytes)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut connection),
            )
            .await;
    }

    /// A value of the identity store (sessions, sign-in counters), outside the part cache's
    /// keys and generations.
    pub(crate) async fn value(&self, key: &str) -> Result<Option<Vec<u8>>, SharedError> {
        let mut connection = self.connection.clone();
        self.run(
            "GET",
            true,
            redis::cmd("GET").arg(key).query_async(&mut connection),
        )
        .await
    }

    /// Stores a value of the identity store for `ttl`.
    pub(crate) async fn set_value(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), SharedError> {
        let mut connection = self.connection.clone();
        self.run(
            "SET",
            true,
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async::<()>(&mut connection),
        )
        .await
    }

    /// Deletes a value of the identity store. Never skipped: a revocation must be tried.
    pub(crate) async fn delete_value(&self, key: &str) -> Result<(), SharedError> {
        let mut connection = self.connection.clone();
        self.run(
            "DEL",
            false,
            redis::cmd("DEL")
                .arg(key)
                .query_async::<()>(&mut connection),
        )
        .await
    }

    /// Adds one to a counter that lives `window` from its first count: the count, and how
    /// long its window has left. One script, so the counter can never be left without its
    /// expiry (which would refuse for good what it counts).
    pub(crate) async fn count(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<(u64, Duration), SharedError> {
        const COUNT: &str = "local n = redis.call('INCR', KEYS[1]) \
             if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
             return {n, redis.call('PTTL', KEYS[1])}";
        let mut connection = self.connection.clone();
        let script = redis::Script::new(COUNT);
        let mut invocation = script.key(key);
        invocation.arg(window.as_millis().max(1) as u64);
        let (count, left_ms): (u64, i64) = self
            .run("EVALSHA", true, invocation.invoke_async(&mut connection))
            .await?;
        Ok((count, Duration::from_millis(left_ms.max(0) as u64)))
    }

    /// Takes one off a counter (never below zero, never outliving its window).
    pub(crate) async fn uncount(&self, key: &str) -> Result<(), SharedError> {
        const UNCOUNT: &str = "if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then \
             redis.call('DECR', KEYS[1]) end return 0";
        let mut connection = self.connection.clone();
        let script = redis::Script::new(UNCOUNT);
        let invocation = script.key(key);
        self.run(
            "EVALSHA",
            true,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await
        .map(|_| ())
    }

    /// Retires the target's scope in Redis (one script, whatever Redis holds) and tells every
    /// replica. Always tried, even while Redis is skipped; a drop Redis did not take is kept,
    /// and replayed before Redis is used again.
    pub(crate) async fn invalidate(&self, target: &Invalidation) -> Result<(), SharedError> {
        let result = self.drop_in_redis(target, false).await;
        if result.is_err() {
            let mut pending = self.pending.lock().await;
            if pending.len() >= MAX_PENDING_DROPS {
                *pending = vec![Invalidation::Prefix(String::new())];
            } else if !pending.contains(target) {
                pending.push(target.clone());
            }
            self.unsettled.store(true, Ordering::Release);
            drop(pending);
            self.replay_in_background();
        }
        result
    }

    /// Replays the missed drops as soon as Redis answers, whether or not traffic asks for it.
    fn replay_in_background(&self) {
        if self.replaying.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if this.settle().await {
                    this.replaying.store(false, Ordering::Release);
                    // A drop missed just now, which saw this task still running, is not left.
                    if !this.unsettled.load(Ordering::Acquire)
                        || this.replaying.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                }
            }
        });
    }

    async fn drop_in_redis(
        &self,
        target: &Invalidation,
        skippable: bool,
    ) -> Result<(), SharedError> {
        let message = Message {
            from: self.replica,
            drop: target.clone(),
        };
        let message =
            serde_json::to_string(&message).map_err(|e| SharedError::Failed(e.to_string()))?;
        let mut invocation = INVALIDATE.prepare_invoke();
        invocation
            .key(GENERATION_COUNTER)
            .key(generation_key(&target.scope()))
            .arg(self.retention_ms.load(Ordering::Relaxed))
            .arg(CHANNEL)
            .arg(message);
        if let Invalidation::Key(key) = target {
            // Not needed (the generation retires it), but it frees the memory at once.
            invocation.key(format!("{KEY_PREFIX}{key}"));
        }
        let mut connection = self.connection.clone();
        self.run(
            "INVALIDATE",
            skippable,
            invocation.invoke_async::<()>(&mut connection),
        )
        .await
    }

    /// Whether Redis can be used: no drop it missed is left (each is replayed first). While a
    /// replay is under way, it cannot.
    async fn settle(&self) -> bool {
        if !self.unsettled.load(Ordering::Acquire) {
            return true;
        }
        let Ok(mut pending) = self.pending.try_lock() else {
            return false;
        };
        while let Some(target) = pending.first().cloned() {
            if self.drop_in_redis(&target, true).await.is_err() {
                return false;
            }
            pending.remove(0);
            tracing::info!(?target, "replayed a drop the shared cache had missed");
        }
        self.unsettled.store(false, Ordering::Release);
        true
    }

    /// Listens for other replicas' drops and hands each to `apply` with its origin
    /// (`replica`, or `resubscribe`: on every (re)subscription, drops sent meanwhile are lost
    /// to this replica, so everything it holds counts as dropped). Resubscribes whenever the
    /// channel closes or stops answering its heartbeat. Runs until the runtime stops.
    pub(crate) fn listen<F>(&self, apply: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn(&Invalidation, &'static str) + Send + Sync + 'static,
    {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let lost = this.listen_once(&apply).await;
                tracing::warn!(reason = lost, "invalidation channel lost; resubscribing");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }

    /// One subscription, until it is lost (the reason).
    async fn listen_once(&self, apply: &impl Fn(&Invalidation, &'static str)) -> &'static str {
        let Ok(Ok(pubsub)) =
            tokio::time::timeout(CHANNEL_TIMEOUT, self.client.get_async_pubsub()).await
        else {
            return "cannot connect";
        };
        let (mut sink, mut stream) = pubsub.split();
        let Ok(Ok(())) = tokio::time::timeout(CHANNEL_TIMEOUT, sink.subscribe(CHANNEL)).await
        else {
            return "cannot subscribe";
        };
        tracing::info!("listening for cache invalidations");
        apply(&Invalidation::Prefix(String::new()), "resubscribe");
        self.warn_if_evicting().await;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return "closed";
                    };
                    match serde_json::from_slice::<Message>(message.get_payload_bytes()) {
                        Ok(message) if message.from == self.replica => {}
                        Ok(message) => apply(&message.drop, "replica"),
                        Err(e) => tracing::warn!(error = %e, "malformed invalidation"),
                    }
                }
                _ = heartbeat.tick() => {
                    let ping = sink.ping::<redis::Value>();
                    if !matches!(tokio::time::timeout(CHANNEL_TIMEOUT, ping).await, Ok(Ok(_))) {
                        return "heartbeat unanswered";
                    }
                }
            }
        }
    }

    /// Generations must not be evicted: a scope whose generation is gone reads as never
    /// dropped, and entries from before its drop would count again.
    async fn warn_if_evicting(&self) {
        let mut connection = self.connection.clone();
        let mut config = redis::cmd("CONFIG");
        config.arg("GET").arg("maxmemory*");
        let asked =
            config.query_async::<std::collections::HashMap<String, String>>(&mut connection);
        let Ok(Ok(settings)) = tokio::time::timeout(CHANNEL_TIMEOUT, asked).await else {
            return;
        };
        let policy = settings.get("maxmemory-policy").map_or("", String::as_str);
        let limited = settings.get("maxmemory").is_some_and(|m| m != "0");
        if limited && policy != "noeviction" {
            tracing::warn!(
                policy,
                "Redis may evict keys; a drop's evicted generation lets dropped entries count \
                 again: give the shared cache maxmemory-policy noeviction"
            );
        }
    }
}

fn generation_key(scope: &Scope) -> String {
    format!("{GENERATION_PREFIX}{}", scope.name())
}

/// A generation as Redis stores it; a scope never dropped (or long ago) is at 0.
fn parse_generation(raw: Option<&[u8]>) -> u64 {
    raw.and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}
