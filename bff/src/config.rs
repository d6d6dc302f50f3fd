//! The BFF's one typed configuration: a TOML file (the demo's defaults are compiled in), then
//! environment overrides, then command-line flags. Unknown keys are errors, and every error names
//! the file, line and key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::resilience::{BreakerConfig, EjectionConfig, RetryConfig};
use crate::template::{Param, Template};

/// The compiled-in demo configuration, used when no file is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/tessera.toml");
/// How the compiled-in configuration is named in errors.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in config/tessera.toml>";

#[derive(Debug, Clone, Deserialize)]
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
}

/// The part cache: bounded in entries and bytes, optionally shared through Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub max_entries: u64,
    pub max_bytes: u64,
    /// `redis://host:port/db`: share entries and invalidations between replicas.
    pub redis_url: Option<String>,
    /// Every Redis command's deadline; past it the BFF goes on without Redis.
    pub redis_timeout_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            redis_url: None,
            redis_timeout_ms: 100,
        }
    }
}

/// The admin API (`POST /admin/invalidate`); off unless a token is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token (env `TESSERA_ADMIN_TOKEN`).
    pub token: Option<String>,
}

/// `POST /api/actions/{name}/{id}`: relays the JSON body to `upstream` at `path` (once, never
/// retried) and, when it succeeds, drops the cache entries under each `invalidate` prefix.
#[derive(Debug, Clone, Deserialize)]
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
}

/// `GET /media/{name}/{file}`: relays an image from `upstream` at `path`, where `{file}` is the
/// requested file name (letters, digits, `-`, `_` and an image extension; nothing else).
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The fingerprinted front-end build to serve.
    pub dist_dir: PathBuf,
    pub body_limit_bytes: usize,
    /// Load the page's hashed assets from this origin (a CDN), e.g. `https://cdn.example.com`.
    pub asset_origin: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dist_dir: PathBuf::from("dist"),
            body_limit_bytes: 64 * 1024,
            asset_origin: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    pub id: IdKind,
    /// The whole view's deadline in milliseconds; a request may ask for less.
    #[serde(default = "default_budget_ms")]
    pub budget_ms: Spanned<u64>,
    pub parts: Spanned<BTreeMap<String, PartConfig>>,
}

fn default_budget_ms() -> Spanned<u64> {
    Spanned::new(0..0, 2_000)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartConfig {
    pub upstream: Spanned<String>,
    /// Path template on the upstream: `{id}` is the view's id, `{part.field}` a field of another
    /// part's data (see [`crate::template`]).
    pub path: Spanned<String>,
    pub timeout_ms: Spanned<u64>,
    /// Whether the view fails (502/504) without this part.
    #[serde(default)]
    pub critical: bool,
    /// Data served, marked `fallback`, when the upstream fails or times out.
    #[serde(default)]
    pub fallback: Option<serde_json::Value>,
    /// Cache the part's upstream responses; off when absent.
    pub cache: Option<PartCacheConfig>,
}

/// Freshness of a cached part (RFC 5861 windows).
#[derive(Debug, Clone, Deserialize)]
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

impl PartConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(*self.timeout_ms.get_ref())
    }
}

/// A configuration error, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        /// The dotted key the error is about (or the nearest one known).
        key: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Override {
        source_name: String,
        message: String,
    },
}

/// Where a configuration's text came from, for error messages.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn builtin() -> Self {
        Self {
            name: DEFAULT_CONFIG_NAME.into(),
            text: DEFAULT_CONFIG.into(),
        }
    }

    /// A configuration held in memory, called `name` in errors.
    pub fn inline(name: &str, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    pub fn file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            name: path.display().to_string(),
            text,
        })
    }

    /// The 1-based line and column of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        (line, column)
    }

    fn error_at(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError::Invalid {
            file: self.name.clone(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Parses and validates a configuration.
    pub fn parse(source: &Source) -> Result<Self, Vec<ConfigError>> {
        let config: Config = toml::from_str(&source.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let key = key_at(&source.text, span.start);
            vec![source.error_at(span, key, e.message().trim().to_owned())]
        })?;
        let errors = config.validate(source);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Cross-references the parts of the configuration: every part names a known upstream, every
    /// template parameter is provided.
    fn validate(&self, source: &Source) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (name, upstream) in &self.upstreams {
            let key = format!("upstreams.{name}");
            for url in upstream.url.iter().chain(&upstream.urls) {
                let text = url.get_ref();
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    errors.push(source.error_at(
                        url.span(),
                        format!("{key}.url"),
                        format!("{text:?} is not an http(s) URL"),
                    ));
                }
            }
            if upstream.hosts().next().is_none() {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key.clone(),
                    "needs `url` or `urls`",
                ));
            }
            if upstream.max_concurrency == 0 || upstream.retry.max_attempts == 0 {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key,
                    "max_concurrency and retry.max_attempts must be at least 1",
                ));
            }
        }
        for (name, action) in &self.actions {
            let key = format!("actions.{name}");
            if !self.upstreams.contains_key(action.upstream.get_ref()) {
                errors.push(source.error_at(
                    action.upstream.span(),
                    format!("{key}.upstream"),
                    format!("unknown upstream {:?}", action.upstream.get_ref()),
                ));
            }
            for template in std::iter::once(&action.path).chain(&action.invalidate) {
                let text = template.get_ref().replace("{id}", "1");
                if text.contains(['{', '}']) {
                    errors.push(source.error_at(
                        template.span(),
                        format!("{key}.path"),
                        "only {id} is available in an action's templates",
                    ));
                }
            }
        }
        for (name, media) in &self.media {
            let key = format!("media.{name}");
            if !self.upstreams.contains_key(media.upstream.get_ref()) {
                errors.push(source.error_at(
                    media.upstream.span(),
                    format!("{key}.upstream"),
                    format!("unknown upstream {:?}", media.upstream.get_ref()),
                ));
            }
            let path = media.path.get_ref();
            let rest = path.replacen("{file}", "", 1);
            if !path.starts_with('/') || !path.contains("{file}") || rest.contains(['{', '}']) {
                errors.push(source.error_at(
                    media.path.span(),
                    format!("{key}.path"),
                    "must start with '/' and hold {file} once, and no other parameter",
                ));
            }
            if media.timeout_ms == 0 {
                errors.push(source.error_at(
                    media.path.span(),
                    format!("{key}.timeout_ms"),
                    "must be at least 1",
                ));
            }
        }
        for (view_name, view) in &self.views {
            self.validate_view(source, view_name, view, &mut errors);
        }
        errors
    }

    fn validate_view(
        &self,
        source: &Source,
        view_name: &str,
        view: &ViewConfig,
        errors: &mut Vec<ConfigError>,
    ) {
        let view_key = format!("views.{view_name}");
        if *view.budget_ms.get_ref() == 0 {
            errors.push(source.error_at(
                view.budget_ms.span(),
                format!("{view_key}.budget_ms"),
                "must be greater than 0",
            ));
        }
        if view.parts.get_ref().is_empty() {
            errors.push(source.error_at(
                view.parts.span(),
                format!("{view_key}.parts"),
                "a view needs at least one part",
            ));
        }
        let parts = view.parts.get_ref();
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (part_name, part) in parts {
            let key = format!("{view_key}.parts.{part_name}");
            if !self.upstreams.contains_key(part.upstream.get_ref()) {
                errors.push(source.error_at(
                    part.upstream.span(),
                    format!("{key}.upstream"),
                    format!("unknown upstream {:?}", part.upstream.get_ref()),
                ));
            }
            if *part.timeout_ms.get_ref() == 0 {
                errors.push(source.error_at(
                    part.timeout_ms.span(),
                    format!("{key}.timeout_ms"),
                    "must be greater than 0",
                ));
            }
            let template = match Template::parse(part.path.get_ref()) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(source.error_at(
                        part.path.span(),
                        format!("{key}.path"),
                        e.to_string(),
                    ));
                    continue;
                }
            };
            for param in template.params() {
                let unprovided = match param {
                    Param::Id | Param::Page => continue,
                    Param::Unknown(name) => format!("{{{name}}}"),
                    Param::Field { part: dep, .. } if parts.contains_key(dep) => continue,
                    Param::Field { part: dep, .. } => {
                        format!("{{{dep}.…}} (no part {dep:?} in this view)")
                    }
                };
                errors.push(source.error_at(
                    part.path.span(),
                    format!("{key}.path"),
                    format!("nothing provides the template parameter {unprovided}"),
                ));
            }
            let deps = template
                .dependencies()
                .into_iter()
                .filter_map(|d| parts.get_key_value(d).map(|(k, _)| k.as_str()))
                .collect();
            graph.insert(part_name, deps);
        }
        for cycle in cycles(&graph) {
            let first = &parts[cycle[0]];
            errors.push(source.error_at(
                first.path.span(),
                format!("{view_key}.parts.{}.path", cycle[0]),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
    }

    /// Where `[upstreams.<name>]` starts, for errors about the table as a whole.
    fn upstream_span(&self, source: &Source, name: &str) -> Range<usize> {
        let header = format!("[upstreams.{name}]");
        let start = source.text.find(&header).unwrap_or(0);
        start..start + header.len()
    }

    /// Points the named upstreams at other base URLs (as `TESSERA_UPSTREAM_<NAME>_URL` would).
    pub fn override_upstreams<'a>(&mut self, urls: impl IntoIterator<Item = (&'a str, String)>) {
        for (name, url) in urls {
            if let Some(upstream) = self.upstreams.get_mut(name) {
                upstream.url = Some(Spanned::new(0..0, url));
                upstream.urls.clear();
            }
        }
    }

    /// Applies `TESSERA_*` environment overrides, read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(listen) = var("TESSERA_LISTEN") {
            self.server.listen = listen.parse().map_err(|e| ConfigError::Override {
                source_name: "TESSERA_LISTEN".into(),
                message: format!("{listen:?} is not a socket address: {e}"),
            })?;
        }
        if let Some(dir) = var("TESSERA_DIST_DIR") {
            self.server.dist_dir = dir.into();
        }
        if let Some(origin) = var("TESSERA_ASSET_ORIGIN") {
            self.server.asset_origin = Some(origin).filter(|o| !o.is_empty());
        }
        for (name, upstream) in &mut self.upstreams {
            let key = format!(
                "TESSERA_UPSTREAM_{}_URL",
                name.to_uppercase().replace('-', "_")
            );
            if let Some(urls) = var(&key) {
                // A comma-separated list sets several hosts.
                upstream.urls = urls
                    .split(',')
                    .map(|u| Spanned::new(0..0, u.trim().to_owned()))
                    .collect();
                upstream.url = None;
            }
        }
        if let Some(url) = var("TESSERA_REDIS_URL") {
            self.cache.redis_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Some(token) = var("TESSERA_ADMIN_TOKEN") {
            self.admin.token = Some(token).filter(|t| !t.is_empty());
        }
        Ok(())
    }
}

/// Every dependency cycle of a view's parts, each once, as `a -> b -> a` starting from its
/// alphabetically first part.
fn cycles<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    for &start in graph.keys() {
        // Depth-first search for a path from `start` back to itself through parts named after it
        // (so each cycle is reported from its first part only).
        let mut stack = vec![(start, vec![start])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for &next in graph.get(node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start);
                    found.push(cycle);
                    stack.clear();
                    break;
                }
                if next > start && seen.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    found
}

/// The dotted key a byte offset of a TOML text falls under: the last `[table]` header before it
/// and the key on its line. Good enough to point people at the right line of their file.
fn key_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let mut table = String::new();
    for line in before.lines() {
        let line = line.trim();
        if line.starts_with('[') && !line.starts_with("[[") {
            table = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
        }
    }
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = text[line_start..line_end].trim();
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.starts_with('['));
    match (table.is_empty(), key) {
        (_, None) if table.is_empty() => "(top level)".into(),
        (_, None) => table,
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            name: "test.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_builtin_config_is_valid() {
        let config = Config::parse(&Source::builtin()).expect("built-in config parses");
        assert!(config.views.contains_key("product"));
        assert_eq!(config.server.listen.port(), 8080);
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n";
        let errors = Config::parse(&source(text)).unwrap_err();
        let message = errors[0].to_string();
        assert!(message.starts_with("test.toml:3:"), "{message}");
        assert!(message.contains("server.lisen"), "{message}");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn unknown_upstreams_and_template_params_are_reported_together() {
        let text = r#"
[upstreams.catalog]
url = "http://127.0.0.1:1"

[views.v]
id = "integer"
[views.v.parts.a]
upstream = "catalgo"
path = "/products/{id}/{sku}"
timeout_ms = 100
"#;
        let errors: Vec<String> = Config::parse(&source(text))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("test.toml:8:"), "{errors:?}");
        assert!(errors[0].contains("views.v.parts.a.upstream") && errors[0].contains("catalgo"));
        assert!(errors[1].starts_with("test.toml:9:") && errors[1].contains("{sku}"));
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let mut config = Config::parse(&Source::builtin()).unwrap();
        config
            .apply_env(|k| match k {
                "TESSERA_LISTEN" => Some("127.0.0.1:9999".into()),
                "TESSERA_UPSTREAM_CATALOG_URL" => Some("http://10.0.0.1:1".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.server.listen.port(), 9999);
        assert_eq!(
            config.upstreams["catalog"].hosts().collect::<Vec<_>>(),
            ["http://10.0.0.1:1"]
        );
        let bad = config.apply_env(|k| (k == "TESSERA_LISTEN").then(|| "nope".into()));
        assert!(bad.unwrap_err().to_string().contains("TESSERA_LISTEN"));
    }
}
