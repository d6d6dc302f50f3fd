//! Benchmark: what a BFF replica holds in memory (issue 18, item 5). The real `tessera-bff`
//! binary (this profile's, beside the example) over a stub upstream, its resident memory read
//! from `/proc` idle; with 10,000 cache entries (and as many rendered views); with 1,000 idle
//! keep-alive connections; and with 200 NDJSON streams held open by a part that never answers.
//! The peer is nginx holding the same 1,000 idle keep-alive connections.
//!
//! Run: `cargo build --profile server -p tessera-bff --bins --examples &&
//!       target/server/examples/memory_bench` (scripts/bench.sh does both).
//! It rewrites the `memory` section of docs/BENCHMARKS.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tessera_testkit::bench::{Peer, machine, resident_bytes, sibling_binary, write_section};
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::stub::{Reply, Stub};

const ENTRIES: u32 = 10_000;
const CONNECTIONS: usize = 1_000;
const STREAMS: usize = 200;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// Opens `n` keep-alive connections to `port`, each after one answered `GET path`.
fn idle_connections(port: u16, path: &str, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut socket = TcpStream::connect(("127.0.0.1", port))?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(socket, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut buffer = [0u8; 4096];
        let read = socket.read(&mut buffer)?;
        anyhow::ensure!(
            buffer[..read].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buffer[..read.min(100)])
        );
        held.push(socket);
    }
    Ok(held)
}

fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stub = Stub::start().await;
    for id in 1..=ENTRIES {
        stub.on(
            &format!("/items/{id}"),
            Reply::json(json!({"id": id, "name": format!("item {id}"), "tags": ["a", "b", "c"]})),
        );
    }
    stub.on("/slow/1", Reply::hang());
    let config = BffConfig::new()
        // Room for every stream's call: the bulkhead would refuse the ones past 128 at once.
        .upstream_with(
            "items",
            &format!("url = \"{}\"\nmax_concurrency = 512", stub.url()),
        )
        .view(
            "item",
            [Part::new("item", "items", "/items/{id}", 1_000).cached(3_600_000, 0, 0)],
        )
        .view_with(
            "slow",
            "budget_ms = 600000",
            [Part::new("never", "items", "/slow/{id}", 600_000)],
        )
        .toml();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, config)?;
    let binary = sibling_binary("tessera-bff")?;
    let port = Peer::free_port()?;
    let mut command = std::process::Command::new(&binary);
    command
        .arg("--config")
        .arg(&file)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "error");
    let bff = Peer::command(command, port)?;
    bff.wait_ready()?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    client
        .get(format!("{base}/api/views/item/1"))
        .send()
        .await?;
    settle();
    let idle = resident_bytes(bff.pid());

    let requests = (1..=ENTRIES).map(|id| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let response = client
                .get(format!("{base}/api/views/item/{id}"))
                .send()
                .await?;
            anyhow::ensure!(response.status() == 200, "item {id}: {}", response.status());
            response.bytes().await?;
            Ok(())
        }
    });
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(requests)
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    settle();
    let cached = resident_bytes(bff.pid());

    let connections = idle_connections(port, "/healthz", CONNECTIONS)?;
    settle();
    let connected = resident_bytes(bff.pid());

    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let response = client
            .get(format!("{base}/api/views/slow/1?stream"))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "stream: {}", response.status());
        streams.push(response);
    }
    settle();
    let streaming = resident_bytes(bff.pid());
    let open: String = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?
        .lines()
        .find(|l| l.starts_with("tessera_http_streams_open "))
        .unwrap_or_default()
        .to_owned();
    drop(streams);
    drop(connections);

    // The peer: nginx with the same idle connections.
    let root = tempfile::tempdir()?;
    std::fs::write(root.path().join("healthz"), "ok")?;
    let nginx = Peer::nginx(
        root.path(),
        "keepalive_timeout 60s; keepalive_requests 1000;",
    )?;
    nginx.wait_ready()?;
    idle_connections(nginx.port, "/healthz", 1)?;
    settle();
    let nginx_idle = resident_bytes(nginx.pid());
    let nginx_connections = idle_connections(nginx.port, "/healthz", CONNECTIONS)?;
    settle();
    let nginx_connected = resident_bytes(nginx.pid());
    drop(nginx_connections);

    let per_connection = |with: u64, without: u64| {
        format!(
            "{:.1} KiB",
            with.saturating_sub(without) as f64 / 1024.0 / CONNECTIONS as f64
        )
    };
    let body = format!(
        "## Memory (issue 18)

Resident memory (`VmRSS`, nginx's master and workers together) of the `tessera-bff` binary
over a stub upstream, each row on top of the one before. The part cache is bounded
(`cache.max_entries` 10,000, `max_bytes` 64 MiB by default); every entry here is a small JSON
object, and each view is also kept rendered.

| state | tessera-bff | nginx (peer) |
| --- | --- | --- |
| idle, after one request | {} | {} |
| with {ENTRIES} cache entries and rendered views | {} | — |
| with {CONNECTIONS} idle keep-alive connections | {} | {} |
| per idle connection | {} | {} |
| with {STREAMS} open NDJSON streams (a part that never answers) | {} | — |

Streams open at the end, by the BFF's own count: `{open}`.
Ratio of the idle connections' cost (BFF / nginx): {:.1}.

Machine: {}.
Reproduce: `cargo build --profile server -p tessera-bff --bins --examples && \\
$CARGO_TARGET_DIR/server/examples/memory_bench`",
        mib(idle),
        mib(nginx_idle),
        mib(cached),
        mib(connected),
        mib(nginx_connected),
        per_connection(connected, cached),
        per_connection(nginx_connected, nginx_idle),
        mib(streaming),
        connected.saturating_sub(cached) as f64
            / (nginx_connected.saturating_sub(nginx_idle).max(1)) as f64,
        machine(),
    );
    println!("{body}");
    write_section("memory", &body)?;
    drop(bff);
    Ok(())
}
