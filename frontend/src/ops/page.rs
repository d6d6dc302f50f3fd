//! The operations dashboard (the `/ops` page, loaded as a module of its own: see
//! [`super::mount`]): asks for the admin token, then shows the live state of the BFF replica
//! behind this address (`GET /admin/stats`), polled once a second while it is open.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::StatsError;
use crate::loader::set_title;
use crate::ops::format::span;
use crate::ops::parts::PartsTable;
use crate::ops::poll::{Live, use_stats};
use crate::ops::summary::{Facts, LastReload};
use crate::ops::upstreams::UpstreamCard;

/// What the page shows, decided apart from the stats themselves so that a new answer
/// updates the dashboard in place instead of building the page again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No token: the form.
    Login,
    /// The BFF has no admin API.
    Off,
    /// A token, no answer yet.
    Connecting,
    /// A token, no stats, and the last poll failed.
    Unreachable,
    Showing,
}

#[component]
pub(crate) fn OpsPage() -> impl IntoView {
    // SECURITY: the token lives in this signal only (never in storage, a cookie or the URL),
    // so it is gone when the page is left or the tab closed, and a refused one at once.
    let token = RwSignal::new(None::<String>);
    let live = use_stats(token);
    Effect::new(move |_| set_title(Some("Operations")));
    let phase = Memo::new(move |_| {
        let failure = live.failure.read();
        if token.with(Option::is_none) {
            Phase::Login
        } else if matches!(*failure, Some(StatsError::Off)) {
            Phase::Off
        } else if live.stats.with(Option::is_some) {
            Phase::Showing
        } else if failure.is_some() {
            Phase::Unreachable
        } else {
            Phase::Connecting
        }
    });
    let sign_in = Callback::new(move |given: String| {
        live.failure.set(None);
        token.set(Some(given));
    });
    let forget = move |_| {
        token.set(None);
        live.stats.set(None);
        live.arrived_ms.set(None);
        live.failure.set(None);
    };
    let refused = Signal::derive(move || {
        live.failure
            .with(|f| matches!(f, Some(StatsError::Refused)))
    });
    view! {
        <div class="ops-page">
            <header class="ops-head">
                <h1>"Operations"</h1>
                <p class="muted">"The live state of the BFF replica behind this address."</p>
            </header>
            <Show when=move || phase.get() != Phase::Login>
                <div class="ops-bar" data-stale=move || (phase.get() == Phase::Showing && live.stale()).to_string()>
                    <Show when=move || phase.get() == Phase::Showing fallback=move || view! {
                        <p class="ops-live" data-testid="ops-live" data-stale="true">{move || waiting(phase.get())}</p>
                    }>
                        <LiveStatus live />
                    </Show>
                    <button type="button" class="ops-button-quiet" data-testid="ops-forget" on:click=forget>
                        "Forget token"
                    </button>
                </div>
            </Show>
            {move || match phase.get() {
                Phase::Login => view! { <Login sign_in refused /> }.into_any(),
                Phase::Off => view! {
                    <section class="notice" data-testid="ops-off" role="alert">
                        <h2>"The admin API is off"</h2>
                        <p>"This BFF has no admin token set, so it answers no stats. Setting "
                            <code>"admin.token"</code>" (or "<code>"TESSERA_ADMIN_TOKEN"</code>
                            ") turns it on."</p>
                    </section>
                }
                .into_any(),
                Phase::Connecting => view! {
                    <p class="notice muted" data-testid="ops-connecting" aria-busy="true">"Asking the BFF for its stats…"</p>
                }
                .into_any(),
                Phase::Unreachable => view! {
                    <section class="notice notice-error" data-testid="ops-unreachable" role="alert">
                        <h2>"No stats yet"</h2>
                        <p>{move || failure_text(&live)}</p>
                    </section>
                }
                .into_any(),
                Phase::Showing => view! { <Dashboard live /> }.into_any(),
            }}
        </div>
    }
}

/// What the live strip says while there are no stats to show.
fn waiting(phase: Phase) -> &'static str {
    match phase {
        Phase::Connecting => "Connecting…",
        Phase::Off => "Admin API off · asking again every second",
        Phase::Unreachable => "No answer · asking again every second",
        Phase::Login | Phase::Showing => "",
    }
}

/// Why the latest poll failed, in words.
fn failure_text(live: &Live) -> String {
    live.failure.with(|f| match f {
        Some(StatsError::Failed(error)) => error.to_string(),
        Some(StatsError::Off) => "the admin API is off".to_owned(),
        Some(StatsError::Refused) => "the token was refused".to_owned(),
        None => String::new(),
    })
}

/// The token form. The value is read from the field on submit and the field emptied, so the
/// token is held in one place only: the page's signal.
#[component]
fn Login(sign_in: Callback<String>, refused: Signal<bool>) -> impl IntoView {
    let field = NodeRef::<leptos::html::Input>::new();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let Some(input) = field.get() else {
            return;
        };
        let given = input.value().trim().to_owned();
        input.set_value("");
        if !given.is_empty() {
            sign_in.run(given);
        }
    };
    // Ready to type, also when asked again after a refusal.
    Effect::new(move |_| {
        if let Some(input) = field.get() {
            let _ = input.focus();
        }
    });
    view! {
        <section class="notice ops-login" data-testid="ops-login" aria-labelledby="ops-login-title">
            <h2 id="ops-login-title">"Admin token required"</h2>
            <p class="muted">"The stats are behind the BFF's admin token ("<code>"admin.token"</code>")."</p>
            <Show when=move || refused.get()>
                <p class="ops-login-error" data-testid="ops-login-error" role="alert">
                    "That token was refused. Enter the current admin token."
                </p>
            </Show>
            <form class="ops-login-form" on:submit=submit>
                <label for="ops-token">"Admin token"</label>
                <div class="ops-login-row">
                    <input
                        id="ops-token"
                        type="password"
                        name="token"
                        data-testid="ops-token"
                        node_ref=field
                        required
                        autocomplete="off"
                        autocapitalize="off"
                        spellcheck="false"
                        aria-describedby="ops-token-note"
                    />
                    <button type="submit" data-testid="ops-token-submit">"Show stats"</button>
                </div>
                <p id="ops-token-note" class="muted">
                    "Kept in this tab's memory only: leaving the page forgets it."
                </p>
            </form>
        </section>
    }
}

/// `14:02:11` in the browser's time zone.
fn clock(ms: f64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

/// Live or stale, when the last answer came, and why the latest poll failed.
#[component]
fn LiveStatus(live: Live) -> impl IntoView {
    let stale = move || live.stale();
    let updated = move || {
        live.arrived_ms.get().map(|at| {
            let seconds = ((live.now_ms.get() - at) / 1000.0).max(0.0).floor();
            format!("updated {seconds:.0} s ago, at {}", clock(at))
        })
    };
    let failed = move || {
        live.failure
            .with(Option::is_some)
            .then(|| format!("latest poll failed: {}", failure_text(&live)))
    };
    view! {
        <div class="ops-live" data-testid="ops-live" data-stale=move || stale().to_string()>
            <span class="ops-dot" aria-hidden="true"></span>
            <span class="ops-live-word" role="status">{move || if stale() { "Stale" } else { "Live" }}</span>
            <span class="ops-live-when" data-testid="ops-updated">{updated}</span>
            {move || failed().map(|text| view! { <span class="ops-live-error" data-testid="ops-poll-error">{text}</span> })}
        </div>
    }
}

/// The stats: header facts, last reload, upstreams, parts. Each block re-renders from the
/// latest answer; the reload's lists only when another reload happened.
#[component]
fn Dashboard(live: Live) -> impl IntoView {
    let server_now =
        Signal::derive(move || live.stats.with(|s| s.as_ref().map_or(0, |s| s.now_ms)));
    let reload = Memo::new(move |_| {
        live.stats
            .with(|s| s.as_ref().and_then(|s| s.config.last_reload.clone()))
    });
    let facts = move || live.stats.get().map(|stats| view! { <Facts stats /> });
    let upstreams = move || {
        live.stats.get().map(|stats| {
            let now_ms = stats.now_ms;
            stats
                .upstreams
                .into_iter()
                .map(|upstream| view! { <UpstreamCard upstream now_ms /> })
                .collect_view()
        })
    };
    let history_note = move || {
        live.stats.with(|s| {
            let seconds = s.as_ref()?.upstreams.first()?.history.len();
            Some(format!(
                "Sparklines: the last {}, a point a second; errors in red.",
                span(seconds as u64 * 1000)
            ))
        })
    };
    let parts = move || {
        live.stats
            .get()
            .map(|stats| view! { <PartsTable parts=stats.parts /> })
    };
    view! {
        <div class="ops-stats" class:ops-is-stale=move || live.stale() data-testid="ops-stats" data-stale=move || live.stale().to_string()>
            {facts}
            <LastReload reload now_ms=server_now />
            <section class="ops-section" aria-labelledby="ops-upstreams-title">
                <div class="ops-section-head">
                    <h2 id="ops-upstreams-title">"Upstreams"</h2>
                    <p class="muted">{history_note}</p>
                </div>
                <div class="ops-upstreams">{upstreams}</div>
            </section>
            <section class="ops-section ops-panel" aria-labelledby="ops-parts-title">
                <h2 id="ops-parts-title">"Parts, last minute"</h2>
                {parts}
            </section>
        </div>
    }
}
