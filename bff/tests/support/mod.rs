//! Starting the real demo services and the real BFF on ephemeral loopback ports.

#![allow(dead_code, unreachable_pub)]

pub mod redis;

use std::net::SocketAddr;
use std::path::Path;

use tessera_bff::config::{Config, Source};
use tessera_services::Scale;
use tessera_services::demo::Demo;

/// The four demo services on small stores in a temp dir.
pub struct Services {
    pub demo: Demo,
    _dir: tempfile::TempDir,
}

pub async fn start_services() -> Services {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    Services { demo, _dir: dir }
}

/// The built-in configuration with the named upstreams moved to the given URLs, serving `dist`
/// (if any).
pub fn config(upstreams: &[(&str, String)], dist: Option<&Path>) -> Config {
    let mut config = Config::parse(&Source::builtin()).unwrap();
    config.override_upstreams(upstreams.iter().map(|(n, u)| (*n, u.clone())));
    config.server.dist_dir = dist.map_or_else(|| "/nonexistent".into(), Path::to_owned);
    // Keys of the test's own, never the working directory's: the ring of a test process.
    if let Some(identity) = &mut config.identity {
        identity.keys_dir = toml::Spanned::new(0..0, test_keys_dir());
    }
    config
}

/// The key ring of this test process (filled on first use), so that no test writes keys into
/// the working directory.
pub fn test_keys_dir() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-test-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        tessera_bff::generate_key(&dir, Some("test-1")).unwrap();
        dir
    })
    .clone()
}

/// The built-in configuration over the demo services, signing with the key ring the
/// accounts service verifies with.
pub fn demo_config(services: &Services) -> Config {
    let mut config = config(&services.demo.upstreams(), None);
    let identity = config
        .identity
        .as_mut()
        .expect("the demo signs shoppers in");
    identity.keys_dir = toml::Spanned::new(0..0, services.demo.keys_dir());
    identity.generate_keys = false;
    config
}

/// The built-in configuration's text with the named upstreams at the given URLs, and `extra`
/// TOML after it (for a file a test writes).
pub fn config_text(upstreams: &[(&str, String)], extra: &str) -> String {
    let builtin = Config::parse(&Source::builtin()).unwrap();
    let mut text = tessera_bff::config::DEFAULT_CONFIG.to_owned();
    text = text.replace(
        "keys_dir = \"data/keys\"",
        &format!("keys_dir = \"{}\"", test_keys_dir().display()),
    );
    for (name, url) in upstreams {
        let default = builtin.upstreams[*name].hosts().next().unwrap().to_owned();
        text = text.replace(&format!("\"{default}\""), &format!("\"{url}\""));
    }
    text.push_str(extra);
    text
}

/// A configuration from TOML text (e.g. views over stub upstreams).
pub fn config_from(text: &str) -> Config {
    match Config::parse(&Source::inline("test.toml", text)) {
        Ok(config) => config,
        Err(errors) => panic!("invalid test config: {errors:?}"),
    }
}

pub async fn start_bff(config: &Config) -> SocketAddr {
    tessera_bff::spawn(config).await.unwrap()
}

/// The demo services, and a BFF over them with the built-in configuration (no front end).
pub async fn demo_with_bff() -> (Services, SocketAddr) {
    let services = start_services().await;
    let bff = start_bff(&demo_config(&services)).await;
    (services, bff)
}

/// The real `tessera-bff` binary serving `config` on a free loopback port, killed when
/// dropped (however the test ends).
pub struct Binary {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl Binary {
    /// Starts it and waits (at most 20 s) until `/healthz` answers.
    pub async fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        use std::process::{Command, Stdio};
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tessera-bff"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &addr.to_string(), "--dist-dir", "/nonexistent"])
            .env_remove("TESSERA_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let binary = Self { child, addr };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < until, "the BFF never started");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        binary
    }

    /// Asks it to stop (SIGTERM): it finishes what is in flight, then exits.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills it at once (SIGKILL), whatever it was doing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (at most `limit`) for it to exit: its exit status.
    pub async fn exited(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let until = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < until, "the BFF did not exit");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
