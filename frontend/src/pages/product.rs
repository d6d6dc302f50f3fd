//! The product page: loads the `product` view and renders a tile per part — the critical
//! facts (product, price and stock) first, then ratings, reviews and recommendations.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use tessera_contract::{PartOutcome, PartStatus};

use std::collections::BTreeMap;

use send_wrapper::SendWrapper;
use tessera_contract::StreamLine;

use crate::api::{ApiError, Product, failed_part, fetch_part, stream_view};
use crate::tiles::{RelatedTile, ReviewsTile, StockTile, SummaryTile, loading_tile};

#[component]
pub(crate) fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let parts = RwSignal::new(BTreeMap::<String, PartOutcome>::new());
    let failure = RwSignal::new(None::<ApiError>);

    // Streams the view: each part's tile renders the moment its line arrives. Leaving the page
    // (or moving to another product) aborts the request.
    Effect::new(move |_| {
        let id = params.read().get("id").unwrap_or_default();
        parts.set(BTreeMap::new());
        failure.set(None);
        let controller = SendWrapper::new(web_sys::AbortController::new().ok());
        let signal = controller.as_ref().map(|c| c.signal());
        on_cleanup(move || {
            if let Some(controller) = controller.take() {
                controller.abort();
            }
        });
        leptos::task::spawn_local(async move {
            let on_line = move |line| match line {
                StreamLine::Part { name, outcome } => {
                    parts.try_update(|p| p.insert(name, outcome));
                }
                StreamLine::Summary {
                    status: 404, id, ..
                } => {
                    failure.try_set(Some(ApiError::not_found(format!(
                        "no product with id {id}"
                    ))));
                }
                StreamLine::Summary { .. } => {}
            };
            if let Err(error) = stream_view("product", &id, signal, on_line).await {
                failure.try_set(Some(error));
            }
        });
    });

    // A tile's retry loads its part alone; the tile shows its skeleton meanwhile.
    let retry = move |name: &'static str| {
        Callback::new(move |()| {
            let id = params.read_untracked().get("id").unwrap_or_default();
            parts.update(|p| {
                p.remove(name);
            });
            leptos::task::spawn_local(async move {
                let outcome = fetch_part("product", name, &id)
                    .await
                    .unwrap_or_else(|e| failed_part(e.to_string()));
                parts.try_update(|p| p.insert(name.to_owned(), outcome));
            });
        })
    };
    let slot = move |name: &'static str,
                     title: &'static str,
                     tile: fn(PartOutcome, Callback<()>) -> AnyView| {
        move || match parts.with(|p| p.get(name).cloned()) {
            Some(outcome) => tile(outcome, retry(name)),
            None => loading_tile(name, title),
        }
    };
    view! {
        <article class="product-page">
            {move || failure.get().map(|error| view! { <PageError error /> })}
            <Show when=move || failure.with(Option::is_none)>
                <div class="product-layout">
                    <div class="product-main">
                        {move || match parts.with(|p| p.get("product").cloned()) {
                            None => view! { <ProductSkeleton /> }.into_any(),
                            Some(part) => view! { <ProductTile part=Some(part) /> }.into_any(),
                        }}
                        {slot("stock", "Price", |p, r| view! { <StockTile part=Some(p) retry=r /> }.into_any())}
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
                        {slot("reviews", "Reviews", |p, r| view! { <ReviewsTile part=Some(p) retry=r /> }.into_any())}
                    </div>
                </div>
            </Show>
        </article>
    }
}

/// Placeholder of the same size as the product tile, shown while it loads.
#[component]
fn ProductSkeleton() -> impl IntoView {
    view! {
        <section class="tile tile-product" data-testid="tile-product" data-status="loading" aria-busy="true">
            <div class="skeleton skeleton-title"></div>
            <div class="skeleton skeleton-line"></div>
            <div class="skeleton skeleton-line short"></div>
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
                <p class="breadcrumb">{product.category.name.clone()}</p>
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
fn PageError(error: ApiError) -> impl IntoView {
    let title = match error.code.as_str() {
        "not_found" => "We could not find that product",
        "bad_request" => "That is not a valid product address",
        "network" => "The shop could not be reached",
        _ => "Something went wrong",
    };
    view! {
        <section class="notice notice-error" data-testid="page-error" data-code=error.code.clone() role="alert">
            <h1>{title}</h1>
            <p>{error.to_string()}</p>
            <p><A href="/">"Back to the shop"</A></p>
        </section>
    }
}
