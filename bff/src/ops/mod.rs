//! What the ops page reads: the last minutes of each upstream and part, kept per second
//! (`recent`, `window`), and the one answer of `GET /admin/stats` assembled from the running
//! application (`stats`).

mod recent;
mod window;

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

pub(crate) use recent::{Lookup, Recent};
pub(crate) use window::PART_STATUSES;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A monotonic instant as milliseconds since the Unix epoch (as far as the wall clock says).
pub(crate) fn unix_ms(instant: Instant) -> u64 {
    let now = Instant::now();
    let wall = now_unix_ms();
    if instant <= now {
        wall.saturating_sub(u64::try_from((now - instant).as_millis()).unwrap_or(u64::MAX))
    } else {
        wall.saturating_add(u64::try_from((instant - now).as_millis()).unwrap_or(u64::MAX))
    }
}
