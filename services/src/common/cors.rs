//! CORS for the few routes a browser page calls directly (a vault key URL is opened by the page,
//! not fetched through the BFF): which origins may read the answers, and the preflight.
//!
//! No credentials are ever allowed: a granted URL carries its own authority, so no cookie is
//! needed or read. Every answer of the covered routes carries the headers, errors included, so
//! the page can tell an expired link (410) from a refused one (403).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_S: &str = "600";

/// The origins whose pages may read a service's browser-facing answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Exactly these (`scheme://host[:port]`).
    List(Vec<String>),
    /// Any `http://127.0.0.1[:port]` or `http://localhost[:port]`: for the in-process demo and
    /// tests, whose storefront runs on an ephemeral port.
    AnyLoopback,
}

impl Origins {
    /// The storefront as `scripts/demo.sh` serves it.
    pub const STOREFRONT: &[&str] = &["http://127.0.0.1:8080", "http://localhost:8080"];

    /// [`Origins::STOREFRONT`].
    pub fn storefront() -> Self {
        Self::List(Self::STOREFRONT.iter().map(|&o| o.to_owned()).collect())
    }

    /// A list of origins, each checked to be `http(s)://host[:port]` with nothing after it (a
    /// trailing `/` is dropped). The error names the bad one.
    pub fn list<S: AsRef<str>>(origins: &[S]) -> Result<Self, String> {
        let mut list = Vec::with_capacity(origins.len());
        for origin in origins {
            let origin = origin.as_ref().trim().trim_end_matches('/');
            let host = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            match host {
                Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '*', ' ']) => {
                    list.push(origin.to_ascii_lowercase());
                }
                _ => {
                    return Err(format!(
                        "{origin:?} is not an origin (expected http(s)://host[:port])"
                    ));
                }
            }
        }
        Ok(Self::List(list))
    }

    /// Whether a page of `origin` (an `Origin` header's value) may read the answer.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            Self::AnyLoopback => ["http://127.0.0.1", "http://localhost"]
                .iter()
                .filter_map(|host| origin.strip_prefix(host))
                .any(|rest| match rest.strip_prefix(':') {
                    None => rest.is_empty(),
                    Some(port) => {
                        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
                    }
                }),
        }
    }
}

/// `app` with CORS on the requests whose path starts with `prefix`: GET only, `Content-Disposition`
/// readable, preflights answered 204 here (before faults or handlers). Layered outside the
/// service's own layers, so injected faults and 404s carry the headers too.
pub fn layer(app: Router, prefix: &'static str, origins: Origins) -> Router {
    app.layer(middleware::from_fn_with_state(
        Arc::new((prefix, origins)),
        apply,
    ))
}

async fn apply(
    State(config): State<Arc<(&'static str, Origins)>>,
    request: Request,
    next: Next,
) -> Response {
    let (prefix, origins) = &*config;
    if !request.uri().path().starts_with(prefix) {
        return next.run(request).await;
    }
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| origins.allows(o)))
        .cloned();
    let preflight = request.method() == Method::OPTIONS;
    let mut response = if preflight {
        (
            StatusCode::NO_CONTENT,
            [(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            )],
        )
            .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Content-Disposition"),
        );
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE_S),
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_exactly_and_loopback_matches_any_port() {
        let list = Origins::list(&["http://shop.example/", "https://Shop.example:8443"]).unwrap();
        assert!(list.allows("http://shop.example"));
        assert!(list.allows("https://shop.example:8443"));
        assert!(!list.allows("http://shop.example:8080"));
        assert!(!list.allows("http://evil.example"));
        assert!(!list.allows("null"));
        for bad in ["shop.example", "http://", "http://a/b", "*", "ftp://a"] {
            assert!(Origins::list(&[bad]).is_err(), "{bad}");
        }

        let loopback = Origins::AnyLoopback;
        for ok in [
            "http://127.0.0.1:5173",
            "http://localhost:8080",
            "http://localhost",
        ] {
            assert!(loopback.allows(ok), "{ok}");
        }
        for no in [
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example:80",
            "http://127.0.0.1:80a",
            "http://127.0.0.1:123456",
            "https://evil.example",
            "http://127.0.0.1:",
        ] {
            assert!(!loopback.allows(no), "{no}");
        }
        assert!(Origins::storefront().allows("http://localhost:8080"));
    }
}
