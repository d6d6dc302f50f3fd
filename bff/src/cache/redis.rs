//! The shared layer (Redis): entries in Redis, so replicas share what one of them fetched, and
//! invalidations published on a channel every replica listens to, so they reach each replica's
//! local layer. Redis is an optimisation, never a dependency: every command has a short
//! deadline, a failure is logged and counted, and the BFF goes on with its local cache and the
//! upstreams. Whether Redis answered its last command is in `/healthz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::entry::Entry;
use super::invalidation::Invalidation;
use crate::metrics::Metrics;

/// Where entries live in Redis, under this prefix.
const KEY_PREFIX: &str = "tessera:cache:";
/// The pub/sub channel of invalidations.
pub const CHANNEL: &str = "tessera:invalidate";

#[derive(Clone)]
pub(crate) struct SharedCache {
    client: redis::Client,
    connection: ConnectionManager,
    timeout: Duration,
    up: Arc<AtomicBool>,
    metrics: Metrics,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("up", &self.is_up())
            .finish()
    }
}

impl SharedCache {
    /// Sets up the connection without making it: a Redis that is down at start-up only means
    /// the BFF starts without it.
    pub(crate) fn new(url: &str, timeout: Duration, metrics: Metrics) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        metrics.redis_up.set(0);
        Ok(Self {
            client,
            connection,
            timeout,
            up: Arc::new(AtomicBool::new(false)),
            metrics,
        })
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs one command within the deadline, recording whether Redis answered.
    async fn run<T>(
        &self,
        what: &str,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let result = tokio::time::timeout(self.timeout, command).await;
        let ok = matches!(result, Ok(Ok(_)));
        if self.up.swap(ok, Ordering::Relaxed) != ok {
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
        match result {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::debug!(what, error = %e, "redis command failed");
                None
            }
            Err(_) => None,
        }
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Entry> {
        let mut connection = self.connection.clone();
        let raw: Option<Vec<u8>> = self
            .run("GET", connection.get(format!("{KEY_PREFIX}{key}")))
            .await
            .flatten();
        serde_json::from_slice(&raw?).ok()
    }

    pub(crate) async fn set(&self, key: &str, entry: &Entry) {
        let Ok(bytes) = serde_json::to_vec(entry) else {
            return;
        };
        let ttl_ms = entry.lifetime().as_millis().max(1) as u64;
        let mut connection = self.connection.clone();
        let _: Option<()> = self
            .run(
                "SET",
                connection.pset_ex(format!("{KEY_PREFIX}{key}"), bytes, ttl_ms),
            )
            .await;
    }

    /// Drops matching entries from Redis and tells every replica to drop its local copies.
    pub(crate) async fn invalidate(&self, target: &Invalidation) {
        let mut connection = self.connection.clone();
        match target {
            Invalidation::Key(key) => {
                let _: Option<()> = self
                    .run("DEL", connection.del(format!("{KEY_PREFIX}{key}")))
                    .await;
            }
            Invalidation::Prefix(prefix) => {
                let pattern = format!("{KEY_PREFIX}{}*", escape_glob(prefix));
                let keys: Option<Vec<String>> = self
                    .run("SCAN", async {
                        let mut keys = Vec::new();
                        let mut iter = connection.scan_match::<_, String>(&pattern).await?;
                        while let Some(key) = iter.next_item().await {
                            keys.push(key?);
                        }
                        Ok(keys)
                    })
                    .await;
                if let Some(keys) = keys.filter(|k| !k.is_empty()) {
                    let mut connection = self.connection.clone();
                    let _: Option<()> = self.run("DEL", connection.del(keys)).await;
                }
            }
        }
        let Ok(message) = serde_json::to_string(target) else {
            return;
        };
        let mut connection = self.connection.clone();
        let _: Option<()> = self
            .run("PUBLISH", connection.publish(CHANNEL, message))
            .await;
    }

    /// Listens for invalidations from every replica and hands each to `apply`, reconnecting
    /// whenever Redis goes away. Runs until the runtime stops.
    pub(crate) fn listen<F, Fut>(&self, apply: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Invalidation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let client = self.client.clone();
        tokio::spawn(async move {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(CHANNEL).await.is_ok() {
                            tracing::info!("listening for cache invalidations");
                            let mut messages = pubsub.into_on_message();
                            while let Some(message) = messages.next().await {
                                let payload: Vec<u8> = message.get_payload_bytes().to_vec();
                                match serde_json::from_slice::<Invalidation>(&payload) {
                                    Ok(target) => apply(target).await,
                                    Err(e) => tracing::warn!(error = %e, "malformed invalidation"),
                                }
                            }
                        }
                        tracing::warn!("invalidation channel closed; reconnecting");
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot subscribe to invalidations yet"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }
}

/// Escapes Redis glob characters so a prefix matches only itself.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}
