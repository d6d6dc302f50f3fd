//! Request paths: decoded, and refused when they try traversal or encoding tricks.

/// Decodes and checks a request path, returning the key of the file it names (no leading `/`).
///
/// SECURITY: files are looked up in a map, so nothing outside the build can be reached anyway;
/// still, traversal and encoding tricks are rejected outright so they never reach a fallback.
pub(super) fn clean_path(raw: &str) -> Result<String, &'static str> {
    let decoded = percent_decode(raw).ok_or("the path is not valid percent-encoded UTF-8")?;
    let suspicious = decoded.contains('\\')
        || decoded.contains('\0')
        || decoded.split('/').any(|seg| seg == ".." || seg == ".")
        || decoded.contains("//");
    if suspicious {
        return Err("the path is not allowed");
    }
    Ok(decoded.trim_start_matches('/').to_owned())
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_encoding_tricks_are_rejected() {
        for bad in [
            "/../etc/passwd",
            "/assets/%2e%2e/x",
            "/a\\b",
            "/a%5c..%5cb",
            "/a%00b",
            "/%ff",
            "/a/./b",
            "//x",
            "/%",
        ] {
            assert!(clean_path(bad).is_err(), "{bad}");
        }
        assert_eq!(clean_path("/assets/app-1.js").unwrap(), "assets/app-1.js");
        assert_eq!(clean_path("/category/caf%C3%A9").unwrap(), "category/café");
    }
}
