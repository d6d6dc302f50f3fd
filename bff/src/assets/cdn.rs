//! Putting the build on a CDN: the page can load its hashed assets from another origin, and
//! `tessera-bff export` writes the site with the headers file static hosts read (`_headers`,
//! as Netlify and Cloudflare Pages do) and a JSON manifest for object stores (each object's
//! type, caching, ETag and encoded variants), so any CDN serves it with the BFF's rules.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Assets, HASHED_PREFIX, IMMUTABLE};

/// Rewrites a page's references to `/assets/…` to `{origin}/assets/…`, and makes cross-origin
/// stylesheets CORS requests (their `integrity` check needs it).
pub fn apply_origin(html: &str, origin: &str) -> String {
    let origin = origin.trim_end_matches('/');
    let mut out = html
        .replace("\"/assets/", &format!("\"{origin}/assets/"))
        .replace("'/assets/", &format!("'{origin}/assets/"));
    let mut search_from = 0;
    while let Some(found) = out[search_from..].find("<link rel=\"stylesheet\"") {
        let start = search_from + found;
        let end = out[start..].find('>').map_or(out.len(), |e| start + e);
        if !out[start..end].contains("crossorigin") {
            out.insert_str(start + "<link".len(), " crossorigin=\"anonymous\"");
        }
        search_from = end.min(out.len());
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Load(#[from] super::AssetError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One object of the exported site.
#[derive(Debug, Serialize)]
pub struct ExportedFile {
    pub path: String,
    pub content_type: String,
    pub cache_control: String,
    pub etag: String,
    pub size: usize,
    /// Precompressed objects: encoding → path.
    pub encodings: std::collections::BTreeMap<String, String>,
}

/// Writes the site in `dist` (as the BFF would serve it, with `origin` applied) to `out`, plus
/// `_headers` and `cdn-manifest.json`. Returns the manifest.
pub fn export(
    dist: &Path,
    out: &Path,
    origin: Option<&str>,
) -> Result<Vec<ExportedFile>, ExportError> {
    let assets = Assets::load_with_origin(dist, origin)?;
    let write = |path: &Path, bytes: &[u8]| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ExportError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(path, bytes).map_err(|source| ExportError::Write {
            path: path.to_owned(),
            source,
        })
    };
    let mut manifest = Vec::new();
    let mut keys: Vec<&String> = assets.files.keys().collect();
    keys.sort();
    for key in keys {
        let asset = &assets.files[key];
        write(&out.join(key), &asset.identity.body)?;
        let mut encodings = std::collections::BTreeMap::new();
        for (name, suffix, variant) in [("br", ".br", &asset.brotli), ("gzip", ".gz", &asset.gzip)]
        {
            if let Some(variant) = variant {
                write(&out.join(format!("{key}{suffix}")), &variant.body)?;
                encodings.insert(name.to_owned(), format!("/{key}{suffix}"));
            }
        }
        manifest.push(ExportedFile {
            path: format!("/{key}"),
            content_type: asset.content_type.to_str().unwrap_or_default().to_owned(),
            cache_control: asset.cache_control.to_str().unwrap_or_default().to_owned(),
            etag: asset.identity.etag.to_str().unwrap_or_default().to_owned(),
            size: asset.identity.body.len(),
            encodings,
        });
    }
    let csp = assets.csp.to_str().unwrap_or_default();
    let headers = format!(
        "# Response headers for static hosts that read _headers (Netlify, Cloudflare Pages).\n\
         /{HASHED_PREFIX}*\n  Cache-Control: {IMMUTABLE}\n  X-Content-Type-Options: nosniff\n  \
         Access-Control-Allow-Origin: *\n\
         /*\n  Cache-Control: no-cache\n  Content-Security-Policy: {csp}\n  \
         X-Content-Type-Options: nosniff\n  X-Frame-Options: DENY\n  \
         Referrer-Policy: strict-origin-when-cross-origin\n"
    );
    write(&out.join("_headers"), headers.as_bytes())?;
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
    write(&out.join("cdn-manifest.json"), &json)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_move_to_the_origin_and_stylesheets_become_cors() {
        let html = r#"<link rel="stylesheet" href="/assets/a-1.css" integrity="x"/><script type="module">import init from '/assets/b-2.js';</script><a href="/product/1">"#;
        let out = apply_origin(html, "https://cdn.example/");
        assert!(out.contains(r#"<link crossorigin="anonymous" rel="stylesheet" href="https://cdn.example/assets/a-1.css""#), "{out}");
        assert!(out.contains("'https://cdn.example/assets/b-2.js'"), "{out}");
        assert!(
            out.contains(r#"href="/product/1""#),
            "only assets move: {out}"
        );
    }
}
