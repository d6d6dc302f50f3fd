//! The home page (the product grid arrives with the storefront issue).

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub(crate) fn Home() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Tessera Store"</h1>
            <p>"Every part of a page is a tile that loads, fails and retries on its own."</p>
            <ul class="quick-links">
                {(1..=8)
                    .map(|id| {
                        view! {
                            <li>
                                <A href=format!("/product/{id}")>{format!("Product {id}")}</A>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
