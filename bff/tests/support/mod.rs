//! Starting the real demo services and the real BFF on ephemeral loopback ports.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;

use tessera_bff::config::{Config, Source};
use tessera_services::Scale;
use tessera_services::demo::Demo;

/// The four demo services on small stores in a temp dir.
pub struct Services {
    pub demo: Demo,
    _dir: tempfile::TempDir,
}

pub async fn start_services() -> Services {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    Services { demo, _dir: dir }
}

/// The built-in configuration with the named upstreams moved to the given URLs, serving `dist`
/// (if any).
pub fn config(upstreams: &[(&str, String)], dist: Option<&Path>) -> Config {
    let mut config = Config::parse(&Source::builtin()).unwrap();
    config.override_upstreams(upstreams.iter().map(|(n, u)| (*n, u.clone())));
    config.server.dist_dir = dist.map_or_else(|| "/nonexistent".into(), Path::to_owned);
    config
}

/// A configuration from TOML text (e.g. views over stub upstreams).
pub fn config_from(text: &str) -> Config {
    match Config::parse(&Source::inline("test.toml", text)) {
        Ok(config) => config,
        Err(errors) => panic!("invalid test config: {errors:?}"),
    }
}

pub async fn start_bff(config: &Config) -> SocketAddr {
    tessera_bff::spawn(config).await.unwrap()
}

/// The demo services, and a BFF over them with the built-in configuration (no front end).
pub async fn demo_with_bff() -> (Services, SocketAddr) {
    let services = start_services().await;
    let bff = start_bff(&config(&services.demo.upstreams(), None)).await;
    (services, bff)
}
