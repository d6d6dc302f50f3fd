//! Sign-in attempts, counted per user name and per client address in a fixed window: past the
//! limit, sign-ins are refused (429) until the window ends. An attempt is counted *before* the
//! password is checked — so a burst of parallel guesses cannot all slip in while the first
//! answers are on their way — and given back when it succeeds. Counted in Redis when the BFF
//! has one (every replica adds to the same count), in memory otherwise — and in memory
//! whenever Redis does not answer, so a lost Redis does not lift the limit.

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

    /// Counts an attempt against each of `counted`; refused when one is past its limit.
    pub(crate) async fn attempt(
        &self,
        counted: &[Counted<'_>],
        window: Duration,
    ) -> Result<(), Limited> {
        let mut refused = None;
        for c in counted {
            let key = counter_key(c.key);
            let local = self.local_add(&key, window);
            let (count, left) = match &self.shared {
                // What this replica counted while Redis was away still counts.
                Some(shared) => match shared.count(&key, window).await {
                    Ok(shared) => shared.max(local),
                    Err(_) => local,
                },
                None => local,
            };
            if count > u64::from(c.limit) {
                let retry_after = left.max(Duration::from_secs(1));
                refused = Some(refused.map_or(retry_after, |r: Duration| r.max(retry_after)));
            }
        }
        refused.map_or(Ok(()), |retry_after| Err(Limited { retry_after }))
    }

    /// Gives back the attempts of a sign-in that succeeded: only failures use up a limit.
    pub(crate) async fn succeeded(&self, counted: &[Counted<'_>]) {
        for c in counted {
            let key = counter_key(c.key);
            if let Some(window) = self.local.get(&key) {
                let _ = window
                    .count
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            }
            if let Some(shared) = &self.shared {
                let _ = shared.uncount(&key).await;
            }
        }
    }

    /// Adds one to this replica's count: the count, and how long its window has left.
    fn local_add(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let fresh = || {
            Arc::new(Window {
                started: now,
                count: AtomicU64::new(0),
            })
        };
        let mut entry = self.local.get_with(key.to_owned(), fresh);
        if now.duration_since(entry.started) >= window {
            entry = fresh();
            self.local.insert(key.to_owned(), entry.clone());
        }
        let count = entry.count.fetch_add(1, Ordering::Relaxed) + 1;
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
    async fn attempts_past_the_limit_are_refused_until_the_window_ends() {
        let limiter = SignInLimiter::new(None);
        let counted = [Counted {
            key: "user:alice",
            limit: 3,
        }];
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.attempt(&counted, window).await.is_ok());
        }
        let refused = limiter.attempt(&counted, window).await.unwrap_err();
        assert!(refused.retry_after <= window && refused.retry_after > Duration::from_secs(50));
        let other = [Counted {
            key: "user:bob",
            limit: 3,
        }];
        assert!(limiter.attempt(&other, window).await.is_ok(), "per user");
        let short = Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            limiter.attempt(&counted, short).await.is_ok(),
            "a window ends"
        );
    }

    #[tokio::test]
    async fn a_success_gives_its_attempt_back() {
        let limiter = SignInLimiter::new(None);
        let counted = [Counted {
            key: "user:alice",
            limit: 2,
        }];
        let window = Duration::from_secs(60);
        for _ in 0..10 {
            assert!(limiter.attempt(&counted, window).await.is_ok());
            limiter.succeeded(&counted).await;
        }
    }
}
