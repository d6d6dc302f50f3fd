//! The DevTools protocol through chromedriver (`goog/cdp/execute`): what WebDriver cannot do,
//! such as emulating a slow network or clearing the browser's cache.

use fantoccini::wd::WebDriverCompatibleCommand;

use crate::Browser;

/// One DevTools command, sent on the session's page.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A network as DevTools emulates it: every request's round trip and both directions'
/// bandwidth.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    pub name: &'static str,
    pub latency_ms: u64,
    pub down_kbps: u64,
    pub up_kbps: u64,
}

impl Network {
    /// Lighthouse's "slow 4G": 150 ms, 1.6 Mbps down, 750 kbps up.
    pub const SLOW_4G: Self = Self {
        name: "slow 4G",
        latency_ms: 150,
        down_kbps: 1_600,
        up_kbps: 750,
    };
    /// A fast mobile line: 40 ms, 10 Mbps down, 5 Mbps up.
    pub const FAST: Self = Self {
        name: "fast (40 ms, 10 Mbps)",
        latency_ms: 40,
        down_kbps: 10_000,
        up_kbps: 5_000,
    };

    /// Seconds to receive `bytes` at this line's downstream bandwidth.
    pub fn transfer_s(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / (self.down_kbps as f64 * 1000.0)
    }
}

impl Browser {
    /// Sends a DevTools command to the page and returns its result.
    pub async fn cdp(
        &self,
        cmd: &'static str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        Ok(self.client.issue_cmd(Cdp { cmd, params }).await?)
    }

    /// Emulates `network` for every request from now on (`None`: the real one).
    pub async fn emulate(&self, network: Option<Network>) -> anyhow::Result<()> {
        self.cdp("Network.enable", serde_json::json!({})).await?;
        let params = match network {
            Some(n) => serde_json::json!({
                "offline": false,
                "latency": n.latency_ms,
                // Bytes per second.
                "downloadThroughput": n.down_kbps * 1000 / 8,
                "uploadThroughput": n.up_kbps * 1000 / 8,
            }),
            None => serde_json::json!({
                "offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
            }),
        };
        self.cdp("Network.emulateNetworkConditions", params).await?;
        Ok(())
    }

    /// Empties the browser's HTTP cache (a first visit).
    pub async fn clear_cache(&self) -> anyhow::Result<()> {
        self.cdp("Network.clearBrowserCache", serde_json::json!({}))
            .await?;
        Ok(())
    }
}
