//! The home page: the categories and every product, a page of cards at a time. The `home`
//! view's id is the page number.

use leptos::prelude::*;

use crate::loader::{ViewKey, set_title, use_view};
use crate::pages::listing::{CategoryNav, LISTING_PARTS, ProductGrid, use_page};
use crate::pages::product::PageError;
use crate::waterfall::Waterfall;

#[component]
pub(crate) fn Home() -> impl IntoView {
    let page = use_page();
    let loaded = use_view(
        move || ViewKey {
            view: "home",
            id: page.get().to_string(),
            page: None,
        },
        LISTING_PARTS,
        &["products"],
        &[],
    );
    Effect::new(move |_| set_title(None));
    let href = Callback::new(|n: u32| {
        if n == 1 {
            "/".to_owned()
        } else {
            format!("/?page={n}")
        }
    });
    view! {
        <div class="listing-page" data-refreshing=move || loaded.refreshing.get().to_string()>
            <section class="hero">
                <h1>"Tessera Store"</h1>
                <p>"Every part of this page is a tile that loads, fails and retries on its own."</p>
            </section>
            {move || loaded.failure.get().map(|error| view! { <PageError error what="page" /> })}
            <Show when=move || loaded.failure.with(Option::is_none)>
                <CategoryNav loaded />
                <ProductGrid loaded title=Signal::derive(|| "All products".to_owned()) page_href=href />
            </Show>
            <Waterfall timeline=loaded.timeline />
        </div>
    }
}
