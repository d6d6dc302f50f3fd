//! Signed-in shoppers in a real browser (issue 15): signing in and out in the header, the
//! product page's "you bought this" tile, the account page's orders and an invoice fetched
//! from the accounts service itself with a vault key. The page never holds the session
//! (an `HttpOnly` cookie), and nothing of one shopper is shown after they signed out.
//!
//! The demo's shoppers (services/src/accounts/seed.rs): `alice` bought product 1 once, on
//! 2026-03-14; `bob` never bought it. Both sign in with the demo password.

use std::time::Duration;

use tessera_e2e::{Browser, Stack};

const PASSWORD: &str = "tessera";
const NAME: &str = "[data-testid=session-name]";
const PURCHASES: &str = "[data-testid=tile-purchases] [data-testid=purchases-text]";
const SIGNED_OUT: &str = "Sign in to see your orders";
const ORDERS: &str = "[data-testid=tile-orders][data-status=ok]";

/// The value of the session cookie, read over WebDriver (which sees `HttpOnly` cookies, unlike
/// the page): the one `HttpOnly` cookie the BFF set, if any.
async fn session_cookie(browser: &Browser) -> anyhow::Result<Option<String>> {
    let cookies = browser.client.get_all_cookies().await?;
    let mut session = cookies
        .iter()
        .filter(|c| c.http_only() == Some(true) && !c.value().is_empty());
    let found = session.next().map(|c| c.value().to_owned());
    anyhow::ensure!(session.next().is_none(), "one session cookie: {cookies:?}");
    Ok(found)
}

/// Neither storage nor `document.cookie` (nor the address) holds anything of the session.
async fn nothing_of_the_session_in_reach_of_scripts(browser: &Browser) -> anyhow::Result<()> {
    let (stored, cookie) = browser.script_storage().await?;
    assert!(stored.is_empty(), "the page stores nothing: {stored:?}");
    let address = browser.client.current_url().await?.to_string();
    if let Some(session) = session_cookie(browser).await? {
        assert!(!cookie.contains(&session), "HttpOnly: {cookie:?}");
        assert!(!address.contains(&session), "{address}");
    }
    assert!(
        !cookie.contains("session"),
        "no session cookie for scripts: {cookie:?}"
    );
    Ok(())
}

/// Signs in and waits for the header to name the shopper.
async fn signed_in_as(browser: &Browser, user: &str, name: &str) -> anyhow::Result<()> {
    browser.sign_in(user, PASSWORD).await?;
    browser.wait_text(NAME, name).await
}

/// Waits for the account page's orders, and returns their ids (in page order) with their dates.
async fn orders_shown(browser: &Browser) -> anyhow::Result<Vec<(String, String)>> {
    browser
        .wait_for(&format!("{ORDERS} [data-order-id]"))
        .await?;
    let ids = browser.order_ids().await?;
    let dates = browser
        .attrs(&format!("{ORDERS} [data-placed-at]"), "data-placed-at")
        .await?;
    Ok(ids.into_iter().zip(dates).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_signs_in_sees_their_orders_and_fetches_an_invoice() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack
        .browse("/product/1", async |browser| {
            // Nobody signed in: the tile invites to, and is no error.
            browser.wait_text(PURCHASES, SIGNED_OUT).await?;
            let status = browser
                .attr("[data-testid=tile-purchases]", "data-status")
                .await?;
            assert_eq!(status.as_deref(), Some("unauthorized"));

            signed_in_as(browser, "alice", "Alice Archer").await?;
            // Signing in loads the tile again, with her purchases.
            browser
                .wait_text(PURCHASES, "You bought this on 14 March 2026")
                .await?;
            assert_eq!(
                browser
                    .text_of("[data-testid=review-author] strong")
                    .await?,
                "Alice Archer",
                "the review form writes as the shopper"
            );
            nothing_of_the_session_in_reach_of_scripts(browser).await?;
            assert!(session_cookie(browser).await?.is_some(), "the BFF set it");

            // Her account: her name, her orders newest first.
            browser.click("[data-testid=account-link]").await?;
            browser
                .wait_text(
                    "[data-testid=tile-profile][data-status=ok] [data-testid=profile-name]",
                    "Alice Archer",
                )
                .await?;
            let orders = orders_shown(browser).await?;
            let dates: Vec<&str> = orders.iter().map(|(_, d)| d.as_str()).collect();
            let mut newest_first = dates.clone();
            newest_first.sort_by(|a, b| b.cmp(a));
            assert_eq!(dates, newest_first, "newest first");
            let (order, _) = orders.first().expect("alice has orders").clone();

            // Her invoice, fetched from the accounts service with a key the BFF granted.
            browser
                .click(&format!("[data-testid=invoice-{order}]"))
                .await?;
            let status = format!("[data-testid=invoice-status-{order}]");
            let state = browser
                .settle(
                    async |browser: &Browser| browser.attr(&status, "data-state").await,
                    |state| matches!(state.as_deref(), Some("saved" | "failed")),
                )
                .await?;
            let said = browser.text_of(&status).await?;
            assert_eq!(state.as_deref(), Some("saved"), "{said}");
            let file = format!("invoice-{order}.txt");
            assert!(
                said.starts_with(&format!("Downloaded {file} (")) && said.ends_with(" bytes)"),
                "{said}"
            );
            let logged = stack.logged();
            assert!(
                logged.iter().any(|r| r.method == "POST"
                    && r.path == format!("/api/keys/invoice/{order}")
                    && r.status == 200),
                "the key was asked of the BFF: {logged:?}"
            );
            assert!(
                !logged.iter().any(|r| r.path.contains("/invoices/")),
                "the document did not come through the BFF: {logged:?}"
            );
            // The browser saved it, as the page said.
            let saved = browser.downloads().join(&file);
            let on_disk = browser
                .settle(async |_| Ok(std::fs::read(&saved).ok()), Option::is_some)
                .await?;
            let on_disk = on_disk.unwrap_or_default();
            assert!(!on_disk.is_empty(), "{} was saved", saved.display());
            assert!(
                said.contains(&format!("({} bytes)", on_disk.len())),
                "{said}"
            );
            nothing_of_the_session_in_reach_of_scripts(browser).await?;

            // Back to the product: shown at once from the browser's copy, which holds nothing
            // of hers, then her purchases again, asked of the shop.
            browser.client.back().await?;
            browser
                .wait_text(PURCHASES, "You bought this on 14 March 2026")
                .await?;

            // Signed out: the tile is asked for again, as nobody's.
            browser.sign_out().await?;
            browser.wait_text(PURCHASES, SIGNED_OUT).await?;
            assert_eq!(
                session_cookie(browser).await?,
                None,
                "the cookie was cleared"
            );
            assert!(
                browser.find("[data-testid=review-author]").await.is_err(),
                "the form asks for a name again"
            );

            // Nothing of hers is left in memory: her account page, in this same app, shows
            // none of it, not even for a moment.
            browser.client.forward().await?;
            let leaked = browser
                .holds(
                    Duration::from_secs(2),
                    async |browser: &Browser| Ok(browser.find_all("[data-order-id]").await?.len()),
                    |n| *n == 0,
                )
                .await?;
            assert_eq!(leaked, 0, "orders shown after signing out");
            browser.wait_for("[data-testid=account-signed-out]").await?;
            assert!(
                browser
                    .text_of("[data-testid=account-signed-out]")
                    .await?
                    .contains(SIGNED_OUT)
            );
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_shopper_sees_only_their_own() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    stack
        .browse("/account", async |browser| {
            browser.wait_for("[data-testid=account-signed-out]").await?;
            signed_in_as(browser, "alice", "Alice Archer").await?;
            let alices: Vec<String> = orders_shown(browser)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            browser.sign_out().await?;
            browser.wait_for("[data-testid=account-signed-out]").await?;

            signed_in_as(browser, "bob", "Bob Baker").await?;
            browser
                .wait_text(
                    "[data-testid=tile-profile][data-status=ok] [data-testid=profile-name]",
                    "Bob Baker",
                )
                .await?;
            let bobs: Vec<String> = orders_shown(browser)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert!(!bobs.is_empty(), "bob has orders");
            let shared: Vec<&String> = bobs.iter().filter(|id| alices.contains(id)).collect();
            assert!(shared.is_empty(), "alice's orders shown to bob: {shared:?}");
            let page = browser.find("main").await?.text().await?;
            assert!(!page.contains("Alice"), "{page}");

            browser.goto(&stack.url("/product/1")).await?;
            browser.wait_text(NAME, "Bob Baker").await?;
            browser
                .wait_text(PURCHASES, "You have not bought this yet")
                .await?;
            nothing_of_the_session_in_reach_of_scripts(browser).await?;
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_then_rate_limited() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let attempts = |stack: &Stack| {
        stack
            .logged()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/session")
            .count()
    };
    stack
        .browse("/", async |browser| {
            browser.sign_in("alice", "not-her-password").await?;
            browser
                .wait_text("[data-testid=signin-error]", "Wrong user name or password.")
                .await?;
            assert!(browser.find(NAME).await.is_err(), "nobody signed in");
            assert_eq!(session_cookie(browser).await?, None);
            assert_eq!(
                browser.value_of("[data-testid=signin-password]").await?,
                "",
                "the password is not kept in the form"
            );

            // The BFF counts failures per user name: after its limit (5 by default), it asks
            // the shopper to wait, and the form says for how long.
            let mut sent = attempts(&stack);
            let mut said = String::new();
            while !said.starts_with("Too many attempts") {
                anyhow::ensure!(sent < 10, "never rate limited: {said:?}");
                browser
                    .type_into("[data-testid=signin-password]", "still-not-it")
                    .await?;
                browser.click("[data-testid=signin-submit]").await?;
                sent += 1;
                browser
                    .settle(async |_| Ok(attempts(&stack)), |n| *n >= sent)
                    .await?;
                said = browser
                    .settle(
                        async |browser: &Browser| {
                            let busy = browser
                                .attr("[data-testid=signin-submit]", "disabled")
                                .await?;
                            Ok((busy, browser.text_of("[data-testid=signin-error]").await?))
                        },
                        |(busy, _)| busy.is_none(),
                    )
                    .await?
                    .1;
            }
            let wait = said
                .strip_prefix("Too many attempts — try again in ")
                .and_then(|rest| rest.strip_suffix(" s"))
                .and_then(|n| n.parse::<u64>().ok());
            assert!(wait.is_some_and(|s| s > 0), "{said:?}");
            nothing_of_the_session_in_reach_of_scripts(browser).await?;
            Ok(())
        })
        .await
}
