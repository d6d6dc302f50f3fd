//! Signed-in shoppers over the real demo services (the accounts service included) and, where
//! replicas share sessions, a real `redis-server`: sessions the page cannot read, user parts
//! that never cross from one shopper to another or into a shared cache, vault keys the
//! accounts service checks on its own, key rotation, and what is refused (cross-site writes,
//! too many failed sign-ins).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use support::redis::Redis;
use support::{Services, demo_config, start_bff, start_services};
use tessera_bff::config::Config;
use tessera_contract::keys::{self, SigningKey};
use tessera_contract::{PartStatus, ViewEnvelope};
use tessera_testkit::stub::{Reply, Stub};

const ADMIN: &str = "admin-token";

/// A browser of one shopper: the session cookie it was given, sent back by hand.
#[derive(Clone)]
struct Browser {
    bff: SocketAddr,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    fn new(bff: SocketAddr) -> Self {
        Self {
            bff,
            client: reqwest::Client::new(),
            cookie: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bff)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
    }

    async fn sign_in(&mut self, user: &str, password: &str) -> reqwest::Response {
        let response = self
            .request(reqwest::Method::POST, "/api/session")
            .json(&json!({ "user": user, "password": password }))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            self.cookie = Some(session_cookie(response.headers()).0);
        }
        response
    }

    async fn signed_in(user: &str, bff: SocketAddr) -> Self {
        let mut browser = Self::new(bff);
        let response = browser.sign_in(user, "tessera").await;
        assert_eq!(response.status(), StatusCode::OK, "{user} signs in");
        browser
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }

    async fn view(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        let response = self.get(path).await;
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.json().await.unwrap())
    }
}

/// `name=value` of the session cookie a response sets, and its attributes.
fn session_cookie(headers: &HeaderMap) -> (String, String) {
    let set = headers[SET_COOKIE].to_str().unwrap().to_owned();
    let (pair, attributes) = set.split_once(';').unwrap();
    (pair.trim().to_owned(), attributes.to_owned())
}

/// The demo services, and a BFF over them with an admin token and `adjust`ed settings.
async fn stack(adjust: impl FnOnce(&mut Config)) -> (Services, SocketAddr) {
    let services = start_services().await;
    let mut config = demo_config(&services);
    config.admin.token = Some(ADMIN.into());
    adjust(&mut config);
    let bff = start_bff(&config).await;
    (services, bff)
}

/// Gives every part of `view` seconds, not milliseconds: the test is about whose data comes
/// back, on a machine that may be busy with other tests.
fn patient(config: &mut Config, view: &str) {
    let view = config.views.get_mut(view).unwrap();
    view.budget_ms = toml::Spanned::new(0..0, 20_000);
    let mut parts = view.parts.get_ref().clone();
    for part in parts.values_mut() {
        part.timeout_ms = toml::Spanned::new(0..0, 10_000);
    }
    view.parts = toml::Spanned::new(0..0, parts);
}

/// A shopper's order ids, from their account view.
async fn order_ids(browser: &Browser) -> BTreeSet<i64> {
    let (status, _, account) = browser.view("/api/views/account/me").await;
    assert_eq!(status, StatusCode::OK, "{account}");
    account["parts"]["orders"]["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn signing_in_sets_a_session_cookie_the_page_cannot_read() {
    let (_services, bff) = stack(|_| {}).await;
    let mut alice = Browser::new(bff);
    let response = alice.sign_in("alice", "tessera").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (pair, attributes) = session_cookie(response.headers());
    assert!(pair.starts_with("tessera_session="), "{pair}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(flag), "{flag} in {attributes}");
    }
    assert!(!attributes.contains("Secure"), "plain HTTP: {attributes}");
    assert_eq!(
        response.headers()["cache-control"],
        "private, no-store",
        "never cached"
    );
    let id = pair.trim_start_matches("tessera_session=").to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"], "alice");
    assert_eq!(body["name"], "Alice Archer");
    assert!(
        !body.to_string().contains(&id) && !body.to_string().contains("eyJ"),
        "no session id and no token in the body: {body}"
    );

    let (status, _, who) = alice.view("/api/session").await;
    assert_eq!(
        (status, who["user"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    let (status, _, nobody) = Browser::new(bff).view("/api/session").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(nobody["error"]["code"], "unauthorized");

    // Behind a TLS-terminating balancer the cookie is Secure.
    let over_https = reqwest::Client::new()
        .post(format!("http://{bff}/api/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "user": "bob", "password": "tessera" }))
        .send()
        .await
        .unwrap();
    assert!(session_cookie(over_https.headers()).1.contains("Secure"));

    // Signing out ends the session and clears the cookie.
    let out = alice
        .request(reqwest::Method::DELETE, "/api/session")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (cleared, attributes) = session_cookie(out.headers());
    assert_eq!(cleared, "tessera_session=");
    assert!(attributes.contains("Max-Age=0"), "{attributes}");
    assert_eq!(
        alice.get("/api/session").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A forged cookie is nobody.
    let mut forged = Browser::new(bff);
    forged.cookie = Some(format!("tessera_session={}", keys::random_token(32)));
    assert_eq!(
        forged.get("/api/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// SECURITY: an accounts service that redirects the password check (a 307 keeps the method
/// and body) is a failure: the name and password are never sent to the address it names.
#[tokio::test]
async fn a_redirected_password_check_is_refused_and_the_password_stays_home() {
    let (redirecting, elsewhere) = (Stub::start().await, Stub::start().await);
    let mut path = String::new();
    let (_services, bff) = stack(|config| {
        let identity = config.identity.as_ref().unwrap();
        let accounts = identity.accounts.get_ref().clone();
        path.clone_from(&identity.check_path);
        redirecting.on(
            &path,
            Reply::status(307).header("location", &format!("{}{path}", elsewhere.url())),
        );
        elsewhere.on(&path, Reply::json(json!({"id": 1, "name": "alice"})));
        config.upstreams.get_mut(&accounts).unwrap().url =
            Some(toml::Spanned::new(0..0, redirecting.url()));
    })
    .await;
    let mut browser = Browser::new(bff);
    let response = browser.sign_in("alice", "tessera").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get(SET_COOKIE).is_none(), "no session");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "a JSON error: {body}");
    assert_eq!(redirecting.hits(&path), 1, "asked once");
    assert_eq!(elsewhere.hits(&path), 0, "the redirect was not followed");
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_limited_per_user_and_per_address() {
    let (_services, bff) = stack(|config| {
        let identity = config.identity.as_mut().unwrap();
        identity.max_failures_per_user = 3;
        identity.max_failures_per_address = 11;
    })
    .await;
    let mut browser = Browser::new(bff);
    for _ in 0..3 {
        let response = browser.sign_in("alice", "wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_credentials");
    }
    // The user's attempts are used up: even the right password waits.
    let limited = browser.sign_in("alice", "tessera").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    // The same name with spaces or capitals is the same user, with the same limit.
    for alias in [" alice", "ALICE ", "\talice"] {
        let status = browser.sign_in(alias, "tessera").await.status();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{alias:?}");
    }
    // An unknown user is refused in the same words as a wrong password.
    let unknown = browser.sign_in("nobody-here", "tessera").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    // Bob is another user: he still signs in...
    assert_eq!(
        browser.sign_in("bob", "tessera").await.status(),
        StatusCode::OK
    );
    // ...until the address has tried too often, whoever it tries (11 attempts: alice's seven,
    // the unknown user, these three; Bob's success was given back).
    for n in 0..3 {
        let status = browser.sign_in(&format!("guess{n}"), "x").await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = browser.sign_in("bob", "tessera").await.status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "per address");
    // A malformed sign-in is a 400 with a JSON body.
    let response = reqwest::Client::new()
        .post(format!("http://{bff}/api/session"))
        .header("content-type", "application/json")
        .body("{\"user\": 1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["error"]["code"].is_string());
}

/// The purchases part of one product view, with the response's caching headers.
async fn purchases(browser: &Browser, product: i64) -> (Value, HeaderMap) {
    let (status, headers, view) = browser.view(&format!("/api/views/product/{product}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    (view["parts"]["purchases"].clone(), headers)
}

#[tokio::test]
async fn two_shoppers_never_see_each_others_parts_and_no_shared_cache_holds_them() {
    let redis = Redis::start().await;
    let (_services, bff) = stack(|config| {
        config.cache.redis_url = Some(redis.url());
        // What is tested is who sees what, not Redis's speed on a busy machine.
        config.cache.redis_timeout_ms = 2_000;
        patient(config, "product");
    })
    .await;
    let alice = Browser::signed_in("alice", bff).await;
    let bob = Browser::signed_in("bob", bff).await;
    let anonymous = Browser::new(bff);
    let orders = BTreeMap::from([
        ("alice", order_ids(&alice).await),
        ("bob", order_ids(&bob).await),
    ]);
    assert!(!orders["alice"].is_empty() && !orders["bob"].is_empty());
    assert!(orders["alice"].is_disjoint(&orders["bob"]));

    // Alice bought products 1 and 2; Bob never did.
    let (alice_1, alice_headers) = purchases(&alice, 1).await;
    assert_eq!(alice_1["status"], "ok");
    assert!(!alice_1["data"]["orders"].as_array().unwrap().is_empty());
    let (bob_1, bob_headers) = purchases(&bob, 1).await;
    assert_eq!(bob_1["data"]["orders"], json!([]));
    let (nobody, anonymous_headers) = purchases(&anonymous, 1).await;
    assert_eq!(nobody["status"], "unauthorized");
    assert!(nobody.get("data").is_none());
    for headers in [&alice_headers, &bob_headers, &anonymous_headers] {
        assert_eq!(headers["cache-control"], "private, no-cache");
        assert!(headers["vary"].to_str().unwrap().contains("cookie"));
    }
    assert_ne!(
        alice_headers["etag"], bob_headers["etag"],
        "an ETag per shopper"
    );
    // Alice's validator is no good for Bob: he gets his own view, not a 304.
    let answer = bob
        .request(reqwest::Method::GET, "/api/views/product/1")
        .header("if-none-match", alice_headers["etag"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);

    // 1,000 interleaved requests, 16 at a time: every answer is its own shopper's.
    let actors = [("alice", &alice), ("bob", &bob), ("anonymous", &anonymous)];
    let requests = (0..1_000).map(|n| {
        let (who, browser) = actors[n % 3];
        let product = [1, 2, 3][n / 3 % 3];
        async move { (who, product, purchases(browser, product).await.0) }
    });
    let answers: Vec<_> = futures::stream::iter(requests)
        .buffer_unordered(16)
        .collect()
        .await;
    let mut leaks = 0;
    for (who, product, part) in &answers {
        if *who == "anonymous" {
            leaks += usize::from(part["status"] != "unauthorized" || part.get("data").is_some());
            continue;
        }
        assert_eq!(part["status"], "ok", "{who} product {product}: {part}");
        let seen: BTreeSet<i64> = part["data"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_i64().unwrap())
            .collect();
        leaks += usize::from(!seen.is_subset(&orders[who]));
        if *who == "bob" && [1, 2].contains(product) {
            leaks += usize::from(!seen.is_empty());
        }
    }
    assert_eq!(answers.len(), 1_000);
    assert_eq!(leaks, 0, "no answer held another shopper's data");

    // Redis holds sessions, and no user part.
    let keys: Vec<String> = match redis.command(&["KEYS", "*"]).await {
        redis::Value::Array(keys) => keys
            .into_iter()
            .map(|k| match k {
                redis::Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    assert!(keys.iter().any(|k| k.starts_with("tessera:session:")));
    assert!(
        keys.iter().any(|k| k.starts_with("tessera:cache:catalog:")),
        "shared parts are in Redis: {keys:?}"
    );
    for key in &keys {
        assert!(!key.contains("accounts:"), "a user part in Redis: {key}");
        assert!(!key.contains("/me"), "a user part in Redis: {key}");
        if key.starts_with("tessera:cache:") {
            let value = redis.command(&["GET", key]).await;
            let redis::Value::BulkString(bytes) = value else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("order_id"), "{key} holds orders");
        }
    }
    // Nor does this replica's memory: no user part's entry, and only signed-out renderings.
    let cached: Value = reqwest::Client::new()
        .get(format!("http://{bff}/admin/cache"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = cached["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|k| !k.as_str().unwrap().starts_with("accounts:"))
    );
    for rendered in cached["rendered"].as_array().unwrap() {
        let key = rendered.as_str().unwrap();
        if key.starts_with("product@") {
            assert!(key.ends_with("~signed-out"), "{key}");
        }
    }
}

#[tokio::test]
async fn signing_out_on_one_replica_ends_the_session_on_another() {
    let redis = Redis::start().await;
    let services = start_services().await;
    let mut config = demo_config(&services);
    config.cache.redis_url = Some(redis.url());
    config.cache.redis_timeout_ms = 2_000;
    let (one, two) = (start_bff(&config).await, start_bff(&config).await);
    let alice = Browser::signed_in("alice", one).await;
    let mut elsewhere = Browser::new(two);
    elsewhere.cookie = alice.cookie.clone();
    let (status, _, who) = elsewhere.view("/api/session").await;
    assert_eq!(
        (status, who["user"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    let (_, _, view) = elsewhere.view("/api/views/account/me").await;
    assert_eq!(view["parts"]["profile"]["data"]["user"], "alice");

    let out = alice
        .request(reqwest::Method::DELETE, "/api/session")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        elsewhere.get("/api/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _, refused) = elsewhere.view("/api/views/account/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn the_account_view_is_its_shoppers_and_401_for_nobody() {
    let (_services, bff) = stack(|_| {}).await;
    let (status, _, refused) = Browser::new(bff).view("/api/views/account/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["error"]["code"], "unauthorized");

    let alice = Browser::signed_in("alice", bff).await;
    let (status, headers, body) = alice.view("/api/views/account/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "private, no-cache");
    let view: ViewEnvelope = serde_json::from_value(body).unwrap();
    assert_eq!(view.parts["profile"].status, PartStatus::Ok);
    assert_eq!(view.data("profile").unwrap()["name"], "Alice Archer");
    let orders: tessera_contract::account::Orders =
        serde_json::from_value(view.data("orders").unwrap().clone()).unwrap();
    assert!(!orders.items.is_empty());

    // Streamed, the same parts, and private.
    let stream = alice.get("/api/views/account/me?stream").await;
    assert_eq!(stream.headers()["cache-control"], "private, no-store");
    let text = stream.text().await.unwrap();
    assert!(text.contains("\"name\":\"profile\"") && text.contains("Alice Archer"));
    // A single user part alone, signed out: 401.
    let part = Browser::new(bff)
        .get("/api/parts/product/purchases/1")
        .await;
    assert_eq!(part.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cross_site_writes_with_a_session_are_refused() {
    let (_services, bff) = stack(|_| {}).await;
    let alice = Browser::signed_in("alice", bff).await;
    let review = json!({"rating": 5, "title": "Good", "body": "Very good indeed.", "author": "x"});
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "http://evil.example"),
        ("origin", "null"),
    ] {
        let response = alice
            .request(reqwest::Method::POST, "/api/actions/review/3")
            .header(header, value)
            .json(&review)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site");
    }
    // A sign-in from another site is refused too (no signing a shopper in as someone else).
    let response = reqwest::Client::new()
        .post(format!("http://{bff}/api/session"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"user": "bob", "password": "tessera"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // From the page itself, the write goes through.
    let response = alice
        .request(reqwest::Method::POST, "/api/actions/review/3")
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{bff}"))
        .json(&review)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn a_review_written_signed_in_carries_the_shoppers_name() {
    let (_services, bff) = stack(|_| {}).await;
    let alice = Browser::signed_in("alice", bff).await;
    let review =
        json!({"rating": 4, "title": "Sturdy", "body": "It held up well.", "author": "Mallory"});
    let response = alice
        .request(reqwest::Method::POST, "/api/actions/review/5")
        .json(&review)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let posted: Value = response.json().await.unwrap();
    assert_eq!(posted["author"], "Alice Archer", "{posted}");
    // Signed out, the form's name stands.
    let anonymous = Browser::new(bff)
        .request(reqwest::Method::POST, "/api/actions/review/5")
        .json(&review)
        .send()
        .await
        .unwrap();
    let posted: Value = anonymous.json().await.unwrap();
    assert_eq!(posted["author"], "Mallory");
}

/// The demo's signing key: the one private key of its ring.
fn demo_key(dir: &std::path::Path) -> SigningKey {
    SigningKey::read_ring(dir).unwrap().remove(0)
}

/// `url` with the value of one query parameter replaced.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key == name => format!("{key}={value}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn param(url: &str, name: &str) -> String {
    url.split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

async fn grant(browser: &Browser, order: i64) -> reqwest::Response {
    browser
        .request(reqwest::Method::POST, &format!("/api/keys/invoice/{order}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn vault_keys_open_one_document_on_the_service_itself_and_nothing_else() {
    let (services, bff) = stack(|_| {}).await;
    let accounts = services.demo.accounts.addr;
    let alice = Browser::signed_in("alice", bff).await;
    let bob = Browser::signed_in("bob", bff).await;
    let order = *order_ids(&alice).await.first().unwrap();
    let other = *order_ids(&alice).await.last().unwrap();

    let response = grant(&alice, order).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    let key: tessera_contract::account::KeyGrant = response.json().await.unwrap();
    assert!(
        key.url
            .starts_with(&format!("http://{accounts}/invoices/{order}?")),
        "on the accounts service itself, not the BFF: {}",
        key.url
    );
    let now = keys::now_s();
    assert!(
        (now + 100..=now + 121).contains(&key.expires_at),
        "two minutes"
    );
    let invoice = reqwest::get(&key.url).await.unwrap();
    assert_eq!(invoice.status(), StatusCode::OK);
    let text = invoice.text().await.unwrap();
    assert!(text.contains(&order.to_string()), "{text}");

    let refused = |url: String| async move {
        let response = reqwest::get(&url).await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body)
    };
    let exp = param(&key.url, "exp");
    let later = (exp.parse::<u64>().unwrap() + 3600).to_string();
    let other_path = key.url.replace(
        &format!("/invoices/{order}?"),
        &format!("/invoices/{other}?"),
    );
    let cases = [
        ("tampered expiry", with_param(&key.url, "exp", &later)),
        ("other user", with_param(&key.url, "user", "2")),
        ("other path", other_path),
        ("unknown key id", with_param(&key.url, "kid", "k-nobody")),
        (
            "forged signature",
            with_param(&key.url, "sig", &"A".repeat(86)),
        ),
        (
            "no signature",
            key.url.split_once('?').unwrap().0.to_owned(),
        ),
    ];
    for (what, url) in cases {
        let (status, body) = refused(url).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(body["error"]["code"].is_string(), "{what}: a JSON error");
    }
    // Bob's own key for Alice's order opens nothing.
    let bobs = grant(&bob, order).await;
    assert_eq!(
        bobs.status(),
        StatusCode::OK,
        "the BFF signs; the service decides"
    );
    let bobs: tessera_contract::account::KeyGrant = bobs.json().await.unwrap();
    assert_eq!(refused(bobs.url).await.0, StatusCode::FORBIDDEN);

    // An expired key (signed with the ring's own key, a second in the past): 410, never 200.
    let signing = demo_key(&services.demo.keys_dir());
    let kid = signing.kid().to_owned();
    let path = format!("/invoices/{order}");
    let past = keys::now_s() - 1;
    let sig = signing.sign_grant("GET", &path, past, "1");
    let expired = keys::grant_url(&format!("http://{accounts}"), &path, "1", past, &kid, &sig);
    let (status, body) = refused(expired).await;
    assert_eq!(status, StatusCode::GONE, "{body}");

    // Signed out, no key; an id of the wrong kind is a 400; an unknown grant a 404.
    assert_eq!(
        grant(&Browser::new(bff), order).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let bad = alice
        .request(reqwest::Method::POST, "/api/keys/invoice/..%2Fetc")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let unknown = alice
        .request(reqwest::Method::POST, "/api/keys/passport/1")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn after_a_rotation_what_the_previous_key_signed_works_until_it_expires() {
    let services = start_services().await;
    let dir = services.demo.keys_dir();
    let mut config = demo_config(&services);
    config.admin.token = Some(ADMIN.into());
    let old = Browser::signed_in("alice", start_bff(&config).await).await;
    let order = *order_ids(&old).await.first().unwrap();
    let before: tessera_contract::account::KeyGrant =
        grant(&old, order).await.json().await.unwrap();

    // Step 1: a new pair; the services hold its public half (the demo reads the folder).
    let new_kid = tessera_bff::generate_key(&dir, Some("rotated-2")).unwrap();
    // A service looks at its folder at most once a second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Step 2: the BFF signs with the new key.
    let old_kid = param(&before.url, "kid");
    config.identity.as_mut().unwrap().signing_key = Some(toml::Spanned::new(0..0, new_kid.clone()));
    let bff = start_bff(&config).await;
    let health: Value = reqwest::get(format!("http://{bff}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["signing_key"], new_kid.as_str());
    let alice = Browser::signed_in("alice", bff).await;
    let after: tessera_contract::account::KeyGrant =
        grant(&alice, order).await.json().await.unwrap();
    assert_eq!(param(&after.url, "kid"), new_kid);
    assert_ne!(old_kid, new_kid);
    // Both verify: the new one, and the old one until it expires.
    for url in [&after.url, &before.url] {
        assert_eq!(
            reqwest::get(url).await.unwrap().status(),
            StatusCode::OK,
            "{url}"
        );
    }
    // User parts signed with the new key verify too.
    let (_, _, view) = alice.view("/api/views/product/1").await;
    assert_eq!(view["parts"]["purchases"]["status"], "ok", "{view}");
    // Step 3, once the old key's last grant has expired: its public half goes; what it
    // signed then opens nothing.
    std::fs::remove_file(dir.join(format!("{old_kid}.pub"))).unwrap();
    std::fs::remove_file(dir.join(format!("{old_kid}.key"))).unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let status = reqwest::get(&before.url).await.unwrap().status();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a removed key verifies nothing"
    );
}

#[tokio::test]
async fn a_service_verifies_tokens_on_its_own_and_refuses_bad_ones() {
    // No BFF runs at all: the service checks a token with the public key it holds.
    let services = start_services().await;
    let accounts = format!("http://{}", services.demo.accounts.addr);
    let dir = services.demo.keys_dir();
    let key = demo_key(&dir);
    let kid = key.kid().to_owned();
    let now = keys::now_s();
    let claims = |sub: &str, aud: &str, iat: u64, exp: u64| keys::Claims {
        sub: sub.into(),
        name: "Alice Archer".into(),
        aud: aud.into(),
        iss: keys::ISSUER.into(),
        iat,
        exp,
    };
    let get = |token: Option<String>| {
        let accounts = accounts.clone();
        async move {
            let mut request = reqwest::Client::new().get(format!("{accounts}/me/orders"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(
        get(Some(key.token(&claims("1", "accounts", now, now + 30)))).await,
        StatusCode::OK
    );
    let stranger = SigningKey::generate(&kid).unwrap();
    for (what, token) in [
        ("none", None),
        ("garbage", Some("not.a.token".to_owned())),
        (
            "expired",
            Some(key.token(&claims("1", "accounts", now - 120, now - 60))),
        ),
        (
            "for another audience",
            Some(key.token(&claims("1", "catalog", now, now + 30))),
        ),
        (
            "signed by a stranger",
            Some(stranger.token(&claims("1", "accounts", now, now + 30))),
        ),
        (
            "living too long",
            Some(key.token(&claims("1", "accounts", now, now + 3_600))),
        ),
    ] {
        assert_eq!(get(token).await, StatusCode::UNAUTHORIZED, "{what}");
    }
}

#[tokio::test]
async fn allowed_headers_are_forwarded_and_keep_cached_answers_apart() {
    use tessera_testkit::config::{BffConfig, Part};
    use tessera_testkit::stub::{EventKind, Reply, Stub};
    let stub = Stub::start().await;
    stub.on("/greeting/1", Reply::json(json!({"text": "hello"})));
    let config = BffConfig::new()
        .upstream_with(
            "words",
            &format!(
                "url = \"{}\"\nforward_headers = [\"accept-language\"]",
                stub.url()
            ),
        )
        .view(
            "greeting",
            [Part::new("text", "words", "/greeting/{id}", 500).cached(60_000, 0, 0)],
        )
        .toml();
    let bff = start_bff(&support::config_from(&config)).await;
    let get = |language: Option<&'static str>| async move {
        let mut request = reqwest::Client::new()
            .get(format!("http://{bff}/api/views/greeting/1"))
            .header("cookie", "tessera_session=abc")
            .header("authorization", "Bearer secret");
        if let Some(language) = language {
            request = request.header("accept-language", language);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["vary"].to_str().unwrap().to_owned()
    };
    let vary = get(Some("fr")).await;
    assert!(vary.contains("accept-language"), "{vary}");
    get(Some("fr")).await;
    get(Some("de")).await;
    get(None).await;
    let started: Vec<_> = stub
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Started)
        .collect();
    // One call per language (the second French request is a cache hit), each with its own.
    let languages: Vec<Option<&str>> = started
        .iter()
        .map(|e| e.header("accept-language"))
        .collect();
    assert_eq!(languages, [Some("fr"), Some("de"), None]);
    for event in &started {
        assert_eq!(
            event.header("cookie"),
            None,
            "the cookie never reaches an upstream"
        );
        assert_eq!(
            event.header("authorization"),
            None,
            "nor the client's credentials"
        );
    }
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit() {
    let (services, bff) = stack(|config| {
        config.identity.as_mut().unwrap().max_failures_per_user = 5;
    })
    .await;
    // The accounts service answers slowly: every guess is in flight at once.
    services
        .demo
        .accounts
        .faults
        .set(serde_json::from_value(json!({"latency_ms": 300})).unwrap());
    let guesses = (0..40).map(|n| async move {
        let mut browser = Browser::new(bff);
        browser
            .sign_in("alice", &format!("guess-{n}"))
            .await
            .status()
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (5, 35), "{statuses:?}");
}
