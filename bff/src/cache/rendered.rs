//! Rendered views: a whole view's response, kept while every part in it is fresh, so that a
//! fully cached view is one lookup instead of a composition.

use std::sync::Arc;
use std::time::Duration;

use super::entry::now_ms;
use super::invalidation::Invalidations;

/// A whole view's response, kept while every part in it is fresh, so a fully cached view is
/// one lookup instead of a composition. Dead once any of its parts' keys is dropped.
#[derive(Debug)]
pub(crate) struct RenderedView {
    pub body: bytes::Bytes,
    pub etag: String,
    /// Its tags for a shared cache in front (`None`: a shared cache may not keep it).
    pub tags: Option<http::HeaderValue>,
    /// The part entries it was made from.
    pub keys: Vec<String>,
    pub valid_until_ms: u64,
    /// The shortest stale-while-revalidate window of its parts, in ms.
    pub revalidate_ms: u64,
}

/// A view as kept: with the invalidation mark taken before it was composed.
#[derive(Clone)]
struct Kept {
    mark: u64,
    view: Arc<RenderedView>,
}

/// Expires each rendered view when its first part goes stale.
struct UntilStale;

impl moka::Expiry<String, Kept> for UntilStale {
    fn expire_after_create(
        &self,
        _key: &String,
        kept: &Kept,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_millis(
            kept.view.valid_until_ms.saturating_sub(now_ms()),
        ))
    }
}

/// The rendered views of this replica, bounded in bytes.
pub(super) struct RenderedViews {
    views: moka::sync::Cache<String, Kept>,
}

impl RenderedViews {
    /// `floor`: the least weight of a view, so the byte bound also bounds their number.
    pub(super) fn new(max_bytes: u64, floor: u64) -> Self {
        let views = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |key: &String, kept: &Kept| {
                let size = (key.len() + kept.view.body.len()) as u64;
                u32::try_from(size.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(UntilStale)
            .build();
        Self { views }
    }

    /// How many views are kept and their weight.
    pub(super) fn size(&self) -> (u64, u64) {
        self.views.run_pending_tasks();
        (self.views.entry_count(), self.views.weighted_size())
    }

    /// The keys of the views kept, at most `limit`.
    pub(super) fn keys(&self, limit: usize) -> Vec<String> {
        self.views
            .iter()
            .take(limit)
            .map(|(key, _)| key.to_string())
            .collect()
    }

    /// The view, unless it went stale or one of its parts was dropped since it was composed.
    pub(super) fn get(&self, key: &str, log: &Invalidations) -> Option<Arc<RenderedView>> {
        let kept = self.views.get(key)?;
        let view = &kept.view;
        if view.valid_until_ms <= now_ms() || view.keys.iter().any(|k| log.overtook(kept.mark, k)) {
            self.views.invalidate(key);
            return None;
        }
        Some(kept.view)
    }

    /// Keeps `view` unless it is stale already or one of its parts was dropped since `mark`.
    pub(super) fn keep(&self, key: String, view: RenderedView, mark: u64, log: &Invalidations) {
        if view.valid_until_ms > now_ms() && !view.keys.iter().any(|k| log.overtook(mark, k)) {
            let view = Arc::new(view);
            self.views.insert(key, Kept { mark, view });
        }
    }
}
