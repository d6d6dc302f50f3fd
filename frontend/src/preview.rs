//! The first paint on the page before the app ran: the product's facts, drawn into the HTML
//! by the BFF or by the page's own script from the view the start script fetched
//! (`frontend/index.html`). The app says it is running, so that no first paint comes after it,
//! lets a drawn one reach the screen before it mounts, and takes it away once its own tile
//! shows.

use wasm_bindgen::{JsCast, JsValue};

/// Marks the app as running: a first paint that had not been drawn yet never will be.
pub(crate) fn app_started() {
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"__tesseraApp".into(), &JsValue::TRUE);
    }
}

/// Runs `then` once the page's script says the first paint it found in the HTML has been
/// painted (`window.__tesseraPainted`), or at once without one.
pub(crate) fn when_painted(then: fn()) {
    let painted = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"__tesseraPainted".into()).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
    match painted {
        Some(painted) => wasm_bindgen_futures::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(painted).await;
            then();
        }),
        None => then(),
    }
}

fn first_paint() -> Option<web_sys::Element> {
    web_sys::window()?
        .document()?
        .get_element_by_id("tessera-preview")
}

/// Takes the first paint away, if there is one. It lies over the app, so nothing moves.
pub(crate) fn dismiss() {
    if let Some(preview) = first_paint() {
        preview.remove();
    }
}
