//! The operations dashboard: the page itself, the poll loop, formatting, and one module per
//! block of the page.
//!
//! Shoppers never download it: it is built as a module of its own (`tessera-ops`, from
//! `src/bin/tessera-ops.rs`) that the storefront's `/ops` route loads when it is opened
//! (`pages::ops`), and mounted there with [`mount`].

pub(crate) mod format;
pub(crate) mod page;
pub(crate) mod parts;
pub(crate) mod poll;
pub(crate) mod sparkline;
pub(crate) mod summary;
pub(crate) mod upstreams;

use leptos::mount::mount_to;
use leptos::prelude::*;

/// The dashboard on a page. Dropping it takes the dashboard off the page and stops its
/// polling (its reactive owner is disposed).
pub struct Mounted {
    _handle: Box<dyn std::any::Any>,
}

/// Draws the dashboard into `host` (the storefront's `/ops` page).
pub fn mount(host: web_sys::HtmlElement) -> Mounted {
    let handle = mount_to(host, || page::OpsPage().into_any());
    Mounted {
        _handle: Box::new(handle),
    }
}
