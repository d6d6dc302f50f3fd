//! The product grid shared by the home and category pages: the page of products is the critical
//! part; each card then fills in its price, stock and rating as the `stock` and `ratings` parts
//! arrive, with a skeleton of the same size until then.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::de::DeserializeOwned;
use tessera_contract::{PartOutcome, PartStatus};

use crate::api::{Category, Items, Page, ProductCard, Rating, Stock, media_url};
use crate::loader::LoadedView;
use crate::tiles::{decode, format_price, part_status};

/// Products per page (the views ask the catalog for 12).
const PER_PAGE: usize = 12;

/// The parts of a listing view (home and category pages), as the pages show them.
pub(crate) const LISTING_PARTS: &[&str] = &["categories", "products", "stock", "ratings"];

/// The `?page=` of the current address: 1 when absent or not a positive number.
pub(crate) fn use_page() -> Memo<u32> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|&p| p >= 1)
            .unwrap_or(1)
    })
}

/// The category chips: every category with its size, the current one marked.
#[component]
pub(crate) fn CategoryNav(
    loaded: LoadedView,
    #[prop(optional)] current: Option<Memo<String>>,
) -> impl IntoView {
    move || {
        let part = loaded.part("categories");
        let status = part_status(&part);
        let current = current.map(|c| c.get());
        let chips = match decode::<Items<Category>>(&part) {
            Ok(list) => list
                .items
                .into_iter()
                .map(|category| {
                    let here = current.as_deref() == Some(category.slug.as_str());
                    view! {
                        <li>
                            <a href=format!("/category/{}", category.slug) aria-current=here.then_some("page")>
                                {category.name}
                                <span class="chip-count">{category.product_count}</span>
                            </a>
                        </li>
                    }
                })
                .collect_view()
                .into_any(),
            // As many chips as the demo has categories, so the real ones take the same rows.
            Err(_) if part.is_none() => (0..24)
                .map(|_| view! { <li><span class="skeleton skeleton-chip"></span></li> })
                .collect_view()
                .into_any(),
            Err(reason) => view! {
                <li class="tile-reason">{reason}" "
                    <button type="button" class="retry" data-testid="retry" on:click=move |_| loaded.reload("categories", None)>
                        "Try again"
                    </button>
                </li>
            }
            .into_any(),
        };
        view! {
            <nav class="tile tile-categories" data-testid="tile-categories" data-status=status aria-label="Categories" aria-busy=part.is_none().then_some("true")>
                <ul class="chips">{chips}</ul>
            </nav>
        }
    }
}

/// The grid tile: cards, the status of the parts that fill them, and the pager.
#[component]
pub(crate) fn ProductGrid(
    loaded: LoadedView,
    title: Signal<String>,
    /// The address of page `n` of this list.
    page_href: Callback<u32, String>,
) -> impl IntoView {
    let products = move || loaded.part("products");
    let cards = move || {
        let part = products();
        match decode::<Page<ProductCard>>(&part) {
            Err(_) if part.is_none() => (0..PER_PAGE)
                .map(|_| view! { <li class="card" aria-hidden="true"><CardSkeleton /></li> })
                .collect_view()
                .into_any(),
            Err(reason) => view! {
                <li class="grid-message">
                    <p class="tile-reason" role="alert">{reason}</p>
                    <button type="button" class="retry" data-testid="retry" on:click=move |_| loaded.reload("products", None)>
                        "Try again"
                    </button>
                </li>
            }
            .into_any(),
            Ok(page) if page.items.is_empty() => view! {
                <li class="grid-message"><p class="muted">"No products on this page."</p></li>
            }
            .into_any(),
            Ok(page) => {
                let stock = fills(loaded.part("stock"), |s: &Stock| s.product_id);
                let ratings = fills(loaded.part("ratings"), |r: &Rating| r.product_id);
                page.items
                    .into_iter()
                    .map(|card| {
                        let stock = stock.fill(card.id);
                        let rating = ratings.fill(card.id);
                        view! { <Card card stock rating /> }
                    })
                    .collect_view()
                    .into_any()
            }
        }
    };
    let pager = move || {
        let page = decode::<Page<ProductCard>>(&products()).ok()?;
        let (current, last) = (
            page.page,
            u32::try_from(page.total_pages).unwrap_or(u32::MAX),
        );
        Some(view! {
            <nav class="pager" aria-label="Pages" data-testid="pager">
                {(current > 1).then(|| view! { <a href=page_href.run(current - 1) rel="prev">"← Previous"</a> })}
                <span data-testid="page-of">{format!("Page {current} of {}", last.max(1))}</span>
                <span class="muted">{format!(" · {} products", page.total)}</span>
                {(current < last).then(|| view! { <a href=page_href.run(current + 1) rel="next">"Next →"</a> })}
            </nav>
        })
    };
    view! {
        <section
            class="tile tile-products"
            data-testid="tile-products"
            data-status=move || part_status(&products())
            aria-busy=move || products().is_none().then_some("true")
            aria-labelledby="grid-title"
        >
            <h2 id="grid-title">{title}</h2>
            {move || stale_marker(&products())}
            <ul class="grid">{cards}</ul>
            // Below the cards, so that a failure appearing late moves nothing.
            <PartNotice loaded name="stock" what="Prices and stock" />
            <PartNotice loaded name="ratings" what="Ratings" />
            {pager}
        </section>
    }
}

/// What a card knows of one of its fill-in parts.
enum Fill<T> {
    Loading,
    Here(T),
    /// The part failed, or has nothing for this product.
    Missing,
}

/// A fill-in part (`stock`, `ratings`) by product id: `None` while it is not in, empty when it
/// failed.
struct Fills<T>(Option<HashMap<i64, T>>);

fn fills<T: DeserializeOwned>(part: Option<PartOutcome>, id: fn(&T) -> i64) -> Fills<T> {
    let arrived = part.is_some();
    let items = decode::<Items<T>>(&part).map_or_else(|_| Vec::new(), |list| list.items);
    Fills(arrived.then(|| items.into_iter().map(|item| (id(&item), item)).collect()))
}

impl<T: Clone> Fills<T> {
    fn fill(&self, product: i64) -> Fill<T> {
        match &self.0 {
            None => Fill::Loading,
            Some(map) => map.get(&product).cloned().map_or(Fill::Missing, Fill::Here),
        }
    }
}

#[component]
fn Card(card: ProductCard, stock: Fill<Stock>, rating: Fill<Rating>) -> impl IntoView {
    let href = format!("/product/{}", card.id);
    let price = match stock {
        Fill::Loading => view! { <span class="skeleton skeleton-price"></span> }.into_any(),
        Fill::Here(stock) => view! {
            <span class="card-price" data-testid="card-price">{format_price(&stock)}</span>
            <span class=format!("card-stock availability-{}", stock.availability)>
                {match stock.availability.as_str() {
                    "in_stock" => "In stock",
                    "low" => "Only a few left",
                    _ => "Out of stock",
                }}
            </span>
        }
        .into_any(),
        Fill::Missing => view! { <span class="muted">"Price unavailable"</span> }.into_any(),
    };
    let rating = match rating {
        Fill::Loading => view! { <span class="skeleton skeleton-rating"></span> }.into_any(),
        Fill::Here(Rating {
            average: Some(avg),
            count,
            ..
        }) => view! {
            <span class="stars" aria-hidden="true">"★"</span>
            <span data-testid="card-rating">{format!("{avg:.1}")}</span>
            <span class="muted">{format!(" ({count})")}</span>
        }
        .into_any(),
        Fill::Here(_) => {
            view! { <span class="muted" data-testid="card-rating">"No reviews yet"</span> }
                .into_any()
        }
        Fill::Missing => view! { <span class="muted">"Rating unavailable"</span> }.into_any(),
    };
    view! {
        <li class="card" data-testid="card" data-product-id=card.id>
            <a href=href.clone() class="card-link">
                <img src=media_url(&card.image) alt="" width="240" height="180" loading="lazy" />
                <h3 class="card-name">{card.name}</h3>
            </a>
            <p class="card-line">{price}</p>
            <p class="card-line">{rating}</p>
        </li>
    }
}

/// A card while its product is not known yet: the same boxes, shimmering.
#[component]
fn CardSkeleton() -> impl IntoView {
    view! {
        <div class="skeleton skeleton-image"></div>
        <div class="skeleton skeleton-line"></div>
        <div class="skeleton skeleton-line short"></div>
    }
}

/// The state of a part that fills the cards rather than a tile of its own: hidden while loading
/// or fine, a message with a retry when it failed, a marker when stale.
#[component]
fn PartNotice(loaded: LoadedView, name: &'static str, what: &'static str) -> impl IntoView {
    move || {
        let part = loaded.part(name);
        let status = part_status(&part);
        let message = match part.as_ref().map(|p| p.status) {
            Some(PartStatus::Error | PartStatus::Timeout) => {
                Some(format!("{what} are unavailable right now."))
            }
            Some(PartStatus::Stale) => Some(format!(
                "{what} are from the cache ({} s old).",
                part.as_ref().and_then(|p| p.age_s).unwrap_or(0)
            )),
            _ => None,
        };
        let failed = matches!(status, "error" | "timeout");
        let hidden = message.is_none();
        view! {
            <div class="part-notice" data-testid=format!("tile-{name}") data-status=status hidden=hidden>
                {message}
                {failed.then(|| view! {
                    " "<button type="button" class="retry" data-testid="retry" on:click=move |_| loaded.reload(name, None)>"Try again"</button>
                })}
            </div>
        }
    }
}

fn stale_marker(part: &Option<PartOutcome>) -> Option<impl IntoView + use<>> {
    let part = part.as_ref()?;
    (part.status == PartStatus::Stale).then(|| {
        view! {
            <p class="tile-marker" data-testid="tile-marker">
                {format!("cached, {} s old", part.age_s.unwrap_or(0))}
            </p>
        }
    })
}
