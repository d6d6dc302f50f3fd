//! Loading a view into a page: the NDJSON stream fills one signal per page part by part, a copy
//! is kept in the browser so that coming back to a page shows its tiles at once (and refreshes
//! them in the background: stale-while-revalidate), and every arrival is timed for the "how
//! this page loaded" panel.
//!
//! SECURITY: a view's personal parts (the signed-in shopper's own) are never kept in that copy,
//! and are dropped from the page and asked for again whenever this tab signs in or out, so
//! that nothing of one shopper is ever shown after they signed out.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use tessera_contract::{PartOutcome, PartStatus, StreamLine};

use crate::api::{ApiError, failed_part, fetch_part, stream_view};
use crate::session::use_session;

/// Which view a page shows: the view's id and, for paged views, the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewKey {
    pub view: &'static str,
    pub id: String,
    pub page: Option<u32>,
}

impl ViewKey {
    /// The key of the view in the browser's copy.
    pub(crate) fn cache_key(&self) -> String {
        format!("{}/{}?{}", self.view, self.id, self.page.unwrap_or(1))
    }
}

/// When one part reached the page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arrival {
    pub part: String,
    pub status: &'static str,
    /// Time the BFF spent on the part (from its outcome).
    pub bff_ms: u64,
    /// Since the request started, in the browser.
    pub at_ms: f64,
}

/// How the current page's data arrived.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Timeline {
    /// The page first showed the browser's copy of its view.
    pub from_browser_cache: bool,
    pub arrivals: Vec<Arrival>,
    /// When every critical part was on screen, since the request started.
    pub critical_ms: Option<f64>,
    /// When the last part was on screen.
    pub complete_ms: Option<f64>,
    /// When the stream ended without its summary (parts it never delivered then failed).
    pub cut_off_ms: Option<f64>,
}

/// A page's view, filled in as its parts arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadedView {
    pub parts: RwSignal<BTreeMap<String, PartOutcome>>,
    /// The view could not be loaded at all (bad id, not found, network).
    pub failure: RwSignal<Option<ApiError>>,
    /// Showing the browser's copy while the view is fetched again.
    pub refreshing: RwSignal<bool>,
    pub timeline: RwSignal<Timeline>,
    key: RwSignal<Option<ViewKey>>,
    /// The parts that belong to the signed-in shopper.
    personal: &'static [&'static str],
    /// The reloads of single parts in flight, the latest of each part only.
    reloads: StoredValue<Reloads>,
}

/// Single-part reloads (retries, other pages) and their order. Every load takes a ticket from
/// one counter; only the latest reload of a part may put its answer on the page, an earlier one
/// is aborted when a later one starts, and a view's stream does not overwrite a part reloaded
/// after the stream began.
#[derive(Debug, Default)]
struct Reloads {
    last_ticket: u64,
    /// Per part, its latest reload's ticket and (while it is in flight) its controller.
    latest: BTreeMap<&'static str, (u64, SendWrapper<Option<web_sys::AbortController>>)>,
}

impl Reloads {
    fn ticket(&mut self) -> u64 {
        self.last_ticket += 1;
        self.last_ticket
    }

    /// Whether `part` was reloaded after the load holding `ticket` began.
    fn reloaded_since(&self, part: &str, ticket: u64) -> bool {
        self.latest.get(part).is_some_and(|(t, _)| *t > ticket)
    }

    /// Aborts every reload in flight (the page moves on).
    fn abort_all(&mut self) {
        for (_, (_, controller)) in std::mem::take(&mut self.latest) {
            if let Some(controller) = controller.take() {
                controller.abort();
            }
        }
    }
}

/// How many views the browser keeps for back navigation.
const KEPT_VIEWS: usize = 32;

/// One view in the browser's copy.
#[derive(Debug)]
struct Kept {
    key: String,
    parts: BTreeMap<String, PartOutcome>,
    /// When it was fetched whole on intent (a hover, a focus), for the navigation that
    /// follows: within [`PREFETCH_FRESH_MS`] it shows this without asking again, once.
    prefetched: Option<f64>,
}

/// How long a prefetched view stands for the page without asking again.
const PREFETCH_FRESH_MS: f64 = 60_000.0;

thread_local! {
    /// The last views shown, newest last (wasm is single-threaded).
    static KEPT: RefCell<VecDeque<Kept>> = const { RefCell::new(VecDeque::new()) };
}

/// What a part outcome is worth to a page: data (fresh, or cached by the BFF, which is never
/// older than what it answered before), then a fallback, then nothing.
fn worth(status: PartStatus) -> u8 {
    match status {
        PartStatus::Ok | PartStatus::Stale => 3,
        // Some items missing: better than a fallback, worse than the whole list.
        PartStatus::Partial => 2,
        PartStatus::Fallback => 1,
        PartStatus::Timeout | PartStatus::Error | PartStatus::Unauthorized => 0,
    }
}

/// The merge rule of the browser's copy, and of a page showing it: an answer takes the place
/// of what is held of a part only if it is worth as much or more. So an error never replaces
/// data, and a fallback never replaces real data. `unauthorized` always does: nobody is
/// signed in, and whatever was held of a shopper must go.
fn replaces(held: Option<&PartOutcome>, answer: &PartOutcome) -> bool {
    answer.status == PartStatus::Unauthorized
        || held.is_none_or(|held| worth(answer.status) >= worth(held.status))
}

/// Shows `answer` for `name` unless what the page holds is better (see [`replaces`]). Data
/// kept that way is marked stale: the shop could not confirm it this time. A `personal` part
/// always shows its latest answer: what the shop could not confirm of a shopper is not shown
/// as theirs.
fn show(
    parts: &mut BTreeMap<String, PartOutcome>,
    name: String,
    answer: PartOutcome,
    personal: bool,
) {
    match parts.get_mut(&name) {
        Some(held) if !personal && !replaces(Some(held), &answer) => {
            if held.status == PartStatus::Ok {
                held.status = PartStatus::Stale;
            }
        }
        _ => {
            parts.insert(name, answer);
        }
    }
}

fn kept(key: &str) -> Option<BTreeMap<String, PartOutcome>> {
    KEPT.with_borrow(|kept| kept.iter().find(|k| k.key == key).map(|k| k.parts.clone()))
}

/// Whether the browser holds a prefetched copy of the view `key`, not yet shown.
pub(crate) fn is_prefetched(key: &ViewKey) -> bool {
    let key = key.cache_key();
    let now = now_ms();
    KEPT.with_borrow(|kept| {
        kept.iter()
            .any(|k| k.key == key && k.prefetched.is_some_and(|at| now - at < PREFETCH_FRESH_MS))
    })
}

/// Whether the copy of `key` was prefetched moments ago and not yet shown (and, now, shown).
fn take_prefetched(key: &str) -> bool {
    let now = now_ms();
    KEPT.with_borrow_mut(|kept| {
        kept.iter_mut()
            .find(|k| k.key == key)
            .and_then(|k| k.prefetched.take())
            .is_some_and(|at| now - at < PREFETCH_FRESH_MS)
    })
}

/// Keeps a view fetched on intent, for the navigation that may follow: only if every part
/// but the shopper's own has data, so that page can show it whole without asking again.
pub(crate) fn keep_prefetched(
    key: &ViewKey,
    parts: &BTreeMap<String, PartOutcome>,
    personal: &[&str],
) {
    let whole = parts
        .iter()
        .all(|(name, part)| personal.contains(&name.as_str()) || part.status.has_data());
    if !whole {
        return;
    }
    let key = key.cache_key();
    keep(&key, parts, personal);
    KEPT.with_borrow_mut(|kept| {
        if let Some(k) = kept.iter_mut().find(|k| k.key == key) {
            k.prefetched = Some(now_ms());
        }
    });
}

/// Merges answers into the browser's copy of the view `key` (making it the newest): only parts
/// with data go in, each by the rule of [`replaces`], so the copy only ever improves or is
/// replaced by a good answer, and a failure never reaches it. The `personal` parts never go
/// in (and a part answered `unauthorized` goes out): the copy is nobody's in particular.
fn keep<'a>(
    key: &str,
    answers: impl IntoIterator<Item = (&'a String, &'a PartOutcome)>,
    personal: &[&str],
) {
    KEPT.with_borrow_mut(|kept| {
        let mut parts = kept
            .iter()
            .position(|k| k.key == key)
            .and_then(|at| kept.remove(at))
            .map(|k| k.parts)
            .unwrap_or_default();
        for (name, answer) in answers {
            if personal.contains(&name.as_str()) || answer.status == PartStatus::Unauthorized {
                parts.remove(name);
            } else if answer.status.has_data() && replaces(parts.get(name), answer) {
                parts.insert(name.clone(), answer.clone());
            }
        }
        if !parts.is_empty() {
            kept.push_back(Kept {
                key: key.to_owned(),
                parts,
                prefetched: None,
            });
        }
        while kept.len() > KEPT_VIEWS {
            kept.pop_front();
        }
    });
}

/// Drops the browser's copy of the view `key` (the view is gone).
fn forget(key: &str) {
    KEPT.with_borrow_mut(|kept| kept.retain(|k| k.key != key));
}

/// Names the browser tab (and history entry) after what the page shows.
pub(crate) fn set_title(what: Option<&str>) {
    let title = what.map_or_else(
        || "Tessera Store".to_owned(),
        |what| format!("{what} · Tessera Store"),
    );
    document().set_title(&title);
}

fn now_ms() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// A `performance.mark` once the current changes are painted, for measuring from outside.
fn mark_after_paint(name: &'static str) {
    request_animation_frame(move || {
        if let Some(performance) = window().performance() {
            let _ = performance.mark(name);
        }
    });
}

/// Loads the view `key()` names, again whenever it changes. `parts` names every part the page
/// shows (those a cut-off stream never delivered are shown as failed), `critical` those whose
/// arrival counts as "the page's critical content is on screen", `personal` those that belong
/// to the signed-in shopper: with any, the view is also loaded again each time this tab signs
/// in or out, and nothing of them is kept. Leaving the page, or moving to another key (or
/// shopper), aborts the request and every reload of a part.
pub(crate) fn use_view(
    key: impl Fn() -> ViewKey + Send + Sync + 'static,
    parts: &'static [&'static str],
    critical: &'static [&'static str],
    personal: &'static [&'static str],
) -> LoadedView {
    let loaded = LoadedView {
        parts: RwSignal::new(BTreeMap::new()),
        failure: RwSignal::new(None),
        refreshing: RwSignal::new(false),
        timeline: RwSignal::new(Timeline::default()),
        key: RwSignal::new(None),
        personal,
        reloads: StoredValue::new(Reloads::default()),
    };
    let session = use_session();
    Effect::new(move |_| {
        let key = key();
        if !personal.is_empty() {
            // Signed in or out: the parts of the shopper before are dropped (the copy has
            // none of them) and the view asked for again, with the cookie as it is now.
            session.changes.track();
        }
        let cache_key = key.cache_key();
        let copy = kept(&cache_key);
        loaded.refreshing.set(copy.is_some());
        loaded.timeline.set(Timeline {
            from_browser_cache: copy.is_some(),
            ..Timeline::default()
        });
        loaded.parts.set(copy.unwrap_or_default());
        loaded.failure.set(None);
        loaded.key.set(Some(key.clone()));
        let ticket = loaded
            .reloads
            .try_update_value(Reloads::ticket)
            .unwrap_or_default();

        let controller = SendWrapper::new(web_sys::AbortController::new().ok());
        let signal = controller.as_ref().map(|c| c.signal());
        on_cleanup(move || {
            if let Some(controller) = controller.take() {
                controller.abort();
            }
            loaded.reloads.try_update_value(Reloads::abort_all);
        });
        if take_prefetched(&cache_key) {
            // Fetched whole on intent moments ago: shown as it is, with no request but for
            // the shopper's own parts, which no copy holds.
            loaded.refreshing.set(false);
            loaded.timeline.set(Timeline {
                from_browser_cache: true,
                critical_ms: Some(0.0),
                complete_ms: Some(0.0),
                ..Timeline::default()
            });
            mark_after_paint("tessera:critical");
            mark_after_paint("tessera:complete");
            for part in personal {
                loaded.reload(part, None);
            }
            return;
        }
        leptos::task::spawn_local(async move {
            let started = now_ms();
            let mut fresh = BTreeMap::new();
            // A chunk read just before the page moved on must not land on the next page.
            let left = signal.clone();
            let mut on_line = |line| match line {
                _ if left.as_ref().is_some_and(web_sys::AbortSignal::aborted) => {}
                StreamLine::Part { name, outcome } => {
                    let at_ms = now_ms() - started;
                    fresh.insert(name.clone(), outcome.clone());
                    let critical_done = critical.iter().all(|c| fresh.contains_key(*c));
                    loaded.timeline.try_update(|t| {
                        t.arrivals.push(Arrival {
                            part: name.clone(),
                            status: outcome.status.as_str(),
                            bff_ms: outcome.elapsed_ms,
                            at_ms,
                        });
                        if critical_done && t.critical_ms.is_none() {
                            t.critical_ms = Some(at_ms);
                            mark_after_paint("tessera:critical");
                        }
                    });
                    // A part reloaded on its own meanwhile shows that newer answer.
                    let reloaded = loaded
                        .reloads
                        .try_with_value(|r| r.reloaded_since(&name, ticket))
                        .unwrap_or(true);
                    if !reloaded {
                        let personal = personal.contains(&name.as_str());
                        loaded
                            .parts
                            .try_update(|p| show(p, name, outcome, personal));
                    }
                }
                StreamLine::Summary { status, id, .. } => {
                    loaded.timeline.try_update(|t| {
                        t.complete_ms = Some(now_ms() - started);
                    });
                    mark_after_paint("tessera:complete");
                    loaded.refreshing.try_set(false);
                    if status == 404 {
                        forget(&cache_key);
                        loaded.failure.try_set(Some(ApiError::not_found(format!(
                            "nothing found for {id:?}"
                        ))));
                    } else if status == 401 {
                        // A shopper's view asked for by nobody signed in.
                        forget(&cache_key);
                        loaded.failure.try_set(Some(ApiError::unauthorized()));
                    } else {
                        keep(&cache_key, &fresh, personal);
                    }
                }
            };
            let aborted = signal.clone();
            let streamed = stream_view(key.view, &key.id, key.page, signal, &mut on_line).await;
            let Err(error) = streamed else {
                return;
            };
            // An aborted request is the page being left, not a failure to show.
            if aborted.is_some_and(|s| s.aborted()) {
                return;
            }
            loaded.refreshing.try_set(false);
            keep(&cache_key, &fresh, personal);
            // With nothing on screen (no part arrived, no copy), the page itself failed.
            if loaded.parts.try_with_untracked(BTreeMap::is_empty) != Some(false) {
                loaded.failure.try_set(Some(error));
                return;
            }
            loaded
                .timeline
                .try_update(|t| t.cut_off_ms = Some(now_ms() - started));
            // Otherwise each part the stream never delivered failed, unless the page holds
            // better (the browser's copy of it, or a reload's answer).
            let failed = failed_part(&error);
            loaded.parts.try_update(|p| {
                for name in parts.iter().filter(|name| !fresh.contains_key(**name)) {
                    let reloaded = loaded
                        .reloads
                        .try_with_value(|r| r.reloaded_since(name, ticket))
                        .unwrap_or(true);
                    if !reloaded {
                        let own = personal.contains(name);
                        show(p, (*name).to_owned(), failed.clone(), own);
                    }
                }
            });
        });
    });
    loaded
}

impl LoadedView {
    /// Loads one part again on its own (a tile's retry, or another page of it: `page`, else the
    /// view's own); its tile shows its skeleton meanwhile. Only the latest reload of a part
    /// lands: starting one aborts the one before. Another page of a part is shown but never
    /// kept in the browser's copy, which holds the view as it is at its own address.
    pub(crate) fn reload(self, part: &'static str, page: Option<u32>) {
        let Some(key) = self.key.get_untracked() else {
            return;
        };
        let page = page.or(key.page);
        let own_page = page.unwrap_or(1) == key.page.unwrap_or(1);
        let controller = web_sys::AbortController::new().ok();
        let signal = controller.as_ref().map(web_sys::AbortController::signal);
        let Some(ticket) = self.reloads.try_update_value(|r| {
            let ticket = r.ticket();
            let before = r
                .latest
                .insert(part, (ticket, SendWrapper::new(controller)));
            if let Some(before) = before.and_then(|(_, c)| c.take()) {
                before.abort();
            }
            ticket
        }) else {
            return;
        };
        self.parts.update(|p| {
            p.remove(part);
        });
        leptos::task::spawn_local(async move {
            let outcome = fetch_part(key.view, part, &key.id, page, signal.as_ref())
                .await
                .unwrap_or_else(|e| failed_part(&e));
            // A later reload of the part started meanwhile, or the page moved on (or is gone,
            // with its signals).
            let latest = self
                .reloads
                .try_update_value(|r| match r.latest.get_mut(part) {
                    Some((t, controller)) if *t == ticket => {
                        // Done: nothing left to abort, but the ticket stays, so that a
                        // view's stream still running does not overwrite this answer.
                        *controller = SendWrapper::new(None);
                        true
                    }
                    _ => false,
                })
                .unwrap_or(false);
            if !latest || self.key.try_get_untracked().flatten().as_ref() != Some(&key) {
                return;
            }
            if own_page {
                keep(
                    &key.cache_key(),
                    [(&part.to_owned(), &outcome)],
                    self.personal,
                );
            }
            self.parts
                .try_update(|p| p.insert(part.to_owned(), outcome));
        });
    }
    /// A retry callback for a tile.
    pub(crate) fn retry(self, part: &'static str) -> Callback<()> {
        Callback::new(move |()| self.reload(part, None))
    }

    /// The part's outcome, if it is in (tracked).
    pub(crate) fn part(self, name: &str) -> Option<PartOutcome> {
        self.parts.with(|p| p.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: PartStatus) -> PartOutcome {
        PartOutcome {
            status,
            critical: false,
            elapsed_ms: 1,
            age_s: None,
            data: status
                .has_data()
                .then(|| serde_json::json!({ "orders": [] })),
            error: None,
            failed: Vec::new(),
        }
    }

    #[test]
    fn unauthorized_replaces_whatever_was_held() {
        let held = outcome(PartStatus::Ok);
        assert!(replaces(Some(&held), &outcome(PartStatus::Unauthorized)));
        assert!(!replaces(Some(&held), &outcome(PartStatus::Error)));
        assert!(replaces(None, &outcome(PartStatus::Unauthorized)));
    }

    #[test]
    fn a_personal_part_always_shows_its_latest_answer() {
        let mut parts = BTreeMap::new();
        parts.insert("purchases".to_owned(), outcome(PartStatus::Ok));
        parts.insert("stock".to_owned(), outcome(PartStatus::Ok));
        show(
            &mut parts,
            "purchases".into(),
            outcome(PartStatus::Error),
            true,
        );
        show(
            &mut parts,
            "stock".into(),
            outcome(PartStatus::Error),
            false,
        );
        assert_eq!(
            parts["purchases"].status,
            PartStatus::Error,
            "never kept as stale"
        );
        assert_eq!(
            parts["stock"].status,
            PartStatus::Stale,
            "shared data is kept"
        );
    }

    #[test]
    fn personal_parts_never_reach_the_browsers_copy() {
        let key = "product/1?1";
        let answers = BTreeMap::from([
            ("product".to_owned(), outcome(PartStatus::Ok)),
            ("purchases".to_owned(), outcome(PartStatus::Ok)),
        ]);
        keep(key, &answers, &["purchases"]);
        let copy = kept(key).expect("the shared part is kept");
        assert!(copy.contains_key("product"));
        assert!(!copy.contains_key("purchases"));

        // A view that is all the shopper's leaves no copy at all.
        let account = "account/me?1";
        let answers = BTreeMap::from([("profile".to_owned(), outcome(PartStatus::Ok))]);
        keep(account, &answers, &["profile", "orders"]);
        assert_eq!(kept(account), None);

        // Nor does an answer of nobody signed in, and it takes out what was there.
        let answers = BTreeMap::from([("product".to_owned(), outcome(PartStatus::Unauthorized))]);
        keep(key, &answers, &[]);
        assert_eq!(kept(key), None);
    }
}
