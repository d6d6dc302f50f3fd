//! CDN-style hosting of the front-end build, from memory.
//!
//! The whole fingerprinted build (a few hundred KB) is read once at start-up with its
//! precompressed variants and strong content ETags, so a request is a map lookup. The rules:
//!
//! - `/assets/*` are content-hashed: `public, max-age=31536000, immutable`. A missing one is a
//!   JSON 404 with `no-store` — never the HTML page, which a CDN would then cache for a year.
//! - Everything else (`index.html`) is `no-cache` with a strong ETag, so every load revalidates.
//! - Navigations (`GET`, `Accept: text/html`) to unknown paths get `index.html` (the SPA's router
//!   takes over); other unknown paths get a JSON 404.

pub mod fingerprint;

use std::collections::HashMap;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tessera_contract::if_none_match;

use crate::error::{AppError, json_error};

/// URL prefix (and build sub-directory) of content-hashed, immutable files.
pub const HASHED_PREFIX: &str = "assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("cannot read the front-end build at {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the front-end build at {0} has no index.html (run scripts/build-frontend.sh)")]
    NoIndex(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
        }
    }
}

#[derive(Debug, Clone)]
struct Variant {
    body: Bytes,
    etag: HeaderValue,
}

#[derive(Debug, Clone)]
struct Asset {
    content_type: HeaderValue,
    cache_control: HeaderValue,
    identity: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

impl Asset {
    fn negotiates(&self) -> bool {
        self.gzip.is_some() || self.brotli.is_some()
    }

    fn variant(&self, accept_encoding: &str) -> (Encoding, &Variant) {
        if let Some(v) = self
            .brotli
            .as_ref()
            .filter(|_| accepts(accept_encoding, "br"))
        {
            return (Encoding::Brotli, v);
        }
        if let Some(v) = self
            .gzip
            .as_ref()
            .filter(|_| accepts(accept_encoding, "gzip"))
        {
            return (Encoding::Gzip, v);
        }
        (Encoding::Identity, &self.identity)
    }
}

/// The loaded front-end build.
#[derive(Debug, Clone)]
pub struct Assets {
    files: HashMap<String, Asset>,
}

impl Assets {
    /// Loads every file under `dist` (with its `.br`/`.gz` siblings as variants).
    pub fn load(dist: &Path) -> Result<Self, AssetError> {
        let mut raw: HashMap<String, Bytes> = HashMap::new();
        walk(dist, dist, &mut raw)?;
        let mut files = HashMap::new();
        for (key, body) in &raw {
            if key.ends_with(".br") || key.ends_with(".gz") {
                continue;
            }
            let cache_control = if key.starts_with(HASHED_PREFIX) {
                IMMUTABLE
            } else {
                "no-cache"
            };
            let variant = |suffix: &str, tag: &str| {
                raw.get(&format!("{key}{suffix}")).map(|b| Variant {
                    body: b.clone(),
                    etag: etag_of(b, tag),
                })
            };
            files.insert(
                key.clone(),
                Asset {
                    content_type: HeaderValue::from_static(content_type(key)),
                    cache_control: HeaderValue::from_static(cache_control),
                    identity: Variant {
                        body: body.clone(),
                        etag: etag_of(body, ""),
                    },
                    gzip: variant(".gz", "-gz"),
                    brotli: variant(".br", "-br"),
                },
            );
        }
        if !files.contains_key("index.html") {
            return Err(AssetError::NoIndex(dist.display().to_string()));
        }
        Ok(Self { files })
    }

    /// Answers a request outside `/api`.
    pub fn respond(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            let mut response = AppError::MethodNotAllowed.into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let key = match clean_path(uri.path()) {
            Ok(key) => key,
            Err(e) => return e.into_response(),
        };
        let key = if key.is_empty() {
            "index.html".to_owned()
        } else {
            key
        };
        if let Some(asset) = self.files.get(&key) {
            return serve(asset, method, headers);
        }
        let is_navigation = method == Method::GET
            && !key.starts_with(HASHED_PREFIX)
            && headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"));
        if is_navigation {
            return serve(&self.files["index.html"], method, headers);
        }
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no file at /{key}"),
        )
    }
}

fn serve(asset: &Asset, method: &Method, request: &HeaderMap) -> Response {
    let accept_encoding = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (encoding, variant) = asset.variant(accept_encoding);
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|inm| Some(if_none_match(inm, variant.etag.to_str().ok()?)))
        .unwrap_or(false);

    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        let mut r = Response::new(Body::empty());
        r.headers_mut().insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(variant.body.len()),
        );
        r
    } else {
        Response::new(Body::from(variant.body.clone()))
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, asset.cache_control.clone());
    h.insert(header::ETAG, variant.etag.clone());
    if !not_modified {
        h.insert(header::CONTENT_TYPE, asset.content_type.clone());
    }
    if asset.negotiates() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(coding) = encoding.header().filter(|_| !not_modified) {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}

/// Decodes and checks a request path, returning the key of the file it names (no leading `/`).
///
/// SECURITY: files are looked up in a map, so nothing outside the build can be reached anyway;
/// still, traversal and encoding tricks are rejected outright so they never reach a fallback.
fn clean_path(raw: &str) -> Result<String, AppError> {
    let decoded = percent_decode(raw).ok_or_else(|| {
        AppError::BadRequest("the path is not valid percent-encoded UTF-8".into())
    })?;
    let suspicious = decoded.contains('\\')
        || decoded.contains('\0')
        || decoded.split('/').any(|seg| seg == ".." || seg == ".")
        || decoded.contains("//");
    if suspicious {
        return Err(AppError::BadRequest("the path is not allowed".into()));
    }
    Ok(decoded.trim_start_matches('/').to_owned())
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether an `Accept-Encoding` value accepts `coding` (present and not `q=0`).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut fields = item.split(';').map(str::trim);
        let name = fields.next().unwrap_or("");
        let q_zero = fields.any(|f| {
            f.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case(coding) && !q_zero
    })
}

fn etag_of(body: &[u8], suffix: &str) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}{suffix}\"")).expect("hex digits are a valid header")
}

/// The media type of a file by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn walk(root: &Path, dir: &Path, out: &mut HashMap<String, Bytes>) -> Result<(), AssetError> {
    let read_err = |path: &Path, source| AssetError::Read {
        path: path.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(|e| read_err(dir, e))? {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| read_err(&path, e))?;
        if file_type.is_dir() {
            walk(root, &path, out)?;
        } else if file_type.is_file() {
            let key = path
                .strip_prefix(root)
                .expect("walked paths are under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let body = std::fs::read(&path).map_err(|e| read_err(&path, e))?;
            out.insert(key, Bytes::from(body));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_encoding_tricks_are_rejected() {
        for bad in [
            "/../etc/passwd",
            "/assets/%2e%2e/x",
            "/a\\b",
            "/a%5c..%5cb",
            "/a%00b",
            "/%ff",
            "/a/./b",
            "//x",
            "/%",
        ] {
            assert!(clean_path(bad).is_err(), "{bad}");
        }
        assert_eq!(clean_path("/assets/app-1.js").unwrap(), "assets/app-1.js");
        assert_eq!(clean_path("/category/caf%C3%A9").unwrap(), "category/café");
    }

    #[test]
    fn accept_encoding_respects_q_zero() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(!accepts("gzip", "br"));
    }
}
