//! Chaos at the upstream edge, against stub upstreams: every kind of misbehaviour for a critical
//! and an optional part, retries, the circuit breaker, the bulkhead, host ejection, and the
//! part cache (stale-if-error, stale-while-revalidate, coalesced misses, invalidation).

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::{config_from, start_bff};
use tessera_contract::{PartStatus, ViewEnvelope};
use tessera_testkit::config::{BffConfig, Part, refused_url};
use tessera_testkit::http::{get_text, post_json};
use tessera_testkit::stub::{Reply, Stub};
use tokio::time::Instant;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// A view `v` with a critical part `main` on `a` and an optional part `side` on `b`, each with a
/// 400 ms timeout. `extra` is appended (upstream settings, cache policies).
fn config(a: &str, b: &str, extra: &str) -> String {
    config_with(&format!("url = \"{a}\""), &format!("url = \"{b}\""), extra)
}

/// [`config`] with each upstream's own settings (its `url` or `urls` included).
fn config_with(a: &str, b: &str, extra: &str) -> String {
    BffConfig::new()
        .admin_token("s3cret")
        .upstream_with(
            "a",
            &format!("{a}\n[upstreams.a.retry]\nbackoff_ms = 10\nmax_backoff_ms = 20"),
        )
        .upstream_with("b", b)
        .view_with(
            "v",
            "budget_ms = 1500",
            [
                Part::new("main", "a", "/main/{id}", 400).critical(),
                Part::new("side", "b", "/side/{id}", 400),
            ],
        )
        .raw(extra)
        .toml()
}

async fn view(bff: std::net::SocketAddr) -> (StatusCode, ViewEnvelope, Duration) {
    let started = Instant::now();
    let response = reqwest::get(format!("http://{bff}/api/views/v/1"))
        .await
        .unwrap();
    let status = response.status();
    let envelope = response.json().await.unwrap();
    (status, envelope, started.elapsed())
}

fn ok() -> Reply {
    Reply::json(json!({"fine": true}))
}

#[tokio::test]
async fn every_fault_costs_only_its_own_part_within_its_deadline() {
    let faults: Vec<(&str, Reply, PartStatus, &str)> = vec![
        ("hang", Reply::hang(), PartStatus::Timeout, "timeout"),
        (
            "slow",
            ok().after(MS(2_000)),
            PartStatus::Timeout,
            "timeout",
        ),
        (
            "503",
            Reply::status(503),
            PartStatus::Error,
            "upstream_status",
        ),
        (
            "reset mid-body",
            Reply::reset_mid_body(json!({"a": "b".repeat(1000)})),
            PartStatus::Error,
            "unavailable",
        ),
        (
            "garbage",
            Reply::raw("<html>oops"),
            PartStatus::Error,
            "bad_upstream_response",
        ),
        (
            "over the size limit",
            Reply::raw(format!("\"{}\"", "x".repeat(5 * 1024 * 1024))),
            PartStatus::Error,
            "bad_upstream_response",
        ),
    ];
    for (name, reply, part_status, code) in faults {
        for critical in [true, false] {
            let (good, bad) = (Stub::start().await, Stub::start().await);
            good.on("/main/1", ok()).on("/side/1", ok());
            bad.on("/main/1", reply.clone())
                .on("/side/1", reply.clone());
            let (a, b) = if critical {
                (bad.url(), good.url())
            } else {
                (good.url(), bad.url())
            };
            let bff = start_bff(&config_from(&config(&a, &b, ""))).await;
            let (status, envelope, elapsed) = view(bff).await;
            let (faulty, healthy) = if critical {
                ("main", "side")
            } else {
                ("side", "main")
            };
            let expected = match (critical, part_status) {
                (false, _) => StatusCode::OK,
                (true, PartStatus::Timeout) => StatusCode::GATEWAY_TIMEOUT,
                (true, _) => StatusCode::BAD_GATEWAY,
            };
            let context = format!("{name}, critical={critical}: {envelope:?}");
            assert_eq!(status, expected, "{context}");
            assert_eq!(envelope.parts[faulty].status, part_status, "{context}");
            assert_eq!(
                envelope.parts[faulty].error.as_ref().unwrap().code,
                code,
                "{context}"
            );
            assert_eq!(envelope.parts[healthy].status, PartStatus::Ok, "{context}");
            assert!(elapsed < MS(1_400), "{context}: took {elapsed:?}");
        }
    }

    // Connection refused, for each side.
    for critical in [true, false] {
        let good = Stub::start().await;
        good.on("/main/1", ok()).on("/side/1", ok());
        let (a, b) = if critical {
            (refused_url(), good.url())
        } else {
            (good.url(), refused_url())
        };
        let bff = start_bff(&config_from(&config(&a, &b, ""))).await;
        let (status, envelope, _) = view(bff).await;
        let faulty = if critical { "main" } else { "side" };
        let expected = if critical {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected);
        assert_eq!(
            envelope.parts[faulty].error.as_ref().unwrap().code,
            "unavailable"
        );
    }
}

/// SECURITY: an upstream's redirect is its failure, not an address to follow: the BFF never
/// asks a host its configuration does not name (nor sends it the forwarded headers, the
/// request id and the trace context, or a write's body on a 307).
#[tokio::test]
async fn an_upstream_redirect_is_an_error_and_never_followed() {
    let (good, elsewhere) = (Stub::start().await, Stub::start().await);
    good.on("/side/1", ok());
    elsewhere.on("/main/1", ok());
    let redirecting = Stub::start().await;
    redirecting.on(
        "/main/1",
        Reply::status(302).header("location", &format!("{}/main/1", elsewhere.url())),
    );
    let bff = start_bff(&config_from(&config(&redirecting.url(), &good.url(), ""))).await;
    let (status, envelope, _) = view(bff).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{envelope:?}");
    let main = &envelope.parts["main"];
    assert_eq!(main.status, PartStatus::Error);
    assert_eq!(main.error.as_ref().unwrap().code, "upstream_status");
    assert_eq!(envelope.parts["side"].status, PartStatus::Ok);
    assert_eq!(redirecting.hits("/main"), 1, "asked once, not retried");
    assert_eq!(elsewhere.hits("/main"), 0, "the redirect was not followed");
}

#[tokio::test]
async fn a_flapping_upstream_is_retried_but_a_broken_one_is_not() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.script(
        "/main/1",
        vec![Reply::status(503), Reply::status(502), ok()],
    );
    b.on("/side/1", ok());
    let bff = start_bff(&config_from(&config(&a.url(), &b.url(), ""))).await;
    let (status, envelope, _) = view(bff).await;
    assert_eq!(status, StatusCode::OK, "{envelope:?}");
    assert_eq!(a.hits("/main"), 3, "two retries, then success");

    // A 500 is an answer, not a hiccup: no retry.
    a.on("/main/1", Reply::status(500));
    let (status, _, _) = view(bff).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(a.hits("/main"), 4);

    let metrics = get_text(format!("http://{bff}/metrics")).await;
    assert!(
        metrics.contains("tessera_upstream_retries_total{upstream=\"a\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("tessera_upstream_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn the_breaker_opens_answers_at_once_and_recovers() {
    let extra = "[upstreams.b.breaker]\nfailure_threshold = 3\nopen_ms = 400\n";
    let (_a, b, bff) = with_side(Reply::status(500), extra).await;
    for _ in 0..3 {
        let (_, envelope, _) = view(bff).await;
        assert_eq!(
            envelope.parts["side"].error.as_ref().unwrap().code,
            "upstream_status"
        );
    }
    let (status, envelope, _) = view(bff).await;
    assert_eq!(status, StatusCode::OK);
    let side = &envelope.parts["side"];
    assert_eq!(side.error.as_ref().unwrap().code, "circuit_open");
    assert!(
        side.elapsed_ms < 50,
        "an open circuit answers at once: {side:?}"
    );
    assert_eq!(
        b.hits("/side"),
        3,
        "nothing reached the upstream while open"
    );
    let metrics = get_text(format!("http://{bff}/metrics")).await;
    assert!(
        metrics.contains("tessera_upstream_breaker_state{upstream=\"b\"} 1"),
        "{metrics}"
    );

    // The service recovers; after the open period a probe gets through and closes the circuit.
    b.on("/side/1", ok());
    tokio::time::sleep(MS(450)).await;
    let (_, envelope, _) = view(bff).await;
    assert_eq!(envelope.parts["side"].status, PartStatus::Ok);
    let (_, envelope, _) = view(bff).await;
    assert_eq!(envelope.parts["side"].status, PartStatus::Ok);
    assert_eq!(b.hits("/side"), 5);
}

#[tokio::test]
async fn the_bulkhead_rejects_at_once_when_full() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/1", ok());
    b.on("/side/1", ok().after(MS(300)));
    let b_settings = format!("max_concurrency = 2\nurl = \"{}\"", b.url());
    let text = config_with(&format!("url = \"{}\"", a.url()), &b_settings, "");
    let bff = start_bff(&config_from(&text)).await;
    let requests = (0..5).map(|_| view(bff));
    let results = futures::future::join_all(requests).await;
    let codes: Vec<Option<String>> = results
        .iter()
        .map(|(_, e, _)| e.parts["side"].error.as_ref().map(|e| e.code.clone()))
        .collect();
    let rejected = codes
        .iter()
        .filter(|c| c.as_deref() == Some("overloaded"))
        .count();
    assert_eq!(rejected, 3, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 2);
    for (_, envelope, _) in &results {
        if envelope.parts["side"].error.is_some() {
            assert!(
                envelope.parts["side"].elapsed_ms < 100,
                "rejected, not queued"
            );
        }
    }
    assert_eq!(b.hits("/side"), 2);
}

#[tokio::test]
async fn a_failing_host_is_ejected_and_its_peers_take_the_traffic() {
    let (good, side) = (Stub::start().await, Stub::start().await);
    good.on("/main/1", ok());
    side.on("/side/1", ok());
    let a_settings = format!(
        "urls = [\"{}\", \"{}\"]\n[upstreams.a.ejection]\nconsecutive_failures = 1\neject_ms = 60000",
        refused_url(),
        good.url()
    );
    let text = config_with(&a_settings, &format!("url = \"{}\"", side.url()), "");
    let bff = start_bff(&config_from(&text)).await;
    for _ in 0..6 {
        let (status, envelope, _) = view(bff).await;
        assert_eq!(status, StatusCode::OK, "{envelope:?}");
    }
    assert_eq!(good.hits("/main"), 6);
}

/// Stub `a` answering `main` at once, stub `b` answering `side` with `reply`, and a BFF over
/// them configured with `extra`.
async fn with_side(reply: Reply, extra: &str) -> (Stub, Stub, std::net::SocketAddr) {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/main/1", ok());
    b.on("/side/1", reply);
    let bff = start_bff(&config_from(&config(&a.url(), &b.url(), extra))).await;
    (a, b, bff)
}

fn cached(ttl_ms: u64, swr_ms: u64, sie_ms: u64) -> String {
    format!(
        "[views.v.parts.side.cache]\nttl_ms = {ttl_ms}\nstale_while_revalidate_ms = {swr_ms}\nstale_if_error_ms = {sie_ms}\n"
    )
}

#[tokio::test]
async fn stale_data_stands_in_for_a_dead_upstream_with_its_age() {
    let (_a, b, bff) = with_side(Reply::json(json!({"version": 1})), &cached(100, 0, 60_000)).await;
    let (_, first, _) = view(bff).await;
    assert_eq!(first.parts["side"].status, PartStatus::Ok);
    let (_, again, _) = view(bff).await;
    assert_eq!(again.parts["side"].status, PartStatus::Ok, "a fresh hit");
    assert_eq!(b.hits("/side"), 1);

    b.on("/side/1", Reply::hang());
    tokio::time::sleep(MS(1_100)).await;
    let (status, envelope, elapsed) = view(bff).await;
    assert_eq!(status, StatusCode::OK);
    let side = &envelope.parts["side"];
    assert_eq!(side.status, PartStatus::Stale, "{side:?}");
    assert_eq!(side.data, Some(json!({"version": 1})));
    assert_eq!(side.age_s, Some(1));
    assert!(
        elapsed < MS(1_000),
        "waited for the part's deadline, not more"
    );
    assert!(!envelope.complete);

    b.on("/side/1", Reply::status(503));
    let (_, envelope, _) = view(bff).await;
    assert_eq!(envelope.parts["side"].status, PartStatus::Stale);

    // A redirect is no answer either (it is never followed).
    b.on(
        "/side/1",
        Reply::status(302).header("location", "http://127.0.0.1:9/side/1"),
    );
    let (_, envelope, _) = view(bff).await;
    assert_eq!(envelope.parts["side"].status, PartStatus::Stale);
}

#[tokio::test]
async fn stale_while_revalidate_serves_at_once_and_refreshes_once() {
    let (_a, b, bff) = with_side(Reply::json(json!({"version": 1})), &cached(400, 60_000, 0)).await;
    view(bff).await;
    b.on("/side/1", Reply::json(json!({"version": 2})).after(MS(200)));
    tokio::time::sleep(MS(450)).await;

    let stale_views = futures::future::join_all((0..5).map(|_| view(bff))).await;
    for (_, envelope, elapsed) in &stale_views {
        assert_eq!(envelope.parts["side"].status, PartStatus::Stale);
        assert_eq!(envelope.data("side").unwrap()["version"], 1);
        assert!(
            *elapsed < MS(150),
            "served at once, not after the 200 ms refresh"
        );
    }
    // The refresh lands 200 ms later; the entry is then fresh for 400 ms.
    tokio::time::sleep(MS(300)).await;
    let (_, envelope, _) = view(bff).await;
    assert_eq!(envelope.parts["side"].status, PartStatus::Ok);
    assert_eq!(envelope.data("side").unwrap()["version"], 2);
    assert_eq!(
        b.hits("/side"),
        2,
        "five stale reads, one background refresh"
    );
}

#[tokio::test]
async fn concurrent_identical_misses_reach_the_upstream_once() {
    let (_a, b, bff) = with_side(
        Reply::json(json!({"n": 1})).after(MS(200)),
        &cached(10_000, 0, 0),
    )
    .await;
    let results = futures::future::join_all((0..20).map(|_| view(bff))).await;
    for (status, envelope, _) in &results {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(envelope.parts["side"].status, PartStatus::Ok);
    }
    assert_eq!(b.hits("/side"), 1);
    let metrics = get_text(format!("http://{bff}/metrics")).await;
    assert!(
        metrics.contains("tessera_cache_events_total{part=\"v.side\",event=\"coalesced\"} 19"),
        "{metrics}"
    );
}

#[tokio::test]
async fn invalidation_needs_the_token_and_drops_entries() {
    let (a, b, bff) = with_side(Reply::json(json!({"n": 1})), &cached(60_000, 0, 0)).await;
    view(bff).await;
    view(bff).await;
    assert_eq!(b.hits("/side"), 1);

    let client = reqwest::Client::new();
    let url = format!("http://{bff}/admin/invalidate");
    let body = json!({"prefix": "b:/side/"});
    let denied = post_json(&url, None, &body).await;
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let wrong = post_json(&url, Some("guess"), &body).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let garbage = client
        .post(&url)
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body("{\"everything\": true}")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    // Targets that could never drop anything are refused, not answered "dropped".
    for pointless in [
        json!({"prefix": "b"}),
        json!({"prefix": "nowhere:/side/"}),
        json!({"prefix": "b:/side?x=1"}),
        json!({"key": "side"}),
    ] {
        let refused = post_json(&url, Some("s3cret"), &pointless).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{pointless}");
    }
    let done: serde_json::Value = post_json(&url, Some("s3cret"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["dropped"], body);
    assert_eq!(done["shared_cache"], "off");
    view(bff).await;
    assert_eq!(b.hits("/side"), 2, "the next read went to the upstream");

    // Without a token configured, the admin API does not exist.
    let open = start_bff(&config_from(
        &config(&a.url(), &b.url(), "").replace("token = \"s3cret\"", ""),
    ))
    .await;
    let response = post_json(&format!("http://{open}/admin/invalidate"), None, &body).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tiny_client_budgets_neither_open_the_breaker_nor_cut_shared_calls_short() {
    let extra = format!(
        "{}[upstreams.b.breaker]\nfailure_threshold = 2\nopen_ms = 60000\n",
        cached(60_000, 0, 0)
    );
    let (_a, b, bff) = with_side(Reply::json(json!({"n": 1})).after(MS(150)), &extra).await;
    let client = reqwest::Client::new();
    let hurried = (0..4).map(|_| {
        client
            .get(format!("http://{bff}/api/views/v/1"))
            .header("x-budget-ms", "5")
            .send()
    });
    for response in futures::future::join_all(hurried).await {
        let envelope: ViewEnvelope = response.unwrap().json().await.unwrap();
        assert_eq!(envelope.parts["side"].status, PartStatus::Timeout);
    }
    // The shared call went on with the part's own timeout and filled the cache; the circuit
    // stayed closed.
    tokio::time::sleep(MS(300)).await;
    let (status, envelope, _) = view(bff).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        envelope.parts["side"].status,
        PartStatus::Ok,
        "{envelope:?}"
    );
    assert_eq!(b.hits("/side"), 1);
}

#[tokio::test]
async fn no_store_answers_are_never_cached() {
    let (_a, b, bff) = with_side(
        Reply::json(json!({"n": 1})).header("cache-control", "no-store"),
        &cached(60_000, 0, 60_000),
    )
    .await;
    for _ in 0..3 {
        let (_, envelope, _) = view(bff).await;
        assert_eq!(envelope.parts["side"].status, PartStatus::Ok);
    }
    assert_eq!(b.hits("/side"), 3);
}

#[tokio::test]
async fn the_image_relay_passes_on_images_only_and_never_waits_past_its_timeout() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on("/img/json.png", Reply::json(json!({"not": "an image"})));
    a.on("/img/hung.png", Reply::hang());
    a.on("/img/broken.png", Reply::status(503));
    let extra = "[media.pictures]\nupstream = \"a\"\npath = \"/img/{file}\"\ntimeout_ms = 300\n";
    let bff = start_bff(&config_from(&config(&a.url(), &b.url(), extra))).await;

    for (file, status, code) in [
        ("json.png", StatusCode::BAD_GATEWAY, "bad_upstream_response"),
        ("hung.png", StatusCode::GATEWAY_TIMEOUT, "timeout"),
        ("broken.png", StatusCode::BAD_GATEWAY, "upstream_status"),
    ] {
        let started = Instant::now();
        let response = reqwest::get(format!("http://{bff}/media/pictures/{file}"))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{file}");
        assert!(
            started.elapsed() < MS(1_000),
            "{file}: {:?}",
            started.elapsed()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{file}");
        assert!(
            !body.to_string().contains(&a.addr().to_string()),
            "no upstream address leaks: {body}"
        );
    }
}

#[tokio::test]
async fn an_invalidation_overtaking_a_fill_keeps_its_answer_out_of_the_cache() {
    // The upstream answers version 1 slowly; it changes to version 2 while that answer is on
    // its way, and an invalidation says so.
    let (_a, b, bff) = with_side(
        Reply::json(json!({"version": 1})).after(MS(300)),
        &cached(60_000, 0, 0),
    )
    .await;
    let first = tokio::spawn(view(bff));
    b.wait_for(
        "/side",
        tessera_testkit::stub::EventKind::Started,
        MS(2_000),
    )
    .await;
    b.on("/side/1", Reply::json(json!({"version": 2})));
    let invalidated = post_json(
        &format!("http://{bff}/admin/invalidate"),
        Some("s3cret"),
        &json!({"prefix": "b:/side/"}),
    )
    .await;
    assert_eq!(invalidated.status(), StatusCode::OK);

    let (_, early, _) = first.await.unwrap();
    assert_eq!(
        early.data("side").unwrap()["version"],
        1,
        "the request that started before the invalidation gets what it asked for"
    );
    // ...but neither that answer nor the view made of it was kept.
    for _ in 0..2 {
        let (_, later, _) = view(bff).await;
        assert_eq!(later.data("side").unwrap()["version"], 2);
    }
    assert_eq!(
        b.hits("/side"),
        2,
        "one fill after the invalidation, then a hit"
    );
}
