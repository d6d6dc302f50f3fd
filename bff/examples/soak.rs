//! The soak (issue 18, item 4): the cluster — the demo services, Redis, three `tessera-bff`
//! processes (this profile's binary) and nginx with `config/cluster/nginx.conf` — under mixed
//! traffic for `--minutes` (default 10), while every ten seconds each service's faults change
//! (none, latency, 503s, a hang, connections cut after the head). Views, streams, single
//! parts, review posts and abandoned streams, from a fixed number of workers. Per minute: requests/s, p50/p99, 5xx (and how many
//! of them came while none of the failing request's critical services was faulted), each
//! replica's resident memory and open descriptors. Writes a table to the `soak` section of
//! docs/BENCHMARKS.md and a plot to docs/soak.svg.
//!
//! Run: `cargo build --profile server -p tessera-bff --bins --examples &&
//!       $CARGO_TARGET_DIR/server/examples/soak --minutes 10`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_services::demo::Demo;
use tessera_services::{Faults, Scale};
use tessera_testkit::bench::{
    Peer, machine, percentile, resident_bytes, sibling_binary, write_section,
};

const WORKERS: usize = 12;
const FAULT_PERIOD: Duration = Duration::from_secs(10);

/// One minute's answers.
#[derive(Default)]
struct Minute {
    latencies: Vec<Duration>,
    server_errors: u64,
    /// 5xx while no critical service of the request was faulted.
    unexpected: u64,
    /// Requests that got no answer at all (connection errors).
    lost: u64,
}

/// Until when (ms since the start) each service (catalog, inventory, reviews, recommendations,
/// accounts) counts as failing: the end of its last failing round, plus the time a breaker it
/// opened stays open and a probe ({BREAKER_GRACE_MS} ms) — a 5xx before then is expected.
static FAILING_UNTIL: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
const BREAKER_GRACE_MS: u64 = 6_000;
const CATALOG: u64 = 1;
const INVENTORY: u64 = 2;
const REVIEWS: u64 = 4;

/// The services (as bits) counting as failing `at_ms` after the start.
fn failing(at_ms: u64) -> u64 {
    FAILING_UNTIL
        .iter()
        .enumerate()
        .filter(|(_, until)| at_ms < until.load(Ordering::Relaxed))
        .fold(0, |bits, (n, _)| bits | 1 << n)
}

/// `hangs`: whether the hanging phase is in the cycle (`--no-hang` leaves it healthy).
fn faults_for(round: u64, service: u64, hangs: bool) -> Faults {
    // Each service cycles through its own phase of: healthy, slow, failing, hanging, cut.
    let mut faults = Faults::default();
    // Nine rounds, each service two rounds after the one before: five distinct phases.
    match (round + service * 2) % 9 {
        1 => faults.latency_ms = 300,
        3 => {
            faults.error_rate = 0.5;
            faults.error_status = 503;
        }
        5 if hangs => faults.hang = true,
        7 => faults.reset_rate = 0.5,
        _ => {}
    }
    faults
}

/// What request kind `kind` (of `n % 20`) is.
fn kind_name(kind: u64) -> &'static str {
    match kind {
        0..=7 => "product view",
        8..=10 => "product stream",
        11..=13 => "stock part",
        14..=15 => "home view",
        16 => "review post",
        _ => "abandoned stream",
    }
}

fn is_faulted(faults: &Faults) -> bool {
    faults.hang || faults.error_rate > 0.0 || faults.reset_rate > 0.0
}

/// Open descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// What a replica's own cache weighs (parts and rendered views, bytes), from its `/metrics`.
async fn cache_weight(client: &reqwest::Client, replica: SocketAddr) -> u64 {
    let Ok(response) = client.get(format!("http://{replica}/metrics")).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("tessera_cache_weight_bytes{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let minutes: u64 = std::env::args()
        .skip_while(|a| a != "--minutes")
        .nth(1)
        .map(|m| m.parse())
        .transpose()?
        .unwrap_or(10);
    // Without the hanging phase, to tell what hangs leave in memory from the rest.
    let hangs = !std::env::args().any(|a| a == "--no-hang");
    let (section, svg_name, title, flag) = if hangs {
        ("soak", "soak.svg", "Soak (issue 18)", "")
    } else {
        (
            "soak-no-hang",
            "soak-no-hang.svg",
            "Soak without hangs (issue 18)",
            " --no-hang",
        )
    };
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(dir.path(), Scale::SMALL).await?;

    let redis_port = Peer::free_port()?;
    let mut redis = std::process::Command::new("redis-server");
    redis.args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"]);
    redis.args(["--save", "", "--appendonly", "no"]);
    let redis = Peer::command(redis, redis_port)?;
    redis.wait_ready()?;

    // The built-in configuration over the demo's services, in a file every replica reads.
    let mut text = tessera_bff::config::DEFAULT_CONFIG.to_owned();
    let builtin = tessera_bff::config::Config::parse(&tessera_bff::config::Source::builtin())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for (name, url) in demo.upstreams() {
        let default = builtin.upstreams[name]
            .hosts()
            .next()
            .unwrap_or_default()
            .to_owned();
        text = text.replace(&format!("\"{default}\""), &format!("\"{url}\""));
    }
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, text)?;
    let binary = sibling_binary("tessera-bff")?;
    let mut replicas = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let port = Peer::free_port()?;
        let mut command = std::process::Command::new(&binary);
        command
            .arg("--config")
            .arg(&file)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--dist-dir", "/nonexistent"])
            .env(
                "TESSERA_REDIS_URL",
                format!("redis://127.0.0.1:{redis_port}"),
            )
            .env("TESSERA_KEYS_DIR", demo.keys_dir())
            .env("TESSERA_CLIENT_ADDRESS", "x_forwarded_for")
            .env("RUST_LOG", "warn,tessera_bff::access=off");
        let replica = Peer::command(command, port)?;
        replica.wait_ready()?;
        addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
        replicas.push(replica);
    }
    let balancer = Peer::balancer(&addrs)?;
    balancer.wait_ready()?;
    let base = format!("http://127.0.0.1:{}", balancer.port);

    let started = Instant::now();
    let minutes_seen: Arc<Mutex<Vec<Minute>>> = Arc::new(Mutex::new(
        (0..minutes).map(|_| Minute::default()).collect(),
    ));
    let stop = Arc::new(AtomicBool::new(false));

    // The faults, every ten seconds.
    // In the order of FAILING_UNTIL (and of the CATALOG, INVENTORY, REVIEWS bits).
    let services = [
        demo.catalog.faults.clone(),
        demo.inventory.faults.clone(),
        demo.reviews.faults.clone(),
        demo.recommendations.faults.clone(),
        demo.accounts.faults.clone(),
    ];
    let stopping = stop.clone();
    let faulter = tokio::spawn(async move {
        let mut round = 0u64;
        while !stopping.load(Ordering::Relaxed) {
            let now_ms = started.elapsed().as_millis() as u64;
            for (n, switch) in services.iter().enumerate() {
                let faults = faults_for(round, n as u64, hangs);
                if is_faulted(&faults) {
                    let until = now_ms + FAULT_PERIOD.as_millis() as u64 + BREAKER_GRACE_MS;
                    FAILING_UNTIL[n].store(until, Ordering::Relaxed);
                }
                switch.set(faults);
            }
            round += 1;
            tokio::time::sleep(FAULT_PERIOD).await;
        }
        for switch in &services {
            switch.set(Faults::default());
        }
    });

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (base, stop, seen) = (base.clone(), stop.clone(), minutes_seen.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("a client");
                let mut n = worker as u64;
                while !stop.load(Ordering::Relaxed) {
                    n += WORKERS as u64;
                    let id = n % 200 + 1;
                    let kind = n % 20;
                    let at = Instant::now();
                    let faulted = failing(started.elapsed().as_millis() as u64);
                    let (critical, result) = match kind {
                        0..=7 => (
                            CATALOG | INVENTORY,
                            get(&client, &format!("{base}/api/views/product/{id}")).await,
                        ),
                        8..=10 => (
                            CATALOG | INVENTORY,
                            get(&client, &format!("{base}/api/views/product/{id}?stream")).await,
                        ),
                        11..=13 => (
                            INVENTORY,
                            get(&client, &format!("{base}/api/parts/product/stock/{id}")).await,
                        ),
                        14..=15 => (
                            CATALOG,
                            get(&client, &format!("{base}/api/views/home/{}", id % 5 + 1)).await,
                        ),
                        16 => (
                            REVIEWS,
                            client
                                .post(format!("{base}/api/actions/review/{id}"))
                                .json(&json!({"rating": 4, "title": "Soaked", "body": "Still here.", "author": "Soak"}))
                                .send()
                                .await
                                .map(|r| r.status().as_u16()),
                        ),
                        _ => {
                            // An abandoned stream: the head, then the client goes away.
                            let result = client
                                .get(format!("{base}/api/views/product/{id}?stream"))
                                .send()
                                .await
                                .map(|r| r.status().as_u16());
                            (CATALOG | INVENTORY, result)
                        }
                    };
                    let took = at.elapsed();
                    let minute = (started.elapsed().as_secs() / 60) as usize;
                    // Faulted while it ran: at its start, or from a round that began before
                    // its answer (the faults change while requests are under way).
                    let faulted = faulted | failing(started.elapsed().as_millis() as u64);
                    let unexpected = matches!(result, Ok(status) if status >= 500)
                        && faulted & critical == 0;
                    {
                        let mut seen = seen.lock().expect("soak lock");
                        let Some(slot) = seen.get_mut(minute) else {
                            break;
                        };
                        match result {
                            Ok(status) => {
                                slot.latencies.push(took);
                                slot.server_errors += u64::from(status >= 500);
                                slot.unexpected += u64::from(unexpected);
                            }
                            Err(_) => slot.lost += 1,
                        }
                    }
                    if let (true, Ok(status)) = (unexpected, &result) {
                        // What the next look needs: which request, which answer, when (the
                        // fault rounds are ten seconds long).
                        eprintln!(
                            "[soak] unexpected {status}: {}, id {id}, {} ms after the start, \
                             took {} ms",
                            kind_name(kind),
                            at.duration_since(started).as_millis(),
                            took.as_millis()
                        );
                    }
                }
            })
        })
        .collect();

    // Each replica's memory, descriptors and cache weight, at the end of every minute.
    let mut samples: Vec<Vec<(u64, usize)>> = Vec::new();
    let mut caches: Vec<Vec<u64>> = Vec::new();
    let scraper = reqwest::Client::new();
    for minute in 0..minutes {
        let end = started + Duration::from_secs(60 * (minute + 1));
        tokio::time::sleep_until(end.into()).await;
        samples.push(
            replicas
                .iter()
                .map(|r| (resident_bytes(r.pid()), open_fds(r.pid())))
                .collect(),
        );
        let mut weights = Vec::new();
        for addr in &addrs {
            weights.push(cache_weight(&scraper, *addr).await);
        }
        caches.push(weights);
        eprintln!("[soak] minute {} of {minutes}", minute + 1);
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let _ = faulter.await;
    let alive = replicas
        .iter()
        .all(|r| std::path::Path::new(&format!("/proc/{}", r.pid())).exists());

    let seen = minutes_seen.lock().expect("soak lock");
    let mib = |b: u64| format!("{:.1}", b as f64 / 1024.0 / 1024.0);
    let mut rows = String::new();
    for (minute, ((slot, sample), cache)) in seen.iter().zip(&samples).zip(&caches).enumerate() {
        let (p50, p99) = if slot.latencies.is_empty() {
            (Duration::ZERO, Duration::ZERO)
        } else {
            (
                percentile(&slot.latencies, 50.0),
                percentile(&slot.latencies, 99.0),
            )
        };
        let memory: Vec<String> = sample.iter().map(|(rss, _)| mib(*rss)).collect();
        let fds: Vec<String> = sample.iter().map(|(_, fds)| fds.to_string()).collect();
        let cache: Vec<String> = cache.iter().map(|b| mib(*b)).collect();
        rows.push_str(&format!(
            "| {} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            minute + 1,
            slot.latencies.len() as f64 / 60.0,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            slot.server_errors,
            slot.unexpected,
            slot.lost,
            memory.join(" / "),
            cache.join(" / "),
            fds.join(" / "),
        ));
    }
    let growth = |replica: usize| {
        let first = samples.get(1).map_or(0, |s| s[replica].0) as f64;
        let last = samples.last().map_or(0, |s| s[replica].0) as f64;
        if first > 0.0 {
            (last / first - 1.0) * 100.0
        } else {
            0.0
        }
    };
    let growths: Vec<String> = (0..replicas.len())
        .map(|r| format!("{:+.1} %", growth(r)))
        .collect();
    let total_unexpected: u64 = seen.iter().map(|m| m.unexpected).sum();
    let total_lost: u64 = seen.iter().map(|m| m.lost).sum();
    let svg = plot(&samples, &seen);
    std::fs::write(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(svg_name),
        svg,
    )?;
    let hanging = if hangs {
        "hanging, "
    } else {
        "(its hanging round left healthy) "
    };
    let body = format!(
        "## {title}

The cluster — demo services, Redis, three `tessera-bff` replicas, nginx with
`config/cluster/nginx.conf` — for {minutes} minutes under {WORKERS} workers of mixed traffic
(product views 40 %, streams 15 %, single parts 15 %, home views 10 %, review posts 5 %,
abandoned streams 15 %), while every ten seconds each service's faults change, in a cycle of
nine rounds: healthy, 300 ms slower, half its answers 503, {hanging}or half its connections cut
after the response head (each service two rounds behind the one before, so no two share a
phase). A 5xx is *unexpected* when none of the request's critical services was faulted while
it ran, nor in the six seconds before it (a breaker it opened stays open five seconds). Memory
(RSS, MiB), what each replica's own cache weighs by its `/metrics` (part entries and rendered
views, MiB, each entry at least its even share of the budget; bounded by `cache.max_bytes` and
a quarter of it) and open descriptors per replica at each minute's end.

| minute | req/s | p50 ms | p99 ms | 5xx | unexpected 5xx | no answer | RSS (MiB) | cache weight (MiB) | fds |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}
RSS growth from minute 2 to minute {minutes}, per replica: {} (goal: under 10 %). Unexpected
5xx: {total_unexpected}; requests with no answer at all: {total_lost}; every replica still
running at the end: {alive}.

![RSS per replica and p99 per minute]({svg_name})

Machine: {}.
Reproduce: `cargo build --profile server -p tessera-bff --bins --examples &&
$CARGO_TARGET_DIR/server/examples/soak --minutes {minutes}{flag}`",
        growths.join(", "),
        machine(),
    );
    println!("{body}");
    write_section(section, &body)?;
    drop(balancer);
    drop(replicas);
    drop(redis);
    Ok(())
}

async fn get(client: &reqwest::Client, url: &str) -> Result<u16, reqwest::Error> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok(status)
}

/// RSS per replica (lines, left axis) and p99 (bars, right axis) per minute, as SVG.
fn plot(samples: &[Vec<(u64, usize)>], seen: &[Minute]) -> String {
    let (w, h, pad) = (640.0, 320.0, 48.0);
    let n = samples.len().max(1) as f64;
    let max_rss = samples
        .iter()
        .flatten()
        .map(|(rss, _)| *rss)
        .max()
        .unwrap_or(1) as f64
        * 1.2;
    let p99s: Vec<f64> = seen
        .iter()
        .map(|m| {
            if m.latencies.is_empty() {
                0.0
            } else {
                percentile(&m.latencies, 99.0).as_secs_f64() * 1e3
            }
        })
        .collect();
    let max_p99 = p99s.iter().copied().fold(1.0, f64::max) * 1.2;
    let x = |i: usize| pad + (i as f64 + 0.5) * (w - 2.0 * pad) / n;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{pad}\" y=\"16\">RSS per replica (MiB, lines) and p99 (ms, bars), per minute</text>\n"
    );
    for (i, p99) in p99s.iter().enumerate() {
        let bar = p99 / max_p99 * (h - 2.0 * pad);
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar:.1}\" fill=\"#dde6f5\"/>\n",
            x(i) - 8.0,
            h - pad - bar,
            16.0
        ));
    }
    let colors = ["#1f6feb", "#d1242f", "#1a7f37"];
    for replica in 0..samples.first().map_or(0, Vec::len) {
        let points: Vec<String> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let y = h - pad - s[replica].0 as f64 / max_rss * (h - 2.0 * pad);
                format!("{:.1},{y:.1}", x(i))
            })
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
            colors[replica % 3],
            points.join(" ")
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\"/>\n\
         <text x=\"4\" y=\"{}\">{:.0} MiB</text><text x=\"{}\" y=\"{}\">{:.0} ms</text>\n\
         <text x=\"{pad}\" y=\"{}\">minute 1</text><text x=\"{}\" y=\"{}\">minute {}</text>\n</svg>\n",
        h - pad,
        w - pad,
        h - pad,
        pad,
        max_rss / 1024.0 / 1024.0,
        w - pad + 4.0,
        pad,
        max_p99,
        h - pad + 16.0,
        w - pad - 50.0,
        h - pad + 16.0,
        samples.len()
    ));
    svg
}
