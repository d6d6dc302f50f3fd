//! The catalog service over real HTTP against a real SQLite file in a temp dir.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tessera_services::catalog::Catalog;
use tessera_services::{FaultSwitch, Scale};

struct Running {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let catalog = tokio::task::spawn_blocking(move || Catalog::open(&path, Scale::SMALL))
        .await
        .unwrap()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = catalog.router(FaultSwitch::default());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running { addr, _dir: dir }
}

async fn get(url: String) -> (StatusCode, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.json().await.unwrap())
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
    let url = format!("http://{}/products/5", s.addr);
    let first = client.get(&url).send().await.unwrap();
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = first.headers()["etag"].clone();
    let again = client
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag);

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
    let admin = format!("http://{}/admin/faults", s.addr);
    let product = format!("http://{}/products/1", s.addr);

    let set = client
        .put(&admin)
        .json(&serde_json::json!({"latency_ms": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let started = Instant::now();
    assert_eq!(
        client.get(&product).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    client
        .put(&admin)
        .json(&serde_json::json!({"error_rate": 1.0, "error_status": 503}))
        .send()
        .await
        .unwrap();
    let failed = client.get(&product).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "injected_fault");
    // Admin and health routes are never faulted.
    let current: serde_json::Value = client
        .get(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["error_rate"], 1.0);

    client
        .put(&admin)
        .json(&serde_json::json!({"hang": true}))
        .send()
        .await
        .unwrap();
    let hung = client
        .get(&product)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());

    let reset = client.delete(&admin).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(
        client.get(&product).send().await.unwrap().status(),
        StatusCode::OK
    );

    let invalid = client
        .put(&admin)
        .json(&serde_json::json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let garbage = client
        .put(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
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
