//! Putting the build on a CDN: `tessera-bff export` writes the site with the headers file static hosts read (`_headers`,
//! as Netlify and Cloudflare Pages do) and a JSON manifest for object stores (each object's
//! type, caching, ETag and encoded variants), so any CDN serves it with the BFF's rules.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::files::{HASHED_PREFIX, IMMUTABLE};
use super::site::{AssetError, Assets};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Load(#[from] AssetError),
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
