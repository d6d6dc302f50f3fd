//! Failed sign-ins, counted per user name and per client address in a fixed window: past the
//! limit, sign-ins are refused (429) until the window ends. Counted in Redis when the BFF has
//! one (every replica adds to the same count), in memory otherwise — and in memory whenever
//! Redis does not answer, so a lost Redis does not lift the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cache::SharedCache;

const KEY_PREFIX: &str = "tessera:signin:";
/// Counters a replica holds in memory at most.
const MAX_LOCAL_COUNTERS: u64 = 100_000;

/// A sign-in refused until `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) retry_after: Duration,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    count: AtomicU64,
}

#[derive(Clone)]
pub(crate) struct SignInLimiter {
    shared: Option<SharedCache>,
    local: moka::sync::Cache<String, Arc<Window>>,
}

impl std::fmt::Debug for SignInLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLimiter")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

/// What is counted: a user name, or a client address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted<'a> {
    pub(crate) key: &'a str,
    pub(crate) limit: u32,
}

impl SignInLimiter {
    pub(crate) fn new(shared: Option<SharedCache>) -> Self {
        Self {
            shared,
            local: moka::sync::Cache::builder()
                .max_capacity(MAX_LOCAL_COUNTERS)
                // No window is longer than a day (validation says so).
                .time_to_live(Duration::from_secs(86_400))
                .build(),
        }
    }

    /// Refuses a sign-in whose user or address has used up its failures.
    pub(crate) async fn check(
        &self,
        counted: &[Counted<'_>],
        window: Duration,
    ) -> Result<(), Limited> {
        for c in counted {
            let key = counter_key(c.key);
            let (count, left) = match self.shared_count(&key, false, window).await {
                Some(shared) => shared,
                None => self.local_count(&key, false, window),
            };
            if count >= u64::from(c.limit) {
                return Err(Limited {
                    retry_after: left.max(Duration::from_secs(1)),
                });
            }
        }
        Ok(())
    }

    /// Counts a failed sign-in against each of `counted`.
    pub(crate) async fn failed(&self, counted: &[Counted<'_>], window: Duration) {
        for c in counted {
            let key = counter_key(c.key);
            if self.shared_count(&key, true, window).await.is_none() {
                self.local_count(&key, true, window);
            }
        }
    }

    /// The shared count (after adding one when `add`), or `None` without a shared store.
    async fn shared_count(
        &self,
        key: &str,
        add: bool,
        window: Duration,
    ) -> Option<(u64, Duration)> {
        let shared = self.shared.as_ref()?;
        let result = if add {
            shared.count(key, window).await
        } else {
            shared.counted(key).await
        };
        let local = self.local_count(key, false, window);
        // Whatever Redis says, what this replica counted while Redis was away still counts.
        result.ok().map(|shared| shared.max(local))
    }

    fn local_count(&self, key: &str, add: bool, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let fresh = || {
            Arc::new(Window {
                started: now,
                count: AtomicU64::new(0),
            })
        };
        let mut entry = if add {
            self.local.get_with(key.to_owned(), fresh)
        } else {
            match self.local.get(key) {
                Some(entry) => entry,
                None => return (0, Duration::ZERO),
            }
        };
        if now.duration_since(entry.started) >= window {
            if !add {
                return (0, Duration::ZERO);
            }
            entry = fresh();
            self.local.insert(key.to_owned(), entry.clone());
        }
        let count = if add {
            entry.count.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            entry.count.load(Ordering::Relaxed)
        };
        (
            count,
            window.saturating_sub(now.duration_since(entry.started)),
        )
    }
}

fn counter_key(what: &str) -> String {
    format!("{KEY_PREFIX}{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_past_the_limit_are_refused_until_the_window_ends() {
        let limiter = SignInLimiter::new(None);
        let counted = [Counted {
            key: "user:alice",
            limit: 3,
        }];
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check(&counted, window).await.is_ok());
            limiter.failed(&counted, window).await;
        }
        let refused = limiter.check(&counted, window).await.unwrap_err();
        assert!(refused.retry_after <= window && refused.retry_after > Duration::from_secs(50));
        let other = [Counted {
            key: "user:bob",
            limit: 3,
        }];
        assert!(limiter.check(&other, window).await.is_ok(), "per user");
        let short = Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            limiter.check(&counted, short).await.is_ok(),
            "a window ends"
        );
    }
}
