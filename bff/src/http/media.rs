//! `GET /media/{name}/{file}`: images of the services (product pictures) relayed from the
//! page's own origin, so its Content-Security-Policy can stay `img-src 'self'` and the browser
//! never talks to a service directly. File names are checked before any upstream is called.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_contract::if_none_match;
use tokio::time::Instant;

use super::error::AppError;
use super::extract::Path;
use super::request_id::request_id;
use super::state::Current;

/// Image types the relay passes on, by file extension.
const EXTENSIONS: [&str; 6] = ["svg", "png", "jpg", "jpeg", "webp", "avif"];
/// How long browsers keep a relayed image when its service says nothing.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

/// `GET /media/{name}/{file}`.
pub(crate) async fn media(
    Current(state): Current,
    Path((name, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let config = state
        .config
        .media
        .get(&name)
        .ok_or_else(|| AppError::NotFound(format!("no media named {name:?}")))?;
    validate_file(&file)?;
    let upstream = config.upstream.get_ref();
    let path = config.path.get_ref().replacen("{file}", &file, 1);
    let deadline = Instant::now() + Duration::from_millis(config.timeout_ms);
    // The client's validator goes to the service, which knows best whether it still holds.
    let asked = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let media = state
        .upstreams
        .get_media(upstream, &path, deadline, request_id().as_deref(), asked)
        .await
        .map_err(|error| AppError::Upstream {
            upstream: upstream.clone(),
            error,
        })?;

    // The service's caching rule holds here too: `private`/`no-store` stay out of shared caches.
    let cache_control = if media.no_store {
        HeaderValue::from_static("private, no-store")
    } else {
        let max_age = media.max_age.unwrap_or(DEFAULT_MAX_AGE).as_secs();
        HeaderValue::from_str(&format!("public, max-age={max_age}"))
            .expect("a number is a valid header value")
    };
    let fresh = media.not_modified
        || media.etag.as_ref().is_some_and(|etag| {
            asked
                .zip(etag.to_str().ok())
                .is_some_and(|(asked, etag)| if_none_match(asked, etag))
        });
    let mut response = match media.content_type {
        Some(content_type) if !fresh => {
            let mut response = media.bytes.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            response
        }
        _ => StatusCode::NOT_MODIFIED.into_response(),
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, cache_control);
    if let Some(etag) = media.etag {
        out.insert(header::ETAG, etag);
    }
    // An SVG opened on its own must not run anything or load anything.
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    Ok(response)
}

/// `name.ext`: letters, digits, `-` and `_`, one dot, an image extension, at most 100 bytes.
fn validate_file(file: &str) -> Result<(), AppError> {
    let valid = file.len() <= 100
        && file.split_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && EXTENSIONS.contains(&ext)
        });
    if valid {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "{file:?} is not an image file name (name.{})",
            EXTENSIONS.join("|")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_image_file_names_pass() {
        for good in ["42.svg", "a-b_c.png", "x.webp"] {
            assert!(validate_file(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".svg",
            "42",
            "42.html",
            "../42.svg",
            "a/b.svg",
            "42.svg.svg",
            "%2e.svg",
            "a b.png",
            "42.SVG\0",
        ] {
            assert!(validate_file(bad).is_err(), "{bad:?}");
        }
        assert!(validate_file(&format!("{}.png", "a".repeat(100))).is_err());
    }
}
