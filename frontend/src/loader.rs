//! Loading a view into a page: the NDJSON stream fills one signal per page part by part, a copy
//! is kept in the browser so that coming back to a page shows its tiles at once (and refreshes
//! them in the background: stale-while-revalidate), and every arrival is timed for the "how
//! this page loaded" panel.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use tessera_contract::{PartOutcome, StreamLine};

use crate::api::{ApiError, failed_part, fetch_part, stream_view};

/// Which view a page shows: the view's id and, for paged views, the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewKey {
    pub view: &'static str,
    pub id: String,
    pub page: Option<u32>,
}

impl ViewKey {
    fn cache_key(&self) -> String {
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
}

/// How many views the browser keeps for back navigation.
const KEPT_VIEWS: usize = 32;

thread_local! {
    /// The last views shown, newest last (wasm is single-threaded).
    static KEPT: RefCell<VecDeque<(String, BTreeMap<String, PartOutcome>)>> =
        const { RefCell::new(VecDeque::new()) };
}

fn kept(key: &str) -> Option<BTreeMap<String, PartOutcome>> {
    KEPT.with_borrow(|kept| {
        kept.iter()
            .find(|(k, _)| k == key)
            .map(|(_, parts)| parts.clone())
    })
}

fn keep(key: String, parts: BTreeMap<String, PartOutcome>) {
    KEPT.with_borrow_mut(|kept| {
        kept.retain(|(k, _)| *k != key);
        kept.push_back((key, parts));
        while kept.len() > KEPT_VIEWS {
            kept.pop_front();
        }
    });
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

/// Loads the view `key()` names, again whenever it changes. `critical` names the parts whose
/// arrival counts as "the page's critical content is on screen". Leaving the page, or moving
/// to another key, aborts the request.
pub(crate) fn use_view(
    key: impl Fn() -> ViewKey + Send + Sync + 'static,
    critical: &'static [&'static str],
) -> LoadedView {
    let loaded = LoadedView {
        parts: RwSignal::new(BTreeMap::new()),
        failure: RwSignal::new(None),
        refreshing: RwSignal::new(false),
        timeline: RwSignal::new(Timeline::default()),
        key: RwSignal::new(None),
    };
    Effect::new(move |_| {
        let key = key();
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

        let controller = SendWrapper::new(web_sys::AbortController::new().ok());
        let signal = controller.as_ref().map(|c| c.signal());
        on_cleanup(move || {
            if let Some(controller) = controller.take() {
                controller.abort();
            }
        });
        leptos::task::spawn_local(async move {
            let started = now_ms();
            let mut fresh = BTreeMap::new();
            // A chunk read just before the page moved on must not land on the next page.
            let left = signal.clone();
            let on_line = |line| match line {
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
                    loaded.parts.try_update(|p| p.insert(name, outcome));
                }
                StreamLine::Summary { status, id, .. } => {
                    loaded.timeline.try_update(|t| {
                        t.complete_ms = Some(now_ms() - started);
                    });
                    mark_after_paint("tessera:complete");
                    loaded.refreshing.try_set(false);
                    if status == 404 {
                        loaded.failure.try_set(Some(ApiError::not_found(format!(
                            "nothing found for {id:?}"
                        ))));
                    } else {
                        keep(cache_key.clone(), fresh.clone());
                    }
                }
            };
            let aborted = signal.clone();
            if let Err(error) = stream_view(key.view, &key.id, key.page, signal, on_line).await {
                // An aborted request is the page being left, not a failure to show.
                if !aborted.is_some_and(|s| s.aborted()) {
                    loaded.refreshing.try_set(false);
                    // With the browser's copy on screen, the page stays useful as it is.
                    if loaded.parts.with_untracked(BTreeMap::is_empty) {
                        loaded.failure.try_set(Some(error));
                    }
                }
            }
        });
    });
    loaded
}

impl LoadedView {
    /// Loads one part again on its own (a tile's retry, or another page of it: `page`, else the
    /// view's own); its tile shows its skeleton meanwhile.
    pub(crate) fn reload(self, part: &'static str, page: Option<u32>) {
        let Some(key) = self.key.get_untracked() else {
            return;
        };
        let page = page.or(key.page);
        self.parts.update(|p| {
            p.remove(part);
        });
        leptos::task::spawn_local(async move {
            let outcome = fetch_part(key.view, part, &key.id, page)
                .await
                .unwrap_or_else(|e| failed_part(e.to_string()));
            // The page moved on meanwhile (or is gone, with its signals).
            if self.key.try_get_untracked().flatten().as_ref() != Some(&key) {
                return;
            }
            self.parts
                .try_update(|p| p.insert(part.to_owned(), outcome));
            if let Some(parts) = self.parts.try_get_untracked() {
                keep(key.cache_key(), parts);
            }
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
