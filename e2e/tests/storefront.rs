//! The storefront as a shopper uses it, in a real browser over the real BFF and services: the
//! product grid with its paging and categories, writing a review, going back, and the "how this
//! page loaded" panel.

use std::time::Duration;

use fantoccini::Locator;
use tessera_e2e::{Browser, Stack, WAIT, with_browser};
use tessera_services::Faults;

async fn attr(browser: &Browser, css: &str, name: &str) -> anyhow::Result<Option<String>> {
    let element = browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await?;
    Ok(element.attr(name).await?)
}

/// Waits until the first element matching `css` reads `expected`.
async fn wait_text(browser: &Browser, css: &str, expected: &str) -> anyhow::Result<()> {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(element) = browser.client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if last == expected {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{css} reads {last:?}, not {expected:?}")
}

async fn card_ids(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for card in browser
        .client
        .find_all(Locator::Css("[data-testid=card]"))
        .await?
    {
        ids.extend(card.attr("data-product-id").await?);
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grid_fills_in_pages_and_lists_categories() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    with_browser(async |browser| {
        browser.client.goto(&stack.url("/")).await?;
        // Every card fills in its price and rating from the parts that followed the products.
        browser
            .text_of("[data-testid=tile-products][data-status=ok] [data-testid=card] [data-testid=card-price]")
            .await?;
        browser
            .text_of("[data-testid=card] [data-testid=card-rating]")
            .await?;
        let first = card_ids(browser).await?;
        assert_eq!(first.len(), 12);
        let prices = browser
            .client
            .find_all(Locator::Css("[data-testid=card-price]"))
            .await?;
        assert_eq!(prices.len(), 12, "every card has its price");
        wait_text(browser, "[data-testid=page-of]", "Page 1 of 20").await?;

        // Next page: other products, and the address says which page.
        browser
            .client
            .find(Locator::Css("[data-testid=pager] a[rel=next]"))
            .await?
            .click()
            .await?;
        wait_text(browser, "[data-testid=page-of]", "Page 2 of 20").await?;
        assert!(browser.client.current_url().await?.as_str().ends_with("/?page=2"));
        let mut second = Vec::new();
        for _ in 0..100 {
            second = card_ids(browser).await?;
            if second.len() == 12 && second != first {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(second.iter().all(|id| !first.contains(id)), "{first:?} {second:?}");

        // A category chip leads to that category's products.
        let chip = browser
            .client
            .find(Locator::Css("[data-testid=tile-categories] a"))
            .await?;
        let href = chip.attr("href").await?.expect("chips are links");
        chip.click().await?;
        browser
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("[data-testid=tile-categories] a[aria-current=page]"))
            .await?;
        let slug = href.trim_start_matches("/category/");
        let catalog = stack.services.catalog.addr;
        let expected: serde_json::Value =
            reqwest::get(format!("http://{catalog}/products?category={slug}&per_page=12"))
                .await?
                .json()
                .await?;
        let expected: Vec<String> = expected["items"]
            .as_array()
            .expect("a page of items")
            .iter()
            .map(|p| p["id"].to_string())
            .collect();
        let mut shown = Vec::new();
        for _ in 0..100 {
            shown = card_ids(browser).await?;
            if shown == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(shown, expected);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_keep_their_prices_when_ratings_fail() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack.services.reviews.faults.set(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    });
    with_browser(async |browser| {
        browser.client.goto(&stack.url("/?page=3")).await?;
        browser
            .text_of("[data-testid=tile-ratings][data-status=error] [data-testid=retry]")
            .await?;
        browser
            .text_of("[data-testid=tile-products][data-status=ok] [data-testid=card-price]")
            .await?;
        let unavailable = browser
            .text_of("[data-testid=card] .card-line:last-child")
            .await?;
        assert_eq!(unavailable, "Rating unavailable");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_review_shows_in_the_summary() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    with_browser(async |browser| {
        browser.client.goto(&stack.url("/product/9")).await?;
        let before = browser
            .text_of("[data-testid=tile-summary][data-status=ok] [data-testid=review-count]")
            .await?;
        let count: u64 = before.trim_end_matches(" reviews").parse()?;

        let form = browser
            .client
            .find(Locator::Css("[data-testid=review-form]"))
            .await?;
        form.find(Locator::Css("input[name=rating][value='2']"))
            .await?
            .click()
            .await?;
        form.find(Locator::Css("input[name=title]"))
            .await?
            .send_keys("Wobbly after a week")
            .await?;
        form.find(Locator::Css("textarea[name=body]"))
            .await?
            .send_keys("One leg came loose; the rest is fine.")
            .await?;
        form.find(Locator::Css("input[name=author]"))
            .await?
            .send_keys("E2E tester")
            .await?;
        form.find(Locator::Css("[data-testid=review-submit]"))
            .await?
            .click()
            .await?;
        browser.text_of("[data-testid=review-posted]").await?;

        let summary = "[data-testid=tile-summary][data-status=ok] [data-testid=review-count]";
        wait_text(browser, summary, &format!("{} reviews", count + 1)).await?;
        let newest = browser
            .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
            .await?;
        assert_eq!(newest, "Wobbly after a week");

        // A blank review (spaces pass the browser's `required`) is refused in words, and
        // nothing is sent.
        let posts = |s: &Stack| s.logged().iter().filter(|r| r.method == "POST").count();
        let sent = posts(&stack);
        for field in ["input[name=title]", "textarea[name=body]"] {
            form.find(Locator::Css(field))
                .await?
                .send_keys("   ")
                .await?;
        }
        form.find(Locator::Css("[data-testid=review-submit]"))
            .await?
            .click()
            .await?;
        let error = browser.text_of("[data-testid=review-error]").await?;
        assert!(error.contains("fill in"), "{error}");
        assert_eq!(posts(&stack), sent);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_back_shows_the_tiles_at_once_and_refreshes_them() -> anyhow::Result<()> {
    // Reviews uncached at the BFF and slowed, so only the browser's own copy can show them at
    // once on the way back.
    let stack = Stack::start_with(|config| {
        let view = config.views.get_mut("product").expect("a product view");
        *view.budget_ms.get_mut() = 10_000;
        let reviews = view
            .parts
            .get_mut()
            .get_mut("reviews")
            .expect("a reviews part");
        reviews.cache = None;
        *reviews.timeout_ms.get_mut() = 8_000;
    })
    .await?;
    with_browser(async |browser| {
        browser.client.goto(&stack.url("/product/4")).await?;
        let first_review = browser
            .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
            .await?;
        browser
            .text_of("[data-testid=tile-recommendations][data-status=ok] a")
            .await?;
        stack.services.reviews.faults.set(Faults {
            latency_ms: 3_000,
            ..Faults::default()
        });
        browser
            .client
            .find(Locator::Css("[data-testid=tile-recommendations] a"))
            .await?
            .click()
            .await?;
        browser
            .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
            .await?;

        browser.client.back().await?;
        // At once: the reviews tile is whole while the page refreshes behind it.
        let refreshing = attr(browser, "article.product-page", "data-refreshing").await?;
        assert_eq!(refreshing.as_deref(), Some("true"));
        let review = browser
            .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
            .await?;
        assert_eq!(review, first_review);
        // Then the refresh lands (the slowed reviews included).
        browser
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("article.product-page[data-refreshing=false]"))
            .await?;
        browser
            .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
            .await?;

        // The waterfall tells the same story.
        browser
            .client
            .find(Locator::Css("[data-testid=waterfall] summary"))
            .await?
            .click()
            .await?;
        let headline = browser.text_of("[data-testid=waterfall-headline]").await?;
        assert!(headline.contains("this browser's copy"), "{headline}");
        let rows = browser
            .client
            .find_all(Locator::Css("[data-testid=waterfall-row]"))
            .await?;
        assert_eq!(rows.len(), 6, "one row per part");
        let last = rows.last().expect("rows").attr("data-part").await?;
        assert_eq!(
            last.as_deref(),
            Some("reviews"),
            "the slowed part arrived last"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_page_on_their_own() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    with_browser(async |browser| {
        browser.client.goto(&stack.url("/product/7")).await?;
        let page = "[data-testid=tile-reviews][data-status=ok] [data-testid=reviews-page]";
        let first = browser.text_of(page).await?;
        assert!(first.starts_with("Page 1 of "), "{first}");
        let last_page = first.trim_start_matches("Page 1 of ").to_owned();
        let ids = async || -> anyhow::Result<Vec<String>> {
            let mut ids = Vec::new();
            for review in browser
                .client
                .find_all(Locator::Css("[data-testid=tile-reviews] [data-review-id]"))
                .await?
            {
                ids.extend(review.attr("data-review-id").await?);
            }
            Ok(ids)
        };
        let newest = ids().await?;
        assert_eq!(
            attr(browser, "[data-testid=reviews-newer]", "disabled")
                .await?
                .as_deref(),
            Some("true"),
            "no newer page than the first"
        );
        browser
            .client
            .find(Locator::Css("[data-testid=reviews-older]"))
            .await?
            .click()
            .await?;
        wait_text(browser, page, &format!("Page 2 of {last_page}")).await?;
        let older = ids().await?;
        assert!(!older.is_empty() && older.iter().all(|id| !newest.contains(id)));
        // Only the reviews were loaded again, through the one-part endpoint.
        let paged = stack
            .logged()
            .iter()
            .filter(|r| r.path.starts_with("/api/parts/product/reviews/7"))
            .count();
        assert_eq!(paged, 1);
        Ok(())
    })
    .await
}
