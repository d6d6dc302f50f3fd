//! One card per upstream: its breaker (and for how long), hosts, bulkhead, the last minute's
//! calls, errors and latency, and sparklines of its last minutes.

use leptos::prelude::*;
use tessera_contract::ops::{Bulkhead, CallWindow, UpstreamStats};

use super::format::{count, ms, percent, span};
use super::sparkline::Sparkline;

/// Calls per second as a plain count (a history's entries are whole seconds).
fn per_second(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

/// Milliseconds with their unit, for the p95 sparkline's caption.
fn with_ms(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        some => format!("{} ms", ms(some)),
    }
}

/// An error rate from which the upstream is shown as failing (below it, any error is a
/// warning).
const BAD_ERROR_RATE: f64 = 0.05;

/// `ok`, `warn` or `bad`, for the error rate's colour.
fn error_level(window: &CallWindow) -> &'static str {
    match window.error_rate {
        r if r >= BAD_ERROR_RATE => "bad",
        _ if window.errors > 0 => "warn",
        _ => "ok",
    }
}

/// `bad` when every slot is taken (calls are being refused), `warn` from three quarters.
fn bulkhead_level(bulkhead: &Bulkhead) -> &'static str {
    match (bulkhead.in_use, bulkhead.limit) {
        (_, 0) => "ok",
        (used, limit) if used >= limit => "bad",
        (used, limit) if used * 4 >= limit * 3 => "warn",
        _ => "ok",
    }
}

/// The card of one upstream, as of `now_ms` (the BFF's clock, so that "for 12 s" does not
/// depend on how far the browser's clock is off).
#[component]
pub(crate) fn UpstreamCard(upstream: UpstreamStats, now_ms: u64) -> impl IntoView {
    let UpstreamStats {
        name,
        breaker,
        hosts,
        bulkhead,
        last_minute: window,
        history,
    } = upstream;
    let up = hosts.iter().filter(|h| h.state == "up").count();
    let host_count = hosts.len();
    let calls: Vec<Option<f64>> = history.iter().map(|s| Some(s.calls as f64)).collect();
    let errors: Vec<Option<f64>> = history.iter().map(|s| Some(s.errors as f64)).collect();
    let p95: Vec<Option<f64>> = history.iter().map(|s| s.p95_ms).collect();
    let testid = format!("ops-upstream-{name}");
    let heading = format!("ops-upstream-{name}-title");
    let class = format!("ops-card ops-upstream breaker-{}", breaker.state);
    let since = format!(" for {}", span(now_ms.saturating_sub(breaker.since_ms)));
    let hosts = hosts
        .into_iter()
        .map(|host| {
            let until = host
                .ejected_until_ms
                .filter(|_| host.state == "ejected")
                .map(|until| format!("back in {}", span(until.saturating_sub(now_ms))));
            view! {
                <li data-state=host.state.clone()>
                    <span class="ops-host-url">{host.url}</span>
                    <span class=format!("pill pill-{}", host.state)>{host.state.clone()}</span>
                    {until.map(|until| view! { <span class="muted ops-host-until">{until}</span> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <article
            class=class
            data-testid=testid
            data-breaker=breaker.state.clone()
            aria-labelledby=heading
        >
            <header class="ops-card-head">
                <h3 id=heading.clone()>{name}</h3>
                <p class="ops-breaker" data-testid="ops-breaker">
                    <span class="visually-hidden">"Breaker "</span>
                    <span class=format!("pill pill-{}", breaker.state)>{breaker.state.clone()}</span>
                    <span class="muted">{since}</span>
                </p>
            </header>
            <dl class="ops-facts">
                <div data-testid="ops-calls">
                    <dt>"Calls / min"</dt>
                    <dd>{count(window.calls)}</dd>
                </div>
                <div data-testid="ops-error-rate" data-level=error_level(&window)>
                    <dt>"Error rate"</dt>
                    <dd>{percent(window.error_rate)}" "<span class="ops-unit">{format!("({})", count(window.errors))}</span></dd>
                </div>
                <div data-testid="ops-bulkhead" data-level=bulkhead_level(&bulkhead)>
                    <dt>"Bulkhead"</dt>
                    <dd>{format!("{} / {}", bulkhead.in_use, bulkhead.limit)}</dd>
                </div>
                {[("p50", window.p50_ms), ("p95", window.p95_ms), ("p99", window.p99_ms)]
                    .map(|(name, value)| view! {
                        <div data-testid=format!("ops-{name}")>
                            <dt>{name}</dt>
                            <dd>{ms(value)}" "<span class="ops-unit">"ms"</span></dd>
                        </div>
                    })}
            </dl>
            <div class="ops-hosts" data-testid="ops-hosts">
                <h4>{format!("Hosts: {up} of {host_count} up")}</h4>
                <ul>{hosts}</ul>
            </div>
            <div class="ops-sparks">
                <Sparkline label="Calls / s" spoken="calls per second" line=calls bars=errors format=per_second testid="ops-spark-calls" />
                <Sparkline label="p95" spoken="95th percentile latency" line=p95 format=with_ms testid="ops-spark-p95" />
            </div>
        </article>
    }
}
