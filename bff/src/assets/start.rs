//! The start script: a few hundred bytes of JavaScript put in the page's `<head>` that, the
//! moment the HTML is parsed, matches the address against the route table and starts fetching
//! the page's view (and preloads its critical picture) while the wasm still downloads. The app
//! takes that response (`window.__tesseraView`) instead of asking again.
//!
//! It is the same for every address (the table is in it, not the address), so the page stays
//! one file with its precompressed variants and ETag, a CDN can host it as is, and the policy
//! allows it by its hash like the rest of the page's inline scripts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::RouteConfig;
use crate::config::route::{Segment, segments};

/// One route as the script reads it.
#[derive(Debug, Serialize)]
struct Route<'a> {
    /// Segments: literals, and `{name}` for parameters.
    path: Vec<String>,
    view: &'a str,
    id: String,
    paged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<&'a str>,
}

/// Matches `location` against the table `R`; the view URL it builds is the one the app's
/// `stream_view` asks for (`/api/views/{view}/{id}?stream`, then `&page=N` above 1, with `?page`
/// read as the app reads it: a whole number that fits a `u32`, else 1).
const MATCHER: &str = r#"(()=>{const s=location.pathname.split("/").filter(Boolean),q=new URLSearchParams(location.search).get("page")||"",n=/^\+?\d+$/.test(q)?Number(q):0,page=n>1&&n<=4294967295?String(n):"1";for(const r of R){if(r.path.length!==s.length)continue;const v=Object.create(null);v.page=page;if(!r.path.every((p,i)=>p[0]==="{"?(v[p.slice(1,-1)]=s[i],true):p===s[i]))continue;const f=t=>t.replace(/\{(\w+)\}/g,(_,k)=>v[k]),url="/api/views/"+r.view+"/"+f(r.id)+"?stream"+(r.paged&&page!=="1"?"&page="+page:"");window.__tesseraView={url,response:fetch(url,{headers:{accept:"application/x-ndjson"}})};if(r.picture){const l=document.createElement("link");l.rel="preload";l.as="image";l.fetchPriority="high";l.href=f(r.picture);document.head.append(l)}break}})();"#;

/// The script for `routes`, or `None` without any. Routes are those `check` accepted.
pub(crate) fn start_script(routes: &BTreeMap<String, RouteConfig>) -> Option<String> {
    let table: Vec<Route> = routes
        .iter()
        .filter_map(|(path, route)| {
            let segments = segments(path).ok()?;
            Some(Route {
                id: route.id_template(&segments)?,
                path: segments
                    .into_iter()
                    .map(|s| match s {
                        Segment::Literal(text) => text,
                        Segment::Param(name) => format!("{{{name}}}"),
                    })
                    .collect(),
                view: route.view.get_ref(),
                paged: route.paged,
                picture: route.picture.as_ref().map(|p| p.get_ref().as_str()),
            })
        })
        .collect();
    if table.is_empty() {
        return None;
    }
    // SECURITY: `<` escaped, so nothing in the table can close the script element.
    let json = serde_json::to_string(&table)
        .expect("routes serialize")
        .replace('<', "\\u003c");
    Some(format!("const R={json};{MATCHER}"))
}

/// `html` with `script` before the first script or link of its `<head>` (after its `<meta>`s,
/// so the charset stays within the first 1024 bytes), so it runs before anything is fetched.
pub(crate) fn insert(html: &str, script: &str) -> String {
    let head = html.find("<head").unwrap_or(0);
    let at = ["<script", "<link", "</head>"]
        .iter()
        .filter_map(|tag| html[head..].find(tag))
        .min()
        .map_or(head, |i| head + i);
    format!("{}<script>{script}</script>{}", &html[..at], &html[at..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Source};

    fn routes(text: &str) -> BTreeMap<String, RouteConfig> {
        let text = format!("{}\n{text}", crate::config::DEFAULT_CONFIG);
        Config::parse(&Source::inline("t.toml", text))
            .unwrap()
            .routes
    }

    #[test]
    fn the_table_is_in_the_script_and_cannot_close_it() {
        let script = start_script(&routes(
            "[routes.\"/x/{id}\"]\nview = \"product\"\npicture = \"/m/</script>{id}.svg\"",
        ))
        .unwrap();
        assert!(script.starts_with("const R=["), "{script}");
        assert!(script.contains(r#"{"path":["x","{id}"],"view":"product","id":"{id}","paged":false,"picture":"/m/\u003c/script>{id}.svg"}"#), "{script}");
        assert!(!script.contains("</script>"));
        let page = insert(
            "<html><head><meta charset=utf-8><title>t</title><link rel=icon></head></html>",
            &script,
        );
        assert!(
            page.starts_with("<html><head><meta charset=utf-8><title>t</title><script>const R="),
            "{page}"
        );
    }

    #[test]
    fn no_routes_no_script() {
        assert!(start_script(&BTreeMap::new()).is_none());
    }
}
