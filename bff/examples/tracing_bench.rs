//! Benchmark: what exporting traces costs. Two `tessera-bff` binaries serve the composite
//! benchmark's view over the same stub upstreams; one exports every span over OTLP/HTTP to a
//! collector on loopback (the testkit's receiver, which decodes every message), the peer has
//! tracing off. Sequential requests alternate one by one between the two (p50 added), then
//! each takes `wrk`'s load in turn (requests per second).
//!
//! Build the binary first, then run:
//! `cargo build --profile server -p tessera-bff && cargo run --profile server -p tessera-bff --example tracing_bench [rounds]`
//! It rewrites the `tracing` section of docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tessera_testkit::bench::{
    Peer, WRK_ARGS, composite_parts, composite_replies, machine, ms, percentile, write_section, wrk,
};
use tessera_testkit::config::BffConfig;
use tessera_testkit::otlp::OtlpReceiver;
use tessera_testkit::stub::Stub;

/// The slowest part's latency.
const SLOWEST: Duration = Duration::from_millis(20);

/// The `tessera-bff` binary beside this example's directory (`target/server/`).
fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .context("the example runs from the target directory")?;
    let binary = dir.join("tessera-bff");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run `cargo build --profile server -p tessera-bff` first",
        binary.display()
    );
    Ok(binary)
}

/// A BFF on `text`, on a free port.
fn start(binary: &PathBuf, dir: &std::path::Path, name: &str, text: &str) -> anyhow::Result<Peer> {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text)?;
    let port = Peer::free_port()?;
    let mut command = std::process::Command::new(binary);
    command
        .args(["serve", "--config"])
        .arg(&file)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--dist-dir", "/nonexistent"])
        .env("RUST_LOG", "warn");
    let peer = Peer::command(command, port)?;
    peer.wait_ready()?;
    Ok(peer)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(500);
    let binary = binary()?;
    let stubs = [
        Stub::start().await,
        Stub::start().await,
        Stub::start().await,
    ];
    composite_replies(&stubs, SLOWEST);
    let text = BffConfig::new()
        .upstream("catalog", &stubs[0].url())
        .upstream("inventory", &stubs[1].url())
        .upstream("reviews", &stubs[2].url())
        .view("bench", composite_parts())
        .toml();
    let receiver = OtlpReceiver::start().await;
    let dir = tempfile::tempdir()?;
    let traced_text = format!(
        "{text}\n[telemetry]\notlp_endpoint = \"{}\"\n",
        receiver.endpoint()
    );
    let traced = start(&binary, dir.path(), "traced", &traced_text)?;
    let plain = start(&binary, dir.path(), "plain", &text)?;
    let url = |peer: &Peer| format!("http://127.0.0.1:{}/api/views/bench/1", peer.port);
    let (traced_url, plain_url) = (url(&traced), url(&plain));

    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let time = |url: String| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            let status = response.status();
            response.bytes().await?;
            anyhow::ensure!(status.is_success(), "{url} answered {status}");
            Ok::<_, anyhow::Error>(started.elapsed())
        }
    };
    for _ in 0..20 {
        time(plain_url.clone()).await?;
        time(traced_url.clone()).await?;
    }
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        off.push(time(plain_url.clone()).await?);
        on.push(time(traced_url.clone()).await?);
    }
    let plain_load = wrk(&plain_url, &[])?;
    let traced_load = wrk(&traced_url, &[])?;
    // Every span of the run must have arrived, or the figure would flatter the exporter.
    let wait = Instant::now() + Duration::from_secs(10);
    while receiver.spans().is_empty() && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exported = receiver.spans().len();
    anyhow::ensure!(exported > 0, "no span reached the collector");

    let (off50, on50) = (percentile(&off, 50.0), percentile(&on, 50.0));
    let (off99, on99) = (percentile(&off, 99.0), percentile(&on, 99.0));
    let report = format!(
        "## Tracing exporting vs off (issue 16)

The composite benchmark's view (4 parts, 1 dependent; the slowest stub answers after {slowest}
ms) through two `tessera-bff` binaries: one exports every span (request, part, cache lookup,
upstream attempt: 9 per request of this uncached view) over OTLP/HTTP in batches to a collector on loopback
(the testkit's receiver, decoding each message), the peer has tracing off. {rounds} sequential
requests each, alternating one by one; then `wrk {args}` on each in turn. {exported} spans
reached the collector.

| measure | tracing off (peer) | exporting | added | ratio |
| --- | --- | --- | --- | --- |
| p50, sequential | {} | {} | {} | {:.3} |
| p99, sequential | {} | {} | {} | {:.3} |
| requests/s under wrk | {:.0} | {:.0} | | {:.3} |
| p50 / p99 under wrk | {} / {} | {} / {} | | |

Machine: {}. BFFs, stubs, collector and client share the cores.
Reproduce: `cargo build --profile server -p tessera-bff && cargo run --profile server -p tessera-bff --example tracing_bench {rounds}`",
        ms(off50),
        ms(on50),
        ms(on50.saturating_sub(off50)),
        on50.as_secs_f64() / off50.as_secs_f64(),
        ms(off99),
        ms(on99),
        ms(on99.saturating_sub(off99)),
        on99.as_secs_f64() / off99.as_secs_f64(),
        plain_load.rps,
        traced_load.rps,
        traced_load.rps / plain_load.rps,
        plain_load.p50,
        plain_load.p99,
        traced_load.p50,
        traced_load.p99,
        machine(),
        slowest = SLOWEST.as_millis(),
        args = WRK_ARGS.join(" "),
    );
    println!("{report}");
    write_section("tracing", &report)?;
    Ok(())
}
