//! Configuration hot reload (issue 16): `POST /admin/reload`, SIGHUP and a watch on the
//! configuration's folder load the file again and validate it as `check` does. Valid: the next
//! generation is swapped in whole while requests go on; invalid: the running one stays and the
//! errors show. The ops page's `GET /admin/stats` needs the admin token.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::start_services;
use tessera_bff::config::Loader;
use tessera_contract::ops::{ReloadInfo, Stats};
use tessera_services::Faults;

const TOKEN: &str = "reload-test-token";

/// The built-in configuration's text over `upstreams`, with the test's admin token, plus
/// `extra`; reloads come from the test alone (the folder is not watched).
fn config_text(upstreams: &[(&str, String)], extra: &str) -> String {
    support::config_text(
        upstreams,
        &format!("\n[admin]\ntoken = \"{TOKEN}\"\n{extra}"),
    )
    .replacen("[server]\n", "[server]\nwatch_config = false\n", 1)
}

/// [`config_text`] with the folder watched.
fn watched_config_text(upstreams: &[(&str, String)], extra: &str) -> String {
    support::config_text(
        upstreams,
        &format!("\n[admin]\ntoken = \"{TOKEN}\"\n{extra}"),
    )
}

/// A view the base configuration lacks.
const EXTRA_VIEW: &str = r#"
[views.extra]
id = "integer"
[views.extra.parts.stock]
upstream = "inventory"
path = "/products/{id}/stock"
timeout_ms = 500
"#;

/// A broken file: an unknown key, on line 3 of what is appended.
const BROKEN: &str = "\n[views.extra]\nid = \"integer\"\nbudget = 5\n";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn reload(bff: SocketAddr) -> (StatusCode, ReloadInfo) {
    let response = client()
        .post(format!("http://{bff}/admin/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn stats(bff: SocketAddr) -> Stats {
    let response = client()
        .get(format!("http://{bff}/admin/stats"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn status_of(url: &str) -> StatusCode {
    client().get(url).send().await.unwrap().status()
}

/// The demo services, and a BFF in this process on a file of [`config_text`] (which tests
/// rewrite and reload).
struct OnFile {
    services: support::Services,
    upstreams: [(&'static str, String); 5],
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    bff: SocketAddr,
}

impl OnFile {
    async fn start() -> Self {
        let services = start_services().await;
        let upstreams = services.demo.upstreams();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(&file, config_text(&upstreams, "")).unwrap();
        let bff = bff_on(&file).await;
        Self {
            services,
            upstreams,
            _dir: dir,
            file,
            bff,
        }
    }
}

/// Starts a BFF on `file` in this process, as `serve --config file` would.
async fn bff_on(file: &Path) -> SocketAddr {
    let loader = Loader::file(file);
    let config = loader.load().unwrap();
    tessera_bff::spawn_with(config, Some(loader)).await.unwrap()
}

#[tokio::test]
async fn twenty_reloads_under_load_lose_nothing_and_take_effect() {
    let OnFile {
        services: _services,
        upstreams,
        _dir,
        file,
        bff,
    } = OnFile::start().await;

    // Views and streams, as fast as they go, until the reloads are done.
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for worker in 0..4u64 {
        let (done, answered) = (done.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            let client = client();
            let mut failures = Vec::new();
            let mut n = worker;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let id = 1 + n % 40;
                let url = match n % 3 {
                    0 => format!("http://{bff}/api/views/product/{id}?stream"),
                    1 => format!("http://{bff}/api/views/product/{id}"),
                    _ => format!("http://{bff}/api/views/home/1"),
                };
                match client.get(&url).send().await {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.bytes().await;
                        if status != StatusCode::OK || body.is_err() {
                            failures.push(format!("{url}: {status} {body:?}"));
                        }
                    }
                    Err(e) => failures.push(format!("{url}: {e}")),
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }

    let mut generation = 1;
    for round in 0..20 {
        let valid = round % 2 == 0;
        // Valid files cycle: the extra view added, changed (another part), removed.
        let extra = match (valid, round / 2 % 3) {
            (false, _) => BROKEN.to_owned(),
            (true, 0) => EXTRA_VIEW.to_owned(),
            (true, 1) => EXTRA_VIEW
                .replace("parts.stock", "parts.summary")
                .replace("/products/{id}/stock", "/products/{id}/summary")
                .replace("\"inventory\"", "\"reviews\""),
            (true, _) => String::new(),
        };
        std::fs::write(&file, config_text(&upstreams, &extra)).unwrap();
        let (status, info) = reload(bff).await;
        if valid {
            generation += 1;
            assert_eq!(status, StatusCode::OK, "{info:?}");
            assert_eq!(
                (info.outcome.as_str(), info.generation),
                ("applied", generation)
            );
            let response = client()
                .get(format!("http://{bff}/api/views/extra/3"))
                .send()
                .await
                .unwrap();
            let shown = match response.status() {
                StatusCode::OK => {
                    let body: serde_json::Value = response.json().await.unwrap();
                    let parts = body["parts"].as_object().unwrap();
                    parts.keys().cloned().collect::<Vec<_>>().join(",")
                }
                status => status.to_string(),
            };
            let want = match round / 2 % 3 {
                0 => "stock",
                1 => "summary",
                _ => "404 Not Found",
            };
            assert_eq!(
                shown, want,
                "round {round}: the view came, changed and went"
            );
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{info:?}");
            assert_eq!(
                (info.outcome.as_str(), info.generation),
                ("rejected", generation)
            );
            // The error names the file, the line and the key.
            let lines = config_text(&upstreams, BROKEN).lines().count();
            let want = format!("{}:{lines}:", file.display());
            assert!(
                info.errors
                    .iter()
                    .any(|e| e.starts_with(&want) && e.contains("budget")),
                "{:?} should start with {want}",
                info.errors
            );
            let shown = stats(bff).await;
            assert_eq!(shown.config.generation, generation);
            assert_eq!(shown.config.last_reload.unwrap().errors, info.errors);
        }
        // Requests keep flowing between reloads.
        let before = answered.load(Ordering::Relaxed);
        let until = Instant::now() + Duration::from_secs(10);
        while answered.load(Ordering::Relaxed) < before + 5 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    done.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    let total = answered.load(Ordering::Relaxed);
    assert!(total > 100, "only {total} requests were made");
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {failures:#?}",
        failures.len()
    );

    // The generation is in /healthz, the metrics and every response.
    let health = client()
        .get(format!("http://{bff}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.headers()["x-tessera-generation"].to_str().unwrap(),
        generation.to_string()
    );
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["config_generation"], generation);
    let metrics = tessera_testkit::http::get_text(format!("http://{bff}/metrics")).await;
    assert!(
        metrics.contains(&format!("tessera_config_generation {generation}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_config_reloads_total{outcome=\"rejected\"} 10"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_guards_of_unchanged_upstreams_and_reports_restart_only_settings() {
    let OnFile {
        services,
        upstreams,
        _dir,
        file,
        bff,
    } = OnFile::start().await;

    // The reviews service fails until its breaker opens.
    services.demo.reviews.faults.set(Faults::failing(500));
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = status_of(&format!("http://{bff}/api/views/product/5")).await;
        let shown = stats(bff).await;
        let reviews = shown
            .upstreams
            .iter()
            .find(|u| u.name == "reviews")
            .unwrap();
        if reviews.breaker.state == "open" {
            break;
        }
        assert!(
            Instant::now() < until,
            "the breaker never opened: {reviews:?}"
        );
    }

    // Another upstream's settings and the listen address change.
    let text = config_text(&upstreams, "")
        .replace("connect_timeout_ms = 250", "connect_timeout_ms = 300")
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:8099\"");
    std::fs::write(&file, text).unwrap();
    let (status, info) = reload(bff).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info.outcome, "applied");
    assert_eq!(info.changed, ["catalog"], "{info:?}");
    assert_eq!(info.restart_required, ["server.listen"]);
    let shown = stats(bff).await;
    let reviews = shown
        .upstreams
        .iter()
        .find(|u| u.name == "reviews")
        .unwrap();
    assert_eq!(
        reviews.breaker.state, "open",
        "unchanged: its breaker is kept"
    );
    let metrics = tessera_testkit::http::get_text(format!("http://{bff}/metrics")).await;
    assert!(
        metrics.contains("tessera_upstream_breaker_state{upstream=\"reviews\"} 1"),
        "the gauge says so too:\n{metrics}"
    );
    assert!(reviews.last_minute.errors > 0, "and so is its history");

    // Only the restart-only setting differs: nothing to apply, but it is said.
    let (status, info) = reload(bff).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info.outcome, "unchanged");
    assert_eq!(info.restart_required, ["server.listen"]);
}

#[tokio::test]
async fn stats_need_the_admin_token() {
    let on_file = OnFile::start().await;
    let bff = on_file.bff;
    let url = format!("http://{bff}/admin/stats");
    for token in [None, Some("wrong"), Some("")] {
        let mut request = client().get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let reload = client()
        .post(format!("http://{bff}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        status_of(&format!("http://{bff}/api/views/product/3")).await,
        StatusCode::OK
    );
    let shown = stats(bff).await;
    let names: Vec<&str> = shown.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "accounts",
            "catalog",
            "inventory",
            "recommendations",
            "reviews"
        ]
    );
    let catalog = &shown.upstreams[1];
    assert_eq!(catalog.breaker.state, "closed");
    assert_eq!(catalog.hosts[0].state, "up");
    assert_eq!(
        catalog.history.len(),
        299,
        "five minutes, the unfinished second left out"
    );
    assert!(catalog.last_minute.calls >= 1 && catalog.last_minute.p50_ms.is_some());
    let summary = shown
        .parts
        .iter()
        .find(|p| p.part == "product.product")
        .unwrap();
    assert_eq!(summary.last_minute.outcomes.get("ok"), Some(&1));
    assert_eq!(summary.last_minute.miss, 1);
    assert_eq!(shown.config.generation, 1);
    assert_eq!(shown.shared_cache, "off");
}

/// The real binary on a Kubernetes-style ConfigMap folder: `tessera.toml` is a symlink into
/// `..data`, itself a symlink to a versioned folder that an update swaps atomically.
#[cfg(unix)]
#[tokio::test]
async fn the_binary_follows_a_symlink_swap_and_reloads_on_sighup() {
    use std::os::unix::fs::symlink;
    use std::process::Command;

    let services = start_services().await;
    let upstreams = services.demo.upstreams();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (version, extra) in [("v1", ""), ("v2", EXTRA_VIEW)] {
        std::fs::create_dir(root.join(version)).unwrap();
        std::fs::write(
            root.join(version).join("tessera.toml"),
            watched_config_text(&upstreams, extra),
        )
        .unwrap();
    }
    symlink("v1", root.join("..data")).unwrap();
    symlink("..data/tessera.toml", root.join("tessera.toml")).unwrap();

    let child = support::Binary::start(&root.join("tessera.toml"), &[]).await;
    let bff = child.addr;
    let result = async {
        let extra = format!("http://{bff}/api/views/extra/3");
        assert_eq!(status_of(&extra).await, StatusCode::NOT_FOUND);

        // kubectl's swap: a new symlink renamed over `..data`.
        symlink("v2", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while stats(bff).await.config.generation != 2 {
            assert!(Instant::now() < until, "the swap was not seen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status_of(&extra).await, StatusCode::OK);
        let shown = stats(bff).await.config.last_reload.unwrap();
        assert_eq!(
            (shown.trigger.as_str(), shown.outcome.as_str()),
            ("watch", "applied")
        );

        // SIGHUP reloads too (nothing changed since, and it says so).
        let hup = Command::new("kill")
            .args(["-HUP", &child.pid().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let last = stats(bff).await.config.last_reload.unwrap();
            if last.trigger == "signal" {
                assert_eq!((last.outcome.as_str(), last.generation), ("unchanged", 2));
                break;
            }
            assert!(Instant::now() < until, "SIGHUP did not reload: {last:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), result)
        .await
        .expect("the test finished in time");
    drop(child);
}

/// The value of one series in a Prometheus text.
fn series(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_reload_drops_the_cache_entries_of_what_changed_and_keeps_the_rest() {
    let OnFile {
        services: _services,
        upstreams,
        _dir,
        file,
        bff,
    } = OnFile::start().await;
    let view = format!("http://{bff}/api/views/product/3");
    let metrics = || tessera_testkit::http::get_text(format!("http://{bff}/metrics"));
    let hits = |text: &str, part: &str, event: &str| {
        series(
            text,
            &format!("tessera_cache_events_total{{part=\"product.{part}\",event=\"{event}\"}}"),
        )
    };
    assert_eq!(status_of(&view).await, StatusCode::OK);
    let before = metrics().await;
    assert_eq!(hits(&before, "summary", "miss"), 1.0);

    // The summary part's cache policy changes; nothing else does.
    let text = config_text(&upstreams, "").replacen("ttl_ms = 10000", "ttl_ms = 10001", 1);
    assert!(text.contains("ttl_ms = 10001"));
    std::fs::write(&file, text).unwrap();
    let (_, info) = reload(bff).await;
    assert_eq!(info.outcome, "applied");
    assert_eq!(info.changed, ["product.summary"], "{info:?}");

    let response = client().get(&view).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-tessera-generation"], "2");
    let after = metrics().await;
    // Composed again (the view changed, so its rendered copy is not served): the changed part
    // was dropped and asked again, the unchanged one came from the cache.
    assert_eq!(hits(&after, "summary", "miss"), 2.0, "{after}");
    assert_eq!(
        hits(&after, "product", "hit"),
        hits(&before, "product", "hit") + 1.0,
        "{after}"
    );
    assert_eq!(hits(&after, "product", "miss"), 1.0);
}
