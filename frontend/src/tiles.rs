//! One tile per part of a view. Every tile's root carries `data-testid="tile-<part>"` and
//! `data-status` (the part's status), says when its data is stale or a fallback, and shows
//! the part's own error instead of its content when it has no data.

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use tessera_contract::{PartOutcome, PartStatus};

use crate::api::{Items, Page, Purchase, Purchases, Related, Review, ReviewSummary, Stock};
use crate::format::{long_date, money};
use crate::session_menu::focus_sign_in;

/// The part's data as `T`, or why there is none.
pub(crate) fn decode<T: DeserializeOwned>(part: &Option<PartOutcome>) -> Result<T, String> {
    let part = part.as_ref().ok_or("this part was not loaded")?;
    match &part.data {
        Some(data) => serde_json::from_value(data.clone()).map_err(|_| "unexpected data".into()),
        None => Err(part
            .error
            .as_ref()
            .map_or_else(|| "unavailable".into(), |e| e.message.clone())),
    }
}

/// The `data-status` of a part: its outcome's, or `loading` while it is not in.
pub(crate) fn part_status(part: &Option<PartOutcome>) -> &'static str {
    part.as_ref().map_or("loading", |p| p.status.as_str())
}

/// `12.49 EUR`.
pub(crate) fn format_price(stock: &Stock) -> String {
    money(stock.price_cents, &stock.currency)
}

/// The frame every tile shares: title, status attributes, stale/fallback marker, error state.
pub(crate) fn frame(
    name: &'static str,
    title: &'static str,
    part: &Option<PartOutcome>,
    body: Result<AnyView, String>,
    retry: Option<Callback<()>>,
) -> AnyView {
    let status = part.as_ref().map_or(PartStatus::Error, |p| p.status);
    let marker = match (status, part.as_ref().and_then(|p| p.age_s)) {
        (PartStatus::Stale, Some(age)) => Some(format!("cached, {age} s old")),
        (PartStatus::Stale, None) => Some("cached".to_owned()),
        (PartStatus::Fallback, _) => Some("not available right now".to_owned()),
        (PartStatus::Partial, _) => Some("some of it is missing".to_owned()),
        _ => None,
    };
    let failed = body.is_err();
    let code = part
        .as_ref()
        .and_then(|p| p.error.as_ref())
        .map(|e| e.code.clone());
    view! {
        <section
            class=format!("tile tile-{name}{}", if failed { " tile-error" } else { "" })
            data-testid=format!("tile-{name}")
            data-status=status.as_str()
            data-code=code
            aria-labelledby=format!("tile-{name}-title")
        >
            <h2 id=format!("tile-{name}-title")>{title}</h2>
            {marker.map(|m| view! { <p class="tile-marker" data-testid="tile-marker">{m}</p> })}
            {match body {
                Ok(content) => content,
                Err(reason) => view! {
                    <p class="tile-reason" role="alert">{reason}</p>
                    {retry.map(|retry| view! {
                        <button type="button" class="retry" data-testid="retry" on:click=move |_| retry.run(())>
                            "Try again"
                        </button>
                    })}
                }
                .into_any(),
            }}
        </section>
    }
    .into_any()
}

/// Each of `items` rendered by `item`, or `None` when there are none (a list tile then says so
/// in words rather than showing an empty list).
fn each<T, V: IntoView>(items: Vec<T>, item: impl FnMut(T) -> V) -> Option<Vec<V>> {
    (!items.is_empty()).then(|| items.into_iter().map(item).collect())
}

/// What a list tile shows instead of an empty list.
fn nothing_yet(text: &'static str) -> AnyView {
    view! { <p class="muted">{text}</p> }.into_any()
}

/// A part not in yet: a skeleton the size of its content (so nothing below it moves when the
/// content arrives), `aria-busy`, status `loading`.
pub(crate) fn loading_tile(name: &'static str, title: &'static str) -> AnyView {
    let body = match name {
        // The rating, the count, and five histogram rows, as in [`SummaryTile`].
        "summary" => view! {
            <div class="skeleton skeleton-rating-big"></div>
            <div class="skeleton skeleton-line short"></div>
            <ul class="histogram" aria-hidden="true">
                {(0..5).map(|_| view! { <li><span class="skeleton skeleton-bar-row"></span></li> }).collect_view()}
            </ul>
        }
        .into_any(),
        // A page of reviews and its pager, as in [`ReviewsTile`].
        "reviews" => view! {
            <ul class="reviews" aria-hidden="true">
                {(0..5)
                    .map(|_| view! {
                        <li class="review">
                            <div class="skeleton skeleton-line short"></div>
                            <div class="skeleton skeleton-line"></div>
                            <div class="skeleton skeleton-line"></div>
                            <div class="skeleton skeleton-line tiny"></div>
                        </li>
                    })
                    .collect_view()}
            </ul>
            <div class="skeleton skeleton-pager"></div>
        }
        .into_any(),
        // One sentence.
        "purchases" => view! { <div class="skeleton skeleton-line"></div> }.into_any(),
        _ => view! {
            <div class="skeleton skeleton-line"></div>
            <div class="skeleton skeleton-line short"></div>
        }
        .into_any(),
    };
    view! {
        <section
            class=format!("tile tile-{name}")
            data-testid=format!("tile-{name}")
            data-status="loading"
            aria-busy="true"
        >
            <h2>{title}</h2>
            {body}
        </section>
    }
    .into_any()
}

#[component]
pub(crate) fn StockTile(
    part: Option<PartOutcome>,
    #[prop(optional)] retry: Option<Callback<()>>,
) -> impl IntoView {
    let body = decode::<Stock>(&part).map(|stock| {
        let price = format_price(&stock);
        let availability = match stock.availability.as_str() {
            "in_stock" => "In stock",
            "low" => "Only a few left",
            _ => "Out of stock",
        };
        view! {
            <p class="price" data-testid="price">{price}</p>
            <p class=format!("availability availability-{}", stock.availability)>
                {availability}" · "{stock.stock}" available"
            </p>
        }
        .into_any()
    });
    frame("stock", "Price", &part, body, retry)
}

#[component]
pub(crate) fn SummaryTile(
    part: Option<PartOutcome>,
    #[prop(optional)] retry: Option<Callback<()>>,
) -> impl IntoView {
    let body = decode::<ReviewSummary>(&part).map(|summary| {
        let most = summary.histogram.iter().copied().max().unwrap_or(0).max(1);
        let average = summary.average.map_or_else(
            || "No ratings yet".to_owned(),
            |a| format!("{a:.1} out of 5"),
        );
        let bars = (1..=5usize)
            .rev()
            .map(|stars| {
                let n = summary.histogram[stars - 1];
                // <meter>, not a styled div: the page's CSP allows no inline styles.
                view! {
                    <li>
                        <span class="bar-label">{stars}" ★"</span>
                        <meter class="bar" min="0" max=most value=n></meter>
                        <span class="bar-count">{n}</span>
                    </li>
                }
            })
            .collect_view();
        view! {
            <p class="rating" data-testid="rating">{average}</p>
            <p class="muted" data-testid="review-count">{format!("{} reviews", summary.count)}</p>
            <ul class="histogram" aria-label="Ratings">{bars}</ul>
        }
        .into_any()
    });
    frame("summary", "Ratings", &part, body, retry)
}

#[component]
pub(crate) fn ReviewsTile(
    part: Option<PartOutcome>,
    #[prop(optional)] retry: Option<Callback<()>>,
    /// Shows another page of reviews.
    #[prop(optional)]
    on_page: Option<Callback<u32>>,
) -> impl IntoView {
    let body = decode::<Page<Review>>(&part).map(|page| {
        let Some(items) = each(page.items, |review| {
            view! {
                <li class="review" data-review-id=review.id>
                    <p class="review-head">
                        <span class="stars" aria-label=format!("{} out of 5", review.rating)>
                            {"★".repeat(review.rating.into())}
                        </span>
                        " "<strong data-testid="review-title">{review.title}</strong>
                    </p>
                    <p>{review.body}</p>
                    <p class="muted">"— "{review.author}</p>
                </li>
            }
        }) else {
            return nothing_yet("No reviews yet.");
        };
        let (current, last) = (page.page, u32::try_from(page.total_pages).unwrap_or(u32::MAX));
        let pager = on_page.filter(|_| last > 1).map(|go| {
            view! {
                <nav class="pager pager-small" aria-label="Review pages">
                    <button type="button" data-testid="reviews-newer" disabled={current <= 1} on:click=move |_| go.run(current - 1)>
                        "← Newer"
                    </button>
                    <span data-testid="reviews-page">{format!("Page {current} of {last}")}</span>
                    <button type="button" data-testid="reviews-older" disabled={current >= last} on:click=move |_| go.run(current + 1)>
                        "Older →"
                    </button>
                </nav>
            }
        });
        view! { <ul class="reviews">{items}</ul> {pager} }.into_any()
    });
    frame("reviews", "Reviews", &part, body, retry)
}

#[component]
pub(crate) fn RelatedTile(
    name: &'static str,
    title: &'static str,
    part: Option<PartOutcome>,
    #[prop(optional)] retry: Option<Callback<()>>,
) -> impl IntoView {
    let body = decode::<Items<Related>>(&part).map(|list| {
        let Some(items) = each(list.items, |item| {
            view! { <li><a href=format!("/product/{}", item.id)>{item.name}</a></li> }
        }) else {
            return nothing_yet("Nothing to suggest yet.");
        };
        view! { <ul class="related">{items}</ul> }.into_any()
    });
    frame(name, title, &part, body, retry)
}

/// When the shopper bought a product, in a sentence: the latest time, and how many more.
pub(crate) fn bought_text(orders: &[Purchase]) -> String {
    let Some(latest) = orders.iter().map(|o| o.placed_at.as_str()).max() else {
        return "You have not bought this yet".to_owned();
    };
    let date = long_date(latest);
    match orders.len() - 1 {
        0 => format!("You bought this on {date}"),
        1 => format!("You bought this on {date} (and 1 more time)"),
        more => format!("You bought this on {date} (and {more} more times)"),
    }
}

/// The signed-in shopper's own orders of the product. For nobody signed in, an invitation to
/// sign in: not an error.
#[component]
pub(crate) fn PurchasesTile(
    part: Option<PartOutcome>,
    #[prop(optional)] retry: Option<Callback<()>>,
) -> impl IntoView {
    let signed_out = part
        .as_ref()
        .is_some_and(|p| p.status == PartStatus::Unauthorized);
    let body = if signed_out {
        Ok(view! {
            <p class="purchases-text muted" data-testid="purchases-text">"Sign in to see your orders"</p>
            <button type="button" class="retry" on:click=|_| focus_sign_in()>"Sign in"</button>
        }
        .into_any())
    } else {
        decode::<Purchases>(&part).map(|purchases| {
            let bought = !purchases.orders.is_empty();
            view! {
                <p class="purchases-text" data-testid="purchases-text">{bought_text(&purchases.orders)}</p>
                {bought.then(|| view! { <a href="/account" class="purchases-link">"See your orders"</a> })}
            }
            .into_any()
        })
    };
    frame("purchases", "Your orders", &part, body, retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bought(dates: &[&str]) -> Vec<Purchase> {
        dates
            .iter()
            .zip(1..)
            .map(|(date, id)| Purchase {
                order_id: id,
                placed_at: (*date).to_owned(),
            })
            .collect()
    }

    #[test]
    fn never_bought_says_so() {
        assert_eq!(bought_text(&[]), "You have not bought this yet");
    }

    #[test]
    fn the_latest_purchase_is_named_and_the_rest_counted() {
        assert_eq!(
            bought_text(&bought(&["2026-03-14"])),
            "You bought this on 14 March 2026"
        );
        assert_eq!(
            bought_text(&bought(&["2025-10-03", "2026-03-14"])),
            "You bought this on 14 March 2026 (and 1 more time)"
        );
        assert_eq!(
            bought_text(&bought(&["2026-03-14", "2024-01-02", "2025-10-03"])),
            "You bought this on 14 March 2026 (and 2 more times)"
        );
    }
}
