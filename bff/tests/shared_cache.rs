//! Two BFF replicas sharing a real `redis-server` (started here on a free port): entries one
//! replica fetched serve the other, an invalidation on one reaches the other's local cache
//! through pub/sub, and Redis stopping mid-test fails no request.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::redis::Redis;
use support::{config_from, start_bff};
use tessera_contract::{PartStatus, ViewEnvelope};
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::http::{get_json, get_text, post_json};
use tessera_testkit::stub::{EventKind, Reply, Stub};
use tokio::time::Instant;

fn config(stub: &Stub, redis: &Redis) -> String {
    BffConfig::new()
        .admin_token("t")
        .redis(&redis.url())
        .upstream("s", &stub.url())
        .view(
            "v",
            [Part::new("main", "s", "/main/{id}", 500)
                .critical()
                .cached(60_000, 0, 600_000)],
        )
        .toml()
}

async fn view(bff: SocketAddr, id: u32) -> (StatusCode, ViewEnvelope) {
    let response = reqwest::get(format!("http://{bff}/api/views/v/{id}"))
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn health(bff: SocketAddr) -> String {
    let body: serde_json::Value = get_json(format!("http://{bff}/healthz")).await.1;
    body["shared_cache"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn replicas_share_entries_and_invalidations_and_survive_redis_stopping() {
    let mut redis = Redis::start().await;
    let stub = Stub::start().await;
    for id in 1..=3 {
        stub.on(&format!("/main/{id}"), Reply::json(json!({"id": id})));
    }
    let config = config_from(&config(&stub, &redis));
    let (one, two) = (start_bff(&config).await, start_bff(&config).await);
    let until = Instant::now() + Duration::from_secs(10);
    while redis.subscribers().await < 2 {
        assert!(
            Instant::now() < until,
            "both replicas subscribe to invalidations"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // What one replica fetched, the other serves from Redis.
    assert_eq!(view(one, 1).await.0, StatusCode::OK);
    let (status, envelope) = view(two, 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope.parts["main"].status, PartStatus::Ok);
    assert_eq!(
        stub.hits("/main/1"),
        1,
        "the second replica did not call the upstream"
    );
    assert_eq!(health(two).await, "up");

    // An invalidation on one replica drops the other's local copy (only pub/sub can do that:
    // replica two holds the entry in its own memory now).
    let dropped = post_json(
        &format!("http://{one}/admin/invalidate"),
        Some("t"),
        &json!({"prefix": "s:/main/1"}),
    )
    .await;
    assert_eq!(dropped.status(), StatusCode::OK);
    let until = Instant::now() + Duration::from_secs(5);
    while stub.hits("/main/1") < 2 {
        assert!(
            Instant::now() < until,
            "the invalidation reached replica two"
        );
        view(two, 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stub.hits("/main/1"), 2);

    // Redis goes away: cached reads, misses and invalidations all keep working.
    view(one, 2).await;
    redis.stop();
    for bff in [one, two] {
        let started = Instant::now();
        let (status, envelope) = view(bff, 2).await;
        assert_eq!(status, StatusCode::OK, "{envelope:?}");
        let (status, _) = view(bff, 3).await;
        assert_eq!(status, StatusCode::OK, "a miss goes to the upstream");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(health(bff).await, "down");
    }
    // A drop Redis cannot take is loud: a 503 to the admin, a metric; this replica's own
    // layers are dropped all the same.
    let invalidated = post_json(
        &format!("http://{one}/admin/invalidate"),
        Some("t"),
        &json!({"key": "s:/main/2"}),
    )
    .await;
    assert_eq!(invalidated.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error: serde_json::Value = invalidated.json().await.unwrap();
    assert_eq!(error["error"]["code"], "shared_cache_unavailable");
    let hits = stub.hits("/main/2");
    view(one, 2).await;
    assert_eq!(stub.hits("/main/2"), hits + 1, "dropped here");
    let metrics = get_text(format!("http://{one}/metrics")).await;
    assert!(metrics.contains("tessera_redis_up 0"), "{metrics}");
    assert!(
        metrics.contains("tessera_cache_invalidation_failures_total 1"),
        "{metrics}"
    );
}

/// The value of one series in a replica's `/metrics`.
async fn metric(bff: SocketAddr, series: &str) -> f64 {
    let text = get_text(format!("http://{bff}/metrics")).await;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

async fn wait_for_subscribers(redis: &Redis, count: i64) {
    let until = Instant::now() + Duration::from_secs(10);
    while redis.subscribers().await < count {
        assert!(
            Instant::now() < until,
            "replicas subscribe to invalidations"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const FROM_REPLICAS: &str = "tessera_cache_invalidations_total{origin=\"replica\"}";

/// Issue 14, item 1: with 200,000 unrelated keys in Redis (a drop used to scan them all, time
/// out, and leave the old entry there), a review posted through one replica shows in the next
/// read of the product view on every replica: one that only has Redis, the one that took the
/// write, and one that hears of it through pub/sub.
#[tokio::test]
async fn a_review_shows_on_every_replica_however_full_redis_is() {
    let redis = Redis::start().await;
    redis
        .command(&["DEBUG", "POPULATE", "200000", "unrelated"])
        .await;
    let services = support::start_services().await;
    let mut config = support::config(&services.demo.upstreams(), None);
    config.cache.redis_url = Some(redis.url());
    let (one, two) = (start_bff(&config).await, start_bff(&config).await);
    wait_for_subscribers(&redis, 2).await;
    let count = |bff: SocketAddr| async move {
        let url = format!("http://{bff}/api/views/product/7");
        let envelope: ViewEnvelope = get_json(url).await.1;
        envelope.data("summary").unwrap()["count"].as_i64().unwrap()
    };
    let before = count(one).await;
    assert_eq!(count(one).await, before);
    assert_eq!(count(two).await, before, "replica two holds the view too");
    let heard = metric(two, FROM_REPLICAS).await;

    let review = json!({"rating": 4, "title": "Good", "body": "Works well.", "author": "Lin"});
    let created = post_json(&format!("http://{one}/api/actions/review/7"), None, &review).await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let three = start_bff(&config).await;
    assert_eq!(
        count(three).await,
        before + 1,
        "Redis served a dropped entry"
    );
    assert_eq!(
        count(one).await,
        before + 1,
        "the replica that took the write"
    );
    let until = Instant::now() + Duration::from_secs(5);
    // The action drops two prefixes (the product's reviews, and the summaries).
    while metric(two, FROM_REPLICAS).await < heard + 2.0 {
        assert!(Instant::now() < until, "the drops reached replica two");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(count(two).await, before + 1, "the replica that heard of it");
}

/// Issue 14, item 2: a fill that began before a drop and ends after it, on a replica that
/// never heard of the drop, writes its answer to Redis late. That answer carries the
/// generations the drop retired, so no other replica serves it.
#[tokio::test]
async fn a_late_write_of_a_dropped_entry_is_never_served() {
    let redis = Redis::start().await;
    let stub = Stub::start().await;
    stub.script(
        "/main/1",
        vec![
            Reply::json(json!({"v": "old"})).after(Duration::from_millis(300)),
            Reply::json(json!({"v": "new"})),
        ],
    );
    let text = BffConfig::new()
        .admin_token("t")
        .redis(&redis.url())
        .upstream("s", &stub.url())
        .view(
            "v",
            [Part::new("main", "s", "/main/{id}", 1_500)
                .critical()
                .cached(60_000, 0, 0)],
        )
        .toml();
    let config = config_from(&text);
    let (one, two) = (start_bff(&config).await, start_bff(&config).await);
    wait_for_subscribers(&redis, 2).await;

    // Replica one stops hearing drops (it resubscribes half a second later), and begins a
    // slow fill; replica two drops the key meanwhile.
    redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    let fill = tokio::spawn(view(one, 1));
    let started = stub.wait_for("/main/1", EventKind::Started, Duration::from_secs(5));
    assert!(started.await.is_some());
    let dropped = post_json(
        &format!("http://{two}/admin/invalidate"),
        Some("t"),
        &json!({"key": "s:/main/1"}),
    )
    .await;
    assert_eq!(dropped.status(), StatusCode::OK);
    let (status, envelope) = fill.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        envelope.data("main").unwrap()["v"],
        "old",
        "begun before the drop"
    );

    // The late write lands in Redis...
    redis
        .wait_for_key(
            "tessera:cache:s:/main/1",
            "replica one wrote its fill to Redis",
        )
        .await;
    // ...and serves nobody.
    let three = start_bff(&config).await;
    let (status, envelope) = view(three, 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope.data("main").unwrap()["v"], "new");
}

/// Issue 14, item 15: a Redis that stops answering (DEBUG SLEEP: connected, silent) is skipped
/// after a few timeouts in a row, rather than waited for on every miss and store; `/healthz`
/// and `/metrics` say so, and it is used again once a probe answers.
#[tokio::test]
async fn a_silent_redis_is_skipped_until_a_probe_answers() {
    let redis = Redis::start().await;
    let stub = Stub::start().await;
    for id in 1..=30 {
        stub.on(&format!("/main/{id}"), Reply::json(json!({"id": id})));
    }
    let config = config_from(&config(&stub, &redis));
    let one = start_bff(&config).await;
    assert_eq!(view(one, 1).await.0, StatusCode::OK);
    assert_eq!(health(one).await, "up");

    let sleeper = redis.sleep(3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for id in 2..=21 {
        let (status, envelope) = view(one, id).await;
        assert_eq!(status, StatusCode::OK, "{envelope:?}");
    }
    assert_eq!(health(one).await, "skipped");
    assert_eq!(metric(one, "tessera_redis_skipping").await, 1.0);
    // 20 misses, each a lookup and a store: all but the first few were never sent.
    let skipped = metric(one, "tessera_redis_skipped_commands_total").await;
    assert!(skipped >= 30.0, "{skipped} commands skipped");

    sleeper.await.unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while health(one).await != "up" {
        assert!(Instant::now() < until, "a probe found Redis again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(one, "tessera_redis_skipping").await, 0.0);
    // Used again: what replica one fetches now, a new replica finds in Redis.
    assert_eq!(view(one, 25).await.0, StatusCode::OK);
    redis
        .wait_for_key("tessera:cache:s:/main/25", "the entry reached Redis")
        .await;
    let two = start_bff(&config).await;
    assert_eq!(view(two, 25).await.0, StatusCode::OK);
    assert_eq!(stub.hits("/main/25"), 1, "served from Redis");
}

/// A drop Redis did not take (it was silent) is replayed as soon as it answers again, so no
/// replica goes on serving the entry from Redis — not even one that never heard of the drop.
#[tokio::test]
async fn a_drop_redis_missed_is_replayed_once_it_answers() {
    let redis = Redis::start().await;
    let stub = Stub::start().await;
    stub.script(
        "/main/1",
        vec![
            Reply::json(json!({"v": "old"})),
            Reply::json(json!({"v": "new"})),
        ],
    );
    let config = config_from(&config(&stub, &redis));
    let one = start_bff(&config).await;
    wait_for_subscribers(&redis, 1).await;
    assert_eq!(view(one, 1).await.1.data("main").unwrap()["v"], "old");
    redis
        .wait_for_key("tessera:cache:s:/main/1", "the entry reached Redis")
        .await;

    let sleeper = redis.sleep(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let missed = post_json(
        &format!("http://{one}/admin/invalidate"),
        Some("t"),
        &json!({"prefix": "s:/main/"}),
    )
    .await;
    assert_eq!(missed.status(), StatusCode::SERVICE_UNAVAILABLE);
    sleeper.await.unwrap();

    // Replayed without any request asking for it: a replica that only has Redis fetches anew.
    redis
        .wait_for_key("tessera:gen:under:s:/main/", "the drop was replayed")
        .await;
    let two = start_bff(&config).await;
    let (status, envelope) = view(two, 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope.data("main").unwrap()["v"], "new");
}
