//! The application state: everything a handler can reach.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::assets::Assets;
use crate::cache::PartCache;
use crate::compose::Composer;
use crate::config::{ActionConfig, MediaConfig};
use crate::metrics::Metrics;
use crate::upstream::Upstreams;

/// Everything a request handler can reach, behind one `Arc`: axum clones the state for every
/// request, and one reference count is cheaper than a dozen.
pub(crate) type AppState = Arc<App>;

#[derive(Debug)]
pub(crate) struct App {
    pub(crate) composer: Composer,
    /// The client of every data service, behind its guards (writes and images use it directly).
    pub(crate) upstreams: Arc<Upstreams>,
    pub(crate) cache: PartCache,
    /// The front-end build; `None` serves the API only.
    pub(crate) assets: Option<Arc<Assets>>,
    pub(crate) metrics: Metrics,
    /// The admin API's bearer token; without one the admin API is off.
    pub(crate) admin_token: Option<Arc<str>>,
    pub(crate) actions: BTreeMap<String, ActionConfig>,
    pub(crate) media: BTreeMap<String, MediaConfig>,
}
