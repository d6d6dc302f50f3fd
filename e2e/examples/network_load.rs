//! The product page over an emulated network (issue 17): DevTools' `Network.emulateNetworkConditions`
//! on a slow 4G line (150 ms, 1.6 Mbps down, 750 kbps up) and a fast one (40 ms, 10 Mbps), cold
//! (empty browser cache) and warm (the assets cached, a product not seen before), with the
//! route table (the first paint drawn into the page, the view requested while the app loads)
//! and without it (the app asks for the view once it runs), in one run.
//!
//! Per load: when the critical tiles (product, price, stock) were on screen (the page's
//! `tessera:critical` mark, from the start of the navigation), the largest contentful paint,
//! and the bytes transferred. The floor is what no page can beat on that line: one round trip
//! for the HTML plus the wasm's transfer time at its bandwidth (cold), one round trip (warm).
//!
//! Run: `./scripts/build-frontend.sh && cargo run --profile server -p tessera-e2e --example network_load`
//! (chromedriver and Chromium from `./scripts/setup.sh`). Writes the `network_load` section of
//! docs/BENCHMARKS.md.

use std::time::Duration;

use anyhow::Context;
use tessera_e2e::devtools::Network;
use tessera_e2e::{Browser, Stack};
use tessera_testkit::bench::{machine, write_section};

const SAMPLES: usize = 5;

/// One page load as the browser measured it.
#[derive(Debug, Clone, Copy)]
struct Load {
    critical_ms: f64,
    /// When the page's first paint of the product (drawn from the view before the app runs)
    /// was on screen, if it drew one.
    preview_ms: Option<f64>,
    lcp_ms: f64,
    bytes: u64,
    wasm_bytes: u64,
    /// When the wasm's last byte arrived, when the app's first line ran, and when the view's
    /// first byte arrived.
    wasm_in_ms: f64,
    app_ms: f64,
    view_first_byte_ms: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let with = Stack::start().await?;
    let without = Stack::start_with(|config| config.routes.clear()).await?;
    let browser = Browser::start().await?;
    let result = measure(&browser, &[&without, &with]).await;
    browser.close().await?;
    let rows = result?;

    let mut table = String::from(
        "| network | visit | page | first paint of the product (p50) | critical tiles (p50) | LCP (p50) | transferred (p50) | floor | tiles ÷ floor | wasm in | app started | view's first byte |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (network, visit, page, loads) in &rows {
        let median = |f: fn(&Load) -> f64| {
            let mut values: Vec<f64> = loads.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let wasm = median(|l| l.wasm_bytes as f64) as u64;
        let floor_ms = network.latency_ms as f64
            + if *visit == "cold" {
                network.transfer_s(wasm) * 1e3
            } else {
                0.0
            };
        let critical = median(|l| l.critical_ms);
        let mut previews: Vec<f64> = loads.iter().filter_map(|l| l.preview_ms).collect();
        previews.sort_by(f64::total_cmp);
        let preview = match previews.get(previews.len() / 2) {
            Some(ms) => format!("{ms:.0} ms ({} of {})", previews.len(), loads.len()),
            None => format!("— (0 of {})", loads.len()),
        };
        table.push_str(&format!(
            "| {} | {visit} | {page} | {preview} | {critical:.0} ms | {:.0} ms | {:.1} KB | {floor_ms:.0} ms | **{:.2}** | {:.0} ms | {:.0} ms | {:.0} ms |\n",
            network.name,
            median(|l| l.lcp_ms),
            median(|l| l.bytes as f64) / 1024.0,
            critical / floor_ms,
            median(|l| l.wasm_in_ms),
            median(|l| l.app_ms),
            median(|l| l.view_first_byte_ms),
        ));
    }
    let body = format!(
        "## The product page on a throttled line (issue 17)\n\n\
         Headless Chromium, the network emulated by DevTools (`Network.emulateNetworkConditions`: \
         every request's round trip and the line's bandwidth), {SAMPLES} loads per row, each of \
         a product not loaded before. *Cold*: the browser's cache emptied first; *warm*: the \
         assets cached (the page revalidated). *Routes*: the page as the BFF serves it with \
         the route table (`[routes]`): the product's first paint drawn into its HTML, with the \
         style inline, the view's request started while the app loads, and the wasm fetched \
         once that paint is on screen; *app only*: the same build with no routes, so the app \
         asks for the view once it runs — the peer, measured in the same run. Times from the start of the navigation; the floor is one round trip for the HTML \
         plus the wasm's transfer time at the line's bandwidth (cold), or one round trip \
         (warm). The last three columns say where the time went (p50, from the navigation's \
         start): the wasm's last byte, the app's first line, the view's first byte. *First \
         paint of the product*: the product's picture, name and description before the app runs \
         (the `tessera:preview` mark, the first frame after the page's script found them, not \
         when the picture had loaded; how many loads showed one — none without routes).\n\n{table}\n\
         Goal: critical tiles within 1.15× the floor on slow 4G.\n\n\
         Machine: {}.\n\
         Reproduce: `./scripts/build-frontend.sh && cargo run --profile server -p tessera-e2e --example network_load`",
        machine()
    );
    write_section("network_load", &body)?;
    println!("{body}");
    Ok(())
}

type Row = (Network, &'static str, &'static str, Vec<Load>);

async fn measure(browser: &Browser, stacks: &[&Stack; 2]) -> anyhow::Result<Vec<Row>> {
    let pages = ["app only", "routes"];
    let mut rows = Vec::new();
    let mut next_id = 100;
    for network in [Network::SLOW_4G, Network::FAST] {
        let mut loads = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
        for _ in 0..SAMPLES {
            for (s, stack) in stacks.iter().enumerate() {
                for (v, cold) in [(0, true), (1, false)] {
                    next_id += 1;
                    if cold {
                        browser.emulate(None).await?;
                        browser.clear_cache().await?;
                    }
                    browser.emulate(Some(network)).await?;
                    let load = load(browser, &stack.url(&format!("/product/{next_id}"))).await?;
                    loads[v][s].push(load);
                }
            }
        }
        for (v, visit) in ["cold", "warm"].into_iter().enumerate() {
            for (s, page) in pages.into_iter().enumerate() {
                rows.push((network, visit, page, std::mem::take(&mut loads[v][s])));
            }
        }
    }
    browser.emulate(None).await?;
    Ok(rows)
}

/// Navigates to `url` and waits for the critical tiles and the page's last paint.
async fn load(browser: &Browser, url: &str) -> anyhow::Result<Load> {
    browser.goto(url).await?;
    let script = "const done = arguments[arguments.length - 1]; \
        const mark = (n) => performance.getEntriesByName(n)[0]?.startTime; \
        const wait = () => { \
          if (mark('tessera:critical') === undefined || mark('tessera:complete') === undefined) \
            return setTimeout(wait, 20); \
          new PerformanceObserver((list) => { \
            const lcp = list.getEntries().at(-1).startTime; \
            const resources = performance.getEntriesByType('resource'); \
            const nav = performance.getEntriesByType('navigation')[0]; \
            const bytes = resources.reduce((sum, e) => sum + e.transferSize, nav.transferSize); \
            const wasm = resources.filter((e) => e.name.endsWith('.wasm')); \
            const view = resources.filter((e) => e.name.includes('/api/views/')); \
            done([mark('tessera:critical'), lcp, bytes, \
                  wasm.reduce((sum, e) => sum + e.encodedBodySize, 0), \
                  wasm[0]?.responseEnd ?? 0, mark('tessera:app'), view[0]?.responseStart ?? 0, \
                  mark('tessera:preview') ?? null]); \
          }).observe({type: 'largest-contentful-paint', buffered: true}); \
        }; \
        wait();";
    let value = tokio::time::timeout(
        Duration::from_secs(60),
        browser.client.execute_async(script, vec![]),
    )
    .await
    .context("the page never finished loading")??;
    let number = |i: usize| value[i].as_f64().with_context(|| format!("{value:?}"));
    Ok(Load {
        critical_ms: number(0)?,
        lcp_ms: number(1)?,
        bytes: number(2)? as u64,
        wasm_bytes: number(3)? as u64,
        wasm_in_ms: number(4)?,
        app_ms: number(5)?,
        view_first_byte_ms: number(6)?,
        preview_ms: value[7].as_f64(),
    })
}
