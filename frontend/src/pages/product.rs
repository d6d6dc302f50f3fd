//! The product page: loads the `product` view and renders a tile per part — the critical
//! facts (product, price and stock) first, then ratings, reviews and recommendations.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use tessera_contract::{PartOutcome, PartStatus};

use crate::api::{ApiError, Product, fetch_view};
use crate::tiles::{RelatedTile, ReviewsTile, StockTile, SummaryTile};

#[component]
pub(crate) fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let view_data = LocalResource::new(move || fetch_view("product", &id()));

    view! {
        <article class="product-page">
            {move || match view_data.get() {
                None => view! { <ProductSkeleton /> }.into_any(),
                Some(Err(error)) => view! { <PageError error /> }.into_any(),
                Some(Ok(envelope)) => {
                    let part = |name: &str| envelope.parts.get(name).cloned();
                    view! {
                        <div class="product-layout">
                            <div class="product-main">
                                <ProductTile part=part("product") />
                                <StockTile part=part("stock") />
                                <div class="product-more">
                                    <RelatedTile name="recommendations" title="Customers also bought" part=part("recommendations") />
                                    <RelatedTile name="category_picks" title="More in this category" part=part("category_picks") />
                                </div>
                            </div>
                            <div class="product-side">
                                <SummaryTile part=part("summary") />
                                <ReviewsTile part=part("reviews") />
                            </div>
                        </div>
                    }
                    .into_any()
                }
            }}
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
