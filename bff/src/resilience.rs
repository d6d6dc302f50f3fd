//! The guards in front of every upstream ("Building Microservices" ch. 12): a circuit breaker
//! that answers at once while a service is down, hosts that are ejected while they keep
//! failing, and a retry policy with backoff, jitter and a budget so retries cannot multiply
//! load during an outage. The bulkhead is a plain semaphore in [`crate::upstream`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;
use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};

/// Circuit-breaker settings of one upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before probing.
    pub open_ms: u64,
    /// Probe requests let through while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_ms: 5_000,
            half_open_probes: 1,
        }
    }
}

/// The breaker's state, as exported in metrics (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `since`: when probing began; a probe whose outcome never arrives (its caller went
    /// away) must not keep the circuit half-open for good, so after `open_ms` probing restarts.
    HalfOpen {
        probes: u32,
        since: Instant,
    },
}

/// A consecutive-failure circuit breaker: closed → open after `failure_threshold` failures;
/// open → half-open after `open_ms`; half-open lets `half_open_probes` requests through and
/// closes on a success or opens again on a failure.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    /// Whether a request may go out now.
    pub fn allow(&self) -> bool {
        let mut inner = self.inner.lock().expect("breaker lock");
        let now = Instant::now();
        let probe_period = Duration::from_millis(self.config.open_ms);
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } if now < until => false,
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen {
                    probes: 1,
                    since: now,
                };
                true
            }
            Inner::HalfOpen { since, .. } if now >= since + probe_period => {
                *inner = Inner::HalfOpen {
                    probes: 1,
                    since: now,
                };
                true
            }
            Inner::HalfOpen { probes, since } if probes < self.config.half_open_probes => {
                *inner = Inner::HalfOpen {
                    probes: probes + 1,
                    since,
                };
                true
            }
            Inner::HalfOpen { .. } => false,
        }
    }

    pub fn record(&self, success: bool) {
        let mut inner = self.inner.lock().expect("breaker lock");
        let open = || Inner::Open {
            until: Instant::now() + Duration::from_millis(self.config.open_ms),
        };
        *inner = match (&*inner, success) {
            (_, true) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, false)
                if failures + 1 >= self.config.failure_threshold =>
            {
                tracing::warn!("circuit opened");
                open()
            }
            (Inner::Closed { failures }, false) => Inner::Closed {
                failures: failures + 1,
            },
            (Inner::HalfOpen { .. }, false) => open(),
            (Inner::Open { until }, false) => Inner::Open { until: *until },
        };
    }

    pub fn state(&self) -> BreakerState {
        match *self.inner.lock().expect("breaker lock") {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// Host-ejection settings of one upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EjectionConfig {
    /// Consecutive failures of one host that take it out of rotation.
    pub consecutive_failures: u32,
    /// How long an ejected host stays out.
    pub eject_ms: u64,
}

impl Default for EjectionConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 3,
            eject_ms: 10_000,
        }
    }
}

#[derive(Debug)]
struct Host {
    base: String,
    health: Mutex<(u32, Option<Instant>)>,
}

/// The hosts of one upstream, picked round-robin, skipping those ejected for failing.
#[derive(Debug)]
pub struct Hosts {
    hosts: Vec<Host>,
    next: AtomicUsize,
    config: EjectionConfig,
}

impl Hosts {
    pub fn new(bases: Vec<String>, config: EjectionConfig) -> Self {
        let hosts = bases
            .into_iter()
            .map(|base| Host {
                base,
                health: Mutex::new((0, None)),
            })
            .collect();
        Self {
            hosts,
            next: AtomicUsize::new(0),
            config,
        }
    }

    /// The index and base URL of the next host in rotation; if every host is ejected, the next
    /// one anyway (a guess beats a certain failure).
    pub fn pick(&self) -> (usize, &str) {
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.hosts.len();
        let index = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| {
                let (_, ejected_until) = *self.hosts[i].health.lock().expect("host lock");
                ejected_until.is_none_or(|until| now >= until)
            })
            .unwrap_or(start % n);
        (index, &self.hosts[index].base)
    }

    pub fn record(&self, index: usize, success: bool) {
        let mut health = self.hosts[index].health.lock().expect("host lock");
        if success {
            *health = (0, None);
            return;
        }
        health.0 += 1;
        if health.0 >= self.config.consecutive_failures && self.hosts.len() > 1 {
            tracing::warn!(host = %self.hosts[index].base, "host ejected");
            *health = (
                0,
                Some(Instant::now() + Duration::from_millis(self.config.eject_ms)),
            );
        }
    }
}

/// Retry settings of one upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included; 1 turns retries off.
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Each attempt's own timeout; unset, an attempt may use the part's whole deadline (and a
    /// timed-out attempt is never retried).
    pub attempt_timeout_ms: Option<u64>,
    /// Retries allowed as a share of requests over the last 10 s...
    pub budget_percent: f32,
    /// ...plus this many per second regardless.
    pub budget_min_per_s: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_ms: 20,
            max_backoff_ms: 200,
            attempt_timeout_ms: None,
            budget_percent: 20.0,
            budget_min_per_s: 5,
        }
    }
}

/// When to retry and how long to wait first.
#[derive(Debug)]
pub struct RetryPolicy {
    config: RetryConfig,
    budget: TpsBudget,
}

impl RetryPolicy {
    pub fn new(config: RetryConfig) -> Self {
        let budget = TpsBudget::new(
            Duration::from_secs(10),
            config.budget_min_per_s,
            config.budget_percent / 100.0,
        );
        Self { config, budget }
    }

    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.config.attempt_timeout_ms.map(Duration::from_millis)
    }

    /// Called once per request (not per attempt): it earns the budget its retries spend.
    pub fn on_request(&self) {
        self.budget.deposit();
    }

    /// The delays before each retry: exponential with full jitter, capped.
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.config.backoff_ms))
            .with_max_delay(Duration::from_millis(self.config.max_backoff_ms))
            .with_max_times(self.config.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }

    /// Takes one retry from the budget, if there is one left.
    pub fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_probes_and_closes() {
        let breaker = Breaker::new(BreakerConfig {
            failure_threshold: 3,
            open_ms: 1_000,
            half_open_probes: 1,
        });
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record(false);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(), "open answers at once");

        tokio::time::advance(Duration::from_millis(1_001)).await;
        assert!(breaker.allow(), "one probe after the open period");
        assert!(!breaker.allow(), "and only one");
        // A probe whose caller went away never reports; probing restarts after the period.
        tokio::time::advance(Duration::from_millis(1_001)).await;
        assert!(breaker.allow(), "a lost probe does not wedge the circuit");
        breaker.record(false);
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a failed probe reopens"
        );

        tokio::time::advance(Duration::from_millis(1_001)).await;
        assert!(breaker.allow());
        breaker.record(true);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn failing_hosts_are_ejected_and_return() {
        let hosts = Hosts::new(
            vec!["a".into(), "b".into()],
            EjectionConfig {
                consecutive_failures: 2,
                eject_ms: 500,
            },
        );
        for _ in 0..2 {
            hosts.record(0, false);
        }
        for _ in 0..4 {
            assert_eq!(hosts.pick().1, "b");
        }
        tokio::time::advance(Duration::from_millis(501)).await;
        let picked: Vec<&str> = (0..4).map(|_| hosts.pick().1).collect();
        assert!(picked.contains(&"a") && picked.contains(&"b"), "{picked:?}");
    }

    #[test]
    fn retries_are_bounded_by_attempts_and_budget() {
        let policy = RetryPolicy::new(RetryConfig {
            budget_min_per_s: 0,
            budget_percent: 50.0,
            ..RetryConfig::default()
        });
        assert_eq!(policy.delays().count(), 2);
        assert!(
            policy.delays().all(|d| d <= Duration::from_millis(400)),
            "capped (jitter adds at most the delay itself)"
        );
        // No requests yet: nothing earned, nothing to spend.
        assert!(!policy.withdraw());
        for _ in 0..10 {
            policy.on_request();
        }
        let granted = (0..10).filter(|_| policy.withdraw()).count();
        assert!((4..=6).contains(&granted), "about half: {granted}");
    }
}
