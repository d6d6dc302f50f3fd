//! Putting the build on a CDN: `tessera-bff export` writes the site with the headers file static hosts read (`_headers`,
//! as Netlify and Cloudflare Pages do) and a JSON manifest for object stores (each object's
//! type, caching, ETag and encoded variants), so any CDN serves it with the BFF's rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::delta;
use super::files::{HASHED_PREFIX, IMMUTABLE};
use super::site::{AssetError, Assets};
use crate::config::RouteConfig;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Load(#[from] AssetError),
    #[error("{value:?} cannot be written into nginx's configuration (it holds a '$')")]
    NginxValue { value: String },
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
    pub encodings: BTreeMap<String, String>,
    /// For a hashed script, wasm or style: its `Use-As-Dictionary`, which makes a browser keep
    /// it as the dictionary of the same file's later builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_as_dictionary: Option<String>,
    /// Its `dcz` deltas against kept earlier builds: the `Available-Dictionary` a browser
    /// holding that build sends → the delta's path (answered with `Content-Encoding: dcz`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deltas: BTreeMap<String, String>,
}

/// Writes the site in `dist` (as the BFF would serve it, with `origin` applied and the start
/// script of `routes` in its page) to `out`, plus `_headers` and `cdn-manifest.json`. Returns
/// the manifest.
pub fn export(
    dist: &Path,
    out: &Path,
    origin: Option<&str>,
    routes: &BTreeMap<String, RouteConfig>,
) -> Result<Vec<ExportedFile>, ExportError> {
    let script = super::start::start_script(routes);
    let assets = Assets::load_with_origin(dist, origin)?.starting(script.as_deref(), dist)?;
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
        let mut encodings = BTreeMap::new();
        for (name, suffix, variant) in [("br", ".br", &asset.brotli), ("gzip", ".gz", &asset.gzip)]
        {
            if let Some(variant) = variant {
                write(&out.join(format!("{key}{suffix}")), &variant.body)?;
                encodings.insert(name.to_owned(), format!("/{key}{suffix}"));
            }
        }
        let mut deltas = BTreeMap::new();
        for (dictionary, variant) in &asset.deltas {
            let name = delta::delta_name_by_hash(key, dictionary);
            write(&out.join(&name), &variant.body)?;
            deltas.insert(
                delta::available_dictionary_value(dictionary),
                format!("/{name}"),
            );
        }
        manifest.push(ExportedFile {
            path: format!("/{key}"),
            content_type: asset.content_type.to_str().unwrap_or_default().to_owned(),
            cache_control: asset.cache_control.to_str().unwrap_or_default().to_owned(),
            etag: asset.identity.etag.to_str().unwrap_or_default().to_owned(),
            size: asset.identity.body.len(),
            encodings,
            use_as_dictionary: asset
                .dictionary
                .as_ref()
                .and_then(|d| d.to_str().ok())
                .map(str::to_owned),
            deltas,
        });
    }
    let links = assets.links.as_ref().and_then(|l| l.to_str().ok());
    let csp = assets.csp.to_str().unwrap_or_default();
    let headers = headers_file(&manifest, csp, links);
    write(&out.join("_headers"), headers.as_bytes())?;
    write(
        &out.join(NGINX_SITE),
        nginx_site_file(&manifest, csp, links)?.as_bytes(),
    )?;
    // With a 404.html, Cloudflare Pages and Netlify answer a path no file has with it and a
    // 404 — so a missing hashed file is never the page served under the immutable rule — and
    // the app's routes come from `_redirects`, rewritten (200) to the page.
    if let Some(page) = assets.files.get("index.html") {
        write(&out.join(NOT_FOUND_PAGE), &page.identity.body)?;
        write(&out.join("_redirects"), redirects_file().as_bytes())?;
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest serializes");
    write(&out.join(MANIFEST), &json)?;
    Ok(manifest)
}

/// The page a static host answers paths no file has with (status 404): the app itself, whose
/// router shows its own "not found".
const NOT_FOUND_PAGE: &str = "404.html";

/// `_redirects`: each route of the app (but `/`, which is `index.html` itself) rewritten to
/// the page, in the syntax Netlify and Cloudflare Pages share.
fn redirects_file() -> String {
    let mut out = String::from("# The app's routes are the page (a rewrite: the address stays).\n");
    for route in PAGE_ROUTES.iter().filter(|r| **r != "/") {
        // To `/`, not `/index.html`: Cloudflare strips `/index.html` to `/` and would count
        // the rule as a loop and ignore it.
        out.push_str(&format!("{route} / 200\n"));
    }
    out
}

/// The manifest written beside the site.
const MANIFEST: &str = "cdn-manifest.json";

/// The front end's routes (`frontend/src/app.rs`): a static host answers them with
/// `index.html` (Cloudflare Pages does for every unknown path when the site has no `404.html`),
/// so they need the page's caching rule.
const PAGE_ROUTES: &[&str] = &["/", "/category/*", "/product/*", "/ops"];

/// The `_headers` file for `manifest`.
///
/// Cloudflare Pages and Netlify apply *every* rule whose path matches a request, and a header
/// named by two matching rules is sent once with both values joined: a `/*` rule beside
/// `/assets/*` turned the hashed files' caching into `immutable, no-cache` (revalidated on every
/// use) and `nosniff` into `nosniff, nosniff`. Cloudflare can take a header back with a
/// `! Name` line, but Netlify has no such line (its parser skips it), so the file does not lean
/// on it: every header is named by exactly one of the rules that can match a path. The headers
/// that are the same on every response (the security headers, which the BFF sends on every
/// response too) sit on `/*`; `Cache-Control`, the one that differs, gets a rule per path
/// outside the hashed prefix (each root file and each route of the app), because neither
/// format can say "everything but `/assets/`". A path matched by none of those (an unknown route
/// that a host answers with the page) keeps the host's default, which revalidates
/// (`public, max-age=0, must-revalidate` on both).
/// The page's rules also carry its `Link` preloads, which a CDN can send as 103 Early Hints.
fn headers_file(manifest: &[ExportedFile], csp: &str, links: Option<&str>) -> String {
    let mut out = format!(
        "# Response headers for static hosts that read _headers (Netlify, Cloudflare Pages).\n\
         # Both apply every matching rule and join a header that two of them set, so no header\n\
         # below is set by two rules that match the same path.\n\
         /*\n  X-Content-Type-Options: nosniff\n  Content-Security-Policy: {csp}\n  \
         X-Frame-Options: DENY\n  Referrer-Policy: strict-origin-when-cross-origin\n\
         /{HASHED_PREFIX}*\n  Cache-Control: {IMMUTABLE}\n  Access-Control-Allow-Origin: *\n"
    );
    let mut cache_rule = |path: &str, cache_control: &str| {
        out.push_str(&format!("{path}\n  Cache-Control: {cache_control}\n"));
        let page = PAGE_ROUTES.contains(&path) || path.starts_with("/index.html");
        if let Some(links) = links.filter(|_| page) {
            out.push_str(&format!("  Link: {links}\n"));
        }
    };
    for route in PAGE_ROUTES {
        cache_rule(route, "no-cache");
    }
    for file in manifest {
        if file.path.starts_with(&format!("/{HASHED_PREFIX}")) {
            continue;
        }
        cache_rule(&file.path, &file.cache_control);
        for encoded in file.encodings.values() {
            cache_rule(encoded, &file.cache_control);
        }
    }
    cache_rule(&format!("/{MANIFEST}"), "no-cache");
    cache_rule(&format!("/{NOT_FOUND_PAGE}"), "no-cache");
    // The hashed files a later build may come as a delta against. These hosts do not answer
    // with the deltas themselves, but they mark the files for a CDN in front that does.
    for file in manifest {
        if let Some(dictionary) = &file.use_as_dictionary {
            out.push_str(&format!(
                "{}\n  Use-As-Dictionary: {dictionary}\n  Vary: Accept-Encoding, Available-Dictionary\n",
                file.path
            ));
        }
    }
    out
}

/// The file, beside the site, that `config/cdn/nginx.conf` includes: this build's headers.
const NGINX_SITE: &str = "nginx-site.conf";

/// `nginx-site.conf`: nginx `map`s giving this build's page policy (`$tessera_csp`), the page's
/// preloads (`$tessera_link`), each root file's caching (`$tessera_cache`), which delta answers
/// a request for a hashed file (`$tessera_delta`, by `$tessera_dcz`, `Available-Dictionary` and
/// the path) and each file's `Use-As-Dictionary` (`$tessera_dictionary`, by path, for the
/// file and its deltas alike).
fn nginx_site_file(
    manifest: &[ExportedFile],
    csp: &str,
    links: Option<&str>,
) -> Result<String, ExportError> {
    // SECURITY: every value is quoted with `"` and `\` escaped; a `$` (a variable to nginx)
    // is refused rather than escaped, since nginx has no escape for it.
    let quote = |value: &str| {
        if value.contains('$') {
            return Err(ExportError::NginxValue {
                value: value.to_owned(),
            });
        }
        Ok(format!(
            "\"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        ))
    };
    let mut out = String::from(
        "# Written by `tessera-bff export` for config/cdn/nginx.conf: the headers of this build.\n",
    );
    out.push_str(&format!(
        "map $uri $tessera_csp {{\n    default {};\n}}\n",
        quote(csp)?
    ));
    out.push_str("map $uri $tessera_link {\n    default \"\";\n");
    if let Some(links) = links {
        out.push_str(&format!("    /index.html {};\n", quote(links)?));
    }
    out.push_str("}\nmap $uri $tessera_cache {\n    default \"no-cache\";\n");
    for file in manifest
        .iter()
        .filter(|f| !f.path.starts_with(&format!("/{HASHED_PREFIX}")))
    {
        let cache = quote(&file.cache_control)?;
        out.push_str(&format!("    {} {cache};\n", quote(&file.path)?));
        for encoded in file.encodings.values() {
            out.push_str(&format!("    {} {cache};\n", quote(encoded)?));
        }
    }
    out.push_str("}\nmap \"$tessera_dcz $http_available_dictionary $uri\" $tessera_delta {\n    default \"\";\n");
    for file in manifest {
        for (available, delta) in &file.deltas {
            let key = format!("1 {available} {}", file.path);
            out.push_str(&format!("    {} {};\n", quote(&key)?, quote(delta)?));
        }
    }
    out.push_str("}\nmap $uri $tessera_dictionary {\n    default \"\";\n");
    for file in manifest {
        if let Some(dictionary) = &file.use_as_dictionary {
            let dictionary = quote(dictionary)?;
            for path in std::iter::once(&file.path).chain(file.deltas.values()) {
                out.push_str(&format!("    {} {dictionary};\n", quote(path)?));
            }
        }
    }
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, cache_control: &str, encoded: &str) -> ExportedFile {
        ExportedFile {
            path: path.to_owned(),
            content_type: String::new(),
            cache_control: cache_control.to_owned(),
            etag: String::new(),
            size: 0,
            encodings: [("br".to_owned(), encoded.to_owned())].into(),
            use_as_dictionary: path
                .starts_with("/assets/")
                .then(|| "match=\"/assets/app-*.js\"".to_owned()),
            deltas: BTreeMap::new(),
        }
    }

    /// The header names each rule of a `_headers` file sets, by path pattern.
    fn rules(text: &str) -> Vec<(&str, Vec<&str>)> {
        let mut rules: Vec<(&str, Vec<&str>)> = Vec::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            match line.strip_prefix("  ") {
                Some(header) => {
                    let (name, _) = header.split_once(':').unwrap();
                    rules.last_mut().unwrap().1.push(name);
                }
                None => rules.push((line, Vec::new())),
            }
        }
        rules
    }

    #[test]
    fn no_path_gets_a_header_from_two_rules() {
        let manifest = [
            file("/index.html", "no-cache", "/index.html.br"),
            file(
                "/asset-manifest.json",
                "no-cache",
                "/asset-manifest.json.br",
            ),
            file("/assets/app-0123.js", IMMUTABLE, "/assets/app-0123.js.br"),
        ];
        let text = headers_file(
            &manifest,
            "default-src 'self'",
            Some("</assets/a.js>; rel=modulepreload"),
        );
        let rules = rules(&text);
        for path in [
            "/",
            "/index.html",
            "/index.html.br",
            "/asset-manifest.json",
            "/cdn-manifest.json",
            "/assets/app-0123.js",
            "/assets/app-0123.js.br",
            "/product/3",
            "/category/tea",
        ] {
            let matching = rules
                .iter()
                .filter(|(pattern, _)| match pattern.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => *pattern == path,
                });
            let mut names: Vec<&str> = matching.flat_map(|(_, names)| names.clone()).collect();
            let set = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), set, "{path} gets a header twice from:\n{text}");
            assert!(names.contains(&"Cache-Control"), "{path}:\n{text}");
            assert!(names.contains(&"X-Content-Type-Options"), "{path}:\n{text}");
            // The page's preloads, for Early Hints; never on the hashed files.
            let page = !path.starts_with("/assets/") && !path.contains("manifest");
            assert_eq!(names.contains(&"Link"), page, "{path}:\n{text}");
            let dictionary = path == "/assets/app-0123.js";
            assert_eq!(
                names.contains(&"Use-As-Dictionary"),
                dictionary,
                "{path}:\n{text}"
            );
        }
    }

    #[test]
    fn nginx_gets_each_delta_by_the_dictionary_named_and_values_cannot_break_out() {
        let mut js = file("/assets/app-0123.js", IMMUTABLE, "/assets/app-0123.js.br");
        js.deltas.insert(
            ":AAAA:".to_owned(),
            "/assets/app-0123.js.00ff.dcz".to_owned(),
        );
        let page = file("/index.html", "no-cache", "/index.html.br");
        let text = nginx_site_file(
            &[page, js],
            "default-src 'self'",
            Some("</a.js>; type=\"x\"\\"),
        )
        .unwrap();
        assert!(
            text.contains(
                "    \"1 :AAAA: /assets/app-0123.js\" \"/assets/app-0123.js.00ff.dcz\";\n"
            ),
            "{text}"
        );
        // The delta carries its file's dictionary header too, so the browser keeps the new file.
        assert!(
            text.contains(
                "    \"/assets/app-0123.js.00ff.dcz\" \"match=\\\"/assets/app-*.js\\\"\";"
            ),
            "{text}"
        );
        assert!(
            text.contains("    /index.html \"</a.js>; type=\\\"x\\\"\\\\\";"),
            "{text}"
        );
        assert!(
            text.contains("    \"/index.html.br\" \"no-cache\";"),
            "{text}"
        );
        let refused = nginx_site_file(&[], "script-src $evil", None);
        assert!(matches!(refused, Err(ExportError::NginxValue { .. })));
    }
}
