//! The one place where errors become HTTP responses: a stable code, a status, a message safe for
//! clients, and the request id. The core's typed errors and axum's rejections convert into
//! [`AppError`] with `?`; details go to the log here, once.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_contract::ErrorBody;

use super::request_id::request_id;
use crate::assets::Refusal;
use crate::cache::{BadTarget, SharedError};
use crate::compose::{ComposeError, Verdict};
use crate::config::MalformedId;
use crate::identity::SessionError;
use crate::upstream::UpstreamError;

/// Everything a BFF request can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
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
    /// A call to an upstream failed; the message names the upstream, never its address.
    #[error("{upstream} {error}")]
    Upstream {
        upstream: String,
        error: UpstreamError,
    },
    /// An upstream's verdict on a client's write (a 4xx), in our own words.
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Asset(#[from] Refusal),
    #[error(transparent)]
    BadTarget(#[from] BadTarget),
    /// A drop the shared cache did not take (this replica's own layers did).
    #[error("dropped on this replica only: {0}")]
    SharedCache(#[from] SharedError),
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: std::time::Duration },
    #[error("sign in first")]
    NotSignedIn,
    #[error("sign-in is not configured here")]
    IdentityOff,
    #[error(transparent)]
    Sessions(#[from] SessionError),
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
            Self::Upstream { error, .. } => (upstream_status(error), error.code()),
            Self::BadTarget(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::SharedCache(_) => (StatusCode::SERVICE_UNAVAILABLE, "shared_cache_unavailable"),
            Self::Rejected { status, .. } => (*status, rejection_code(*status)),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Self::NotSignedIn => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::IdentityOff => (StatusCode::NOT_FOUND, "not_found"),
            Self::Sessions(_) => (StatusCode::SERVICE_UNAVAILABLE, "sessions_unavailable"),
            Self::Compose(e) => match e {
                ComposeError::UnknownView(_) | ComposeError::NotFound { .. } => {
                    (StatusCode::NOT_FOUND, "not_found")
                }
                ComposeError::MalformedId(_)
                | ComposeError::UnknownPart { .. }
                | ComposeError::Rejected { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
                ComposeError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            },
            Self::Asset(e) => match e {
                Refusal::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                Refusal::BadPath(_) => (StatusCode::BAD_REQUEST, "bad_request"),
                Refusal::NotFound(_) | Refusal::NoFrontEnd => (StatusCode::NOT_FOUND, "not_found"),
            },
        }
    }
}

/// What a failed upstream call means for our client: it took too long (504), it does not know
/// the thing asked for (404), it refused the client's value (400), or it failed (502).
fn upstream_status(error: &UpstreamError) -> StatusCode {
    match error {
        UpstreamError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        UpstreamError::Status(404) => StatusCode::NOT_FOUND,
        UpstreamError::Status(400 | 422) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The HTTP status of a view (or part) with this verdict.
pub(crate) fn verdict_status(verdict: Verdict) -> StatusCode {
    match verdict {
        Verdict::Ok => StatusCode::OK,
        Verdict::Failed => StatusCode::BAD_GATEWAY,
        Verdict::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        Verdict::Rejected => StatusCode::BAD_REQUEST,
        Verdict::NotFound => StatusCode::NOT_FOUND,
        Verdict::Unauthorized => StatusCode::UNAUTHORIZED,
    }
}

fn rejection_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::CONFLICT => "conflict",
        _ => "bad_request",
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        tracing::debug!(%status, code, error = %self, "request failed");
        let mut response = json_error(status, code, self.to_string());
        if matches!(self, Self::Asset(Refusal::MethodNotAllowed)) {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if let Self::TooManyAttempts { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.as_secs().max(1).into());
        }
        if let Self::Sessions(e) = &self {
            tracing::warn!(error = %e, "session store failed");
        }
        response
    }
}

impl From<MalformedId> for AppError {
    fn from(error: MalformedId) -> Self {
        Self::BadRequest(error.to_string())
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            _ => Self::BadRequest(rejection.body_text()),
        }
    }
}

impl From<BytesRejection> for AppError {
    fn from(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            _ => Self::BadRequest(rejection.body_text()),
        }
    }
}

/// A JSON error response carrying the current request id. Never cached.
pub(crate) fn json_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut body = ErrorBody::new(code, message);
    body.error.request_id = request_id();
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
