//! Serving one file: content negotiation over its precompressed variants, conditional requests
//! (strong ETags, 304) and single byte ranges.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use tessera_contract::if_none_match;

use super::delta::available_dictionary;
use super::files::{Asset, Variant};
use super::range::parse_range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Brotli,
    /// A delta against a file the browser holds (RFC 9842).
    Dcz,
}

impl Encoding {
    fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
            Self::Dcz => Some("dcz"),
        }
    }
}

impl Asset {
    fn negotiates(&self) -> bool {
        self.gzip.is_some() || self.brotli.is_some()
    }

    fn variant(&self, accept_encoding: &str, request: &HeaderMap) -> (Encoding, &Variant) {
        let available = request
            .get("available-dictionary")
            .and_then(|v| v.to_str().ok())
            .and_then(available_dictionary)
            .filter(|_| accepts(accept_encoding, "dcz"));
        if let Some((_, v)) = available.and_then(|d| self.deltas.iter().find(|(h, _)| *h == d)) {
            return (Encoding::Dcz, v);
        }
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

pub(super) fn serve(asset: &Asset, method: &Method, request: &HeaderMap) -> Response<Bytes> {
    let accept_encoding = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (encoding, variant) = asset.variant(accept_encoding, request);
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
        empty(StatusCode::NOT_MODIFIED)
    } else {
        let (status, body) = match range {
            Some(Ok((start, end))) => (
                StatusCode::PARTIAL_CONTENT,
                variant.body.slice(start as usize..=end as usize),
            ),
            Some(Err(())) => {
                let mut r = empty(StatusCode::RANGE_NOT_SATISFIABLE);
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
            Response::new(Bytes::new())
        } else {
            Response::new(body)
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
    if let Some(dictionary) = &asset.dictionary {
        // Kept by the browser as the dictionary of the file's later builds.
        h.insert("use-as-dictionary", dictionary.clone());
    }
    if asset.dictionary.is_some() || !asset.deltas.is_empty() {
        h.insert(
            header::VARY,
            HeaderValue::from_static("Accept-Encoding, Available-Dictionary"),
        );
    } else if asset.negotiates() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(coding) = encoding.header().filter(|_| !not_modified) {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}

fn empty(status: StatusCode) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = status;
    response
}

/// Whether an `Accept-Encoding` value accepts `coding` (present and not `q=0`).
pub(crate) fn accepts(accept_encoding: &str, coding: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_respects_q_zero() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(!accepts("gzip", "br"));
    }
}
