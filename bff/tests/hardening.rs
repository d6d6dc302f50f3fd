//! Defects found by review and by hostile clients (issue 14), each pinned by a test that fails
//! without its fix. The item numbers are the issue's.

mod support;

use std::net::SocketAddr;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use support::{config_from, start_bff};
use tessera_contract::{ErrorBody, PartStatus, ViewEnvelope};
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::http::{assert_not_modified, get_json, get_with, post_json};
use tessera_testkit::stub::{EventKind, Reply, Stub};

/// A view `v` with a critical `main` part on `a` (cached for a minute) and an optional `side`
/// part on `b`; `extra` is appended.
async fn bff_over(a: &Stub, b: &Stub, side_path: &str, extra: &str) -> SocketAddr {
    let text = BffConfig::new()
        .upstream("a", &a.url())
        .upstream("b", &b.url())
        .view(
            "v",
            [
                Part::new("main", "a", "/main/{id}", 400)
                    .critical()
                    .cached(60_000, 0, 0),
                Part::new("side", "b", side_path, 400),
            ],
        )
        .raw(extra)
        .toml();
    start_bff(&config_from(&text)).await
}

/// Stubs answering `main` and `side` for `id` with small JSON bodies, and a BFF over them.
async fn answering(id: u32) -> (Stub, Stub, SocketAddr) {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on(&format!("/main/{id}"), Reply::json(json!({"id": id})));
    b.on(&format!("/side/{id}"), Reply::json(json!({})));
    let bff = bff_over(&a, &b, "/side/{id}", "").await;
    (a, b, bff)
}

async fn error_of(url: String) -> (StatusCode, ErrorBody) {
    get_json(url).await
}

/// Item 5: `07`, `+7` and ids past i64 would each be a cache key, a rendered view and an
/// invalidation target of their own; one id has one spelling.
#[tokio::test]
async fn integer_ids_have_one_spelling() {
    let (a, _b, bff) = answering(7).await;
    for spelling in [
        "07",
        "+7",
        "007",
        "9999999999999999999",
        "9223372036854775808",
    ] {
        let (status, body) = error_of(format!("http://{bff}/api/views/v/{spelling}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spelling}");
        assert_eq!(body.error.code, "bad_request", "{spelling}");
    }
    let (status, _) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/7")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        a.hits("/main/"),
        1,
        "only the one spelling reached the upstream"
    );
}

/// Item 5: a view kept as rendered must not answer a request the view itself would refuse.
#[tokio::test]
async fn a_rendered_copy_never_answers_a_request_the_view_refuses() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/1", Reply::json(json!({"id": 1})));
    b.on("/side/1", Reply::json(json!({})));
    // Both parts cached, so the whole view is kept as rendered.
    let side_cached = "[views.v.parts.side.cache]\nttl_ms = 60000\n";
    let bff = bff_over(&a, &b, "/side/{id}", side_cached).await;
    for _ in 0..2 {
        let (status, _) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/1")).await;
        assert_eq!(status, StatusCode::OK);
    }
    for parts in ["*", "nope", "main,nope"] {
        let (status, body) = error_of(format!("http://{bff}/api/views/v/1?parts={parts}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "?parts={parts}");
        assert!(body.error.message.contains("has no part"), "{body:?}");
    }
}

/// Item 6: an upstream's 400 for a value the client supplied is the client's error, not a
/// gateway failure.
#[tokio::test]
async fn an_upstream_refusing_the_clients_value_is_a_400_not_a_502() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/5", Reply::status(400));
    b.on("/side/5", Reply::status(422));
    let bff = bff_over(&a, &b, "/side/{id}", "").await;
    let (status, body) = error_of(format!("http://{bff}/api/views/v/5")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
    assert_eq!(body.error.code, "bad_request");
    let (status, _) = error_of(format!("http://{bff}/api/parts/v/side/5")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Refusals say nothing about the upstream's health: its breaker stays closed.
    let metrics = tessera_testkit::http::get_text(format!("http://{bff}/metrics")).await;
    assert!(
        metrics.contains("tessera_upstream_breaker_state{upstream=\"a\"} 0"),
        "{metrics}"
    );
}

/// Item 7: an upstream value `..` must not move the dependent request up a level.
#[tokio::test]
async fn dot_segments_in_upstream_data_never_reach_another_upstream_path() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/1", Reply::json(json!({"slug": ".."})));
    b.on("/recommendations", Reply::json(json!({"leaked": true})));
    let bff = bff_over(&a, &b, "/categories/{main.slug}/recommendations", "").await;
    let (status, envelope) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/1")).await;
    assert_eq!(status, StatusCode::OK);
    let side = &envelope.parts["side"];
    assert_eq!(side.status, PartStatus::Error, "{side:?}");
    assert_eq!(side.error.as_ref().unwrap().code, "dependency_failed");
    assert_eq!(b.hits("/"), 0, "nothing was asked of the other upstream");
}

/// Item 9: a timeout that came too soon to say anything (a client's tiny budget) is not
/// recorded — not as a failure, and not as a success that would keep a dead upstream's
/// breaker closed.
#[tokio::test]
async fn timeouts_too_short_to_judge_are_not_recorded_at_all() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/1", Reply::json(json!({"id": 1})));
    b.on("/side/1", Reply::hang());
    let extra = "[upstreams.b.breaker]\nfailure_threshold = 3\nopen_ms = 60000\n";
    let bff = bff_over(&a, &b, "/side/{id}", extra).await;
    let url = format!("http://{bff}/api/views/v/1");
    let side_code = |envelope: &ViewEnvelope| {
        envelope.parts["side"]
            .error
            .as_ref()
            .map(|e| e.code.clone())
    };
    for _ in 0..2 {
        let (_, envelope) = get_json::<ViewEnvelope>(url.clone()).await;
        assert_eq!(side_code(&envelope).as_deref(), Some("timeout"));
    }
    // Hurried clients: their side part times out after a few ms.
    for _ in 0..5 {
        let response = get_with(&url, &[("x-budget-ms", "5")]).await;
        assert!(response.status().is_success() || response.status().is_server_error());
    }
    // The third fair timeout opens the circuit: the hurried ones did not reset the count.
    let (_, envelope) = get_json::<ViewEnvelope>(url.clone()).await;
    assert_eq!(side_code(&envelope).as_deref(), Some("timeout"));
    let (_, envelope) = get_json::<ViewEnvelope>(url.clone()).await;
    assert_eq!(side_code(&envelope).as_deref(), Some("circuit_open"));
}

/// Item 17: a wrong method on any route gets the JSON error shape, not an empty 405.
#[tokio::test]
async fn wrong_methods_get_json_errors_everywhere() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    let bff = bff_over(&a, &b, "/side/{id}", "").await;
    for path in [
        "/healthz",
        "/metrics",
        "/media/pictures/1.svg",
        "/api/views/v/1",
    ] {
        let response = post_json(&format!("http://{bff}{path}"), None, &json!({})).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let body: ErrorBody = response.json().await.expect("a JSON error body");
        assert_eq!(body.error.code, "method_not_allowed", "{path}");
    }
}

/// Item 19: a view's 304 carries the `Vary` its 200 carried (RFC 9110 §15.4.5).
#[tokio::test]
async fn a_views_304_carries_the_vary_of_its_200() {
    let (_a, _b, bff) = answering(1).await;
    let url = format!("http://{bff}/api/views/v/1");
    let first = get_with(&url, &[("accept-encoding", "br")]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let vary = first.headers()["vary"].clone();
    assert!(
        vary.to_str().unwrap().contains("accept-encoding"),
        "{vary:?}"
    );
    let etag = first.headers()["etag"].clone();
    let again = assert_not_modified(&reqwest::Client::new(), &url, &etag).await;
    assert_eq!(again.headers().get("vary"), Some(&vary));
    assert_eq!(again.headers()["cache-control"], "no-cache");
}

/// Item 21: a fresh BFF's `/metrics` lists every configured upstream's and cached part's
/// series, at zero, before any request.
#[tokio::test]
async fn a_fresh_bff_exports_every_configured_series_at_zero() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    let bff = bff_over(&a, &b, "/side/{id}", "").await;
    let metrics = tessera_testkit::http::get_text(format!("http://{bff}/metrics")).await;
    for upstream in ["a", "b"] {
        for series in [
            format!("tessera_upstream_retries_total{{upstream=\"{upstream}\"}} 0"),
            format!("tessera_upstream_bulkhead_rejections_total{{upstream=\"{upstream}\"}} 0"),
            format!("tessera_upstream_requests_total{{upstream=\"{upstream}\",outcome=\"ok\"}} 0"),
            format!("tessera_upstream_request_duration_seconds_count{{upstream=\"{upstream}\"}} 0"),
            format!("tessera_upstream_breaker_state{{upstream=\"{upstream}\"}} 0"),
        ] {
            assert!(metrics.contains(&series), "{series} in\n{metrics}");
        }
    }
    for event in [
        "hit",
        "miss",
        "stale_while_revalidate",
        "stale_if_error",
        "coalesced",
    ] {
        let series = format!("tessera_cache_events_total{{part=\"v.main\",event=\"{event}\"}} 0");
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
    assert!(
        !metrics.contains("tessera_cache_events_total{part=\"v.side\""),
        "the uncached part has no cache series"
    );
}

/// Item 12: the image relay passes the client's validator on to the service, keeps the
/// service's `private`/`no-store`, and reports a service's 400 as the client's error.
#[tokio::test]
async fn the_image_relay_revalidates_upstream_and_keeps_private_images_private() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    let image = |cache: &str| {
        Reply::raw(b"\x89PNG pretend".to_vec())
            .header("content-type", "image/png")
            .header("etag", "\"v1\"")
            .header("cache-control", cache)
    };
    let not_modified = Reply {
        status: 304,
        ..Reply::raw(Vec::new())
    }
    .header("etag", "\"v1\"");
    a.script(
        "/img/pic.png",
        vec![image("public, max-age=60"), not_modified],
    );
    a.on("/img/mine.png", image("private, max-age=60"));
    a.on("/img/bad.png", Reply::status(400));
    let extra = "[media.pictures]\nupstream = \"a\"\npath = \"/img/{file}\"\n";
    let bff = bff_over(&a, &b, "/side/{id}", extra).await;

    let url = format!("http://{bff}/media/pictures/pic.png");
    let first = get_with(&url, &[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "public, max-age=60");
    let again = get_with(&url, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], "\"v1\"");
    let asked: Vec<Option<String>> = a
        .events()
        .into_iter()
        .filter(|e| e.target == "/img/pic.png" && e.kind == EventKind::Started)
        .map(|e| e.if_none_match)
        .collect();
    assert_eq!(
        asked,
        [None, Some("\"v1\"".to_owned())],
        "forwarded upstream"
    );

    let mine = get_with(&format!("http://{bff}/media/pictures/mine.png"), &[]).await;
    assert_eq!(mine.status(), StatusCode::OK);
    let cache_control = mine.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache_control.contains("no-store") && !cache_control.contains("public"),
        "{cache_control}"
    );

    let (status, body) = error_of(format!("http://{bff}/media/pictures/bad.png")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
}

/// Item 10: writes (and images) have their own breaker and bulkhead: a burst of failing writes
/// opens the circuit for writes only, never for the upstream's read parts.
#[tokio::test]
async fn failing_writes_never_open_the_circuit_for_reads() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/1", Reply::json(json!({"id": 1})));
    a.on("/write/1", Reply::status(500));
    b.on("/side/1", Reply::json(json!({})));
    let extra = "[upstreams.a.breaker]\nfailure_threshold = 2\nopen_ms = 60000\n\
                 [actions.note]\nupstream = \"a\"\npath = \"/write/{id}\"\n";
    let text = BffConfig::new()
        .upstream("a", &a.url())
        .upstream("b", &b.url())
        .view(
            "v",
            [
                Part::new("main", "a", "/main/{id}", 400).critical(),
                Part::new("side", "b", "/side/{id}", 400),
            ],
        )
        .raw(extra)
        .toml();
    let bff = start_bff(&config_from(&text)).await;
    let write = format!("http://{bff}/api/actions/note/1");
    for _ in 0..2 {
        let failed = post_json(&write, None, &json!({"text": "hi"})).await;
        assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    }
    let refused = post_json(&write, None, &json!({"text": "hi"})).await;
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    let body: ErrorBody = refused.json().await.unwrap();
    assert_eq!(
        body.error.code, "circuit_open",
        "the writes' circuit is open"
    );
    assert_eq!(a.hits("/write/1"), 2);

    let (status, envelope) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/1")).await;
    assert_eq!(status, StatusCode::OK, "{envelope:?}");
    assert_eq!(envelope.parts["main"].status, PartStatus::Ok);
}

/// Item 13: a client that sends half a request head is disconnected when the header read
/// timeout passes, while other requests are served meanwhile.
#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, b) = (Stub::start().await, Stub::start().await);
    let mut config = config_from(
        &BffConfig::new()
            .upstream("a", &a.url())
            .upstream("b", &b.url())
            .toml(),
    );
    config.server.header_read_timeout_ms = 300;
    let bff = start_bff(&config).await;

    let mut half_sent = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(bff).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        half_sent.push(stream);
    }
    let (status, _) = get_json::<serde_json::Value>(format!("http://{bff}/healthz")).await;
    assert_eq!(status, StatusCode::OK, "served while the others dawdle");

    for mut stream in half_sent {
        let mut buffer = [0u8; 512];
        // A bound so a regression fails instead of hanging; the configured timeout is 300 ms.
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer))
                .await
                .expect("the server closed the half-sent request");
        let closed = match read {
            Ok(0) | Err(_) => true,
            Ok(n) => String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 408"),
        };
        assert!(closed, "{read:?}");
    }
}

/// Item 14: a request head past `server.max_header_bytes` is a 431 with a JSON body.
#[tokio::test]
async fn oversized_request_heads_get_a_json_431() {
    let (_a, _b, bff) = answering(1).await;
    let huge = "x".repeat(200 * 1024);
    let response = get_with(&format!("http://{bff}/api/views/v/1"), &[("x-huge", &huge)]).await;
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: ErrorBody = response.json().await.expect("a JSON error body");
    assert_eq!(body.error.code, "headers_too_large");
    let fine = get_with(&format!("http://{bff}/api/views/v/1"), &[("x-small", "ok")]).await;
    assert_eq!(fine.status(), StatusCode::OK);
}

/// Like [`bff_over`], but with time for a slow `main` (5 s), whose side part is `/side/1`.
async fn bff_with_slow_main(a: &Stub, b: &Stub, extra: &str) -> SocketAddr {
    let text = BffConfig::new()
        .upstream("a", &a.url())
        .upstream("b", &b.url())
        .view_with(
            "v",
            "budget_ms = 6000",
            [
                Part::new("main", "a", "/main/{id}", 5_000)
                    .critical()
                    .cached(60_000, 0, 0),
                Part::new("side", "b", "/side/1", 400),
            ],
        )
        .raw(extra)
        .toml();
    start_bff(&config_from(&text)).await
}

/// Item 3: a drop is one record, not a scan, and thousands of drops of other keys during a
/// fill do not count as overtaking it (they did past 1,024: every fill was thrown away).
#[tokio::test]
async fn many_drops_of_other_keys_during_a_fill_keep_its_answer() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on(
        "/main/1",
        Reply::json(json!({"id": 1})).after(std::time::Duration::from_millis(4_000)),
    );
    b.on("/side/1", Reply::json(json!({})));
    let bff = bff_with_slow_main(&a, &b, "[admin]\ntoken = \"t\"").await;
    let url = format!("http://{bff}/api/views/v/1");
    let fill = tokio::spawn({
        let url = url.clone();
        async move { reqwest::get(url).await.unwrap().status() }
    });
    let started = a.wait_for(
        "/main/1",
        EventKind::Started,
        std::time::Duration::from_secs(5),
    );
    assert!(started.await.is_some(), "the fill began");
    let admin = format!("http://{bff}/admin/invalidate");
    // More than the 1,024 drops the cache used to remember.
    let drops = futures::stream::iter(0..1_100).map(|n| {
        let admin = admin.clone();
        async move {
            let body = json!({"prefix": format!("a:/main/{}/", n + 2)});
            post_json(&admin, Some("t"), &body).await.status()
        }
    });
    let statuses: Vec<StatusCode> = drops.buffer_unordered(16).collect().await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    assert!(!fill.is_finished(), "the drops were over before the fill");
    assert_eq!(fill.await.unwrap(), StatusCode::OK);
    let (status, _) = get_json::<ViewEnvelope>(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.hits("/main/1"), 1, "the fill's answer was kept");
}

/// Item 4: fills go on after their clients leave (to serve the next client), but only
/// `cache.max_detached_fills` of them; past that, a client going away drops its upstream call.
#[tokio::test]
async fn abandoned_fills_are_bounded() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    for id in 1..=6 {
        a.on(
            &format!("/main/{id}"),
            Reply::json(json!({"id": id})).after(std::time::Duration::from_millis(1_500)),
        );
    }
    b.on("/side/1", Reply::json(json!({})));
    let bff = bff_with_slow_main(&a, &b, "[cache]\nmax_detached_fills = 2").await;
    // Six clients, each for another id, each gone after 50 ms.
    for id in 1..=6 {
        let url = format!("http://{bff}/api/views/v/{id}");
        let response = get_with(&url, &[("x-budget-ms", "50")]).await;
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    }
    for id in 1..=6 {
        let target = format!("/main/{id}");
        let kind = if id <= 2 {
            EventKind::Answered
        } else {
            EventKind::ClientClosed
        };
        let seen = a.wait_for(&target, kind, std::time::Duration::from_secs(5));
        assert!(seen.await.is_some(), "{target}: {kind:?}");
    }
    let answered = a
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Answered)
        .count();
    assert_eq!(answered, 2, "only two fills outlived their clients");
    // What the detached fills fetched serves the next clients.
    let (status, envelope) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope.parts["main"].status, PartStatus::Ok);
    assert_eq!(a.hits("/main/1"), 1);
}

/// Item 8: a page past the end lists nothing, so the parts that map over its list have
/// nothing to ask for: an empty, successful result (the part's `empty`, else null), without
/// an upstream call — not `dependency_failed` ("prices unavailable" under an empty grid).
#[tokio::test]
async fn an_empty_list_is_an_empty_result_without_an_upstream_call() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/products/9", Reply::json(json!({"items": []})));
    let text = BffConfig::new()
        .upstream("a", &a.url())
        .upstream("b", &b.url())
        .view(
            "v",
            [
                Part::new("products", "a", "/products/{id}", 400).critical(),
                Part::new("stock", "b", "/stock?ids={products.items.*.id}", 400)
                    .cached(60_000, 0, 0)
                    .with("empty = { items = [] }"),
                Part::new("ratings", "b", "/ratings?ids={products.items.*.id}", 400),
            ],
        )
        .toml();
    let bff = start_bff(&config_from(&text)).await;
    let (status, envelope) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/9")).await;
    assert_eq!(status, StatusCode::OK, "{envelope:?}");
    assert_eq!(envelope.parts["stock"].status, PartStatus::Ok);
    assert_eq!(envelope.data("stock").unwrap(), &json!({"items": []}));
    assert_eq!(envelope.parts["ratings"].status, PartStatus::Ok);
    let ratings = envelope.parts["ratings"].data.as_ref();
    assert!(
        ratings.is_none_or(serde_json::Value::is_null),
        "{ratings:?}"
    );
    assert!(b.events().is_empty(), "no upstream call: {:?}", b.events());

    // A list that is not there at all is still the dependency's failure.
    a.on("/products/8", Reply::json(json!({"total": 0})));
    let (_, envelope) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/8")).await;
    assert_eq!(envelope.parts["stock"].status, PartStatus::Error);
    let error = envelope.parts["stock"].error.as_ref().unwrap();
    assert_eq!(error.code, "dependency_failed");
}
