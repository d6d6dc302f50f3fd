//! A file of the build as it is served: its representations (identity, gzip, brotli, and
//! `dcz` deltas against earlier builds) with their strong ETags, its media type and its
//! caching rule.

use bytes::Bytes;
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// URL prefix (and build sub-directory) of content-hashed, immutable files.
pub(crate) const HASHED_PREFIX: &str = "assets/";
/// How content-hashed files may be cached: for a year, never revalidated.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Debug, Clone)]
pub(super) struct Variant {
    pub(super) body: Bytes,
    pub(super) etag: HeaderValue,
}

#[derive(Debug, Clone)]
pub(super) struct Asset {
    pub(super) content_type: HeaderValue,
    pub(super) cache_control: HeaderValue,
    pub(super) identity: Variant,
    pub(super) gzip: Option<Variant>,
    pub(super) brotli: Option<Variant>,
    /// `dcz` deltas against earlier builds' files, by the SHA-256 of each.
    pub(super) deltas: Vec<([u8; 32], Variant)>,
    /// For a hashed file a later build may be a delta against: its `Use-As-Dictionary`.
    pub(super) dictionary: Option<HeaderValue>,
}

/// A strong ETag from a representation's bytes (`suffix` tells encodings apart).
pub(super) fn etag_of(body: &[u8], suffix: &str) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}{suffix}\"")).expect("hex digits are a valid header")
}

/// The media type of a file by its extension.
pub(super) fn content_type(path: &str) -> &'static str {
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
