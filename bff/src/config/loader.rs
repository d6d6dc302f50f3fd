//! Where the configuration comes from, read again by every reload: the file (or the built-in
//! one), then the environment, then the command line's flags — the same steps `check` runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Config, ConfigError, Source};

/// How to (re)load the configuration.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    /// The file; the built-in demo configuration when `None`.
    pub path: Option<PathBuf>,
    /// `--listen`, over `server.listen`.
    pub listen: Option<SocketAddr>,
    /// `--dist-dir`, over `server.dist_dir`.
    pub dist_dir: Option<PathBuf>,
}

impl Loader {
    /// The file `path`, with no flags.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            ..Self::default()
        }
    }

    /// Reads, parses, validates and overrides; every error found, each naming file, line and
    /// key.
    pub fn load(&self) -> Result<Config, Vec<ConfigError>> {
        let source = match &self.path {
            Some(path) => Source::file(path).map_err(|e| vec![e])?,
            None => Source::builtin(),
        };
        let mut config = Config::parse(&source)?;
        config
            .apply_env(|key| std::env::var(key).ok())
            .map_err(|e| vec![e])?;
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &self.dist_dir {
            config.server.dist_dir.clone_from(dir);
        }
        Ok(config)
    }

    /// The file's path, or `built-in`.
    pub fn describe(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "built-in".to_owned(), |p| p.display().to_string())
    }
}
