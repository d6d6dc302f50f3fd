//! The page's Content-Security-Policy, computed from the built `index.html`.

use http::HeaderValue;
use sha2::{Digest, Sha256};

/// The page's policy: its own origin only, WebAssembly compilation allowed, and inline
/// scripts only when they are exactly the ones in the built `index.html` (by hash).
pub(super) fn content_security_policy(index_html: &[u8], origin: Option<&str>) -> HeaderValue {
    use base64::Engine;
    let html = String::from_utf8_lossy(index_html);
    let mut hashes = String::new();
    let mut rest = html.as_ref();
    while let Some(open) = rest.find("<script") {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body_and_rest = &after[tag_end + 1..];
        let Some(close) = body_and_rest.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = Sha256::digest(&body_and_rest.as_bytes()[..close]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push_str(&format!(" 'sha256-{b64}'"));
        }
        rest = &body_and_rest[close..];
    }
    let cdn = origin.map_or_else(String::new, |o| format!(" {}", o.trim_end_matches('/')));
    let policy = format!(
        "default-src 'self'; script-src 'self'{cdn} 'wasm-unsafe-eval'{hashes}; \
         style-src 'self'{cdn}; img-src 'self'{cdn} data:; connect-src 'self'{cdn}; \
         font-src 'self'{cdn}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("the policy is ASCII")
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
    }
}
