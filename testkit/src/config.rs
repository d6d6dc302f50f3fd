//! BFF configurations for tests and benchmarks, built in code and written as TOML, so that no
//! test or benchmark spells out its own `[upstreams]`/`[views]` text. The result is parsed by
//! the BFF like any file (`Config::parse(&Source::inline(..))`), so validation still applies.
//!
//! ```
//! use tessera_testkit::config::{BffConfig, Part};
//! let toml = BffConfig::new()
//!     .upstream("a", "http://127.0.0.1:1")
//!     .view("v", [Part::new("main", "a", "/main/{id}", 400).critical()])
//!     .toml();
//! assert!(toml.contains("[views.v.parts.main]"));
//! ```

use std::fmt::Write;

/// One part of a test view.
#[derive(Debug, Clone)]
pub struct Part {
    name: String,
    upstream: String,
    path: String,
    timeout_ms: u64,
    critical: bool,
    cache: Option<(u64, u64, u64)>,
    extra: Vec<String>,
}

impl Part {
    /// The part's name in its view.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An optional, uncached part `name` reading `path` (a template) from `upstream`.
    pub fn new(name: &str, upstream: &str, path: &str, timeout_ms: u64) -> Self {
        Self {
            name: name.into(),
            upstream: upstream.into(),
            path: path.into(),
            timeout_ms,
            critical: false,
            cache: None,
            extra: Vec::new(),
        }
    }

    /// The view fails without this part.
    pub fn critical(mut self) -> Self {
        self.critical = true;
        self
    }

    /// Cached with a TTL and the stale-while-revalidate and stale-if-error windows (ms).
    pub fn cached(mut self, ttl_ms: u64, swr_ms: u64, sie_ms: u64) -> Self {
        self.cache = Some((ttl_ms, swr_ms, sie_ms));
        self
    }

    /// Any other `key = value` line of the part (e.g. a `fallback`).
    pub fn with(mut self, line: &str) -> Self {
        self.extra.push(line.into());
        self
    }
}

/// A whole BFF configuration: sections in a fixed order, then any raw TOML. It serves no front
/// end (its `dist_dir` does not exist), whatever the working directory holds.
#[derive(Debug, Clone, Default)]
pub struct BffConfig {
    head: String,
    upstreams: String,
    views: String,
    tail: String,
}

impl BffConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the admin API on with this bearer token.
    pub fn admin_token(mut self, token: &str) -> Self {
        let _ = writeln!(self.head, "[admin]\ntoken = \"{token}\"\n");
        self
    }

    /// Shares the part cache through Redis at `url`.
    pub fn redis(mut self, url: &str) -> Self {
        let _ = writeln!(self.head, "[cache]\nredis_url = \"{url}\"\n");
        self
    }

    /// An upstream at one base URL.
    pub fn upstream(self, name: &str, url: &str) -> Self {
        self.upstream_with(name, &format!("url = \"{url}\""))
    }

    /// An upstream with its settings as TOML (`url = …` or `urls = […]`, `max_concurrency`,
    /// sub-tables such as `[upstreams.NAME.retry]`, …).
    pub fn upstream_with(mut self, name: &str, settings: &str) -> Self {
        let _ = writeln!(self.upstreams, "[upstreams.{name}]\n{settings}\n");
        self
    }

    /// A view with integer ids and the default budget.
    pub fn view(self, name: &str, parts: impl IntoIterator<Item = Part>) -> Self {
        self.view_with(name, "", parts)
    }

    /// A view with settings (e.g. `budget_ms = 1500`, `id = "slug"`).
    pub fn view_with(
        mut self,
        name: &str,
        settings: &str,
        parts: impl IntoIterator<Item = Part>,
    ) -> Self {
        let id = if settings.contains("id =") {
            ""
        } else {
            "id = \"integer\"\n"
        };
        let _ = writeln!(self.views, "[views.{name}]\n{id}{settings}");
        for part in parts {
            let _ = writeln!(
                self.views,
                "[views.{name}.parts.{}]\nupstream = \"{}\"\npath = \"{}\"\ntimeout_ms = {}",
                part.name, part.upstream, part.path, part.timeout_ms
            );
            if part.critical {
                let _ = writeln!(self.views, "critical = true");
            }
            if let Some((ttl, swr, sie)) = part.cache {
                let _ = writeln!(
                    self.views,
                    "cache = {{ ttl_ms = {ttl}, stale_while_revalidate_ms = {swr}, stale_if_error_ms = {sie} }}"
                );
            }
            for line in &part.extra {
                let _ = writeln!(self.views, "{line}");
            }
            self.views.push('\n');
        }
        self
    }

    /// Raw TOML appended at the end (media relays, actions, upstream sub-tables, …).
    pub fn raw(mut self, toml: &str) -> Self {
        self.tail.push_str(toml);
        self.tail.push('\n');
        self
    }

    /// The configuration as TOML text.
    pub fn toml(&self) -> String {
        let server = "[server]\ndist_dir = \"/nonexistent/tessera-api-only\"\n\n";
        format!(
            "{server}{}{}{}{}",
            self.head, self.upstreams, self.views, self.tail
        )
    }
}

/// A loopback URL nothing listens on (the port was free a moment ago): connections are refused.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    format!(
        "http://{}",
        listener
            .local_addr()
            .expect("a bound listener has an address")
    )
}
