//! Planning: each configured view turned once, at start-up, into what running it needs —
//! parsed templates, dependencies, deadlines.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::shape::Shape;
use crate::config::template::{FieldRef, Template};
use crate::config::{IdKind, PartCacheConfig, Scope, ViewConfig};
use crate::metrics::{Metrics, PartMeters};

/// One part of a view, ready to run.
#[derive(Debug)]
pub(super) struct PartPlan {
    /// `view.part`, for metrics and logs.
    pub(super) label: String,
    /// Its series, looked up once here.
    pub(super) meters: PartMeters,
    pub(super) upstream: String,
    pub(super) template: Template,
    pub(super) dependencies: Vec<String>,
    pub(super) timeout: Duration,
    pub(super) critical: bool,
    pub(super) fallback: Option<Value>,
    /// The data when a `*` list the path reads is empty.
    pub(super) empty: Value,
    pub(super) cache: Option<PartCacheConfig>,
    /// What the page is given of the upstream's data.
    pub(super) shape: Shape,
    /// For a per-item part: the list it is called for.
    pub(super) each: Option<Each>,
    /// Whose data it is: a user part is fetched with the shopper's token and never cached.
    pub(super) scope: Scope,
}

/// A per-item part's list, and how many calls run at once.
#[derive(Debug)]
pub(super) struct Each {
    pub(super) field: FieldRef,
    pub(super) concurrency: usize,
}

/// A view, ready to run.
#[derive(Debug)]
pub(super) struct ViewPlan {
    pub(super) id: IdKind,
    pub(super) budget: Duration,
    pub(super) parts: BTreeMap<String, Arc<PartPlan>>,
    /// The configuration generation this view's settings date from: part of its rendered
    /// views' keys, so a reload that changes the view never serves one rendered before.
    pub(super) revision: u64,
}

impl ViewPlan {
    /// Whether these parts (all when `None`) hold a user part. A part that reads a user
    /// part is one itself (validation says so), so the parts' own scopes are enough.
    pub(super) fn is_personal(&self, parts: Option<&[String]>) -> bool {
        match parts {
            None => self.parts.values().any(|p| p.scope == Scope::User),
            Some(names) => names
                .iter()
                .any(|n| self.parts.get(n).is_some_and(|p| p.scope == Scope::User)),
        }
    }
}

/// Plans every view of a validated configuration; `revision` gives each view's.
pub(super) fn plan(
    views: &BTreeMap<String, ViewConfig>,
    revision: impl Fn(&str) -> u64,
    metrics: &Metrics,
) -> BTreeMap<String, ViewPlan> {
    views
        .iter()
        .map(|(name, view)| {
            let parts = view
                .parts
                .get_ref()
                .iter()
                .map(|(part_name, part)| {
                    let template = Template::parse(part.path.get_ref())
                        .expect("templates are checked when the configuration is parsed");
                    let each = part.each.as_ref().map(|each| Each {
                        field: FieldRef::parse(each.get_ref())
                            .expect("`each` is checked when the configuration is parsed"),
                        concurrency: *part.each_concurrency.get_ref(),
                    });
                    let mut dependencies: Vec<String> = template
                        .dependencies()
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    if let Some(each) = &each
                        && !dependencies.contains(&each.field.part)
                    {
                        dependencies.push(each.field.part.clone());
                    }
                    let label = format!("{name}.{part_name}");
                    let plan = PartPlan {
                        meters: metrics.part_meters(&label),
                        label,
                        upstream: part.upstream.get_ref().clone(),
                        dependencies,
                        each,
                        template,
                        timeout: part.timeout(),
                        critical: part.critical,
                        fallback: part.fallback.clone(),
                        empty: part.empty.clone().unwrap_or(Value::Null),
                        cache: part.cache.clone(),
                        scope: part.scope_in(view),
                        shape: Shape::parse(&part.shape_spec())
                            .expect("shaping is checked when the configuration is parsed"),
                    };
                    (part_name.clone(), Arc::new(plan))
                })
                .collect();
            let plan = ViewPlan {
                id: view.id,
                budget: Duration::from_millis(*view.budget_ms.get_ref()),
                parts,
                revision: revision(name),
            };
            (name.clone(), plan)
        })
        .collect()
}
