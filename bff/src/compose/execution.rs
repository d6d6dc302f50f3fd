//! A running view: lazy shared futures, one per part, each started when its dependencies are
//! done and bounded by its deadline; outcomes yielded as each part finishes.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, join_all};
use futures::stream::{FuturesUnordered, Stream};
use serde_json::Value;
use tessera_contract::{ItemFailure, PartError, PartOutcome, PartStatus, ViewEnvelope};
use tokio::time::Instant;
use tracing::Instrument;

use super::plan::{Each, PartPlan, ViewPlan};
use super::verdict::{Verdict, is_complete};
use crate::cache::{FreshKey, Lookup, PartCache, Served};
use crate::config::Scope;
use crate::config::shape::TransformError;
use crate::config::template::RenderError;
use crate::identity::Caller;
use crate::metrics::Metrics;
use crate::upstream::{Behalf, Fetched, UpstreamError, Upstreams};

pub(super) type PartFuture = Shared<BoxFuture<'static, Arc<Finished>>>;

/// A finished part: its outcome, and for a shaped part the upstream's data before shaping —
/// what the parts that depend on it read, so shaping one part never breaks another.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) outcome: Arc<PartOutcome>,
    unshaped: Option<Value>,
}

/// How long one transform run may take at most (within the part's deadline), and how much
/// it may write.
const TRANSFORM_TIME: Duration = Duration::from_secs(1);
const TRANSFORM_BYTES: usize = 4 * 1024 * 1024;
/// The stack of a transform's thread.
const TRANSFORM_STACK: usize = 64 * 1024 * 1024;
/// The most items a per-item part calls for.
const MAX_ITEMS: usize = 1_000;
pub(super) type NamedFuture = BoxFuture<'static, (Arc<str>, Arc<PartOutcome>)>;

/// A running view: its requested parts, yielded as each one finishes.
pub(crate) struct Execution {
    pub(super) context: Arc<RunContext>,
    pub(super) view: String,
    pub(super) id: String,
    pub(super) started: Instant,
    pub(super) requested: Vec<Arc<str>>,
    pub(super) pending: FuturesUnordered<NamedFuture>,
    /// It holds a user part (see [`super::Document::personal`]).
    pub(super) personal: bool,
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
    pub(super) metrics: Metrics,
    pub(super) id: String,
    pub(super) page: u32,
    pub(super) request_id: Option<String>,
    pub(super) caller: Option<Arc<Caller>>,
    pub(super) forwarded: Arc<http::HeaderMap>,
    pub(super) budget_deadline: Instant,
}

/// The shared future of `name`, created once per execution with the futures of its
/// dependencies (validation has ruled out cycles).
pub(super) fn part_future<'v>(
    view: &'v ViewPlan,
    name: &str,
    context: &Arc<RunContext>,
    futures: &mut HashMap<&'v str, PartFuture>,
) -> PartFuture {
    if let Some(existing) = futures.get(name) {
        return existing.clone();
    }
    let (name, plan) = view
        .parts
        .get_key_value(name)
        .expect("parts are checked before they are started");
    let plan = plan.clone();
    // In the order of `plan.dependencies`, which is how `run_part` finds them.
    let dependencies: Vec<PartFuture> = plan
        .dependencies
        .iter()
        .map(|dep| part_future(view, dep, context, futures))
        .collect();
    let context = context.clone();
    // Made now, under the request's span, though the part may run later (in a stream's body).
    let span = tracing::debug_span!(
        "part",
        otel.name = %format!("part {}", plan.label),
        tessera.part = %plan.label,
        tessera.upstream = %plan.upstream,
        tessera.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let future = async move {
        let resolved = join_all(dependencies).await;
        Arc::new(run_part(&plan, &context, &resolved).await)
    }
    .instrument(span)
    .boxed()
    .shared();
    futures.insert(name.as_str(), future.clone());
    future
}

/// A part's fetch: its data (or why there is none), the items that failed (per-item parts),
/// and whether the data came from an upstream (else from `empty`, which is not shaped).
struct Fetch {
    result: Result<Served, (PartStatus, PartError)>,
    failed: Vec<ItemFailure>,
    fetched: bool,
}

/// Fetches one part whose dependencies are resolved, within its deadline.
async fn run_part(plan: &PartPlan, context: &RunContext, resolved: &[Arc<Finished>]) -> Finished {
    let started = Instant::now();
    let deadline = context.budget_deadline.min(started + plan.timeout);
    // What the parts this one reads hold: their upstream's data, unshaped.
    let data_of = |part: &str| {
        let index = plan.dependencies.iter().position(|dep| dep == part)?;
        let finished = resolved.get(index)?;
        let outcome = &finished.outcome;
        finished
            .unshaped
            .as_ref()
            .or_else(|| outcome.data.as_ref().filter(|_| outcome.status.has_data()))
    };
    let Fetch {
        result,
        failed,
        fetched,
    } = match &plan.each {
        // Nobody to ask for: no call at all.
        _ if plan.scope == Scope::User && context.caller.is_none() => Fetch {
            result: Err((
                PartStatus::Unauthorized,
                PartError {
                    code: "unauthorized".into(),
                    message: "sign in to see this".into(),
                },
            )),
            failed: Vec::new(),
            fetched: false,
        },
        None => fetch_one(plan, context, &data_of, started, deadline).await,
        Some(each) => fetch_each(plan, each, context, &data_of, started, deadline).await,
    };
    // Shaping: what came from the upstream is kept unshaped for the parts that read it.
    let (result, unshaped) = match result {
        Ok(served) if fetched && !plan.shape.is_identity() => {
            let unshaped = served.data;
            match shape(plan, &unshaped, deadline).await {
                Ok(data) => (Ok(Served { data, ..served }), Some(unshaped)),
                Err(error) => {
                    tracing::warn!(part = %plan.label, %error, "shaping failed");
                    let error = PartError {
                        code: "transform_failed".into(),
                        message: error.to_string(),
                    };
                    (Err((PartStatus::Error, error)), Some(unshaped))
                }
            }
        }
        other => (other, None),
    };
    // A failure, a list with holes, or a shopper's data must not be kept as the rendered
    // view. A user part for nobody signed in holds nothing of anyone's.
    let unauthorized = matches!(&result, Err((PartStatus::Unauthorized, _)));
    let shoppers = plan.scope == Scope::User && context.caller.is_some();
    if (result.is_err() && !unauthorized) || !failed.is_empty() || shoppers {
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
        failed: failed.clone(),
    };
    let outcome = match (result, &plan.fallback) {
        (Ok(served), _) if !failed.is_empty() => {
            let error = PartError {
                code: "partial".into(),
                message: format!("{} of its items failed", failed.len()),
            };
            outcome(PartStatus::Partial, Some(served.data), Some(error))
        }
        (Ok(served), _) => match served.stale_age_s {
            None => outcome(PartStatus::Ok, Some(served.data), None),
            Some(age) => PartOutcome {
                age_s: Some(age),
                ..outcome(PartStatus::Stale, Some(served.data), None)
            },
        },
        // Nobody signed in is not a failure a fallback stands in for.
        (Err((status, error)), Some(fallback)) if status != PartStatus::Unauthorized => {
            outcome(PartStatus::Fallback, Some(fallback.clone()), Some(error))
        }
        (Err((status, error)), _) => outcome(status, None, Some(error)),
    };
    context.metrics.part_done(
        &plan.meters,
        &plan.label,
        outcome.status.as_str(),
        started.elapsed(),
    );
    let span = tracing::Span::current();
    span.record("tessera.outcome", outcome.status.as_str());
    if !outcome.status.has_data() {
        span.record("otel.status_code", "error");
    }
    Finished {
        outcome: Arc::new(outcome),
        unshaped,
    }
}

/// One call for the part.
async fn fetch_one<'a>(
    plan: &PartPlan,
    context: &RunContext,
    data_of: &impl Fn(&str) -> Option<&'a Value>,
    started: Instant,
    deadline: Instant,
) -> Fetch {
    let path = plan.template.render(&context.id, context.page, data_of);
    let (result, fetched) = match path {
        // Nothing to ask for: an empty, successful result (its freshness is its dependency's).
        Err(RenderError::EmptyList(_)) => (Ok(empty(plan)), false),
        Ok(path) => (call(plan, context, &path, started, deadline).await, true),
        Err(e) => (Err(dependency_failed(&e)), true),
    };
    Fetch {
        result,
        failed: Vec::new(),
        fetched,
    }
}

/// One call per item of the part's `each` list, at most `concurrency` at once, all within the
/// part's deadline; the answers in the items' order, `null` for those that failed.
async fn fetch_each<'a>(
    plan: &PartPlan,
    each: &Each,
    context: &RunContext,
    data_of: &impl Fn(&str) -> Option<&'a Value>,
    started: Instant,
    deadline: Instant,
) -> Fetch {
    use futures::StreamExt;
    let items = match each.field.items(data_of(&each.field.part)) {
        Ok(items) if items.len() > MAX_ITEMS => {
            let error = PartError {
                code: "dependency_failed".into(),
                message: format!(
                    "{} items; a per-item part calls for {MAX_ITEMS} at most",
                    items.len()
                ),
            };
            return Fetch {
                result: Err((PartStatus::Error, error)),
                failed: Vec::new(),
                fetched: true,
            };
        }
        Ok(items) => items,
        Err(RenderError::EmptyList(_)) => {
            return Fetch {
                result: Ok(empty(plan)),
                failed: Vec::new(),
                fetched: false,
            };
        }
        Err(e) => {
            return Fetch {
                result: Err(dependency_failed(&e)),
                failed: Vec::new(),
                fetched: true,
            };
        }
    };
    let paths: Vec<_> = items
        .iter()
        .map(|item| {
            let item = item.as_ref().map_err(Clone::clone)?;
            plan.template
                .render_item(&context.id, context.page, Some(item), data_of)
        })
        .collect();
    let calls = paths
        .into_iter()
        .enumerate()
        .map(|(index, path)| async move {
            let answer = match path {
                Ok(path) => call(plan, context, &path, started, deadline).await,
                Err(e) => Err(dependency_failed(&e)),
            };
            (index, answer)
        });
    // Unordered, then sorted: a hanging item holds one slot, not the whole window.
    let mut answers: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(each.concurrency)
        .collect()
        .await;
    answers.sort_unstable_by_key(|(index, _)| *index);
    let answers = answers.into_iter().map(|(_, answer)| answer);
    let mut data = Vec::with_capacity(answers.len());
    let mut failed = Vec::new();
    let mut oldest = None;
    let mut first_error = None;
    for (index, (answer, item)) in answers.into_iter().zip(items).enumerate() {
        let item = item.unwrap_or_default();
        match answer {
            Ok(served) => {
                oldest = oldest.max(served.stale_age_s);
                data.push(served.data);
            }
            Err((status, error)) => {
                data.push(Value::Null);
                first_error.get_or_insert((status, error.clone()));
                failed.push(ItemFailure {
                    index,
                    item,
                    code: error.code,
                    message: error.message,
                });
            }
        }
    }
    let result = match first_error {
        // Not one item: the part failed (with a code of its own, so that the items' 404s or
        // 400s do not become the view's).
        Some((status, error)) if failed.len() == data.len() => Err((
            status,
            PartError {
                code: "items_failed".into(),
                message: format!(
                    "all {} items failed; the first: {}",
                    data.len(),
                    error.message
                ),
            },
        )),
        _ => Ok(Served {
            data: Value::Array(data),
            stale_age_s: oldest,
            fresh: None,
        }),
    };
    Fetch {
        result,
        failed,
        fetched: true,
    }
}

fn empty(plan: &PartPlan) -> Served {
    Served {
        data: plan.empty.clone(),
        stale_age_s: None,
        fresh: None,
    }
}

fn dependency_failed(error: &RenderError) -> (PartStatus, PartError) {
    (
        PartStatus::Error,
        PartError {
            code: "dependency_failed".into(),
            message: error.to_string(),
        },
    )
}

/// One upstream call of the part (through the cache when it has a policy), its freshness
/// noted for the view, its failure in the contract's words.
async fn call(
    plan: &PartPlan,
    context: &RunContext,
    path: &str,
    started: Instant,
    deadline: Instant,
) -> Result<Served, (PartStatus, PartError)> {
    fetch(plan, context, path, deadline, plan.timeout)
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
            let timed_out = matches!(e, UpstreamError::Timeout);
            let status = if timed_out {
                PartStatus::Timeout
            } else {
                PartStatus::Error
            };
            let message = if timed_out {
                format!(
                    "{} did not answer within {} ms",
                    plan.upstream,
                    deadline.saturating_duration_since(started).as_millis()
                )
            } else {
                format!("{} {e}", plan.upstream)
            };
            let code = e.code().to_owned();
            (status, PartError { code, message })
        })
}

/// The part's data shaped for the page: the field steps at once, the transform (if any) off
/// the async threads, within the part's deadline and at most [`TRANSFORM_TIME`]. A run over
/// that cap trips the transform (a runaway filter cannot be stopped, only not run again).
async fn shape(plan: &PartPlan, data: &Value, deadline: Instant) -> Result<Value, TransformError> {
    let fields = plan.shape.fields(data);
    let Some(transform) = plan.shape.transform().cloned() else {
        return Ok(fields);
    };
    let cap = Instant::now() + TRANSFORM_TIME;
    let permit = transform.permit()?;
    let running = transform.clone();
    let (answer, run) = tokio::sync::oneshot::channel();
    // A thread of its own, not the runtime's blocking pool: a runaway run must not hold up
    // the runtime's shutdown, which waits for its blocking tasks.
    std::thread::Builder::new()
        .name("transform".into())
        // Deeply nested values are printed and dropped recursively.
        .stack_size(TRANSFORM_STACK)
        .spawn(move || {
            let _permit = permit;
            let _ = answer.send(running.run(&fields, TRANSFORM_BYTES));
        })
        .map_err(|e| TransformError::Failed(format!("cannot start a thread: {e}")))?;
    let mut run = run;
    match tokio::time::timeout_at(deadline.min(cap), &mut run).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(TransformError::Failed("the transform panicked".into())),
        Err(_) if deadline < cap => {
            // The part gives up, but the run is watched to its cap: one still running then
            // is a runaway, whatever deadline the request had.
            tokio::spawn(async move {
                if tokio::time::timeout_at(cap, run).await.is_err() {
                    transform.trip();
                }
            });
            Err(TransformError::Failed(
                "the transform did not finish within the part's deadline".into(),
            ))
        }
        Err(_) => {
            transform.trip();
            Err(TransformError::Tripped)
        }
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
    let token = match (&context.caller, plan.scope) {
        (Some(caller), Scope::User) => Some(caller.token(&plan.upstream)),
        _ => None,
    };
    let behalf = Behalf {
        request_id,
        forwarded: Some(&context.forwarded),
        bearer: token.as_deref(),
    };
    match &plan.cache {
        // SECURITY: a user part never goes through the cache (validation refuses the
        // setting; this holds whatever the configuration says).
        Some(policy) if plan.scope == Scope::Shared => {
            let vary = context.upstreams.vary(&plan.upstream, &context.forwarded);
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
                    forwarded: &context.forwarded,
                    vary: vary.as_deref(),
                    upstreams: &context.upstreams,
                })
                .await
        }
        _ => match context
            .upstreams
            .get(&plan.upstream, path, deadline, behalf, None)
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

    /// Whether it holds a user part.
    pub(crate) fn is_personal(&self) -> bool {
        self.personal
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
