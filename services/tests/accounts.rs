//! The accounts service over real HTTP: signing in, user tokens, orders and purchases, vault
//! keys for invoices, key rotation, CORS, ETags and faults.
//!
//! Every test signs its own tokens and URLs with keys generated into a temp folder, as the BFF
//! would. The service is given that folder and nothing else: no BFF address exists in its
//! options, so everything here passes without it ever calling back.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Admin;
use tessera_contract::keys::{Claims, ISSUER, SigningKey, grant_url, now_s};
use tessera_services::accounts::seed::{ALICE_BOUGHT_1, ALICE_BOUGHT_2};
use tessera_services::accounts::{Accounts, Options};
use tessera_services::demo::{DEMO_KID, Demo};
use tessera_services::{FaultSwitch, Faults, Scale};

const STOREFRONT: &str = "http://localhost:8080";

/// A running accounts service, its key folder, and the key it was started with (`k1`).
struct Service {
    addr: SocketAddr,
    keys: PathBuf,
    key: SigningKey,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let key = SigningKey::generate("k1").unwrap();
    key.write_to(&keys).unwrap();
    let (db, options) = (dir.path().join("accounts.db"), Options::new(&keys));
    let accounts = tokio::task::spawn_blocking(move || Accounts::open(&db, Scale::SMALL, options))
        .await
        .unwrap()
        .unwrap();
    let addr = support::serve(accounts.router(FaultSwitch::default())).await;
    Service {
        addr,
        keys,
        key,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

fn claims(sub: &str, aud: &str, iat: u64, exp: u64) -> Claims {
    Claims {
        sub: sub.into(),
        name: "someone".into(),
        aud: aud.into(),
        iss: ISSUER.into(),
        iat,
        exp,
    }
}

/// A token for user `sub`, good for 30 s from now.
fn token_for(key: &SigningKey, sub: &str) -> String {
    let now = now_s();
    key.token(&claims(sub, "accounts", now, now + 30))
}

impl Service {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The token with which the BFF asks for a password check.
    fn bff_token(&self) -> String {
        let now = now_s();
        let audience = tessera_contract::keys::auth_check_audience("accounts");
        self.key
            .token(&claims("tessera-bff", &audience, now, now + 30))
    }

    /// `POST /auth/check`, as the BFF.
    fn check(&self) -> reqwest::RequestBuilder {
        self.client
            .post(self.url("/auth/check"))
            .bearer_auth(self.bff_token())
    }

    async fn sign_in(&self, body: Value) -> (StatusCode, Value) {
        let response = self.check().json(&body).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// `GET path` with `Authorization: Bearer token`.
    async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn json_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self.get_as(token, path).await;
        (response.status(), response.json().await.unwrap())
    }

    /// A vault key URL for `user` and `GET path`, expiring at `exp`, signed by `key`.
    fn grant(&self, key: &SigningKey, path: &str, user: &str, exp: u64) -> String {
        let sig = key.sign_grant("GET", path, exp, user);
        grant_url(
            &format!("http://{}", self.addr),
            path,
            user,
            exp,
            key.kid(),
            &sig,
        )
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    /// Alice's orders, newest first.
    async fn alice_orders(&self) -> Vec<Value> {
        let (status, page) = self.json_as(&token_for(&self.key, "1"), "/me/orders").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// Waits, at most 5 s, for `GET url` (as `token`, if any) to answer `expected`: the key
    /// folder is looked at no more than once a second.
    async fn eventually(&self, token: Option<&str>, url: &str, expected: StatusCode) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut request = self.client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let status = request.send().await.unwrap().status();
            if status == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url} still answers {status}, not {expected}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn signing_in_says_who_the_shopper_is_and_refuses_alike_otherwise() {
    let service = start().await;

    // Only the BFF may ask: without its token (or with a user's), no password is checked.
    for token in [None, Some(token_for(&service.key, "1"))] {
        let mut request = service.client.post(service.url("/auth/check"));
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request
            .json(&json!({"user": "alice", "password": "tessera"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
    }

    let (status, alice) = service
        .sign_in(json!({"user": "alice", "password": "tessera"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alice,
        json!({"id": "1", "user": "alice", "name": "Alice Archer"})
    );
    let (status, bob) = service
        .sign_in(json!({"user": "bob", "password": "tessera"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bob["id"], "2");
    let other = tessera_services::accounts::seed::password(3);
    let (status, third) = service
        .sign_in(json!({"user": "shopper003", "password": other}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(third["id"], "3");

    let (status, wrong_password) = service
        .sign_in(json!({"user": "alice", "password": "tesserA"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&wrong_password), "invalid_credentials");
    let (status, unknown_user) = service
        .sign_in(json!({"user": "mallory", "password": "tessera"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown_user, wrong_password,
        "an unknown user and a wrong password look the same"
    );
    let (status, _) = service.sign_in(json!({"user": "", "password": ""})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for malformed in [
        json!({"user": "alice"}),
        json!({"user": "alice", "password": "tessera", "admin": true}),
        json!({"user": 1, "password": "tessera"}),
    ] {
        let (status, body) = service.sign_in(malformed.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}");
        assert_eq!(code(&body), "bad_request");
    }
    let not_json = service
        .check()
        .header("content-type", "application/json")
        .body("{\"user\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let huge = service
        .check()
        .json(&json!({"user": "alice", "password": "x".repeat(20_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let form = service
        .check()
        .body("user=alice&password=tessera")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn user_tokens_are_required_and_checked() {
    let service = start().await;
    let now = now_s();

    let missing = service.get(&service.url("/me")).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let body: Value = missing.json().await.unwrap();
    assert_eq!(code(&body), "unauthorized");

    let stranger = SigningKey::generate("k2").unwrap();
    let refused = [
        ("garbage", "not.a.token".to_owned()),
        (
            "wrong audience",
            service.key.token(&claims("1", "catalog", now, now + 30)),
        ),
        (
            "expired",
            service
                .key
                .token(&claims("1", "accounts", now - 90, now - 60)),
        ),
        (
            "too long",
            service.key.token(&claims("1", "accounts", now, now + 3600)),
        ),
        ("unknown key", token_for(&stranger, "1")),
        ("not a user id", token_for(&service.key, "alice")),
    ];
    for (why, token) in refused {
        let response = service.get_as(&token, "/me").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{why}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "unauthorized", "{why}");
    }
    let basic = service
        .client
        .get(service.url("/me"))
        .basic_auth("alice", Some("tessera"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    let alice = token_for(&service.key, "1");
    let (status, me) = service.json_as(&alice, "/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({"id": "1", "user": "alice", "name": "Alice Archer", "orders": 8})
    );

    let (status, page) = service.json_as(&alice, "/me/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            page["page"].clone(),
            page["per_page"].clone(),
            page["total"].clone()
        ),
        (json!(1), json!(20), json!(8))
    );
    let orders: tessera_contract::account::Orders = serde_json::from_value(page).unwrap();
    assert_eq!(orders.items.len(), 8);
    let dates: Vec<&str> = orders.items.iter().map(|o| o.placed_at.as_str()).collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );
    for order in &orders.items {
        assert!((1..=4).contains(&order.lines.len()));
        assert_eq!(order.currency, "EUR");
        let total: i64 = order
            .lines
            .iter()
            .map(|l| i64::from(l.quantity) * l.price_cents)
            .sum();
        assert_eq!(order.total_cents, total, "order {}", order.id);
    }
    let (status, second) = service
        .json_as(&alice, "/me/orders?page=2&per_page=5")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["items"].as_array().unwrap().len(), 3);
    let (status, beyond) = service.json_as(&alice, "/me/orders?page=9").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(beyond["items"], json!([]));
    let (status, _) = service.json_as(&alice, "/me/orders?page=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_shopper_sees_only_their_own_orders_and_purchases() {
    let service = start().await;
    let (alice, bob) = (token_for(&service.key, "1"), token_for(&service.key, "2"));
    let orders = service.alice_orders().await;
    let first = orders[0]["id"].as_i64().unwrap();

    let (status, order) = service
        .json_as(&alice, &format!("/me/orders/{first}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order, orders[0]);
    let (status, body) = service.json_as(&bob, &format!("/me/orders/{first}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "bob cannot see alice's order"
    );
    assert_eq!(code(&body), "not_found");
    let (status, _) = service.json_as(&alice, "/me/orders/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = service.json_as(&alice, "/me/orders/x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    for (product, date) in [(1, ALICE_BOUGHT_1), (2, ALICE_BOUGHT_2)] {
        let (status, bought) = service
            .json_as(&alice, &format!("/me/purchases/{product}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bought["product_id"], product);
        let purchases = bought["orders"].as_array().unwrap();
        assert_eq!(purchases.len(), 1, "{bought}");
        assert_eq!(purchases[0]["placed_at"], date);
        let order_id = purchases[0]["order_id"].as_i64().unwrap();
        let (_, order) = service
            .json_as(&alice, &format!("/me/orders/{order_id}"))
            .await;
        assert!(
            order["lines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["product_id"] == product)
        );

        let (status, never) = service
            .json_as(&bob, &format!("/me/purchases/{product}"))
            .await;
        assert_eq!(status, StatusCode::OK, "never bought is not a 404");
        assert_eq!(never, json!({"product_id": product, "orders": []}));
    }
    for bad in ["0", "-1", "abc"] {
        let (status, body) = service
            .json_as(&alice, &format!("/me/purchases/{bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(code(&body), "bad_request");
    }
    let unauthenticated = service.get(&service.url("/me/purchases/abc")).await;
    assert_eq!(
        unauthenticated.status(),
        StatusCode::UNAUTHORIZED,
        "the token is checked before anything else"
    );
}

#[tokio::test]
async fn private_answers_revalidate_per_user() {
    let service = start().await;
    let (alice, bob) = (token_for(&service.key, "1"), token_for(&service.key, "2"));
    // Never bought by either: the same body for both.
    let path = "/me/purchases/999";
    let first = service.get_as(&alice, path).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "private, no-cache");
    assert_eq!(first.headers()["vary"], "Authorization");
    let etag = first.headers()["etag"].clone();
    let alice_body = first.text().await.unwrap();

    let again = service
        .client
        .get(service.url(path))
        .bearer_auth(&alice)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag);

    let bobs = service
        .client
        .get(service.url(path))
        .bearer_auth(&bob)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bobs.status(), StatusCode::OK, "alice's tag is not bob's");
    assert_ne!(bobs.headers()["etag"], etag);
    assert_eq!(bobs.text().await.unwrap(), alice_body);

    for path in ["/me", "/me/orders"] {
        let response = service.get_as(&alice, path).await;
        let etag = response.headers()["etag"].clone();
        let again = service
            .client
            .get(service.url(path))
            .bearer_auth(&alice)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
}

#[tokio::test]
async fn a_vault_key_opens_one_invoice_for_one_shopper_for_a_while() {
    let service = start().await;
    let orders = service.alice_orders().await;
    let order = orders[0]["id"].as_i64().unwrap();
    let path = format!("/invoices/{order}");
    let exp = now_s() + 60;

    let url = service.grant(&service.key, &path, "1", exp);
    let response = service.get(&url).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"invoice-{order}.txt\"")
    );
    assert_eq!(headers["cache-control"], "private, no-store");
    let text = response.text().await.unwrap();
    assert!(text.contains(&format!("Order     {order}")), "{text}");
    assert!(text.contains("Alice Archer"), "{text}");

    let refused = |url: String, why: &'static str, status: StatusCode, wanted: &'static str| {
        let service = &service;
        async move {
            let response = service.get(&url).await;
            assert_eq!(response.status(), status, "{why}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(code(&body), wanted, "{why}");
        }
    };
    let forbidden = StatusCode::FORBIDDEN;
    refused(
        url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600)),
        "tampered exp",
        forbidden,
        "forbidden",
    )
    .await;
    let other = orders[1]["id"].as_i64().unwrap();
    refused(
        url.replace(&path, &format!("/invoices/{other}")),
        "another invoice",
        forbidden,
        "forbidden",
    )
    .await;
    refused(
        url.replace("user=1", "user=2"),
        "another user",
        forbidden,
        "forbidden",
    )
    .await;
    let stranger = SigningKey::generate("k9").unwrap();
    refused(
        service.grant(&stranger, &path, "1", exp),
        "unknown kid",
        forbidden,
        "forbidden",
    )
    .await;
    let impostor = SigningKey::generate("k1").unwrap();
    refused(
        service.grant(&impostor, &path, "1", exp),
        "forged with another key named k1",
        forbidden,
        "forbidden",
    )
    .await;
    refused(
        service.grant(&service.key, &path, "1", now_s() - 1),
        "expired",
        StatusCode::GONE,
        "expired",
    )
    .await;
    refused(
        service
            .grant(&service.key, &path, "1", now_s() - 1)
            .replace("user=1", "user=2"),
        "expired and tampered",
        forbidden,
        "forbidden",
    )
    .await;
    refused(
        service.grant(&service.key, &path, "2", exp),
        "bob's genuine key for alice's invoice",
        forbidden,
        "forbidden",
    )
    .await;
    refused(
        service.grant(&service.key, "/invoices/999999", "1", exp),
        "a genuine key for no order",
        forbidden,
        "forbidden",
    )
    .await;
    refused(service.url(&path), "no query", forbidden, "forbidden").await;
    refused(
        format!("{}?user=1&exp=soon&kid=k1&sig=x", service.url(&path)),
        "malformed query",
        forbidden,
        "forbidden",
    )
    .await;
    let with_token = service
        .client
        .get(service.url(&path))
        .bearer_auth(token_for(&service.key, "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_token.status(),
        forbidden,
        "a user token is not a vault key"
    );
}

#[tokio::test]
async fn keys_rotate_without_a_restart() {
    let service = start().await;
    let old = &service.key;
    let orders = service.alice_orders().await;
    let path = format!("/invoices/{}", orders[0]["id"]);
    let old_token = token_for(old, "1");
    let old_url = service.grant(old, &path, "1", now_s() + 120);

    let new = SigningKey::generate("k2").unwrap();
    new.write_to(&service.keys).unwrap();
    let new_token = token_for(&new, "1");
    service
        .eventually(Some(&new_token), &service.url("/me"), StatusCode::OK)
        .await;
    let new_url = service.grant(&new, &path, "1", now_s() + 120);
    assert_eq!(service.get(&new_url).await.status(), StatusCode::OK);
    // What the old key signed holds while its public key is in the folder.
    assert_eq!(
        service.get_as(&old_token, "/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(service.get(&old_url).await.status(), StatusCode::OK);

    // Retired: its tokens and URLs stop working once the folder is looked at again.
    std::fs::remove_file(service.keys.join("k1.pub")).unwrap();
    service
        .eventually(
            Some(&old_token),
            &service.url("/me"),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_eq!(service.get(&old_url).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        service.get_as(&new_token, "/me").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn invoices_answer_cors_to_the_storefront_only() {
    let service = start().await;
    let orders = service.alice_orders().await;
    let path = format!("/invoices/{}", orders[0]["id"]);
    let url = service.grant(&service.key, &path, "1", now_s() + 60);

    let from = |origin: &'static str, url: String| {
        let client = &service.client;
        async move {
            client
                .get(url)
                .header("origin", origin)
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = from(STOREFRONT, url.clone()).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["access-control-allow-origin"], STOREFRONT);
    assert_eq!(
        allowed.headers()["access-control-expose-headers"],
        "Content-Disposition"
    );
    assert_eq!(allowed.headers()["vary"], "Origin");
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    // The page can read why a link failed.
    let expired = from(
        STOREFRONT,
        service.grant(&service.key, &path, "1", now_s() - 1),
    )
    .await;
    assert_eq!(expired.status(), StatusCode::GONE);
    assert_eq!(expired.headers()["access-control-allow-origin"], STOREFRONT);
    let forged = from(STOREFRONT, url.replace("user=1", "user=2")).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(forged.headers()["access-control-allow-origin"], STOREFRONT);

    let foreign = from("http://evil.example", url.clone()).await;
    assert_eq!(
        foreign.status(),
        StatusCode::OK,
        "CORS is for browsers to enforce"
    );
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(foreign.headers()["vary"], "Origin");

    let preflight = service
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", STOREFRONT)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        STOREFRONT
    );
    assert_eq!(preflight.headers()["access-control-allow-methods"], "GET");

    // The BFF's routes are not for pages.
    let me = service
        .client
        .get(service.url("/me"))
        .header("origin", STOREFRONT)
        .send()
        .await
        .unwrap();
    assert!(me.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn accounts_obeys_faults_but_its_admin_and_health_do_not() {
    let service = start().await;
    let admin = Admin::new(&service.client, service.addr);
    let alice = token_for(&service.key, "1");
    assert_eq!(
        admin
            .put(serde_json::to_value(Faults::failing(503)).unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let (status, body) = service.json_as(&alice, "/me").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "injected_fault");
    let health = service.get(&service.url("/healthz")).await;
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["service"], "accounts");
    assert_eq!(admin.reset().await, StatusCode::OK);
    assert_eq!(service.get_as(&alice, "/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_demo_runs_accounts_with_a_key_ring_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    let names: Vec<&str> = demo.upstreams().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "catalog",
            "inventory",
            "reviews",
            "recommendations",
            "accounts"
        ]
    );
    assert_eq!(demo.keys_dir(), dir.path().join("keys"));
    let key = SigningKey::read_from(&demo.keys_dir, DEMO_KID).unwrap();
    let base = format!("http://{}", demo.accounts.addr);
    let me = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth(token_for(&key, "2"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"], "bob");

    // Any loopback page may read invoices: the test storefronts run on ephemeral ports.
    let orders: Value = reqwest::Client::new()
        .get(format!("{base}/me/orders"))
        .bearer_auth(token_for(&key, "2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/invoices/{}", orders["items"][0]["id"]);
    let exp = now_s() + 60;
    let url = grant_url(
        &base,
        &path,
        "2",
        exp,
        DEMO_KID,
        &key.sign_grant("GET", &path, exp, "2"),
    );
    let invoice = reqwest::Client::new()
        .get(url)
        .header("origin", "http://127.0.0.1:41234")
        .send()
        .await
        .unwrap();
    assert_eq!(invoice.status(), StatusCode::OK);
    assert_eq!(
        invoice.headers()["access-control-allow-origin"],
        "http://127.0.0.1:41234"
    );

    // A second start on the same folder keeps the ring it found.
    let pem = std::fs::read_to_string(demo.keys_dir.join("demo-1.pub")).unwrap();
    let again = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(again.keys_dir.join("demo-1.pub")).unwrap(),
        pem
    );
}
