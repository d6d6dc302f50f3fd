//! The one place where errors become HTTP responses: a stable code, a status, a message safe for
//! clients, and the request id. Details go to the log here, once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_contract::ErrorBody;

use crate::ops::request_id;

/// Everything a BFF request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// An upstream's failure, or its verdict on a write, in our own words.
    #[error("{message}")]
    Upstream {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Upstream { status, code, .. } => (*status, code),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        tracing::debug!(%status, code, error = %self, "request failed");
        json_error(status, code, self.to_string())
    }
}

/// A JSON error response carrying the current request id. Never cached.
pub fn json_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut body = ErrorBody::new(code, message);
    body.error.request_id = request_id();
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
