//! Benchmark: what shaping saves (bytes of the demo's views) and what it costs (µs per part,
//! and the views' latency through the BFF).
//!
//! The demo services run on loopback; two BFFs serve them: the built-in configuration, whose
//! parts are shaped (and whose home view has the per-item `picks` part), and the peer, the same
//! configuration with every shaping setting removed and without `picks` — the views as they
//! were. Requests alternate one by one between the two.
//!
//! Run: `cargo run --profile server -p tessera-bff --example shaping_bench [rounds]`
//! It rewrites the `shaping` section of docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use tessera_bff::config::shape::{Shape, ShapeSpec};
use tessera_bff::config::{Config, Source};
use tessera_services::Scale;
use tessera_services::demo::Demo;
use tessera_testkit::bench::{machine, ms, percentile, write_section};

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VIEWS: [&str; 3] = ["product/7", "home/1", "category/kitchen"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(400);
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(dir.path(), Scale::SMALL).await?;
    let shaped = config(&demo, true)?;
    let unshaped = config(&demo, false)?;
    let (with, without) = (
        tessera_bff::spawn(&shaped).await?,
        tessera_bff::spawn(&unshaped).await?,
    );
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let get = |url: String| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            let body = response.bytes().await?;
            Ok::<_, anyhow::Error>((started.elapsed(), body))
        }
    };

    let mut bytes = String::from(
        "| view | buffered JSON, shaped | unshaped (peer) | ratio | stream, shaped | unshaped | ratio |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for view in VIEWS {
        let size = |bff, stream: bool| {
            let query = if stream { "?stream" } else { "" };
            get(format!("http://{bff}/api/views/{view}{query}"))
        };
        let (a, b) = (
            size(with, false).await?.1.len(),
            size(without, false).await?.1.len(),
        );
        let (c, d) = (
            size(with, true).await?.1.len(),
            size(without, true).await?.1.len(),
        );
        bytes.push_str(&format!(
            "| `{view}` | {a} B | {b} B | {:.2} | {c} B | {d} B | {:.2} |\n",
            a as f64 / b as f64,
            c as f64 / d as f64
        ));
    }

    // The cost of shaping one part, on the demo's own answers.
    let mut cost =
        String::from("| part (demo answer) | shaping | per run |\n| --- | --- | --- |\n");
    for (view, part, path, upstream) in [
        ("product", "summary", "/products/7/summary", "reviews"),
        (
            "product",
            "reviews",
            "/products/7/reviews?per_page=5&page=1",
            "reviews",
        ),
        (
            "product",
            "recommendations",
            "/products/7/recommendations?limit=4",
            "recommendations",
        ),
        ("home", "ratings", &summaries_path(), "reviews"),
    ] {
        let url = format!("{}{path}", base(&demo, upstream));
        let answer: serde_json::Value = client.get(&url).send().await?.json().await?;
        let config = &shaped.views[view].parts.get_ref()[part];
        let spec = config.shape_spec();
        let shape = Shape::parse(&spec).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let what = describe(&spec);
        let per_run = time_per_run(|| {
            let fields = shape.fields(&answer);
            match shape.transform() {
                Some(t) => t
                    .run(&fields, 4 << 20)
                    .map(|_| ())
                    .expect("the transform runs"),
                None => drop(fields),
            }
        });
        cost.push_str(&format!(
            "| `{view}.{part}` ({} B) | {what} | {:.1} µs |\n",
            answer.to_string().len(),
            per_run.as_secs_f64() * 1e6
        ));
    }

    // Latency: each view through the shaped BFF against the unshaped one, alternating.
    let mut latency = String::from(
        "| view | p50 shaped | p50 unshaped (peer) | ratio | p99 shaped | p99 unshaped |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for view in VIEWS {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..rounds + 20 {
            let x = get(format!("http://{with}/api/views/{view}")).await?.0;
            let y = get(format!("http://{without}/api/views/{view}")).await?.0;
            if round >= 20 {
                a.push(x);
                b.push(y);
            }
        }
        let (pa, pb) = (percentile(&a, 50.0), percentile(&b, 50.0));
        latency.push_str(&format!(
            "| `{view}` | {} | {} | {:.2} | {} | {} |\n",
            ms(pa),
            ms(pb),
            pa.as_secs_f64() / pb.as_secs_f64(),
            ms(percentile(&a, 99.0)),
            ms(percentile(&b, 99.0)),
        ));
    }

    let body = format!(
        "What shaping saves and costs, on the demo services (small scale) over loopback. The \
         peer is the same configuration with every `select`/`omit`/`rename`/`transform` removed \
         and without the per-item `picks` part (the views as they were).\n\n\
         Bytes of each view (identity encoding):\n\n{bytes}\n\
         Shaping one part, on the demo's answer (mean of many runs; the transform includes \
         converting to and from jaq's values):\n\n{cost}\n\
         Latency through the BFF ({rounds} alternating requests per view; cached parts, as the \
         demo configures them):\n\n{latency}\n\
         Machine: {}.\n\n\
         Reproduce: `cargo run --profile server -p tessera-bff --example shaping_bench {rounds}`\n",
        machine()
    );
    write_section("shaping", &body)?;
    println!("{body}");
    Ok(())
}

/// The built-in configuration over the demo, shaped as it ships or with shaping removed.
fn config(demo: &Demo, shaped: bool) -> anyhow::Result<Config> {
    let mut config = Config::parse(&Source::builtin()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    config.override_upstreams(demo.upstreams().iter().map(|(n, u)| (*n, u.clone())));
    config.override_keys_dir(demo.keys_dir());
    config.server.dist_dir = "/nonexistent".into();
    if !shaped {
        for view in config.views.values_mut() {
            let parts = view.parts.get_mut();
            parts.remove("picks");
            for part in parts.values_mut() {
                (part.select, part.omit, part.rename, part.transform) = (None, None, None, None);
            }
        }
    }
    Ok(config)
}

fn base(demo: &Demo, upstream: &str) -> String {
    demo.upstreams()
        .iter()
        .find(|(name, _)| *name == upstream)
        .map(|(_, url)| url.clone())
        .expect("a demo upstream")
}

fn summaries_path() -> String {
    let ids: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    format!("/summaries?ids={}", ids.join(","))
}

fn describe(spec: &ShapeSpec<'_>) -> String {
    let mut what = Vec::new();
    if !spec.select.is_empty() {
        what.push(format!("select {}", spec.select.len()));
    }
    if !spec.omit.is_empty() {
        what.push(format!("omit {}", spec.omit.len()));
    }
    if spec.transform.is_some() {
        what.push("transform".to_owned());
    }
    what.join(", ")
}

/// The mean time of one call of `run`, over about half a second.
fn time_per_run(mut run: impl FnMut()) -> Duration {
    for _ in 0..100 {
        run();
    }
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_millis(500) {
        run();
        runs += 1;
    }
    started.elapsed() / runs
}
