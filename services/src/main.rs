//! `tessera-services`: runs one demo data service, or all of them in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tessera_services::catalog::Catalog;
use tessera_services::common::db::DbError;
use tessera_services::common::server;
use tessera_services::inventory::Inventory;
use tessera_services::recommendations::Recommendations;
use tessera_services::reviews::Reviews;
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
    /// Products and categories.
    Catalog {
        #[arg(long, env = "TESSERA_CATALOG_LISTEN", default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
    /// Price and stock.
    Inventory {
        #[arg(
            long,
            env = "TESSERA_INVENTORY_LISTEN",
            default_value = "127.0.0.1:8082"
        )]
        listen: SocketAddr,
    },
    /// Reviews and their materialized summaries.
    Reviews {
        #[arg(long, env = "TESSERA_REVIEWS_LISTEN", default_value = "127.0.0.1:8083")]
        listen: SocketAddr,
    },
    /// Related products.
    Recommendations {
        #[arg(
            long,
            env = "TESSERA_RECOMMENDATIONS_LISTEN",
            default_value = "127.0.0.1:8084"
        )]
        listen: SocketAddr,
    },
    /// Every service, each on its default or given address.
    All {
        #[arg(long, env = "TESSERA_CATALOG_LISTEN", default_value = "127.0.0.1:8081")]
        catalog: SocketAddr,
        #[arg(
            long,
            env = "TESSERA_INVENTORY_LISTEN",
            default_value = "127.0.0.1:8082"
        )]
        inventory: SocketAddr,
        #[arg(long, env = "TESSERA_REVIEWS_LISTEN", default_value = "127.0.0.1:8083")]
        reviews: SocketAddr,
        #[arg(
            long,
            env = "TESSERA_RECOMMENDATIONS_LISTEN",
            default_value = "127.0.0.1:8084"
        )]
        recommendations: SocketAddr,
    },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Catalog,
    Inventory,
    Reviews,
    Recommendations,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Inventory => "inventory",
            Self::Reviews => "reviews",
            Self::Recommendations => "recommendations",
        }
    }
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
    let services = match cli.service {
        Service::Catalog { listen } => vec![(Kind::Catalog, listen)],
        Service::Inventory { listen } => vec![(Kind::Inventory, listen)],
        Service::Reviews { listen } => vec![(Kind::Reviews, listen)],
        Service::Recommendations { listen } => vec![(Kind::Recommendations, listen)],
        Service::All {
            catalog,
            inventory,
            reviews,
            recommendations,
        } => vec![
            (Kind::Catalog, catalog),
            (Kind::Inventory, inventory),
            (Kind::Reviews, reviews),
            (Kind::Recommendations, recommendations),
        ],
    };

    // Bind everything first, so a taken port fails fast, before any seeding.
    let mut bound = Vec::new();
    for (kind, addr) in services {
        bound.push((kind, server::bind(addr).await?));
    }
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    for (kind, listener) in bound {
        let path = cli.data_dir.join(format!("{}.db", kind.name()));
        let started = std::time::Instant::now();
        let router = tokio::task::spawn_blocking(move || open(kind, &path, scale))
            .await?
            .with_context(|| format!("opening the {} store", kind.name()))?;
        let app = router(FaultSwitch::new(faults));
        tracing::info!(
            service = kind.name(),
            addr = %listener.local_addr()?,
            ready_ms = started.elapsed().as_millis() as u64,
            "listening"
        );
        let mut stop = stop.subscribe();
        tasks.spawn(server::run(listener, app, async move {
            let _ = stop.recv().await;
        }));
    }
    tokio::select! {
        () = shutdown_signal() => {
            let _ = stop.send(());
        }
        Some(result) = tasks.join_next() => {
            result??;
        }
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(())
}

type MakeRouter = Box<dyn FnOnce(FaultSwitch) -> axum::Router + Send>;

/// Opens (and on first start seeds) one service's store.
fn open(kind: Kind, path: &std::path::Path, scale: Scale) -> Result<MakeRouter, DbError> {
    Ok(match kind {
        Kind::Catalog => {
            let s = Catalog::open(path, scale)?;
            Box::new(move |f| s.router(f))
        }
        Kind::Inventory => {
            let s = Inventory::open(path, scale)?;
            Box::new(move |f| s.router(f))
        }
        Kind::Reviews => {
            let s = Reviews::open(path, scale)?;
            Box::new(move |f| s.router(f))
        }
        Kind::Recommendations => {
            let s = Recommendations::open(path, scale)?;
            Box::new(move |f| s.router(f))
        }
    })
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
