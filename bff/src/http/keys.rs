//! `POST /api/keys/{grant}/{id}`: a vault key — a URL on the data service itself for one
//! document, signed for the signed-in shopper over method, path, expiry and user. The browser
//! fetches the document straight from the service, which checks the signature with the BFF's
//! public key: the BFF is not on that path at all.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_contract::account::KeyGrant;
use tessera_contract::keys;

use super::error::AppError;
use super::extract::Path;
use super::session::caller;
use super::state::Current;

pub(crate) async fn grant(
    Current(app): Current,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let grant = app
        .config
        .grants
        .get(&name)
        .ok_or_else(|| AppError::NotFound(format!("no grant named {name:?}")))?;
    grant.id.check(&id)?;
    let caller = caller(&app, &headers).await?.ok_or(AppError::NotSignedIn)?;
    let base = match &grant.public_url {
        Some(url) => url.get_ref().clone(),
        None => app
            .config
            .upstreams
            .get(grant.upstream.get_ref())
            .and_then(|u| u.hosts().next().map(str::to_owned))
            .ok_or_else(|| AppError::NotFound(format!("grant {name:?} has no upstream")))?,
    };
    let path = grant.path.get_ref().replace("{id}", &id);
    let expires_at = keys::now_s() + grant.lifetime_s;
    let url = caller.signer.grant(
        base.trim_end_matches('/'),
        &path,
        &caller.shopper,
        expires_at,
    );
    tracing::debug!(grant = %name, %id, user = %caller.shopper.user, "key granted");
    let mut response = Json(KeyGrant { url, expires_at }).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
