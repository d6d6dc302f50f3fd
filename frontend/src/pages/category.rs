//! A category page: the `category` view, whose id is the category's slug, paged with `?page=`.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{Category, Items};
use crate::loader::{ViewKey, set_title, use_view};
use crate::pages::listing::{CategoryNav, LISTING_PARTS, ProductGrid, use_page};
use crate::pages::product::PageError;
use crate::tiles::decode;
use crate::waterfall::Waterfall;

#[component]
pub(crate) fn CategoryPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.read().get("slug").unwrap_or_default());
    let page = use_page();
    let loaded = use_view(
        move || ViewKey {
            view: "category",
            id: slug.get(),
            page: Some(page.get()),
        },
        LISTING_PARTS,
        &["products"],
        &[],
    );
    // The category's name, once the categories part is in; its slug until then.
    let title = Signal::derive(move || {
        let slug = slug.get();
        decode::<Items<Category>>(&loaded.part("categories"))
            .ok()
            .and_then(|list| list.items.into_iter().find(|c| c.slug == slug))
            .map_or(slug, |c| c.name)
    });
    Effect::new(move |_| set_title(Some(&title.get())));
    let href = Callback::new(move |n: u32| {
        let slug = slug.get_untracked();
        if n == 1 {
            format!("/category/{slug}")
        } else {
            format!("/category/{slug}?page={n}")
        }
    });
    view! {
        <div class="listing-page" data-refreshing=move || loaded.refreshing.get().to_string()>
            {move || loaded.failure.get().map(|error| view! { <PageError error what="category" /> })}
            <Show when=move || loaded.failure.with(Option::is_none)>
                <h1 class="page-title" data-testid="page-title">{title}</h1>
                <CategoryNav loaded current=slug />
                <ProductGrid loaded title=Signal::derive(|| "Products".to_owned()) page_href=href />
            </Show>
            <Waterfall timeline=loaded.timeline />
        </div>
    }
}
