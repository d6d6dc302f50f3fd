//! Rolling windows for the ops page: one slot per second, kept for the last few minutes, so the
//! page can show the last minute's latency quantiles and error rate and a sparkline of each
//! second — things a Prometheus scrape cannot give a page that has no Prometheus behind it.
//!
//! Latencies go into fixed log-scale buckets (10% wide) rather than an HDR histogram: a slot
//! per second for five minutes, for every upstream, must stay small (half a kilobyte each), and
//! a quantile within 5% is plenty for a dashboard.

use std::time::Duration;

/// Buckets of the latency histogram: bucket `k` holds `[FIRST·R^(k-1), FIRST·R^k)`, bucket 0
/// everything below `FIRST`, the last everything above (≈ 18 s).
const BUCKETS: usize = 128;
const FIRST_MS: f64 = 0.1;
const RATIO: f64 = 1.1;

/// One second's upstream calls.
#[derive(Debug, Clone)]
pub(crate) struct CallSlot {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    latency: [u32; BUCKETS],
}

impl Default for CallSlot {
    fn default() -> Self {
        Self {
            calls: 0,
            errors: 0,
            latency: [0; BUCKETS],
        }
    }
}

impl CallSlot {
    /// One call; `took` is `None` for one refused at once (an open breaker, a full bulkhead),
    /// which counts as an error but says nothing of the upstream's latency.
    pub(crate) fn record(&mut self, took: Option<Duration>, error: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        let Some(took) = took else { return };
        let ms = took.as_secs_f64() * 1e3;
        let bucket = if ms < FIRST_MS {
            0
        } else {
            // ms in [FIRST·R^(k-1), FIRST·R^k) → k = floor(log_R(ms/FIRST)) + 1.
            ((ms / FIRST_MS).ln() / RATIO.ln()).floor() as usize + 1
        };
        let slot = &mut self.latency[bucket.min(BUCKETS - 1)];
        *slot = slot.saturating_add(1);
    }

    /// Adds another slot's calls to this one.
    pub(crate) fn add(&mut self, other: &Self) {
        self.calls += other.calls;
        self.errors += other.errors;
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            *a = a.saturating_add(*b);
        }
    }

    /// The `q` quantile in milliseconds (the middle of its bucket); `None` without calls.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (k, &n) in self.latency.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(bucket_middle_ms(k));
            }
        }
        None
    }
}

fn bucket_middle_ms(k: usize) -> f64 {
    if k == 0 {
        return FIRST_MS / 2.0;
    }
    let low = FIRST_MS * RATIO.powi(k as i32 - 1);
    low * RATIO.sqrt()
}

/// One second's part lookups and outcomes.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartSlot {
    pub(crate) fresh: u64,
    pub(crate) stale: u64,
    pub(crate) miss: u64,
    /// Indexed like [`PART_STATUSES`].
    pub(crate) outcomes: [u64; PART_STATUSES.len()],
}

/// The part statuses counted per second.
pub(crate) const PART_STATUSES: [&str; 7] = [
    "ok",
    "stale",
    "partial",
    "fallback",
    "timeout",
    "error",
    "unauthorized",
];

impl PartSlot {
    pub(crate) fn add(&mut self, other: &Self) {
        self.fresh += other.fresh;
        self.stale += other.stale;
        self.miss += other.miss;
        for (a, b) in self.outcomes.iter_mut().zip(&other.outcomes) {
            *a += b;
        }
    }
}

/// The last `N` seconds, one slot each, reused in a ring (on the heap: five minutes of
/// latency slots are too big for a stack).
#[derive(Debug, Clone)]
pub(crate) struct Ring<S, const N: usize> {
    /// The second each slot holds (Unix time), or `u64::MAX` for none yet.
    seconds: Box<[u64]>,
    slots: Box<[S]>,
}

impl<S: Default + Clone, const N: usize> Default for Ring<S, N> {
    fn default() -> Self {
        Self {
            seconds: vec![u64::MAX; N].into_boxed_slice(),
            slots: vec![S::default(); N].into_boxed_slice(),
        }
    }
}

impl<S: Default + Clone, const N: usize> Ring<S, N> {
    /// The slot of `second`, emptied if it held an older one.
    pub(crate) fn at(&mut self, second: u64) -> &mut S {
        let i = (second % N as u64) as usize;
        if self.seconds[i] != second {
            self.seconds[i] = second;
            self.slots[i] = S::default();
        }
        &mut self.slots[i]
    }

    /// The `n` seconds up to and including `now`, oldest first (empty slots for seconds
    /// nothing happened in).
    pub(crate) fn last(&self, now: u64, n: usize) -> impl Iterator<Item = S> + '_ {
        let n = n.min(N) as u64;
        (0..n).rev().map(move |back| {
            let second = now.wrapping_sub(back);
            let i = (second % N as u64) as usize;
            if self.seconds[i] == second {
                self.slots[i].clone()
            } else {
                S::default()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_five_percent() {
        let mut slot = CallSlot::default();
        for ms in 1..=1000u64 {
            slot.record(Some(Duration::from_millis(ms)), ms % 10 == 0);
        }
        assert_eq!((slot.calls, slot.errors), (1000, 100));
        for (q, want) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = slot.quantile_ms(q).unwrap();
            assert!((got - want).abs() / want < 0.05, "p{q}: {got} vs {want}");
        }
        assert_eq!(CallSlot::default().quantile_ms(0.5), None);
        let mut huge = CallSlot::default();
        huge.record(Some(Duration::from_secs(3600)), false);
        huge.record(None, true);
        assert_eq!((huge.calls, huge.errors), (2, 1), "a refused call counts");
        assert!(
            huge.quantile_ms(0.01).unwrap() > 10_000.0,
            "but has no latency"
        );
        assert!(
            huge.quantile_ms(0.5).unwrap() > 10_000.0,
            "the last bucket takes the rest"
        );
    }

    #[test]
    fn the_ring_forgets_what_is_older_than_it() {
        let mut ring: Ring<PartSlot, 4> = Ring::default();
        ring.at(100).fresh += 1;
        ring.at(101).miss += 2;
        let last: Vec<u64> = ring.last(101, 3).map(|s| s.fresh + s.miss).collect();
        assert_eq!(last, [0, 1, 2], "oldest first, an empty second for 99");
        // Second 104 reuses 100's slot.
        ring.at(104).stale += 1;
        let last: Vec<(u64, u64, u64)> = ring
            .last(104, 4)
            .map(|s| (s.fresh, s.miss, s.stale))
            .collect();
        assert_eq!(
            last,
            [(0, 2, 0), (0, 0, 0), (0, 0, 0), (0, 0, 1)],
            "100 is gone, 101 kept"
        );
    }
}
