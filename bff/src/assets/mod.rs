//! CDN-style hosting of the front-end build, from memory.
//!
//! The whole fingerprinted build (a few hundred KB) is read once — at start-up, and again
//! when a deploy writes a new one — with its precompressed variants and strong content ETags,
//! so a request is a map lookup. The rules:
//!
//! - `/assets/*` are content-hashed: `public, max-age=31536000, immutable`. A missing one is a
//!   JSON 404 with `no-store` — never the HTML page, which a CDN would then cache for a year.
//! - Everything else (`index.html`) is `no-cache` with a strong ETag, so every load revalidates.
//! - Navigations (`GET`, `Accept: text/html`) to unknown paths get `index.html` (the SPA's router
//!   takes over); other unknown paths get a JSON 404.
//!
//! One file per concern: `site` (the loaded build, and which file a request gets), `files`
//! (a file's representations), `serve` (negotiation, validators), `range`, `csp`, `path`
//! (traversal checks), `origin` (assets from a CDN), `start` (the script that starts the page's
//! view while the wasm downloads), `first_paint` (the page's main content drawn into its HTML),
//! `hints` (the page's `Link` preloads), `cdn` (the export for
//! static hosts), `fingerprint` (the build step), `delta` (releases as `dcz` deltas).

pub mod cdn;
mod csp;
pub mod delta;
mod files;
pub mod fingerprint;
pub(crate) mod first_paint;
mod hints;
mod origin;
mod path;
mod range;
mod serve;
mod site;
pub(crate) mod start;

pub(crate) use serve::accepts;
pub(crate) use site::asks_for_html;
pub use site::{AssetError, Assets, Refusal};
