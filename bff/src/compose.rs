//! Composite views: the parts of a view run concurrently, a part that reads another part's data
//! starts the moment that part is done, every part has a deadline inside the view's budget, and
//! outcomes come out in completion order (for streaming) or all together (for one document).
//!
//! Nothing here is spawned: an [`Execution`] is a set of lazy futures polled by whoever reads
//! it, so when the client goes away and the response is dropped, every upstream call it started
//! is dropped — and its connection closed — with it.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use futures::future::{BoxFuture, FutureExt, Shared, join_all};
use futures::stream::{FuturesUnordered, Stream};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tessera_contract::{PartError, PartOutcome, PartStatus, ViewEnvelope};
use tokio::time::Instant;

use crate::cache::{Lookup, PartCache, Served};
use crate::config::{IdKind, PartCacheConfig, ViewConfig};
use crate::error::AppError;
use crate::template::Template;
use crate::upstream::{Fetched, UpstreamError};

/// One part of a view, ready to run.
#[derive(Debug)]
struct PartPlan {
    /// `view.part`, for metrics and logs.
    label: String,
    upstream: String,
    template: Template,
    dependencies: Vec<String>,
    timeout: Duration,
    critical: bool,
    fallback: Option<Value>,
    cache: Option<PartCacheConfig>,
}

/// A view, ready to run.
#[derive(Debug)]
struct ViewPlan {
    id: IdKind,
    budget: Duration,
    parts: BTreeMap<String, Arc<PartPlan>>,
}

/// The views of the configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Composer {
    views: Arc<BTreeMap<String, ViewPlan>>,
    cache: PartCache,
}

/// What one request asks of a view.
#[derive(Debug, Default, Clone)]
pub struct Request {
    /// Only these parts (and what they need); all when `None`.
    pub parts: Option<Vec<String>>,
    /// A budget shorter than the view's own.
    pub budget: Option<Duration>,
    /// The page asked for, the `{page}` of templates; 1 when `None`.
    pub page: Option<u32>,
    /// Passed on to every upstream call.
    pub request_id: Option<String>,
}

type PartFuture = Shared<BoxFuture<'static, Arc<PartOutcome>>>;
type NamedFuture = BoxFuture<'static, (Arc<str>, Arc<PartOutcome>)>;

/// A running view: its requested parts, yielded as each one finishes.
pub struct Execution {
    context: Arc<RunContext>,
    view: String,
    id: String,
    started: Instant,
    requested: Vec<Arc<str>>,
    pending: FuturesUnordered<NamedFuture>,
}

/// A finished view and the HTTP status it should be sent with.
#[derive(Debug)]
pub struct Rendered {
    pub status: StatusCode,
    pub envelope: ViewEnvelope,
    /// When every part came fresh from the cache: the entries' keys, and until when (unix ms)
    /// all of them stay fresh — how long this very response may be served again.
    pub reusable: Option<(Vec<String>, u64)>,
}

impl Composer {
    /// Plans every view of a validated configuration.
    pub fn new(views: &BTreeMap<String, ViewConfig>, cache: PartCache) -> Self {
        let views = views
            .iter()
            .map(|(name, view)| {
                let parts = view
                    .parts
                    .get_ref()
                    .iter()
                    .map(|(part_name, part)| {
                        let template = Template::parse(part.path.get_ref())
                            .expect("templates are checked when the configuration is parsed");
                        let plan = PartPlan {
                            label: format!("{name}.{part_name}"),
                            upstream: part.upstream.get_ref().clone(),
                            dependencies: template
                                .dependencies()
                                .into_iter()
                                .map(str::to_owned)
                                .collect(),
                            template,
                            timeout: part.timeout(),
                            critical: part.critical,
                            fallback: part.fallback.clone(),
                            cache: part.cache.clone(),
                        };
                        (part_name.clone(), Arc::new(plan))
                    })
                    .collect();
                let plan = ViewPlan {
                    id: view.id,
                    budget: Duration::from_millis(*view.budget_ms.get_ref()),
                    parts,
                };
                (name.clone(), plan)
            })
            .collect();
        Self {
            views: Arc::new(views),
            cache,
        }
    }

    /// Checks the request and sets up the view's parts; nothing runs until the [`Execution`] is
    /// polled.
    pub fn start(
        &self,
        view_name: &str,
        id: &str,
        request: Request,
    ) -> Result<Execution, AppError> {
        let view = self
            .views
            .get(view_name)
            .ok_or_else(|| AppError::NotFound(format!("no view named {view_name:?}")))?;
        validate_id(view.id, id)?;
        let requested: Vec<String> = match request.parts {
            None => view.parts.keys().cloned().collect(),
            Some(names) => {
                if let Some(unknown) = names.iter().find(|n| !view.parts.contains_key(n.as_str())) {
                    let known: Vec<&str> = view.parts.keys().map(String::as_str).collect();
                    return Err(AppError::BadRequest(format!(
                        "view {view_name:?} has no part {unknown:?} (it has: {})",
                        known.join(", ")
                    )));
                }
                names
            }
        };

        let started = Instant::now();
        let budget = request.budget.map_or(view.budget, |b| b.min(view.budget));
        let context = Arc::new(RunContext {
            fresh: Mutex::new(Some(Vec::new())),
            cache: self.cache.clone(),
            id: id.to_owned(),
            page: request.page.unwrap_or(1),
            request_id: request.request_id,
            budget_deadline: started + budget,
        });
        let mut futures = HashMap::new();
        let pending = FuturesUnordered::new();
        let mut names = Vec::with_capacity(requested.len());
        for name in requested {
            let name: Arc<str> = name.into();
            let future = part_future(view, &name, &context, &mut futures);
            let tagged = name.clone();
            pending.push(async move { (tagged, future.await) }.boxed());
            names.push(name);
        }
        Ok(Execution {
            context,
            view: view_name.to_owned(),
            id: id.to_owned(),
            started,
            requested: names,
            pending,
        })
    }
}

/// What every part of one execution shares.
#[derive(Debug)]
struct RunContext {
    /// Fresh cache entries the parts were served from, or `None` once any part was not.
    fresh: Mutex<Option<Vec<(String, u64)>>>,
    cache: PartCache,
    id: String,
    page: u32,
    request_id: Option<String>,
    budget_deadline: Instant,
}

/// The shared future of `name`, created once per execution with the futures of its
/// dependencies (validation has ruled out cycles).
fn part_future(
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
            .cache
            .upstreams()
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
    pub fn view(&self) -> &str {
        &self.view
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Waits for every requested part and assembles the view.
    pub async fn collect(mut self) -> Result<Rendered, AppError> {
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
        let status = view_status(parts.values());
        let reusable = self
            .context
            .fresh
            .lock()
            .expect("freshness lock")
            .take()
            .filter(|entries| !entries.is_empty())
            .map(|entries| {
                let until = entries.iter().map(|(_, until)| *until).min().unwrap_or(0);
                (entries.into_iter().map(|(key, _)| key).collect(), until)
            });
        if status == StatusCode::NOT_FOUND {
            return Err(AppError::NotFound(format!(
                "no {} with id {}",
                self.view, self.id
            )));
        }
        Ok(Rendered {
            status,
            reusable,
            envelope: ViewEnvelope {
                complete: is_complete(parts.values()),
                view: self.view,
                id: self.id,
                elapsed_ms,
                parts,
            },
        })
    }
}

impl Stream for Execution {
    type Item = (Arc<str>, Arc<PartOutcome>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.pending).poll_next(cx)
    }
}

/// The HTTP status of a view: it follows the critical parts only. A critical part the upstream
/// does not know makes the view 404; otherwise a timed-out one makes it 504, a failed one 502.
pub fn view_status<'a>(parts: impl IntoIterator<Item = &'a PartOutcome>) -> StatusCode {
    let mut status = StatusCode::OK;
    for outcome in parts.into_iter().filter(|o| o.critical) {
        let part_status = part_status(outcome);
        let rank = |s: StatusCode| match s {
            StatusCode::NOT_FOUND => 3,
            StatusCode::GATEWAY_TIMEOUT => 2,
            StatusCode::BAD_GATEWAY => 1,
            _ => 0,
        };
        if rank(part_status) > rank(status) {
            status = part_status;
        }
    }
    status
}

/// The HTTP status one part would have on its own.
pub fn part_status(outcome: &PartOutcome) -> StatusCode {
    match (&outcome.status, outcome.error.as_ref()) {
        (s, _) if s.has_data() => StatusCode::OK,
        (_, Some(e)) if e.code == "not_found" => StatusCode::NOT_FOUND,
        (PartStatus::Timeout, _) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// A view is complete when every part has fresh data of its own.
pub fn is_complete<'a>(parts: impl IntoIterator<Item = &'a PartOutcome>) -> bool {
    parts.into_iter().all(|o| o.status == PartStatus::Ok)
}

/// A weak entity tag over what a view says — each part's status, data and error code — and not
/// over its timings, so the same content has the same tag from one request to the next.
pub fn etag<'a>(
    view: &str,
    id: &str,
    parts: impl IntoIterator<Item = (&'a str, &'a PartOutcome)>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(view.as_bytes());
    hasher.update([0]);
    hasher.update(id.as_bytes());
    for (name, outcome) in parts {
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(outcome.status.as_str().as_bytes());
        hasher.update([0]);
        if let Some(data) = &outcome.data {
            // Serializing a Value cannot fail; object keys keep their order.
            hasher.update(serde_json::to_vec(data).unwrap_or_default());
        }
        if let Some(error) = &outcome.error {
            hasher.update(error.code.as_bytes());
        }
    }
    let digest = hasher.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Rejects ids that are not of the view's kind, before anything is called with them.
pub fn validate_id(kind: IdKind, id: &str) -> Result<(), AppError> {
    let ok = match kind {
        IdKind::Integer => id.parse::<u64>().is_ok_and(|n| n > 0) && id.len() <= 19,
        IdKind::Slug => {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
    };
    if ok {
        Ok(())
    } else {
        let expected = match kind {
            IdKind::Integer => "a positive integer",
            IdKind::Slug => "letters, digits, '-' or '_' (at most 64)",
        };
        Err(AppError::BadRequest(format!(
            "malformed id {id:?}: expected {expected}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_by_kind() {
        assert!(validate_id(IdKind::Integer, "42").is_ok());
        for bad in ["0", "-3", "4x", "", "1e3", "../1", "99999999999999999999"] {
            assert!(validate_id(IdKind::Integer, bad).is_err(), "{bad}");
        }
        assert!(validate_id(IdKind::Slug, "coffee-tea_2").is_ok());
        for bad in ["", "a/b", "a%2F", "a b", &"x".repeat(65)] {
            assert!(validate_id(IdKind::Slug, bad).is_err(), "{bad}");
        }
    }

    fn outcome(status: PartStatus, critical: bool, code: Option<&str>) -> PartOutcome {
        PartOutcome {
            status,
            critical,
            elapsed_ms: 1,
            age_s: None,
            data: status.has_data().then(|| serde_json::json!({"a": 1})),
            error: code.map(|c| PartError {
                code: c.into(),
                message: String::new(),
            }),
        }
    }

    #[test]
    fn the_status_follows_critical_parts_only() {
        use PartStatus::*;
        let ok = outcome(Ok, true, None);
        let optional_failed = outcome(Error, false, Some("unavailable"));
        let timed_out = outcome(Timeout, true, Some("timeout"));
        let failed = outcome(Error, true, Some("unavailable"));
        let missing = outcome(Error, true, Some("not_found"));
        let fallback = outcome(Fallback, true, Some("unavailable"));
        assert_eq!(
            view_status([&ok, &optional_failed, &fallback]),
            StatusCode::OK
        );
        assert_eq!(view_status([&ok, &failed]), StatusCode::BAD_GATEWAY);
        assert_eq!(
            view_status([&failed, &timed_out]),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            view_status([&timed_out, &missing, &failed]),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn etags_ignore_timings_but_not_content() {
        let a = outcome(PartStatus::Ok, true, None);
        let mut slower = a.clone();
        slower.elapsed_ms = 999;
        let mut changed = a.clone();
        changed.data = Some(serde_json::json!({"a": 2}));
        let tag = |o: &PartOutcome| etag("v", "1", [("p", o)]);
        assert_eq!(tag(&a), tag(&slower));
        assert_ne!(tag(&a), tag(&changed));
        assert_ne!(etag("v", "1", [("p", &a)]), etag("v", "2", [("p", &a)]));
        assert!(tag(&a).starts_with("W/\""));
    }
}
