//! The product page in a real browser: the wasm loads, fetches the composite view from the real
//! BFF, which calls the real catalog service, and the product appears.

use tessera_e2e::Stack;

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

/// A plain HTTP GET of JSON, through the same stack the BFF uses (hyper via fantoccini's deps
/// would do too, but reqwest is clearer).
async fn reqwest_like_get(url: &str) -> anyhow::Result<serde_json::Value> {
    Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
}
