//! The application, one generation per configuration: everything built from one validated
//! [`Config`] — views, upstream clients, the part cache — and what a reload keeps of the one
//! before it.
//!
//! - here: [`App`], one generation, built fresh or from the previous one;
//! - `changes`: what differs between two configurations (settings only a restart applies,
//!   parts whose cache entries go);
//! - `live`: the running generation, swapped whole by a reload, and the ops page's stats;
//! - `watch`: what triggers a reload (SIGHUP, the configuration's folder changing, a new
//!   front-end build in `server.dist_dir`);
//! - `warmup`: the views composed at start, before the replica says it is ready.

mod changes;
mod live;
mod warmup;
mod watch;

use std::sync::Arc;

use crate::StartError;
use crate::assets::Assets;
use crate::cache::{Invalidation, PartCache, SharedCache};
use crate::compose::Composer;
use crate::config::Config;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::upstream::Upstreams;
pub(crate) use live::{Live, ReloadTrigger};
pub(crate) use warmup::{Warmth, warm_up};
pub(crate) use watch::watch;

/// One generation of the application. A request holds the generation it began on to its end,
/// so a reload never changes a request half-way.
#[derive(Debug)]
pub(crate) struct App {
    /// 1 at start; one more for every reload that changed something.
    pub(crate) generation: u64,
    /// What it was built from (with the running values of settings only a restart applies).
    pub(crate) config: Config,
    pub(crate) composer: Composer,
    /// The client of every data service, behind its guards (writes and images use it directly).
    pub(crate) upstreams: Arc<Upstreams>,
    pub(crate) cache: PartCache,
    /// The front-end build; `None` serves the API only.
    pub(crate) assets: Option<Arc<Assets>>,
    pub(crate) metrics: Metrics,
    /// The admin API's bearer token; without one the admin API is off.
    pub(crate) admin_token: Option<Arc<str>>,
    /// Sessions and the signer; `None` without `[identity]` (nobody can sign in).
    pub(crate) identity: Option<Identity>,
    /// The page's Content-Security-Policy: the build's, with the origins vault keys point at
    /// allowed to `connect-src` (the page fetches those documents itself).
    pub(crate) page_policy: Option<http::HeaderValue>,
    /// What a view's answer varies with besides its URL — the encoding and the forwarded
    /// headers, then also the cookie for a personal one: `[shared, personal]`, made once.
    pub(crate) vary: [http::HeaderValue; 2],
    /// The header a shareable view's edge-cache tags go in (`cache.edge_tag_header`).
    pub(crate) edge_tag_header: http::HeaderName,
}

/// The edge tag header `config` names (validated by `check`; `xkey` if it is not a name).
fn edge_tag_header(config: &Config) -> http::HeaderName {
    http::HeaderName::try_from(config.cache.edge_tag_header.as_str())
        .unwrap_or(http::HeaderName::from_static("xkey"))
}

/// The `Vary` values of views (see [`App::vary`]).
fn vary(upstreams: &Upstreams) -> [http::HeaderValue; 2] {
    let mut names = vec!["accept-encoding".to_owned()];
    names.extend(
        upstreams
            .forwarded_names()
            .iter()
            .map(|n| n.as_str().to_owned()),
    );
    let shared = names.join(", ");
    let value = |text: String| {
        http::HeaderValue::from_str(&text)
            .unwrap_or(http::HeaderValue::from_static("accept-encoding"))
    };
    [value(shared.clone()), value(format!("{shared}, cookie"))]
}

impl App {
    /// Whether `server.dist_dir` holds another build than the one served.
    pub(crate) fn build_changed(&self) -> bool {
        let Some(assets) = &self.assets else {
            return false;
        };
        let on_disk = Assets::build_on_disk(&self.config.server.dist_dir);
        on_disk.as_deref() != assets.build().and_then(|b| b.to_str().ok())
    }
}

/// The build in `server.dist_dir`, read now, with the start script of `config`'s routes.
fn load_build(config: &Config) -> Result<Assets, StartError> {
    let built = Assets::load_with_origin(
        &config.server.dist_dir,
        config.server.asset_origin.as_deref(),
    )?;
    started(&built, config)
}

/// The build with the start script of `config`'s routes in its page.
fn started(assets: &Assets, config: &Config) -> Result<Assets, StartError> {
    let script = crate::assets::start::start_script(&config.routes);
    Ok(assets.starting(script.as_deref(), &config.server.dist_dir)?)
}

/// The build's policy, with the origins of `config`'s grants added to `connect-src`.
fn page_policy(assets: Option<&Assets>, config: &Config) -> Option<http::HeaderValue> {
    let policy = assets?.policy().to_str().ok()?.to_owned();
    let mut origins: Vec<String> = config
        .grants
        .values()
        .filter_map(|grant| match &grant.public_url {
            Some(url) => Some(url.get_ref().clone()),
            None => config
                .upstreams
                .get(grant.upstream.get_ref())?
                .hosts()
                .next()
                .map(str::to_owned),
        })
        .map(|url| origin_of(&url))
        .collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() {
        return assets.map(|a| a.policy().clone());
    }
    let policy = policy.replacen(
        "connect-src 'self'",
        &format!("connect-src 'self' {}", origins.join(" ")),
        1,
    );
    http::HeaderValue::from_str(&policy).ok()
}

/// `scheme://host[:port]` of a URL (validation has made sure it is an http(s) URL).
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    // Credentials never go into the page.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{authority}")
}

/// What a new generation started afresh: the names of upstreams (`catalog`) and parts
/// (`product.details`), and the cache drops that go with them.
#[derive(Debug, Default)]
pub(crate) struct Fresh {
    pub(crate) names: Vec<String>,
    pub(crate) drops: Vec<Invalidation>,
}

impl App {
    /// The first generation. The front-end build is optional: if `dist_dir` does not exist
    /// the BFF serves its API alone.
    pub(crate) fn first(config: Config, metrics: Metrics) -> Result<Self, StartError> {
        let shared = config
            .cache
            .redis_url
            .as_deref()
            .map(|url| {
                SharedCache::new(
                    url,
                    std::time::Duration::from_millis(config.cache.redis_timeout_ms),
                    config.drop_retention(),
                    metrics.clone(),
                )
            })
            .transpose()?;
        let assets = if config.server.dist_dir.exists() {
            Some(Arc::new(load_build(&config)?))
        } else {
            tracing::warn!(dist_dir = %config.server.dist_dir.display(), "no front-end build; serving the API only");
            None
        };
        let upstreams = Arc::new(Upstreams::new(&config.upstreams, metrics.clone(), None)?);
        let cache = PartCache::new(
            &config.cache,
            shared,
            config.drop_retention(),
            metrics.clone(),
        );
        let composer = Composer::new(
            &config.views,
            |_| 1,
            cache.clone(),
            upstreams.clone(),
            metrics.clone(),
        );
        let identity = config
            .identity
            .as_ref()
            .map(|identity| Identity::new(identity, cache.shared(), None))
            .transpose()
            .map_err(|e| StartError::Keys(e.to_string()))?;
        Ok(Self {
            generation: 1,
            page_policy: page_policy(assets.as_deref(), &config),
            vary: vary(&upstreams),
            edge_tag_header: edge_tag_header(&config),
            identity,
            admin_token: config.admin.token.clone().map(Arc::from),
            config,
            composer,
            upstreams,
            cache,
            assets,
            metrics,
        })
    }

    /// The generation after `self`, from `config` (whose restart-only settings are already
    /// those running). Upstreams whose settings are unchanged keep their guards' state, and
    /// the cache keeps its entries unless its own settings changed; views keep their rendered
    /// copies only if unchanged.
    pub(crate) fn next(&self, config: Config) -> Result<(Self, Fresh), StartError> {
        let generation = self.generation + 1;
        let upstreams = Arc::new(Upstreams::new(
            &config.upstreams,
            self.metrics.clone(),
            Some(&self.upstreams),
        )?);
        let cache = if config.cache == self.config.cache {
            self.cache.clone()
        } else {
            PartCache::new(
                &config.cache,
                self.cache.shared().cloned(),
                config.drop_retention(),
                self.metrics.clone(),
            )
        };
        // Parts that now live longer need their drops remembered longer.
        cache.raise_retention(config.drop_retention());
        let composer = Composer::new(
            &config.views,
            |view| {
                let same = self.config.views.get(view) == config.views.get(view);
                match self.composer.revision(view) {
                    Some(revision) if same => revision,
                    _ => generation,
                }
            },
            cache.clone(),
            upstreams.clone(),
            self.metrics.clone(),
        );
        let mut fresh = Fresh::default();
        let changed = upstreams.changed_since(&self.upstreams);
        upstreams.publish_breakers(&changed);
        for upstream in changed {
            fresh
                .drops
                .push(Invalidation::Prefix(format!("{upstream}:")));
            fresh.names.push(upstream);
        }
        changes::changed_parts(&self.config, &config, &mut fresh);
        // Sessions and sign-in counters outlive a reload: nobody is signed out by one.
        let identity = config
            .identity
            .as_ref()
            .map(|identity| Identity::new(identity, cache.shared(), self.identity.as_ref()))
            .transpose()
            .map_err(|e| StartError::Keys(e.to_string()))?;
        self.metrics.declare(&config);
        let assets = match &self.assets {
            // A deploy wrote a new build: served from now on (the kept builds' files with it).
            Some(_) if self.build_changed() => Some(Arc::new(load_build(&config)?)),
            Some(assets) if config.routes != self.config.routes => {
                Some(Arc::new(started(assets, &config)?))
            }
            same => same.clone(),
        };
        let next = Self {
            generation,
            page_policy: page_policy(assets.as_deref(), &config),
            vary: vary(&upstreams),
            edge_tag_header: edge_tag_header(&config),
            identity,
            admin_token: config.admin.token.clone().map(Arc::from),
            config,
            composer,
            upstreams,
            cache,
            assets,
            metrics: self.metrics.clone(),
        };
        Ok((next, fresh))
    }
}
