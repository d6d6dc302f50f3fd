//! Two BFF replicas sharing a real `redis-server` (started here on a free port): entries one
//! replica fetched serve the other, an invalidation on one reaches the other's local cache
//! through pub/sub, and Redis stopping mid-test fails no request.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::{config_from, start_bff};
use tessera_bff::INVALIDATION_CHANNEL as CHANNEL;
use tessera_contract::{PartStatus, ViewEnvelope};
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::http::{get_json, get_text, post_json};
use tessera_testkit::stub::{Reply, Stub};
use tokio::time::Instant;

/// A `redis-server` child process, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh)");
        let redis = Self { child, port };
        let until = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < until, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// How many connections subscribe to the invalidation channel.
    async fn subscribers(&self) -> i64 {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query_async(&mut connection)
            .await
            .unwrap();
        count
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

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
