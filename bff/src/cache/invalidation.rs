//! Invalidations: what to drop (a key or a prefix), and the numbered log of those this replica
//! has seen, so that work begun before one can tell whether it was overtaken.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// What to drop: one key, or every key with a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Invalidation {
    Key(String),
    Prefix(String),
}

impl Invalidation {
    pub(crate) fn matches(&self, key: &str) -> bool {
        match self {
            Self::Key(k) => key == k,
            Self::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// The invalidations this replica has seen, numbered in order, so that work begun before one
/// can tell whether it concerns its key. Only the most recent are remembered; work older than
/// those counts as overtaken.
#[derive(Debug, Default)]
pub(super) struct Invalidations {
    /// The number the next invalidation gets.
    pub(super) next: u64,
    recent: VecDeque<(u64, Invalidation)>,
}

/// How many invalidations are remembered (far more than can happen during one fill).
const REMEMBERED_INVALIDATIONS: usize = 1024;

impl Invalidations {
    pub(super) fn record(&mut self, target: &Invalidation) {
        self.recent.push_back((self.next, target.clone()));
        self.next += 1;
        if self.recent.len() > REMEMBERED_INVALIDATIONS {
            self.recent.pop_front();
        }
    }

    /// Whether an invalidation numbered `mark` or later matches `key`.
    pub(super) fn overtook(&self, mark: u64, key: &str) -> bool {
        match self.recent.front() {
            None => false,
            // Some since `mark` were forgotten: assume the worst.
            Some((oldest, _)) if *oldest > mark => true,
            Some(_) => self
                .recent
                .iter()
                .filter(|(number, _)| *number >= mark)
                .any(|(_, target)| target.matches(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_tell_what_they_overtook() {
        let mut seen = Invalidations::default();
        assert!(!seen.overtook(0, "a:/x"));
        let mark = seen.next;
        seen.record(&Invalidation::Prefix("a:/products/7/".into()));
        assert!(seen.overtook(mark, "a:/products/7/summary"));
        assert!(!seen.overtook(mark, "a:/products/8/summary"));
        assert!(
            !seen.overtook(seen.next, "a:/products/7/summary"),
            "work begun after"
        );
        // Once the one at `mark` is forgotten, everything since counts as overtaken.
        for n in 0..REMEMBERED_INVALIDATIONS {
            seen.record(&Invalidation::Key(format!("b:/{n}")));
        }
        assert!(seen.overtook(mark, "c:/unrelated"));
        assert!(!seen.overtook(seen.next - 1, "c:/unrelated"));
    }

    #[test]
    fn invalidations_match_keys_and_prefixes() {
        let key = "reviews:/products/7/summary";
        assert!(Invalidation::Key(key.into()).matches(key));
        assert!(Invalidation::Prefix("reviews:/products/7/".into()).matches(key));
        assert!(!Invalidation::Prefix("reviews:/products/70".into()).matches(key));
        assert_eq!(
            serde_json::to_string(&Invalidation::Prefix("a".into())).unwrap(),
            r#"{"prefix":"a"}"#
        );
    }
}
