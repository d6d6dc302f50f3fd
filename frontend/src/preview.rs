//! The first paint the page drew before the app ran (`frontend/index.html`): the product's
//! facts, from the view the start script fetched while the wasm downloaded. The app says it is
//! running, so that no first paint comes after it, and takes it away once its own tile shows.

use wasm_bindgen::JsValue;

/// Marks the app as running: a first paint that had not been drawn yet never will be.
pub(crate) fn app_started() {
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"__tesseraApp".into(), &JsValue::TRUE);
    }
}

/// Takes the first paint away, if there is one. It lies over the app, so nothing moves.
pub(crate) fn dismiss() {
    if let Some(preview) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("tessera-preview"))
    {
        preview.remove();
    }
}
