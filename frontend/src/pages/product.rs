//! The product page: loads the `product` view and renders a tile per part — the critical
//! facts (product, price and stock) first, then the signed-in shopper's own purchases of it,
//! ratings, reviews and recommendations.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use tessera_contract::{PartOutcome, PartStatus};

use crate::api::{ApiError, Product, media_url};
use crate::loader::{ViewKey, set_title, use_view};
use crate::review_form::ReviewForm;
use crate::session::use_session;
use crate::tiles::{
    PurchasesTile, RelatedTile, ReviewsTile, StockTile, SummaryTile, decode, loading_tile,
};
use crate::waterfall::Waterfall;

/// The page's parts.
pub(crate) const PARTS: &[&str] = &[
    "product",
    "stock",
    "summary",
    "reviews",
    "recommendations",
    "category_picks",
    "purchases",
];
/// The page's parts that belong to the signed-in shopper.
pub(crate) const PERSONAL: &[&str] = &["purchases"];

#[component]
pub(crate) fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let loaded = use_view(
        move || ViewKey {
            view: "product",
            id: id.get(),
            page: None,
        },
        PARTS,
        &["product", "stock"],
        PERSONAL,
    );
    let session = use_session();
    let slot = move |name: &'static str,
                     title: &'static str,
                     tile: fn(PartOutcome, Callback<()>) -> AnyView| {
        move || match loaded.part(name) {
            Some(outcome) => tile(outcome, loaded.retry(name)),
            None => loading_tile(name, title),
        }
    };
    Effect::new(move |_| {
        let name = decode::<Product>(&loaded.part("product"))
            .ok()
            .map(|p| p.name);
        set_title(name.as_deref());
    });
    // The first paint (if the page drew one) gives way once this page's own product tile, or
    // its error, is on screen; and when the page is left.
    Effect::new(move |_| {
        if loaded.part("product").is_some() || loaded.failure.with(Option::is_some) {
            crate::preview::dismiss();
        }
    });
    on_cleanup(crate::preview::dismiss);
    let reviews_page = Callback::new(move |page: u32| loaded.reload("reviews", Some(page)));
    // A new review changes the summary and the first page of reviews of its product, if that
    // is still the one on screen.
    let posted = Callback::new(move |product: String| {
        if product == id.get_untracked() {
            loaded.reload("summary", None);
            loaded.reload("reviews", Some(1));
        }
    });
    view! {
        <article class="product-page" data-refreshing=move || loaded.refreshing.get().to_string()>
            {move || loaded.failure.get().map(|error| view! { <PageError error what="product" /> })}
            <Show when=move || loaded.failure.with(Option::is_none)>
                <div class="product-layout">
                    <div class="product-main">
                        {move || match loaded.part("product") {
                            None => view! { <ProductSkeleton /> }.into_any(),
                            Some(part) => view! { <ProductTile part=Some(part) /> }.into_any(),
                        }}
                        {slot("stock", "Price", |p, r| view! { <StockTile part=Some(p) retry=r /> }.into_any())}
                        // A BFF without sign-in has no shoppers to speak of.
                        <Show when=move || !session.is_off()>
                            {slot("purchases", "Your orders", |p, r| view! { <PurchasesTile part=Some(p) retry=r /> }.into_any())}
                        </Show>
                        <div class="product-more">
                            {slot("recommendations", "Customers also bought", |p, r| {
                                view! { <RelatedTile name="recommendations" title="Customers also bought" part=Some(p) retry=r /> }.into_any()
                            })}
                            {slot("category_picks", "More in this category", |p, r| {
                                view! { <RelatedTile name="category_picks" title="More in this category" part=Some(p) retry=r /> }.into_any()
                            })}
                        </div>
                    </div>
                    <div class="product-side">
                        {slot("summary", "Ratings", |p, r| view! { <SummaryTile part=Some(p) retry=r /> }.into_any())}
                        {move || match loaded.part("reviews") {
                            Some(part) => view! { <ReviewsTile part=Some(part) retry=loaded.retry("reviews") on_page=reviews_page /> }.into_any(),
                            None => loading_tile("reviews", "Reviews"),
                        }}
                        // One form per product: the page is reused from product to product,
                        // a half-written review is not.
                        {move || view! { <ReviewForm product_id=id.get() posted /> }}
                    </div>
                </div>
            </Show>
            <Waterfall timeline=loaded.timeline />
        </article>
    }
}

/// Placeholder of the same size as the product tile, shown while it loads.
#[component]
fn ProductSkeleton() -> impl IntoView {
    view! {
        <section class="tile tile-product" data-testid="tile-product" data-status="loading" aria-busy="true">
            <div class="skeleton skeleton-picture"></div>
            <div class="skeleton skeleton-line tiny"></div>
            <div class="skeleton skeleton-title"></div>
            <div class="skeleton skeleton-line"></div>
            <div class="skeleton skeleton-line short"></div>
            <div class="skeleton skeleton-attributes"></div>
        </section>
    }
}

#[component]
fn ProductTile(part: Option<PartOutcome>) -> impl IntoView {
    let status = part.as_ref().map_or(PartStatus::Error, |p| p.status);
    let product = part
        .as_ref()
        .and_then(|p| p.data.clone())
        .and_then(|data| serde_json::from_value::<Product>(data).ok());
    let reason = part
        .and_then(|p| p.error)
        .map_or_else(|| "the product could not be read".to_owned(), |e| e.message);
    match product {
        Some(product) => view! {
            <section class="tile tile-product" data-testid="tile-product" data-status=status.as_str()>
                <img class="product-picture" data-testid="product-image" src=media_url(&product.image) alt=product.name.clone() width="280" height="280" />
                <p class="breadcrumb">
                    <a href=format!("/category/{}", product.category.slug)>{product.category.name.clone()}</a>
                </p>
                <h1 data-testid="product-name">{product.name.clone()}</h1>
                <p class="description">{product.description.clone()}</p>
                <dl class="attributes">
                    <dt>"Material"</dt><dd class="word">{product.attributes.material.clone()}</dd>
                    <dt>"Colour"</dt><dd class="word">{product.attributes.color.clone()}</dd>
                    <dt>"Weight"</dt><dd>{format!("{} g", product.attributes.weight_g)}</dd>
                </dl>
            </section>
        }
        .into_any(),
        None => view! {
            <section class="tile tile-product tile-error" data-testid="tile-product" data-status=status.as_str() role="alert">
                <h1>"This product is unavailable right now"</h1>
                <p>{reason}</p>
            </section>
        }
        .into_any(),
    }
}

/// The whole page failed: say what went wrong in words, with a way out.
#[component]
pub(crate) fn PageError(error: ApiError, what: &'static str) -> impl IntoView {
    let title = match error.code.as_str() {
        "not_found" => format!("We could not find that {what}"),
        "bad_request" => format!("That is not a valid {what} address"),
        "network" => "The shop could not be reached".to_owned(),
        _ => "Something went wrong".to_owned(),
    };
    view! {
        <section class="notice notice-error" data-testid="page-error" data-code=error.code.clone() role="alert">
            <h1>{title}</h1>
            <p>{error.to_string()}</p>
            <p><a href="/">"Back to the shop"</a></p>
        </section>
    }
}
