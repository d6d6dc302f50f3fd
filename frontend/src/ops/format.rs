//! Numbers and times in the ops page's words: pure functions, so every block formats alike.

/// A count with thin spaces between thousands (`12 345`), so large counts read at a glance.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(digit);
    }
    out
}

/// A span of milliseconds, rounded down to the unit people think in at that size:
/// `12 s`, `4 min 5 s`, `3 h 12 min`, `2 d 5 h`.
pub(crate) fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// How long ago `then` was at `now` (both ms since the epoch); a `then` in the future (clocks
/// a little apart) is "just now".
pub(crate) fn ago(now: u64, then: u64) -> String {
    match now.saturating_sub(then) {
        0..1000 => "just now".to_owned(),
        ms => format!("{} ago", span(ms)),
    }
}

/// A latency: one decimal below 10 ms, none above; `–` when there were no calls to measure.
pub(crate) fn ms(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(v) if v < 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

/// A share (0 to 1) as a percentage: one decimal, none at 0 or 100.
pub(crate) fn percent(share: f64) -> String {
    let p = (share * 100.0).clamp(0.0, 100.0);
    if p == 0.0 || p == 100.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1\u{202f}000");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
    }

    #[test]
    fn spans_use_the_unit_of_their_size() {
        assert_eq!(span(999), "0 s");
        assert_eq!(span(12_400), "12 s");
        assert_eq!(span(120_000), "2 min");
        assert_eq!(span(245_000), "4 min 5 s");
        assert_eq!(span(3_600_000 * 3 + 60_000 * 12), "3 h 12 min");
        assert_eq!(span(86_400_000 * 2 + 3_600_000 * 5), "2 d 5 h");
    }

    #[test]
    fn the_future_is_just_now() {
        assert_eq!(ago(10_000, 12_000), "just now");
        assert_eq!(ago(70_000, 10_000), "1 min ago");
    }

    #[test]
    fn latencies_and_shares() {
        assert_eq!(ms(None), "–");
        assert_eq!(ms(Some(4.26)), "4.3");
        assert_eq!(ms(Some(41.6)), "42");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.0123), "1.2 %");
        assert_eq!(percent(1.0), "100 %");
    }
}
