//! The cluster of issue 18: three real `tessera-bff` processes sharing a real Redis, behind a
//! real nginx running the repository's own balancer settings (`config/cluster/nginx.conf`),
//! over the demo services. Replicas are killed and stopped under a steady request loop, a
//! write through one replica is read through all of them, and Redis is restarted under load.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::redis::Redis;
use support::{Binary, Services, config_text, start_services};
use tessera_testkit::bench::Peer;

/// nginx with `config/cluster/nginx.conf` (see [`Peer::balancer`]), once it answers.
struct Balancer {
    _peer: Peer,
    addr: SocketAddr,
}

impl Balancer {
    async fn start(replicas: &[SocketAddr]) -> Self {
        let peer = Peer::balancer(replicas).expect("nginx is installed (scripts/setup.sh)");
        let addr: SocketAddr = format!("127.0.0.1:{}", peer.port).parse().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err()
        {
            assert!(Instant::now() < until, "nginx did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { _peer: peer, addr }
    }
}

/// The demo services, Redis, three replicas and the balancer in front of them.
struct Cluster {
    services: Services,
    redis: Redis,
    replicas: Vec<Binary>,
    balancer: Balancer,
    _config: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let services = start_services().await;
        let redis = Redis::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(&file, config_text(&services.demo.upstreams(), "")).unwrap();
        let keys = services.demo.keys_dir();
        let env = [
            ("TESSERA_REDIS_URL", redis.url()),
            ("TESSERA_KEYS_DIR", keys.display().to_string()),
            ("TESSERA_CLIENT_ADDRESS", "x_forwarded_for".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(Binary::start(&file, &env).await);
        }
        let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
        let balancer = Balancer::start(&addrs).await;
        Self {
            services,
            redis,
            replicas,
            balancer,
            _config: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.balancer.addr)
    }
}

/// What a request loop saw: every answer's status, and the failures' descriptions.
#[derive(Debug, Default)]
struct Seen {
    ok: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
}

/// `workers` loops of GETs through the balancer — views and parts of products 1–20, and
/// streams of them when `streams` — until `stop` is set. A response counts only when its
/// whole body arrived (a stream with its summary line).
fn request_loop(
    base: String,
    workers: usize,
    streams: bool,
    stop: Arc<AtomicBool>,
) -> (Arc<Seen>, Vec<tokio::task::JoinHandle<()>>) {
    let seen = Arc::new(Seen::default());
    let handles = (0..workers)
        .map(|worker| {
            let (base, stop, seen) = (base.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = worker;
                while !stop.load(Ordering::Relaxed) {
                    n += workers;
                    let id = n % 20 + 1;
                    let path = match n % 3 {
                        0 => format!("/api/views/product/{id}"),
                        2 if streams => format!("/api/views/product/{id}?stream"),
                        _ => format!("/api/parts/product/stock/{id}"),
                    };
                    let outcome = async {
                        let response = client.get(format!("{base}{path}")).send().await?;
                        let status = response.status();
                        let body = response.text().await?;
                        Ok::<_, reqwest::Error>((status, body))
                    }
                    .await;
                    match outcome {
                        Ok((StatusCode::OK, body))
                            if !path.ends_with("?stream") || body.contains("\"summary\"") =>
                        {
                            seen.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok((status, body)) => seen
                            .failures
                            .lock()
                            .unwrap()
                            .push(format!("{path}: {status} {}", &body[..body.len().min(200)])),
                        Err(e) => seen.failures.lock().unwrap().push(format!("{path}: {e}")),
                    }
                }
            })
        })
        .collect();
    (seen, handles)
}

async fn finish(stop: &AtomicBool, handles: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.await.unwrap();
    }
}

#[tokio::test]
async fn replicas_killed_or_stopped_under_load_lose_no_request() {
    let mut cluster = Cluster::start().await;
    // Reviews answer slowly, so that requests are in flight when a replica goes.
    cluster
        .services
        .demo
        .reviews
        .faults
        .set(serde_json::from_value(json!({"latency_ms": 150})).unwrap());
    // SIGKILL: what that replica held is lost to it, and nginx retries it on another. (A
    // stream the killed replica had begun to send cannot be replayed by any balancer: the page
    // marks its missing tiles and retries them; the buffered answers here are whole or not
    // begun.)
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, handles) = request_loop(cluster.url(""), 6, false, stop.clone());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    cluster.replicas[1].kill();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    finish(&stop, handles).await;
    assert_no_failures(&seen, "a replica killed");

    // SIGTERM: the replica stops taking connections, finishes what it holds — streams too —
    // then exits.
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, handles) = request_loop(cluster.url(""), 6, true, stop.clone());
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    cluster.replicas[2].terminate();
    let status = cluster.replicas[2].exited(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "a drained replica exits cleanly: {status}"
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    finish(&stop, handles).await;
    assert_no_failures(&seen, "a replica stopped");
}

fn assert_no_failures(seen: &Seen, what: &str) {
    let failures = seen.failures.lock().unwrap();
    let ok = seen.ok.load(Ordering::Relaxed);
    assert!(ok > 50, "{what}: traffic went on ({ok} answers)");
    assert!(
        failures.is_empty(),
        "{what}: {} of {} failed: {failures:#?}",
        failures.len(),
        ok + failures.len()
    );
}

#[tokio::test]
async fn a_write_through_one_replica_is_read_through_every_one_and_redis_restarts_cost_no_5xx() {
    let mut cluster = Cluster::start().await;
    let client = reqwest::Client::new();
    let product = 7;
    // Warm every replica's cache with the reviews part first.
    for replica in &cluster.replicas {
        let url = format!(
            "http://{}/api/parts/product/reviews/{product}",
            replica.addr
        );
        assert_eq!(
            client.get(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let mut delays = Vec::new();
    for n in 0..50 {
        let writer = &cluster.replicas[n % 3];
        let title = format!("Visible everywhere {n}");
        let posted = client
            .post(format!("http://{}/api/actions/review/{product}", writer.addr))
            .json(&json!({"rating": 4, "title": title, "body": "Seen on every replica.", "author": "Tess"}))
            .send()
            .await
            .unwrap();
        assert!(posted.status().is_success(), "{}", posted.status());
        let written = Instant::now();
        // The time until the last replica shows it.
        for replica in &cluster.replicas {
            let url = format!(
                "http://{}/api/parts/product/reviews/{product}",
                replica.addr
            );
            loop {
                let part: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
                if part.to_string().contains(&title) {
                    break;
                }
                assert!(
                    written.elapsed() < Duration::from_secs(5),
                    "{title} never showed"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        delays.push(written.elapsed());
    }
    let p99 = tessera_testkit::bench::percentile(&delays, 99.0);
    assert!(
        p99 < Duration::from_millis(100),
        "a review is visible through every replica within 100 ms (p99 of 50): {p99:?}"
    );

    // Redis stopped and started again under load: no 5xx.
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, handles) = request_loop(cluster.url(""), 4, true, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let port = cluster.redis.url().rsplit(':').next().unwrap().to_owned();
    cluster.redis.stop();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let restarted = Command::new("redis-server")
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let restarted = KillOnDrop(restarted);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    finish(&stop, handles).await;
    drop(restarted);
    assert_no_failures(&seen, "Redis restarted");
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
