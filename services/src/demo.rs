//! All four demo services in this process, each on its own ephemeral loopback port: what the
//! BFF's integration tests and the browser tests run against.

use std::net::SocketAddr;
use std::path::Path;

use crate::catalog::Catalog;
use crate::common::telemetry::{ServiceTracer, Telemetry};
use crate::inventory::Inventory;
use crate::recommendations::Recommendations;
use crate::reviews::Reviews;
use crate::{FaultSwitch, Scale};

/// One running service: where it listens, the switch that injects its faults, and its tracer
/// (off unless the demo was started with telemetry).
#[derive(Debug, Clone)]
pub struct Running {
    pub addr: SocketAddr,
    pub faults: FaultSwitch,
    pub tracer: ServiceTracer,
}

/// The four services, running on the current Tokio runtime until it stops.
#[derive(Debug, Clone)]
pub struct Demo {
    pub catalog: Running,
    pub inventory: Running,
    pub reviews: Running,
    pub recommendations: Running,
}

impl Demo {
    /// Opens (seeding on first use) the four stores in `dir` and serves each on `127.0.0.1:0`.
    pub async fn start(dir: &Path, scale: Scale) -> anyhow::Result<Self> {
        Self::start_with(dir, scale, &Telemetry::off()).await
    }

    /// [`Demo::start`], each service exporting its spans as `telemetry` says, under its own
    /// `service.name` (`catalog`, `inventory`, `reviews`, `recommendations`).
    pub async fn start_with(
        dir: &Path,
        scale: Scale,
        telemetry: &Telemetry,
    ) -> anyhow::Result<Self> {
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
        Ok(Self {
            catalog: serve(telemetry.tracer("catalog")?, |f| catalog.router(f)).await?,
            inventory: serve(telemetry.tracer("inventory")?, |f| inventory.router(f)).await?,
            reviews: serve(telemetry.tracer("reviews")?, |f| reviews.router(f)).await?,
            recommendations: serve(telemetry.tracer("recommendations")?, |f| {
                recommendations.router(f)
            })
            .await?,
        })
    }

    /// `(name, base URL)` of each service, as the BFF's configuration names its upstreams.
    pub fn upstreams(&self) -> [(&'static str, String); 4] {
        [
            ("catalog", format!("http://{}", self.catalog.addr)),
            ("inventory", format!("http://{}", self.inventory.addr)),
            ("reviews", format!("http://{}", self.reviews.addr)),
            (
                "recommendations",
                format!("http://{}", self.recommendations.addr),
            ),
        ]
    }
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
