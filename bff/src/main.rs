//! `tessera-bff`: serve the BFF, check a configuration, or fingerprint a front-end build.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_bff::config::{Config, Loader, LogFormat, TelemetryConfig};
use tessera_bff::telemetry;

/// mimalloc: the BFF allocates small, short-lived objects per request (headers, JSON values),
/// where it is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version, about = "Tessera's backend-for-frontend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (defaults to the compiled-in demo configuration).
    #[arg(long, short, env = "TESSERA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides server.listen).
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Front-end build to serve (overrides server.dist_dir).
    #[arg(long, global = true)]
    dist_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the BFF (the default).
    Serve,
    /// Validate the configuration and exit non-zero with every error found.
    Check,
    /// Fingerprint a Trunk build into a CDN-safe site.
    Fingerprint {
        /// Trunk's output directory.
        #[arg(long)]
        build: PathBuf,
        /// The site directory (earlier builds' hashed files in it are kept).
        #[arg(long)]
        out: PathBuf,
    },
    /// Manage the key ring the BFF signs shoppers' tokens and vault keys with.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Write the fingerprinted site for a CDN or object store: the files, their precompressed
    /// variants, `_headers` and `cdn-manifest.json`.
    Export {
        /// The fingerprinted site (server.dist_dir by default).
        #[arg(long)]
        dist: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Origin the page should load its hashed assets from (server.asset_origin by default).
        #[arg(long)]
        asset_origin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write a new Ed25519 pair, `<kid>.key` (owner-only) and `<kid>.pub`, into the folder
    /// and print its key id. Give the `.pub` file to the services before signing with it.
    Generate {
        /// The key ring's folder (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The new key's id (by default from the clock, `k20261202-185012`).
        #[arg(long)]
        kid: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, None | Some(Command::Serve)) {
        // No endpoint: nothing can fail.
        let _ = telemetry::init(LogFormat::Text, &TelemetryConfig::default());
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Fingerprint { build, out } => {
            match tessera_bff::assets::fingerprint::fingerprint(&build, &out) {
                Ok(manifest) => {
                    for (from, to) in &manifest.files {
                        eprintln!("{from} -> {to}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys {
            action: KeysCommand::Generate { dir, kid },
        } => match tessera_bff::generate_key(&dir, kid.as_deref()) {
            Ok(kid) => {
                println!("{kid}");
                eprintln!(
                    "wrote {kid}.key and {kid}.pub in {}; give {kid}.pub to the services, then sign with it (identity.signing_key = \"{kid}\")",
                    dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Export {
            dist,
            out,
            asset_origin,
        } => {
            let Ok(config) = load_config(&cli.serve) else {
                return ExitCode::FAILURE;
            };
            let dist = dist.unwrap_or(config.server.dist_dir);
            let origin = asset_origin.or(config.server.asset_origin);
            match tessera_bff::assets::cdn::export(&dist, &out, origin.as_deref(), &config.routes) {
                Ok(files) => {
                    eprintln!("exported {} files to {}", files.len(), out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check => match load_config(&cli.serve) {
            Ok(_) => {
                eprintln!("configuration is valid");
                ExitCode::SUCCESS
            }
            Err(()) => ExitCode::FAILURE,
        },
        Command::Serve => {
            let Ok(config) = load_config(&cli.serve) else {
                return ExitCode::FAILURE;
            };
            let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime can start");
            // The exporter starts inside the runtime (its HTTP client looks for one).
            let tracing =
                runtime.block_on(async { telemetry::init(config.log.format, &config.telemetry) });
            let tracing = match tracing {
                Ok(tracing) => tracing,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let served = runtime.block_on(serve(config, loader(&cli.serve)));
            drop(runtime);
            // After the runtime: the last export blocks.
            tracing.shutdown();
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// File (or built-in) < environment < flags: what every reload reads again.
fn loader(args: &ServeArgs) -> Loader {
    Loader {
        path: args.config.clone(),
        listen: args.listen,
        dist_dir: args.dist_dir.clone(),
    }
}

/// Loads the configuration; prints every error and returns `Err` on any.
fn load_config(args: &ServeArgs) -> Result<Config, ()> {
    loader(args).load().map_err(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
    })
}

async fn serve(config: Config, loader: Loader) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "Tessera BFF listening");
    println!("Tessera is running at http://{addr}");
    tessera_bff::run(listener, config, Some(loader), shutdown_signal()).await
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
