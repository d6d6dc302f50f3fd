//! Benchmark: what a warm start saves a new replica's first requests. Two fresh BFFs over the
//! same demo services (each with a cache of its own): one warms up the product view for ids
//! 1–50 and is timed once `/readyz` says ready; the peer starts cold. Both get the same first
//! thousand requests (the product view, ids 1–50 in turn, sequential).
//!
//! Run: `cargo run --profile server -p tessera-bff --example warmup_bench`
//! It rewrites the `warmup` section of docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use tessera_bff::config::{Config, Source};
use tessera_services::Scale;
use tessera_services::demo::Demo;
use tessera_testkit::bench::{machine, ms, percentile, write_section};

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const IDS: u64 = 50;
const REQUESTS: u64 = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(dir.path(), Scale::SMALL).await?;
    let mut cold = Config::parse(&Source::builtin()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    cold.override_upstreams(demo.upstreams());
    cold.override_keys_dir(demo.keys_dir());
    cold.server.dist_dir = "/nonexistent".into();
    let mut warm = cold.clone();
    warm.warmup.views.insert(
        "product".into(),
        (1..=IDS).map(|id| id.to_string()).collect(),
    );
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;

    let first_thousand = async |config: &Config| -> anyhow::Result<(Vec<Duration>, Duration)> {
        let started = Instant::now();
        let bff = tessera_bff::spawn(config).await?;
        while client
            .get(format!("http://{bff}/readyz"))
            .send()
            .await?
            .status()
            != 200
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ready = started.elapsed();
        let mut times = Vec::new();
        for n in 0..REQUESTS {
            let url = format!("http://{bff}/api/views/product/{}", n % IDS + 1);
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            response.bytes().await?;
            times.push(started.elapsed());
        }
        Ok((times, ready))
    };
    let (cold_times, cold_ready) = first_thousand(&cold).await?;
    let (warm_times, warm_ready) = first_thousand(&warm).await?;

    let row = |label: &str, times: &[Duration], ready: Duration| {
        format!(
            "| {label} | {} | {} | {} | {} |",
            ms(ready),
            ms(percentile(times, 50.0)),
            ms(percentile(times, 99.0)),
            ms(*times.iter().max().unwrap_or(&Duration::ZERO)),
        )
    };
    let body = format!(
        "## A warm start (issue 18)

A fresh replica's first {REQUESTS} requests: the product view, ids 1–{IDS} in turn, one at a
time, over the demo services. The warm replica composes the product view for those ids at start
(`[warmup]`) and is timed from when `/readyz` says ready; the peer starts cold. The cold one
runs first, so the services' own caches are warm for the other's warm-up (not for its
requests: those are answered from its cache).

| replica | ready after | p50 | p99 | slowest |
| --- | --- | --- | --- | --- |
{}
{}

p99 ratio (warm / cold): {:.2}.

Machine: {}.
Reproduce: `cargo run --profile server -p tessera-bff --example warmup_bench`",
        row("cold (peer)", &cold_times, cold_ready),
        row("warm", &warm_times, warm_ready),
        percentile(&warm_times, 99.0).as_secs_f64() / percentile(&cold_times, 99.0).as_secs_f64(),
        machine(),
    );
    println!("{body}");
    write_section("warmup", &body)?;
    Ok(())
}
