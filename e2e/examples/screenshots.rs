//! Takes the README's screenshots from the running app, in headless Chromium over WebDriver:
//! the home page, a product page, its "how this page loaded" panel (with the reviews service
//! slowed, so that the waterfall has a story to tell), and a product page with the
//! recommendations service failing. Each shot waits for the state it shows.
//!
//! Run: `./scripts/screenshots.sh` (builds the front end first). Writes `docs/screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use tessera_e2e::{Browser, Stack};
use tessera_services::Faults;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&out)?;
    let stack = Stack::start().await?;
    let browser = Browser::start().await?;
    let result = shoot(&stack, &browser, &out).await;
    browser.close().await?;
    result
}

async fn shoot(stack: &Stack, browser: &Browser, out: &std::path::Path) -> anyhow::Result<()> {
    let client = &browser.client;
    let save = async |name: &str| -> anyhow::Result<()> {
        // Let images decode and the last frame paint.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = client.screenshot().await?;
        std::fs::write(out.join(name), png)?;
        println!("[screenshots] docs/screenshots/{name}");
        Ok(())
    };
    let wait = async |css: &str| -> anyhow::Result<()> {
        browser.wait_for(css).await?;
        Ok(())
    };

    client.set_window_size(1280, 1250).await?;
    browser.goto(&stack.url("/")).await?;
    wait("[data-testid=card] [data-testid=card-rating]").await?;
    save("home.png").await?;

    browser.goto(&stack.url("/product/7")).await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    wait("[data-testid=tile-category_picks][data-status=ok]").await?;
    save("product.png").await?;

    stack.services.reviews.faults.set(Faults::slowed(450));
    client.set_window_size(1280, 760).await?;
    browser.goto(&stack.url("/product/12")).await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    browser.click("[data-testid=waterfall] summary").await?;
    client
        .execute(
            "document.querySelector('[data-testid=waterfall]').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await?;
    save("waterfall.png").await?;
    stack.services.reviews.faults.set(Faults::default());

    stack
        .services
        .recommendations
        .faults
        .set(Faults::failing(503));
    client.set_window_size(1280, 1250).await?;
    browser.goto(&stack.url("/product/11")).await?;
    wait("[data-testid=tile-recommendations][data-status=error]").await?;
    wait("[data-testid=tile-reviews][data-status=ok]").await?;
    save("product-degraded.png").await?;
    Ok(())
}
