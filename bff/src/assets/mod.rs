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

pub mod cdn;
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
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

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
    /// The Content-Security-Policy of every response, allowing exactly the page's own inline
    /// scripts (Trunk's loader) by hash, and WebAssembly compilation.
    csp: HeaderValue,
}

impl Assets {
    /// Loads every file under `dist` (with its `.br`/`.gz` siblings as variants).
    pub fn load(dist: &Path) -> Result<Self, AssetError> {
        Self::load_with_origin(dist, None)
    }

    /// Like [`Assets::load`], with the page's hashed assets loaded from `origin` (a CDN) when
    /// one is given: the page is rewritten and recompressed, and its policy allows the origin.
    pub fn load_with_origin(dist: &Path, origin: Option<&str>) -> Result<Self, AssetError> {
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
        let Some(index) = files.get_mut("index.html") else {
            return Err(AssetError::NoIndex(dist.display().to_string()));
        };
        if let Some(origin) = origin {
            let html = cdn::apply_origin(&String::from_utf8_lossy(&index.identity.body), origin);
            let (br, gz) =
                fingerprint::compress(html.as_bytes()).map_err(|source| AssetError::Read {
                    path: dist.join("index.html").display().to_string(),
                    source,
                })?;
            let body = Bytes::from(html);
            index.identity = Variant {
                etag: etag_of(&body, ""),
                body,
            };
            index.brotli = Some(Variant {
                etag: etag_of(&br, "-br"),
                body: br.into(),
            });
            index.gzip = Some(Variant {
                etag: etag_of(&gz, "-gz"),
                body: gz.into(),
            });
        }
        let csp = content_security_policy(&index.identity.body, origin);
        Ok(Self { files, csp })
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
        let mut response = self.route(&key, method, headers);
        let h = response.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }

    fn route(&self, key: &str, method: &Method, headers: &HeaderMap) -> Response {
        if let Some(asset) = self.files.get(key) {
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

    // A single byte range of the selected representation, unless If-Range names another one.
    let len = variant.body.len() as u64;
    let range = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| {
            request
                .get(header::IF_RANGE)
                .is_none_or(|tag| tag == variant.etag)
        })
        .and_then(|v| parse_range(v, len));

    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (status, body) = match range {
            Some(Ok((start, end))) => (
                StatusCode::PARTIAL_CONTENT,
                variant.body.slice(start as usize..=end as usize),
            ),
            Some(Err(())) => {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{len}")).expect("digits"),
                );
                h.insert(header::CACHE_CONTROL, asset.cache_control.clone());
                return r;
            }
            None => (StatusCode::OK, variant.body.clone()),
        };
        let length = body.len();
        let mut r = if method == Method::HEAD {
            Response::new(Body::empty())
        } else {
            Response::new(Body::from(body))
        };
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(Ok((start, end))) = range {
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).expect("digits"),
            );
        }
        r
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

/// A single `Range: bytes=…` against a representation of `len` bytes: `None` to ignore it
/// (absent, malformed, several ranges: a full 200 is allowed), `Some(Err)` when unsatisfiable
/// (416), else the inclusive byte span.
fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    Some(match (first.is_empty(), last.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match parse(last)? {
            0 => Err(()),
            _ if len == 0 => Err(()),
            n => Ok((len.saturating_sub(n), len - 1)),
        },
        (false, true) => {
            let start = parse(first)?;
            if start >= len {
                Err(())
            } else {
                Ok((start, len - 1))
            }
        }
        (false, false) => {
            let (start, end) = (parse(first)?, parse(last)?);
            if start > end {
                return None;
            }
            if start >= len {
                Err(())
            } else {
                Ok((start, end.min(len - 1)))
            }
        }
        (true, true) => return None,
    })
}

/// The page's policy: its own origin only, WebAssembly compilation allowed, and inline
/// scripts only when they are exactly the ones in the built `index.html` (by hash).
fn content_security_policy(index_html: &[u8], origin: Option<&str>) -> HeaderValue {
    use base64::Engine;
    let html = String::from_utf8_lossy(index_html);
    let mut hashes = String::new();
    let mut rest = html.as_ref();
    while let Some(open) = rest.find("<script") {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body_and_rest = &after[tag_end + 1..];
        let Some(close) = body_and_rest.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = Sha256::digest(&body_and_rest.as_bytes()[..close]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push_str(&format!(" 'sha256-{b64}'"));
        }
        rest = &body_and_rest[close..];
    }
    let cdn = origin.map_or_else(String::new, |o| format!(" {}", o.trim_end_matches('/')));
    let policy = format!(
        "default-src 'self'; script-src 'self'{cdn} 'wasm-unsafe-eval'{hashes}; \
         style-src 'self'{cdn}; img-src 'self'{cdn} data:; connect-src 'self'{cdn}; \
         font-src 'self'{cdn}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
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
    fn single_byte_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=9-1",
            "bytes=x-",
            "bytes=-",
        ] {
            assert_eq!(parse_range(ignored, 100), None, "{ignored}");
        }
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_loader() {
        let html = b"<script type=module>init()</script><script src=/a.js></script>";
        let csp = content_security_policy(html, None);
        let csp = csp.to_str().unwrap();
        assert_eq!(csp.matches("'sha256-").count(), 1, "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn accept_encoding_respects_q_zero() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(!accepts("gzip", "br"));
    }
}
