//! The circuit breaker in front of each upstream ("Building Microservices" ch. 12): it answers
//! at once while a service is down, so callers fail fast instead of waiting on it.
//!
//! A small breaker of our own: `tower-resilience` was young and fast-moving and `failsafe`
//! unmaintained when this was written, and this one is a few dozen lines under paused-time tests.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerConfig;

/// The breaker's state, as exported in metrics (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// As the ops page shows it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
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
pub(crate) struct Breaker {
    config: BreakerConfig,
    /// The state, and when it last changed (for the ops page).
    inner: Mutex<(Inner, Instant)>,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new((Inner::Closed { failures: 0 }, Instant::now())),
        }
    }

    /// Whether a request may go out now.
    pub(crate) fn allow(&self) -> bool {
        let mut guard = self.inner.lock().expect("breaker lock");
        let (inner, changed) = &mut *guard;
        let now = Instant::now();
        let probe_period = Duration::from_millis(self.config.open_ms);
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } if now < until => false,
            Inner::Open { until } => {
                *inner = Inner::HalfOpen {
                    probes: 1,
                    since: now,
                };
                *changed = until;
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

    pub(crate) fn record(&self, success: bool) {
        let mut guard = self.inner.lock().expect("breaker lock");
        let (inner, changed) = &mut *guard;
        let open = || Inner::Open {
            until: Instant::now() + Duration::from_millis(self.config.open_ms),
        };
        let before = std::mem::discriminant(&*inner);
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
        if std::mem::discriminant(&*inner) != before {
            *changed = Instant::now();
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        self.state_since().0
    }

    /// The state, and since when it holds.
    pub(crate) fn state_since(&self) -> (BreakerState, Instant) {
        let (inner, changed) = &*self.inner.lock().expect("breaker lock");
        match *inner {
            Inner::Closed { .. } => (BreakerState::Closed, *changed),
            Inner::Open { until } if Instant::now() < until => (BreakerState::Open, *changed),
            // Half-open from the moment the open period ended, probed or not.
            Inner::Open { until } => (BreakerState::HalfOpen, until),
            Inner::HalfOpen { .. } => (BreakerState::HalfOpen, *changed),
        }
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
}
