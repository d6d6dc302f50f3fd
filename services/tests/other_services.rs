//! Inventory, reviews and recommendations over real HTTP, each on a real SQLite file.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use reqwest::StatusCode;
use support::{Admin, Running, assert_revalidates, get};
use tessera_services::reviews::{NewReview, Reviews};
use tessera_services::{Scale, inventory::Inventory, recommendations::Recommendations};
use tessera_testkit::http::post_json;

async fn inventory() -> Running {
    support::start("inventory.db", Inventory::open, Inventory::router).await
}

async fn reviews() -> Running {
    support::start("reviews.db", Reviews::open, Reviews::router).await
}

async fn recommendations() -> Running {
    support::start("recs.db", Recommendations::open, Recommendations::router).await
}

#[tokio::test]
async fn inventory_prices_stock_and_batches() {
    let service = inventory().await;
    let addr = service.addr;

    let (status, stock) = get(format!("http://{addr}/products/3/stock")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stock["currency"], "EUR");
    assert!(stock["price_cents"].as_i64().unwrap() > 0);
    assert!(["in_stock", "low", "out_of_stock"].contains(&stock["availability"].as_str().unwrap()));

    let (status, batch) = get(format!("http://{addr}/stock?ids=1,2,2,99999")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> = batch["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "duplicates dropped, unknown ids absent");

    let too_many = (1..=101)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    for bad in ["ids=", "ids=1,x", &format!("ids={too_many}"), "id=1"] {
        let (status, body) = get(format!("http://{addr}/stock?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (status, _) = get(format!("http://{addr}/products/99999/stock")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reviews_page_newest_first_and_writes_update_the_summary() {
    let service = reviews().await;
    let addr = service.addr;
    let client = reqwest::Client::new();

    // The product with the most reviews, found through the summaries.
    let mut busiest = (0, 0);
    for id in 1..=240 {
        let (_, s) = get(format!("http://{addr}/products/{id}/summary")).await;
        let count = s["count"].as_i64().unwrap();
        if count > busiest.1 {
            busiest = (id, count);
        }
    }
    let (id, count) = busiest;
    assert!(count > 20, "the seed has a long tail: {count}");

    let (status, page) = get(format!("http://{addr}/products/{id}/reviews?per_page=5")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], count);
    let dates: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created_at"].as_i64().unwrap())
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );

    let created = post_json(&format!("http://{addr}/products/{id}/reviews"), None, &serde_json::json!({"rating": 1, "title": "Broke", "body": "It broke on day one.", "author": "Test"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    let (_, summary) = get(format!("http://{addr}/products/{id}/summary")).await;
    assert_eq!(summary["count"], count + 1);
    assert_eq!(
        summary["worst"]["id"], created["id"],
        "the newest 1-star review is the worst"
    );
    let (_, page) = get(format!("http://{addr}/products/{id}/reviews?per_page=1")).await;
    assert_eq!(page["items"][0]["id"], created["id"]);

    // The batch of ratings for a grid agrees with the summary, new review included.
    let (status, ratings) = get(format!("http://{addr}/summaries?ids={id},{id},99999")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ratings["items"],
        serde_json::json!([{"product_id": id, "count": count + 1, "average": summary["average"]}]),
        "duplicates dropped, unknown ids absent"
    );
    for bad in ["ids=", "ids=1,x", "id=1"] {
        let (status, body) = get(format!("http://{addr}/summaries?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["code"], "bad_request");
    }

    for (body, field) in [
        (
            serde_json::json!({"rating": 6, "title": "t", "body": "b", "author": "a"}),
            "rating",
        ),
        (
            serde_json::json!({"rating": 3, "title": "", "body": "b", "author": "a"}),
            "title",
        ),
        (
            serde_json::json!({"rating": 3, "title": "t", "body": "b".repeat(4001), "author": "a"}),
            "body",
        ),
        (
            serde_json::json!({"rating": 3, "title": "t", "body": "b"}),
            "author",
        ),
        (
            serde_json::json!({"rating": 3, "title": "t", "body": "b", "author": "a", "admin": true}),
            "admin",
        ),
    ] {
        let response =
            post_json(&format!("http://{addr}/products/{id}/reviews"), None, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    let huge = client
        .post(format!("http://{addr}/products/{id}/reviews"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"rating\": 3, \"title\": \"t\", \"author\": \"a\", \"body\": \"{}\"}}",
            "x".repeat(20_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: serde_json::Value = huge.json().await.unwrap();
    assert_eq!(error["error"]["code"], "payload_too_large");
    let wrong_type = client
        .post(format!("http://{addr}/products/{id}/reviews"))
        .body("rating=3")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown = post_json(
        &format!("http://{addr}/products/99999/reviews"),
        None,
        &serde_json::json!({"rating": 3, "title": "t", "body": "b", "author": "a"}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn recommendations_are_related_and_bounded() {
    let service = recommendations().await;
    let addr = service.addr;

    let (status, body) = get(format!("http://{addr}/products/10/recommendations?limit=8")).await;
    assert_eq!(status, StatusCode::OK);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    assert!(
        items.iter().all(|i| i["id"] != 10),
        "never recommends itself"
    );
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    let (status, body) = get(format!("http://{addr}/categories/kitchen/recommendations")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["category"] == "kitchen")
    );

    let (status, _) = get(format!("http://{addr}/categories/nope/recommendations")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(format!(
        "http://{addr}/products/10/recommendations?limit=50"
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// After any sequence of review writes, every product's materialized summary equals the
    /// aggregate computed from the reviews table.
    #[test]
    fn the_summary_always_equals_the_aggregate(
        writes in prop::collection::vec((1i64..=12, 1i64..=5), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let reviews = Reviews::open(&dir.path().join("r.db"), Scale { products: 12 }).unwrap();
            for (product, rating) in &writes {
                let review = NewReview {
                    rating: *rating,
                    title: "t".into(),
                    body: "b".into(),
                    author: "a".into(),
                };
                reviews.add(*product, review).await.unwrap().unwrap();
            }
            for product in 1..=12 {
                let materialized = reviews.summary(product).await.unwrap().unwrap();
                let scanned = reviews.summary_by_scan(product).await.unwrap();
                assert_eq!(materialized, scanned, "product {product}");
            }
        });
    }
}

/// One conditional GET and the whole fault-injection cycle against a running service: the
/// shared middleware must be wired into every service, not only the catalog.
async fn assert_etag_and_faults(service: &str, addr: SocketAddr, path: &str) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{path}");
    let admin = Admin::new(&client, addr);

    assert_revalidates(&client, &url, service).await;
    let other = client
        .get(&url)
        .header("if-none-match", "\"not-the-etag\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK, "{service}");

    assert_eq!(
        admin
            .put(serde_json::json!({"latency_ms": 250}))
            .await
            .status(),
        StatusCode::OK
    );
    let started = Instant::now();
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(250), "{service}");

    admin
        .put(serde_json::json!({"error_rate": 1.0, "error_status": 502}))
        .await;
    let failed = client.get(&url).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY, "{service}");
    let body: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "injected_fault", "{service}");

    // A partial error rate fails some requests and not others (200 draws at 0.5: the chance of
    // fewer than 40 of either kind is below 1e-17).
    admin.put(serde_json::json!({"error_rate": 0.5})).await;
    let mut failures = 0;
    for _ in 0..200 {
        if client.get(&url).send().await.unwrap().status() != StatusCode::OK {
            failures += 1;
        }
    }
    assert!(
        (40..=160).contains(&failures),
        "{service}: {failures} of 200 failed"
    );

    admin.put(serde_json::json!({"hang": true})).await;
    let hung = client
        .get(&url)
        .timeout(Duration::from_millis(400))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout(), "{service}");
    // The admin route itself is never faulted, so a hung service can still be healed.
    assert_eq!(admin.current().await["hang"], true, "{service}");

    // A cut connection: the head comes, the body never does, and its read fails (at once,
    // not at the client's timeout).
    let set = admin.put(serde_json::json!({"reset_rate": 1.0})).await;
    assert_eq!(set.status(), StatusCode::OK, "{service}");
    let cut = client
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(cut.status(), StatusCode::OK, "{service}: the head is sent");
    let body = cut.bytes().await;
    let error = body.expect_err("a cut answer must not read as whole");
    assert!(!error.is_timeout(), "{service}: {error}");
    let refused = admin.put(serde_json::json!({"reset_rate": 2.0})).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{service}");

    assert_eq!(admin.reset().await, StatusCode::OK);
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn inventory_reviews_and_recommendations_answer_304_and_obey_faults() {
    let services = [
        ("inventory", inventory().await, "/products/7/stock"),
        ("reviews", reviews().await, "/products/7/summary"),
        (
            "recommendations",
            recommendations().await,
            "/products/7/recommendations",
        ),
    ];
    for (service, running, path) in &services {
        assert_etag_and_faults(service, running.addr, path).await;
    }
}
