//! The `/ops` route: loads the operations dashboard's own module (built apart so that shoppers
//! never download it: see [`crate::ops`]) and mounts it on this page; leaving the page takes
//! it off again, which stops its polling.
//!
//! The page names the module's script and wasm in `<meta name="tessera-ops">` (the build
//! hashes both names), and its own inline script offers `import()` as `__tesseraImport`: the
//! page's policy allows no other way to load a module from Rust (no `eval`).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::loader::set_title;

/// Where the dashboard's module is loaded.
#[derive(Debug, Clone, PartialEq)]
enum Load {
    Loading,
    Shown,
    Failed(String),
}

#[component]
pub(crate) fn OpsPage() -> impl IntoView {
    Effect::new(move |_| set_title(Some("Operations")));
    let host = NodeRef::<leptos::html::Div>::new();
    let loaded = LOADED.with_borrow(Option::is_some);
    let load = RwSignal::new(if loaded { Load::Shown } else { Load::Loading });
    let attempt = RwSignal::new(0_u32);
    // Set when the page is left: a load that finishes later mounts nothing.
    let left = Arc::new(AtomicBool::new(false));
    let gone = left.clone();
    Effect::new(move |_| {
        let attempt = attempt.get();
        let Some(host) = host.get() else {
            return;
        };
        if LOADED.with_borrow(Option::is_none) {
            load.set(Load::Loading);
        }
        let left = left.clone();
        leptos::task::spawn_local(async move {
            let outcome = match module(attempt).await {
                Ok(_) if left.load(Ordering::Relaxed) => return,
                Ok(module) => call(&module, "mount", &host).map(|_| ()),
                Err(error) => Err(error),
            };
            load.set(match outcome {
                Ok(()) => Load::Shown,
                Err(reason) => Load::Failed(reason),
            });
        });
    });
    on_cleanup(move || {
        gone.store(true, Ordering::Relaxed);
        if let Some(module) = LOADED.with_borrow(Clone::clone) {
            let _ = call(&module, "unmount", &JsValue::UNDEFINED);
        }
    });
    let status = move || {
        match load.get() {
        Load::Loading => view! {
            <p class="muted" role="status" data-testid="ops-loading">"Loading the operations dashboard…"</p>
        }
        .into_any(),
        Load::Shown => ().into_any(),
        Load::Failed(reason) => view! {
            <p class="tile-reason" role="alert" data-testid="ops-load-error">
                {reason}" "
                <button type="button" class="retry" on:click=move |_| attempt.update(|n| *n += 1)>
                    "Try again"
                </button>
            </p>
        }
        .into_any(),
    }
    };
    view! {
        {status}
        <div class="ops-mount" data-testid="ops-mount" node_ref=host></div>
    }
}

thread_local! {
    /// The dashboard's module once loaded and initialized (wasm is single-threaded).
    static LOADED: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The dashboard's module, loaded and initialized once per page. A retry (`attempt` > 0) asks
/// for the script under another address: the browser remembers a failed module load by its
/// address for as long as the page lives.
async fn module(attempt: u32) -> Result<JsValue, String> {
    if let Some(module) = LOADED.with_borrow(Clone::clone) {
        return Ok(module);
    }
    let not_built = || "The operations dashboard is not part of this build.".to_owned();
    let failed = |_| "The operations dashboard could not be loaded.".to_owned();
    let window = window();
    let meta = document()
        .query_selector("meta[name=tessera-ops]")
        .ok()
        .flatten()
        .ok_or_else(not_built)?;
    let (Some(script), Some(wasm)) = (
        meta.get_attribute("content"),
        meta.get_attribute("data-wasm"),
    ) else {
        return Err(not_built());
    };
    let import = function(&window, "__tesseraImport").ok_or_else(not_built)?;
    let script = if attempt == 0 {
        script
    } else {
        format!("{script}?attempt={attempt}")
    };
    let module = await_promise(import.call1(&JsValue::NULL, &script.into()))
        .await
        .map_err(failed)?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"module_or_path".into(), &wasm.into()).map_err(failed)?;
    let init = function(&module, "default").ok_or_else(not_built)?;
    await_promise(init.call1(&JsValue::NULL, &options))
        .await
        .map_err(failed)?;
    LOADED.with_borrow_mut(|loaded| *loaded = Some(module.clone()));
    Ok(module)
}

/// Awaits what a JavaScript call returned, if it is a promise.
async fn await_promise(called: Result<JsValue, JsValue>) -> Result<JsValue, JsValue> {
    let promise: js_sys::Promise = called?.dyn_into()?;
    JsFuture::from(promise).await
}

/// Calls the module's exported function `name` with `argument`.
fn call(module: &JsValue, name: &str, argument: &JsValue) -> Result<JsValue, String> {
    let failed = || format!("The operations dashboard has no `{name}`.");
    function(module, name)
        .ok_or_else(failed)?
        .call1(&JsValue::NULL, argument)
        .map_err(|_| "The operations dashboard failed to start.".to_owned())
}

/// The function `object.name`, if it is one.
fn function(object: &JsValue, name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(object, &name.into())
        .ok()?
        .dyn_into()
        .ok()
}
