//! The client for data services: one pooled HTTP client per upstream, a deadline on every call,
//! a cap on body size, and errors that say what failed without leaking upstream internals.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::UpstreamConfig;

/// The largest upstream body the BFF reads; a larger one is an error, not an allocation.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream named {0:?}")]
    Unknown(String),
    #[error("did not answer before the deadline")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("answered {0}")]
    Status(u16),
    #[error("sent a body that is not valid JSON")]
    Decode,
    #[error("sent a body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the connection failed mid-request")]
    Transport,
}

impl UpstreamError {
    /// The stable code clients see in a part's error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_upstream",
            Self::Timeout => "timeout",
            Self::Connect => "unavailable",
            Self::Status(404) => "not_found",
            Self::Status(_) => "upstream_status",
            Self::Decode | Self::TooLarge => "bad_upstream_response",
            Self::Transport => "unavailable",
        }
    }
}

#[derive(Debug, Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// All configured upstreams by name. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Upstreams {
    by_name: HashMap<String, Upstream>,
}

impl Upstreams {
    pub fn new<'a>(
        configs: impl IntoIterator<Item = (&'a String, &'a UpstreamConfig)>,
    ) -> Result<Self, reqwest::Error> {
        let mut by_name = HashMap::new();
        for (name, config) in configs {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
                .pool_idle_timeout(Duration::from_secs(60))
                .tcp_nodelay(true)
                .build()?;
            by_name.insert(
                name.clone(),
                Upstream {
                    base: config.url.get_ref().trim_end_matches('/').to_owned(),
                    client,
                },
            );
        }
        Ok(Self { by_name })
    }

    /// `GET {upstream}{path}` as JSON, giving up at `deadline`.
    pub async fn get_json(
        &self,
        upstream: &str,
        path: &str,
        deadline: Instant,
        request_id: Option<&str>,
    ) -> Result<serde_json::Value, UpstreamError> {
        let target = self
            .by_name
            .get(upstream)
            .ok_or_else(|| UpstreamError::Unknown(upstream.to_owned()))?;
        let call = async {
            let mut request = target
                .client
                .get(format!("{}{}", target.base, path))
                .header("accept", "application/json");
            if let Some(id) = request_id {
                request = request.header("x-request-id", id);
            }
            let mut response = request.send().await.map_err(classify)?;
            let status = response.status();
            if !status.is_success() {
                return Err(UpstreamError::Status(status.as_u16()));
            }
            if response
                .content_length()
                .is_some_and(|len| len > MAX_BODY_BYTES as u64)
            {
                return Err(UpstreamError::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(UpstreamError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            serde_json::from_slice(&body).map_err(|_| UpstreamError::Decode)
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout),
        }
    }
}

fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Connect
    } else {
        UpstreamError::Transport
    }
}
