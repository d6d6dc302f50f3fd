//! The page's `Link` header: the script, wasm and style its `<head>` loads, as preloads, so a
//! CDN in front can send them as 103 Early Hints before the page itself. Each keeps its
//! element's `as`, `type` and `crossorigin`: a preload that differs from the element's request
//! in any of them is not reused, and the browser downloads the file twice.

use http::HeaderValue;

/// The `Link` value for the `<link>` elements of `html` that load the page's code and style.
pub(super) fn preload_links(html: &[u8]) -> Option<HeaderValue> {
    let html = String::from_utf8_lossy(html);
    let mut links = Vec::new();
    let mut rest = html.as_ref();
    while let Some(open) = rest.find("<link ") {
        let after = &rest[open..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        rest = &after[end..];
        let (Some(rel), Some(href)) = (attribute(tag, "rel"), attribute(tag, "href")) else {
            continue;
        };
        // This origin's files, or a CDN's (`server.asset_origin`).
        let ours =
            href.starts_with('/') || href.starts_with("https://") || href.starts_with("http://");
        if !ours || href.contains(['<', '>', ',', ';', '"', ' ']) {
            continue;
        }
        let mut link = match rel {
            "stylesheet" => format!("<{href}>; rel=preload; as=style"),
            "modulepreload" => format!("<{href}>; rel=modulepreload"),
            "preload" => match attribute(tag, "as") {
                Some(kind) => format!("<{href}>; rel=preload; as={kind}"),
                None => continue,
            },
            _ => continue,
        };
        if let Some(kind) = attribute(tag, "type") {
            link.push_str(&format!("; type=\"{kind}\""));
        }
        if let Some(mode) = attribute(tag, "crossorigin") {
            link.push_str(&format!(
                "; crossorigin={}",
                if mode.is_empty() { "anonymous" } else { mode }
            ));
        }
        links.push(link);
    }
    (!links.is_empty())
        .then(|| HeaderValue::from_str(&links.join(", ")).ok())
        .flatten()
}

/// The value of `name="…"` in a tag (`""` for a bare attribute).
pub(super) fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + name.len()..];
        rest = after;
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        if let Some(value) = after.strip_prefix("=\"") {
            return value.split('"').next();
        }
        if after.starts_with([' ', '>', '/']) || after.is_empty() {
            return Some("");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_and_style_are_hinted_as_their_elements_load_them() {
        let html = br#"<head><link rel="icon" href="/assets/f.svg"/>
            <link rel="stylesheet" href="/assets/s-1.css" integrity="sha384-x"/>
            <link rel="modulepreload" href="/assets/a-1.js" crossorigin="anonymous">
            <link rel="preload" href="/assets/a_bg-1.wasm" crossorigin="anonymous" as="fetch" type="application/wasm"></head>"#;
        let links = preload_links(html).unwrap();
        assert_eq!(
            links.to_str().unwrap(),
            "</assets/s-1.css>; rel=preload; as=style, \
             </assets/a-1.js>; rel=modulepreload; crossorigin=anonymous, \
             </assets/a_bg-1.wasm>; rel=preload; as=fetch; type=\"application/wasm\"; crossorigin=anonymous"
        );
        assert!(preload_links(b"<head></head>").is_none());
    }
}
