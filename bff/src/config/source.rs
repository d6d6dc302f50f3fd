//! Where a configuration comes from: a TOML file or the built-in one, then `TESSERA_*`
//! environment overrides (flags are applied by `main.rs`); and how errors point into the text.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::types::{Config, LogFormat};
use super::validate::check_origin;

/// The compiled-in demo configuration, used when no file is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/tessera.toml");
/// How the compiled-in configuration is named in errors.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in config/tessera.toml>";

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

    pub(super) fn error_at(
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
    /// Points the named upstreams at other base URLs (as `TESSERA_UPSTREAM_<NAME>_URL` would).
    pub fn override_upstreams<'a>(&mut self, urls: impl IntoIterator<Item = (&'a str, String)>) {
        for (name, url) in urls {
            if let Some(upstream) = self.upstreams.get_mut(name) {
                upstream.url = Some(Spanned::new(0..0, url));
                upstream.urls.clear();
            }
        }
    }

    /// Signs with the key ring in `dir` (a test's, or a demo's), writing no key of its own.
    pub fn override_keys_dir(&mut self, dir: impl Into<std::path::PathBuf>) {
        if let Some(identity) = &mut self.identity {
            identity.keys_dir = Spanned::new(0..0, dir.into());
            identity.generate_keys = false;
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
        if let Some(format) = var("TESSERA_LOG_FORMAT") {
            self.log.format = match format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Override {
                        source_name: "TESSERA_LOG_FORMAT".into(),
                        message: format!("{other:?} is neither \"text\" nor \"json\""),
                    });
                }
            };
        }
        if let Some(dir) = var("TESSERA_DIST_DIR") {
            self.server.dist_dir = dir.into();
        }
        if let Some(origin) = var("TESSERA_ASSET_ORIGIN") {
            if !origin.is_empty() {
                check_origin(&origin).map_err(|message| ConfigError::Override {
                    source_name: "TESSERA_ASSET_ORIGIN".into(),
                    message,
                })?;
            }
            self.server.asset_origin = Some(origin).filter(|o| !o.is_empty());
        }
        for (name, upstream) in &mut self.upstreams {
            let key = format!(
                "TESSERA_UPSTREAM_{}_URL",
                name.to_uppercase().replace('-', "_")
            );
            if let Some(urls) = var(&key) {
                // A comma-separated list sets several hosts.
                let urls: Vec<String> = urls.split(',').map(|u| u.trim().to_owned()).collect();
                if let Some(bad) = urls
                    .iter()
                    .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
                {
                    return Err(ConfigError::Override {
                        source_name: key,
                        message: format!("{bad:?} is not an http(s) URL"),
                    });
                }
                upstream.urls = urls.into_iter().map(|u| Spanned::new(0..0, u)).collect();
                upstream.url = None;
            }
        }
        if let Some(dir) = var("TESSERA_KEYS_DIR")
            && let Some(identity) = &mut self.identity
        {
            // Read (and, with generate_keys, filled) at start; a bad ring stops the start.
            identity.keys_dir = Spanned::new(0..0, dir.into());
        }
        if let Some(from) = var("TESSERA_CLIENT_ADDRESS")
            && let Some(identity) = &mut self.identity
        {
            identity.client_address = match from.as_str() {
                "peer" => super::ClientAddress::Peer,
                "x_forwarded_for" => super::ClientAddress::XForwardedFor,
                other => {
                    return Err(ConfigError::Override {
                        source_name: "TESSERA_CLIENT_ADDRESS".into(),
                        message: format!("{other:?} is neither \"peer\" nor \"x_forwarded_for\""),
                    });
                }
            };
        }
        if let Some(url) = var("TESSERA_EDGE_PURGE_URL") {
            self.cache.edge_purge_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Some(url) = var("TESSERA_REDIS_URL") {
            self.cache.redis_url = Some(url).filter(|u| !u.is_empty());
        }
        if let Some(token) = var("TESSERA_ADMIN_TOKEN") {
            self.admin.token = Some(token).filter(|t| !t.is_empty());
        }
        if let Some(endpoint) = var("TESSERA_OTLP_ENDPOINT") {
            self.telemetry.otlp_endpoint = Some(endpoint).filter(|e| !e.is_empty());
        }
        Ok(())
    }
}

/// The dotted key a byte offset of a TOML text falls under: the last `[table]` header before it
/// and the key on its line. Good enough to point people at the right line of their file.
pub(super) fn key_at(text: &str, offset: usize) -> String {
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
