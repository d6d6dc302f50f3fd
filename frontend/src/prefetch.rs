//! Prefetch on intent: hovering, focusing or touching a link to a product, a category or a
//! page of the home listing fetches that view at low priority into the browser's copy, so the
//! navigation that usually follows shows at once, without a request (see
//! `loader::keep_prefetched`). Two at a time at most, one per view, and none when the
//! connection asks to save data or is slow.

use std::cell::RefCell;
use std::collections::BTreeSet;

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::prefetch_view;
use crate::loader::{ViewKey, is_prefetched, keep_prefetched};

/// Prefetches in flight at most.
const MAX_IN_FLIGHT: usize = 2;

thread_local! {
    /// The views being prefetched now.
    static IN_FLIGHT: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

/// Listens for intent on the whole document, for as long as the app runs.
pub(crate) fn listen() {
    let on = |target: Option<web_sys::EventTarget>| {
        if let Some(href) = link_of(target) {
            intent(&href);
        }
    };
    // Handles live as long as the app: never removed.
    std::mem::forget(window_event_listener(ev::pointerover, move |e| {
        on(e.target())
    }));
    std::mem::forget(window_event_listener(ev::focusin, move |e| on(e.target())));
    std::mem::forget(window_event_listener(ev::touchstart, move |e| {
        on(e.target())
    }));
}

/// The `href` of the link an event happened in, if it is one of this site's.
fn link_of(target: Option<web_sys::EventTarget>) -> Option<String> {
    let element: web_sys::Element = target?.dyn_into().ok()?;
    let link = element.closest("a[href^='/']").ok()??;
    link.get_attribute("href")
}

/// A page worth prefetching: its view, its parts and those of them that belong to the
/// shopper (the pages' own lists).
type Page = (ViewKey, &'static [&'static str], &'static [&'static str]);

/// The view a page of the app shows.
fn view_of(href: &str) -> Option<Page> {
    let (path, query) = href.split_once('?').unwrap_or((href, ""));
    let page = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let key = |view, id: &str, page| ViewKey {
        view,
        id: id.to_owned(),
        page,
    };
    use crate::pages::{listing::LISTING_PARTS, product};
    match segments.as_slice() {
        [] => Some((key("home", &page.to_string(), None), LISTING_PARTS, &[])),
        ["product", id] => Some((key("product", id, None), product::PARTS, product::PERSONAL)),
        ["category", slug] => Some((key("category", slug, Some(page)), LISTING_PARTS, &[])),
        _ => None,
    }
}

/// Whether the connection asks not to spend data on guesses (`Save-Data`, or a slow line).
fn sparing() -> bool {
    let get = |on: &wasm_bindgen::JsValue, name: &str| js_sys::Reflect::get(on, &name.into()).ok();
    let Some(connection) = web_sys::window()
        .and_then(|w| get(&w, "navigator"))
        .and_then(|n| get(&n, "connection"))
        .filter(|c| c.is_object())
    else {
        return false;
    };
    let field = |name: &str| get(&connection, name);
    let save_data = field("saveData").and_then(|v| v.as_bool()) == Some(true);
    let slow = field("effectiveType")
        .and_then(|v| v.as_string())
        .is_some_and(|t| matches!(t.as_str(), "slow-2g" | "2g" | "3g"));
    save_data || slow
}

fn intent(href: &str) {
    let Some((key, parts, personal)) = view_of(href) else {
        return;
    };
    let name = key.cache_key();
    let here = window()
        .location()
        .pathname()
        .ok()
        .zip(window().location().search().ok());
    if here.is_some_and(|(path, search)| format!("{path}{search}") == href) || is_prefetched(&key) {
        return;
    }
    let started = IN_FLIGHT.with_borrow_mut(|flight| {
        (flight.len() < MAX_IN_FLIGHT && !sparing()).then(|| flight.insert(name.clone()))
    });
    if started != Some(true) {
        return;
    }
    leptos::task::spawn_local(async move {
        let shared: Vec<&str> = parts
            .iter()
            .copied()
            .filter(|part| !personal.contains(part))
            .collect();
        if let Some(parts) = prefetch_view(key.view, &key.id, key.page, &shared).await {
            keep_prefetched(&key, &parts, personal);
        }
        IN_FLIGHT.with_borrow_mut(|flight| flight.remove(&name));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_the_views_their_pages_show() {
        let (key, parts, personal) = view_of("/product/7").unwrap();
        assert!(parts.contains(&"stock") && parts.contains(&"purchases"));
        assert_eq!(
            (key.view, key.id.as_str(), key.page),
            ("product", "7", None)
        );
        assert_eq!(personal, ["purchases"]);
        let (key, _, _) = view_of("/category/tea?page=2").unwrap();
        assert_eq!(
            (key.view, key.id.as_str(), key.page),
            ("category", "tea", Some(2))
        );
        let (key, _, _) = view_of("/?page=3").unwrap();
        assert_eq!((key.view, key.id.as_str()), ("home", "3"));
        assert!(view_of("/account").is_none() && view_of("/product/7/x").is_none());
    }
}
