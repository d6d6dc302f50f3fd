//! Benchmark: the cached composite view against nginx serving the same bytes as a static file,
//! and a view whose optional upstream is down (breaker open) against the same view healthy.
//! Load comes from `wrk` (2 threads, 32 connections, 10 s per run), all on this machine.
//!
//! Run: `cargo run --profile server -p tessera-bff --example cache_bench`
//! Needs `wrk` and `nginx` (scripts/setup.sh installs both). Rewrites the `cache` section of
//! docs/BENCHMARKS.md.

use anyhow::bail;
use serde_json::json;
use tessera_bff::config::{Config, Source};
use tessera_testkit::bench::{
    Peer, WRK_ARGS, Wrk, machine, median, round_ratios, write_section, wrk, wrk_alternating,
};
use tessera_testkit::config::{BffConfig, Part, refused_url};
use tessera_testkit::stub::{Reply, Stub};

/// How many times the cached view and nginx are each loaded, in turn.
const ROUNDS: usize = 3;

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (catalog, inventory, reviews) = (
        Stub::start().await,
        Stub::start().await,
        Stub::start().await,
    );
    catalog.on(
        "/products/1",
        Reply::json(json!({"id": 1, "name": "Stub product", "description": "x".repeat(400)})),
    );
    inventory.on(
        "/products/1/stock",
        Reply::json(json!({"price_cents": 1999, "stock": 7})),
    );
    reviews.on(
        "/products/1/reviews",
        Reply::json(json!({"items": (0..5).map(|i| json!({"id": i, "body": "y".repeat(300)})).collect::<Vec<_>>()})),
    );
    let hour = 3_600_000;
    let product = || Part::new("product", "catalog", "/products/{id}", 1000).critical();
    let reviews_on = |upstream| Part::new("reviews", upstream, "/products/{id}/reviews", 1000);
    let text = BffConfig::new()
        .upstream("catalog", &catalog.url())
        .upstream("inventory", &inventory.url())
        .upstream("reviews", &reviews.url())
        .upstream("dead", &refused_url())
        .view(
            "cached",
            [
                product().cached(hour, 0, 0),
                Part::new("stock", "inventory", "/products/{id}/stock", 1000)
                    .critical()
                    .cached(hour, 0, 0),
                reviews_on("reviews").cached(hour, 0, 0),
            ],
        )
        .view("healthy", [product(), reviews_on("reviews")])
        .view("degraded", [product(), reviews_on("dead")])
        .toml();
    let config = Config::parse(&Source::inline("cache_bench.toml", text))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let bff = tessera_bff::spawn(&config).await?;

    // The same bytes for nginx: the cached view's body, as a file.
    let body = reqwest::get(format!("http://{bff}/api/views/cached/1"))
        .await?
        .bytes()
        .await?;
    let site = tempfile::tempdir()?;
    std::fs::write(site.path().join("view.json"), &body)?;
    let nginx = Peer::nginx(site.path(), "location / { default_type application/json; }")?;
    nginx.wait_ready()?;
    let check = reqwest::get(format!("http://127.0.0.1:{}/view.json", nginx.port)).await?;
    if check.bytes().await? != body {
        bail!("nginx does not serve the view's bytes");
    }
    // Let the breaker of the dead upstream open before measuring.
    for _ in 0..10 {
        reqwest::get(format!("http://{bff}/api/views/degraded/1")).await?;
    }

    // wrk blocks its thread; the servers run on the runtime's workers meanwhile.
    let run = |url: String| tokio::task::spawn_blocking(move || wrk(&url, &[]));
    // The cached view and nginx in turn, three rounds: the ratio is of their medians, and each
    // round's own ratio is given, so a machine that slowed down for a while shows.
    let (cached_url, static_url) = (
        format!("http://{bff}/api/views/cached/1"),
        format!("http://127.0.0.1:{}/view.json", nginx.port),
    );
    let rounds = tokio::task::spawn_blocking(move || {
        wrk_alternating(&[(&cached_url, &[]), (&static_url, &[])], ROUNDS)
    })
    .await??;
    let (cached, static_file) = (median(&rounds[0]), median(&rounds[1]));
    let per_round = round_ratios(&rounds[0], &rounds[1]);
    let health = run(format!("http://{bff}/healthz")).await??;
    let healthy = run(format!("http://{bff}/api/views/healthy/1")).await??;
    let degraded = run(format!("http://{bff}/api/views/degraded/1")).await??;
    drop(nginx);

    let report = format!(
        "## Cached views and a dead upstream (issue 5)

`wrk {args}` against each URL in turn, on one machine (BFF, stub upstreams, nginx and wrk share
its cores). The view has three parts, all cached (fresh); nginx 1.22 serves the same
{bytes}-byte body as a static file with 2 workers and no access log. The cached view and nginx
were loaded in turn, {ROUNDS} rounds; their rows are the median runs, and the ratio in each
round was {per_round}.

| | requests/s | p50 | p99 | ratio |
| --- | --- | --- | --- | --- |
{rows}
Goal: a cached view at least 0.8 of nginx. The `/healthz` row is the ceiling of the BFF's own
stack (hyper, routing, request ids, tracing, panic guard) on this machine; a fully cached view
is served from a rendered copy kept until its first part goes stale, so it costs a lookup above
that ceiling. A dead optional upstream must not cost throughput:
its breaker answers at once, so the degraded view does less work than the healthy one.

Machine: {machine}.
Reproduce: `cargo run --profile server -p tessera-bff --example cache_bench`",
        args = WRK_ARGS.join(" "),
        bytes = body.len(),
        rows = [
            row(
                "nginx, the view's bytes as a static file (peer)",
                &static_file,
                "1.00"
            ),
            row(
                "BFF, cached composite view",
                &cached,
                &format!("**{:.2}** of nginx", cached.rps / static_file.rps),
            ),
            row(
                "BFF, `/healthz` (the same server stack doing no work)",
                &health,
                &format!("{:.2} of nginx", health.rps / static_file.rps),
            ),
            row(
                "BFF, 2-part view, both upstreams healthy (peer)",
                &healthy,
                "1.00"
            ),
            row(
                "BFF, same view, optional upstream down (breaker open)",
                &degraded,
                &format!("**{:.2}** of healthy", degraded.rps / healthy.rps),
            ),
        ]
        .concat(),
        machine = machine(),
    );
    println!("{report}");
    write_section("cache", &report)?;
    Ok(())
}

/// One table row: what was measured, its throughput and latency, and how it compares.
fn row(label: &str, run: &Wrk, ratio: &str) -> String {
    format!(
        "| {label} | {:.0} | {} | {} | {ratio} |\n",
        run.rps, run.p50, run.p99
    )
}
