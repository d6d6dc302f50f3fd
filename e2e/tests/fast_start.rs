//! Fast on a real network (issue 17): the page's HTML starts its view's request (and its
//! critical picture) while the wasm downloads, and the app takes that response instead of
//! asking again; the page's code and style are announced in `Link` headers.

use std::sync::Arc;
use std::time::Duration;

use tessera_e2e::tamper::{self, Delayed, Target};
use tessera_e2e::{Logged, PageLoad, Stack, with_browser_waiting};

const NAME: &str = "[data-testid=tile-product][data-status=ok] [data-testid=product-name]";

fn count(requests: &[Logged], path: impl Fn(&str) -> bool) -> usize {
    requests.iter().filter(|r| path(&r.path)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_navigation_requests_its_view_once_before_the_app_starts() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let page = reqwest::Client::new()
        .get(format!("http://{}/product/1", stack.bff))
        .header("accept", "text/html")
        .send()
        .await?;
    let links = page.headers()["link"].to_str()?.to_owned();
    assert!(links.contains("rel=modulepreload"), "{links}");
    assert!(
        links.contains("as=fetch; type=\"application/wasm\""),
        "{links}"
    );
    assert!(links.contains("as=style"), "{links}");
    stack.requests.lock().unwrap().clear();

    stack
        .browse("/product/1", async |browser| {
            browser.wait_for(NAME).await?;
            // Started by the page, before the app's first line ran.
            let timing = browser
                .client
                .execute(
                    "const view = performance.getEntriesByType('resource')\
                       .filter((e) => e.name.includes('/api/views/product/1'));\
                     const app = performance.getEntriesByName('tessera:app')[0];\
                     return [view.length, view[0].startTime, app.startTime];",
                    vec![],
                )
                .await?;
            assert_eq!(
                timing[0], 1,
                "the browser made one view request: {timing:?}"
            );
            let (view_at, app_at) = (timing[1].as_f64(), timing[2].as_f64());
            assert!(
                view_at < app_at,
                "the view was asked for before the app started: {timing:?}"
            );
            Ok(())
        })
        .await?;
    let requests = stack.requests.lock().unwrap().clone();
    let views = count(&requests, |p| p.starts_with("/api/views/"));
    assert_eq!(views, 1, "one view request reached the BFF: {requests:#?}");
    // The Link preloads match the elements' requests, so nothing is downloaded twice.
    assert_eq!(
        count(&requests, |p| p.ends_with(".wasm")),
        1,
        "{requests:#?}"
    );
    assert_eq!(count(&requests, |p| p.ends_with(".js")), 1, "{requests:#?}");
    assert_eq!(
        count(&requests, |p| p.ends_with(".css")),
        1,
        "{requests:#?}"
    );
    // The critical picture was preloaded by the page and that copy shown.
    assert_eq!(
        count(&requests, |p| p == "/media/images/1.svg"),
        1,
        "{requests:#?}"
    );
    Ok(())
}

/// With the app's code held back, the page draws the product's facts from the view already in
/// flight (its first paint); once the app runs, its own tile takes their place, and the view
/// was still asked for once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_is_painted_before_the_app_runs_and_the_app_takes_over() -> anyhow::Result<()> {
    const PREVIEW: &str = "[data-testid=preview]";
    let delayed = Arc::new(Delayed::default());
    let stack = Stack::start_tampered(
        |_| {},
        tamper::delay(
            Target::path("/assets/tessera-frontend"),
            Duration::from_secs(3),
            delayed.clone(),
        ),
    )
    .await?;
    // Not waiting for the page's load event, which waits for the app's code.
    with_browser_waiting(PageLoad::Unwaited, async |browser| {
        browser.goto(&stack.url("/product/1")).await?;
        let painted = browser.text_of(&format!("{PREVIEW} h1")).await?;
        let description = browser.text_of(&format!("{PREVIEW} .description")).await?;
        let started = browser
            .client
            .execute(
                "return performance.getEntriesByName('tessera:app').length",
                vec![],
            )
            .await?;
        assert_eq!(started, 0, "drawn before the app's code arrived");
        assert!(!painted.is_empty() && !description.is_empty());
        let title = browser.client.title().await?;
        assert_eq!(title, format!("{painted} · Tessera Store"));
        // The app's tile replaces it: the same product, and no first paint left over it.
        assert_eq!(browser.text_of(NAME).await?, painted);
        let app_description = "[data-testid=tile-product][data-status=ok] .description";
        assert_eq!(browser.text_of(app_description).await?, description);
        let left = browser
            .settle(
                async |browser| Ok(browser.find_all(PREVIEW).await?.len()),
                |n| *n == 0,
            )
            .await?;
        assert_eq!(left, 0, "the first paint is gone once the app's tile shows");
        Ok(())
    })
    .await?;
    assert!(
        delayed.answered.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "js and wasm held back"
    );
    let requests = stack.requests.lock().unwrap().clone();
    let views = count(&requests, |p| p.starts_with("/api/views/"));
    assert_eq!(views, 1, "one view request reached the BFF: {requests:#?}");
    Ok(())
}

/// Hovering a link fetches its view into the browser's copy; following the link then shows
/// that page without asking for its view again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hovered_links_page_shows_without_a_new_view_request() -> anyhow::Result<()> {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction};
    let stack = Stack::start().await?;
    let link = "[data-testid=tile-recommendations] a[href^='/product/']";
    stack
        .browse("/product/1", async |browser| {
            browser.wait_for(NAME).await?;
            let element = browser.wait_for(link).await?;
            let href = element.attr("href").await?.expect("a link");
            let target = format!("/api/views{}", href);
            let prefetched = |requests: &[Logged]| {
                requests.iter().any(|r| {
                    // The page's shared parts only, never the shopper's own.
                    let query = r.query.as_deref().unwrap_or_default();
                    r.path == target
                        && query.starts_with("parts=")
                        && !query.contains("purchases")
                        && r.status == 200
                })
            };
            assert!(
                !prefetched(&stack.requests.lock().unwrap()),
                "not before the hover"
            );
            let hover = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
                element: element.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            });
            browser.client.perform_actions(hover).await?;
            browser
                .settle(
                    async |_| Ok(prefetched(&stack.requests.lock().unwrap())),
                    |done| *done,
                )
                .await?;
            // Give the answer a moment to be kept after its request was logged.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let before = stack.requests.lock().unwrap().len();
            element.click().await?;
            let product = href.trim_start_matches("/product/").to_owned();
            browser
                .settle(
                    async |browser| Ok(browser.client.current_url().await?.path().to_owned()),
                    |path| *path == href,
                )
                .await?;
            browser.wait_for(NAME).await?;
            let after: Vec<Logged> = stack.requests.lock().unwrap()[before..].to_vec();
            let views = count(&after, |p| p.starts_with("/api/views/"));
            assert_eq!(
                views, 0,
                "product {product} shown from the prefetch: {after:#?}"
            );
            Ok(())
        })
        .await
}
