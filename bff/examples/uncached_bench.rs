//! Benchmark (issue 18, item 7b): an uncached four-part view over stubs that answer at once,
//! against what a team would write instead — a hand-written axum + reqwest handler that
//! `join!`s the same four calls (the dependent one after the part it reads) and returns the
//! parts as JSON. Both run in this process on the same runtime, over the same stubs; `wrk`
//! loads each in turn.
//!
//! Run: `cargo run --profile server -p tessera-bff --example uncached_bench`
//! Needs `wrk` (scripts/setup.sh installs it). Rewrites the `uncached` section of
//! docs/BENCHMARKS.md.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_bff::config::{Config, Source};
use tessera_testkit::bench::{
    WRK_ARGS, Wrk, composite_parts, composite_replies, machine, median, round_ratios,
    write_section, wrk_alternating,
};
use tessera_testkit::config::BffConfig;
use tessera_testkit::stub::Stub;

/// Rounds of the two loaded in turn.
const ROUNDS: usize = 5;

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The hand-written BFF's upstreams.
#[derive(Clone)]
struct Upstreams {
    client: reqwest::Client,
    catalog: String,
    inventory: String,
    reviews: String,
}

impl Upstreams {
    async fn get(&self, url: String) -> Result<Value, reqwest::Error> {
        self.client
            .get(url)
            .timeout(Duration::from_secs(1))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

/// `GET /views/{id}`: the four calls, three at once and the fourth after the product it reads.
async fn hand_written(State(up): State<Upstreams>, Path(id): Path<u64>) -> Response {
    let product_and_top = async {
        let product = up.get(format!("{}/products/{id}", up.catalog)).await?;
        let slug = product["category"]["slug"].as_str().unwrap_or_default();
        let top = up
            .get(format!("{}/categories/{slug}/top", up.catalog))
            .await?;
        Ok::<_, reqwest::Error>((product, top))
    };
    let (first, stock, reviews) = tokio::join!(
        product_and_top,
        up.get(format!("{}/products/{id}/stock", up.inventory)),
        up.get(format!("{}/products/{id}/reviews", up.reviews)),
    );
    match (first, stock) {
        (Ok((product, top)), Ok(stock)) => axum::Json(json!({
            "view": "bench",
            "id": id.to_string(),
            "parts": {
                "product": {"status": "ok", "data": product},
                "stock": {"status": "ok", "data": stock},
                "reviews": reviews.map_or_else(
                    |_| json!({"status": "error"}),
                    |data| json!({"status": "ok", "data": data}),
                ),
                "top": {"status": "ok", "data": top},
            },
        }))
        .into_response(),
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As in the binary, a dispatcher is set; this one is off. Without any, `tracing` (built with
    // its `log` feature) evaluates every disabled span's fields for `log`, a cost no
    // configured BFF pays.
    tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default())?;
    let stubs = [
        Stub::start().await,
        Stub::start().await,
        Stub::start().await,
    ];
    composite_replies(&stubs, Duration::ZERO);
    // No record of the requests: this benchmark reads none, and recording copies every
    // request's headers, which would charge the client that sends more of them.
    for stub in &stubs {
        stub.quiet();
    }
    let text = BffConfig::new()
        .upstream("catalog", &stubs[0].url())
        .upstream("inventory", &stubs[1].url())
        .upstream("reviews", &stubs[2].url())
        .view("bench", composite_parts())
        .toml();
    let config = Config::parse(&Source::inline("uncached_bench.toml", text))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let bff = tessera_bff::spawn(&config).await?;

    let upstreams = Upstreams {
        client: reqwest::Client::new(),
        catalog: stubs[0].url(),
        inventory: stubs[1].url(),
        reviews: stubs[2].url(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let peer = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/views/{id}", axum::routing::get(hand_written))
        .with_state(upstreams);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Both answer the same parts before they are measured.
    let ours: Value = reqwest::get(format!("http://{bff}/api/views/bench/1"))
        .await?
        .json()
        .await?;
    let theirs: Value = reqwest::get(format!("http://{peer}/views/1"))
        .await?
        .json()
        .await?;
    for part in ["product", "stock", "reviews", "top"] {
        anyhow::ensure!(
            ours["parts"][part]["data"] == theirs["parts"][part]["data"],
            "the two BFFs disagree on {part}"
        );
    }

    // The two in turn, in rounds: the ratio is of their medians, and each round's own ratio
    // is given, so a machine that slowed down for a while shows. Beside requests/s, the CPU
    // this process (the server measured and the stubs) spent per request.
    let (peer_url, bff_url) = (
        format!("http://{peer}/views/1"),
        format!("http://{bff}/api/views/bench/1"),
    );
    let rounds = tokio::task::spawn_blocking(move || {
        wrk_alternating(&[(&peer_url, &[]), (&bff_url, &[])], ROUNDS)
    })
    .await??;
    let (hand, tessera) = (median(&rounds[0]), median(&rounds[1]));
    let ratio = tessera.rps / hand.rps;
    let per_round = round_ratios(&rounds[1], &rounds[0]);
    // Over all of each one's runs: their CPU over their requests.
    let cpu_us = |runs: &[Wrk]| {
        let cpu: Duration = runs.iter().map(|run| run.cpu).sum();
        let requests: u64 = runs.iter().map(|run| run.requests).sum();
        cpu.as_secs_f64() * 1e6 / requests.max(1) as f64
    };
    let (hand_cpu, tessera_cpu) = (cpu_us(&rounds[0]), cpu_us(&rounds[1]));
    let listed = |runs: &[Wrk], figure: fn(&Wrk) -> f64| {
        runs.iter()
            .map(|run| format!("{:.0}", figure(run)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let row = |label: &str, run: &Wrk, cpu: f64| {
        format!(
            "| {label} | {:.0} | {} | {} | {cpu:.0} µs |\n",
            run.rps, run.p50, run.p99
        )
    };

    let report = format!(
        "## An uncached view against a hand-written BFF (issue 18, item 7b)

`wrk {args}` against each in turn, {ROUNDS} rounds, on one machine: the BFF, the stubs and wrk
share its cores. The rows are the median runs; the ratio in each round was {per_round}
(requests/s per round: the peer {peer_rounds}; Tessera {tessera_rounds}; CPU per request
per round, µs: the peer {peer_cpu_rounds}; Tessera {tessera_cpu_rounds}). The
view has four parts (product, stock and reviews at once, then the product's category's top
list, which reads the product), none cached; the stubs answer at once. The peer is the same
four calls written by hand: an axum handler with one reqwest client that `tokio::join!`s them
and returns the parts as JSON, with no deadlines per part, no breakers, bulkheads or retries,
no shaping, no metrics and no ETag. Both run in one process, over the same stubs (which keep
no record of the requests), with tracing set to record nothing (so Tessera writes no access
log line, which the binary does at its default level `info`). *CPU per request* is the
process's CPU time (user and system) during that BFF's runs over the requests they served:
the server and the stubs, not wrk. The stubs' share is in both, so the difference in µs is
what Tessera costs more, and the ratio understates it.

| | requests/s | p50 | p99 | CPU per request |
| --- | --- | --- | --- | --- |
{rows}
Tessera ÷ hand-written (medians): **{ratio:.2}**; CPU per request, Tessera ÷ hand-written:
{cpu_ratio:.2}. Goal: at least 0.9 of the requests/s.

Machine: {machine}.
Reproduce: `cargo run --profile server -p tessera-bff --example uncached_bench`",
        args = WRK_ARGS.join(" "),
        rows = [
            row(
                "hand-written axum + reqwest `join!` (peer)",
                &hand,
                hand_cpu
            ),
            row("Tessera BFF, uncached 4-part view", &tessera, tessera_cpu),
        ]
        .concat(),
        peer_rounds = listed(&rounds[0], |run| run.rps),
        tessera_rounds = listed(&rounds[1], |run| run.rps),
        peer_cpu_rounds = listed(&rounds[0], Wrk::cpu_per_request_us),
        tessera_cpu_rounds = listed(&rounds[1], Wrk::cpu_per_request_us),
        cpu_ratio = tessera_cpu / hand_cpu,
        machine = machine(),
    );
    write_section("uncached", &report)?;
    println!("{report}");
    Ok(())
}
