//! What an operator sees (issue 16): request and part metrics per route, view and part, the
//! rendered-view cache, open streams and the process's own figures — every series the
//! configuration implies from the start.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::{config, demo_with_bff, start_bff};
use tessera_services::Faults;
use tessera_testkit::config::refused_url;
use tessera_testkit::http::{get_text, post_json};

/// The value of one series, or `None`.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(bff: std::net::SocketAddr) -> String {
    get_text(format!("http://{bff}/metrics")).await
}

#[tokio::test]
async fn a_fresh_bff_lists_every_request_and_part_series_at_zero() {
    let upstreams: Vec<(&str, String)> = ["catalog", "inventory", "reviews", "recommendations"]
        .into_iter()
        .map(|name| (name, refused_url()))
        .collect();
    let bff = start_bff(&config(&upstreams, None)).await;
    let text = metrics(bff).await;
    for series in [
        r#"tessera_http_requests_total{route="view",name="product",class="2xx"}"#,
        r#"tessera_http_requests_total{route="part",name="home",class="5xx"}"#,
        r#"tessera_http_requests_total{route="action",name="review",class="4xx"}"#,
        r#"tessera_http_requests_total{route="media",name="images",class="3xx"}"#,
        r#"tessera_http_request_duration_seconds_count{route="view",name="category"}"#,
        r#"tessera_part_outcomes_total{part="product.summary",status="ok"}"#,
        r#"tessera_part_outcomes_total{part="home.picks",status="partial"}"#,
        r#"tessera_part_duration_seconds_count{part="category.stock"}"#,
        r#"tessera_rendered_view_hits_total{view="home"}"#,
        "tessera_http_streams_open",
        r#"tessera_cache_entries{layer="parts"}"#,
        r#"tessera_cache_entries{layer="rendered"}"#,
        r#"tessera_cache_weight_bytes{layer="parts"}"#,
        r#"tessera_cache_weight_bytes{layer="rendered"}"#,
        "tessera_cache_drops_remembered",
    ] {
        assert_eq!(value(&text, series), Some(0.0), "{series} in\n{text}");
    }
    // This scrape is in flight while it is written.
    assert_eq!(value(&text, "tessera_http_requests_in_flight"), Some(1.0));
    let resident = value(&text, "tessera_process_resident_memory_bytes").unwrap();
    assert!(resident > 1e6, "{resident}");
    assert!(value(&text, "tessera_process_open_fds").unwrap() > 3.0);
    assert!(value(&text, "tessera_process_cpu_seconds").is_some());
}

#[tokio::test]
async fn drops_are_remembered_once_per_scope() {
    // Each review drops two scopes (config/tessera.toml: the product's reviews and the
    // summaries). However many reviews a product gets, the replica remembers those two.
    let (_services, bff) = demo_with_bff().await;
    let review = |product: u32, title: &str| {
        let url = format!("http://{bff}/api/actions/review/{product}");
        let body = serde_json::json!({"rating": 4, "title": title, "body": "Counted once.",
            "author": "Tess"});
        async move {
            let posted = post_json(&url, None, &body).await;
            assert!(posted.status().is_success(), "{}", posted.status());
        }
    };
    for n in 0..5 {
        review(7, &format!("Review {n}")).await;
    }
    let text = metrics(bff).await;
    assert_eq!(value(&text, "tessera_cache_drops_remembered"), Some(2.0));
    assert_eq!(
        value(&text, r#"tessera_cache_invalidations_total{origin="here"}"#),
        Some(10.0),
        "every drop applied\n{text}"
    );
    review(8, "Another product").await;
    assert_eq!(
        value(&metrics(bff).await, "tessera_cache_drops_remembered"),
        Some(3.0)
    );
}

#[tokio::test]
async fn requests_parts_rendered_views_and_streams_are_counted() {
    let (services, bff) = demo_with_bff().await;
    let url = format!("http://{bff}/api/views/product/7");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
    let unknown = reqwest::get(format!("http://{bff}/api/views/nonsense/7"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let text = metrics(bff).await;
    let count = |series: &str| value(&text, series).unwrap_or_else(|| panic!("{series}"));
    assert_eq!(
        count(r#"tessera_http_requests_total{route="view",name="product",class="2xx"}"#),
        2.0
    );
    // A name the configuration does not have mints no series of its own.
    assert_eq!(
        count(r#"tessera_http_requests_total{route="view",name="other",class="4xx"}"#),
        1.0
    );
    assert!(!text.contains("nonsense"));
    assert_eq!(
        count(r#"tessera_http_request_duration_seconds_count{route="view",name="product"}"#),
        2.0
    );
    // The cache holds the view's parts and the rendered view, each weighed.
    let parts = count(r#"tessera_cache_entries{layer="parts"}"#);
    assert!(parts >= 5.0, "the product view's cached parts: {parts}");
    assert_eq!(count(r#"tessera_cache_entries{layer="rendered"}"#), 1.0);
    assert!(count(r#"tessera_cache_weight_bytes{layer="parts"}"#) >= parts);
    assert!(count(r#"tessera_cache_weight_bytes{layer="rendered"}"#) > 100.0);
    // The second request was answered whole from the rendered view: the parts ran once.
    assert_eq!(
        count(r#"tessera_rendered_view_hits_total{view="product"}"#),
        1.0
    );
    assert_eq!(
        count(r#"tessera_part_outcomes_total{part="product.summary",status="ok"}"#),
        1.0
    );
    assert_eq!(
        count(r#"tessera_part_duration_seconds_count{part="product.reviews"}"#),
        1.0
    );

    // An open stream is counted until its body is gone (the reviews service holds it open).
    services.demo.reviews.faults.set(Faults {
        hang: true,
        ..Faults::default()
    });
    let stream = reqwest::get(format!("http://{bff}/api/views/product/8?stream"))
        .await
        .unwrap();
    assert_eq!(
        value(&metrics(bff).await, "tessera_http_streams_open"),
        Some(1.0)
    );
    drop(stream);
    // A client that gives up on a buffered view leaves the in-flight count too.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let gave_up = impatient
        .get(format!("http://{bff}/api/views/product/9"))
        .send();
    assert!(gave_up.await.is_err());
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let text = metrics(bff).await;
        let settled = value(&text, "tessera_http_streams_open") == Some(0.0)
            && value(&text, "tessera_http_requests_in_flight") == Some(1.0);
        if settled {
            break;
        }
        assert!(
            Instant::now() < until,
            "the stream and the request left:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary with `TESSERA_LOG_FORMAT=json`: one JSON object per line, and one access
/// line per request with its request id, route, view, status, time and a word per part.
#[tokio::test]
async fn json_logs_have_one_access_line_per_request() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera-bff"));
    command
        .env("TESSERA_LOG_FORMAT", "json")
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env("TESSERA_DIST_DIR", "/nonexistent")
        .env("RUST_LOG", "info")
        .env_remove("TESSERA_CONFIG");
    for name in ["CATALOG", "INVENTORY", "REVIEWS", "RECOMMENDATIONS"] {
        command.env(format!("TESSERA_UPSTREAM_{name}_URL"), refused_url());
    }
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the BFF starts");
        if let Some(addr) = line.strip_prefix("Tessera is running at http://") {
            break addr.to_owned();
        }
    };
    let response = reqwest::get(format!("http://{addr}/api/views/product/7"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let until = Instant::now() + Duration::from_secs(10);
    let access = loop {
        assert!(Instant::now() < until, "an access line");
        let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        if entry["target"] == "tessera_bff::access" && entry["route"] == "view" {
            break entry;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(access["request_id"], request_id);
    assert_eq!(access["name"], "product");
    assert_eq!(access["status"], 502);
    assert!(access["ms"].as_f64().unwrap() >= 0.0);
    let parts = access["parts"].as_str().unwrap();
    assert!(
        parts.contains("product:error") && parts.contains("reviews:error"),
        "{parts}"
    );
}

/// `/readyz` (issue 18): a replica is ready only once the views of `[warmup]` are in its cache,
/// or their deadline passed — never held out for good by a dead service.
#[tokio::test]
async fn a_replica_is_ready_once_its_warmup_views_are_cached() {
    let services = support::start_services().await;
    let demo = &services.demo;
    let readyz = async |bff: std::net::SocketAddr| {
        let response = reqwest::get(format!("http://{bff}/readyz")).await.unwrap();
        let status = response.status();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    let until_ready = async |bff| {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = readyz(bff).await;
            if status == StatusCode::OK {
                return body;
            }
            assert_eq!(body["status"], "warming");
            assert!(Instant::now() < until, "never ready: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    // A slow catalog: the warm-up takes a while, and the replica says so meanwhile.
    demo.catalog.faults.set(Faults::slowed(300));
    let mut warm = config(&demo.upstreams(), None);
    warm.warmup
        .views
        .insert("product".into(), vec!["1".into(), "2".into(), "3".into()]);
    warm.warmup.concurrency = 1;
    let bff = start_bff(&warm).await;
    let (status, body) = readyz(bff).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["of"], 3);
    let body = until_ready(bff).await;
    assert_eq!(
        (&body["status"], &body["warmed"]),
        (&"ready".into(), &3.into())
    );
    let misses = r#"tessera_cache_events_total{part="product.product",event="miss"}"#;
    assert_eq!(value(&metrics(bff).await, misses), Some(3.0));
    // A warmed view costs the services nothing: no new miss.
    demo.catalog.faults.set(Faults::default());
    let view = reqwest::get(format!("http://{bff}/api/views/product/2"))
        .await
        .unwrap();
    assert_eq!(view.status(), StatusCode::OK);
    assert_eq!(value(&metrics(bff).await, misses), Some(3.0));

    // A hanging catalog: ready anyway once the warm-up's deadline passes.
    demo.catalog.faults.set(Faults {
        hang: true,
        ..Faults::default()
    });
    let mut stuck = warm.clone();
    stuck.warmup.timeout_ms = 300;
    let bff = start_bff(&stuck).await;
    let body = until_ready(bff).await;
    assert!(body["warmed"].as_u64().unwrap() < 3, "{body}");
    // Without a warm-up a replica is ready at once.
    let plain = start_bff(&config(&demo.upstreams(), None)).await;
    assert_eq!(readyz(plain).await.0, StatusCode::OK);
}
