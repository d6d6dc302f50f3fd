//! What triggers a reload besides `POST /admin/reload`: SIGHUP, the configuration's folder
//! changing, and a new front-end build written into `server.dist_dir` (its manifest). The folder, not the file: a Kubernetes ConfigMap volume swaps a `..data`
//! symlink beside the file, which a watch on the file itself never sees.

use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{Live, ReloadTrigger};

/// Editors and `kubectl` write in several steps; a reload waits for this much quiet...
const SETTLE: Duration = Duration::from_millis(200);
/// ...but no longer than this after the first change, however busy the folder.
const MAX_SETTLE: Duration = Duration::from_secs(2);
/// How often an idle watch checks that the application it reloads still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(5);

/// Reloads `live` on SIGHUP, with `server.watch_config` when the configuration's folder
/// changes, and with `server.watch_dist` when a new build arrives. Stops when `live` is gone.
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
    let server = app.config.server.clone();
    let config_path = strong.loader().and_then(|l| l.path.clone());
    drop((strong, app));
    if server.watch_dist && server.dist_dir.is_dir() {
        // A deploy writes its manifest last: that is the build's arrival.
        let manifest = std::ffi::OsString::from(crate::assets::fingerprint::MANIFEST);
        watch_folder(
            server.dist_dir.clone(),
            move |name| name == manifest.as_os_str(),
            live.clone(),
            ReloadTrigger::Build,
        );
    }
    let Some(path) = config_path.filter(|_| server.watch_config) else {
        return;
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let Some(file_name) = path.file_name().map(ToOwned::to_owned) else {
        return;
    };
    // The file itself, or a ConfigMap's `..data` (and its `..<timestamp>` folders); the rest
    // of the folder (a database's journal, a log) is none of our business.
    let ours = move |name: &std::ffi::OsStr| {
        name == file_name.as_os_str() || name.to_string_lossy().starts_with("..")
    };
    watch_folder(folder, ours, live, ReloadTrigger::Watch);
}

/// Reloads `live` with `trigger` once the files of `folder` that are `ours` have changed and
/// been quiet for a moment. Stops when `live` is gone.
fn watch_folder(
    folder: PathBuf,
    ours: impl Fn(&std::ffi::OsStr) -> bool + Send + 'static,
    live: Weak<Live>,
    trigger: ReloadTrigger,
) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let ours = event.paths.iter().any(|p| p.file_name().is_some_and(&ours));
        if ours && !event.kind.is_access() {
            // Full means a reload is already due; one is enough.
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch {}; reload with SIGHUP or POST /admin/reload", folder.display());
            return;
        }
    };
    if let Err(e) = watcher.watch(&folder, RecursiveMode::NonRecursive) {
        tracing::warn!(folder = %folder.display(), error = %e, "cannot watch the folder");
        return;
    }
    tracing::info!(folder = %folder.display(), trigger = ?trigger, "watching for changes");
    tokio::spawn(async move {
        // Owned by the task: the watch lasts as long as it does.
        let _watcher = watcher;
        loop {
            // The watch ends with `live` (checked now and then: an idle folder sends nothing).
            tokio::select! {
                event = rx.recv() => if event.is_none() { return },
                () = tokio::time::sleep(ALIVE_CHECK) => {
                    if live.strong_count() == 0 { return }
                    continue;
                }
            }
            // Wait until the files have been quiet for a moment (or long enough).
            let first = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(SETTLE).await;
                if rx.try_recv().is_err() || first.elapsed() >= MAX_SETTLE {
                    break;
                }
            }
            let Some(live) = live.upgrade() else { return };
            live.reload(trigger).await;
        }
    });
}
