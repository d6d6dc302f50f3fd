//! What triggers a reload besides `POST /admin/reload`: SIGHUP, and the configuration's
//! folder changing. The folder, not the file: a Kubernetes ConfigMap volume swaps a `..data`
//! symlink beside the file, which a watch on the file itself never sees.

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{Live, ReloadTrigger};

/// Editors and `kubectl` write in several steps; a reload waits for this much quiet...
const SETTLE: Duration = Duration::from_millis(200);
/// ...but no longer than this after the first change, however busy the folder.
const MAX_SETTLE: Duration = Duration::from_secs(2);

/// Reloads `live` on SIGHUP and, with `server.watch_config`, when the configuration's folder
/// changes. Stops when `live` is gone.
pub(crate) fn watch(live: Weak<Live>) {
    #[cfg(unix)]
    {
        let live = live.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
                return;
            };
            while hangups.recv().await.is_some() {
                let Some(live) = live.upgrade() else { return };
                live.reload(ReloadTrigger::Signal).await;
            }
        });
    }
    let Some(strong) = live.upgrade() else { return };
    let app = strong.current();
    let Some(path) = strong.loader().and_then(|l| l.path.clone()) else {
        return;
    };
    if !app.config.server.watch_config {
        return;
    }
    drop((strong, app));
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let Some(file_name) = path.file_name().map(ToOwned::to_owned) else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // The file itself, or a ConfigMap's `..data` (and its `..<timestamp>` folders); the
        // rest of the folder (a database's journal, a log) is none of our business.
        let ours = event.paths.iter().any(|p| {
            p.file_name().is_some_and(|name| {
                name == file_name.as_os_str() || name.to_string_lossy().starts_with("..")
            })
        });
        if ours && !event.kind.is_access() {
            // Full means a reload is already due; one is enough.
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the configuration; reload with SIGHUP or POST /admin/reload");
            return;
        }
    };
    if let Err(e) = watcher.watch(&folder, RecursiveMode::NonRecursive) {
        tracing::warn!(folder = %folder.display(), error = %e, "cannot watch the configuration's folder");
        return;
    }
    tracing::info!(folder = %folder.display(), "watching the configuration for changes");
    tokio::spawn(async move {
        // Owned by the task: the watch lasts as long as it does.
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            // Wait until the file has been quiet for a moment (or long enough).
            let first = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(SETTLE).await;
                if rx.try_recv().is_err() || first.elapsed() >= MAX_SETTLE {
                    break;
                }
            }
            let Some(live) = live.upgrade() else { return };
            live.reload(ReloadTrigger::Watch).await;
        }
    });
}
