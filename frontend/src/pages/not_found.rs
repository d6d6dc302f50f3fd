//! The page for unknown routes.

use leptos::prelude::*;

#[component]
pub(crate) fn NotFound() -> impl IntoView {
    view! {
        <section class="notice" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Back to the shop"</a></p>
        </section>
    }
}
