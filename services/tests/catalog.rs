//! The catalog service over real HTTP against a real SQLite file in a temp dir.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::{Admin, Running, assert_revalidates, get};
use tessera_services::Scale;
use tessera_services::catalog::Catalog;

async fn start() -> Running {
    support::start("catalog.db", Catalog::open, Catalog::router).await
}

#[tokio::test]
async fn products_page_and_filter_by_category() {
    let s = start().await;
    let (status, page) = get(format!("http://{}/products?per_page=10&page=2", s.addr)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
    assert_eq!(page["items"][0]["id"], 11);
    assert_eq!(page["total"], 240);
    assert_eq!(page["total_pages"], 24);

    let (_, categories) = get(format!("http://{}/categories", s.addr)).await;
    let first = &categories["items"][0];
    let slug = first["slug"].as_str().unwrap();
    let (status, filtered) = get(format!(
        "http://{}/products?category={slug}&per_page=100",
        s.addr
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(filtered["total"], first["product_count"]);
    assert!(
        filtered["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["category"] == slug)
    );

    let (status, body) = get(format!("http://{}/products?category=no-such", s.addr)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn bad_input_gets_json_400_404_405() {
    let s = start().await;
    for bad in ["abc", "0", "-5"] {
        let (status, body) = get(format!("http://{}/products/{bad}", s.addr)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    for bad in ["page=0", "per_page=1000", "page=x", "sort=name"] {
        let (status, _) = get(format!("http://{}/products?{bad}", s.addr)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, body) = get(format!("http://{}/products/99999", s.addr)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let response = reqwest::Client::new()
        .delete(format!("http://{}/products/1", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn etags_answer_if_none_match_with_304() {
    let s = start().await;
    let client = reqwest::Client::new();
    assert_revalidates(&client, &format!("http://{}/products/5", s.addr), "catalog").await;

    let image = client
        .get(format!("http://{}/images/5.svg", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()["content-type"], "image/svg+xml");
    assert!(image.text().await.unwrap().starts_with("<svg"));
}

#[tokio::test]
async fn faults_add_latency_fail_and_hang() {
    let s = start().await;
    let client = reqwest::Client::new();
    let admin = Admin::new(&client, s.addr);
    let product = format!("http://{}/products/1", s.addr);

    let set = admin.put(serde_json::json!({"latency_ms": 300})).await;
    assert_eq!(set.status(), StatusCode::OK);
    let started = Instant::now();
    assert_eq!(
        client.get(&product).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    admin
        .put(serde_json::json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    let failed = client.get(&product).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "injected_fault");
    // Admin and health routes are never faulted.
    assert_eq!(admin.current().await["error_rate"], 1.0);

    admin.put(serde_json::json!({"hang": true})).await;
    let hung = client
        .get(&product)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());

    assert_eq!(admin.reset().await, StatusCode::OK);
    assert_eq!(
        client.get(&product).send().await.unwrap().status(),
        StatusCode::OK
    );

    let invalid = admin.put(serde_json::json!({"error_rate": 2.0})).await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let garbage = admin.put_raw("{not json").await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn seeding_is_deterministic_and_a_restart_reuses_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let names = |path: std::path::PathBuf| {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, name FROM products ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    };
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    Catalog::open(&a, Scale::SMALL).unwrap();
    Catalog::open(&b, Scale::SMALL).unwrap();
    assert_eq!(names(a.clone()), names(b));

    let conn = rusqlite::Connection::open(&a).unwrap();
    conn.execute("UPDATE products SET name = 'Renamed' WHERE id = 1", [])
        .unwrap();
    drop(conn);
    Catalog::open(&a, Scale::SMALL).unwrap();
    assert_eq!(
        names(a)[0].1,
        "Renamed",
        "the existing file is reused, not reseeded"
    );
}
