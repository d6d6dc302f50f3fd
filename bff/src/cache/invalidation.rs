//! Invalidations: what to drop, as a scope, and the numbered log of the scopes this replica
//! has seen dropped, so that anything begun before a drop — an entry, a fill, a rendered view —
//! can tell whether the drop concerns it.
//!
//! Dropping is lazy and costs one record whatever the cache holds: nothing is scanned. An
//! entry is checked when it is read, against the scopes its key lies in (a handful).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::drop_target_problem;

/// What to drop, as asked (by an action, the admin API or another replica).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Invalidation {
    /// Exactly this key.
    Key(String),
    /// Every key under this prefix, in whole path segments (see [`Scope`]).
    Prefix(String),
}

/// A drop target that could never drop anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target:?} {reason}")]
pub(crate) struct BadTarget {
    pub target: String,
    pub reason: &'static str,
}

impl Invalidation {
    /// Whether the target can drop anything at all (see [`drop_target_problem`]).
    pub(crate) fn check(&self, is_upstream: impl Fn(&str) -> bool) -> Result<(), BadTarget> {
        let (text, is_prefix) = match self {
            Self::Key(key) => (key, false),
            Self::Prefix(prefix) => (prefix, true),
        };
        match drop_target_problem(text, is_prefix, is_upstream) {
            None => Ok(()),
            Some(reason) => Err(BadTarget {
                target: text.clone(),
                reason,
            }),
        }
    }

    pub(crate) fn scope(&self) -> Scope {
        match self {
            Self::Key(key) => Scope::Key(key.clone()),
            Self::Prefix(prefix) => Scope::Under(prefix.clone()),
        }
    }

    #[cfg(test)]
    fn matches(&self, key: &str) -> bool {
        scopes_of(key).contains(&self.scope())
    }
}

/// A set of keys one invalidation drops. A key `up:/a/b?q` lies under `""` (everything),
/// `up:`, `up:/`, `up:/a/`, `up:/a/b` (that path with any query), and is its own `Key` scope.
/// Prefixes count in whole path segments, so `reviews:/products/7/` drops
/// `reviews:/products/7/summary` but `reviews:/products/7` does not reach
/// `reviews:/products/70`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Under(String),
    Key(String),
}

impl Scope {
    /// The prefix or the key.
    fn text(&self) -> &str {
        match self {
            Self::Under(text) | Self::Key(text) => text,
        }
    }

    /// A name for it in a flat keyspace (Redis), distinct for every scope.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Under(prefix) => format!("under:{prefix}"),
            Self::Key(key) => format!("key:{key}"),
        }
    }
}

/// Every scope `key` lies in, broadest first.
pub(crate) fn scopes_of(key: &str) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = prefixes_of(key)
        .map(|prefix| Scope::Under(prefix.to_owned()))
        .collect();
    scopes.push(Scope::Key(key.to_owned()));
    scopes
}

/// The prefixes `key` lies under (its `Under` scopes), broadest first, borrowed from it.
fn prefixes_of(key: &str) -> impl Iterator<Item = &str> {
    let path = key.split_once('?').map_or(key, |(path, _)| path);
    // The upstream's name ends at the first ':' (unless a '/' comes first); segments end at
    // each '/'. One rule, for the prefixes and for whether the path itself is one of them.
    let name_end = path
        .find([':', '/'])
        .filter(|&i| path.as_bytes()[i] == b':');
    let is_end = move |(i, c): (usize, char)| c == '/' || Some(i) == name_end;
    let ends = path
        .char_indices()
        .filter(move |&at| is_end(at))
        .map(move |(i, _)| &path[..=i]);
    let whole = path.char_indices().last().is_none_or(is_end);
    std::iter::once("")
        .chain(ends)
        .chain((!whole).then_some(path))
}

/// The drops this replica has seen, numbered in order: for each scope, the number of its
/// latest drop. Work begun at mark `m` was overtaken if a scope of its key was dropped at `m`
/// or later. A scope is forgotten once nothing begun before its latest drop can still be alive
/// (`retention`), or when too many are remembered; forgetting raises `floor`, below which all
/// work counts as overtaken (a miss, never stale data).
///
/// Memory follows the scopes dropped within `retention`, not the drops: a scope dropped again
/// (a product reviewed a thousand times an hour) keeps its one place in the log.
#[derive(Debug)]
pub(super) struct Invalidations {
    /// The number the next drop gets.
    pub(super) next: u64,
    /// The latest drop of each `Under` scope, and of each `Key` scope (two maps, so a key's
    /// scopes are looked up by borrowed text: a read allocates nothing).
    latest_under: HashMap<String, Latest>,
    latest_key: HashMap<String, Latest>,
    /// Each remembered scope once, roughly oldest first, dated by its latest drop when it was
    /// queued.
    log: VecDeque<(Instant, Scope)>,
    floor: u64,
    retention: Duration,
}

/// A scope's latest drop: its number, and when it was seen.
#[derive(Debug, Clone, Copy)]
struct Latest {
    number: u64,
    at: Instant,
}

/// At most this many scopes are remembered (a few MB at most).
const MAX_RECORDS: usize = 100_000;

impl Invalidations {
    pub(super) fn new(retention: Duration) -> Self {
        Self {
            next: 0,
            latest_under: HashMap::new(),
            latest_key: HashMap::new(),
            log: VecDeque::new(),
            floor: 0,
            retention,
        }
    }

    /// Remembers drops for at least `retention` from now on.
    pub(super) fn raise_retention(&mut self, retention: Duration) {
        self.retention = self.retention.max(retention);
    }

    pub(super) fn record(&mut self, scope: Scope) {
        self.record_at(scope, Instant::now());
    }

    fn record_at(&mut self, scope: Scope, at: Instant) {
        let number = self.next;
        self.next += 1;
        let latest = Latest { number, at };
        let seen = self.latest_of(&scope);
        if let Some(known) = seen.get_mut(scope.text()) {
            *known = latest;
        } else {
            seen.insert(scope.text().to_owned(), latest);
            self.log.push_back((at, scope));
        }
        self.forget(at);
    }

    /// Forgets the scopes whose latest drop is older than `retention`, and the oldest beyond
    /// [`MAX_RECORDS`]. A scope at the log's front that was dropped again since it was queued
    /// goes to its back instead, dated by that drop: a scope dropped all the time (every
    /// review drops the summaries) is never the one forgotten for room, which would raise the
    /// floor to nearly every mark and make all cached work a miss. The log's order is then only
    /// roughly by time: a scope may be kept up to about twice `retention`, never less.
    ///
    /// Each requeue follows a drop of its own, so the work is constant per drop on average.
    fn forget(&mut self, now: Instant) {
        let retention = self.retention;
        let expired = |at: Instant| now.duration_since(at) > retention;
        while let Some(&(at, _)) = self.log.front() {
            let over = self.log.len() > MAX_RECORDS;
            if !over && !expired(at) {
                break;
            }
            let (_, scope) = self.log.pop_front().expect("a front record");
            let seen = self.latest_of(&scope);
            // Every scope in the log is in its map (they are added and removed together).
            let Some(&Latest { number, at: last }) = seen.get(scope.text()) else {
                continue;
            };
            if last > at && !expired(last) {
                self.log.push_back((last, scope));
                continue;
            }
            seen.remove(scope.text());
            self.floor = self.floor.max(number + 1);
        }
    }

    /// Whether a drop numbered `mark` or later concerns `key`.
    pub(super) fn overtook(&self, mark: u64, key: &str) -> bool {
        let since = |latest: Option<&Latest>| latest.is_some_and(|l| l.number >= mark);
        mark < self.floor
            || since(self.latest_key.get(key))
            || (!self.latest_under.is_empty()
                && prefixes_of(key).any(|prefix| since(self.latest_under.get(prefix))))
    }

    fn latest_of(&mut self, scope: &Scope) -> &mut HashMap<String, Latest> {
        match scope {
            Scope::Under(_) => &mut self.latest_under,
            Scope::Key(_) => &mut self.latest_key,
        }
    }

    /// How many scopes are remembered.
    pub(super) fn remembered(&self) -> usize {
        self.log.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    /// Drops remembered for 60 s, and a clock: the instant `secs` seconds from now.
    fn a_minute_of_retention() -> (Invalidations, impl Fn(u64) -> Instant) {
        let start = Instant::now();
        (Invalidations::new(Duration::from_secs(60)), move |secs| {
            start + Duration::from_secs(secs)
        })
    }

    fn under(prefix: &str) -> Scope {
        Scope::Under(prefix.into())
    }

    #[test]
    fn a_colon_after_a_slash_does_not_end_the_name() {
        assert_eq!(
            scopes_of("a/b:"),
            [
                under(""),
                under("a/"),
                under("a/b:"),
                Scope::Key("a/b:".into())
            ]
        );
    }

    #[test]
    fn a_key_lies_in_every_segment_prefix_of_its_path() {
        assert_eq!(
            scopes_of("reviews:/products/7/summary?x=/y"),
            [
                under(""),
                under("reviews:"),
                under("reviews:/"),
                under("reviews:/products/"),
                under("reviews:/products/7/"),
                under("reviews:/products/7/summary"),
                Scope::Key("reviews:/products/7/summary?x=/y".into()),
            ]
        );
        assert_eq!(
            scopes_of("c:/a/"),
            [
                under(""),
                under("c:"),
                under("c:/"),
                under("c:/a/"),
                Scope::Key("c:/a/".into())
            ]
        );
    }

    #[test]
    fn invalidations_match_whole_segments() {
        let key = "reviews:/products/7/summary";
        assert!(Invalidation::Key(key.into()).matches(key));
        assert!(!Invalidation::Key(key.into()).matches("reviews:/products/7/summary?a"));
        assert!(Invalidation::Prefix("reviews:/products/7/".into()).matches(key));
        assert!(
            Invalidation::Prefix("reviews:/summaries".into()).matches("reviews:/summaries?ids=1")
        );
        assert!(
            !Invalidation::Prefix("reviews:/products/7".into()).matches("reviews:/products/70/x")
        );
        assert!(Invalidation::Prefix(String::new()).matches(key));
        assert_eq!(
            serde_json::to_string(&Invalidation::Prefix("a".into())).unwrap(),
            r#"{"prefix":"a"}"#
        );
    }

    #[test]
    fn targets_name_an_upstream_and_whole_segments() {
        let known = |name: &str| name == "reviews";
        let prefix = |p: &str| Invalidation::Prefix(p.into()).check(known);
        assert!(prefix("").is_ok() && prefix("reviews:").is_ok());
        assert!(prefix("reviews:/products/7/").is_ok());
        assert!(prefix("reviews").is_err(), "no upstream part");
        assert!(prefix("catalog:/x").is_err(), "unknown upstream");
        assert!(prefix("reviews:/summaries?ids=").is_err(), "a query");
        assert!(
            Invalidation::Key("reviews:/summaries?ids=1".into())
                .check(known)
                .is_ok()
        );
        assert!(Invalidation::Key(String::new()).check(known).is_err());
    }

    #[test]
    fn invalidations_tell_what_they_overtook() {
        let mut seen = Invalidations::new(HOUR);
        assert!(!seen.overtook(0, "a:/x"));
        let mark = seen.next;
        seen.record(under("a:/products/7/"));
        assert!(seen.overtook(mark, "a:/products/7/summary"));
        assert!(!seen.overtook(mark, "a:/products/8/summary"));
        assert!(
            !seen.overtook(seen.next, "a:/products/7/summary"),
            "work begun after"
        );
    }

    #[test]
    fn many_unrelated_drops_overtake_nothing() {
        // A fill is not overtaken by thousands of drops of other products during it.
        let mut seen = Invalidations::new(HOUR);
        let mark = seen.next;
        for n in 0..5_000 {
            seen.record(under(&format!("a:/products/{n}/")));
        }
        assert!(!seen.overtook(mark, "a:/products/9999/summary"));
        assert!(seen.overtook(mark, "a:/products/4999/summary"));
    }

    #[test]
    fn forgotten_drops_count_as_overtaking_older_work() {
        let mut seen = Invalidations::new(Duration::ZERO);
        let mark = seen.next;
        seen.record(under("a:/1/"));
        std::thread::sleep(Duration::from_millis(2));
        seen.record(under("a:/2/"));
        assert_eq!(seen.remembered(), 1, "the expired record was forgotten");
        assert!(
            seen.overtook(mark, "c:/unrelated"),
            "older work is not trusted"
        );
        assert!(!seen.overtook(seen.next, "c:/unrelated"));
    }

    #[test]
    fn a_scope_dropped_again_is_remembered_once() {
        // A product reviewed all day long holds one record, not one per review.
        let mut seen = Invalidations::new(HOUR);
        for _ in 0..10_000 {
            seen.record(under("a:/products/7/"));
        }
        seen.record(Scope::Key("a:/products/8".into()));
        assert_eq!(seen.remembered(), 2);
        let mark = seen.next - 2;
        assert!(
            seen.overtook(mark, "a:/products/7/summary"),
            "its latest drop"
        );
        assert!(!seen.overtook(seen.next, "a:/products/7/summary"));
    }

    #[test]
    fn a_scope_dropped_again_outlives_its_first_drop() {
        let (mut seen, at) = a_minute_of_retention();
        seen.record_at(under("a:/1/"), at(0));
        seen.record_at(under("a:/2/"), at(1));
        let mark = seen.next;
        seen.record_at(under("a:/1/"), at(50));
        // At 90 s the first drop of a:/1/ is past retention, its second is not; a:/2/ is gone.
        seen.record_at(under("a:/3/"), at(90));
        assert_eq!(seen.remembered(), 2, "a:/1/ and a:/3/");
        assert!(
            seen.overtook(mark, "a:/1/x"),
            "the drop at 50 s is remembered"
        );
        assert!(
            !seen.overtook(mark, "a:/2/x"),
            "a:/2/ was forgotten, and it was older than the mark: the floor stays below it"
        );
        assert!(
            seen.overtook(mark - 1, "c:/unrelated"),
            "work older than a:/2/'s drop"
        );
        // At 151 s a:/3/ is past retention, and so is the drop of a:/1/ at 50 s, queued
        // behind it.
        seen.record_at(under("a:/4/"), at(151));
        assert_eq!(seen.remembered(), 1, "a:/4/");
        assert!(
            seen.overtook(mark, "c:/unrelated"),
            "older work is no longer trusted"
        );
    }

    #[test]
    fn a_forgotten_scope_raises_the_floor_past_its_latest_drop() {
        let (mut seen, at) = a_minute_of_retention();
        seen.record_at(under("a:/1/"), at(0));
        let mark = seen.next;
        seen.record_at(under("a:/1/"), at(10));
        // At 80 s both drops of a:/1/ are past retention: it is forgotten, and the floor
        // covers its second drop, which work begun at `mark` must still count.
        seen.record_at(under("a:/2/"), at(80));
        assert_eq!(seen.remembered(), 1);
        assert!(seen.overtook(mark, "a:/1/x"));
        assert!(
            !seen.overtook(seen.next - 1, "a:/1/x"),
            "work begun after it"
        );
    }

    #[test]
    fn a_full_log_forgets_a_scope_dropped_long_ago_not_a_busy_one() {
        let mut seen = Invalidations::new(HOUR);
        let now = Instant::now();
        // The busy scope is queued first, then the log fills with others.
        seen.record_at(under("a:/summaries/"), now);
        for n in 0..MAX_RECORDS - 1 {
            seen.record_at(under(&format!("a:/products/{n}/")), now);
        }
        assert_eq!(seen.remembered(), MAX_RECORDS);
        let busy = seen.next;
        let later = now + Duration::from_secs(1);
        seen.record_at(under("a:/summaries/"), later);
        seen.record_at(under("a:/products/new/"), later);
        assert_eq!(
            seen.remembered(),
            MAX_RECORDS,
            "one scope was forgotten for room"
        );
        assert!(
            seen.overtook(busy, "a:/summaries/x"),
            "the busy scope is kept"
        );
        assert!(
            !seen.overtook(busy, "c:/unrelated"),
            "the floor rose past the oldest other scope only, not to the busy one's drop"
        );
        assert!(seen.overtook(1, "a:/products/0/x"), "the one forgotten");
        assert!(!seen.overtook(2, "c:/unrelated"));
    }
}
