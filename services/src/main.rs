//! `tessera-services`: runs one demo data service, or all of them in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tessera_services::catalog::Catalog;
use tessera_services::common::server;
use tessera_services::{FaultSwitch, Faults, Scale};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(version, about = "Tessera's demo data services")]
struct Cli {
    /// Directory holding each service's SQLite file (created if missing).
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// Data set size for a new store.
    #[arg(long, value_enum, default_value = "demo", global = true)]
    scale: ScaleArg,
    /// Faults to inject from the start, as the JSON body of `PUT /admin/faults`.
    #[arg(long, global = true)]
    faults: Option<String>,
    #[command(subcommand)]
    service: Service,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    Small,
    Demo,
}

#[derive(Debug, Subcommand)]
enum Service {
    /// Products and categories (default 127.0.0.1:8081).
    Catalog {
        #[arg(long, env = "TESSERA_CATALOG_LISTEN", default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
    /// Every service, each on its default or given address.
    All {
        #[arg(long, env = "TESSERA_CATALOG_LISTEN", default_value = "127.0.0.1:8081")]
        catalog: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let scale = match cli.scale {
        ScaleArg::Small => Scale::SMALL,
        ScaleArg::Demo => Scale::DEMO,
    };
    let faults = match &cli.faults {
        None => Faults::default(),
        Some(json) => {
            let faults: Faults = serde_json::from_str(json).context("--faults")?;
            faults
                .validate()
                .map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
            faults
        }
    };
    let catalog_addr = match cli.service {
        Service::Catalog { listen } | Service::All { catalog: listen } => listen,
    };

    let started = std::time::Instant::now();
    let db_path = cli.data_dir.join("catalog.db");
    let catalog = tokio::task::spawn_blocking(move || Catalog::open(&db_path, scale))
        .await?
        .context("opening the catalog store")?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "catalog store ready"
    );

    let listener = server::bind(catalog_addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "catalog listening");
    server::run(
        listener,
        catalog.router(FaultSwitch::new(faults)),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
