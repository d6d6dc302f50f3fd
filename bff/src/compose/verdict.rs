//! What a view's outcomes add up to: its verdict (which the edge turns into an HTTP status),
//! whether it is complete, and its entity tag.

use sha2::{Digest, Sha256};
use tessera_contract::{PartOutcome, PartStatus};

/// How a view (or one part) went, as far as its client is concerned. It follows the critical
/// parts only; worse verdicts rank higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Every critical part has data.
    Ok,
    /// A critical part's upstream failed.
    Failed,
    /// A critical part timed out.
    TimedOut,
    /// A critical part's upstream refused what the client asked for (a 400 of its own).
    Rejected,
    /// A critical part's upstream does not know the id.
    NotFound,
    /// A critical part belongs to a shopper, and nobody is signed in.
    Unauthorized,
}

impl Verdict {
    /// The verdict of a view: the worst of its critical parts'.
    pub(crate) fn of_view<'a>(parts: impl IntoIterator<Item = &'a PartOutcome>) -> Self {
        parts
            .into_iter()
            .filter(|o| o.critical)
            .map(Self::of_part)
            .max()
            .unwrap_or(Self::Ok)
    }

    /// The verdict one part would have on its own.
    pub(crate) fn of_part(outcome: &PartOutcome) -> Self {
        match (&outcome.status, outcome.error.as_ref()) {
            (s, _) if s.has_data() => Self::Ok,
            (PartStatus::Unauthorized, _) => Self::Unauthorized,
            (_, Some(e)) if e.code == "not_found" => Self::NotFound,
            (_, Some(e)) if e.code == "rejected" => Self::Rejected,
            (PartStatus::Timeout, _) => Self::TimedOut,
            _ => Self::Failed,
        }
    }
}

/// A view is complete when every part has fresh data of its own — or, for a user part with
/// nobody signed in, needs none: there is nothing more to get for this visitor.
pub(crate) fn is_complete<'a>(parts: impl IntoIterator<Item = &'a PartOutcome>) -> bool {
    parts
        .into_iter()
        .all(|o| matches!(o.status, PartStatus::Ok | PartStatus::Unauthorized))
}

/// A weak entity tag over what a view says — each part's status, data and error code — and not
/// over its timings, so the same content has the same tag from one request to the next.
pub(crate) fn etag<'a>(
    view: &str,
    id: &str,
    whose: Option<&str>,
    parts: impl IntoIterator<Item = (&'a str, &'a PartOutcome)>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(view.as_bytes());
    hasher.update([0]);
    hasher.update(id.as_bytes());
    if let Some(whose) = whose {
        // A personal answer's tag is its shopper's alone.
        hasher.update([1]);
        hasher.update(whose.as_bytes());
    }
    for (name, outcome) in parts {
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(outcome.status.as_str().as_bytes());
        hasher.update([0]);
        if let Some(data) = &outcome.data {
            // Written straight into the hash, not into a buffer first. Serializing a Value
            // cannot fail; object keys keep their order.
            let _ = serde_json::to_writer(Hashing(&mut hasher), data);
        }
        if let Some(error) = &outcome.error {
            hasher.update(error.code.as_bytes());
        }
    }
    let digest = hasher.finalize();
    let mut tag = String::with_capacity(28);
    tag.push_str("W/\"");
    for byte in &digest[..12] {
        tag.push(char::from(HEX[usize::from(byte >> 4)]));
        tag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    tag.push('"');
    tag
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes written into a hash.
struct Hashing<'a>(&'a mut Sha256);

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tessera_contract::PartError;

    use super::*;

    fn outcome(status: PartStatus, critical: bool, code: Option<&str>) -> PartOutcome {
        PartOutcome {
            status,
            critical,
            elapsed_ms: 1,
            age_s: None,
            data: status.has_data().then(|| serde_json::json!({"a": 1})),
            error: code.map(|c| PartError {
                code: c.into(),
                message: String::new(),
            }),
            failed: Vec::new(),
        }
    }

    #[test]
    fn the_verdict_follows_critical_parts_only() {
        use PartStatus::*;
        let ok = outcome(Ok, true, None);
        let optional_failed = outcome(Error, false, Some("unavailable"));
        let timed_out = outcome(Timeout, true, Some("timeout"));
        let failed = outcome(Error, true, Some("unavailable"));
        let missing = outcome(Error, true, Some("not_found"));
        let fallback = outcome(Fallback, true, Some("unavailable"));
        assert_eq!(
            Verdict::of_view([&ok, &optional_failed, &fallback]),
            Verdict::Ok
        );
        assert_eq!(Verdict::of_view([&ok, &failed]), Verdict::Failed);
        assert_eq!(Verdict::of_view([&failed, &timed_out]), Verdict::TimedOut);
        assert_eq!(
            Verdict::of_view([&timed_out, &missing, &failed]),
            Verdict::NotFound
        );
    }

    #[test]
    fn etags_ignore_timings_but_not_content() {
        let a = outcome(PartStatus::Ok, true, None);
        let mut slower = a.clone();
        slower.elapsed_ms = 999;
        let mut changed = a.clone();
        changed.data = Some(serde_json::json!({"a": 2}));
        let tag = |o: &PartOutcome| etag("v", "1", None, [("p", o)]);
        assert_eq!(tag(&a), tag(&slower));
        assert_ne!(tag(&a), tag(&changed));
        assert_ne!(
            etag("v", "1", None, [("p", &a)]),
            etag("v", "2", None, [("p", &a)])
        );
        assert_ne!(
            etag("v", "1", Some("user 1"), [("p", &a)]),
            etag("v", "1", Some("user 2"), [("p", &a)]),
            "a personal tag is its shopper's"
        );
        assert!(tag(&a).starts_with("W/\""));
    }

    #[test]
    fn tags_are_those_of_the_serialized_data() {
        // The tag of a release must not change with how it is computed: clients and caches
        // hold tags across deploys.
        let mut a = outcome(PartStatus::Ok, true, None);
        a.data = Some(serde_json::json!({"z": [1, 2.5, "é\"<"], "a": null, "m": {"k": true}}));
        let mut hasher = Sha256::new();
        for piece in [&b"v"[..], &[0], b"1", &[0], b"p", &[0], b"ok", &[0]] {
            hasher.update(piece);
        }
        hasher.update(serde_json::to_vec(a.data.as_ref().unwrap()).unwrap());
        let hex: String = hasher.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(etag("v", "1", None, [("p", &a)]), format!("W/\"{hex}\""));
    }
}
