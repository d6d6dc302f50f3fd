//! Fast on a real network (issue 17): the page's HTML starts its view's request (and its
//! critical picture) while the wasm downloads, and the app takes that response instead of
//! asking again; the page's code and style are announced in `Link` headers.

use std::sync::Arc;
use std::time::Duration;

use tessera_e2e::tamper::{self, Delayed, Target};
use tessera_e2e::{Logged, PageLoad, Stack, with_browser_waiting};

const NAME: &str = "[data-testid=tile-product][data-status=ok] [data-testid=product-name]";
const PREVIEW: &str = "[data-testid=preview]";

fn count(requests: &[Logged], path: impl Fn(&str) -> bool) -> usize {
    requests.iter().filter(|r| path(&r.path)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_navigation_requests_its_view_once_before_the_app_starts() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let links = async |path: &str| -> anyhow::Result<String> {
        let page = reqwest::Client::new()
            .get(format!("http://{}{path}", stack.bff))
            .header("accept", "text/html")
            .send()
            .await?;
        Ok(page.headers()["link"].to_str()?.to_owned())
    };
    let plain = links("/").await?;
    assert!(plain.contains("rel=modulepreload"), "{plain}");
    assert!(
        plain.contains("as=fetch; type=\"application/wasm\""),
        "{plain}"
    );
    assert!(plain.contains("as=style"), "{plain}");
    // A page with its first paint drawn holds its style inline and its wasm until the paint.
    let drawn = links("/product/1").await?;
    assert!(drawn.contains("rel=modulepreload"), "{drawn}");
    assert!(
        !drawn.contains("wasm") && !drawn.contains("as=style"),
        "{drawn}"
    );
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
    // Inline in the page the BFF drew.
    assert_eq!(
        count(&requests, |p| p.ends_with(".css")),
        0,
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

/// A product name that would be markup if it were written as markup.
const MARKUP: &str = "<img src=x onerror=\"window.__injected=1\">Chair";

fn markup_name(product: &mut serde_json::Value) {
    product["name"] = MARKUP.into();
}

/// The stack with the app's code held back `hold`, product names turned into [`MARKUP`], and
/// one more route to the product view than the app has a page for. The BFF draws no first
/// paint into the page (as a static host would not): the page's own script draws it.
async fn held_back(hold: Duration, delayed: Arc<Delayed>) -> anyhow::Result<Stack> {
    Stack::start_tampered(
        |config| {
            for route in config.routes.values_mut() {
                route.first_paint = None;
            }
            let mut route = config.routes["/product/{id}"].clone();
            let mut id = route.view.clone();
            *id.get_mut() = "{id}".into();
            route.id = Some(id);
            config.routes.insert("/product/{id}/{slug}".into(), route);
        },
        move |router| {
            let router =
                tamper::rewrite_part(Target::path("/api/views/product/"), "product", markup_name)(
                    router,
                );
            tamper::delay(Target::path("/assets/tessera-frontend"), hold, delayed)(router)
        },
    )
    .await
}

/// With the app's code held back, the page draws the product's facts from the view already in
/// flight (its first paint), as text; once the app runs, its own tile takes their place, and the
/// view was still asked for once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_is_painted_before_the_app_runs_and_the_app_takes_over() -> anyhow::Result<()> {
    let delayed = Arc::new(Delayed::default());
    let stack = held_back(Duration::from_secs(3), delayed.clone()).await?;
    // Not waiting for the page's load event, which waits for the app's code.
    with_browser_waiting(PageLoad::Unwaited, async |browser| {
        browser.goto(&stack.url("/product/1")).await?;
        let painted = browser.text_of(&format!("{PREVIEW} h1")).await?;
        let description = browser.text_of(&format!("{PREVIEW} .description")).await?;
        assert_eq!(painted, MARKUP, "the name is drawn as text");
        let facts = browser
            .client
            .execute(
                "const preview = document.getElementById('tessera-preview');\
                 return [performance.getEntriesByName('tessera:app').length,\
                   preview.querySelectorAll('img').length, window.__injected === undefined,\
                   preview.inert, preview.getAttribute('aria-hidden')];",
                vec![],
            )
            .await?;
        assert_eq!(
            facts,
            serde_json::json!([0, 1, true, true, "true"]),
            "drawn before the app's code arrived, one picture and no markup from the data, \
             neither focusable nor read out: {facts}"
        );
        assert!(!description.is_empty());
        let title = browser.client.title().await?;
        assert_eq!(title, format!("{painted} · Tessera Store"));
        // The app's tile replaces it: the same product, and no first paint left over it.
        assert_eq!(browser.text_of(NAME).await?, painted);
        let app_description = "[data-testid=tile-product][data-status=ok] .description";
        assert_eq!(browser.text_of(app_description).await?, description);
        assert_eq!(preview_gone(browser).await?, 0, "the first paint is gone");
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

/// Served by the BFF, the page comes with the product's first paint in its HTML: on screen
/// with the app's code still held back and without the page's script having drawn it, the
/// same facts the app's tile then shows in its place; one view request all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bff_draws_the_first_paint_into_the_page() -> anyhow::Result<()> {
    let delayed = Arc::new(Delayed::default());
    let stack = Stack::start_tampered(
        |_| {},
        |router| {
            tamper::delay(
                Target::path("/assets/tessera-frontend"),
                Duration::from_secs(3),
                delayed.clone(),
            )(router)
        },
    )
    .await?;
    let html = reqwest::Client::new()
        .get(format!("http://{}/product/1", stack.bff))
        .header("accept", "text/html")
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("<div id=\"tessera-preview\""), "{html}");
    stack.requests.lock().unwrap().clear();
    with_browser_waiting(PageLoad::Unwaited, async |browser| {
        browser.goto(&stack.url("/product/1")).await?;
        let painted = browser.text_of(&format!("{PREVIEW} h1")).await?;
        let description = browser.text_of(&format!("{PREVIEW} .description")).await?;
        assert!(
            html.contains(&format!("<h1>{painted}</h1>")),
            "drawn by the BFF: {painted}"
        );
        let facts = browser
            .client
            .execute(
                "const preview = document.getElementById('tessera-preview');\
                 const lcp = await new Promise((found) => new PerformanceObserver((list) =>\
                   found(list.getEntries().at(-1))).observe({type: 'largest-contentful-paint',\
                   buffered: true}));\
                 return [performance.getEntriesByName('tessera:app').length,\
                   performance.getEntriesByName('tessera:preview').length,\
                   document.querySelectorAll('#tessera-preview').length,\
                   preview.inert, document.title, preview.contains(lcp.element),\
                   document.querySelectorAll('link[rel=tessera-wasm]').length,\
                   document.querySelectorAll('link[rel=preload][type=\"application/wasm\"]')\
                     .length];",
                vec![],
            )
            .await?;
        assert_eq!(
            facts,
            serde_json::json!([
                0,
                1,
                1,
                true,
                format!("{painted} · Tessera Store"),
                true,
                0,
                1
            ]),
            "on screen before the app's code arrived and drawn once, the page's largest paint, \
             and the wasm's preload let go: {facts}"
        );
        assert_eq!(browser.text_of(NAME).await?, painted);
        let app_description = "[data-testid=tile-product][data-status=ok] .description";
        assert_eq!(browser.text_of(app_description).await?, description);
        assert_eq!(preview_gone(browser).await?, 0, "the first paint is gone");
        let order = browser
            .client
            .execute(
                "const lcp = await new Promise((found) => new PerformanceObserver((list) =>\
                   found(list.getEntries()[0])).observe({type: 'largest-contentful-paint',\
                   buffered: true}));\
                 const wasm = performance.getEntriesByType('resource')\
                   .filter((e) => e.name.endsWith('.wasm'));\
                 return [wasm.length, wasm[0].startTime >= lcp.startTime];",
                vec![],
            )
            .await?;
        assert_eq!(
            order,
            serde_json::json!([1, true]),
            "the wasm asked for after the paint"
        );
        Ok(())
    })
    .await?;
    assert!(delayed.answered.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    let requests = stack.requests.lock().unwrap().clone();
    let views = count(&requests, |p| p.starts_with("/api/views/"));
    assert_eq!(views, 1, "one view request reached the BFF: {requests:#?}");
    assert_eq!(
        count(&requests, |p| p == "/media/images/1.svg"),
        1,
        "{requests:#?}"
    );
    Ok(())
}

/// A first paint never stays over a page that is not its product: a path the route table sends
/// to the product view but the app has no page for ends on the app's "not found" with the
/// first paint gone, and a product that does not exist draws none at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_paint_gives_way_to_any_page_and_none_is_drawn_for_a_missing_product()
-> anyhow::Result<()> {
    let stack = held_back(Duration::from_millis(1500), Arc::default()).await?;
    with_browser_waiting(PageLoad::Unwaited, async |browser| {
        browser.goto(&stack.url("/product/1/a-slug")).await?;
        assert_eq!(browser.text_of(&format!("{PREVIEW} h1")).await?, MARKUP);
        browser.wait_for("[data-testid=not-found]").await?;
        assert_eq!(preview_gone(browser).await?, 0, "gone over \"not found\"");
        Ok(())
    })
    .await?;
    // A browser of its own, whose cache does not have the app's code yet.
    with_browser_waiting(PageLoad::Unwaited, async |browser| {
        browser.goto(&stack.url("/product/999999")).await?;
        // Well after the view has answered, still before the app's code has arrived.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let state = browser
            .client
            .execute(
                "return [performance.getEntriesByName('tessera:app').length,\
                   document.querySelectorAll('[data-testid=preview]').length]",
                vec![],
            )
            .await?;
        assert_eq!(state, serde_json::json!([0, 0]), "no first paint: {state}");
        browser
            .wait_for("[data-testid=page-error][data-code=not_found]")
            .await?;
        Ok(())
    })
    .await
}

/// The page does not move from its first paint to the app with the session being checked to
/// the sign-in form, on a phone's width and a desktop's: the header keeps its height and the
/// product's description its place (Lighthouse's mobile audit counted the header growing as a
/// layout shift).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_moves_from_the_first_paint_to_the_sign_in_form() -> anyhow::Result<()> {
    let stack = Stack::start_tampered(
        |_| {},
        |router| {
            let held = Arc::new(Delayed::default());
            let router = tamper::delay(
                Target::path("/assets/tessera-frontend"),
                Duration::from_millis(1500),
                held.clone(),
            )(router);
            tamper::delay(Target::path("/api/session"), Duration::from_secs(3), held)(router)
        },
    )
    .await?;
    const PLACES: &str = "const top = (css) => document.querySelector(css)\
          .getBoundingClientRect().top;\
        return [document.querySelector('.site-header').getBoundingClientRect().height,\
          top('.tile-product .description')];";
    for (width, height) in [(412, 823), (1280, 900)] {
        // A browser of its own each time, whose cache does not have the app's code yet.
        with_browser_waiting(PageLoad::Unwaited, async |browser| {
            browser.client.set_window_size(width, height).await?;
            browser.goto(&stack.url("/product/1")).await?;
            browser.wait_for(&format!("{PREVIEW} h1")).await?;
            let painted = browser.client.execute(PLACES, vec![]).await?;
            browser
                .wait_for("[data-testid=session][aria-busy=true]")
                .await?;
            browser.wait_for(NAME).await?;
            assert_eq!(preview_gone(browser).await?, 0);
            let checking = browser.client.execute(PLACES, vec![]).await?;
            browser.wait_for("[data-testid=signin-user]").await?;
            let form = browser.client.execute(PLACES, vec![]).await?;
            assert_eq!(
                (&painted, &checking),
                (&form, &form),
                "{width} px wide: header height and description top, first paint / session \
                 being checked / sign-in form"
            );
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// How many first paints are left once the page has settled (waiting for it to go).
async fn preview_gone(browser: &tessera_e2e::Browser) -> anyhow::Result<usize> {
    browser
        .settle(
            async |browser| Ok(browser.find_all(PREVIEW).await?.len()),
            |n| *n == 0,
        )
        .await
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
