//! A real Varnish (with varnish-modules' xkey) as the edge cache in front of the BFF, over the
//! demo services: a view made of fresh shared parts is served by Varnish without reaching the
//! BFF, a review posted through the BFF purges it there by tag, and a view holding a shopper's
//! part is never kept.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use support::{demo_config, start_bff, start_services};

/// `varnishd` in the foreground with the repository's VCL, its backend moved to `backend`.
struct Varnish {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Varnish {
    async fn start(port: u16, backend: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vcl = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/cluster/varnish.vcl"),
        )
        .unwrap()
        .replace(".port = \"8080\";", &format!(".port = \"{backend}\";"));
        let file = dir.path().join("edge.vcl");
        std::fs::write(&file, vcl).unwrap();
        let child = Command::new("varnishd")
            .args(["-F", "-j", "none", "-s", "malloc,32m"])
            .arg("-a")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-f")
            .arg(&file)
            .arg("-n")
            .arg(dir.path().join("work"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("varnishd is installed (scripts/setup.sh)");
        let until = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err()
        {
            assert!(Instant::now() < until, "varnishd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// How many product views the BFF has answered, from its metrics.
async fn views_answered(bff: std::net::SocketAddr) -> u64 {
    let text = reqwest::get(format!("http://{bff}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("tessera_http_requests_total{") && l.contains("route=\"view\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A CDN that reads its tags from another header gets them there, and only there.
#[tokio::test]
async fn the_tags_go_in_the_configured_header() {
    let services = start_services().await;
    let mut config = demo_config(&services);
    config.cache.edge_tag_header = "Surrogate-Key".into();
    let bff = start_bff(&config).await;
    let url = format!("http://{bff}/api/views/product/7?parts=product,summary,reviews");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tags = response.headers()["surrogate-key"].to_str().unwrap();
    assert!(tags.split(' ').count() > 4, "{tags}");
    assert!(response.headers().get("xkey").is_none());
}

#[tokio::test]
async fn the_edge_keeps_shared_views_and_a_write_purges_them() {
    let services = start_services().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = demo_config(&services);
    config.cache.edge_purge_url = Some(format!("http://127.0.0.1:{port}/"));
    let bff = start_bff(&config).await;
    let varnish = Varnish::start(port, bff.port()).await;
    let client = reqwest::Client::new();
    // (Not the stock part: it is fresh for two seconds only.)
    let shared = "/api/views/product/7?parts=product,summary,reviews";

    // The BFF says how long a shared cache may keep the view, and its tags.
    let direct = client
        .get(format!("http://{bff}{shared}"))
        .send()
        .await
        .unwrap();
    let cache_control = direct.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache_control.starts_with("public, max-age=0, s-maxage="),
        "{cache_control}"
    );
    assert!(cache_control.contains("stale-while-revalidate="));
    let tags = direct.headers()["xkey"].to_str().unwrap().to_owned();
    assert!(tags.split(' ').count() > 4, "{tags}");
    assert!(
        direct.headers().get("surrogate-key").is_none(),
        "the tags are sent once"
    );

    let first = client.get(varnish.url(shared)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(
        first.headers().get("xkey").is_none(),
        "tags stay at the edge"
    );
    let before = views_answered(bff).await;
    for _ in 0..5 {
        let hit = client.get(varnish.url(shared)).send().await.unwrap();
        assert_eq!(hit.headers()["x-cache"], "HIT");
        assert_eq!(hit.status(), StatusCode::OK);
    }
    assert_eq!(
        views_answered(bff).await,
        before,
        "served at the edge alone"
    );

    // A review through the BFF: its drops purge the view at the edge, and the next read
    // through Varnish shows it.
    let posted = client
        .post(format!("http://{bff}/api/actions/review/7"))
        .json(&json!({"rating": 5, "title": "Seen at the edge", "body": "Purged by tag.", "author": "Tess"}))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());
    let after = client.get(varnish.url(shared)).send().await.unwrap();
    assert_eq!(after.headers()["x-cache"], "MISS", "purged");
    let body = after.text().await.unwrap();
    assert!(body.contains("Seen at the edge"), "{body}");

    // Another product's view is not purged by this product's review.
    let other = "/api/views/product/8?parts=product,summary,reviews";
    client
        .get(format!("http://{bff}{other}"))
        .send()
        .await
        .unwrap();
    client.get(varnish.url(other)).send().await.unwrap();
    let posted = client
        .post(format!("http://{bff}/api/actions/review/7"))
        .json(&json!({"rating": 4, "title": "Again", "body": "Only product 7.", "author": "Tess"}))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    let kept = client.get(varnish.url(other)).send().await.unwrap();
    assert_eq!(
        kept.headers()["x-cache"],
        "HIT",
        "a purge by tag, not a flush"
    );

    // The whole product view holds a user part: private, never kept at the edge.
    let whole = "/api/views/product/7";
    for _ in 0..3 {
        let response = client.get(varnish.url(whole)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-cache"], "MISS");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("private")
        );
    }
}
