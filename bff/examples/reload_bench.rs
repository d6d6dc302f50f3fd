//! Benchmark: what a configuration reload costs — the reload itself (`POST /admin/reload`,
//! alternating two valid files so each one applies) beside its peer, loading and validating
//! the same file as `check` does; and what reloads do to the requests being served, the
//! product view timed with no reloads and with one every 100 ms, in the same run.
//!
//! Run: `cargo run --profile server -p tessera-bff --example reload_bench [reloads]`
//! It rewrites the `reload` section of docs/BENCHMARKS.md.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tessera_bff::config::{Config, DEFAULT_CONFIG, Loader, Source};
use tessera_services::Scale;
use tessera_services::demo::Demo;
use tessera_testkit::bench::{machine, ms, percentile, write_section};

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "bench";
/// How long each phase of the request timing runs.
const PHASE: Duration = Duration::from_secs(6);

/// The built-in configuration over `demo`, with `budget` as the product view's budget.
fn config_text(demo: &Demo, budget: u64) -> String {
    let builtin = Config::parse(&Source::builtin()).expect("the built-in config is valid");
    let mut text = DEFAULT_CONFIG.replacen("[server]\n", "[server]\nwatch_config = false\n", 1);
    for (name, url) in demo.upstreams() {
        let default = builtin.upstreams[name].hosts().next().unwrap_or_default();
        text = text.replace(&format!("\"{default}\""), &format!("\"{url}\""));
    }
    let text = text.replacen("budget_ms = 2000", &format!("budget_ms = {budget}"), 1);
    format!("{text}\n[admin]\ntoken = \"{TOKEN}\"\n")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let reloads: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(dir.path(), Scale::SMALL).await?;
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, config_text(&demo, 2000))?;
    let loader = Loader::file(&file);
    let bff = tessera_bff::spawn_with(
        loader.load().map_err(|e| anyhow::anyhow!("{e:?}"))?,
        Some(loader.clone()),
    )
    .await?;
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    // Each reload flips the budget (the file starts at 2000), so each one applies.
    let flips = AtomicU64::new(0);
    let reload = || {
        let (client, file) = (client.clone(), file.clone());
        let budget = 1900 + flips.fetch_add(1, Ordering::Relaxed) % 2 * 100;
        let text = config_text(&demo, budget);
        async move {
            std::fs::write(&file, text)?;
            let started = Instant::now();
            let response = client
                .post(format!("http://{bff}/admin/reload"))
                .bearer_auth(TOKEN)
                .send()
                .await?;
            let took = started.elapsed();
            let info: serde_json::Value = response.json().await?;
            anyhow::ensure!(info["outcome"] == "applied", "{info}");
            Ok::<_, anyhow::Error>(took)
        }
    };

    // The reload, and its peer: the same file loaded and validated (what `check` does).
    let mut reload_times = Vec::with_capacity(reloads);
    let mut check_times = Vec::with_capacity(reloads);
    for _ in 0..reloads {
        reload_times.push(reload().await?);
        let started = Instant::now();
        loader.load().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        check_times.push(started.elapsed());
    }

    // The product view, timed without reloads and with one every 100 ms.
    let view = |reloading: bool| {
        let client = client.clone();
        let reload = &reload;
        async move {
            let stop = AtomicBool::new(false);
            let requests = async {
                let mut times = Vec::new();
                let until = Instant::now() + PHASE;
                let mut id = 0u64;
                while Instant::now() < until {
                    id = id % 100 + 1;
                    let started = Instant::now();
                    let response = client
                        .get(format!("http://{bff}/api/views/product/{id}"))
                        .send()
                        .await?;
                    anyhow::ensure!(response.status().is_success(), "{}", response.status());
                    response.bytes().await?;
                    times.push(started.elapsed());
                }
                stop.store(true, Ordering::Relaxed);
                Ok::<_, anyhow::Error>(times)
            };
            let reloads = async {
                let mut n = 0u64;
                while reloading && !stop.load(Ordering::Relaxed) {
                    n += 1;
                    reload().await?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok::<_, anyhow::Error>(n)
            };
            let (times, done) = tokio::join!(requests, reloads);
            Ok::<_, anyhow::Error>((times?, done?))
        }
    };
    let (quiet, _) = view(false).await?;
    let (busy, done) = view(true).await?;

    let p = |samples: &[Duration], q| percentile(samples, q * 100.0);
    let body = format!(
        "A reload is `POST /admin/reload` of a file that changes the product view's budget \
         (so each one applies: the file read, parsed and validated, the next generation built \
         and swapped in); its peer is loading and validating the same file alone, as `check` \
         does. Then the product view (ids 1–100, sequential requests) for {phase} s without \
         reloads and {phase} s with one every 100 ms ({done} reloads).\n\n\
         | measure | p50 | p99 | peer p50 | peer p99 | ratio (p50) |\n\
         | --- | --- | --- | --- | --- | --- |\n\
         | reload ({reloads} runs) | {} | {} | {} (load + validate) | {} | {:.2} |\n\
         | product view while reloading ({} requests) | {} | {} | {} (no reloads, {} requests) | {} | {:.2} |\n\n\
         Machine: {}. Reproduce: `cargo run --profile server -p tessera-bff --example \
         reload_bench {reloads}`.\n",
        ms(p(&reload_times, 0.5)),
        ms(p(&reload_times, 0.99)),
        ms(p(&check_times, 0.5)),
        ms(p(&check_times, 0.99)),
        p(&reload_times, 0.5).as_secs_f64() / p(&check_times, 0.5).as_secs_f64(),
        busy.len(),
        ms(p(&busy, 0.5)),
        ms(p(&busy, 0.99)),
        ms(p(&quiet, 0.5)),
        quiet.len(),
        ms(p(&quiet, 0.99)),
        p(&busy, 0.5).as_secs_f64() / p(&quiet, 0.5).as_secs_f64(),
        machine(),
        phase = PHASE.as_secs(),
    );
    print!("{body}");
    write_section("reload", &body)?;
    Ok(())
}
