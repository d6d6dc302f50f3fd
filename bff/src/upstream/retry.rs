//! The retry policy of one upstream: exponential backoff with jitter, and a budget so retries
//! cannot multiply the load on a service during an outage.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tower::retry::budget::{Budget, TpsBudget};

use crate::config::RetryConfig;

/// When to retry and how long to wait first.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    config: RetryConfig,
    budget: TpsBudget,
}

impl RetryPolicy {
    pub(crate) fn new(config: RetryConfig) -> Self {
        let budget = TpsBudget::new(
            Duration::from_secs(10),
            config.budget_min_per_s,
            config.budget_percent / 100.0,
        );
        Self { config, budget }
    }

    pub(crate) fn attempt_timeout(&self) -> Option<Duration> {
        self.config.attempt_timeout_ms.map(Duration::from_millis)
    }

    /// Called once per request (not per attempt): it earns the budget its retries spend.
    pub(crate) fn on_request(&self) {
        self.budget.deposit();
    }

    /// The delays before each retry: exponential with full jitter, capped.
    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.config.backoff_ms))
            .with_max_delay(Duration::from_millis(self.config.max_backoff_ms))
            .with_max_times(self.config.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }

    /// Takes one retry from the budget, if there is one left.
    pub(crate) fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
