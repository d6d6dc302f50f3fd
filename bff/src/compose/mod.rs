//! Composite views: the parts of a view run concurrently, a part that reads another part's data
//! starts the moment that part is done, every part has a deadline inside the view's budget, and
//! outcomes come out in completion order (for streaming) or all together (for one document).
//!
//! Nothing here is spawned: an [`Execution`] is a set of lazy futures polled by whoever reads
//! it, so when the client goes away and the response is dropped, every upstream call it started
//! is dropped — and its connection closed — with it.
//!
//! - `plan`: views planned once, at start-up;
//! - `execution`: running one view, part by part;
//! - `verdict`: what the outcomes add up to, and the view's entity tag.

mod execution;
mod plan;
mod verdict;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::FutureExt;
use futures::stream::FuturesUnordered;
use tessera_contract::PartOutcome;
use tokio::time::Instant;

use crate::cache::{PartCache, RenderedView, edge_tags};
use crate::config::{MalformedId, ViewConfig};
use crate::identity::Caller;
use crate::metrics::Metrics;
use crate::upstream::Upstreams;
pub(crate) use execution::Execution;
use execution::{RunContext, part_future};
use plan::{ViewPlan, plan};
pub(crate) use verdict::{Verdict, etag, is_complete};

/// The views of the configuration, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Composer {
    views: Arc<BTreeMap<String, ViewPlan>>,
    cache: PartCache,
    upstreams: Arc<Upstreams>,
    metrics: Metrics,
}

/// What one request asks of a view.
#[derive(Debug, Default, Clone)]
pub(crate) struct ViewRequest {
    /// Only these parts (and what they need); all when `None`.
    pub parts: Option<Vec<String>>,
    /// A budget shorter than the view's own.
    pub budget: Option<Duration>,
    /// The page asked for, the `{page}` of templates; 1 when `None`.
    pub page: Option<u32>,
    /// Passed on to every upstream call.
    pub request_id: Option<String>,
    /// The signed-in shopper, for user parts; `None` makes them `unauthorized`.
    pub caller: Option<Arc<Caller>>,
    /// The request's headers some upstream passes on ([`Upstreams::forwarded`]).
    pub forwarded: Arc<http::HeaderMap>,
}

impl ViewRequest {
    /// The key of this request's rendered view: the view (and its revision), the id, the
    /// parts, the page and the forwarded headers.
    fn rendered_key(&self, view: &str, revision: u64, id: &str) -> String {
        let mut key = format!(
            "{view}@{revision}/{id}?{}&{}",
            self.parts
                .as_ref()
                .map_or_else(|| "*".into(), |p| p.join(",")),
            self.page.unwrap_or(1)
        );
        for (name, value) in self.forwarded.iter() {
            key.push_str(&format!(
                "#{name}={}",
                crate::upstream::key_text(value.as_bytes())
            ));
        }
        key
    }
}

/// Why a view could not be run for a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ComposeError {
    #[error("no view named {0:?}")]
    UnknownView(String),
    #[error(transparent)]
    MalformedId(#[from] MalformedId),
    #[error("view {view:?} has no part {part:?} (it has: {known})")]
    UnknownPart {
        view: String,
        part: String,
        known: String,
    },
    /// A critical part's upstream does not know the id.
    #[error("no {view} with id {id}")]
    NotFound { view: String, id: String },
    /// A critical part's upstream refused a value the client supplied (the id or the page).
    #[error("{view} {id}: {reason}")]
    Rejected {
        view: String,
        id: String,
        reason: String,
    },
    /// A critical part belongs to a shopper, and nobody is signed in.
    #[error("sign in to see {view} {id}")]
    Unauthorized { view: String, id: String },
}

/// A view as one JSON document.
#[derive(Debug)]
pub(crate) struct Document {
    pub verdict: Verdict,
    pub body: Bytes,
    pub etag: String,
    /// For a view made only of fresh shared parts: how long a shared cache in front may keep
    /// it, and its tags.
    pub edge: Option<Edge>,
    /// A word per part for the access log (`product:ok reviews:timeout`), or `rendered`.
    pub summary: String,
}

/// What a shared cache in front may do with a view: keep it `max_age_s` (its parts' least
/// freshness left), serve it stale while revalidating for `revalidate_s`, and purge it by
/// `tags` (see [`crate::cache::edge_tags`]).
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub max_age_s: u64,
    pub revalidate_s: u64,
    /// Computed once per rendering (hashing every scope of every key is not per-request work).
    pub tags: http::HeaderValue,
}

impl Edge {
    /// `None` when the view is fresh for less than a second.
    fn of(valid_until_ms: u64, revalidate_ms: u64, tags: &http::HeaderValue) -> Option<Self> {
        let max_age_s = valid_until_ms.saturating_sub(crate::ops::now_unix_ms()) / 1000;
        (max_age_s > 0).then(|| Self {
            max_age_s,
            revalidate_s: revalidate_ms / 1000,
            tags: tags.clone(),
        })
    }

    /// The tags of a view made from `keys`, as a header value.
    fn tags<'a>(keys: impl IntoIterator<Item = &'a str>) -> http::HeaderValue {
        // Tags are hex digits and spaces: always a valid header value.
        http::HeaderValue::from_str(&edge_tags(keys)).unwrap_or(http::HeaderValue::from_static(""))
    }
}

/// One part's outcome on its own.
#[derive(Debug)]
pub(crate) struct PartAnswer {
    pub outcome: PartOutcome,
    pub verdict: Verdict,
    pub etag: String,
}

impl Composer {
    /// Plans every view of a validated configuration; `revision` says which configuration
    /// generation each view's settings date from.
    pub(crate) fn new(
        views: &BTreeMap<String, ViewConfig>,
        revision: impl Fn(&str) -> u64,
        cache: PartCache,
        upstreams: Arc<Upstreams>,
        metrics: Metrics,
    ) -> Self {
        let views = plan(views, revision, &metrics);
        Self {
            views: Arc::new(views),
            cache,
            upstreams,
            metrics,
        }
    }

    /// The revision of view `name` (see [`ViewPlan::revision`]).
    pub(crate) fn revision(&self, name: &str) -> Option<u64> {
        self.views.get(name).map(|view| view.revision)
    }

    /// Whether a request for these parts of view `name` (all when `None`) is personal:
    /// it holds a user part, or the view is unknown (then it fails anyway).
    pub(crate) fn is_personal(&self, name: &str, parts: Option<&[String]>) -> bool {
        self.views
            .get(name)
            .is_none_or(|view| view.is_personal(parts))
    }

    /// The request headers some upstream passes on, picked from `headers`.
    pub(crate) fn forwarded(&self, headers: &http::HeaderMap) -> Arc<http::HeaderMap> {
        Arc::new(self.upstreams.forwarded(headers))
    }

    /// The configured view's own name, if there is one called `name`.
    pub(crate) fn view_name(&self, name: Option<&str>) -> Option<&str> {
        self.views.get_key_value(name?).map(|(key, _)| key.as_str())
    }

    /// The plan of a view, if the request is one it can answer: a known view, an id of its
    /// kind, parts it has.
    fn check(
        &self,
        view_name: &str,
        id: &str,
        parts: Option<&[String]>,
    ) -> Result<&ViewPlan, ComposeError> {
        let view = self
            .views
            .get(view_name)
            .ok_or_else(|| ComposeError::UnknownView(view_name.to_owned()))?;
        view.id.check(id)?;
        let unknown = parts
            .into_iter()
            .flatten()
            .find(|n| !view.parts.contains_key(n.as_str()));
        if let Some(unknown) = unknown {
            let known: Vec<&str> = view.parts.keys().map(String::as_str).collect();
            return Err(ComposeError::UnknownPart {
                view: view_name.to_owned(),
                part: unknown.clone(),
                known: known.join(", "),
            });
        }
        Ok(view)
    }

    /// Checks the request and sets up the view's parts; nothing runs until the [`Execution`] is
    /// polled.
    pub(crate) fn start(
        &self,
        view_name: &str,
        id: &str,
        request: ViewRequest,
    ) -> Result<Execution, ComposeError> {
        let view = self.check(view_name, id, request.parts.as_deref())?;
        let personal = view.is_personal(request.parts.as_deref());
        let requested: Vec<String> = request
            .parts
            .unwrap_or_else(|| view.parts.keys().cloned().collect());

        let started = Instant::now();
        let budget = request.budget.map_or(view.budget, |b| b.min(view.budget));
        let context = Arc::new(RunContext {
            fresh: Mutex::new(Some(Vec::new())),
            cache: self.cache.clone(),
            upstreams: self.upstreams.clone(),
            metrics: self.metrics.clone(),
            id: id.to_owned(),
            page: request.page.unwrap_or(1),
            request_id: request.request_id,
            caller: request.caller,
            forwarded: request.forwarded,
            budget_deadline: started + budget,
        });
        let mut futures = HashMap::new();
        let pending = FuturesUnordered::new();
        let mut names = Vec::with_capacity(requested.len());
        for name in requested {
            let name: Arc<str> = name.into();
            let future = part_future(view, &name, &context, &mut futures);
            let tagged = name.clone();
            pending.push(async move { (tagged, future.await.outcome.clone()) }.boxed());
            names.push(name);
        }
        Ok(Execution {
            personal,
            context,
            view: view_name.to_owned(),
            id: id.to_owned(),
            started,
            requested: names,
            pending,
        })
    }

    /// The view as one JSON document. A view whose parts are all still fresh in the cache is
    /// served as it was rendered; a newly composed one is kept for that while it can be.
    pub(crate) async fn document(
        &self,
        view: &str,
        id: &str,
        request: ViewRequest,
    ) -> Result<Document, ComposeError> {
        // Checked first: a rendered copy must never answer a request the view would refuse.
        let plan = self.check(view, id, request.parts.as_deref())?;
        let revision = plan.revision;
        // SECURITY: a view holding a shopper's part is never kept rendered, nor answered
        // from a rendered copy. Signed out, its user parts hold nothing, and its rendered
        // copy is one of its own.
        let personal = plan.is_personal(request.parts.as_deref());
        let renderable = !personal || request.caller.is_none();
        let whose = personal.then(|| whose(request.caller.as_deref()));
        let key = renderable.then(|| {
            let mut key = request.rendered_key(view, revision, id);
            if personal {
                key.push_str("~signed-out");
            }
            key
        });
        if let Some(key) = &key
            && let Some(rendered) = self.cache.rendered(key)
        {
            self.metrics.rendered_hit(view);
            let edge = rendered
                .tags
                .as_ref()
                .and_then(|tags| Edge::of(rendered.valid_until_ms, rendered.revalidate_ms, tags));
            return Ok(Document {
                verdict: Verdict::Ok,
                body: rendered.body.clone(),
                etag: rendered.etag.clone(),
                edge,
                summary: "rendered".into(),
            });
        }
        // Taken before composing: an invalidation from now on keeps this view out of the cache.
        let mark = self.cache.invalidation_mark();
        let composed = self.start(view, id, request)?.collect().await;
        refuse(composed.verdict, view, id, composed.envelope.parts.values())?;
        let envelope = &composed.envelope;
        let etag = etag(
            &envelope.view,
            &envelope.id,
            whose.as_deref(),
            envelope.parts.iter().map(|(n, o)| (n.as_str(), o)),
        );
        let body = Bytes::from(serde_json::to_vec(envelope).expect("envelopes serialize"));
        let summary = envelope
            .parts
            .iter()
            .map(|(name, outcome)| format!("{name}:{}", outcome.status.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut edge = None;
        if let Some(key) = key
            && composed.verdict == Verdict::Ok
            && !composed.fresh.is_empty()
        {
            let valid_until_ms = composed
                .fresh
                .iter()
                .map(|f| f.fresh_until_ms)
                .min()
                .unwrap_or(0);
            let revalidate_ms = composed
                .fresh
                .iter()
                .map(|f| f.revalidate_ms)
                .min()
                .unwrap_or(0);
            let keys: Vec<String> = composed.fresh.into_iter().map(|f| f.key).collect();
            // A personal view's rendering (signed out) is never offered to a shared cache.
            let tags = (!personal).then(|| Edge::tags(keys.iter().map(String::as_str)));
            if let Some(tags) = &tags {
                edge = Edge::of(valid_until_ms, revalidate_ms, tags);
            }
            let view = RenderedView {
                body: body.clone(),
                etag: etag.clone(),
                tags,
                keys,
                valid_until_ms,
                revalidate_ms,
            };
            self.cache.keep_rendered(key, view, mark);
        }
        Ok(Document {
            verdict: composed.verdict,
            body,
            etag,
            edge,
            summary,
        })
    }

    /// One part of a view alone (with whatever it depends on), for tiles that load on their own.
    pub(crate) async fn part(
        &self,
        view: &str,
        part: &str,
        id: &str,
        request: ViewRequest,
    ) -> Result<PartAnswer, ComposeError> {
        let request = ViewRequest {
            parts: Some(vec![part.to_owned()]),
            ..request
        };
        let caller = request.caller.clone();
        let mut execution = self.start(view, id, request)?;
        let (_, outcome) = execution
            .next()
            .await
            .expect("an execution yields every requested part");
        let personal = execution.personal;
        drop(execution);
        // The execution is gone, so the outcome moves out without a copy.
        let outcome = Arc::try_unwrap(outcome).unwrap_or_else(|shared| (*shared).clone());
        let verdict = Verdict::of_part(&outcome);
        refuse(verdict, view, id, [&outcome])?;
        let whose = personal.then(|| whose(caller.as_deref()));
        let etag = etag(view, id, whose.as_deref(), [(part, &outcome)]);
        Ok(PartAnswer {
            outcome,
            verdict,
            etag,
        })
    }
}

/// The client's own mistakes, as errors: an id no critical part's upstream knows, or a value it
/// refused (the first such part's message says why).
fn refuse<'a>(
    verdict: Verdict,
    view: &str,
    id: &str,
    outcomes: impl IntoIterator<Item = &'a PartOutcome>,
) -> Result<(), ComposeError> {
    match verdict {
        Verdict::NotFound => Err(ComposeError::NotFound {
            view: view.to_owned(),
            id: id.to_owned(),
        }),
        Verdict::Rejected => Err(ComposeError::Rejected {
            view: view.to_owned(),
            id: id.to_owned(),
            reason: outcomes
                .into_iter()
                .find_map(|o| o.error.as_ref().filter(|e| e.code == "rejected"))
                .map_or_else(|| "refused".to_owned(), |e| e.message.clone()),
        }),
        Verdict::Unauthorized => Err(ComposeError::Unauthorized {
            view: view.to_owned(),
            id: id.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Who a personal answer is for, in its entity tag: two shoppers never share one.
fn whose(caller: Option<&Caller>) -> String {
    caller.map_or_else(
        || "signed out".to_owned(),
        |c| format!("user {}", c.shopper.id),
    )
}
