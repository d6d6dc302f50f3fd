//! The page for unknown routes.

use leptos::prelude::*;

#[component]
pub(crate) fn NotFound() -> impl IntoView {
    // A path the BFF's route table sends to the product view but no page here answers (say
    // `/product/{id}/{slug}`) may have drawn a first paint: it must not stay over this page.
    crate::preview::dismiss();
    view! {
        <section class="notice" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Back to the shop"</a></p>
        </section>
    }
}
