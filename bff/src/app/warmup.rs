//! Joining warm: the views of `[warmup]` are composed once at start, and `/readyz` says
//! ready only when they are done (or their deadline passed), so a balancer sends a new replica
//! traffic once its cache holds what is known to be hot.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::Live;
use crate::compose::ViewRequest;

/// How far the warm-up is.
#[derive(Debug, Default)]
pub(crate) struct Warmth {
    /// Views to compose.
    pub(crate) total: usize,
    /// Views composed (whatever their outcome).
    pub(crate) done: AtomicUsize,
    ready: AtomicBool,
}

impl Warmth {
    pub(crate) fn new(total: usize) -> Self {
        Self {
            total,
            done: AtomicUsize::new(0),
            ready: AtomicBool::new(total == 0),
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// Composes the warm-up views in the background, then marks the replica ready.
pub(crate) fn warm_up(live: Weak<Live>) {
    let Some(strong) = live.upgrade() else { return };
    let app = strong.current();
    let warm = &app.config.warmup;
    let jobs: Vec<(String, String)> = warm
        .views
        .iter()
        .flat_map(|(view, ids)| ids.iter().map(move |id| (view.clone(), id.clone())))
        .collect();
    if jobs.is_empty() {
        return;
    }
    let (concurrency, deadline) = (warm.concurrency, Duration::from_millis(warm.timeout_ms));
    drop(strong);
    tokio::spawn(async move {
        let started = Instant::now();
        let composed = futures::stream::iter(jobs)
            .map(|(view, id)| {
                let (app, live) = (app.clone(), live.clone());
                async move {
                    let ok = app
                        .composer
                        .document(&view, &id, ViewRequest::default())
                        .await
                        .is_ok();
                    if !ok {
                        tracing::warn!(%view, %id, "a warm-up view failed; the replica warms without it");
                    }
                    if let Some(live) = live.upgrade() {
                        live.warmth().done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<()>>();
        let finished = tokio::time::timeout(deadline, composed).await.is_ok();
        let Some(live) = live.upgrade() else { return };
        let warmth = live.warmth();
        warmth.ready.store(true, Ordering::Release);
        let done = warmth.done.load(Ordering::Relaxed);
        if finished {
            tracing::info!(
                views = done,
                ms = started.elapsed().as_millis() as u64,
                "warmed up; ready"
            );
        } else {
            tracing::warn!(
                views = done,
                of = warmth.total,
                "the warm-up ran out of time; ready anyway"
            );
        }
    });
}
