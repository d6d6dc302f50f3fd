//! Takes the README's screenshots from the running app, in headless Chromium over WebDriver:
//! the home page, a product page, the same signed in as the demo's `alice` (the header with her
//! name, the "you bought this" tile), her account page with its orders, the product page's
//! "how this page loaded" panel (with the reviews service
//! slowed, so that the waterfall has a story to tell), a product page with the recommendations
//! service failing, and the ops page in that state, after some 50 s of traffic (so that its
//! figures and sparklines have something to show). Each shot waits for the state it shows.
//!
//! Run: `./scripts/screenshots.sh` (builds the front end first). Writes `docs/screenshots/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tessera_e2e::{Browser, Stack};
use tessera_services::seed::{self, CATEGORIES};
use tessera_services::{Faults, Scale};

/// The admin token of the stack the shots are taken from (the ops page asks for it).
const TOKEN: &str = "screenshots-admin-token";
/// The product shown with the recommendations service failing. The healthy traffic keeps away
/// from it and its category, so that none of its parts is cached when it is shot.
const DEGRADED: i64 = 11;
/// How long the traffic before the ops shot runs, healthy and then with recommendations failing
/// (it goes on during the shot): long enough for the sparklines (five minutes wide) to show a
/// shape, paced so that the cache fills over the whole run rather than in its first seconds.
const HEALTHY_TRAFFIC: Duration = Duration::from_secs(40);
const FAILING_TRAFFIC: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&out)?;
    let stack = Stack::start_with(|config| {
        config.admin.token = Some(TOKEN.into());
        // A short breaker that stays open for the whole ops shot.
        let upstream = config
            .upstreams
            .get_mut("recommendations")
            .expect("the demo has the recommendations upstream");
        upstream.breaker.failure_threshold = 3;
        upstream.breaker.open_ms = 30_000;
    })
    .await?;
    let browser = Browser::start().await?;
    let result = shoot(&stack, &browser, &out).await;
    browser.close().await?;
    result
}

async fn shoot(stack: &Stack, browser: &Browser, out: &std::path::Path) -> anyhow::Result<()> {
    let client = &browser.client;
    let save = async |name: &str| -> anyhow::Result<()> {
        // Let images decode and the last frame paint.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = client.screenshot().await?;
        std::fs::write(out.join(name), png)?;
        println!("[screenshots] docs/screenshots/{name}");
        Ok(())
    };
    let wait = async |css: &str| -> anyhow::Result<()> {
        browser.wait_for(css).await?;
        Ok(())
    };

    client.set_window_size(1280, 1250).await?;
    browser.goto(&stack.url("/")).await?;
    wait("[data-testid=card] [data-testid=card-rating]").await?;
    save("home.png").await?;

    browser.goto(&stack.url("/product/7")).await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    wait("[data-testid=tile-category_picks][data-status=ok]").await?;
    save("product.png").await?;

    // Signed in as alice: the header names her, product 1 says when she bought it, and her
    // account lists her orders (one invoice fetched, to show its status).
    browser.goto(&stack.url("/product/1")).await?;
    browser.sign_in("alice", "tessera").await?;
    wait("[data-testid=session-name]").await?;
    wait("[data-testid=tile-purchases][data-status=ok]").await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    save("signed-in-product.png").await?;
    browser.click("[data-testid=account-link]").await?;
    wait("[data-testid=tile-orders][data-status=ok] [data-order-id]").await?;
    let first = browser
        .attr("[data-testid=tile-orders] [data-order-id]", "data-order-id")
        .await?
        .ok_or_else(|| anyhow::anyhow!("alice's first order has no id"))?;
    browser
        .click(&format!("[data-testid=invoice-{first}]"))
        .await?;
    wait(&format!(
        "[data-testid=invoice-status-{first}][data-state=saved]"
    ))
    .await?;
    full_height(browser, 1280).await?;
    save("account.png").await?;
    browser.sign_out().await?;

    stack.services.reviews.faults.set(Faults::slowed(450));
    client.set_window_size(1280, 760).await?;
    browser.goto(&stack.url("/product/12")).await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    browser.click("[data-testid=waterfall] summary").await?;
    client
        .execute(
            "document.querySelector('[data-testid=waterfall]').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await?;
    save("waterfall.png").await?;
    stack.services.reviews.faults.set(Faults::default());

    // Shoppers browse for a while with every service healthy, so that the ops page has a
    // history to show before the failure.
    let (healthy, failing) = traffic_paths();
    let sent = traffic(stack.url(""), healthy, HEALTHY_TRAFFIC).await?;
    println!("[screenshots] {sent} healthy requests");

    stack
        .services
        .recommendations
        .faults
        .set(Faults::failing(503));
    client.set_window_size(1280, 1250).await?;
    browser
        .goto(&stack.url(&format!("/product/{DEGRADED}")))
        .await?;
    wait("[data-testid=tile-recommendations][data-status=error]").await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    save("product-degraded.png").await?;

    // They go on browsing while recommendations fail (and during the shot, so that its latest
    // second has calls too): its breaker opens, and stays open (30 s) for the ops shot.
    let sent = traffic(stack.url(""), failing.clone(), FAILING_TRAFFIC).await?;
    println!("[screenshots] {sent} requests with recommendations failing");
    let state = stack.breaker_state(TOKEN, "recommendations").await?;
    anyhow::ensure!(
        state == "open",
        "the recommendations breaker is {state:?}, not open"
    );

    let background = tokio::spawn(traffic(stack.url(""), failing, Duration::from_secs(60)));
    let shot = async {
        ops_shot(stack, browser).await?;
        save("ops.png").await
    }
    .await;
    if background.is_finished() {
        background.await??;
    } else {
        background.abort();
    }
    shot?;

    stack.services.recommendations.faults.set(Faults::default());
    Ok(())
}

/// Signs in on the ops page, waits for the recommendations breaker to show open and sizes the
/// window to the whole page.
async fn ops_shot(stack: &Stack, browser: &Browser) -> anyhow::Result<()> {
    browser.client.set_window_size(1280, 900).await?;
    browser.goto(&stack.url("/ops")).await?;
    browser.wait_for("[data-testid=ops-token]").await?;
    browser.type_into("[data-testid=ops-token]", TOKEN).await?;
    browser.click("[data-testid=ops-token-submit]").await?;
    browser
        .wait_for("[data-testid=ops-upstream-recommendations][data-breaker=open]")
        .await?;
    full_height(browser, 1280).await?;
    // A fresh poll (once a second) after the resize.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    full_height(browser, 1280).await?;
    Ok(())
}

/// Sizes the window so that its viewport (all a WebDriver screenshot takes) holds the whole
/// page, `width` wide, and scrolls to the top.
async fn full_height(browser: &Browser, width: u32) -> anyhow::Result<()> {
    let measured = browser
        .client
        .execute(
            "window.scrollTo(0, 0); \
             return [document.documentElement.scrollHeight, \
                     window.outerHeight - window.innerHeight]",
            vec![],
        )
        .await?;
    let number = |i: usize| {
        measured[i]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("not a height: {measured}"))
    };
    let (page, chrome) = (number(0)?, number(1)?);
    browser
        .client
        .set_window_size(width, u32::try_from(page + chrome)?)
        .await?;
    Ok(())
}

/// The BFF paths the traffic asks for: first while every service is healthy (product pages
/// outside [`DEGRADED`]'s category, the first home pages, some category pages), then while
/// recommendations fail (products and home pages not asked for before, so that their
/// recommendations are not in the cache).
fn traffic_paths() -> (Vec<String>, Vec<String>) {
    let products = seed::products(Scale::SMALL);
    let category_of = |id: i64| {
        products
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.category_id)
            .expect("a demo product")
    };
    let spared = category_of(DEGRADED);
    let count = products.len() as i64;
    let (early, late): (Vec<i64>, Vec<i64>) = (1..=count).partition(|id| *id <= count * 2 / 3);
    // A fixed shuffle (a stride prime to the count visits each once), so that the cache fills
    // in no particular order.
    let shuffled = |ids: Vec<i64>| {
        let len = ids.len();
        let gcd = |mut a: usize, mut b: usize| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let stride = (37..).find(|s| gcd(*s, len) == 1).expect("a stride");
        (0..len)
            .map(move |i| ids[i * stride % len])
            .collect::<Vec<_>>()
    };
    let early: Vec<i64> = early
        .into_iter()
        .filter(|id| category_of(*id) != spared)
        .collect();
    let slugs: Vec<&str> = CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as i64 + 1 != spared)
        .map(|(_, c)| c.0)
        .collect();

    // Per step, one product nobody has asked for yet and three that others have, a home page
    // every other step and a category page every third, each moving on to new pages now and
    // then: the cache misses come in a trickle over the whole run, not all at its start.
    let mix = |ids: Vec<i64>, homes: std::ops::RangeInclusive<u32>| {
        let ids = shuffled(ids);
        let homes: Vec<u32> = homes.collect();
        let mut paths = Vec::new();
        for step in 0..ids.len() {
            let seen = &ids[..=step];
            paths.push(format!("/api/views/product/{}", ids[step]));
            for k in 1..=3 {
                let again = seen[(step * 7 + k * 13) % seen.len()];
                paths.push(format!("/api/views/product/{again}"));
            }
            if step % 2 == 0 {
                let page = homes[step / 15 % homes.len()];
                paths.push(format!("/api/views/home/{page}"));
            }
            if step % 3 == 0 {
                let slug = slugs[step / 3 % slugs.len()];
                paths.push(format!("/api/views/category/{slug}"));
            }
        }
        paths
    };
    (mix(early, 1..=10), mix(late, 11..=20))
}

/// Asks the BFF at `base` for `paths` in turn (and round again), from a few shoppers at once,
/// for `duration`; returns how many requests it sent.
async fn traffic(base: String, paths: Vec<String>, duration: Duration) -> anyhow::Result<usize> {
    const SHOPPERS: usize = 4;
    /// Each shopper's pause between pages: some 15–20 requests a second in all.
    const PAUSE: Duration = Duration::from_millis(200);
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + duration;
    let http = reqwest::Client::new();
    let mut shoppers = tokio::task::JoinSet::new();
    for _ in 0..SHOPPERS {
        let (paths, next, http, base) = (paths.clone(), next.clone(), http.clone(), base.clone());
        shoppers.spawn(async move {
            while Instant::now() < until {
                let path = &paths[next.fetch_add(1, Ordering::Relaxed) % paths.len()];
                http.get(format!("{base}{path}"))
                    .send()
                    .await?
                    .bytes()
                    .await?;
                tokio::time::sleep(PAUSE).await;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = shoppers.join_next().await {
        done??;
    }
    Ok(next.load(Ordering::Relaxed))
}
