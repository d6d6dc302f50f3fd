//! The operations dashboard as a wasm module of its own, loaded by the storefront's `/ops`
//! route (`pages::ops`) with `import()`: it exports [`mount`] and [`unmount`] to that page.

use std::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;

thread_local! {
    /// The dashboard on the page (wasm is single-threaded).
    static MOUNTED: RefCell<Option<tessera_frontend::ops::Mounted>> = const { RefCell::new(None) };
}

/// Draws the dashboard into `host`, in place of one drawn before.
#[wasm_bindgen]
pub fn mount(host: web_sys::HtmlElement) {
    console_error_panic_hook::set_once();
    unmount();
    let mounted = tessera_frontend::ops::mount(host);
    MOUNTED.with_borrow_mut(|slot| *slot = Some(mounted));
}

/// Takes the dashboard off the page and stops its polling (the page is left).
#[wasm_bindgen]
pub fn unmount() {
    // Dropped outside the borrow: disposing the dashboard runs its cleanups.
    let mounted = MOUNTED.with_borrow_mut(Option::take);
    drop(mounted);
}

/// Nothing runs when the module is instantiated: the storefront calls [`mount`].
fn main() {}
