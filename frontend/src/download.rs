//! Handing a document the page fetched to the browser as a download: a `Blob`, an object URL
//! and a click on an `<a download>` that is never put in the page.

use wasm_bindgen::{JsCast, JsValue};

/// Offers `text` as the file `name` (`text/plain`), and returns its size in bytes.
pub(crate) fn save_text(name: &str, text: &str) -> Result<f64, String> {
    let failed = |what: &str, e: JsValue| format!("{what}: {}", e.as_string().unwrap_or_default());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/plain;charset=utf-8");
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|e| failed("the file could not be made", e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|e| failed("the file could not be offered", e))?;
    let link: web_sys::HtmlAnchorElement = leptos::prelude::document()
        .create_element("a")
        .map_err(|e| failed("the file could not be offered", e))?
        .unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.click();
    // Some browsers read the URL after the click returns: it goes a while later, and the
    // blob with it.
    leptos::prelude::set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(blob.size())
}
