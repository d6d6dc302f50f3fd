//! Keeping the ops page live: one `GET /admin/stats` a second while a token is held, each
//! answer replacing the last, and a clock so "updated … ago" and staleness move on even when
//! no answer comes.

use std::time::Duration;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use tessera_contract::ops::Stats;
use wasm_bindgen_futures::JsFuture;

use crate::api::{ApiError, StatsError, fetch_stats};

/// A poll starts this long after the one before started (or at once, if that one took longer).
const EVERY_MS: f64 = 1000.0;
/// A poll still unanswered after this is given up (and counts as failed), so one hung request
/// cannot stop the page from polling.
const TIMEOUT_MS: u32 = 4000;
/// Data this old is stale even if no poll failed (one is hanging).
const STALE_AFTER_MS: f64 = 3000.0;

/// The live state the page shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    /// The last stats answered; kept while polls fail, dropped when the token is refused.
    pub stats: RwSignal<Option<Stats>>,
    /// When (browser clock, ms since the epoch) `stats` arrived.
    pub arrived_ms: RwSignal<Option<f64>>,
    /// Why the latest poll failed; `None` once one succeeds.
    pub failure: RwSignal<Option<StatsError>>,
    /// The browser's clock, moved on every second.
    pub now_ms: RwSignal<f64>,
}

impl Live {
    /// Whether the stats on screen may no longer be true: the latest poll failed, or the
    /// last answer is older than a poll or two.
    pub(crate) fn stale(self) -> bool {
        let old = match self.arrived_ms.get() {
            Some(at) => self.now_ms.get() - at > STALE_AFTER_MS,
            None => true,
        };
        old || self.failure.with(Option::is_some)
    }
}

/// Polls while `token` holds one, from the moment it is set until it is cleared or the page is
/// left (then the request in flight is aborted and the loop ends). A refused token is cleared
/// here, which ends the polling and brings the page back to asking for one.
pub(crate) fn use_stats(token: RwSignal<Option<String>>) -> Live {
    let live = Live {
        stats: RwSignal::new(None),
        arrived_ms: RwSignal::new(None),
        failure: RwSignal::new(None),
        now_ms: RwSignal::new(js_sys::Date::now()),
    };
    match set_interval_with_handle(
        move || {
            live.now_ms.try_set(js_sys::Date::now());
        },
        Duration::from_secs(1),
    ) {
        Ok(clock) => on_cleanup(move || clock.clear()),
        Err(_) => leptos::logging::warn!("the ops page's clock could not be started"),
    }
    // A 401: the token is dropped (which ends the polling) and so are the stats it showed.
    let refused = move || {
        live.stats.try_set(None);
        live.arrived_ms.try_set(None);
        live.failure.try_set(Some(StatsError::Refused));
        token.try_set(None);
    };
    Effect::new(move |_| {
        let Some(token) = token.get() else {
            return;
        };
        let Ok(controller) = web_sys::AbortController::new() else {
            return;
        };
        let stop = controller.signal();
        let controller = SendWrapper::new(controller);
        on_cleanup(move || controller.take().abort());
        leptos::task::spawn_local(poll(token, stop, live, refused));
    });
    live
}

/// The poll loop: one request at a time, started `EVERY_MS` apart, until `stop` is aborted or
/// the token is refused.
async fn poll(token: String, stop: web_sys::AbortSignal, live: Live, refused: impl Fn()) {
    loop {
        let started = js_sys::Date::now();
        let limit = web_sys::AbortSignal::timeout_with_u32(TIMEOUT_MS);
        // Either aborts the request: leaving the page, or the poll taking too long.
        // (`AbortSignal.any` is Baseline 2024: every current browser has it.)
        let either = web_sys::AbortSignal::any(&js_sys::Array::of2(&stop, &limit));
        let answer = fetch_stats(&token, Some(&either)).await;
        // The page was left (or a new token set): nothing here is shown any more.
        if stop.aborted() {
            return;
        }
        match answer {
            Ok(stats) => {
                let now = js_sys::Date::now();
                live.stats.try_set(Some(stats));
                live.arrived_ms.try_set(Some(now));
                live.now_ms.try_set(now);
                live.failure.try_set(None);
            }
            Err(StatsError::Refused) => {
                refused();
                return;
            }
            Err(StatsError::Failed(_)) if limit.aborted() => {
                live.failure.try_set(Some(StatsError::Failed(ApiError {
                    status: None,
                    code: "timeout".into(),
                    message: format!("no answer within {} s", TIMEOUT_MS / 1000),
                })));
            }
            Err(error) => {
                live.failure.try_set(Some(error));
            }
        }
        sleep(started + EVERY_MS - js_sys::Date::now()).await;
        if stop.aborted() {
            return;
        }
    }
}

/// Waits `ms` (none if it is not positive) on the browser's timer.
async fn sleep(ms: f64) {
    if ms <= 0.0 {
        return;
    }
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        // A timer that cannot be set resolves at once: the loop then polls a little early.
        if window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32)
            .is_err()
        {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = JsFuture::from(timer).await;
}
