//! "How this page loaded": a waterfall of the page's parts — when each reached the page, how
//! long the BFF spent on it, and its outcome. A `<details>` element, so it is closed until
//! someone opens it, and keyboard-accessible as it is.

use leptos::prelude::*;

use crate::loader::Timeline;

/// Milliseconds for people: no decimals past 10 ms.
fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

#[component]
pub(crate) fn Waterfall(timeline: RwSignal<Timeline>) -> impl IntoView {
    let rows = move || {
        let timeline = timeline.get();
        // The scale of the bars: the last arrival, and never less than 1 ms.
        let span = timeline
            .arrivals
            .iter()
            .map(|a| a.at_ms)
            .fold(1.0_f64, f64::max);
        let mut arrivals = timeline.arrivals;
        arrivals.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        arrivals
            .into_iter()
            .map(|arrival| {
                // The bar spans the BFF's time on the part, ending when it reached the page.
                let end = arrival.at_ms / span * 1000.0;
                let width = (arrival.bff_ms as f64 / span * 1000.0).clamp(4.0, end.max(4.0));
                let x = (end - width).max(0.0);
                view! {
                    <tr data-testid="waterfall-row" data-part=arrival.part.clone() data-status=arrival.status>
                        <th scope="row">{arrival.part.clone()}</th>
                        <td><span class=format!("status status-{}", arrival.status)>{arrival.status}</span></td>
                        <td class="num">{format!("{} ms", arrival.bff_ms)}</td>
                        <td class="num">{ms(arrival.at_ms)}</td>
                        <td class="bar-cell">
                            <svg class="waterfall-bar" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">
                                <rect class="track" x="0" y="0" width="1000" height="10"></rect>
                                <rect class=format!("span span-{}", arrival.status) x=format!("{x:.1}") y="0" width=format!("{width:.1}") height="10"></rect>
                            </svg>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    let headline = move || {
        let timeline = timeline.get();
        let source = if timeline.from_browser_cache {
            "Shown at once from this browser's copy, then refreshed from the shop. "
        } else {
            "Loaded from the shop. "
        };
        let critical = timeline
            .critical_ms
            .map(|t| format!("Key facts on screen after {}. ", ms(t)))
            .unwrap_or_default();
        let complete = match (timeline.complete_ms, timeline.cut_off_ms) {
            (Some(t), _) => format!("Whole page after {}.", ms(t)),
            (None, Some(t)) => format!("The answer was cut off after {}.", ms(t)),
            (None, None) => "Still loading…".to_owned(),
        };
        format!("{source}{critical}{complete}")
    };
    // Open from the start when linked to (`…#how-this-page-loaded`), and scrolled to once the
    // page is whole (the browser's own jump happens before the app has rendered it).
    let open = window()
        .location()
        .hash()
        .is_ok_and(|h| h == "#how-this-page-loaded");
    let panel = NodeRef::<leptos::html::Details>::new();
    Effect::new(move |_| {
        if open
            && timeline.with(|t| t.complete_ms.is_some())
            && let Some(panel) = panel.get()
        {
            panel.scroll_into_view();
        }
    });
    view! {
        <details class="waterfall" id="how-this-page-loaded" data-testid="waterfall" open=open node_ref=panel>
            <summary>"How this page loaded"</summary>
            <p class="muted" data-testid="waterfall-headline">{headline}</p>
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Part"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col" class="num">"In the BFF"</th>
                        <th scope="col" class="num">"On the page at"</th>
                        <th scope="col"><span class="visually-hidden">"Timeline"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}
