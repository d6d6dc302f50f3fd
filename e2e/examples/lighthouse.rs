//! Lighthouse on the product page (issue 17): the mobile audit with its default simulated
//! throttling (slow 4G, a 4× slower CPU), performance only, against the page with its start
//! script (the view requested while the wasm downloads) and without it (routes off: the app
//! asks for the view once it runs) — the peer, in the same run.
//!
//! Each audit is a cold load in a fresh browser profile (Lighthouse starts Debian's Chromium,
//! `CHROME_PATH`), of a product not audited before. Reports the median of each figure.
//!
//! Run: `./scripts/build-frontend.sh && cargo run --profile server -p tessera-e2e --example lighthouse`
//! (Lighthouse and Chromium from `./scripts/setup.sh`). Writes the `lighthouse` section of
//! docs/BENCHMARKS.md.

use std::process::Command;

use anyhow::Context;
use serde_json::Value;
use tessera_e2e::Stack;
use tessera_testkit::bench::{machine, write_section};

const SAMPLES: usize = 3;
const CHROMIUM: &str = "/usr/bin/chromium";

/// One audit's figures.
#[derive(Debug, Clone)]
struct Audit {
    score: f64,
    fcp_ms: f64,
    lcp_ms: f64,
    speed_index_ms: f64,
    tbt_ms: f64,
    bytes: f64,
    cls: f64,
    /// The largest contentful paint's element (its HTML, shortened by Lighthouse) and where
    /// its time went (time to first byte, load delay, load time, render delay).
    lcp_element: String,
    lcp_phases: Vec<(String, f64)>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let with = Stack::start().await?;
    let without = Stack::start_with(|config| config.routes.clear()).await?;
    let version = lighthouse_version()?;

    let mut audits = [Vec::new(), Vec::new()];
    // Products the demo has (the small scale's ids are 1–240), each audited once.
    let mut next_id = 100;
    for _ in 0..SAMPLES {
        for (s, stack) in [&without, &with].into_iter().enumerate() {
            next_id += 1;
            // The page audited must be a product's, not its not-found or error page.
            let view = stack.url(&format!("/api/views/product/{next_id}"));
            let status = reqwest::get(&view).await?.status();
            anyhow::ensure!(status.is_success(), "{view}: {status}");
            let url = stack.url(&format!("/product/{next_id}"));
            let run = tokio::task::spawn_blocking(move || audit(&url)).await??;
            audits[s].push(run);
        }
    }

    let mut table = String::from(
        "| page | performance | FCP | LCP | speed index | total blocking time | CLS | transferred |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut elements = Vec::new();
    for (page, runs) in ["app only", "routes"].into_iter().zip(&audits) {
        let median = |f: fn(&Audit) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let mut by_lcp: Vec<&Audit> = runs.iter().collect();
        by_lcp.sort_by(|a, b| a.lcp_ms.total_cmp(&b.lcp_ms));
        let typical = by_lcp[by_lcp.len() / 2];
        let phases = typical
            .lcp_phases
            .iter()
            .map(|(phase, ms)| format!("{phase} {ms:.0} ms"))
            .collect::<Vec<_>>()
            .join(", ");
        elements.push(format!(
            "- *{page}*, the median audit's LCP element `{}`: {phases}.",
            typical.lcp_element.replace('`', "'")
        ));
        table.push_str(&format!(
            "| {page} | {:.0} | {:.0} ms | **{:.0} ms** | {:.0} ms | {:.0} ms | {:.3} | {:.1} KB |\n",
            median(|a| a.score) * 100.0,
            median(|a| a.fcp_ms),
            median(|a| a.lcp_ms),
            median(|a| a.speed_index_ms),
            median(|a| a.tbt_ms),
            median(|a| a.cls),
            median(|a| a.bytes) / 1024.0,
        ));
    }
    let lcps = |runs: &[Audit]| {
        runs.iter()
            .map(|a| format!("{:.0}", a.lcp_ms))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = format!(
        "## Lighthouse on the product page (issue 17)\n\n\
         Lighthouse {version}, mobile, its default simulated throttling (150 ms round trips, \
         1.6 Mbps down, a CPU slowed 4×), performance only, against Debian's headless \
         Chromium; {SAMPLES} cold audits per row (a fresh browser profile each, a product not \
         audited before); each figure is its own median, so a row can mix audits. *Routes*: the \
         page as the BFF serves it with the route table (`[routes]`): the product's first paint \
         drawn into its HTML, with the style inline, the view's request started while the app \
         loads, and the wasm fetched once that paint is on screen; *app only*: the same build \
         with no routes — the peer, audited in the same run. LCP of each audit (ms): app only \
         {}; routes {}.\n\n\
         {table}\n\
         Where the LCP's time went (Lighthouse's phases, simulated):\n\n{}\n\n\
         Goal: LCP at most 1.6 s.\n\n\
         Machine: {}.\n\
         Reproduce: `./scripts/build-frontend.sh && cargo run --profile server -p tessera-e2e --example lighthouse`",
        lcps(&audits[0]),
        lcps(&audits[1]),
        elements.join("\n"),
        machine()
    );
    write_section("lighthouse", &body)?;
    println!("{body}");
    Ok(())
}

fn lighthouse_version() -> anyhow::Result<String> {
    let out = Command::new("lighthouse")
        .arg("--version")
        .output()
        .context("running lighthouse (run scripts/setup.sh)")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One Lighthouse run against `url`: its JSON report's figures.
fn audit(url: &str) -> anyhow::Result<Audit> {
    let out = Command::new("lighthouse")
        .arg(url)
        .args([
            "--only-categories=performance",
            "--output=json",
            "--output-path=stdout",
            "--quiet",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        ])
        .env("CHROME_PATH", CHROMIUM)
        .output()
        .context("running lighthouse (run scripts/setup.sh)")?;
    anyhow::ensure!(
        out.status.success(),
        "lighthouse {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).context("lighthouse's report")?;
    if let Some(error) = report["runtimeError"]["message"].as_str() {
        anyhow::bail!("lighthouse {url}: {error}");
    }

    let numeric = |audit: &str| {
        report["audits"][audit]["numericValue"]
            .as_f64()
            .with_context(|| format!("lighthouse {url}: no {audit}"))
    };
    Ok(Audit {
        score: report["categories"]["performance"]["score"]
            .as_f64()
            .context("no performance score")?,
        fcp_ms: numeric("first-contentful-paint")?,
        lcp_ms: numeric("largest-contentful-paint")?,
        speed_index_ms: numeric("speed-index")?,
        tbt_ms: numeric("total-blocking-time")?,
        bytes: numeric("total-byte-weight")?,
        cls: numeric("cumulative-layout-shift")?,
        lcp_element: lcp_element(&report),
        lcp_phases: lcp_phases(&report),
    })
}

/// The tables of the `largest-contentful-paint-element` audit: the element, then its phases.
fn lcp_tables(report: &Value) -> &[Value] {
    report["audits"]["largest-contentful-paint-element"]["details"]["items"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The LCP element's snippet and where it is (its CSS path), so a first paint's element is
/// told from the app's.
fn lcp_element(report: &Value) -> String {
    lcp_tables(report)
        .iter()
        .map(|table| &table["items"][0]["node"])
        .find_map(|node| {
            let snippet = node["snippet"].as_str()?;
            Some(match node["selector"].as_str() {
                Some(path) => format!("{snippet} ({path})"),
                None => snippet.to_owned(),
            })
        })
        .unwrap_or_else(|| "(not reported)".to_owned())
}

/// The LCP's phases (`TTFB`, `Load Delay`, `Load Time`, `Render Delay`), in ms.
fn lcp_phases(report: &Value) -> Vec<(String, f64)> {
    lcp_tables(report)
        .iter()
        .filter_map(|table| table["items"].as_array())
        .flatten()
        .filter_map(|row| Some((row["phase"].as_str()?.to_owned(), row["timing"].as_f64()?)))
        .collect()
}
