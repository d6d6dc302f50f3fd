//! Dates and amounts in words fit for the page, the same wherever they appear.

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2026-03-14` → `14 March 2026`. A date the services never send (any other shape) is shown
/// as it came rather than not at all.
pub(crate) fn long_date(iso: &str) -> String {
    let mut fields = iso.splitn(3, '-');
    let parsed = (|| {
        let year: u32 = fields.next()?.parse().ok()?;
        let month: usize = fields.next()?.parse().ok()?;
        let day: u32 = fields.next()?.get(..2)?.parse().ok()?;
        let name = MONTHS.get(month.checked_sub(1)?)?;
        (1..=31)
            .contains(&day)
            .then(|| format!("{day} {name} {year}"))
    })();
    parsed.unwrap_or_else(|| iso.to_owned())
}

/// `1249, "EUR"` → `12.49 EUR`, as prices read everywhere in the shop.
pub(crate) fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_day_month_year() {
        assert_eq!(long_date("2026-03-14"), "14 March 2026");
        assert_eq!(long_date("2025-10-03"), "3 October 2025");
        assert_eq!(long_date("2024-01-31T10:00:00Z"), "31 January 2024");
    }

    #[test]
    fn an_unknown_date_is_shown_as_it_came() {
        for odd in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-00-10",
            "2026-02-40",
            "2026-02",
        ] {
            assert_eq!(long_date(odd), odd);
        }
    }

    #[test]
    fn amounts_have_two_decimals_and_their_currency() {
        assert_eq!(money(1249, "EUR"), "12.49 EUR");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(120_000, "EUR"), "1200.00 EUR");
        assert_eq!(money(-250, "EUR"), "-2.50 EUR");
    }
}
