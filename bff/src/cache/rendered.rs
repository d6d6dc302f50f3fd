//! Rendered views: a whole view's response, kept while every part in it is fresh, so that a
//! fully cached view is one lookup instead of a composition.

use std::sync::Arc;
use std::time::Duration;

use super::entry::now_ms;
use super::invalidation::{Invalidation, Invalidations};

/// A whole view's response, kept while every part in it is fresh, so a fully cached view is
/// one lookup instead of a composition. Dropped with any of its parts' entries.
#[derive(Debug)]
pub(crate) struct RenderedView {
    pub body: bytes::Bytes,
    pub etag: String,
    /// The part entries it was made from.
    pub keys: Vec<String>,
    pub valid_until_ms: u64,
}

/// Expires each rendered view when its first part goes stale.
struct UntilStale;

impl moka::Expiry<String, Arc<RenderedView>> for UntilStale {
    fn expire_after_create(
        &self,
        _key: &String,
        view: &Arc<RenderedView>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_millis(
            view.valid_until_ms.saturating_sub(now_ms()),
        ))
    }
}

/// The rendered views of this replica, bounded in bytes.
pub(super) struct RenderedViews {
    views: moka::sync::Cache<String, Arc<RenderedView>>,
}

impl RenderedViews {
    /// `floor`: the least weight of a view, so the byte bound also bounds their number.
    pub(super) fn new(max_bytes: u64, floor: u64) -> Self {
        let views = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |key: &String, view: &Arc<RenderedView>| {
                let size = (key.len() + view.body.len()) as u64;
                u32::try_from(size.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(UntilStale)
            .build();
        Self { views }
    }

    pub(super) fn get(&self, key: &str) -> Option<Arc<RenderedView>> {
        self.views
            .get(key)
            .filter(|view| view.valid_until_ms > now_ms())
    }

    /// Keeps `view` unless it is stale already or one of its parts was invalidated since `mark`.
    pub(super) fn keep(&self, key: String, view: RenderedView, mark: u64, log: &Invalidations) {
        if view.valid_until_ms > now_ms() && !view.keys.iter().any(|k| log.overtook(mark, k)) {
            self.views.insert(key, Arc::new(view));
        }
    }

    /// Drops every view made from an entry `target` matches.
    pub(super) fn drop_matching(&self, target: &Invalidation) {
        let keys: Vec<Arc<String>> = self
            .views
            .iter()
            .filter(|(_, view)| view.keys.iter().any(|k| target.matches(k)))
            .map(|(key, _)| key)
            .collect();
        for key in keys {
            self.views.invalidate(key.as_str());
        }
    }
}
