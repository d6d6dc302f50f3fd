//! What `GET /admin/stats` answers (bearer token): the live state of one BFF replica, read by
//! the ops page once a second.
//!
//! Times are milliseconds since the Unix epoch; durations are milliseconds. Windows count the
//! last minute; histories hold one entry per second, oldest first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One replica's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// When this answer was made.
    pub now_ms: u64,
    pub build: BuildInfo,
    pub config: ConfigInfo,
    /// The shared cache (Redis): `up`, `down`, `skipped` (timing out, probed) or `off`.
    pub shared_cache: String,
    pub in_flight: i64,
    pub streams_open: i64,
    /// By name.
    pub upstreams: Vec<UpstreamStats>,
    /// By `view.part`.
    pub parts: Vec<PartStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The BFF's version.
    pub version: String,
    /// When this process started.
    pub started_ms: u64,
}

/// The running configuration and the last attempt to reload it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    /// 1 at start; one more for every reload that changed something.
    pub generation: u64,
    /// When the running configuration was loaded.
    pub loaded_ms: u64,
    /// The file it came from, or `built-in`.
    pub source: String,
    /// The last reload, if any.
    pub last_reload: Option<ReloadInfo>,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadInfo {
    pub at_ms: u64,
    /// `signal` (SIGHUP), `admin` (`POST /admin/reload`) or `watch` (the file changed).
    pub trigger: String,
    /// `applied`, `unchanged` or `rejected` (the running configuration stays).
    pub outcome: String,
    /// The generation running after it.
    pub generation: u64,
    /// Why it was rejected: each names the file, line and key.
    pub errors: Vec<String>,
    /// Settings the file changes that only a restart applies (they keep their running value).
    pub restart_required: Vec<String>,
    /// Upstreams and parts whose guards or cache entries were started afresh.
    pub changed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStats {
    pub name: String,
    pub breaker: BreakerInfo,
    pub hosts: Vec<HostInfo>,
    pub bulkhead: Bulkhead,
    pub last_minute: CallWindow,
    /// The last few minutes, one entry per second, oldest first.
    pub history: Vec<CallSecond>,
}

/// The read lane's circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerInfo {
    /// `closed`, `open` or `half-open`.
    pub state: String,
    /// When it entered that state (process start if it never left `closed`).
    pub since_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// `host:port` (never credentials).
    pub url: String,
    /// `up` or `ejected`.
    pub state: String,
    /// Until when it is ejected.
    pub ejected_until_ms: Option<u64>,
}

/// Calls of the read lane under way, of the concurrency limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bulkhead {
    pub in_use: u64,
    pub limit: u64,
}

/// Calls (each with its retries) over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallWindow {
    pub calls: u64,
    pub errors: u64,
    /// `errors / calls`, 0 without calls.
    pub error_rate: f64,
    /// Latency quantiles (estimates, within a few percent); `None` without calls.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSecond {
    pub calls: u64,
    pub errors: u64,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartStats {
    /// `view.part`.
    pub part: String,
    pub last_minute: PartWindow,
}

/// How a part was served over a window.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartWindow {
    /// Cache lookups answered fresh (a hit, or revalidated with a 304).
    pub fresh: u64,
    /// Answered stale (while revalidating, or because the upstream failed).
    pub stale: u64,
    /// Missed (the upstream was called, or an identical call joined).
    pub miss: u64,
    /// Outcomes by status (`ok`, `stale`, `partial`, `fallback`, `timeout`, `error`).
    pub outcomes: BTreeMap<String, u64>,
}
