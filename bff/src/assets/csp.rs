//! The page's Content-Security-Policy, computed from the built `index.html`.

use http::HeaderValue;
use sha2::{Digest, Sha256};

/// The page's policy: its own origin only, WebAssembly compilation allowed, and inline
/// scripts and styles only when they are exactly the ones in `page` (by hash): the built
/// `index.html`, or the page a first paint is drawn into, which holds the same scripts and the
/// build's stylesheet inline.
pub(super) fn content_security_policy(page: &[u8], origin: Option<&str>) -> HeaderValue {
    let html = String::from_utf8_lossy(page);
    let scripts = inline_hashes(&html, "script");
    let styles = inline_hashes(&html, "style");
    let cdn = origin.map_or_else(String::new, |o| format!(" {}", o.trim_end_matches('/')));
    let policy = format!(
        "default-src 'self'; script-src 'self'{cdn} 'wasm-unsafe-eval'{scripts}; \
         style-src 'self'{cdn}{styles}; img-src 'self'{cdn} data:; connect-src 'self'{cdn}; \
         font-src 'self'{cdn}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
}

/// ` 'sha256-…'` for the body of every inline `<tag>` element of `html` (one without `src`).
fn inline_hashes(html: &str, tag: &str) -> String {
    use base64::Engine;
    let (open_tag, close_tag) = (format!("<{tag}"), format!("</{tag}>"));
    let mut hashes = String::new();
    let mut rest = html;
    while let Some(open) = rest.find(&open_tag) {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let attributes = &after[..tag_end];
        let body_and_rest = &after[tag_end + 1..];
        let Some(close) = body_and_rest.find(&close_tag) else {
            break;
        };
        if !attributes.contains("src=") {
            let digest = Sha256::digest(&body_and_rest.as_bytes()[..close]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push_str(&format!(" 'sha256-{b64}'"));
        }
        rest = &body_and_rest[close..];
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_loader() {
        let html = b"<script type=module>init()</script><script src=/a.js></script>";
        let csp = content_security_policy(html, None);
        let csp = csp.to_str().unwrap();
        assert_eq!(csp.matches("'sha256-").count(), 1, "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("style-src 'self'; "), "{csp}");
    }

    #[test]
    fn an_inline_style_is_allowed_by_its_hash() {
        let csp = content_security_policy(b"<style>p{color:red}</style><script>x</script>", None);
        let csp = csp.to_str().unwrap();
        let style = &csp[csp.find("style-src").unwrap()..];
        let style = &style[..style.find(';').unwrap()];
        assert_eq!(style.matches("'sha256-").count(), 1, "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}
