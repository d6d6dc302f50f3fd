//! `tessera-services`: runs one demo data service, or all of them in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches, Parser, ValueEnum};
use tessera_services::accounts::{self, Accounts};
use tessera_services::catalog::Catalog;
use tessera_services::common::cors::Origins;
use tessera_services::common::server;
use tessera_services::common::telemetry::Telemetry;
use tessera_services::inventory::Inventory;
use tessera_services::recommendations::Recommendations;
use tessera_services::reviews::Reviews;
use tessera_services::{FaultSwitch, Faults, Scale};
use tracing_subscriber::EnvFilter;

/// The flags every subcommand takes. The subcommands themselves are built from [`Kind::ALL`]
/// (see [`subcommands`]), so each service's address flag is described once.
#[derive(Debug, Parser)]
#[command(version, about = "Tessera's demo data services")]
#[command(subcommand_required = true, arg_required_else_help = true)]
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
    /// OTLP/HTTP collector to send traces to, as a base URL (`http://127.0.0.1:4318`; spans go
    /// to its `/v1/traces`). No traces are made without one.
    #[arg(long, env = "TESSERA_OTLP_ENDPOINT", global = true)]
    otlp_endpoint: Option<String>,
    /// Folder of the BFF's public keys (`<kid>.pub`) that accounts verifies tokens and vault
    /// keys with; `<data-dir>/keys` by default. Re-read when a key appears, so rotating needs no
    /// restart. Accounts is never given the BFF's address: it never calls back.
    #[arg(long, env = "TESSERA_BFF_KEYS", global = true)]
    bff_keys: Option<PathBuf>,
    /// The audience (`aud`) a token for accounts must name.
    #[arg(long, env = "TESSERA_ACCOUNTS_AUDIENCE", default_value = accounts::AUDIENCE, global = true)]
    audience: String,
    /// Origins whose pages may read accounts' invoices (CORS); repeat the flag or separate with
    /// commas.
    #[arg(
        long = "cors-origin",
        env = "TESSERA_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080,http://localhost:8080",
        global = true
    )]
    cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    Small,
    Demo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Catalog,
    Inventory,
    Reviews,
    Recommendations,
    Accounts,
}

impl Kind {
    const ALL: [Self; 5] = [
        Self::Catalog,
        Self::Inventory,
        Self::Reviews,
        Self::Recommendations,
        Self::Accounts,
    ];

    /// `(subcommand, variable naming its address, default address)`.
    #[rustfmt::skip]
    fn spec(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Catalog => ("catalog", "TESSERA_CATALOG_LISTEN", "127.0.0.1:8081"),
            Self::Inventory => ("inventory", "TESSERA_INVENTORY_LISTEN", "127.0.0.1:8082"),
            Self::Reviews => ("reviews", "TESSERA_REVIEWS_LISTEN", "127.0.0.1:8083"),
            Self::Recommendations =>
                ("recommendations", "TESSERA_RECOMMENDATIONS_LISTEN", "127.0.0.1:8084"),
            Self::Accounts => ("accounts", "TESSERA_ACCOUNTS_LISTEN", "127.0.0.1:8085"),
        }
    }

    fn about(self) -> &'static str {
        match self {
            Self::Catalog => "Products and categories",
            Self::Inventory => "Price and stock",
            Self::Reviews => "Reviews and their materialized summaries",
            Self::Recommendations => "Related products",
            Self::Accounts => "Shoppers, orders and invoices, behind the BFF's keys",
        }
    }

    fn name(self) -> &'static str {
        self.spec().0
    }

    /// The flag `--<id>` taking this service's address.
    fn address_flag(self, id: &'static str) -> Arg {
        let (_, env, default_addr) = self.spec();
        // The placeholder: `<LISTEN>` for `--listen`, `<CATALOG>` for `all --catalog`.
        let value_name = if id == "listen" {
            "LISTEN"
        } else {
            env.trim_start_matches("TESSERA_")
                .trim_end_matches("_LISTEN")
        };
        Arg::new(id)
            .long(id)
            .value_name(value_name)
            .env(env)
            .default_value(default_addr)
            .value_parser(clap::value_parser!(SocketAddr))
    }
}

/// One subcommand per service (`catalog --listen ADDR`, …) and `all` (`--catalog ADDR`, …).
fn subcommands() -> impl Iterator<Item = Command> {
    let one = Kind::ALL.into_iter().map(|kind| {
        Command::new(kind.name())
            .about(kind.about())
            .arg(kind.address_flag("listen"))
    });
    let all = Command::new("all")
        .about("Every service, each on its default or given address")
        .args(Kind::ALL.map(|kind| kind.address_flag(kind.name())));
    one.chain([all])
}

/// The services the chosen subcommand runs, each with its address.
fn chosen(matches: &ArgMatches) -> Vec<(Kind, SocketAddr)> {
    let (command, args) = matches.subcommand().expect("clap requires a subcommand");
    let address = |id: &str| {
        *args
            .get_one::<SocketAddr>(id)
            .expect("every address flag has a default")
    };
    if command == "all" {
        return Kind::ALL
            .into_iter()
            .map(|kind| (kind, address(kind.name())))
            .collect();
    }
    let kind = Kind::ALL
        .into_iter()
        .find(|kind| kind.name() == command)
        .expect("the subcommands are built from Kind::ALL");
    vec![(kind, address("listen"))]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let matches = Cli::command().subcommands(subcommands()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
    let telemetry = match cli.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        Some(endpoint) => {
            tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
            Telemetry::otlp(endpoint)
        }
        None => Telemetry::off(),
    };
    let accounts = accounts::Options {
        keys_dir: cli
            .bff_keys
            .clone()
            .unwrap_or_else(|| cli.data_dir.join("keys")),
        audience: cli.audience.clone(),
        origins: Origins::list(&cli.cors_origins)
            .map_err(|e| anyhow::anyhow!("--cors-origin: {e}"))?,
    };
    let services = chosen(&matches);

    // Bind everything first, so a taken port fails fast, before any seeding.
    let mut bound = Vec::new();
    for (kind, addr) in services {
        bound.push((kind, server::bind(addr).await?));
    }
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut tracers = Vec::new();
    for (kind, listener) in bound {
        let path = cli.data_dir.join(format!("{}.db", kind.name()));
        let started = std::time::Instant::now();
        let options = accounts.clone();
        let router = tokio::task::spawn_blocking(move || open(kind, &path, scale, options))
            .await?
            .with_context(|| format!("opening the {} store", kind.name()))?;
        let tracer = telemetry
            .tracer(kind.name())
            .with_context(|| format!("--otlp-endpoint for {}", kind.name()))?;
        let app = tracer.layer(router(FaultSwitch::new(faults)));
        tracers.push(tracer);
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
    // Send the last spans. Blocking (the SDK waits for the collector), so off the runtime.
    tokio::task::spawn_blocking(move || {
        for tracer in tracers {
            if let Err(e) = tracer.shutdown() {
                tracing::warn!(error = %e, "flushing traces at shutdown failed");
            }
        }
    })
    .await?;
    Ok(())
}

type MakeRouter = Box<dyn FnOnce(FaultSwitch) -> axum::Router + Send>;

/// Opens (and on first start seeds) one service's store; `accounts` configures accounts.
fn open(
    kind: Kind,
    path: &std::path::Path,
    scale: Scale,
    accounts: accounts::Options,
) -> anyhow::Result<MakeRouter> {
    Ok(match kind {
        Kind::Catalog => opened(Catalog::open(path, scale)?, Catalog::router),
        Kind::Inventory => opened(Inventory::open(path, scale)?, Inventory::router),
        Kind::Reviews => opened(Reviews::open(path, scale)?, Reviews::router),
        Kind::Recommendations => {
            opened(Recommendations::open(path, scale)?, Recommendations::router)
        }
        Kind::Accounts => opened(Accounts::open(path, scale, accounts)?, Accounts::router),
    })
}

/// An opened service, whose router is made once its fault switch exists.
fn opened<S: Send + 'static>(service: S, router: fn(S, FaultSwitch) -> axum::Router) -> MakeRouter {
    Box::new(move |faults| router(service, faults))
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
