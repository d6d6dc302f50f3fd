//! Fault injection: added latency, jitter, a random error rate, a hang, or a connection cut
//! mid-answer, applied to every non-admin route so demos and tests can show how the BFF and the
//! page degrade.
//!
//! `PUT /admin/faults` sets them, `GET` reads them, `DELETE` resets them; they can also be set at
//! start-up.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::http::ServiceError;

/// The faults a service currently injects.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Added to every response, in milliseconds.
    pub latency_ms: u64,
    /// A uniformly random extra delay up to this many milliseconds.
    pub jitter_ms: u64,
    /// The probability (0.0–1.0) that a request fails with `error_status`.
    pub error_rate: f64,
    /// The status of injected failures (400–599).
    pub error_status: u16,
    /// Never answer (until the client gives up).
    pub hang: bool,
    /// The probability (0.0–1.0) that a request's connection is cut after the response head,
    /// before its body: what a crashed or restarted process looks like to its client.
    pub reset_rate: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            hang: false,
            reset_rate: 0.0,
        }
    }
}

impl Faults {
    /// Every request fails with `status`.
    pub fn failing(status: u16) -> Self {
        Self {
            error_rate: 1.0,
            error_status: status,
            ..Self::default()
        }
    }

    /// Every request is answered `latency_ms` late.
    pub fn slowed(latency_ms: u64) -> Self {
        Self {
            latency_ms,
            ..Self::default()
        }
    }

    /// Checks that the settings make sense, naming the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be within 0.0..=1.0, got {}",
                self.error_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.reset_rate) {
            return Err(format!(
                "reset_rate must be within 0.0..=1.0, got {}",
                self.reset_rate
            ));
        }
        if !(400..=599).contains(&self.error_status) {
            return Err(format!(
                "error_status must be within 400..=599, got {}",
                self.error_status
            ));
        }
        const HOUR_MS: u64 = 3_600_000;
        if self.latency_ms > HOUR_MS || self.jitter_ms > HOUR_MS {
            return Err("latency_ms and jitter_ms must be at most one hour".into());
        }
        Ok(())
    }
}

/// The live fault settings of one service. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<RwLock<Faults>>);

impl FaultSwitch {
    pub fn new(initial: Faults) -> Self {
        Self(Arc::new(RwLock::new(initial)))
    }

    pub fn get(&self) -> Faults {
        *self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, faults: Faults) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = faults;
    }
}

/// Middleware applying the current faults before the request reaches its handler.
pub async fn inject(State(switch): State<FaultSwitch>, request: Request, next: Next) -> Response {
    let faults = switch.get();
    if faults.hang {
        // The future is dropped when the client disconnects, so nothing leaks.
        std::future::pending::<()>().await;
    }
    let jitter = if faults.jitter_ms > 0 {
        fastrand::u64(0..=faults.jitter_ms)
    } else {
        0
    };
    let delay = faults.latency_ms + jitter;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if faults.error_rate > 0.0 && fastrand::f64() < faults.error_rate {
        let status =
            StatusCode::from_u16(faults.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return ServiceError::Injected(status).into_response();
    }
    if faults.reset_rate > 0.0 && fastrand::f64() < faults.reset_rate {
        return cut();
    }
    next.run(request).await
}

/// A response whose body fails: the server sends the head, then drops the connection
/// without a complete answer, so the client's read of the body fails as on a reset.
fn cut() -> Response {
    let failing = futures::stream::once(async {
        // Pending once first: the server flushes the head before it sees the body fail (a
        // body failing on its first poll drops the connection with nothing sent).
        tokio::task::yield_now().await;
        Err::<axum::body::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(failing),
    )
        .into_response()
}

/// `GET|PUT|DELETE /admin/faults`.
pub fn admin_routes(switch: FaultSwitch) -> Router {
    Router::new()
        .route(
            "/admin/faults",
            get(read_faults).put(set_faults).delete(reset_faults),
        )
        .with_state(switch)
}

async fn read_faults(State(switch): State<FaultSwitch>) -> axum::Json<Faults> {
    axum::Json(switch.get())
}

async fn set_faults(
    State(switch): State<FaultSwitch>,
    body: Result<axum::Json<Faults>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<Faults>, ServiceError> {
    let axum::Json(faults) = body?;
    faults.validate().map_err(ServiceError::BadRequest)?;
    switch.set(faults);
    tracing::info!(?faults, "faults set");
    Ok(axum::Json(faults))
}

async fn reset_faults(State(switch): State<FaultSwitch>) -> axum::Json<Faults> {
    switch.set(Faults::default());
    axum::Json(Faults::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_bad_field() {
        let bad_rate = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(bad_rate.validate().unwrap_err().contains("error_rate"));
        let bad_status = Faults {
            error_status: 200,
            ..Faults::default()
        };
        assert!(bad_status.validate().unwrap_err().contains("error_status"));
        let bad_reset = Faults {
            reset_rate: -0.1,
            ..Faults::default()
        };
        assert!(bad_reset.validate().unwrap_err().contains("reset_rate"));
        assert!(Faults::default().validate().is_ok());
    }

    #[test]
    fn partial_json_fills_defaults_and_unknown_keys_are_rejected() {
        let f: Faults = serde_json::from_str(r#"{"latency_ms": 20}"#).unwrap();
        assert_eq!(f.latency_ms, 20);
        assert_eq!(f.error_status, 503);
        assert!(serde_json::from_str::<Faults>(r#"{"latency": 20}"#).is_err());
    }
}
