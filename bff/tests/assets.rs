//! CDN-style hosting of a fingerprinted build through the real BFF router.

mod support;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, IF_NONE_MATCH};
use serde_json::json;
use support::{config, start_bff};
use tessera_bff::assets::fingerprint::{Manifest, fingerprint};
use tessera_testkit::bench::Peer;
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::http::{assert_not_modified, get_text, get_with};
use tessera_testkit::stub::{Reply, Stub};

const JS: &str = "export default function init() { return 42; } // padding padding padding padding";

fn trunk_output(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!DOCTYPE html><html><head><link rel=\"modulepreload\" href=\"/app.js\">\
         <script type=\"module\">import init from '/app.js'; init({module_or_path: '/app_bg.wasm'});</script>\
         </head><body></body></html>",
    )
    .unwrap();
    std::fs::write(dir.join("app.js"), JS).unwrap();
    std::fs::write(dir.join("app_bg.wasm"), b"\0asm\x01\0\0\0 pretend module").unwrap();
}

/// Sends `GET <path>` exactly as given and returns the response head.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// Runs `tessera-bff export --dist <dist> --out <out> <args>`.
fn export(dist: &Path, out: &Path, args: &[&str]) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-bff"))
        .arg("export")
        .args(args)
        .arg("--dist")
        .arg(dist)
        .arg("--out")
        .arg(out)
        .env_remove("TESSERA_CONFIG")
        .status()
        .unwrap();
    assert!(status.success());
}

async fn site() -> (std::net::SocketAddr, Manifest, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    trunk_output(&tmp.path().join("build"));
    let manifest = fingerprint(&tmp.path().join("build"), &tmp.path().join("dist")).unwrap();
    let bff = start_bff(&config(&[], Some(&tmp.path().join("dist")))).await;
    (bff, manifest, tmp)
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_index_is_revalidated() {
    let (bff, manifest, _tmp) = site().await;
    let client = reqwest::Client::new();

    let js = &manifest.files["app.js"];
    let response = client
        .get(format!("http://{bff}/{js}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), JS);

    let wasm = &manifest.files["app_bg.wasm"];
    let response = client
        .get(format!("http://{bff}/{wasm}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/wasm");

    let index = client.get(format!("http://{bff}/")).send().await.unwrap();
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let etag = index.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "strong ETag: {etag}");
    let html = index.text().await.unwrap();
    assert!(
        html.contains(&format!("'/{js}'")),
        "index references the hashed name: {html}"
    );

    let revalidated = client
        .get(format!("http://{bff}/"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn precompressed_variants_are_negotiated_and_decompress_to_the_original() {
    let (bff, manifest, _tmp) = site().await;
    let client = reqwest::Client::new();
    let url = format!("http://{bff}/{}", manifest.files["app.js"]);

    let br = client
        .get(&url)
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    // A later build of the file may come as a delta against this one.
    assert_eq!(
        br.headers()["vary"],
        "Accept-Encoding, Available-Dictionary"
    );
    let br_etag = br.headers()["etag"].clone();
    let mut text = String::new();
    brotli::Decompressor::new(&br.bytes().await.unwrap()[..], 4096)
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, JS);

    let gz = client
        .get(&url)
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_ne!(
        gz.headers()["etag"],
        br_etag,
        "each encoding has its own ETag"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz.bytes().await.unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, JS);

    let identity = client.get(&url).send().await.unwrap();
    assert!(identity.headers().get("content-encoding").is_none());
    assert_eq!(
        identity.headers()["vary"],
        "Accept-Encoding, Available-Dictionary"
    );
    let not_modified = client
        .get(&url)
        .header(ACCEPT_ENCODING, "br")
        .header(IF_NONE_MATCH, br_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        not_modified.headers()["vary"],
        "Accept-Encoding, Available-Dictionary"
    );
}

#[tokio::test]
async fn missing_assets_are_json_404s_and_navigations_get_the_page() {
    let (bff, _manifest, tmp) = site().await;
    let client = reqwest::Client::new();

    // The build's bookkeeping is in the folder but not served.
    assert!(tmp.path().join("dist/.asset-history.json").exists());
    let history = client
        .get(format!("http://{bff}/.asset-history.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::NOT_FOUND);

    let missing = client
        .get(format!("http://{bff}/assets/app-0000000000000000.js"))
        .header(ACCEPT, "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["cache-control"], "no-store");
    assert_eq!(missing.headers()["content-type"], "application/json");

    let navigation = client
        .get(format!("http://{bff}/product/3"))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(navigation.status(), StatusCode::OK);
    assert_eq!(navigation.headers()["cache-control"], "no-cache");
    assert!(
        navigation
            .text()
            .await
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );

    let not_html = client
        .get(format!("http://{bff}/product/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_html.status(), StatusCode::NOT_FOUND);

    // Sent byte for byte: HTTP clients would normalize these before sending.
    for evil in [
        "/../index.html",
        "/assets/../index.html",
        "/..%2f..%2fetc/passwd",
        "/assets/%2e%2e/index.html",
        "/a%5c..%5cb",
        "/a\\..\\b",
        "/x%00.js",
    ] {
        let head = raw_get(bff, evil).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{evil}: {head}");
        assert!(head.contains("application/json"), "{evil}: {head}");
    }

    let post = client.post(format!("http://{bff}/")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn single_ranges_head_and_methods() {
    let (bff, manifest, _tmp) = site().await;
    let client = reqwest::Client::new();
    let url = format!("http://{bff}/{}", manifest.files["app.js"]);
    let len = JS.len();

    let part = get_with(&url, &[("range", "bytes=7-13")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 7-13/{len}").as_str()
    );
    assert_eq!(part.text().await.unwrap(), &JS[7..=13]);
    let tail = get_with(&url, &[("range", "bytes=-5")]).await;
    assert_eq!(tail.text().await.unwrap(), &JS[len - 5..]);

    let beyond = client
        .get(&url)
        .header("range", format!("bytes={len}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    // Several ranges, or an If-Range for another version: the whole file.
    let several = get_with(&url, &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!(several.status(), StatusCode::OK);
    assert_eq!(several.headers()["accept-ranges"], "bytes");
    let other = client
        .get(&url)
        .header("range", "bytes=0-1")
        .header("if-range", "\"not-this-one\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], len.to_string().as_str());
    assert!(head.bytes().await.unwrap().is_empty());
    let post = client.post(&url).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn security_headers_let_the_wasm_loader_run_and_nothing_else() {
    let (bff, _, _tmp) = site().await;
    let index = reqwest::get(format!("http://{bff}/")).await.unwrap();
    let headers = index.headers().clone();
    let html = index.text().await.unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The one inline loader script is allowed by its hash.
    let script = html
        .split("<script type=\"module\">")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .unwrap();
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script));
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );

    let api = reqwest::get(format!("http://{bff}/api/nothing"))
        .await
        .unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn assets_of_the_previous_build_stay_servable_after_a_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    let dist = tmp.path().join("dist");
    trunk_output(&build);
    let first = fingerprint(&build, &dist).unwrap();
    std::fs::write(build.join("app.js"), format!("{JS} // v2")).unwrap();
    let second = fingerprint(&build, &dist).unwrap();
    assert_ne!(first.files["app.js"], second.files["app.js"]);

    let bff = start_bff(&config(&[], Some(&dist))).await;
    let client = reqwest::Client::new();
    for (manifest, body) in [(&first, JS.to_owned()), (&second, format!("{JS} // v2"))] {
        let response = client
            .get(format!("http://{bff}/{}", manifest.files["app.js"]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), body);
    }
    let index = get_text(format!("http://{bff}/")).await;
    assert!(
        index.contains(&second.files["app.js"]),
        "the page names the new build"
    );
}

/// A browser holding the previous build's file gets the new one as a `dcz` delta against it;
/// anything else — another dictionary, a malformed header, no `dcz` in `Accept-Encoding` —
/// gets the usual encodings, never an error.
#[tokio::test]
async fn a_new_builds_file_comes_as_a_delta_against_the_one_the_browser_holds() {
    use base64::Engine;
    use sha2::Digest;
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    let dist = tmp.path().join("dist");
    trunk_output(&build);
    let first = fingerprint(&build, &dist).unwrap();
    let v2 = format!("{JS} // v2");
    std::fs::write(build.join("app.js"), &v2).unwrap();
    let second = fingerprint(&build, &dist).unwrap();
    let held = std::fs::read(dist.join(&first.files["app.js"])).unwrap();
    let dictionary = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&held))
    );

    let bff = start_bff(&config(&[], Some(&dist))).await;
    let client = reqwest::Client::new();
    let url = format!("http://{bff}/{}", second.files["app.js"]);
    let get = async |accept: &str, available: Option<&str>| {
        let mut request = client.get(&url).header(ACCEPT_ENCODING, accept);
        if let Some(available) = available {
            request = request.header("available-dictionary", available);
        }
        request.send().await.unwrap()
    };

    let first_load = reqwest::get(format!("http://{bff}/{}", first.files["app.js"]))
        .await
        .unwrap();
    assert_eq!(
        first_load.headers()["use-as-dictionary"],
        "match=\"/assets/app-*.js\""
    );
    let delta = get("br, dcz", Some(&dictionary)).await;
    assert_eq!(delta.status(), StatusCode::OK);
    assert_eq!(delta.headers()["content-encoding"], "dcz");
    assert_eq!(
        delta.headers()["vary"],
        "Accept-Encoding, Available-Dictionary"
    );
    assert!(
        delta.headers().contains_key("use-as-dictionary"),
        "the next dictionary"
    );
    let body = delta.bytes().await.unwrap();
    assert_eq!(&body[..4], &[0x5e, 0x2a, 0x4d, 0x18], "the dcz magic");
    let mut decoded = String::new();
    zstd::stream::read::Decoder::with_dictionary(&body[40..], &held)
        .unwrap()
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, v2);

    let other = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    for (accept, available) in [
        ("br, dcz", Some(other.as_str())),
        ("br, dcz", Some("garbage")),
        ("br", Some(dictionary.as_str())),
        ("br, dcz", None),
    ] {
        let response = get(accept, available).await;
        assert_eq!(response.status(), StatusCode::OK, "{accept} {available:?}");
        assert_eq!(
            response.headers()["content-encoding"],
            "br",
            "{accept} {available:?}"
        );
    }
}

#[tokio::test]
async fn the_site_exports_for_a_cdn_and_the_page_can_load_assets_from_one() {
    let tmp = tempfile::tempdir().unwrap();
    trunk_output(&tmp.path().join("build"));
    let dist = tmp.path().join("dist");
    let manifest = fingerprint(&tmp.path().join("build"), &dist).unwrap();
    let js = &manifest.files["app.js"];

    let out = tmp.path().join("site");
    export(&dist, &out, &["--asset-origin", "https://cdn.example"]);
    let headers = std::fs::read_to_string(out.join("_headers")).unwrap();
    assert!(
        headers.contains("/assets/*\n  Cache-Control: public, max-age=31536000, immutable"),
        "{headers}"
    );
    assert!(headers.contains("'wasm-unsafe-eval'") && headers.contains("https://cdn.example"));
    let listed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("cdn-manifest.json")).unwrap()).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == format!("/{js}"))
        .unwrap();
    assert_eq!(entry["content_type"], "text/javascript; charset=utf-8");
    assert_eq!(entry["encodings"]["br"], format!("/{js}.br"));
    assert_eq!(std::fs::read_to_string(out.join(js)).unwrap(), JS);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        page.contains(&format!("'https://cdn.example/{js}'")),
        "{page}"
    );

    // The BFF itself can point the page at the CDN.
    let mut config = config(&[], Some(&dist));
    config.server.asset_origin = Some("https://cdn.example".into());
    let bff = start_bff(&config).await;
    let index = reqwest::Client::new()
        .get(format!("http://{bff}/"))
        .header(ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' https://cdn.example"),
        "{csp}"
    );
    let mut html = String::new();
    brotli::Decompressor::new(&index.bytes().await.unwrap()[..], 4096)
        .read_to_string(&mut html)
        .unwrap();
    assert!(
        html.contains(&format!("'https://cdn.example/{js}'")),
        "{html}"
    );
}

/// `wrangler pages dev` (Cloudflare's own runtime, installed from npm by `scripts/setup.sh`)
/// serving a directory on a free loopback port. It runs in a process group of its own, stopped
/// on drop: node starts esbuild and two workerd processes, which stopping node alone can leave
/// behind.
struct Wrangler {
    child: std::process::Child,
    port: u16,
    _scratch: tempfile::TempDir,
}

impl Wrangler {
    /// Starts it on `site` and returns once it says it is ready.
    fn start(site: &Path) -> Self {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};

        let program = std::env::var_os("TESSERA_TOOLS")
            .map(|tools| Path::new(&tools).join("bin/wrangler"))
            .filter(|path| path.exists())
            .unwrap_or_else(|| "wrangler".into());
        let port = Peer::free_port().unwrap();
        // Its state (`.wrangler/`) and debug logs go here, not into the clone or the home dir.
        let scratch = tempfile::tempdir().unwrap();
        let mut child = Command::new(&program)
            .args(["pages", "dev"])
            .arg(site)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .arg("--compatibility-date=2026-05-01")
            // No telemetry, no error reports, no update check (the banner makes one), and no
            // download of `Request.cf` data: a test talks to nothing but the loopback.
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_SEND_ERROR_REPORTS", "false")
            .env("WRANGLER_HIDE_BANNER", "true")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", scratch.path())
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {program:?} ({error}): wrangler is not installed; \
                     ./scripts/setup.sh installs it (with TESSERA_TOOLS from scripts/env.sh)"
                )
            });
        // Both outputs are read to the end (a full pipe would stall it); the log is kept for
        // the failure message.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for pipe in pipes {
            let (log, ready_tx) = (log.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if line.contains("Ready on http://127.0.0.1:") {
                        let _ = ready_tx.send(());
                    }
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        drop(ready_tx);
        let wrangler = Self {
            child,
            port,
            _scratch: scratch,
        };
        if ready
            .recv_timeout(std::time::Duration::from_secs(90))
            .is_err()
        {
            panic!(
                "wrangler pages dev did not get ready:\n{}",
                log.lock().unwrap()
            );
        }
        wrangler
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Wrangler {
    /// Stops the whole group (SIGTERM, then SIGKILL for whatever is left after 5 s).
    fn drop(&mut self) {
        let group = self.child.id();
        let signal = |signal: &str| {
            let _ = std::process::Command::new("kill")
                .args([signal, "--", &format!("-{group}")])
                .stderr(std::process::Stdio::null())
                .status();
        };
        signal("-TERM");
        for _ in 0..250 {
            let _ = self.child.try_wait();
            if !group_running(group) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}

/// Whether a process of group `group` still runs (zombies waiting for init to reap them, which
/// `kill -0` would still find, do not count).
fn group_running(group: u32) -> bool {
    let group = group.to_string();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|process| {
        let stat = std::fs::read_to_string(process.path().join("stat")).unwrap_or_default();
        // After the command name, in parentheses: state, parent, process group.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == group
    })
}

/// The one value of header `name` in `response` (a host that joins repeated headers sends them
/// as one comma-separated value, so the value is compared whole by the caller).
fn single<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    let values: Vec<_> = response.headers().get_all(name).iter().collect();
    assert_eq!(values.len(), 1, "{} {name}: {values:?}", response.url());
    values[0].to_str().unwrap()
}

#[tokio::test]
async fn cloudflares_runtime_serves_the_export_with_one_caching_rule_per_path() {
    let tmp = tempfile::tempdir().unwrap();
    trunk_output(&tmp.path().join("build"));
    let dist = tmp.path().join("dist");
    let manifest = fingerprint(&tmp.path().join("build"), &dist).unwrap();
    let out = tmp.path().join("site");
    export(&dist, &out, &[]);
    let wrangler = Wrangler::start(&out);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    for original in ["app.js", "app_bg.wasm"] {
        let asset = client
            .get(wrangler.url(&format!("/{}", manifest.files[original])))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), StatusCode::OK);
        assert_eq!(
            single(&asset, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(single(&asset, "x-content-type-options"), "nosniff");
        assert_eq!(single(&asset, "access-control-allow-origin"), "*");
    }
    let js = client
        .get(wrangler.url(&format!("/{}", manifest.files["app.js"])))
        .send()
        .await
        .unwrap();
    assert_eq!(js.text().await.unwrap(), JS);

    // The page, at its own path and at a route of the app that the host answers with it.
    for path in ["/", "/product/3"] {
        let page = client
            .get(wrangler.url(path))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(single(&page, "cache-control"), "no-cache");
        let csp = single(&page, "content-security-policy");
        assert!(
            csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(single(&page, "x-content-type-options"), "nosniff");
        assert_eq!(single(&page, "x-frame-options"), "DENY");
        assert_eq!(
            single(&page, "referrer-policy"),
            "strict-origin-when-cross-origin"
        );
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("<script type=\"module\">")
        );
    }

    let listed = client
        .get(wrangler.url("/cdn-manifest.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(single(&listed, "cache-control"), "no-cache");

    // A file the site does not have is a 404 (not the page under the immutable rule), and so
    // is a path the app does not route; the app's routes are the page (checked above).
    for path in ["/assets/app-0123456789abcdef.js", "/no-such-page"] {
        let missing = client.get(wrangler.url(path)).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        let caching = missing.headers().get_all("cache-control").iter().count();
        assert!(
            missing
                .headers()
                .get("cache-control")
                .is_none_or(|c| !c.to_str().unwrap().contains("immutable")),
            "{path}: {caching} cache-control headers, {:?}",
            missing.headers()
        );
    }
    drop(wrangler);
}

/// A build whose page has a first-paint template, a catalog stub, and a BFF whose route
/// `/item/{id}` draws part `item` into the page when it answers within 300 ms.
async fn first_paint_site() -> (std::net::SocketAddr, Stub, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    trunk_output(&build);
    let page = std::fs::read_to_string(build.join("index.html")).unwrap();
    let page = page.replace(
        "<head>",
        "<head><meta charset=\"utf-8\"><title>Shop</title>",
    );
    let page = page.replace(
        "<body></body>",
        "<body><script>/* the app */</script><template id=\"tessera-first-paint\" \
         data-title=\"{item.name} · Shop\"><h1>{item.name}</h1><p class=\"d\">{item.text}</p>\
         <dd>{item.weight} g</dd></template></body>",
    );
    std::fs::write(build.join("index.html"), page).unwrap();
    fingerprint(&build, &tmp.path().join("dist")).unwrap();
    let catalog = Stub::start().await;
    let item = |name: &str| json!({"name": name, "text": "Oak, oiled.", "weight": 4200});
    catalog.on(
        "/items/1",
        Reply::json(item("<img src=x onerror=alert(1)>Chair & co")),
    );
    catalog.on("/items/2", Reply::hang());
    catalog.on("/items/3", Reply::status(404));
    catalog.on("/items/4", Reply::json(json!({"name": "No text"})));
    catalog.on(
        "/items/5",
        Reply::json(item("Table")).after(Duration::from_millis(50)),
    );
    let text = BffConfig::new()
        .upstream("catalog", &catalog.url())
        .view(
            "item",
            [
                Part::new("item", "catalog", "/items/{id}", 5_000)
                    .critical()
                    .cached(60_000, 0, 0),
                Part::new("more", "catalog", "/more/{id}", 5_000),
            ],
        )
        .raw(
            "[routes.\"/item/{id}\"]\nview = \"item\"\nfirst_paint = \"item\"\n\
             first_paint_wait_ms = 300\n",
        )
        .toml();
    let mut config = support::config_from(&text);
    config.server.dist_dir = tmp.path().join("dist");
    (start_bff(&config).await, catalog, tmp)
}

/// A client asking as a browser's navigation does, for the page's bytes as they are.
fn browser() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(ACCEPT, "text/html,application/xhtml+xml".parse().unwrap());
    headers.insert(ACCEPT_ENCODING, "identity".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn navigate(bff: std::net::SocketAddr, path: &str) -> reqwest::Response {
    browser()
        .get(format!("http://{bff}{path}"))
        .send()
        .await
        .unwrap()
}

/// A navigation to a route with a first paint gets the page with the part's data drawn into
/// it as text (never markup), first in the body, under its own ETag; the page stays revalidated
/// and compressed like the plain one, and keeps the page's policy.
#[tokio::test]
async fn a_routes_page_comes_with_its_first_paint_drawn_as_text() {
    let (bff, catalog, _tmp) = first_paint_site().await;
    let plain = navigate(bff, "/").await;
    let plain_tag = plain.headers()["etag"].clone();
    let plain = plain.text().await.unwrap();
    assert!(!plain.contains("tessera-preview"), "{plain}");

    let drawn = navigate(bff, "/item/1").await;
    assert_eq!(drawn.status(), StatusCode::OK);
    let headers = drawn.headers().clone();
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src")
    );
    assert!(
        headers["vary"]
            .to_str()
            .unwrap()
            .contains("accept-encoding")
    );
    assert_ne!(headers["etag"], plain_tag);
    let page = drawn.text().await.unwrap();
    let name = "&lt;img src=x onerror=alert(1)&gt;Chair &amp; co";
    let first_paint = format!(
        "<div id=\"tessera-preview\" class=\"preview\" data-testid=\"preview\" \
         aria-hidden=\"true\" inert><h1>{name}</h1><p class=\"d\">Oak, oiled.</p>\
         <dd>4200 g</dd></div>"
    );
    // The loader waits for the paint to be counted before it fetches the wasm.
    let loader = "<script type=\"module\">\nawait window.__tesseraPainted;";
    let expected = plain
        .replacen("<body>", &format!("<body>{first_paint}"), 1)
        .replacen(
            "<title>Shop</title>",
            &format!("<title>{name} · Shop</title>"),
            1,
        )
        .replacen("<script type=\"module\">", loader, 1);
    assert_eq!(page, expected);
    assert_eq!(page.matches("<img").count(), 0, "{page}");
    // Its loader is allowed by its hash, as the plain page's is.
    let policy = headers["content-security-policy"].to_str().unwrap();
    for html in [&page, &plain] {
        let body = &html[html.find("<script type=\"module\">").unwrap() + 22..];
        let body = &body[..body.find("</script>").unwrap()];
        use base64::Engine;
        use sha2::Digest;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
        assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy}");
    }
    // HEAD is the same page without its body.
    let url = format!("http://{bff}/item/1");
    let head = browser().head(&url).send().await.unwrap();
    assert_eq!(head.headers()["etag"], headers["etag"]);
    assert_eq!(head.headers()["content-length"], headers["content-length"]);

    // Revalidated by its own tag; the same bytes, brotli-compressed, for a browser.
    assert_not_modified(&browser(), &url, &headers["etag"]).await;
    let br = get_with(
        &url,
        &[("accept", "text/html"), ("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(br.headers()["content-encoding"], "br");
    let mut unpacked = String::new();
    brotli::Decompressor::new(&br.bytes().await.unwrap()[..], 4096)
        .read_to_string(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, page);
    // The page asks for its part alone, not the view's others.
    assert_eq!(catalog.hits("/more/"), 0);
    assert!(catalog.hits("/items/1") >= 1);
}

/// The page never waits past its route's wait, and without the part's data in time — a hung,
/// missing or incomplete part, a malformed id, a path of no route — it is the plain page; a
/// request that is not a navigation is not a page at all.
#[tokio::test]
async fn without_its_data_in_time_the_page_is_the_plain_one() {
    let (bff, _catalog, _tmp) = first_paint_site().await;
    let plain = navigate(bff, "/").await.text().await.unwrap();
    for path in [
        "/item/2",
        "/item/3",
        "/item/4",
        "/item/abc",
        "/item/1/x",
        "/elsewhere",
    ] {
        let started = std::time::Instant::now();
        let response = navigate(bff, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.text().await.unwrap(), plain, "{path}");
        // The wait is 300 ms; the hung part is given up on then (far below its 5 s timeout).
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    let drawn = navigate(bff, "/item/5").await.text().await.unwrap();
    assert!(
        drawn.contains("<h1>Table</h1>"),
        "a part 50 ms late is waited for: {drawn}"
    );
    let not_a_page = get_with(
        &format!("http://{bff}/item/1"),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(not_a_page.status(), StatusCode::NOT_FOUND);
}
