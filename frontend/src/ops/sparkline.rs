//! Sparklines of an upstream's last minutes: an SVG polyline per run of seconds that have a
//! value (a second without calls has no latency, and is drawn as a gap rather than as zero),
//! over optional bars from zero (the errors among the calls).

use leptos::prelude::*;

/// The drawing's box. The SVG is stretched to its element's width (`preserveAspectRatio`
/// `none`, strokes kept from stretching by `vector-effect`), so only the proportions matter.
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 40.0;
/// Room above the peak and below zero, so a stroke at either is not cut in half.
const PAD: f64 = 2.0;
/// The least height of a bar, so that one error among many calls still shows.
const MIN_BAR: f64 = 4.0;

/// `values` (oldest first) as `points` attributes scaled against `top`, one per run of
/// seconds with a value. A lone second becomes a short dash, since a one-point polyline
/// draws nothing.
fn runs(values: &[Option<f64>], top: f64) -> Vec<String> {
    let step = WIDTH / (values.len().saturating_sub(1).max(1)) as f64;
    let y = |v: f64| HEIGHT - PAD - (v / top).clamp(0.0, 1.0) * (HEIGHT - 2.0 * PAD);
    let mut runs = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut close = |run: &mut Vec<(f64, f64)>| {
        if let [(x, y)] = run.as_slice() {
            *run = vec![(x - step / 2.0, *y), (x + step / 2.0, *y)];
        }
        if !run.is_empty() {
            let points: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            runs.push(points.join(" "));
        }
        run.clear();
    };
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => run.push((i as f64 * step, y(*v))),
            None => close(&mut run),
        }
    }
    close(&mut run);
    runs
}

/// `(x, y, width, height)` of a bar per second with a value above zero, centred on the
/// second's point of the line and scaled against `top`.
fn bar_boxes(values: &[Option<f64>], top: f64) -> Vec<(f64, f64, f64, f64)> {
    let step = WIDTH / (values.len().saturating_sub(1).max(1)) as f64;
    let floor = HEIGHT - PAD;
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| *v > 0.0).map(|v| (i, v)))
        .map(|(i, v)| {
            let height = ((v / top).clamp(0.0, 1.0) * (HEIGHT - 2.0 * PAD)).max(MIN_BAR);
            let x = (i as f64 * step - step / 2.0).max(0.0);
            (x, floor - height, step.min(WIDTH - x), height)
        })
        .collect()
}

/// The scale's top: the highest value, or 1 when there is none (a flat line at zero).
fn top(series: &[&[Option<f64>]]) -> f64 {
    let peak = series
        .iter()
        .flat_map(|s| s.iter().flatten())
        .fold(0.0_f64, |a, &b| a.max(b));
    if peak > 0.0 { peak } else { 1.0 }
}

/// One sparkline with its caption: the latest value and the peak. `bars`, drawn under the
/// line and on its scale, are a part of it (the errors among the calls).
#[component]
pub(crate) fn Sparkline(
    /// Caption, e.g. `Calls / s`.
    label: &'static str,
    /// For screen readers, e.g. `calls per second`.
    spoken: &'static str,
    line: Vec<Option<f64>>,
    #[prop(optional)] bars: Option<Vec<Option<f64>>>,
    /// How a value is written.
    format: fn(Option<f64>) -> String,
    testid: &'static str,
) -> impl IntoView {
    let bar_values = bars.unwrap_or_default();
    let top = top(&[&line, &bar_values]);
    let latest = line.last().copied().flatten();
    let peak = line.iter().flatten().copied().reduce(f64::max);
    let seconds = line.len();
    let said = format!(
        "{spoken} over the last {seconds} s: latest {}, peak {}",
        format(latest),
        format(peak)
    );
    let polylines = runs(&line, top)
        .into_iter()
        .map(|points| view! { <polyline class="line" points=points vector-effect="non-scaling-stroke"></polyline> })
        .collect_view();
    let bars = bar_boxes(&bar_values, top)
        .into_iter()
        .map(|(x, y, width, height)| {
            view! {
                <rect class="bar" x=format!("{x:.2}") y=format!("{y:.2}") width=format!("{width:.2}") height=format!("{height:.2}")></rect>
            }
        })
        .collect_view();
    view! {
        <figure class="spark" data-testid=testid>
            <figcaption>
                <span class="spark-label">{label}</span>
                <span class="spark-value">
                    {format(latest)}
                    <span class="spark-peak">{format!("peak {}", format(peak))}</span>
                </span>
            </figcaption>
            <svg class="sparkline" viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img" aria-label=said>
                <line class="baseline" x1="0" y1=HEIGHT - PAD x2=WIDTH y2=HEIGHT - PAD vector-effect="non-scaling-stroke"></line>
                {bars}
                {polylines}
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_the_line() {
        let values = [Some(1.0), Some(2.0), None, Some(2.0), Some(0.0)];
        let runs = runs(&values, 2.0);
        assert_eq!(runs, ["0.0,20.0 75.0,2.0", "225.0,2.0 300.0,38.0"]);
    }

    #[test]
    fn a_lone_second_is_a_dash() {
        let runs = runs(&[None, Some(1.0), None], 1.0);
        assert_eq!(runs, ["75.0,2.0 225.0,2.0"]);
    }

    #[test]
    fn every_bar_shows() {
        let bars = bar_boxes(&[Some(0.0), Some(1.0), None, Some(100.0)], 100.0);
        let heights: Vec<f64> = bars.iter().map(|b| b.3).collect();
        assert_eq!(heights, [MIN_BAR, HEIGHT - 2.0 * PAD]);
        assert!(bars.iter().all(|(x, _, w, _)| *x >= 0.0 && x + w <= WIDTH));
    }

    #[test]
    fn nothing_to_scale_is_a_flat_line() {
        assert_eq!(top(&[&[None, Some(0.0)]]), 1.0);
        assert_eq!(top(&[&[Some(3.0)], &[Some(5.0)]]), 5.0);
    }
}
