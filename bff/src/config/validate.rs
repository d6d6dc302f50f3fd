//! `check`: what the types alone cannot say — references between sections, templates and
//! their parameters, dependency cycles, zero timeouts — each error located in the file.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::source::{ConfigError, Source};
use super::template::{Param, Template};
use super::types::{Config, ViewConfig};

impl Config {
    /// Cross-references the parts of the configuration: every part names a known upstream, every
    /// template parameter is provided.
    pub(super) fn validate(&self, source: &Source) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (name, upstream) in &self.upstreams {
            let key = format!("upstreams.{name}");
            for url in upstream.url.iter().chain(&upstream.urls) {
                let text = url.get_ref();
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    errors.push(source.error_at(
                        url.span(),
                        format!("{key}.url"),
                        format!("{text:?} is not an http(s) URL"),
                    ));
                }
            }
            if upstream.hosts().next().is_none() {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key.clone(),
                    "needs `url` or `urls`",
                ));
            }
            if upstream.max_concurrency == 0 || upstream.retry.max_attempts == 0 {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key,
                    "max_concurrency and retry.max_attempts must be at least 1",
                ));
            }
        }
        for (name, action) in &self.actions {
            let key = format!("actions.{name}");
            errors.extend(self.unknown_upstream(source, &action.upstream, &key));
            for template in std::iter::once(&action.path).chain(&action.invalidate) {
                let text = template.get_ref().replace("{id}", "1");
                if text.contains(['{', '}']) {
                    errors.push(source.error_at(
                        template.span(),
                        format!("{key}.path"),
                        "only {id} is available in an action's templates",
                    ));
                }
            }
        }
        for (name, media) in &self.media {
            let key = format!("media.{name}");
            errors.extend(self.unknown_upstream(source, &media.upstream, &key));
            let path = media.path.get_ref();
            let rest = path.replacen("{file}", "", 1);
            if !path.starts_with('/') || !path.contains("{file}") || rest.contains(['{', '}']) {
                errors.push(source.error_at(
                    media.path.span(),
                    format!("{key}.path"),
                    "must start with '/' and hold {file} once, and no other parameter",
                ));
            }
            if media.timeout_ms == 0 {
                errors.push(source.error_at(
                    media.path.span(),
                    format!("{key}.timeout_ms"),
                    "must be at least 1",
                ));
            }
        }
        for (view_name, view) in &self.views {
            self.validate_view(source, view_name, view, &mut errors);
        }
        errors
    }

    fn validate_view(
        &self,
        source: &Source,
        view_name: &str,
        view: &ViewConfig,
        errors: &mut Vec<ConfigError>,
    ) {
        let view_key = format!("views.{view_name}");
        if *view.budget_ms.get_ref() == 0 {
            errors.push(source.error_at(
                view.budget_ms.span(),
                format!("{view_key}.budget_ms"),
                "must be greater than 0",
            ));
        }
        if view.parts.get_ref().is_empty() {
            errors.push(source.error_at(
                view.parts.span(),
                format!("{view_key}.parts"),
                "a view needs at least one part",
            ));
        }
        let parts = view.parts.get_ref();
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (part_name, part) in parts {
            let key = format!("{view_key}.parts.{part_name}");
            errors.extend(self.unknown_upstream(source, &part.upstream, &key));
            if *part.timeout_ms.get_ref() == 0 {
                errors.push(source.error_at(
                    part.timeout_ms.span(),
                    format!("{key}.timeout_ms"),
                    "must be greater than 0",
                ));
            }
            let template = match Template::parse(part.path.get_ref()) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(source.error_at(
                        part.path.span(),
                        format!("{key}.path"),
                        e.to_string(),
                    ));
                    continue;
                }
            };
            for param in template.params() {
                let unprovided = match param {
                    Param::Id | Param::Page => continue,
                    Param::Unknown(name) => format!("{{{name}}}"),
                    Param::Field { part: dep, .. } if parts.contains_key(dep) => continue,
                    Param::Field { part: dep, .. } => {
                        format!("{{{dep}.…}} (no part {dep:?} in this view)")
                    }
                };
                errors.push(source.error_at(
                    part.path.span(),
                    format!("{key}.path"),
                    format!("nothing provides the template parameter {unprovided}"),
                ));
            }
            let deps = template
                .dependencies()
                .into_iter()
                .filter_map(|d| parts.get_key_value(d).map(|(k, _)| k.as_str()))
                .collect();
            graph.insert(part_name, deps);
        }
        for cycle in cycles(&graph) {
            let first = &parts[cycle[0]];
            errors.push(source.error_at(
                first.path.span(),
                format!("{view_key}.parts.{}.path", cycle[0]),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
    }

    /// An error at `{key}.upstream` if it names no configured upstream.
    fn unknown_upstream(
        &self,
        source: &Source,
        upstream: &Spanned<String>,
        key: &str,
    ) -> Option<ConfigError> {
        (!self.upstreams.contains_key(upstream.get_ref())).then(|| {
            source.error_at(
                upstream.span(),
                format!("{key}.upstream"),
                format!("unknown upstream {:?}", upstream.get_ref()),
            )
        })
    }

    /// Where `[upstreams.<name>]` starts, for errors about the table as a whole.
    fn upstream_span(&self, source: &Source, name: &str) -> Range<usize> {
        let header = format!("[upstreams.{name}]");
        let start = source.text.find(&header).unwrap_or(0);
        start..start + header.len()
    }
}

/// Every dependency cycle of a view's parts, each once, as `a -> b -> a` starting from its
/// alphabetically first part.
fn cycles<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    for &start in graph.keys() {
        // Depth-first search for a path from `start` back to itself through parts named after it
        // (so each cycle is reported from its first part only).
        let mut stack = vec![(start, vec![start])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for &next in graph.get(node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start);
                    found.push(cycle);
                    stack.clear();
                    break;
                }
                if next > start && seen.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    found
}
