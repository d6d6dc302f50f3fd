//! Cache-busting in a real browser: on a reload, the hashed assets come from the browser's
//! cache (no network transfer, per the Performance API, and no request reaches the BFF), while
//! `index.html` is revalidated (a conditional request answered 304).

use tessera_e2e::Stack;

/// Per hashed asset the page loaded: its URL and how many bytes crossed the network.
const ASSET_TRANSFERS: &str = "return performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/assets/'))
    .map(e => [e.name, e.transferSize]);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_takes_hashed_assets_from_cache_and_revalidates_the_page() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack
        .browse("/product/1", async |browser| {
            browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            let first: Vec<(String, u64)> =
                serde_json::from_value(browser.client.execute(ASSET_TRANSFERS, vec![]).await?)?;
            assert!(
                first.iter().any(|(name, _)| name.ends_with(".wasm")),
                "the wasm is a hashed asset: {first:?}"
            );
            // Each came over the network once. A file the page's `Link` header preloaded and
            // its element then loaded (with `integrity`, which a header cannot carry) has a
            // second entry, read from the browser's cache.
            let fetched = |name: &str| first.iter().any(|(n, bytes)| n == name && *bytes > 0);
            assert!(
                first.iter().all(|(name, _)| fetched(name)),
                "the first load fetched them: {first:?}"
            );
            let before_reload = stack.logged().len();

            browser.client.refresh().await?;
            browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            let again: Vec<(String, u64)> =
                serde_json::from_value(browser.client.execute(ASSET_TRANSFERS, vec![]).await?)?;
            let names = |entries: &[(String, u64)]| {
                entries
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(names(&again), names(&first), "{again:?}");
            for (name, bytes) in &again {
                assert_eq!(*bytes, 0, "{name} came from the browser cache");
            }

            let after: Vec<_> = stack.logged().split_off(before_reload);
            assert!(
                after.iter().all(|r| !r.path.starts_with("/assets/")),
                "no asset request reached the server: {after:?}"
            );
            let page = after
                .iter()
                .find(|r| r.path == "/product/1")
                .expect("the page itself was requested");
            assert!(page.conditional, "{page:?}");
            assert_eq!(page.status, 304, "{page:?}");
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_names_a_favicon_that_is_served() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack
        .browse("/product/1", async |browser| {
            browser
                .text_of("[data-testid=tile-product][data-status=ok] [data-testid=product-name]")
                .await?;
            let href = browser
                .attr("link[rel=icon]", "href")
                .await?
                .expect("the icon link has an address");
            assert!(
                href.starts_with("/assets/favicon-"),
                "a hashed asset: {href}"
            );
            // The browser fetched it (the page's policy allows it), and never guessed at
            // /favicon.ico: nothing the page asked for was missing.
            let fetched = browser
                .settle(
                    async |_| Ok(stack.logged()),
                    |logged| logged.iter().any(|r| r.path == href && r.status == 200),
                )
                .await?;
            assert!(
                fetched.iter().any(|r| r.path == href && r.status == 200),
                "{fetched:?}"
            );
            // (`GET /api/session` is a 401 for nobody signed in: an answer, not a missing file.)
            let missing: Vec<_> = fetched
                .iter()
                .filter(|r| r.status >= 400 && r.path != "/api/session")
                .collect();
            assert!(missing.is_empty(), "{missing:?}");
            let icon = reqwest::get(stack.url(&href)).await?;
            assert_eq!(icon.status(), 200);
            assert_eq!(
                icon.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("image/svg+xml")
            );
            Ok(())
        })
        .await
}
