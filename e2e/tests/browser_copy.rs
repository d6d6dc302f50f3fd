//! The browser's copy of a view, in a real browser: coming back to a page shows the copy at once
//! and refreshes it; the copy only ever improves or is replaced by a good answer, and holds the
//! view as it is at its own address.

use tessera_e2e::{Browser, Stack, uncached};
use tessera_services::Faults;

const NAME: &str = "[data-testid=tile-product][data-status=ok] [data-testid=product-name]";

/// Waits until the product page shows a product other than `than`, and returns its name.
async fn another_product(browser: &Browser, than: &str) -> anyhow::Result<String> {
    let read = async |browser: &Browser| -> anyhow::Result<Option<String>> {
        Ok(match browser.find(NAME).await {
            Ok(element) => Some(element.text().await?),
            Err(_) => None,
        })
    };
    let name = browser
        .settle(read, |name| name.as_deref().is_some_and(|n| n != than))
        .await?;
    match name {
        Some(name) if name != than => Ok(name),
        name => anyhow::bail!("still on {than:?}: {name:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_never_replaces_the_browsers_copy() -> anyhow::Result<()> {
    // Uncached at the BFF, so a failing service is an error there, not a stale copy.
    let stack = Stack::start_with(|config| {
        uncached(config, "product", &["recommendations", "category_picks"]);
    })
    .await?;
    let links = "[data-testid=tile-recommendations] a";
    stack
        .browse("/product/4", async |browser| {
            let name = browser.text_of(NAME).await?;
            browser
                .text_of("[data-testid=tile-recommendations][data-status=ok] a")
                .await?;
            let shown = browser.attrs(links, "href").await?;
            stack
                .services
                .recommendations
                .faults
                .set(Faults::failing(503));
            browser.click(links).await?;
            let other = another_product(browser, &name).await?;
            browser
                .wait_for("[data-testid=tile-recommendations][data-status=error]")
                .await?;

            // Back: the copy at once, then a refresh whose recommendations fail. The tile keeps
            // the copy's links, marked as not confirmed this time.
            browser.client.back().await?;
            browser.wait_text(NAME, &name).await?;
            browser
                .wait_for("article.product-page[data-refreshing=false]")
                .await?;
            let status = browser
                .attr("[data-testid=tile-recommendations]", "data-status")
                .await?;
            assert_eq!(status.as_deref(), Some("stale"), "the copy's data stays");
            assert_eq!(browser.attrs(links, "href").await?, shown);
            let picks = browser
                .attr("[data-testid=tile-category_picks]", "data-status")
                .await?;
            assert_ne!(picks.as_deref(), Some("fallback"), "no fallback over data");

            // The copy itself kept them too: away and back once more, they show at once.
            browser.client.forward().await?;
            browser.wait_text(NAME, &other).await?;
            browser.client.back().await?;
            browser.wait_text(NAME, &name).await?;
            assert_eq!(browser.attrs(links, "href").await?, shown);
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_page_of_reviews_is_not_kept_as_the_view() -> anyhow::Result<()> {
    // Reviews uncached at the BFF and slowed on the way back, so only the browser's copy can
    // show them at once.
    let stack = Stack::start_with(|config| uncached(config, "product", &["reviews"])).await?;
    let page = "[data-testid=tile-reviews][data-status=ok] [data-testid=reviews-page]";
    stack
        .browse("/product/7", async |browser| {
            let name = browser.text_of(NAME).await?;
            let first = browser.text_of(page).await?;
            assert!(first.starts_with("Page 1 of "), "{first}");
            let ids = async || browser.review_ids().await;
            let newest = ids().await?;
            browser.click("[data-testid=reviews-older]").await?;
            let second = first.replace("Page 1 ", "Page 2 ");
            browser.wait_text(page, &second).await?;

            stack.services.reviews.faults.set(Faults::slowed(3_000));
            browser
                .click("[data-testid=tile-recommendations] a")
                .await?;
            another_product(browser, &name).await?;
            browser.client.back().await?;
            browser.wait_text(NAME, &name).await?;
            // At once, from the copy: the view's own first page, not the page last looked at.
            let shown = browser.text_of(page).await?;
            let shown_ids = ids().await?;
            let refreshing = browser
                .attr("article.product-page", "data-refreshing")
                .await?;
            assert_eq!(refreshing.as_deref(), Some("true"), "read from the copy");
            assert_eq!(shown, first);
            assert_eq!(shown_ids, newest);
            Ok(())
        })
        .await
}
