//! Starting the real catalog service and the real BFF on ephemeral loopback ports.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;

use tessera_bff::config::{Config, Source};
use tessera_services::catalog::Catalog;
use tessera_services::{FaultSwitch, Scale};
use tokio::net::TcpListener;

/// Serves `app` on a fresh loopback port for the rest of the test.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub struct Catalogue {
    pub addr: SocketAddr,
    pub faults: FaultSwitch,
    _dir: tempfile::TempDir,
}

pub async fn start_catalog() -> Catalogue {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let catalog = tokio::task::spawn_blocking(move || Catalog::open(&db, Scale::SMALL))
        .await
        .unwrap()
        .unwrap();
    let faults = FaultSwitch::default();
    let addr = serve(catalog.router(faults.clone())).await;
    Catalogue {
        addr,
        faults,
        _dir: dir,
    }
}

/// The built-in configuration pointed at `catalog`, serving `dist` (if any).
pub fn config(catalog: SocketAddr, dist: Option<&Path>) -> Config {
    let mut config = Config::parse(&Source::builtin()).unwrap();
    let url = format!("http://{catalog}");
    config
        .apply_env(|k| (k == "TESSERA_UPSTREAM_CATALOG_URL").then(|| url.clone()))
        .unwrap();
    config.server.dist_dir = dist.map_or_else(|| "/nonexistent".into(), Path::to_owned);
    config
}

pub async fn start_bff(config: &Config) -> SocketAddr {
    serve(tessera_bff::build(config).unwrap()).await
}
