//! `POST /api/actions/{name}/{id}`: relays a write to its upstream and, when it succeeds, drops
//! what the write changed (a new review drops that product's review parts).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::error::AppError;
use super::extract::Path;
use super::request_id::request_id;
use super::session::caller;
use super::state::Current;
use crate::cache::Invalidation;
use crate::config::IdKind;
use crate::upstream::UpstreamError;

/// The JSON body goes to the action's upstream once (writes are not retried); the upstream's
/// answer comes back, and on success the action's invalidation prefixes are dropped everywhere.
pub(crate) async fn action(
    Current(state): Current,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body?;
    let action = state
        .config
        .actions
        .get(&name)
        .ok_or_else(|| AppError::NotFound(format!("no action named {name:?}")))?;
    IdKind::Slug.check(&id)?;
    if !is_json(&headers) {
        return Err(AppError::UnsupportedMediaType);
    }
    let mut json = serde_json::from_slice::<serde_json::Value>(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is not JSON: {e}")))?;
    // The signed-in shopper's name, whatever the client wrote: the BFF speaks for the user.
    let body = match &action.user_field {
        Some(field) => match caller(&state, &headers).await? {
            Some(caller) => {
                let object = json
                    .as_object_mut()
                    .ok_or_else(|| AppError::BadRequest("the body must be a JSON object".into()))?;
                object.insert(
                    field.get_ref().clone(),
                    serde_json::Value::String(caller.shopper.name.clone()),
                );
                Bytes::from(serde_json::to_vec(&json).expect("JSON values serialize"))
            }
            None => body,
        },
        None => body,
    };

    let upstream = action.upstream.get_ref();
    let path = action.path.get_ref().replace("{id}", &id);
    let deadline = Instant::now() + Duration::from_millis(action.timeout_ms);
    let (status, answer) = state
        .upstreams
        .post_json(
            upstream,
            &path,
            body,
            deadline,
            request_id().as_deref(),
            None,
        )
        .await
        .map_err(|error| AppError::Upstream {
            upstream: upstream.clone(),
            error,
        })?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if status.is_success() {
        for prefix in &action.invalidate {
            let target = Invalidation::Prefix(prefix.get_ref().replace("{id}", &id));
            // The write is done: a drop the shared cache missed is logged and counted (by
            // the cache) rather than answered as a failure the client would retry.
            let _ = state.cache.invalidate(&target).await;
        }
        return Ok((status, Json(answer)).into_response());
    }
    if status.is_client_error() {
        // The upstream's verdict on the client's input: its message, in our error shape.
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("the request was rejected")
            .to_owned();
        return Err(AppError::Rejected { status, message });
    }
    Err(AppError::Upstream {
        upstream: upstream.clone(),
        error: UpstreamError::Status(status.as_u16()),
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim() == "application/json")
        })
}
