//! The product page in a real browser: the wasm loads, fetches the composite view from the real
//! BFF, which calls the real catalog service, and the product appears.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use tessera_e2e::tamper::{self, Delayed, Target};
use tessera_e2e::{Browser, Stack};
use tessera_services::Faults;

const NAME: &str = "[data-testid=tile-product][data-status=ok] [data-testid=product-name]";
const FORM: &str = "[data-testid=review-form]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_name_from_the_catalog_appears() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let expected: serde_json::Value = reqwest_like_get(&format!(
        "http://{}/products/1",
        stack.services.catalog.addr
    ))
    .await?;
    let expected_name = expected["name"]
        .as_str()
        .expect("catalog products have names")
        .to_owned();

    stack
        .browse("/product/1", async |browser| {
            let name = browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            assert_eq!(name, expected_name);
            // The tab is named after the product.
            let expected_title = format!("{expected_name} · Tessera Store");
            let title = browser
                .settle(
                    async |browser| Ok(browser.client.title().await?),
                    |title| *title == expected_title,
                )
                .await?;
            assert_eq!(title, expected_title);
            // Every part of the view has its tile, each with its own status.
            let price = browser
                .text_of("[data-testid=tile-stock][data-status=ok] [data-testid=price]")
                .await?;
            assert!(price.ends_with("EUR"), "{price}");
            let count = browser
                .text_of("[data-testid=tile-summary][data-status=ok] [data-testid=review-count]")
                .await?;
            assert!(count.ends_with("reviews"), "{count}");
            for tile in ["reviews", "recommendations", "category_picks"] {
                browser
                    .text_of(&format!("[data-testid=tile-{tile}][data-status=ok] h2"))
                    .await?;
            }
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_product_shows_what_went_wrong() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack
        .browse("/product/999999", async |browser| {
            let notice = browser
                .wait_for("[data-testid=page-error][data-code=not_found]")
                .await?;
            assert!(notice.text().await?.contains("could not find"));
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_form_belongs_to_one_product() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let title = format!("{FORM} input[name=title]");
    let to_another = async |browser: &Browser| -> anyhow::Result<()> {
        let name = browser.text_of(NAME).await?;
        browser
            .click("[data-testid=tile-recommendations][data-status=ok] a")
            .await?;
        browser
            .settle(
                async |browser: &Browser| browser.text_of(NAME).await,
                |shown| *shown != name,
            )
            .await?;
        Ok(())
    };
    stack
        .browse("/product/7", async |browser| {
            browser.type_into(&title, "Half a thought").await?;
            browser
                .text_of("[data-testid=tile-recommendations][data-status=ok] a")
                .await?;
            // The page is reused for the next product; the half-written review is not.
            to_another(browser).await?;
            assert_eq!(browser.value_of(&title).await?, "");

            // A review still on its way when the shopper moves on is thanked for and shown on
            // its own product only: the next one neither says so nor reloads its parts for it.
            browser.type_into(&title, "Sent, then away").await?;
            browser
                .type_into(
                    &format!("{FORM} textarea[name=body]"),
                    "Written in a hurry.",
                )
                .await?;
            browser
                .type_into(&format!("{FORM} input[name=author]"), "E2E tester")
                .await?;
            browser
                .text_of("[data-testid=tile-recommendations][data-status=ok] a")
                .await?;
            stack.services.reviews.faults.set(Faults::slowed(1_000));
            browser
                .click(&format!("{FORM} [data-testid=review-submit]"))
                .await?;
            to_another(browser).await?;
            let posted = |s: &Stack| {
                s.logged()
                    .iter()
                    .any(|r| r.method == "POST" && r.status == 201)
            };
            let done = browser.settle(async |_| Ok(posted(&stack)), |p| *p).await?;
            assert!(done, "the review was written");
            let reloads = |s: &Stack| {
                s.logged()
                    .iter()
                    .filter(|r| r.path.starts_with("/api/parts/"))
                    .count()
            };
            let thanked = async |browser: &Browser| {
                Ok((
                    browser.find("[data-testid=review-posted]").await.is_ok(),
                    reloads(&stack),
                ))
            };
            let seen = browser
                .holds(Duration::from_secs(1), thanked, |&(thanked, reloads)| {
                    !thanked && reloads == 0
                })
                .await?;
            assert_eq!(
                seen,
                (false, 0),
                "(thanked, parts reloaded) on the next product"
            );
            assert_eq!(browser.value_of(&title).await?, "");
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_latest_reload_of_a_tile_lands() -> anyhow::Result<()> {
    // The second page of reviews is slow; a review written meanwhile reloads the first page,
    // which is then the latest thing asked for.
    let delayed = Arc::new(Delayed::default());
    let older = Target {
        path: "/api/parts/product/reviews/7",
        query: "page=2",
    };
    let stack = Stack::start_tampered(
        |_| {},
        tamper::delay(older, Duration::from_secs(3), delayed.clone()),
    )
    .await?;
    let page = "[data-testid=tile-reviews][data-status=ok] [data-testid=reviews-page]";
    let newest = "[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]";
    stack
        .browse("/product/7", async |browser| {
            let first = browser.text_of(page).await?;
            assert!(first.starts_with("Page 1 of "), "{first}");
            browser
                .type_into(&format!("{FORM} input[name=title]"), "Latest first")
                .await?;
            browser
                .type_into(&format!("{FORM} textarea[name=body]"), "Shown on top.")
                .await?;
            browser
                .type_into(&format!("{FORM} input[name=author]"), "E2E tester")
                .await?;
            browser.click("[data-testid=reviews-older]").await?;
            browser
                .click(&format!("{FORM} [data-testid=review-submit]"))
                .await?;
            browser.text_of("[data-testid=review-posted]").await?;
            browser.wait_text(newest, "Latest first").await?;

            // The older page's answer, had it been let through, would be in by now: it was
            // aborted, and the page still shows the first page.
            let over = |d: &Delayed| {
                d.answered.load(Ordering::SeqCst) + d.abandoned.load(Ordering::SeqCst)
            };
            browser
                .settle(async |_| Ok(over(&delayed)), |n| *n > 0)
                .await?;
            let shown = browser
                .holds(
                    Duration::from_secs(1),
                    async |browser: &Browser| browser.text_of(page).await,
                    |text| text.starts_with("Page 1 of "),
                )
                .await?;
            assert!(shown.starts_with("Page 1 of "), "{shown}");
            assert_eq!(browser.text_of(newest).await?, "Latest first");
            assert_eq!(delayed.abandoned.load(Ordering::SeqCst), 1, "aborted");
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_shows_the_bffs_own_error_code() -> anyhow::Result<()> {
    let stack = Stack::start_tampered(
        |_| {},
        tamper::refuse(
            Target::path("/api/parts/product/recommendations/"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    )
    .await?;
    stack
        .services
        .recommendations
        .faults
        .set(Faults::failing(503));
    stack
        .browse("/product/6", async |browser| {
            let retry = "[data-testid=tile-recommendations][data-status=error] [data-testid=retry]";
            browser.wait_for(retry).await?.click().await?;
            // The BFF's answer to the reload was a 404 of its own, not a network failure.
            let code = async |browser: &Browser| {
                browser
                    .attr("[data-testid=tile-recommendations]", "data-code")
                    .await
            };
            let code = browser
                .settle(code, |code| code.as_deref() == Some("not_found"))
                .await?;
            assert_eq!(code.as_deref(), Some("not_found"));
            Ok(())
        })
        .await
}

/// A plain HTTP GET of JSON, through the same stack the BFF uses (hyper via fantoccini's deps
/// would do too, but reqwest is clearer).
async fn reqwest_like_get(url: &str) -> anyhow::Result<serde_json::Value> {
    Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
}
