//! A cached upstream answer and its RFC 5861 windows (fresh, stale-while-revalidate,
//! stale-if-error), in wall-clock milliseconds so that replicas sharing Redis agree on them.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::PartCacheConfig;

/// A cached upstream response and its freshness windows (wall-clock, so replicas agree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub data: serde_json::Value,
    pub etag: Option<String>,
    pub stored_at_ms: u64,
    pub fresh_ms: u64,
    pub swr_ms: u64,
    pub sie_ms: u64,
}

impl Entry {
    pub(super) fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms)
    }

    // Entries can come from Redis, so every sum saturates rather than trusting the numbers.
    pub(super) fn is_fresh(&self, now_ms: u64) -> bool {
        self.age_ms(now_ms) < self.fresh_ms
    }

    pub(super) fn may_revalidate_in_background(&self, now_ms: u64) -> bool {
        self.age_ms(now_ms) < self.fresh_ms.saturating_add(self.swr_ms)
    }

    pub(super) fn may_stand_in_for_errors(&self, now_ms: u64) -> bool {
        self.age_ms(now_ms) < self.fresh_ms.saturating_add(self.sie_ms)
    }

    /// How long the entry is worth keeping at all.
    pub(crate) fn lifetime(&self) -> Duration {
        Duration::from_millis(self.fresh_ms.saturating_add(self.swr_ms.max(self.sie_ms)))
    }

    pub(super) fn remaining(&self, now_ms: u64) -> Duration {
        self.lifetime()
            .saturating_sub(Duration::from_millis(self.age_ms(now_ms)))
    }
}

/// A fresh entry a response was made from: its key, and until when (unix ms) it stays fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FreshKey {
    pub key: String,
    pub fresh_until_ms: u64,
    /// Its stale-while-revalidate window, in ms (what a shared cache in front may add).
    pub revalidate_ms: u64,
}

/// An entry as the local layer keeps it: with the invalidation mark taken before the work that
/// produced it began, so a drop since then makes it dead when it is read.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    pub mark: u64,
    pub entry: Arc<Entry>,
}

/// Expires each entry when its last window closes.
pub(super) struct ByLifetime;

impl moka::Expiry<String, Kept> for ByLifetime {
    fn expire_after_create(
        &self,
        _key: &String,
        kept: &Kept,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(kept.entry.remaining(now_ms()))
    }

    // A refreshed entry gets its own lifetime, not the one of the entry it replaces.
    fn expire_after_update(
        &self,
        _key: &String,
        kept: &Kept,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(kept.entry.remaining(now_ms()))
    }
}

pub(super) fn new_entry(
    data: serde_json::Value,
    etag: Option<String>,
    policy: &PartCacheConfig,
    max_age: Option<Duration>,
) -> Entry {
    let upstream_ms = max_age.map_or(u64::MAX, |d| d.as_millis() as u64);
    Entry {
        data,
        etag,
        stored_at_ms: now_ms(),
        fresh_ms: policy.ttl_ms.min(upstream_ms),
        swr_ms: policy.stale_while_revalidate_ms,
        sie_ms: policy.stale_if_error_ms,
    }
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Roughly how many bytes a JSON value takes in memory.
pub(super) fn estimate_size(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 16,
        Value::String(s) => 24 + s.len() as u64,
        Value::Array(items) => 24 + items.iter().map(estimate_size).sum::<u64>(),
        Value::Object(map) => {
            48 + map
                .iter()
                .map(|(k, v)| 32 + k.len() as u64 + estimate_size(v))
                .sum::<u64>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(age_ms: u64) -> Entry {
        Entry {
            data: serde_json::json!(1),
            etag: None,
            stored_at_ms: now_ms() - age_ms,
            fresh_ms: 1_000,
            swr_ms: 2_000,
            sie_ms: 10_000,
        }
    }

    #[test]
    fn windows_follow_rfc_5861() {
        let now = now_ms();
        assert!(entry(500).is_fresh(now));
        let e = entry(1_500);
        assert!(!e.is_fresh(now) && e.may_revalidate_in_background(now));
        let e = entry(5_000);
        assert!(!e.may_revalidate_in_background(now) && e.may_stand_in_for_errors(now));
        assert!(!entry(11_500).may_stand_in_for_errors(now));
        assert_eq!(entry(0).lifetime(), Duration::from_millis(11_000));
    }

    #[test]
    fn the_upstream_max_age_caps_the_ttl() {
        let policy = PartCacheConfig {
            ttl_ms: 60_000,
            stale_while_revalidate_ms: 0,
            stale_if_error_ms: 0,
        };
        let capped = new_entry(
            serde_json::json!(1),
            None,
            &policy,
            Some(Duration::from_secs(5)),
        );
        assert_eq!(capped.fresh_ms, 5_000);
        assert_eq!(
            new_entry(serde_json::json!(1), None, &policy, None).fresh_ms,
            60_000
        );
    }
}
