//! What happened in the last few minutes, per upstream and per part, one slot per second.
//! Recorded beside the Prometheus metrics (by [`crate::metrics::Metrics`]) and read by
//! `/admin/stats`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_contract::ops::{CallSecond, CallWindow, PartWindow};

use super::window::{CallSlot, PART_STATUSES, PartSlot, Ring};

/// Seconds kept per upstream: the sparklines show all but the current one.
pub(crate) const HISTORY_SECONDS: usize = 300;
/// Seconds the "last minute" figures add up.
const WINDOW_SECONDS: usize = 60;

type Calls = Mutex<Ring<CallSlot, HISTORY_SECONDS>>;
type Parts = Mutex<Ring<PartSlot, WINDOW_SECONDS>>;

/// The recent calls of every upstream and lookups of every part. Cheap to share.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    upstreams: RwLock<HashMap<String, Arc<Calls>>>,
    parts: RwLock<HashMap<String, Arc<Parts>>>,
}

/// How a part cache event counts on the ops page.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup {
    Fresh,
    Stale,
    Miss,
}

impl Lookup {
    /// The ops page's reading of a cache event: one per lookup (`None` for the events that
    /// tell more of a lookup already counted: a miss that joined a fill, a fill revalidated,
    /// a miss served stale because the upstream failed).
    pub(crate) fn of_event(event: &str) -> Option<Self> {
        match event {
            "hit" => Some(Self::Fresh),
            "stale_while_revalidate" => Some(Self::Stale),
            "miss" => Some(Self::Miss),
            _ => None,
        }
    }
}

fn now_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The entry of `name`, made on first use (names come from the configuration, which a reload
/// may extend).
fn entry<T: Default>(map: &RwLock<HashMap<String, Arc<T>>>, name: &str) -> Arc<T> {
    if let Some(found) = map.read().expect("recent lock").get(name) {
        return found.clone();
    }
    map.write()
        .expect("recent lock")
        .entry(name.to_owned())
        .or_default()
        .clone()
}

impl Recent {
    /// One call to `upstream` (with its retries), ended after `took` (`None`: refused at once).
    pub(crate) fn call(&self, upstream: &str, took: Option<Duration>, error: bool) {
        let calls = entry(&self.upstreams, upstream);
        calls
            .lock()
            .expect("recent lock")
            .at(now_second())
            .record(took, error);
    }

    pub(crate) fn lookup(&self, part: &str, lookup: Lookup) {
        let parts = entry(&self.parts, part);
        let mut ring = parts.lock().expect("recent lock");
        let slot = ring.at(now_second());
        match lookup {
            Lookup::Fresh => slot.fresh += 1,
            Lookup::Stale => slot.stale += 1,
            Lookup::Miss => slot.miss += 1,
        }
    }

    pub(crate) fn outcome(&self, part: &str, status: &str) {
        let Some(i) = PART_STATUSES.iter().position(|s| *s == status) else {
            return;
        };
        let parts = entry(&self.parts, part);
        parts.lock().expect("recent lock").at(now_second()).outcomes[i] += 1;
    }

    /// `upstream`'s last minute, and its history (oldest second first).
    pub(crate) fn upstream(&self, upstream: &str) -> (CallWindow, Vec<CallSecond>) {
        let calls = entry(&self.upstreams, upstream);
        let ring = calls.lock().expect("recent lock");
        let now = now_second();
        // The window counts this second too; the history stops before it, since an unfinished
        // second would read low at the end of a sparkline.
        let seconds: Vec<CallSlot> = ring.last(now, HISTORY_SECONDS).collect();
        drop(ring);
        let mut minute = CallSlot::default();
        for slot in &seconds[HISTORY_SECONDS - WINDOW_SECONDS..] {
            minute.add(slot);
        }
        let history = &seconds[..HISTORY_SECONDS - 1];
        let window = CallWindow {
            calls: minute.calls,
            errors: minute.errors,
            error_rate: if minute.calls == 0 {
                0.0
            } else {
                minute.errors as f64 / minute.calls as f64
            },
            p50_ms: minute.quantile_ms(0.50),
            p95_ms: minute.quantile_ms(0.95),
            p99_ms: minute.quantile_ms(0.99),
        };
        let seconds = history
            .iter()
            .map(|slot| CallSecond {
                calls: slot.calls,
                errors: slot.errors,
                p95_ms: slot.quantile_ms(0.95),
            })
            .collect();
        (window, seconds)
    }

    /// `part`'s last minute.
    pub(crate) fn part(&self, part: &str) -> PartWindow {
        let parts = entry(&self.parts, part);
        let ring = parts.lock().expect("recent lock");
        let mut minute = PartSlot::default();
        for slot in ring.last(now_second(), WINDOW_SECONDS) {
            minute.add(&slot);
        }
        PartWindow {
            fresh: minute.fresh,
            stale: minute.stale,
            miss: minute.miss,
            outcomes: PART_STATUSES
                .iter()
                .zip(minute.outcomes)
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| ((*s).to_owned(), n))
                .collect(),
        }
    }
}
