//! Harness for browser tests: starts the real demo services and the real BFF (serving the release
//! front-end build) on ephemeral loopback ports, and a WebDriver session on headless Chromium.
//!
//! # Layout
//!
//! - [`Stack`]: services + BFF, in this process, each on `127.0.0.1:0`; [`Stack::start_tampered`]
//!   puts a test's own layer in front of the BFF ([`tamper`]: a stream cut short, a slow or
//!   refused path).
//! - [`Browser`]: a fantoccini session; [`Browser::close`] must be called (also on failure, which
//!   [`with_browser`] and [`Stack::browse`] take care of) or Chromium outlives the test. What
//!   tests do with it are its methods, as in leptos' e2e fixtures: finders (`find`: `wait_for`,
//!   `text_of`, `attr`, `value_of`, `card_ids`, …), actions (`action`: `goto`, `click`,
//!   `type_into`) and checks (`check`: `wait_text`, `settle`, `holds`).
//!
//! The front end must have been built first (`scripts/build-frontend.sh`; the test script does it
//! once per run). `TESSERA_DIST_DIR` names the build (default: `dist` at the workspace root).
//! `TESSERA_WEBDRIVER` names a running chromedriver; without it each test starts its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder};
use tessera_bff::config::{Config, Source};
use tessera_services::Scale;
use tessera_services::demo::Demo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod action;
mod check;
pub mod devtools;
mod find;
pub mod tamper;

/// How long a test waits for something to appear on the page.
pub const WAIT: Duration = Duration::from_secs(20);

/// The workspace's front-end build.
pub fn dist_dir() -> PathBuf {
    std::env::var_os("TESSERA_DIST_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"),
        PathBuf::from,
    )
}

/// One request the BFF answered, as the browser sent it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    /// The query string, if any (without the `?`).
    pub query: Option<String>,
    pub status: u16,
    /// Whether it carried `If-None-Match` (a revalidation).
    pub conditional: bool,
}

/// The demo services and the BFF, running until dropped.
pub struct Stack {
    pub bff: SocketAddr,
    /// Every request the BFF answered, in order.
    pub requests: Arc<Mutex<Vec<Logged>>>,
    /// The four demo services (addresses and fault switches).
    pub services: Demo,
    _data: tempfile::TempDir,
    _shutdown: Vec<oneshot::Sender<()>>,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Like [`Stack::start`], with the BFF's configuration adjusted first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        Self::start_tampered(adjust, |router| router).await
    }

    /// Like [`Stack::start_with`], with `tamper` wrapped around the BFF's router (inside the
    /// request log, so the log shows what the browser got): see [`tamper`].
    pub async fn start_tampered(
        adjust: impl FnOnce(&mut Config),
        tamper: impl FnOnce(axum::Router) -> axum::Router,
    ) -> anyhow::Result<Self> {
        let dist = dist_dir();
        if !dist.join("index.html").exists() {
            bail!(
                "no front-end build at {} (run scripts/build-frontend.sh first)",
                dist.display()
            );
        }
        let data = tempfile::tempdir()?;
        let mut shutdown = Vec::new();
        let services = Demo::start(data.path(), Scale::SMALL).await?;

        let mut config = Config::parse(&Source::builtin()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        config.server.dist_dir = dist;
        config.override_upstreams(services.upstreams());
        config.override_keys_dir(services.keys_dir());
        adjust(&mut config);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let app = tamper(tessera_bff::build(&config)?).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    let method = request.method().to_string();
                    let path = request.uri().path().to_owned();
                    let query = request.uri().query().map(str::to_owned);
                    let conditional = request.headers().contains_key("if-none-match");
                    let response = next.run(request).await;
                    log.lock().expect("log lock").push(Logged {
                        method,
                        path,
                        query,
                        status: response.status().as_u16(),
                        conditional,
                    });
                    response
                }
            },
        ));
        let bff = spawn(app, &mut shutdown).await?;

        Ok(Self {
            bff,
            requests,
            services,
            _data: data,
            _shutdown: shutdown,
        })
    }

    /// The requests logged so far.
    pub fn logged(&self) -> Vec<Logged> {
        self.requests.lock().expect("log lock").clone()
    }

    /// The state of `upstream`'s breaker (`closed`, `open`, `half-open`), as the BFF's
    /// `GET /admin/stats` has it (with the admin `token`).
    pub async fn breaker_state(&self, token: &str, upstream: &str) -> anyhow::Result<String> {
        let stats: serde_json::Value = reqwest::Client::new()
            .get(self.url("/admin/stats"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let found = stats["upstreams"]
            .as_array()
            .and_then(|all| all.iter().find(|u| u["name"] == upstream))
            .ok_or_else(|| anyhow::anyhow!("no {upstream} in {stats}"))?;
        Ok(found["breaker"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// An absolute URL on the BFF.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bff)
    }

    /// Opens `path` on the BFF in a fresh browser and runs `scenario` there, closing the browser
    /// whatever the outcome.
    pub async fn browse(
        &self,
        path: &str,
        scenario: impl AsyncFnOnce(&Browser) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        with_browser(async |browser| {
            browser.goto(&self.url(path)).await?;
            scenario(browser).await
        })
        .await
    }
}

/// Takes `parts` of `view` out of the BFF's cache and gives them room to be slow (8 s each, 10 s
/// for the view), so that what the page shows of them comes from the services as they are now,
/// or from the browser's own copy.
pub fn uncached(config: &mut Config, view: &str, parts: &[&str]) {
    let view = config.views.get_mut(view).expect("the demo has the view");
    *view.budget_ms.get_mut() = 10_000;
    for name in parts {
        let part = view
            .parts
            .get_mut()
            .get_mut(*name)
            .expect("the demo view has the part");
        part.cache = None;
        *part.timeout_ms.get_mut() = 8_000;
    }
}

async fn spawn(
    app: axum::Router,
    shutdown: &mut Vec<oneshot::Sender<()>>,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    shutdown.push(tx);
    Ok(addr)
}

/// A chromedriver this process started; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> anyhow::Result<Driver> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting chromedriver (run scripts/setup.sh)")?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Driver { child, url });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("chromedriver did not start listening on port {port}")
}

/// A WebDriver session on headless Chromium.
pub struct Browser {
    pub client: Client,
    /// Where the browser saves downloads (in its own profile, gone with it).
    downloads: PathBuf,
    _profile: tempfile::TempDir,
    _driver: Option<Driver>,
}

/// What a navigation waits for before the next command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLoad {
    /// The page's load event (WebDriver's default).
    Complete,
    /// Nothing: for looking at a page while its code still downloads.
    Unwaited,
}

impl Browser {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(PageLoad::Complete).await
    }

    pub async fn start_with(page_load: PageLoad) -> anyhow::Result<Self> {
        let (driver, url) = match std::env::var("TESSERA_WEBDRIVER") {
            Ok(url) => (None, url),
            Err(_) => {
                let driver = start_driver()?;
                let url = driver.url.clone();
                (Some(driver), url)
            }
        };
        let profile = tempfile::tempdir()?;
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": args,
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            }),
        );
        if page_load == PageLoad::Unwaited {
            caps.insert("pageLoadStrategy".into(), "none".into());
        }
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .with_context(|| format!("opening a WebDriver session at {url}"))?;
        Ok(Self {
            client,
            downloads,
            _profile: profile,
            _driver: driver,
        })
    }

    /// The folder the browser saves downloads in.
    pub fn downloads(&self) -> &std::path::Path {
        &self.downloads
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}

/// Runs `scenario` with a fresh browser and closes the browser whatever the outcome.
pub async fn with_browser(
    scenario: impl AsyncFnOnce(&Browser) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    with_browser_waiting(PageLoad::Complete, scenario).await
}

/// [`with_browser`], its navigations waiting for `page_load`.
pub async fn with_browser_waiting(
    page_load: PageLoad,
    scenario: impl AsyncFnOnce(&Browser) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let browser = Browser::start_with(page_load).await?;
    let result = scenario(&browser).await;
    let closed = browser.close().await;
    result.and(closed)
}
