//! Loading the page's hashed assets from another origin (a CDN): `server.asset_origin`.

/// Rewrites a page's references to `/assets/…` to `{origin}/assets/…`, and makes cross-origin
/// stylesheets CORS requests (their `integrity` check needs it).
pub(super) fn apply_origin(html: &str, origin: &str) -> String {
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
