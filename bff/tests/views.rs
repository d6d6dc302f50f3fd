//! The demo's views through the real BFF and the four real demo services over HTTP.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::{config, demo_with_bff, start_bff};
use tessera_contract::{ErrorBody, PartStatus, ViewEnvelope};
use tessera_services::Faults;
use tessera_testkit::config::refused_url;
use tessera_testkit::http::{assert_not_modified, get_json, post_json};

#[tokio::test]
async fn the_product_view_composes_all_four_services() {
    let (services, bff) = demo_with_bff().await;
    let demo = &services.demo;

    let expected: serde_json::Value = get_json(format!("http://{}/products/7", demo.catalog.addr))
        .await
        .1;
    let response = reqwest::get(format!("http://{bff}/api/views/product/7"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let envelope: ViewEnvelope = response.json().await.unwrap();
    assert!(envelope.complete, "{envelope:?}");
    for part in [
        "product",
        "stock",
        "summary",
        "reviews",
        "recommendations",
        "category_picks",
    ] {
        assert_eq!(envelope.parts[part].status, PartStatus::Ok, "{part}");
    }
    assert_eq!(envelope.data("product").unwrap()["name"], expected["name"]);
    assert_eq!(envelope.data("stock").unwrap()["product_id"], 7);
    // The dependent part read the product's category (whose id the page's shaping drops).
    let category = expected["category"]["slug"].as_str().unwrap();
    assert!(
        envelope.data("product").unwrap()["category"]
            .get("id")
            .is_none()
    );
    let picks = envelope.data("category_picks").unwrap()["items"]
        .as_array()
        .unwrap();
    assert!(!picks.is_empty());
    for pick in picks {
        let url = format!("http://{}/products/{}", demo.catalog.addr, pick["id"]);
        let product: serde_json::Value = get_json(url).await.1;
        assert_eq!(product["category"]["slug"], category, "{pick}");
    }
}

#[tokio::test]
async fn the_home_view_prices_every_product_on_the_page() {
    let (_services, bff) = demo_with_bff().await;

    let envelope: ViewEnvelope = get_json(format!("http://{bff}/api/views/home/2")).await.1;
    assert!(envelope.complete, "{envelope:?}");
    let ids = |part: &str, field: &str| ids_of(&envelope, part, field);
    let products = ids("products", "id");
    assert_eq!(products, (13..=24).collect::<Vec<_>>(), "page 2 of 12");
    assert_eq!(ids("stock", "product_id"), products);
    assert_eq!(ids("ratings", "product_id"), products);
    // Shaped for the page: the categories carry their slug, not the catalog's id.
    let categories = envelope.data("categories").unwrap()["items"]
        .as_array()
        .unwrap();
    assert!(!categories.is_empty());
    assert!(
        categories
            .iter()
            .all(|c| c["slug"].is_string() && c.get("id").is_none())
    );
    // One pick per product, in the grid's order (a call per product: no batch route).
    let picks = envelope.data("picks").unwrap().as_array().unwrap();
    assert_eq!(picks.len(), products.len());
    assert!(picks.iter().all(|p| p["name"].is_string()), "{picks:?}");
}

#[tokio::test]
async fn category_pages_and_review_pages_follow_the_page_parameter() {
    let (services, bff) = demo_with_bff().await;
    let demo = &services.demo;
    let categories: serde_json::Value =
        get_json(format!("http://{}/categories", demo.catalog.addr))
            .await
            .1;
    // The biggest category, so that it has a second page.
    let biggest = categories["items"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|c| c["product_count"].as_i64())
        .unwrap();
    assert!(biggest["product_count"].as_i64().unwrap() > 12, "{biggest}");
    let slug = biggest["slug"].as_str().unwrap().to_owned();

    let (status, first) =
        get_json::<ViewEnvelope>(format!("http://{bff}/api/views/category/{slug}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, second) =
        get_json::<ViewEnvelope>(format!("http://{bff}/api/views/category/{slug}?page=2")).await;
    let (page1, page2) = (
        ids_of(&first, "products", "id"),
        ids_of(&second, "products", "id"),
    );
    assert_eq!(page1.len(), 12);
    assert!(!page2.is_empty() && page2.iter().all(|id| !page1.contains(id)));
    assert_eq!(second.data("products").unwrap()["page"], 2);
    assert_eq!(ids_of(&second, "stock", "product_id"), page2);
    assert_eq!(ids_of(&second, "ratings", "product_id"), page2);
    // The rendered-view cache keeps pages apart.
    let (_, again) =
        get_json::<ViewEnvelope>(format!("http://{bff}/api/views/category/{slug}?page=2")).await;
    assert_eq!(ids_of(&again, "products", "id"), page2);

    let (status, body) = error_of(format!("http://{bff}/api/views/category/no-such-thing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:?}");
    for bad in ["0", "-1", "x", "1.5", "100001"] {
        let (status, body) =
            error_of(format!("http://{bff}/api/views/category/{slug}?page={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body.error.message.contains("?page="), "{body:?}");
        let (status, _) = error_of(format!(
            "http://{bff}/api/parts/product/reviews/7?page={bad}"
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // A tile pages on its own through the one-part endpoint.
    let review_ids = |page: u32| async move {
        let outcome: tessera_contract::PartOutcome = get_json(format!(
            "http://{bff}/api/parts/product/reviews/7?page={page}"
        ))
        .await
        .1;
        let data = outcome.data.unwrap();
        assert_eq!(data["page"], page);
        data["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let (one, two) = (review_ids(1).await, review_ids(2).await);
    assert_eq!(one.len(), 5);
    assert!(
        !two.is_empty() && two.iter().all(|id| !one.contains(id)),
        "{one:?} {two:?}"
    );
}

#[tokio::test]
async fn product_images_are_relayed_from_the_pages_own_origin() {
    let (services, bff) = demo_with_bff().await;
    let demo = &services.demo;
    let client = reqwest::Client::new();

    let direct = reqwest::get(format!("http://{}/images/7.svg", demo.catalog.addr))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let relayed = client
        .get(format!("http://{bff}/media/images/7.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), StatusCode::OK);
    let headers = relayed.headers().clone();
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(relayed.bytes().await.unwrap(), direct);
    if let Some(etag) = headers.get("etag") {
        let url = format!("http://{bff}/media/images/7.svg");
        assert_not_modified(&client, &url, etag).await;
    }

    for bad in [
        "..%2Fproducts%2F7",
        "7.html",
        "7",
        "%2e%2e.svg",
        "a%20b.svg",
        "7.svg%00",
    ] {
        bad_request(format!("http://{bff}/media/images/{bad}")).await;
    }
    let (status, _) = error_of(format!("http://{bff}/media/images/999999.svg")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = error_of(format!("http://{bff}/media/videos/7.svg")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The `field` of every item of a part's `items` list, as integers.
fn ids_of(envelope: &ViewEnvelope, part: &str, field: &str) -> Vec<i64> {
    envelope.data(part).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_i64().unwrap())
        .collect()
}

/// Asserts a JSON 400 with the code `bad_request`, and returns its body.
async fn bad_request(url: String) -> ErrorBody {
    let (status, body) = error_of(url.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
    assert_eq!(body.error.code, "bad_request", "{url}");
    body
}

async fn error_of(url: String) -> (StatusCode, ErrorBody) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn unknown_and_malformed_ids_get_json_errors() {
    let (_services, bff) = demo_with_bff().await;

    let (status, body) = error_of(format!("http://{bff}/api/views/product/999999")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body.error.code, "not_found");
    assert!(body.error.request_id.is_some());

    for malformed in [
        "abc",
        "-1",
        "0",
        "1.5",
        "1%2F2",
        "%F0%9F%92%A5",
        "12345678901234567890123",
    ] {
        let body = bad_request(format!("http://{bff}/api/views/product/{malformed}")).await;
        assert!(
            body.error.message.contains("malformed id"),
            "{}",
            body.error.message
        );
    }

    for (url, needle) in [
        ("views/nope/1", "nope"),
        ("parts/product/nope/1", "nope"),
        ("parts/nope/product/1", "nope"),
    ] {
        let (status, body) = error_of(format!("http://{bff}/api/{url}")).await;
        let expected = if url.starts_with("parts/product") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(status, expected, "{url}");
        assert!(body.error.message.contains(needle), "{url}: {body:?}");
    }
    let (status, _) = error_of(format!(
        "http://{bff}/api/views/product/1?parts=product,nope"
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = error_of(format!("http://{bff}/api/views/product/1?part=product")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown query keys are typos, not ignored"
    );

    let (status, _) = error_of(format!("http://{bff}/api/nothing-here")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_hung_catalog_costs_the_part_timeout_not_more() {
    let (services, bff) = demo_with_bff().await;
    services.demo.catalog.faults.set(Faults {
        hang: true,
        ..Faults::default()
    });

    let started = Instant::now();
    let response = reqwest::get(format!("http://{bff}/api/views/product/1"))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let envelope: ViewEnvelope = response.json().await.unwrap();
    let part = &envelope.parts["product"];
    assert_eq!(part.status, PartStatus::Timeout);
    assert!(!envelope.complete);
    // The part's timeout is 800 ms; generous slack for a loaded machine, but no hang.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(part.elapsed_ms >= 800, "{}", part.elapsed_ms);
    // The part that needs the product's category could not start, and fell back.
    assert_eq!(
        envelope.parts["category_picks"].status,
        PartStatus::Fallback
    );
    assert_eq!(
        envelope.parts["category_picks"]
            .error
            .as_ref()
            .unwrap()
            .code,
        "dependency_failed"
    );
    // The independent parts did not wait for the hung one.
    assert_eq!(envelope.parts["stock"].status, PartStatus::Ok);
    assert!(envelope.parts["stock"].elapsed_ms < 800);
}

#[tokio::test]
async fn failing_or_absent_upstreams_are_a_502_without_leaking_their_address() {
    let (services, bff) = demo_with_bff().await;
    let demo = &services.demo;
    demo.inventory.faults.set(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    });
    let response = reqwest::get(format!("http://{bff}/api/views/product/1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.unwrap();
    assert!(body.contains("\"status\":\"error\""), "{body}");
    assert!(!body.contains(&demo.inventory.addr.to_string()), "{body}");
    assert!(
        !body.contains("injected"),
        "upstream bodies must not leak: {body}"
    );

    // Nothing listens there any more.
    let mut upstreams = demo.upstreams().to_vec();
    let dead = refused_url();
    upstreams[0].1 = dead.clone();
    let bff = start_bff(&config(&upstreams, None)).await;
    let response = reqwest::get(format!("http://{bff}/api/views/product/1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.unwrap();
    // (The port alone could turn up inside a random request id.)
    let port = dead.rsplit(':').next().unwrap();
    assert!(!body.contains(&format!(":{port}")), "{body}");
    assert!(!body.contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn health_answers() {
    let (_services, bff) = demo_with_bff().await;
    let response = reqwest::get(format!("http://{bff}/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_review_written_through_the_bff_shows_in_the_cached_summary() {
    let (_services, bff) = demo_with_bff().await;
    let count =
        |envelope: &ViewEnvelope| envelope.data("summary").unwrap()["count"].as_i64().unwrap();
    let url = format!("http://{bff}/api/views/product/7");
    let before: ViewEnvelope = get_json(&url).await.1;
    let cached: ViewEnvelope = get_json(&url).await.1;
    assert_eq!(count(&before), count(&cached));

    let client = reqwest::Client::new();
    let review = serde_json::json!({"rating": 5, "title": "Lovely", "body": "Does the job.", "author": "Ada"});
    let created = post_json(&format!("http://{bff}/api/actions/review/7"), None, &review).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["title"], "Lovely");

    let after: ViewEnvelope = get_json(&url).await.1;
    assert_eq!(
        count(&after),
        count(&before) + 1,
        "the cached summary was dropped"
    );
    assert_eq!(
        after.data("reviews").unwrap()["items"][0]["id"],
        created["id"]
    );

    // Bad writes are 4xx with our JSON error shape, and change nothing.
    let post = |path: &str| client.post(format!("http://{bff}/api/actions/{path}"));
    let invalid = post("review/7")
        .json(&serde_json::json!({"rating": 9, "title": "t", "body": "b", "author": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = invalid.json().await.unwrap();
    assert!(body.error.message.contains("rating"), "{body:?}");
    let not_json = post("review/7")
        .header("content-type", "application/json")
        .body("{rating")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let wrong_type = post("review/7").body("rating=5").send().await.unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown_product = post("review/999999").json(&review).send().await.unwrap();
    assert_eq!(unknown_product.status(), StatusCode::NOT_FOUND);
    let unknown_action = post("delete-everything/7")
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_action.status(), StatusCode::NOT_FOUND);
    let huge = post("review/7")
        .header("content-type", "application/json")
        .body(format!("{{\"body\": \"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: ErrorBody = huge.json().await.unwrap();
    assert_eq!(body.error.code, "payload_too_large");
    let unchanged: ViewEnvelope = get_json(&url).await.1;
    assert_eq!(count(&unchanged), count(&after));
}
