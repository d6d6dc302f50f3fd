//! The ops page in a real browser (issue 16): behind the admin token, kept in the tab's memory
//! only, it follows `GET /admin/stats` live — an upstream's breaker opens on the page within
//! two seconds of opening in the BFF, and closes again after the service recovers.

use std::time::{Duration, Instant};

use tessera_e2e::{Browser, Stack};
use tessera_services::Faults;

const TOKEN: &str = "ops-page-token";
const ROW: &str = "[data-testid=ops-upstream-recommendations]";

/// Requests product views until the BFF's breaker is `state`, and returns when it got there.
async fn drive_until(stack: &Stack, state: &str) -> anyhow::Result<Instant> {
    let client = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(20);
    let mut id = 100;
    loop {
        if stack.breaker_state(TOKEN, "recommendations").await? == state {
            return Ok(Instant::now());
        }
        anyhow::ensure!(Instant::now() < until, "the breaker never became {state}");
        id += 1;
        client
            .get(stack.url(&format!("/api/parts/product/recommendations/{id}")))
            .send()
            .await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most two seconds from `since`) until the page's row shows `state`.
async fn page_shows(browser: &Browser, state: &str, since: Instant) -> anyhow::Result<()> {
    loop {
        let shown = browser.attr(ROW, "data-breaker").await?;
        if shown.as_deref() == Some(state) {
            return Ok(());
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(2),
            "the page still shows {shown:?}, {:?} after the BFF's breaker became {state}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_page_follows_a_breaker_open_and_closed() -> anyhow::Result<()> {
    let stack = Stack::start_with(|config| {
        config.admin.token = Some(TOKEN.into());
        let upstream = config.upstreams.get_mut("recommendations").expect("demo");
        upstream.breaker.failure_threshold = 3;
        upstream.breaker.open_ms = 1_000;
    })
    .await?;
    stack
        .browse("/ops", async |browser| {
            // A wrong token is refused, and asked for again.
            browser.wait_for("[data-testid=ops-token]").await?;
            browser.type_into("[data-testid=ops-token]", "not-the-token").await?;
            browser.click("[data-testid=ops-token-submit]").await?;
            browser.wait_for("[data-testid=ops-login-error]").await?;
            browser.wait_for("[data-testid=ops-token]").await?.clear().await?;
            browser.type_into("[data-testid=ops-token]", TOKEN).await?;
            browser.click("[data-testid=ops-token-submit]").await?;
            browser
                .wait_for(&format!("{ROW}[data-breaker=closed]"))
                .await?;
            for upstream in ["catalog", "inventory", "reviews"] {
                browser
                    .wait_for(&format!("[data-testid=ops-upstream-{upstream}]"))
                    .await?;
            }
            // The token is in the tab's memory only.
            let stored = browser
                .client
                .execute(
                    "return [localStorage.length, sessionStorage.length, document.cookie, location.href]",
                    vec![],
                )
                .await?;
            assert_eq!(stored[0], 0, "{stored}");
            assert_eq!(stored[1], 0, "{stored}");
            assert_eq!(stored[2], "", "{stored}");
            assert!(!stored[3].to_string().contains(TOKEN), "{stored}");

            stack
                .services
                .recommendations
                .faults
                .set(Faults::failing(503));
            let opened = drive_until(&stack, "open").await?;
            page_shows(browser, "open", opened).await?;

            stack.services.recommendations.faults.set(Faults::default());
            let closed = drive_until(&stack, "closed").await?;
            page_shows(browser, "closed", closed).await?;
            Ok(())
        })
        .await
}

/// How many of the logged requests went to `path`.
fn requests_to(stack: &Stack, path: &str) -> usize {
    stack.logged().iter().filter(|r| r.path == path).count()
}

/// Whether a logged request fetched the dashboard's module (its script or its wasm).
fn dashboard_loaded(stack: &Stack) -> bool {
    stack
        .logged()
        .iter()
        .any(|r| r.path.starts_with("/assets/tessera-ops"))
}

/// The dashboard is a module of its own: a shopper's pages never download it, `/ops` loads it
/// on demand, and leaving `/ops` takes the dashboard off the page and stops its polling;
/// coming back mounts it afresh (its token gone with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_loaded_only_on_the_ops_page_and_stops_when_left() -> anyhow::Result<()> {
    let stack = Stack::start_with(|config| config.admin.token = Some(TOKEN.into())).await?;
    stack
        .browse("/product/7", async |browser| {
            browser
                .wait_for("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            let preview = browser
                .settle(
                    async |b| Ok(b.find_all("[data-testid=preview]").await?.len()),
                    |n| *n == 0,
                )
                .await?;
            assert_eq!(preview, 0, "the first paint stayed over the page");
            browser.click("a.brand").await?;
            browser.wait_for("[data-testid=tile-categories]").await?;
            assert!(
                !dashboard_loaded(&stack),
                "a shopper's pages loaded the dashboard: {:?}",
                stack.logged()
            );

            // A link to /ops, followed inside the app.
            browser
                .client
                .execute(
                    "const a = Object.assign(document.createElement('a'), \
                       { href: '/ops', textContent: 'Operations' }); \
                     a.dataset.testid = 'to-ops'; \
                     document.querySelector('.site-footer').append(a);",
                    vec![],
                )
                .await?;
            browser.click("[data-testid=to-ops]").await?;
            browser.wait_for("[data-testid=ops-token]").await?;
            assert!(dashboard_loaded(&stack), "{:?}", stack.logged());
            browser.type_into("[data-testid=ops-token]", TOKEN).await?;
            browser.click("[data-testid=ops-token-submit]").await?;
            browser.wait_for(ROW).await?;
            let polled = requests_to(&stack, "/admin/stats");
            assert!(polled >= 1, "{:?}", stack.logged());

            // Leaving the page stops the poll: after a second and a half (the poll is once a
            // second), no further request.
            browser.click("a.brand").await?;
            browser.wait_for("[data-testid=tile-categories]").await?;
            assert!(
                browser
                    .find_all("[data-testid=ops-mount]")
                    .await?
                    .is_empty()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            let left = requests_to(&stack, "/admin/stats");
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            assert_eq!(
                requests_to(&stack, "/admin/stats"),
                left,
                "the dashboard kept polling after its page was left"
            );

            // Back again: the dashboard, mounted afresh, asks for the token again.
            browser.client.back().await?;
            browser.wait_for("[data-testid=ops-token]").await?;
            assert_eq!(browser.find_all("[data-testid=ops-mount]").await?.len(), 1);
            Ok(())
        })
        .await
}
