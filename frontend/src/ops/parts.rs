//! The parts table: per `view.part`, how its cache lookups went over the last minute (fresh,
//! stale, missed, and the hit ratio) and the mix of outcomes it was served with.

use std::collections::BTreeMap;

use leptos::prelude::*;
use tessera_contract::ops::{PartStats, PartWindow};

use super::format::{count, percent};

/// Outcomes in the order of their worth, so the bars of every part read alike (any outcome
/// the BFF adds later goes after these).
const ORDER: [&str; 7] = [
    "ok",
    "stale",
    "partial",
    "fallback",
    "timeout",
    "error",
    "unauthorized",
];

/// The fresh share of lookups, if there were any.
fn hit_ratio(window: &PartWindow) -> Option<f64> {
    let lookups = window.fresh + window.stale + window.miss;
    (lookups > 0).then(|| window.fresh as f64 / lookups as f64)
}

/// The outcomes with a count, known ones first in [`ORDER`].
fn ordered(outcomes: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let rank = |name: &str| ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len());
    let mut list: Vec<(String, u64)> = outcomes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(name, n)| (name.clone(), *n))
        .collect();
    list.sort_by_key(|(name, _)| rank(name));
    list
}

/// The class of an outcome's colour: its own for known ones, a neutral one for any other, so
/// every segment is drawn.
fn colour(name: &str) -> &'static str {
    match name {
        "ok" => "seg-ok",
        "stale" => "seg-stale",
        "partial" => "seg-partial",
        "fallback" => "seg-fallback",
        "timeout" => "seg-timeout",
        "error" => "seg-error",
        "unauthorized" => "seg-unauthorized",
        _ => "seg-other",
    }
}

/// A `view.part` that a narrow screen may break after its dot (its text stays the same).
fn breakable(name: &str) -> impl IntoView + use<> {
    name.split_inclusive('.')
        .map(|piece| view! { {piece.to_owned()}<wbr /> })
        .collect_view()
}

/// The outcome mix as one bar of segments, each as wide as its share, and a legend in words.
#[component]
fn OutcomeMix(outcomes: BTreeMap<String, u64>) -> impl IntoView {
    let list = ordered(&outcomes);
    let total: u64 = list.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return view! { <span class="muted">"no requests"</span> }.into_any();
    }
    let mut x = 0.0;
    let segments = list
        .iter()
        .map(|(name, n)| {
            let width = *n as f64 / total as f64 * 1000.0;
            let at = x;
            x += width;
            view! {
                <rect class=colour(name) x=format!("{at:.1}") y="0" width=format!("{width:.1}") height="10"></rect>
            }
        })
        .collect_view();
    let legend = list
        .into_iter()
        .map(|(name, n)| {
            view! {
                <li data-outcome=name.clone()>
                    <span class=format!("swatch {}", colour(&name)) aria-hidden="true"></span>
                    {format!("{name} {}", count(n))}
                </li>
            }
        })
        .collect_view();
    view! {
        <svg class="ops-mix" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">{segments}</svg>
        <ul class="ops-legend">{legend}</ul>
    }
    .into_any()
}

#[component]
pub(crate) fn PartsTable(parts: Vec<PartStats>) -> impl IntoView {
    let rows = parts
        .into_iter()
        .map(|PartStats { part, last_minute: window }| {
            let ratio = hit_ratio(&window);
            let testid = format!("ops-part-{part}");
            // Two rows under one row-group header: the counts, then the outcomes beneath them
            // (a sixth column would leave no room for either on a phone).
            view! {
                <tbody class="ops-part" data-testid=testid>
                    <tr>
                        <th scope="rowgroup" rowspan="2" class="ops-part-name">{breakable(&part)}</th>
                        <td class="num" data-testid="ops-fresh">{count(window.fresh)}</td>
                        <td class="num" data-testid="ops-stale">{count(window.stale)}</td>
                        <td class="num" data-testid="ops-miss">{count(window.miss)}</td>
                        <td class="num" data-testid="ops-hit-ratio">{ratio.map_or_else(|| "–".to_owned(), percent)}</td>
                    </tr>
                    <tr>
                        <td colspan="4" class="ops-mix-cell" data-testid="ops-outcomes">
                            <span class="visually-hidden">"Outcomes: "</span>
                            <OutcomeMix outcomes=window.outcomes />
                        </td>
                    </tr>
                </tbody>
            }
        })
        .collect_view();
    view! {
        <div class="ops-scroll">
            <table class="ops-table ops-parts">
                <caption class="visually-hidden">"Parts over the last minute: cache lookups, then outcomes"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Part"</th>
                        <th scope="col" class="num">"Fresh"</th>
                        <th scope="col" class="num">"Stale"</th>
                        <th scope="col" class="num">"Miss"</th>
                        <th scope="col" class="num"><abbr title="fresh share of cache lookups">"Hit ratio"</abbr></th>
                    </tr>
                </thead>
                {rows}
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hit_ratio_is_the_fresh_share_of_lookups() {
        let window = PartWindow {
            fresh: 3,
            stale: 1,
            miss: 0,
            ..PartWindow::default()
        };
        assert_eq!(hit_ratio(&window), Some(0.75));
        assert_eq!(hit_ratio(&PartWindow::default()), None);
    }

    #[test]
    fn known_outcomes_come_first_in_their_order() {
        let outcomes = [("zebra", 1), ("error", 2), ("ok", 5), ("stale", 0)]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        let names: Vec<String> = ordered(&outcomes).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["ok", "error", "zebra"]);
    }
}
