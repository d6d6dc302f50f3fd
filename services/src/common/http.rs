//! HTTP conventions every demo service follows: JSON errors, strong ETags with 304s, and
//! `Cache-Control` on every successful read (public, or private to one user).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tessera_contract::{ErrorBody, if_none_match};

use super::db::DbError;

/// The largest request body a service accepts; a larger one is answered 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Every way a service request can fail, mapped to a status and a stable code in one place.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("injected fault")]
    Injected(StatusCode),
    /// A sign-in with an unknown user or a wrong password: the same answer for both.
    #[error("wrong user name or password")]
    InvalidCredentials,
    /// No bearer token (`None`), or one that does not hold (why).
    #[error("{}", unauthorized(.0.as_deref()))]
    Unauthorized(Option<String>),
    #[error("{0}")]
    Forbidden(String),
    /// What was asked for existed but has expired (a vault key past its time).
    #[error("{0}")]
    Gone(String),
    /// A failure inside the service (a worker thread that died); details in the log.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn unauthorized(why: Option<&str>) -> String {
    match why {
        None => "a bearer token is required".to_owned(),
        Some(why) => format!("invalid token: {why}"),
    }
}

impl ServiceError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Injected(status) => (*status, "injected_fault"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Gone(_) => (StatusCode::GONE, "expired"),
            Self::Db(_) | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            // Details of storage failures stay in the log.
            Self::Db(e) => {
                tracing::error!(error = %e, "database failure");
                "internal error".to_owned()
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal failure");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, axum::Json(ErrorBody::new(code, message))).into_response();
        if let Self::Unauthorized(why) = &self {
            // RFC 6750 §3: a request without credentials gets the bare challenge, one with a
            // token that does not hold gets `invalid_token`.
            let challenge = match why {
                None => "Bearer",
                Some(_) => "Bearer error=\"invalid_token\"",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<JsonRejection> for ServiceError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge { limit: BODY_LIMIT },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::UnsupportedMediaType("expected Content-Type: application/json".into())
            }
            _ => Self::BadRequest(rejection.body_text()),
        }
    }
}

impl From<PathRejection> for ServiceError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ServiceError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

/// A strong ETag over the exact bytes of a representation.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A JSON read response with a content ETag and `Cache-Control: public, max-age=<max_age>`,
/// answering a matching `If-None-Match` with 304.
pub fn cached_json<T: Serialize>(request: &HeaderMap, value: &T, max_age: u32) -> Response {
    let cache_control = format!("public, max-age={max_age}");
    json_with_etag(request, value, None, &cache_control)
}

/// A JSON read response for one user only: `Cache-Control: private, no-cache` (a browser or the
/// BFF may keep it, but asks again each time), `Vary: Authorization`, and an ETag over `user` and
/// the bytes, so two users never share a tag even when their answers are equal.
pub fn private_json<T: Serialize>(request: &HeaderMap, user: &str, value: &T) -> Response {
    let mut response = json_with_etag(request, value, Some(user), "private, no-cache");
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

fn json_with_etag<T: Serialize>(
    request: &HeaderMap,
    value: &T,
    scope: Option<&str>,
    cache_control: &str,
) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "serializing a response failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(ErrorBody::new("internal", "internal error")),
            )
                .into_response();
        }
    };
    let etag = match scope {
        None => etag_of(&body),
        // The scope is a user id (no newline), so no two (user, body) pairs hash the same input.
        Some(scope) => etag_of(&[scope.as_bytes(), b"\n", &body].concat()),
    };
    let headers = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, cache_control.to_owned()),
    ];
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, &etag));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mut response = (headers, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// [`cached_json`] of `value`, or a 404 saying `missing` when there is none.
pub fn cached_or_404<T: Serialize>(
    request: &HeaderMap,
    value: Option<T>,
    max_age: u32,
    missing: impl FnOnce() -> String,
) -> Result<Response, ServiceError> {
    match value {
        Some(value) => Ok(cached_json(request, &value, max_age)),
        None => Err(ServiceError::NotFound(missing())),
    }
}

/// [`cached_json`] of `{"items": [...]}`, the shape of every list that is not paged.
pub fn cached_items<T: Serialize>(request: &HeaderMap, items: &[T], max_age: u32) -> Response {
    cached_json(request, &serde_json::json!({ "items": items }), max_age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_quoted_and_content_derived() {
        let a = etag_of(b"hello");
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_eq!(a, etag_of(b"hello"));
        assert_ne!(a, etag_of(b"hello!"));
    }

    #[test]
    fn private_answers_are_tagged_per_user() {
        let none = HeaderMap::new();
        let value = serde_json::json!({"orders": 3});
        let alice = private_json(&none, "1", &value);
        let bob = private_json(&none, "2", &value);
        assert_ne!(alice.headers()["etag"], bob.headers()["etag"]);
        assert_eq!(alice.headers()["cache-control"], "private, no-cache");
        assert_eq!(alice.headers()["vary"], "Authorization");

        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, alice.headers()["etag"].clone());
        assert_eq!(
            private_json(&again, "1", &value).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(private_json(&again, "2", &value).status(), StatusCode::OK);
    }
}
