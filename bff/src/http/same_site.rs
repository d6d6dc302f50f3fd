//! SECURITY: a state-changing request under `/api` (sign-in and sign-out included) is refused
//! when a browser says it comes from another site — by `Sec-Fetch-Site`, or else by an
//! `Origin` that is neither the BFF's own nor a configured one. A page elsewhere can then
//! neither act with a shopper's session nor sign them in as someone else. Clients that are not
//! browsers send neither header and pass.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use super::error::json_error;
use super::state::App;

pub(crate) fn refusal(request: &Request, app: &App) -> Option<Response> {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !unsafe_method {
        return None;
    }
    let why = cross_site(request.headers(), app)?;
    Some(json_error(StatusCode::FORBIDDEN, "cross_site", why))
}

/// Why the request comes from another site, if it does.
fn cross_site(headers: &HeaderMap, app: &App) -> Option<String> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    // A configured origin may write whatever the browser calls it (a storefront on
    // shop.example using a BFF on api.example is `same-site`).
    let allowed = origin.is_some_and(|origin| {
        app.identity.as_ref().is_some_and(|identity| {
            identity.config.allowed_origins.iter().any(|o| {
                o.get_ref()
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(origin)
            })
        })
    });
    if allowed {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `none`: the user's own action (typed, bookmarked); `same-origin`: this page.
        return (!matches!(site, "same-origin" | "none"))
            .then(|| format!("a {site} request may not change anything here"));
    }
    let origin = origin?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let own = host.is_some_and(|host| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
    });
    (!own).then(|| format!("requests from {origin} may not change anything here"))
}
