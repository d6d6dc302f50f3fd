//! The storefront as a shopper uses it, in a real browser over the real BFF and services: the
//! product grid with its paging and categories, writing a review, going back, and the "how this
//! page loaded" panel.

use tessera_e2e::{Browser, Stack};
use tessera_services::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grid_fills_in_pages_and_lists_categories() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack.browse("/", async |browser| {
        // Every card fills in its price and rating from the parts that followed the products.
        browser
            .text_of("[data-testid=tile-products][data-status=ok] [data-testid=card] [data-testid=card-price]")
            .await?;
        browser
            .text_of("[data-testid=card] [data-testid=card-rating]")
            .await?;
        let first = browser.card_ids().await?;
        assert_eq!(first.len(), 12);
        let prices = browser.find_all("[data-testid=card-price]").await?;
        assert_eq!(prices.len(), 12, "every card has its price");
        browser
            .wait_text("[data-testid=page-of]", "Page 1 of 20")
            .await?;

        // Next page: other products, and the address says which page.
        browser.click("[data-testid=pager] a[rel=next]").await?;
        browser
            .wait_text("[data-testid=page-of]", "Page 2 of 20")
            .await?;
        assert!(browser.client.current_url().await?.as_str().ends_with("/?page=2"));
        let second = browser
            .settle(Browser::card_ids, |ids| ids.len() == 12 && *ids != first)
            .await?;
        assert!(second.iter().all(|id| !first.contains(id)), "{first:?} {second:?}");

        // A category chip leads to that category's products.
        let chip = browser.find("[data-testid=tile-categories] a").await?;
        let href = chip.attr("href").await?.expect("chips are links");
        chip.click().await?;
        browser
            .wait_for("[data-testid=tile-categories] a[aria-current=page]")
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
        let shown = browser
            .settle(Browser::card_ids, |ids| *ids == expected)
            .await?;
        assert_eq!(shown, expected);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_keep_their_prices_when_ratings_fail() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack.services.reviews.faults.set(Faults::failing(503));
    stack
        .browse("/?page=3", async |browser| {
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
    const FORM: &str = "[data-testid=review-form]";
    let stack = Stack::start().await?;
    stack
        .browse("/product/9", async |browser| {
            let before = browser
                .text_of("[data-testid=tile-summary][data-status=ok] [data-testid=review-count]")
                .await?;
            let count: u64 = before.trim_end_matches(" reviews").parse()?;

            browser.find(FORM).await?;
            browser
                .click(&format!("{FORM} input[name=rating][value='2']"))
                .await?;
            browser
                .type_into(&format!("{FORM} input[name=title]"), "Wobbly after a week")
                .await?;
            browser
                .type_into(
                    &format!("{FORM} textarea[name=body]"),
                    "One leg came loose; the rest is fine.",
                )
                .await?;
            browser
                .type_into(&format!("{FORM} input[name=author]"), "E2E tester")
                .await?;
            browser
                .click(&format!("{FORM} [data-testid=review-submit]"))
                .await?;
            browser.text_of("[data-testid=review-posted]").await?;

            let summary = "[data-testid=tile-summary][data-status=ok] [data-testid=review-count]";
            browser
                .wait_text(summary, &format!("{} reviews", count + 1))
                .await?;
            let newest = browser
                .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
                .await?;
            assert_eq!(newest, "Wobbly after a week");

            // A blank review (spaces pass the browser's `required`) is refused in words, and
            // nothing is sent.
            let posts = |s: &Stack| s.logged().iter().filter(|r| r.method == "POST").count();
            let sent = posts(&stack);
            for field in ["input[name=title]", "textarea[name=body]"] {
                browser.type_into(&format!("{FORM} {field}"), "   ").await?;
            }
            browser
                .click(&format!("{FORM} [data-testid=review-submit]"))
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
    stack
        .browse("/product/4", async |browser| {
            let first_review = browser
                .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
                .await?;
            browser
                .text_of("[data-testid=tile-recommendations][data-status=ok] a")
                .await?;
            stack.services.reviews.faults.set(Faults::slowed(3_000));
            browser
                .click("[data-testid=tile-recommendations] a")
                .await?;
            browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;

            browser.client.back().await?;
            // At once: the reviews tile is whole while the page refreshes behind it.
            let refreshing = browser
                .attr("article.product-page", "data-refreshing")
                .await?;
            assert_eq!(refreshing.as_deref(), Some("true"));
            let review = browser
                .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
                .await?;
            assert_eq!(review, first_review);
            // Then the refresh lands (the slowed reviews included).
            browser
                .wait_for("article.product-page[data-refreshing=false]")
                .await?;
            browser
                .text_of("[data-testid=tile-reviews][data-status=ok] [data-testid=review-title]")
                .await?;

            // The waterfall tells the same story.
            browser.click("[data-testid=waterfall] summary").await?;
            let headline = browser.text_of("[data-testid=waterfall-headline]").await?;
            assert!(headline.contains("this browser's copy"), "{headline}");
            let rows = browser.find_all("[data-testid=waterfall-row]").await?;
            assert_eq!(rows.len(), 7, "one row per part");
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
    stack
        .browse("/product/7", async |browser| {
            let page = "[data-testid=tile-reviews][data-status=ok] [data-testid=reviews-page]";
            let first = browser.text_of(page).await?;
            assert!(first.starts_with("Page 1 of "), "{first}");
            let last_page = first.trim_start_matches("Page 1 of ").to_owned();
            let ids = async || browser.review_ids().await;
            let newest = ids().await?;
            assert_eq!(
                browser
                    .attr("[data-testid=reviews-newer]", "disabled")
                    .await?
                    .as_deref(),
                Some("true"),
                "no newer page than the first"
            );
            browser.click("[data-testid=reviews-older]").await?;
            browser
                .wait_text(page, &format!("Page 2 of {last_page}"))
                .await?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_page_is_headed_by_its_name() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let catalog = stack.services.catalog.addr;
    let categories: serde_json::Value = reqwest::get(format!("http://{catalog}/categories"))
        .await?
        .json()
        .await?;
    let category = &categories["items"][1];
    let (slug, name) = (
        category["slug"].as_str().expect("categories have slugs"),
        category["name"].as_str().expect("categories have names"),
    );
    stack
        .browse(&format!("/category/{slug}"), async |browser| {
            browser.wait_text("h1", name).await?;
            let headings = browser.find_all("h1").await?;
            assert_eq!(headings.len(), 1, "one h1");
            Ok(())
        })
        .await
}
