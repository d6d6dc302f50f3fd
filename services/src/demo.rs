//! All five demo services in this process, each on its own ephemeral loopback port: what the
//! BFF's integration tests and the browser tests run against.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tessera_contract::keys::{SigningKey, Verifier};

use crate::accounts::{self, Accounts};
use crate::catalog::Catalog;
use crate::common::cors::Origins;
use crate::common::telemetry::{ServiceTracer, Telemetry};
use crate::inventory::Inventory;
use crate::recommendations::Recommendations;
use crate::reviews::Reviews;
use crate::{FaultSwitch, Scale};

/// The kid of the key a demo generates when its key folder holds none.
pub const DEMO_KID: &str = "demo-1";

/// One running service: where it listens, the switch that injects its faults, and its tracer
/// (off unless the demo was started with telemetry).
#[derive(Debug, Clone)]
pub struct Running {
    pub addr: SocketAddr,
    pub faults: FaultSwitch,
    pub tracer: ServiceTracer,
}

/// The five services, running on the current Tokio runtime until it stops.
#[derive(Debug, Clone)]
pub struct Demo {
    pub catalog: Running,
    pub inventory: Running,
    pub reviews: Running,
    pub recommendations: Running,
    pub accounts: Running,
    /// The key ring: `<kid>.key` for the BFF to sign with, `<kid>.pub` that accounts verifies
    /// with. Holds at least one key ([`DEMO_KID`] unless the folder already had some).
    pub keys_dir: PathBuf,
}

impl Demo {
    /// Opens (seeding on first use) the five stores in `dir` and serves each on `127.0.0.1:0`.
    pub async fn start(dir: &Path, scale: Scale) -> anyhow::Result<Self> {
        Self::start_with(dir, scale, &Telemetry::off()).await
    }

    /// [`Demo::start`], each service exporting its spans as `telemetry` says, under its own
    /// `service.name` (`catalog`, `inventory`, `reviews`, `recommendations`, `accounts`).
    ///
    /// The key ring is `dir/keys`; when it holds no key, one is generated ([`DEMO_KID`]), so a
    /// demo always has a key to sign with. Accounts lets any loopback page read its invoices
    /// (the storefront of a test runs on an ephemeral port).
    pub async fn start_with(
        dir: &Path,
        scale: Scale,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Self> {
        let keys_dir = dir.join("keys");
        // Accounts hashes its seeded passwords: seeded beside the other four, not after them.
        let accounts = {
            let (dir, keys_dir) = (dir.to_owned(), keys_dir.clone());
            tokio::task::spawn_blocking(move || {
                ensure_key(&keys_dir)?;
                let options = accounts::Options {
                    origins: Origins::AnyLoopback,
                    ..accounts::Options::new(&keys_dir)
                };
                anyhow::Ok(Accounts::open(&dir.join("accounts.db"), scale, options)?)
            })
        };
        let dir = dir.to_owned();
        let (catalog, inventory, reviews, recommendations) =
            tokio::task::spawn_blocking(move || {
                Ok::<_, crate::common::db::DbError>((
                    Catalog::open(&dir.join("catalog.db"), scale)?,
                    Inventory::open(&dir.join("inventory.db"), scale)?,
                    Reviews::open(&dir.join("reviews.db"), scale)?,
                    Recommendations::open(&dir.join("recommendations.db"), scale)?,
                ))
            })
            .await??;
        let accounts = accounts.await??;
        Ok(Self {
            catalog: serve(telemetry.tracer("catalog")?, |f| catalog.router(f)).await?,
            inventory: serve(telemetry.tracer("inventory")?, |f| inventory.router(f)).await?,
            reviews: serve(telemetry.tracer("reviews")?, |f| reviews.router(f)).await?,
            recommendations: serve(telemetry.tracer("recommendations")?, |f| {
                recommendations.router(f)
            })
            .await?,
            accounts: serve(telemetry.tracer("accounts")?, |f| accounts.router(f)).await?,
            keys_dir,
        })
    }

    /// `(name, base URL)` of each service, as the BFF's configuration names its upstreams.
    pub fn upstreams(&self) -> [(&'static str, String); 5] {
        [
            ("catalog", format!("http://{}", self.catalog.addr)),
            ("inventory", format!("http://{}", self.inventory.addr)),
            ("reviews", format!("http://{}", self.reviews.addr)),
            (
                "recommendations",
                format!("http://{}", self.recommendations.addr),
            ),
            ("accounts", format!("http://{}", self.accounts.addr)),
        ]
    }

    /// The key ring folder (the same as the `keys_dir` field).
    pub fn keys_dir(&self) -> PathBuf {
        self.keys_dir.clone()
    }
}

/// Generates [`DEMO_KID`] into `dir` unless it already holds a public key.
fn ensure_key(dir: &Path) -> anyhow::Result<()> {
    let held = dir.exists() && !Verifier::from_dir(dir)?.kids().is_empty();
    if !held {
        SigningKey::generate(DEMO_KID)?.write_to(dir)?;
        tracing::info!(dir = %dir.display(), kid = DEMO_KID, "generated a demo signing key");
    }
    Ok(())
}

async fn serve(
    tracer: ServiceTracer,
    router: impl FnOnce(FaultSwitch) -> axum::Router,
) -> std::io::Result<Running> {
    let faults = FaultSwitch::default();
    let app = tracer.layer(router(faults.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(%addr, error = %e, "demo service stopped");
        }
    });
    Ok(Running {
        addr,
        faults,
        tracer,
    })
}
