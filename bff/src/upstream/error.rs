//! What can go wrong with an upstream call, in words safe for clients.

/// The largest upstream body the BFF reads; a larger one is an error, not an allocation.
pub(crate) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Why an upstream call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("no upstream named {0:?}")]
    Unknown(String),
    #[error("did not answer before the deadline")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("answered {0}")]
    Status(u16),
    #[error("sent a body that is not what was asked for")]
    Decode,
    #[error("sent a body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the connection failed mid-request")]
    Transport,
    #[error("is failing; its circuit is open")]
    CircuitOpen,
    #[error("is at its concurrency limit")]
    Overloaded,
}

impl UpstreamError {
    /// The stable code clients see in a part's error.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_upstream",
            Self::Timeout => "timeout",
            Self::Connect | Self::Transport => "unavailable",
            Self::Status(404) => "not_found",
            // The upstream's verdict on a value the client supplied (an id, a page).
            Self::Status(400 | 422) => "rejected",
            Self::Status(_) => "upstream_status",
            Self::Decode | Self::TooLarge => "bad_upstream_response",
            Self::CircuitOpen => "circuit_open",
            Self::Overloaded => "overloaded",
        }
    }

    /// Whether this says the service is unhealthy (for breakers, ejection and stale-if-error),
    /// as opposed to an answer about the request itself (a 404). A redirect counts: the BFF
    /// follows none, so a host that sends one is not answering as configured.
    pub(crate) fn is_failure(&self) -> bool {
        match self {
            Self::Status(status) => *status >= 500 || *status == 429 || (300..400).contains(status),
            Self::Unknown(_) => false,
            _ => true,
        }
    }

    /// Whether another attempt may succeed: connect errors, timeouts, 502/503/504 only.
    pub(super) fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Connect | Self::Timeout | Self::Status(502..=504)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        for e in [
            UpstreamError::Connect,
            UpstreamError::Timeout,
            UpstreamError::Status(503),
        ] {
            assert!(e.is_retryable(), "{e:?}");
        }
        for e in [
            UpstreamError::Status(500),
            UpstreamError::Status(404),
            UpstreamError::Decode,
            UpstreamError::Transport,
            UpstreamError::CircuitOpen,
        ] {
            assert!(!e.is_retryable(), "{e:?}");
        }
        assert!(!UpstreamError::Status(404).is_failure());
        assert!(UpstreamError::Status(302).is_failure());
        assert!(!UpstreamError::Status(302).is_retryable());
    }
}
