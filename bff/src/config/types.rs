//! The configuration's types: what each section of the TOML file holds, with its defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::route::RouteConfig;

/// The whole configuration, one section per concern.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    #[serde(default)]
    pub views: BTreeMap<String, ViewConfig>,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    /// Writes the BFF relays to an upstream, then invalidates what they change.
    #[serde(default)]
    pub actions: BTreeMap<String, ActionConfig>,
    /// Images the BFF relays from an upstream, so pages show them from their own origin.
    #[serde(default)]
    pub media: BTreeMap<String, MediaConfig>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub warmup: WarmupConfig,
    /// Signed-in shoppers: sessions, and the keys the BFF signs tokens and grants with. Off
    /// (no sign-in, no user parts) when absent.
    #[serde(default)]
    pub identity: Option<IdentityConfig>,
    /// Vault keys: `POST /api/keys/{name}/{id}` hands a signed-in shopper a short-lived URL on
    /// the upstream itself for one document.
    #[serde(default)]
    pub grants: BTreeMap<String, GrantConfig>,
    /// The front end's pages and the view each shows: its HTML starts fetching that view at
    /// once, while the wasm downloads.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteConfig>,
}

/// Who a part or a view belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The same for everyone: cacheable, shareable.
    #[default]
    Shared,
    /// One shopper's: fetched with a token signed for them, never in a shared cache or a
    /// rendered view; `unauthorized` for nobody signed in.
    User,
}

/// Sessions and signing keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The upstream that checks passwords (`POST {check_path}` with `{user, password}`).
    pub accounts: Spanned<String>,
    #[serde(default = "default_check_path")]
    pub check_path: String,
    /// The key ring: `<kid>.key` (private, PKCS#8 PEM) and `<kid>.pub` files, written by
    /// `tessera-bff keys generate`.
    pub keys_dir: Spanned<std::path::PathBuf>,
    /// The key id tokens and grants are signed with; may be left out when the ring holds one
    /// private key.
    #[serde(default)]
    pub signing_key: Option<Spanned<String>>,
    /// Write a first key pair when the ring is empty (for the demo; in production keys are
    /// generated once and handed to the services).
    #[serde(default)]
    pub generate_keys: bool,
    /// The lifetime of a user token sent to an upstream, at most 60 s.
    #[serde(default = "default_token_lifetime_s")]
    pub token_lifetime_s: u64,
    /// How long a session lasts from sign-in.
    #[serde(default = "default_session_ttl_s")]
    pub session_ttl_s: u64,
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
    /// `auto` marks the cookie `Secure` when the request came over HTTPS (as a TLS-terminating
    /// balancer says with `X-Forwarded-Proto: https`); `always` or `never` decide for it.
    #[serde(default)]
    pub secure_cookie: SecureCookie,
    #[serde(default = "default_sign_in_timeout_ms")]
    pub sign_in_timeout_ms: u64,
    /// Failed sign-ins allowed per user name, and per client address, within the window;
    /// past them, 429 until the window ends.
    #[serde(default = "default_failures_per_user")]
    pub max_failures_per_user: u32,
    #[serde(default = "default_failures_per_address")]
    pub max_failures_per_address: u32,
    #[serde(default = "default_failure_window_s")]
    pub failure_window_s: u64,
    /// Where the client's address comes from: the connection's `peer`, or the last value of
    /// `x-forwarded-for` (behind a balancer that sets it).
    #[serde(default)]
    pub client_address: ClientAddress,
    /// Origins besides the BFF's own from which a state-changing request may come.
    #[serde(default)]
    pub allowed_origins: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecureCookie {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAddress {
    #[default]
    Peer,
    XForwardedFor,
}

fn default_check_path() -> String {
    "/auth/check".to_owned()
}
fn default_token_lifetime_s() -> u64 {
    30
}
fn default_session_ttl_s() -> u64 {
    8 * 3600
}
fn default_cookie_name() -> String {
    "tessera_session".to_owned()
}
fn default_sign_in_timeout_ms() -> u64 {
    2_000
}
fn default_failures_per_user() -> u32 {
    5
}
fn default_failures_per_address() -> u32 {
    20
}
fn default_failure_window_s() -> u64 {
    300
}

/// One kind of vault key: a URL on `upstream` at `path` (with `{id}`), signed for the shopper
/// over method, path, expiry and user, valid for `lifetime_s`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConfig {
    pub upstream: Spanned<String>,
    pub path: Spanned<String>,
    /// What the id must look like.
    pub id: IdKind,
    #[serde(default = "default_grant_lifetime_s")]
    pub lifetime_s: u64,
    /// Where browsers reach the upstream (its first `url` when absent): the URL handed out
    /// starts with it.
    #[serde(default)]
    pub public_url: Option<Spanned<String>>,
}

fn default_grant_lifetime_s() -> u64 {
    120
}

/// Views composed once at start, before `/readyz` says ready: a new replica fills its cache
/// with what is known to be hot instead of sending the services a burst of misses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarmupConfig {
    /// View → ids, e.g. `{ home = ["1"], product = ["1", "2", "3"] }`.
    pub views: BTreeMap<String, Vec<String>>,
    /// How many views are composed at once.
    pub concurrency: usize,
    /// The warm-up's deadline: past it the replica is ready anyway (a dead service must not
    /// keep it out of the balancer for good).
    pub timeout_ms: u64,
}

impl Default for WarmupConfig {
    fn default() -> Self {
        Self {
            views: BTreeMap::new(),
            concurrency: 4,
            timeout_ms: 10_000,
        }
    }
}

/// OpenTelemetry traces; off unless an endpoint is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector's base URL, e.g. `http://127.0.0.1:4318` (spans go to
    /// `/v1/traces` under it). Env `TESSERA_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the BFF's spans.
    pub service_name: String,
    /// How long finished spans wait to be sent together.
    pub export_delay_ms: u64,
    /// Continue the trace a request's `traceparent` names. Off by default: the BFF faces
    /// browsers, and a client must not pick trace ids or sampling for the services behind it.
    /// Turn it on behind a gateway that traces.
    pub trust_traceparent: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "tessera-bff".to_owned(),
            export_delay_ms: 1_000,
            trust_traceparent: false,
        }
    }
}

/// How the BFF logs (`RUST_LOG` still picks what: e.g. `tessera_bff::access=off` silences
/// the access lines).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (for people) or `json` (one object per line, for collectors). Env
    /// `TESSERA_LOG_FORMAT`.
    #[serde(default)]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The part cache: bounded in entries and bytes, optionally shared through Redis.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub max_entries: u64,
    pub max_bytes: u64,
    /// `redis://host:port/db`: share entries and invalidations between replicas.
    pub redis_url: Option<String>,
    /// Every Redis command's deadline; past it the BFF goes on without Redis.
    pub redis_timeout_ms: u64,
    /// How many cache fills may run on after every client waiting for them left (to serve the
    /// next client); past that, a fill ends with its last client, as an uncached call does.
    pub max_detached_fills: usize,
    /// The edge cache in front (Varnish with xkey, or a CDN's purge endpoint): every drop is
    /// also sent there as `PURGE` with an `xkey-purge` tag.
    pub edge_purge_url: Option<String>,
    pub edge_timeout_ms: u64,
    /// The response header a shareable view's tags go in: `xkey` for Varnish, `surrogate-key`
    /// or `cache-tag` for CDNs. One header, since every response carries it.
    pub edge_tag_header: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            redis_url: None,
            redis_timeout_ms: 100,
            max_detached_fills: 64,
            edge_purge_url: None,
            edge_timeout_ms: 500,
            edge_tag_header: "xkey".into(),
        }
    }
}

impl Config {
    /// How long a cache drop must be remembered: longer than anything begun before it can
    /// live — the longest lifetime of any cached part, plus its fill's timeout — with a
    /// minute to spare.
    pub fn drop_retention(&self) -> std::time::Duration {
        let longest = self
            .views
            .values()
            .flat_map(|view| view.parts.get_ref().values())
            .filter_map(|part| {
                let cache = part.cache.as_ref()?;
                let windows = cache.stale_while_revalidate_ms.max(cache.stale_if_error_ms);
                Some(
                    cache
                        .ttl_ms
                        .saturating_add(windows)
                        .saturating_add(*part.timeout_ms.get_ref()),
                )
            })
            .max()
            .unwrap_or(0);
        std::time::Duration::from_millis(longest.saturating_add(60_000))
    }
}

/// Why a cache drop target (a key, or a prefix when `is_prefix`) could never drop anything:
/// keys, and prefixes other than `""` (everything), start with a configured upstream's
/// `name:`, and a prefix has no query, since prefixes count in whole path segments.
pub(crate) fn drop_target_problem(
    text: &str,
    is_prefix: bool,
    is_upstream: impl Fn(&str) -> bool,
) -> Option<&'static str> {
    if is_prefix && text.is_empty() {
        return None;
    }
    match text.split_once(':') {
        None => Some("does not start with an upstream's `name:`"),
        Some((upstream, _)) if !is_upstream(upstream) => Some("names no configured upstream"),
        Some(_) if is_prefix && text.contains('?') => {
            Some("has a query: a prefix counts in whole path segments (drop its path)")
        }
        Some(_) => None,
    }
}

/// The admin API (`POST /admin/invalidate`); off unless a token is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token (env `TESSERA_ADMIN_TOKEN`).
    pub token: Option<String>,
}

/// `POST /api/actions/{name}/{id}`: relays the JSON body to `upstream` at `path` (once, never
/// retried) and, when it succeeds, drops the cache entries under each `invalidate` prefix.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub upstream: Spanned<String>,
    /// Path template; only `{id}` is available.
    pub path: Spanned<String>,
    #[serde(default = "default_action_timeout_ms")]
    pub timeout_ms: u64,
    /// Cache-key prefixes (`upstream:/path`, with `{id}`) to drop after a success.
    #[serde(default)]
    pub invalidate: Vec<Spanned<String>>,
    /// A top-level field of the JSON body set to the signed-in shopper's name (whatever the
    /// client sent), e.g. a review's `author`.
    #[serde(default)]
    pub user_field: Option<Spanned<String>>,
}

/// `GET /media/{name}/{file}`: relays an image from `upstream` at `path`, where `{file}` is the
/// requested file name (letters, digits, `-`, `_` and an image extension; nothing else).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    pub upstream: Spanned<String>,
    pub path: Spanned<String>,
    #[serde(default = "default_media_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_media_timeout_ms() -> u64 {
    1_000
}

fn default_action_timeout_ms() -> u64 {
    2_000
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The fingerprinted front-end build to serve.
    pub dist_dir: PathBuf,
    pub body_limit_bytes: usize,
    /// Load the page's hashed assets from this origin (a CDN), e.g. `https://cdn.example.com`.
    pub asset_origin: Option<String>,
    /// How long a client may take to send a request's head; also how long an idle keep-alive
    /// connection is kept (the server waits for the next head). Past it the connection closes.
    pub header_read_timeout_ms: u64,
    /// The largest request head (request line and headers); past it, a 431.
    pub max_header_bytes: usize,
    /// Reload the configuration when its file (or a symlink in its folder) changes.
    pub watch_config: bool,
    /// Serve a new front-end build as soon as one is fingerprinted into `dist_dir`.
    pub watch_dist: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dist_dir: PathBuf::from("dist"),
            body_limit_bytes: 64 * 1024,
            asset_origin: None,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 32 * 1024,
            watch_config: true,
            watch_dist: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the service, e.g. `http://127.0.0.1:8081`.
    pub url: Option<Spanned<String>>,
    /// Several base URLs of the same service: load-balanced, failing ones ejected for a while.
    #[serde(default)]
    pub urls: Vec<Spanned<String>>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Requests in flight at most (the bulkhead); more are rejected at once.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub breaker: BreakerConfig,
    #[serde(default)]
    pub ejection: EjectionConfig,
    /// Request headers passed on to the upstream (an allow-list, e.g. `["accept-language"]`).
    /// Their values become part of cache keys and of the response's `Vary`. `cookie` and
    /// `authorization` never: the BFF speaks for the user.
    #[serde(default)]
    pub forward_headers: Vec<Spanned<String>>,
}

impl UpstreamConfig {
    /// Every base URL of the upstream.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.url
            .iter()
            .chain(&self.urls)
            .map(|u| u.get_ref().as_str())
    }
}

fn default_max_concurrency() -> usize {
    128
}

fn default_connect_timeout_ms() -> u64 {
    250
}

/// What a view's id must look like; anything else is a 400 before any upstream is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// A positive integer.
    Integer,
    /// Letters, digits, `-` and `_`, at most 64 characters.
    Slug,
}

/// An id that is not of its view's kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed id {id:?}: expected {expected}")]
pub struct MalformedId {
    pub id: String,
    pub expected: &'static str,
}

impl IdKind {
    /// Rejects ids that are not of this kind, before anything is called with them.
    pub fn check(self, id: &str) -> Result<(), MalformedId> {
        let ok = match self {
            // One spelling per id (no sign, no leading zero), within what services store (i64):
            // `07` and `+7` would otherwise be cache keys and invalidation targets of their own.
            Self::Integer => {
                id.bytes().all(|b| b.is_ascii_digit())
                    && !id.starts_with('0')
                    && id.parse::<i64>().is_ok_and(|n| n > 0)
            }
            Self::Slug => {
                !id.is_empty()
                    && id.len() <= 64
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
        };
        if ok {
            return Ok(());
        }
        let expected = match self {
            Self::Integer => "a positive integer (no sign, no leading zero, at most 2^63-1)",
            Self::Slug => "letters, digits, '-' or '_' (at most 64)",
        };
        Err(MalformedId {
            id: id.to_owned(),
            expected,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    pub id: IdKind,
    /// The whole view's deadline in milliseconds; a request may ask for less.
    #[serde(default = "default_budget_ms")]
    pub budget_ms: Spanned<u64>,
    /// The scope of parts that do not say theirs.
    #[serde(default)]
    pub scope: Scope,
    pub parts: Spanned<BTreeMap<String, PartConfig>>,
}

fn default_budget_ms() -> Spanned<u64> {
    Spanned::new(0..0, 2_000)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartConfig {
    pub upstream: Spanned<String>,
    /// Path template on the upstream: `{id}` is the view's id, `{part.field}` a field of another
    /// part's data (see [`super::template`]).
    pub path: Spanned<String>,
    pub timeout_ms: Spanned<u64>,
    /// Whether the view fails (502/504) without this part.
    #[serde(default)]
    pub critical: bool,
    /// Who the part belongs to; the view's scope when absent.
    #[serde(default)]
    pub scope: Option<Spanned<Scope>>,
    /// Data served, marked `fallback`, when the upstream fails or times out.
    #[serde(default)]
    pub fallback: Option<serde_json::Value>,
    /// The part's data (status `ok`) when a `*` list its path reads is empty, e.g. a page past
    /// the end: no upstream call is made. `null` when absent.
    #[serde(default)]
    pub empty: Option<serde_json::Value>,
    /// Cache the part's upstream responses; off when absent.
    pub cache: Option<PartCacheConfig>,
    /// Shaping (see [`super::shape`]): keep only these field paths (`items.*.id`)...
    #[serde(default)]
    pub select: Option<Spanned<Vec<String>>>,
    /// ...drop these...
    #[serde(default)]
    pub omit: Option<Spanned<Vec<String>>>,
    /// ...rename these (path → new name)...
    #[serde(default)]
    pub rename: Option<Spanned<BTreeMap<String, String>>>,
    /// ...and then this jq filter, whose first output is the part's data.
    #[serde(default)]
    pub transform: Option<Spanned<String>>,
    /// Per-item fan-out: a list in another part's data (`products.items.*.id`); the part calls
    /// its upstream once per item (`{item}` in the path) and its data is the list of answers,
    /// in the input order (`null` for an item that failed).
    #[serde(default)]
    pub each: Option<Spanned<String>>,
    /// How many of those calls run at once.
    #[serde(default = "default_each_concurrency")]
    pub each_concurrency: Spanned<usize>,
}

/// Freshness of a cached part (RFC 5861 windows).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartCacheConfig {
    /// Served as `ok` for this long (capped by the upstream's `max-age`).
    pub ttl_ms: u64,
    /// After the TTL, served at once as `stale` while one background refresh runs.
    #[serde(default)]
    pub stale_while_revalidate_ms: u64,
    /// After the TTL, served as `stale` when the upstream fails, times out or is open-circuited.
    #[serde(default)]
    pub stale_if_error_ms: u64,
}

fn default_each_concurrency() -> Spanned<usize> {
    Spanned::new(0..0, 4)
}

impl PartConfig {
    /// Who the part belongs to in `view`: its own scope, else the view's.
    pub fn scope_in(&self, view: &ViewConfig) -> Scope {
        self.scope.as_ref().map_or(view.scope, |s| *s.get_ref())
    }

    /// The part's shaping settings, as written.
    pub fn shape_spec(&self) -> super::shape::ShapeSpec<'_> {
        super::shape::ShapeSpec {
            select: self.select.as_ref().map_or(&[], |s| s.get_ref().as_slice()),
            select_given: self.select.is_some(),
            omit: self.omit.as_ref().map_or(&[], |s| s.get_ref().as_slice()),
            rename: self.rename.as_ref().map(Spanned::get_ref),
            transform: self.transform.as_ref().map(|t| t.get_ref().as_str()),
        }
    }

    /// Where a shaping setting is written, for its errors.
    pub(crate) fn shape_span(&self, key: &str) -> Option<std::ops::Range<usize>> {
        match key {
            "select" => self.select.as_ref().map(Spanned::span),
            "omit" => self.omit.as_ref().map(Spanned::span),
            "rename" => self.rename.as_ref().map(Spanned::span),
            "transform" => self.transform.as_ref().map(Spanned::span),
            _ => None,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(*self.timeout_ms.get_ref())
    }
}

/// Circuit-breaker settings of one upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

/// Host-ejection settings of one upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

/// Retry settings of one upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_by_kind() {
        assert!(IdKind::Integer.check("42").is_ok());
        assert!(IdKind::Integer.check("9223372036854775807").is_ok());
        for bad in [
            "0",
            "-3",
            "4x",
            "",
            "1e3",
            "../1",
            "99999999999999999999",
            "07",
            "+7",
            "9223372036854775808",
        ] {
            assert!(IdKind::Integer.check(bad).is_err(), "{bad}");
        }
        assert!(IdKind::Slug.check("coffee-tea_2").is_ok());
        for bad in ["", "a/b", "a%2F", "a b", &"x".repeat(65)] {
            assert!(IdKind::Slug.check(bad).is_err(), "{bad}");
        }
    }
}
