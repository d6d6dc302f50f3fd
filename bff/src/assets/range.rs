//! Single byte ranges (RFC 9110 §14): what a `Range` header asks of a representation.

/// A single `Range: bytes=…` against a representation of `len` bytes: `None` to ignore it
/// (absent, malformed, several ranges: a full 200 is allowed), `Some(Err)` when unsatisfiable
/// (416), else the inclusive byte span.
pub(super) fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    Some(match (first.is_empty(), last.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match parse(last)? {
            0 => Err(()),
            _ if len == 0 => Err(()),
            n => Ok((len.saturating_sub(n), len - 1)),
        },
        (false, true) => {
            let start = parse(first)?;
            if start >= len {
                Err(())
            } else {
                Ok((start, len - 1))
            }
        }
        (false, false) => {
            let (start, end) = (parse(first)?, parse(last)?);
            if start > end {
                return None;
            }
            if start >= len {
                Err(())
            } else {
                Ok((start, end.min(len - 1)))
            }
        }
        (true, true) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=9-1",
            "bytes=x-",
            "bytes=-",
        ] {
            assert_eq!(parse_range(ignored, 100), None, "{ignored}");
        }
    }
}
