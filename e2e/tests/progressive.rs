//! Progressive loading in a real browser: the page renders each part as its NDJSON line
//! arrives, so the critical facts are on screen while a slow service is still answering.

use std::time::{Duration, Instant};

use tessera_e2e::tamper::{self, Switch, Target};
use tessera_e2e::{Browser, Stack, uncached, with_browser};
use tessera_services::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_facts_show_while_slow_reviews_are_still_loading() -> anyhow::Result<()> {
    // Give the review parts room to be slow (3 s) without timing out.
    let stack = Stack::start_with(|config| {
        let view = config
            .views
            .get_mut("product")
            .expect("the demo has a product view");
        *view.budget_ms.get_mut() = 10_000;
        for part in ["summary", "reviews"] {
            let part = view
                .parts
                .get_mut()
                .get_mut(part)
                .expect("the demo view has the part");
            *part.timeout_ms.get_mut() = 8_000;
        }
    })
    .await?;
    stack.services.reviews.faults.set(Faults::slowed(3_000));

    with_browser(async |browser| {
        let started = Instant::now();
        browser.goto(&stack.url("/product/3")).await?;
        browser
            .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
            .await?;
        browser
            .text_of("[data-testid=tile-stock][data-status=ok] [data-testid=price]")
            .await?;
        // The reviews are still on their way, shown as a busy skeleton.
        let reviews = browser.find("[data-testid=tile-reviews]").await?;
        assert_eq!(
            reviews.attr("data-status").await?.as_deref(),
            Some("loading")
        );
        assert_eq!(reviews.attr("aria-busy").await?.as_deref(), Some("true"));

        // Then they arrive and replace the skeleton.
        browser
            .text_of("[data-testid=tile-reviews][data-status=ok] h2")
            .await?;
        assert!(started.elapsed() >= Duration::from_millis(3_000));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_costs_only_its_own_tiles() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack
        .services
        .recommendations
        .faults
        .set(Faults::failing(503));
    stack
        .browse("/product/5", async |browser| {
            let reason = browser
                .text_of("[data-testid=tile-recommendations][data-status=error] [role=alert]")
                .await?;
            assert!(!reason.is_empty());
            // The part with a configured fallback shows it, marked as such.
            let marker = browser
            .text_of(
                "[data-testid=tile-category_picks][data-status=fallback] [data-testid=tile-marker]",
            )
            .await?;
            assert!(marker.contains("not available"), "{marker}");
            // Everything else is whole.
            browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            browser
                .text_of("[data-testid=tile-summary][data-status=ok] [data-testid=rating]")
                .await?;
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tile_retry_succeeds_once_its_service_recovers() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let faults = stack.services.recommendations.faults.clone();
    faults.set(Faults::failing(503));
    stack
        .browse("/product/6", async |browser| {
            browser
                .text_of(
                    "[data-testid=tile-recommendations][data-status=error] [data-testid=retry]",
                )
                .await?;
            faults.set(Faults::default());
            // The upstream's circuit may still be open from the failures; retrying until it
            // half-opens is what a person would do.
            let until = Instant::now() + Duration::from_secs(15);
            loop {
                let selector = "[data-testid=tile-recommendations] [data-testid=retry]";
                if let Ok(button) = browser.find(selector).await {
                    let _ = button.click().await;
                }
                tokio::time::sleep(Duration::from_millis(700)).await;
                let ok = browser
                    .find("[data-testid=tile-recommendations][data-status=ok]")
                    .await;
                if ok.is_ok() {
                    break;
                }
                assert!(Instant::now() < until, "the retry never succeeded");
            }
            let links = browser
                .find_all("[data-testid=tile-recommendations] a")
                .await?;
            assert!(!links.is_empty());
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_before_its_summary_fails_the_tiles_it_did_not_deliver() -> anyhow::Result<()>
{
    // The product's streams end cleanly just before the reviews line, without a summary; the
    // review parts are slowed a little, so the critical facts always come before the cut.
    let stream = Target {
        path: "/api/views/product/",
        query: "stream",
    };
    let stack = Stack::start_tampered(
        |config| uncached(config, "product", &["summary", "reviews"]),
        tamper::cut_stream(stream, "reviews", Switch::on()),
    )
    .await?;
    stack.services.reviews.faults.set(Faults::slowed(300));
    let loading = async |browser: &Browser| {
        browser
            .attrs("[data-testid^=tile-][data-status=loading]", "data-testid")
            .await
    };
    stack
        .browse("/product/3", async |browser| {
            let name = browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            let reviews = browser
                .wait_for("[data-testid=tile-reviews][data-status=error][data-code=cut_off]")
                .await?;
            let still = browser.settle(loading, Vec::is_empty).await?;
            assert!(still.is_empty(), "no tile waits forever: {still:?}");
            // Its retry loads the part alone, which nothing cuts.
            reviews
                .find(fantoccini::Locator::Css("[data-testid=retry]"))
                .await?
                .click()
                .await?;
            browser
                .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
                .await?;

            // With the browser's copy on screen, a refresh cut short ends as well: the page is
            // no longer marked as refreshing, and the copy's reviews stay.
            browser
                .click("[data-testid=tile-recommendations] a")
                .await?;
            browser
                .wait_for("[data-testid=tile-reviews][data-status=error]")
                .await?;
            browser.client.back().await?;
            browser
                .wait_text(
                    "[data-testid=tile-product] [data-testid=product-name]",
                    &name,
                )
                .await?;
            browser
                .wait_for("article.product-page[data-refreshing=false]")
                .await?;
            browser
                .wait_for(
                    "[data-testid=tile-reviews][data-status=stale] [data-testid=review-title]",
                )
                .await?;
            Ok(())
        })
        .await
}
