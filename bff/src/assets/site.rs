//! The loaded build: every file read once at start-up, and the answer to each request.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, Uri};

use super::csp::content_security_policy;
use super::delta;
use super::files::{Asset, HASHED_PREFIX, IMMUTABLE, Variant, content_type, etag_of};
use super::fingerprint;
use super::first_paint::FirstPaint;
use super::hints::preload_links;
use super::origin::apply_origin;
use super::path::clean_path;
use super::serve::serve;

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

/// Why a request for a static file gets no file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    BadPath(&'static str),
    #[error("no file at /{0}")]
    NotFound(String),
    #[error("this BFF serves no front end (no build was found at start-up)")]
    NoFrontEnd,
}

/// The loaded front-end build.
#[derive(Debug, Clone)]
pub struct Assets {
    pub(super) files: HashMap<String, Asset>,
    /// The Content-Security-Policy of every response, allowing exactly the page's own inline
    /// scripts (Trunk's loader, the start script) by hash — and, for the page with its first
    /// paint drawn, its loader and inline style — and WebAssembly compilation.
    pub(super) csp: HeaderValue,
    /// The page's `Link` header: its script, wasm and style, for a CDN's 103 Early Hints.
    pub(super) links: Option<HeaderValue>,
    /// The page as built (with the asset origin), before any start script.
    page: Bytes,
    origin: Option<String>,
    /// The build's id (from its manifest), named on every API response.
    build: Option<HeaderValue>,
    /// The page's first-paint template, if the build has one.
    first_paint: Option<FirstPaint>,
    /// The `Link` header of a page with its first paint drawn.
    drawn_links: Option<HeaderValue>,
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
            if key.ends_with(".br") || key.ends_with(".gz") || key.ends_with(".dcz") {
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
                    deltas: deltas_of(key, &raw),
                    dictionary: (key.starts_with(HASHED_PREFIX) && delta::deltas_for(key))
                        .then(|| delta::use_as_dictionary(key))
                        .flatten()
                        .and_then(|v| HeaderValue::from_str(&v).ok()),
                },
            );
        }
        let Some(index) = files.get("index.html") else {
            return Err(AssetError::NoIndex(dist.display().to_string()));
        };
        let page = match origin {
            Some(origin) => apply_origin(&String::from_utf8_lossy(&index.identity.body), origin),
            None => String::from_utf8_lossy(&index.identity.body).into_owned(),
        };
        let build = raw
            .get(fingerprint::MANIFEST)
            .and_then(|m| build_of(m))
            .and_then(|b| HeaderValue::from_str(&b).ok());
        let mut assets = Self {
            files,
            csp: HeaderValue::from_static("default-src 'none'"),
            links: None,
            page: Bytes::from(page),
            origin: origin.map(str::to_owned),
            build,
            first_paint: None,
            drawn_links: None,
        };
        assets.set_page(assets.page.clone(), dist)?;
        Ok(assets)
    }

    /// This build with `script` (the [start script](super::start)) first in its page's head,
    /// and the policy allowing it.
    pub(crate) fn starting(&self, script: Option<&str>, dist: &Path) -> Result<Self, AssetError> {
        let mut assets = self.clone();
        let html = String::from_utf8_lossy(&self.page);
        let page = match script {
            Some(script) => super::start::insert(&html, script),
            None => html.into_owned(),
        };
        assets.set_page(Bytes::from(page), dist)?;
        Ok(assets)
    }

    /// Serves `html` as the page, in every encoding, with its policy and `Link` header.
    fn set_page(&mut self, html: Bytes, dist: &Path) -> Result<(), AssetError> {
        let index = self.files.get_mut("index.html").expect("checked at load");
        if html != index.identity.body {
            let (br, gz) = fingerprint::compress(&html).map_err(|source| AssetError::Read {
                path: dist.join("index.html").display().to_string(),
                source,
            })?;
            index.brotli = Some(Variant {
                etag: etag_of(&br, "-br"),
                body: br.into(),
            });
            index.gzip = Some(Variant {
                etag: etag_of(&gz, "-gz"),
                body: gz.into(),
            });
            index.identity = Variant {
                etag: etag_of(&html, ""),
                body: html,
            };
        }
        let page = self.files["index.html"].identity.body.clone();
        let files = &self.files;
        let origin = self.origin.as_deref().map(|o| o.trim_end_matches('/'));
        let stylesheet = |href: &str| {
            let path = origin.and_then(|o| href.strip_prefix(o)).unwrap_or(href);
            let file = files.get(path.strip_prefix('/')?)?;
            String::from_utf8(file.identity.body.to_vec()).ok()
        };
        self.first_paint = FirstPaint::find(&String::from_utf8_lossy(&page), stylesheet);
        // One policy for both pages: the drawn one's loader and styles are its own.
        let mut policed = page.to_vec();
        if let Some(paint) = &self.first_paint {
            policed.extend_from_slice(paint.page().as_bytes());
        }
        self.csp = content_security_policy(&policed, self.origin.as_deref());
        self.links = preload_links(&page);
        self.drawn_links = self
            .first_paint
            .as_ref()
            .and_then(|paint| preload_links(paint.page().as_bytes()));
        Ok(())
    }

    /// Answers a request outside `/api`: the file, or why there is none.
    pub fn respond(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Response<Bytes>, Refusal> {
        if method != Method::GET && method != Method::HEAD {
            return Err(Refusal::MethodNotAllowed);
        }
        let key = clean_path(uri.path()).map_err(Refusal::BadPath)?;
        let key = if key.is_empty() {
            "index.html".to_owned()
        } else {
            key
        };
        self.route(&key, method, headers)
    }

    /// The build's id, if its manifest names one.
    pub(crate) fn build(&self) -> Option<&HeaderValue> {
        self.build.as_ref()
    }

    /// The build id the manifest in `dist` names now (a deploy may have written a new one).
    pub(crate) fn build_on_disk(dist: &Path) -> Option<String> {
        build_of(&std::fs::read(dist.join(fingerprint::MANIFEST)).ok()?)
    }

    /// The Content-Security-Policy every page response carries.
    pub fn policy(&self) -> &HeaderValue {
        &self.csp
    }

    fn route(
        &self,
        key: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Response<Bytes>, Refusal> {
        if key == "index.html" {
            return Ok(self.page(method, headers));
        }
        if let Some(asset) = self.files.get(key) {
            return Ok(serve(asset, method, headers));
        }
        let is_navigation =
            method == Method::GET && !key.starts_with(HASHED_PREFIX) && asks_for_html(headers);
        if is_navigation {
            return Ok(self.page(method, headers));
        }
        Err(Refusal::NotFound(key.to_owned()))
    }
}

impl Assets {
    /// Whether the build's page has a first-paint template that shows part `name`.
    pub(crate) fn draws_first_paint(&self, name: &str) -> bool {
        self.first_paint.as_ref().is_some_and(|p| p.shows(name))
    }

    /// Whether `path` names a file of the build (served as such, never as a page).
    pub(crate) fn is_file(&self, path: &str) -> bool {
        clean_path(path).is_ok_and(|key| !key.is_empty() && self.files.contains_key(&key))
    }

    /// The page with its first paint drawn from `data` (the parts' data by name), or `None`
    /// when the build has no template or `data` lacks a value it shows. Its ETag is that of
    /// its bytes, so a browser revalidates it like the plain page; only the encoding the
    /// request takes is made, at a level fast enough for every navigation.
    pub(crate) fn page_drawn(
        &self,
        data: &serde_json::Value,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Response<Bytes>> {
        let index = &self.files["index.html"];
        let page = Bytes::from(self.first_paint.as_ref()?.draw(data)?);
        let accept_encoding = headers
            .get(http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let compressed = |coding: &str, tag: &str| {
            super::accepts(accept_encoding, coding)
                .then(|| fingerprint::compress_fast(&page, coding).ok())
                .flatten()
                .map(|body| Variant {
                    etag: etag_of(&body, tag),
                    body: body.into(),
                })
        };
        let brotli = compressed("br", "-br");
        let gzip = brotli
            .is_none()
            .then(|| compressed("gzip", "-gz"))
            .flatten();
        let asset = Asset {
            identity: Variant {
                etag: etag_of(&page, ""),
                body: page,
            },
            brotli,
            gzip,
            content_type: index.content_type.clone(),
            cache_control: index.cache_control.clone(),
            deltas: Vec::new(),
            dictionary: None,
        };
        Some(with_links(
            serve(&asset, method, headers),
            self.drawn_links.as_ref(),
        ))
    }

    /// The page, with its `Link` preloads.
    fn page(&self, method: &Method, headers: &HeaderMap) -> Response<Bytes> {
        with_links(
            serve(&self.files["index.html"], method, headers),
            self.links.as_ref(),
        )
    }
}

/// Whether a request asks for HTML (`Accept: text/html`), as a browser's navigation does.
pub(crate) fn asks_for_html(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `response` with the page's `Link` preloads, if it has any.
fn with_links(mut response: Response<Bytes>, links: Option<&HeaderValue>) -> Response<Bytes> {
    if let Some(links) = links {
        response
            .headers_mut()
            .insert(http::header::LINK, links.clone());
    }
    response
}

/// The build id a manifest's bytes name, if any.
fn build_of(manifest: &[u8]) -> Option<String> {
    let manifest: fingerprint::Manifest = serde_json::from_slice(manifest).ok()?;
    Some(manifest.build).filter(|b| !b.is_empty())
}

/// The `dcz` deltas written beside `key` (`<key>.<hash>.dcz`), by their dictionary.
fn deltas_of(key: &str, raw: &HashMap<String, Bytes>) -> Vec<([u8; 32], Variant)> {
    raw.iter()
        .filter_map(|(name, body)| {
            let (file, hash) = delta::parse_name(name)?;
            let dictionary = delta::dictionary_of(body).filter(|_| file == key)?;
            Some((
                dictionary,
                Variant {
                    etag: etag_of(body, &format!("-dcz{}", &hash[..8])),
                    body: body.clone(),
                },
            ))
        })
        .collect()
}

fn walk(root: &Path, dir: &Path, out: &mut HashMap<String, Bytes>) -> Result<(), AssetError> {
    let read_err = |path: &Path, source| AssetError::Read {
        path: path.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(|e| read_err(dir, e))? {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        // The build's own bookkeeping (its history, a manifest being written) is not served.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
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
            match std::fs::read(&path) {
                Ok(body) => {
                    out.insert(key, Bytes::from(body));
                }
                // Pruned by a deploy while this one was read: not part of the build.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(read_err(&path, e)),
            }
        }
    }
    Ok(())
}
