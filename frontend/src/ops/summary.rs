//! The header of the ops page: this replica's build, configuration, shared cache and traffic,
//! and what its last configuration reload did (its errors in plain sight).

use leptos::prelude::*;
use tessera_contract::ops::{ReloadInfo, Stats};

use super::format::{ago, count, span};

/// `trigger` in words.
fn trigger(trigger: &str) -> &str {
    match trigger {
        "signal" => "by SIGHUP",
        "admin" => "by POST /admin/reload",
        "watch" => "the file changed",
        other => other,
    }
}

/// What the shared cache's state means, one line.
fn cache_note(state: &str) -> &'static str {
    match state {
        "up" => "Redis answering",
        "down" => "Redis not reachable",
        "skipped" => "Redis timing out: skipped, probed",
        "off" => "not configured",
        _ => "",
    }
}

/// The facts that change with every answer (times, counts).
#[component]
pub(crate) fn Facts(stats: Stats) -> impl IntoView {
    let now = stats.now_ms;
    let config = stats.config;
    view! {
        <dl class="ops-kpis">
            <div class="ops-kpi" data-testid="ops-shared-cache" data-state=stats.shared_cache.clone()>
                <dt>"Shared cache"</dt>
                <dd><span class=format!("pill pill-{}", stats.shared_cache)>{stats.shared_cache.clone()}</span></dd>
                <dd class="ops-kpi-note">{cache_note(&stats.shared_cache)}</dd>
            </div>
            <div class="ops-kpi" data-testid="ops-build">
                <dt>"Build"</dt>
                <dd class="ops-kpi-value ops-kpi-text">{stats.build.version}</dd>
                <dd class="ops-kpi-note" data-testid="ops-uptime">{format!("up {}", span(now.saturating_sub(stats.build.started_ms)))}</dd>
            </div>
            <div class="ops-kpi" data-testid="ops-generation" data-generation=config.generation>
                <dt>"Config generation"</dt>
                <dd class="ops-kpi-value">{config.generation}</dd>
                <dd class="ops-kpi-note">
                    <span class="ops-source" data-testid="ops-config-source">{config.source}</span>
                    {format!(" · loaded {}", ago(now, config.loaded_ms))}
                </dd>
            </div>
            <div class="ops-kpi" data-testid="ops-in-flight">
                <dt>"In flight"</dt>
                <dd class="ops-kpi-value">{count(stats.in_flight.max(0).unsigned_abs())}</dd>
                <dd class="ops-kpi-note">"requests"</dd>
            </div>
            <div class="ops-kpi" data-testid="ops-streams">
                <dt>"Streams open"</dt>
                <dd class="ops-kpi-value">{count(stats.streams_open.max(0).unsigned_abs())}</dd>
                <dd class="ops-kpi-note">"NDJSON views"</dd>
            </div>
        </dl>
    }
}

/// A list of a reload's findings, under its own heading, or nothing when it is empty.
fn findings(
    title: &'static str,
    testid: &'static str,
    class: &'static str,
    items: Vec<String>,
) -> Option<impl IntoView> {
    (!items.is_empty()).then(|| {
        view! {
            <div class=format!("ops-findings {class}") data-testid=testid>
                <h3>{title}</h3>
                <ul>{items.into_iter().map(|item| view! { <li><code>{item}</code></li> }).collect_view()}</ul>
            </div>
        }
    })
}

/// The last reload. `reload` changes only when another reload happens (the page hands it
/// over through a memo), so the lists stay put (and selectable) between answers; `now_ms`
/// moves the "when" on.
#[component]
pub(crate) fn LastReload(reload: Memo<Option<ReloadInfo>>, now_ms: Signal<u64>) -> impl IntoView {
    let body = move || {
        let Some(reload) = reload.get() else {
            return view! { <p class="muted">"No reload since this process started."</p> }
                .into_any();
        };
        let at = reload.at_ms;
        let outcome = reload.outcome.clone();
        view! {
            <p class="ops-reload-line">
                <span class=format!("pill pill-{outcome}") data-testid="ops-reload-outcome">{outcome.clone()}</span>
                " "
                <span>{trigger(&reload.trigger).to_owned()}</span>
                " · "
                <span data-testid="ops-reload-when">{move || ago(now_ms.get(), at)}</span>
                {format!(" · generation {} after it", reload.generation)}
            </p>
            {findings("Rejected: the running configuration stays", "ops-reload-errors", "ops-findings-error", reload.errors)}
            {findings("Needs a restart (the running value stays)", "ops-reload-restart", "ops-findings-warn", reload.restart_required)}
            {findings("Started afresh", "ops-reload-changed", "ops-findings-changed", reload.changed)}
        }
        .into_any()
    };
    let outcome = move || reload.with(|r| r.as_ref().map(|r| r.outcome.clone()));
    view! {
        <section class="ops-panel ops-reload" data-testid="ops-reload" data-outcome=outcome aria-labelledby="ops-reload-title">
            <h2 id="ops-reload-title">"Last reload"</h2>
            {body}
        </section>
    }
}
