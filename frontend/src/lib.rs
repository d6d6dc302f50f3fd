//! Tessera's storefront: a Leptos CSR app that renders each tile the moment its data arrives.
//!
//! # Layout
//!
//! Two wasm modules are built from this crate:
//!
//! - `tessera-frontend` (`src/main.rs`, [`start`]): the storefront every shopper downloads —
//!   the shell ([`app`]), one module per page ([`pages`]), the view loader and the browser's
//!   copy ([`loader`]), the tiles, sign-in and the review form, prefetch on intent and the
//!   new-version notice;
//! - `tessera-ops` (`src/bin/tessera-ops.rs`, [`ops::mount`]): the operations dashboard, which
//!   the storefront's `/ops` route loads only when it is opened, so shoppers never download it.
//!
//! Both talk to the BFF through [`api`].

// `#[component]` expands to `pub` props structs, which nothing outside this crate names.
#![allow(unreachable_pub)]

mod api;
mod app;
mod download;
mod format;
mod loader;
pub mod ops;
mod pages;
mod prefetch;
mod preview;
mod review_form;
mod session;
mod session_menu;
mod tiles;
mod version;
mod waterfall;

/// Starts the storefront: mounts the app over the page (once a first paint drawn into it has
/// been painted), and takes over or drops that first paint, drawn by the BFF or by the page's
/// own script.
pub fn start() {
    console_error_panic_hook::set_once();
    // When the app began, for measuring from outside (the page's own view request starts
    // before it: see `api::adopt`).
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("tessera:app");
    }
    preview::app_started();
    // A first paint drawn into the HTML is on screen before the app's own work begins: mounted
    // within the same frames, the app's tile would count as the page's main content instead
    // (its largest paint, which Lighthouse then charges with the wasm's download).
    preview::when_painted(mount);
}

fn mount() {
    leptos::mount::mount_to_body(app::App);
    // Only the product page takes over a first paint; any other page drops it at once.
    let on_product = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .is_some_and(|path| path.starts_with("/product/"));
    if !on_product {
        preview::dismiss();
    }
}
