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
