//! Entry point of the Tessera storefront (wasm32, client-side rendered).

// `#[component]` expands to `pub` props structs, which a binary crate can never export.
#![allow(unreachable_pub)]

mod api;
mod app;
mod download;
mod format;
mod loader;
mod ops;
mod pages;
mod prefetch;
mod preview;
mod review_form;
mod session;
mod session_menu;
mod tiles;
mod version;
mod waterfall;

fn main() {
    console_error_panic_hook::set_once();
    // When the app began, for measuring from outside (the page's own view request starts
    // before it: see `api::adopt`).
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("tessera:app");
    }
    preview::app_started();
    leptos::mount::mount_to_body(app::App);
    // Only the product page takes over a first paint; any other page drops it at once.
    let on_product = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .is_some_and(|path| path.starts_with("/product/"));
    if !on_product {
        preview::dismiss();
    }
}
