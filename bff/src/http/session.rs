//! `/api/session`: signing in (the accounts service checks the password), who is signed in,
//! signing out — and finding the shopper a request's cookie stands for. The cookie carries a
//! random session id and nothing else: the page never holds a token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_contract::account::{SessionInfo, SignIn};
use tessera_contract::keys;
use tokio::time::Instant;

use super::error::AppError;
use super::request_id::request_id;
use super::state::{App, AppState, Current};
use crate::config::{ClientAddress, IdentityConfig, SecureCookie};
use crate::identity::{Caller, Counted, Identity, Shopper};

/// The longest user name looked up (a longer one cannot be an account).
const MAX_USER_LEN: usize = 64;
/// The longest password passed on.
const MAX_PASSWORD_LEN: usize = 1_024;

/// `POST /api/session`: checks the password with the accounts service and opens a session.
pub(crate) async fn sign_in(
    Current(app): Current,
    client: Client,
    headers: HeaderMap,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, AppError> {
    let identity = identity(&app)?;
    let Json(SignIn { user, password }) = body?;
    if user.is_empty() || user.len() > MAX_USER_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(AppError::InvalidCredentials);
    }
    let config = &identity.config;
    // The name as the accounts service reads it (trimmed, ASCII case folded): ` Alice` must
    // not be a user of its own with a limit of its own.
    let user_key = format!("user:{}", user.trim().to_ascii_lowercase());
    let address_key = format!("addr:{}", client.key());
    let counted = [
        Counted {
            key: &user_key,
            limit: config.max_failures_per_user,
        },
        Counted {
            key: &address_key,
            limit: config.max_failures_per_address,
        },
    ];
    let window = Duration::from_secs(config.failure_window_s);
    identity
        .limiter
        .attempt(&counted, window)
        .await
        .map_err(|limited| AppError::TooManyAttempts {
            retry_after: limited.retry_after,
        })?;

    let body = serde_json::to_vec(&SignIn {
        user: user.clone(),
        password,
    })
    .expect("sign-ins serialize");
    let accounts = config.accounts.get_ref();
    let deadline = Instant::now() + Duration::from_millis(config.sign_in_timeout_ms);
    let (status, answer) = app
        .upstreams
        .post_json(
            accounts,
            &config.check_path,
            body.into(),
            deadline,
            request_id().as_deref(),
            // Only the BFF may ask: the service's password check is not for anyone else.
            Some(
                &identity
                    .signer
                    .service_token(&keys::auth_check_audience(accounts)),
            ),
        )
        .await
        .map_err(|error| AppError::Upstream {
            upstream: accounts.clone(),
            error,
        })?;
    match status {
        200 => {}
        401 | 403 | 404 => {
            // SECURITY: the attempt is logged without the password, without saying which of
            // the two was wrong, and with the name quoted (it may hold anything).
            tracing::info!(user = ?user, address = %address_key, "sign-in refused");
            return Err(AppError::InvalidCredentials);
        }
        other => {
            return Err(AppError::Upstream {
                upstream: accounts.clone(),
                error: crate::upstream::UpstreamError::Status(other),
            });
        }
    }
    let shopper: Shopper = serde_json::from_value(answer).map_err(|_| AppError::Upstream {
        upstream: accounts.clone(),
        error: crate::upstream::UpstreamError::Decode,
    })?;
    identity.limiter.succeeded(&counted).await;
    let ttl = Duration::from_secs(config.session_ttl_s);
    let (id, expires_at) = identity.sessions.open(shopper.clone(), ttl).await?;
    tracing::info!(user = %shopper.user, "signed in");
    let info = SessionInfo {
        user: shopper.user,
        name: shopper.name,
        expires_at,
    };
    let cookie = cookie(config, &headers, &id, Some(ttl));
    let mut response = (StatusCode::OK, Json(info)).into_response();
    set_private(&mut response, cookie);
    Ok(response)
}

/// `GET /api/session`: who is signed in; 401 for nobody.
pub(crate) async fn whoami(
    Current(app): Current,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let identity = identity(&app)?;
    let Some(id) = session_id(&headers, &identity.config.cookie_name) else {
        return Err(AppError::NotSignedIn);
    };
    let (shopper, expires_at) = identity
        .sessions
        .find(id)
        .await?
        .ok_or(AppError::NotSignedIn)?;
    let info = SessionInfo {
        user: shopper.user,
        name: shopper.name,
        expires_at,
    };
    let mut response = Json(info).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// `DELETE /api/session`: ends the session on every replica and clears the cookie.
pub(crate) async fn sign_out(
    Current(app): Current,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let identity = identity(&app)?;
    if let Some(id) = session_id(&headers, &identity.config.cookie_name) {
        identity.sessions.revoke(id).await?;
    }
    let cookie = cookie(&identity.config, &headers, "", None);
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_private(&mut response, cookie);
    Ok(response)
}

/// The shopper a request's session cookie stands for, if any (and identity is on).
pub(crate) async fn caller(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<Arc<Caller>>, AppError> {
    let Some(identity) = &app.identity else {
        return Ok(None);
    };
    let Some(id) = session_id(headers, &identity.config.cookie_name) else {
        return Ok(None);
    };
    Ok(identity.sessions.find(id).await?.map(|(shopper, _)| {
        Arc::new(Caller {
            shopper,
            signer: identity.signer.clone(),
        })
    }))
}

pub(crate) fn identity(app: &App) -> Result<&Identity, AppError> {
    app.identity.as_ref().ok_or(AppError::IdentityOff)
}

/// The value of the session cookie `name`, if the request carries one.
pub(crate) fn session_id<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` when the request came
/// over HTTPS (or always/never, as configured). Without a lifetime it clears the cookie.
fn cookie(
    config: &IdentityConfig,
    headers: &HeaderMap,
    id: &str,
    ttl: Option<Duration>,
) -> HeaderValue {
    let secure = match config.secure_cookie {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => came_over_https(headers),
    };
    let max_age = ttl.map_or(0, |t| t.as_secs());
    let mut text = format!(
        "{}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}",
        config.cookie_name
    );
    if secure {
        text.push_str("; Secure");
    }
    let mut value = HeaderValue::from_str(&text).expect("cookies are plain ASCII");
    value.set_sensitive(true);
    value
}

/// Whether the request reached the balancer in front over HTTPS (`X-Forwarded-Proto` or
/// `Forwarded: proto=https`). Only ever used to add `Secure`, so a client that lies about it
/// only makes its own cookie stricter.
fn came_over_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|pair| pair.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_proto || forwarded
}

fn set_private(response: &mut Response, cookie: HeaderValue) {
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, cookie);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
}

/// The client's address, as `identity.client_address` says to find it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client(pub(crate) Option<IpAddr>);

impl Client {
    /// What sign-ins are counted under: the address, or for IPv6 its /64 (a client holds a
    /// whole /64 and could otherwise take a fresh address per guess).
    fn key(self) -> String {
        match self.0 {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(ip)) => ip.to_string(),
            Some(IpAddr::V6(ip)) => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        live: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let app = parts
            .extensions
            .get::<Arc<App>>()
            .cloned()
            .unwrap_or_else(|| live.current());
        let from_header = matches!(
            app.identity.as_ref().map(|i| i.config.client_address),
            Some(ClientAddress::XForwardedFor)
        );
        if from_header {
            // The balancer appends the address it saw: the last value is the one to trust, and
            // only it (the ones before it are whatever the client wrote). One that is not an
            // address falls back to the connection's.
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
            return Ok(Self(forwarded.or(peer)));
        }
        Ok(Self(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tessera_session=abc; b=2"),
        );
        assert_eq!(session_id(&headers, "tessera_session"), Some("abc"));
        assert_eq!(session_id(&headers, "other"), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("tessera_session="));
        assert_eq!(session_id(&headers, "tessera_session"), None);
    }

    #[test]
    fn https_is_read_from_the_balancers_headers() {
        let mut headers = HeaderMap::new();
        assert!(!came_over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(came_over_https(&headers));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=1.2.3.4;proto=https"),
        );
        assert!(came_over_https(&headers));
    }
}
