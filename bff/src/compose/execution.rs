//! A running view: lazy shared futures, one per part, each started when its dependencies are
//! done and bounded by its deadline; outcomes yielded as each part finishes.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, join_all};
use futures::stream::{FuturesUnordered, Stream};
use tessera_contract::{PartError, PartOutcome, PartStatus, ViewEnvelope};
use tokio::time::Instant;

use super::plan::{PartPlan, ViewPlan};
use super::verdict::{Verdict, is_complete};
use crate::cache::{FreshKey, Lookup, PartCache, Served};
use crate::config::template::RenderError;
use crate::upstream::{Fetched, UpstreamError, Upstreams};

pub(super) type PartFuture = Shared<BoxFuture<'static, Arc<PartOutcome>>>;
pub(super) type NamedFuture = BoxFuture<'static, (Arc<str>, Arc<PartOutcome>)>;

/// A running view: its requested parts, yielded as each one finishes.
pub(crate) struct Execution {
    pub(super) context: Arc<RunContext>,
    pub(super) view: String,
    pub(super) id: String,
    pub(super) started: Instant,
    pub(super) requested: Vec<Arc<str>>,
    pub(super) pending: FuturesUnordered<NamedFuture>,
}

/// A finished view: its envelope, its verdict, and the fresh cache entries it was made from.
#[derive(Debug)]
pub(crate) struct Composed {
    pub verdict: Verdict,
    pub envelope: ViewEnvelope,
    /// When every part came fresh from the cache: those entries (how long this very response
    /// may be served again). Empty otherwise.
    pub fresh: Vec<FreshKey>,
}

/// What every part of one execution shares.
#[derive(Debug)]
pub(super) struct RunContext {
    /// Fresh cache entries the parts were served from, or `None` once any part was not.
    pub(super) fresh: Mutex<Option<Vec<FreshKey>>>,
    pub(super) cache: PartCache,
    pub(super) upstreams: Arc<Upstreams>,
    pub(super) id: String,
    pub(super) page: u32,
    pub(super) request_id: Option<String>,
    pub(super) budget_deadline: Instant,
}

/// The shared future of `name`, created once per execution with the futures of its
/// dependencies (validation has ruled out cycles).
pub(super) fn part_future(
    view: &ViewPlan,
    name: &str,
    context: &Arc<RunContext>,
    futures: &mut HashMap<String, PartFuture>,
) -> PartFuture {
    if let Some(existing) = futures.get(name) {
        return existing.clone();
    }
    let plan = view.parts[name].clone();
    let dependencies: Vec<(String, PartFuture)> = plan
        .dependencies
        .iter()
        .map(|dep| (dep.clone(), part_future(view, dep, context, futures)))
        .collect();
    let context = context.clone();
    let future = async move {
        let (dep_names, dep_futures): (Vec<_>, Vec<_>) = dependencies.into_iter().unzip();
        let resolved: HashMap<String, Arc<PartOutcome>> = dep_names
            .into_iter()
            .zip(join_all(dep_futures).await)
            .collect();
        Arc::new(run_part(&plan, &context, &resolved).await)
    }
    .boxed()
    .shared();
    futures.insert(name.to_owned(), future.clone());
    future
}

/// Fetches one part whose dependencies are resolved, within its deadline.
async fn run_part(
    plan: &PartPlan,
    context: &RunContext,
    resolved: &HashMap<String, Arc<PartOutcome>>,
) -> PartOutcome {
    let started = Instant::now();
    let deadline = context.budget_deadline.min(started + plan.timeout);
    let path = plan.template.render(&context.id, context.page, |part| {
        resolved
            .get(part)
            .filter(|o| o.status.has_data())
            .and_then(|o| o.data.as_ref())
    });
    let result = match path {
        // Nothing to ask for: an empty, successful result (its freshness is its dependency's).
        Err(RenderError::EmptyList(_)) => Ok(Served {
            data: plan.empty.clone(),
            stale_age_s: None,
            fresh: None,
        }),
        Ok(path) => fetch(plan, context, &path, deadline, plan.timeout)
            .await
            .inspect(|served| {
                let mut fresh = context.fresh.lock().expect("freshness lock");
                match (&served.fresh, fresh.as_mut()) {
                    (Some(entry), Some(entries)) => entries.push(entry.clone()),
                    _ => *fresh = None,
                }
            })
            .map_err(|e| {
                tracing::warn!(part = %plan.label, %path, error = %e, "part failed");
                let status = if matches!(e, UpstreamError::Timeout) {
                    PartStatus::Timeout
                } else {
                    PartStatus::Error
                };
                let message = if matches!(e, UpstreamError::Timeout) {
                    format!(
                        "{} did not answer within {} ms",
                        plan.upstream,
                        deadline.saturating_duration_since(started).as_millis()
                    )
                } else {
                    format!("{} {e}", plan.upstream)
                };
                (
                    status,
                    PartError {
                        code: e.code().to_owned(),
                        message,
                    },
                )
            }),
        Err(e) => Err((
            PartStatus::Error,
            PartError {
                code: "dependency_failed".into(),
                message: e.to_string(),
            },
        )),
    };
    if result.is_err() {
        *context.fresh.lock().expect("freshness lock") = None;
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let outcome = |status, data, error| PartOutcome {
        status,
        critical: plan.critical,
        elapsed_ms,
        age_s: None,
        data,
        error,
    };
    match (result, &plan.fallback) {
        (Ok(served), _) => match served.stale_age_s {
            None => outcome(PartStatus::Ok, Some(served.data), None),
            Some(age) => PartOutcome {
                age_s: Some(age),
                ..outcome(PartStatus::Stale, Some(served.data), None)
            },
        },
        (Err((_, error)), Some(fallback)) => {
            outcome(PartStatus::Fallback, Some(fallback.clone()), Some(error))
        }
        (Err((status, error)), None) => outcome(status, None, Some(error)),
    }
}

/// The part's data: through the cache when the part has a cache policy, else straight from
/// its upstream.
async fn fetch(
    plan: &PartPlan,
    context: &RunContext,
    path: &str,
    deadline: Instant,
    refresh_timeout: Duration,
) -> Result<Served, UpstreamError> {
    let request_id = context.request_id.as_deref();
    match &plan.cache {
        Some(policy) => {
            context
                .cache
                .get(Lookup {
                    label: &plan.label,
                    upstream: &plan.upstream,
                    path,
                    policy,
                    deadline,
                    refresh_timeout,
                    request_id,
                })
                .await
        }
        None => match context
            .upstreams
            .get(&plan.upstream, path, deadline, request_id, None)
            .await?
        {
            Fetched::Fresh { data, .. } => Ok(Served {
                data,
                stale_age_s: None,
                fresh: None,
            }),
            Fetched::NotModified { .. } => Err(UpstreamError::Status(304)),
        },
    }
}

impl Execution {
    pub(crate) fn view(&self) -> &str {
        &self.view
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// Waits for every requested part and assembles the view.
    pub(crate) async fn collect(mut self) -> Composed {
        use futures::StreamExt;
        let mut finished = Vec::with_capacity(self.requested.len());
        while let Some(item) = self.pending.next().await {
            finished.push(item);
        }
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        drop(self.pending);
        // Every other handle on the outcomes is gone now, so they move out without a copy.
        let parts: BTreeMap<String, PartOutcome> = finished
            .into_iter()
            .map(|(name, outcome)| {
                let outcome = Arc::try_unwrap(outcome).unwrap_or_else(|shared| (*shared).clone());
                (name.to_string(), outcome)
            })
            .collect();
        let verdict = Verdict::of_view(parts.values());
        let fresh = self
            .context
            .fresh
            .lock()
            .expect("freshness lock")
            .take()
            .unwrap_or_default();
        Composed {
            verdict,
            fresh,
            envelope: ViewEnvelope {
                complete: is_complete(parts.values()),
                view: self.view,
                id: self.id,
                elapsed_ms,
                parts,
            },
        }
    }
}

impl Stream for Execution {
    type Item = (Arc<str>, Arc<PartOutcome>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.pending).poll_next(cx)
    }
}
