//! The product view through the real BFF and the real catalog service over HTTP.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::{config, start_bff, start_catalog};
use tessera_contract::{ErrorBody, PartStatus, ViewEnvelope};
use tessera_services::Faults;

#[tokio::test]
async fn the_product_view_carries_the_catalog_product() {
    let catalog = start_catalog().await;
    let bff = start_bff(&config(catalog.addr, None)).await;

    let expected: serde_json::Value = reqwest::get(format!("http://{}/products/7", catalog.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = reqwest::get(format!("http://{bff}/api/views/product/7"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let envelope: ViewEnvelope = response.json().await.unwrap();
    assert!(envelope.complete);
    assert_eq!(envelope.parts["product"].status, PartStatus::Ok);
    assert_eq!(envelope.data("product").unwrap()["name"], expected["name"]);
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
    let catalog = start_catalog().await;
    let bff = start_bff(&config(catalog.addr, None)).await;

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
        let (status, body) = error_of(format!("http://{bff}/api/views/product/{malformed}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{malformed}");
        assert_eq!(body.error.code, "bad_request");
        assert!(
            body.error.message.contains("malformed id"),
            "{}",
            body.error.message
        );
    }

    let (status, body) = error_of(format!("http://{bff}/api/views/nope/1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.error.message.contains("nope"));

    let (status, _) = error_of(format!("http://{bff}/api/nothing-here")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_hung_catalog_costs_the_part_timeout_not_more() {
    let catalog = start_catalog().await;
    let bff = start_bff(&config(catalog.addr, None)).await;
    catalog.faults.set(Faults {
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
}

#[tokio::test]
async fn failing_or_absent_catalog_is_a_502_without_leaking_its_address() {
    let catalog = start_catalog().await;
    let bff = start_bff(&config(catalog.addr, None)).await;
    catalog.faults.set(Faults {
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
    assert!(!body.contains(&catalog.addr.to_string()), "{body}");
    assert!(
        !body.contains("injected"),
        "upstream bodies must not leak: {body}"
    );

    // Nothing listens on this port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let bff = start_bff(&config(port, None)).await;
    let response = reqwest::get(format!("http://{bff}/api/views/product/1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.unwrap();
    assert!(!body.contains(&port.to_string()), "{body}");
}

#[tokio::test]
async fn health_answers() {
    let catalog = start_catalog().await;
    let bff = start_bff(&config(catalog.addr, None)).await;
    let response = reqwest::get(format!("http://{bff}/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
