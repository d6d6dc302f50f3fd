//! The running generation, swapped whole by a reload: a request loads it once and keeps that
//! generation to its end, a reload builds the next one beside it and swaps it in atomically.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tessera_contract::ops::{BuildInfo, ConfigInfo, PartStats, ReloadInfo, Stats};

use super::{App, Warmth, changes};
use crate::config::Loader;
use crate::metrics::{Metrics, ReloadLabels};
use crate::ops::now_unix_ms;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReloadTrigger {
    /// SIGHUP.
    Signal,
    /// `POST /admin/reload`.
    Admin,
    /// The configuration's folder changed.
    Watch,
    /// A new front-end build was written into `server.dist_dir`.
    Build,
}

impl ReloadTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "signal",
            Self::Admin => "admin",
            Self::Watch => "watch",
            Self::Build => "build",
        }
    }
}

/// The application as it runs now, and how to load its next generation.
#[derive(Debug)]
pub(crate) struct Live {
    current: ArcSwap<App>,
    /// `None`: started from a configuration in memory, with nothing to reload from.
    loader: Option<Loader>,
    metrics: Metrics,
    started_ms: u64,
    /// When the running generation was loaded, and the last reload.
    history: Mutex<(u64, Option<ReloadInfo>)>,
    /// One reload at a time: two at once would both build on the same generation.
    reloading: tokio::sync::Mutex<()>,
    /// The start-up warm-up (see `/readyz`).
    warmth: Warmth,
}

impl Live {
    pub(crate) fn new(app: App, loader: Option<Loader>) -> Self {
        let now = now_unix_ms();
        let warm_views = app.config.warmup.views.values().map(Vec::len).sum();
        Self {
            warmth: Warmth::new(warm_views),
            metrics: app.metrics.clone(),
            current: ArcSwap::from_pointee(app),
            loader,
            started_ms: now,
            history: Mutex::new((now, None)),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The running generation.
    pub(crate) fn current(&self) -> Arc<App> {
        self.current.load_full()
    }

    pub(crate) fn warmth(&self) -> &Warmth {
        &self.warmth
    }

    pub(crate) fn loader(&self) -> Option<&Loader> {
        self.loader.as_ref()
    }

    /// Where the configuration comes from.
    fn source(&self) -> String {
        self.loader
            .as_ref()
            .map_or_else(|| "in memory".to_owned(), Loader::describe)
    }

    /// Loads the configuration again and validates it as `check` does. Invalid: the running
    /// generation stays and the errors are logged and kept for the ops page. Valid and
    /// different: the next generation is built, the cache entries it must not see are dropped,
    /// and it is swapped in; requests under way finish on theirs. Runs to its end on a task of
    /// its own even if the caller goes away (a half-done reload would be worse than none).
    pub(crate) async fn reload(self: &Arc<Self>, trigger: ReloadTrigger) -> ReloadInfo {
        let this = self.clone();
        let task = tokio::spawn(async move { this.reload_now(trigger).await });
        match task.await {
            Ok(info) => info,
            Err(e) => ReloadInfo {
                at_ms: now_unix_ms(),
                trigger: trigger.as_str().to_owned(),
                outcome: "rejected".to_owned(),
                generation: self.current().generation,
                errors: vec![format!("the reload failed: {e}")],
                restart_required: Vec::new(),
                changed: Vec::new(),
            },
        }
    }

    async fn reload_now(&self, trigger: ReloadTrigger) -> ReloadInfo {
        let _one = self.reloading.lock().await;
        let refusal = |message: String| {
            Err(vec![crate::config::ConfigError::Override {
                source_name: "reload".into(),
                message,
            }])
        };
        let running = self.current();
        let loaded = match self.loader.clone() {
            Some(loader) => tokio::task::spawn_blocking(move || loader.load())
                .await
                .unwrap_or_else(|e| refusal(format!("loading failed: {e}"))),
            // A new build needs no configuration file: the running one serves it.
            None if trigger == ReloadTrigger::Build => Ok(running.config.clone()),
            None => refusal(
                "this BFF was started from a configuration in memory: there is no file to reload"
                    .into(),
            ),
        };
        let mut info = ReloadInfo {
            at_ms: now_unix_ms(),
            trigger: trigger.as_str().to_owned(),
            outcome: "unchanged".to_owned(),
            generation: running.generation,
            errors: Vec::new(),
            restart_required: Vec::new(),
            changed: Vec::new(),
        };
        let loaded = loaded.and_then(|config| {
            // Valid, but surely a mistake (a file caught half-written, or emptied): a BFF
            // without views would answer nothing but 404s.
            if config.views.is_empty() && !running.config.views.is_empty() {
                refusal(format!(
                    "{}: the file has no views; the running ones stay (a file caught half-written?)",
                    self.source()
                ))
            } else {
                Ok(config)
            }
        });
        match loaded {
            Err(errors) => {
                info.outcome = "rejected".to_owned();
                info.errors = errors.iter().map(ToString::to_string).collect();
            }
            Ok(mut config) => {
                info.restart_required = changes::keep_restart_only(&running.config, &mut config);
                if config != running.config || running.build_changed() {
                    // Off the request threads: a new build is read, hashed and compressed.
                    let building = running.clone();
                    let built = tokio::task::spawn_blocking(move || building.next(config))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|next| next.map_err(|e| e.to_string()));
                    match built {
                        Ok((next, fresh)) => {
                            // Dropped before the swap (in Redis first, then here), so the new
                            // generation never sees what it must not.
                            let drops = fresh.drops.iter().map(|drop| next.cache.invalidate(drop));
                            for (drop, result) in fresh
                                .drops
                                .iter()
                                .zip(futures::future::join_all(drops).await)
                            {
                                if let Err(e) = result {
                                    tracing::error!(?drop, error = %e, "a reload's cache drop did not reach the shared cache (it is replayed)");
                                }
                            }
                            let next = Arc::new(next);
                            self.current.store(next.clone());
                            info.outcome = "applied".to_owned();
                            info.generation = next.generation;
                            info.changed = fresh.names;
                            self.metrics
                                .config_generation
                                .set(i64::try_from(next.generation).unwrap_or(i64::MAX));
                        }
                        Err(e) => {
                            info.outcome = "rejected".to_owned();
                            info.errors = vec![e];
                        }
                    }
                }
            }
        }
        self.log(&info);
        self.metrics
            .reloads
            .get_or_create(&ReloadLabels {
                outcome: info.outcome.clone(),
            })
            .inc();
        let mut history = self.history.lock().expect("history lock");
        if info.outcome == "applied" {
            history.0 = info.at_ms;
        }
        // A watched folder sees unrelated changes too; those say nothing worth keeping (unless
        // the file asks for a restart).
        let idle = trigger == ReloadTrigger::Watch
            && info.outcome == "unchanged"
            && info.restart_required.is_empty();
        if !idle {
            history.1 = Some(info.clone());
        }
        info
    }

    fn log(&self, info: &ReloadInfo) {
        let source = self.source();
        match info.outcome.as_str() {
            "rejected" => {
                for error in &info.errors {
                    tracing::error!(%source, trigger = %info.trigger, "reload rejected: {error}");
                }
            }
            outcome => tracing::info!(
                %source,
                trigger = %info.trigger,
                outcome,
                generation = info.generation,
                changed = ?info.changed,
                "configuration reloaded"
            ),
        }
        if !info.restart_required.is_empty() {
            tracing::warn!(
                settings = ?info.restart_required,
                "these settings changed but only a restart applies them; their running values stay"
            );
        }
    }

    /// The replica's state for `GET /admin/stats`.
    pub(crate) fn stats(&self) -> Stats {
        let app = self.current();
        let (loaded_ms, last_reload) = self.history.lock().expect("history lock").clone();
        let recent = &self.metrics.recent;
        let parts = app
            .config
            .views
            .iter()
            .flat_map(|(view, config)| {
                config
                    .parts
                    .get_ref()
                    .keys()
                    .map(move |part| format!("{view}.{part}"))
            })
            .map(|part| PartStats {
                last_minute: recent.part(&part),
                part,
            })
            .collect();
        Stats {
            now_ms: now_unix_ms(),
            build: BuildInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_ms: self.started_ms,
            },
            config: ConfigInfo {
                generation: app.generation,
                loaded_ms,
                source: self.source(),
                last_reload,
            },
            shared_cache: app
                .cache
                .shared()
                .map_or("off", |shared| shared.state().as_str())
                .to_owned(),
            in_flight: self.metrics.in_flight.get(),
            streams_open: self.metrics.streams_open.get(),
            upstreams: app.upstreams.stats(recent),
            parts,
        }
    }
}
