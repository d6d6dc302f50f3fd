//! The route table: which view each page of the front end shows, so the page's HTML can start
//! fetching that view while the wasm is still downloading (see `assets::start`).
//!
//! ```toml
//! [routes."/product/{id}"]
//! view = "product"
//! picture = "/media/images/{id}.svg"
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::source::{ConfigError, Source};
use super::types::Config;

/// One page: its path (the table's key) names parameters as `{name}` segments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The view the page shows.
    pub view: Spanned<String>,
    /// The view's id, a template over the path's parameters and `{page}` (the `?page=`
    /// number, 1 unless given). Default: the path's one parameter.
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    /// Whether the page's `?page=N` is the view's page.
    #[serde(default)]
    pub paged: bool,
    /// The page's critical picture, preloaded with the page: a path on this origin, a template
    /// like `id`.
    #[serde(default)]
    pub picture: Option<Spanned<String>>,
}

/// A path segment of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
}

/// The name `{page}` stands for in templates; no path parameter may take it.
pub const PAGE: &str = "page";

/// A route's path as segments, or why it is not one.
pub fn segments(path: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("a route's path starts with '/'".into());
    };
    let mut segments = Vec::new();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
            if name.is_empty() || !name.bytes().all(word) {
                return Err(format!(
                    "{{{name}}}: a parameter's name is a-z, 0-9 and '_'"
                ));
            }
            if name == PAGE || segments.contains(&Segment::Param(name.to_owned())) {
                return Err(format!(
                    "{{{name}}} is taken (by ?page= or another segment)"
                ));
            }
            segments.push(Segment::Param(name.to_owned()));
        } else if segment.contains(['{', '}', '?', '#', '%', '"', '<', '>', '\\']) {
            return Err(format!(
                "{segment:?}: a literal segment has no braces or URL syntax"
            ));
        } else {
            segments.push(Segment::Literal(segment.to_owned()));
        }
    }
    Ok(segments)
}

/// The names `{…}` in a template, or why it has a stray brace.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        let after = &rest[open + 1..];
        let close = after.find('}').filter(|_| rest.as_bytes()[open] == b'{');
        let Some(close) = close else {
            return Err(format!("{template:?} has an unmatched brace"));
        };
        names.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(names)
}

impl RouteConfig {
    /// The view's id template: `id`, else the path's one parameter.
    pub fn id_template(&self, segments: &[Segment]) -> Option<String> {
        if let Some(id) = &self.id {
            return Some(id.get_ref().clone());
        }
        let mut params = segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name),
            Segment::Literal(_) => None,
        });
        match (params.next(), params.next()) {
            (Some(one), None) => Some(format!("{{{one}}}")),
            _ => None,
        }
    }
}

impl Config {
    /// Every route names a known view, a well-formed path, and templates over its parameters.
    pub(super) fn validate_routes(&self, source: &Source, errors: &mut Vec<ConfigError>) {
        for (path, route) in &self.routes {
            let key = format!("routes.{path:?}");
            let span = route.view.span();
            if !self.views.contains_key(route.view.get_ref()) {
                errors.push(source.error_at(
                    span.clone(),
                    format!("{key}.view"),
                    format!("unknown view {:?}", route.view.get_ref()),
                ));
            }
            let segments = match segments(path) {
                Ok(segments) => segments,
                Err(problem) => {
                    errors.push(source.error_at(span, key, problem));
                    continue;
                }
            };
            let known =
                |name: &str| name == PAGE || segments.contains(&Segment::Param(name.into()));
            let Some(id) = route.id_template(&segments) else {
                errors.push(source.error_at(
                    span,
                    format!("{key}.id"),
                    "needs `id`: the path has no one parameter to be the view's id",
                ));
                continue;
            };
            let id_span = route.id.as_ref().map_or(span.clone(), Spanned::span);
            let templates = [
                (Some((id.as_str(), id_span)), "id"),
                (
                    route
                        .picture
                        .as_ref()
                        .map(|p| (p.get_ref().as_str(), p.span())),
                    "picture",
                ),
            ];
            for (template, field) in templates {
                let Some((text, at)) = template else {
                    continue;
                };
                let problem = match placeholders(text) {
                    Err(problem) => Some(problem),
                    Ok(names) => names.into_iter().find(|name| !known(name)).map(|name| {
                        format!("{{{name}}} is neither a parameter of {path:?} nor {{page}}")
                    }),
                };
                let problem = problem.or_else(|| {
                    let elsewhere = text.starts_with("//") || text.starts_with("/\\");
                    (field == "picture" && (!text.starts_with('/') || elsewhere))
                        .then(|| "a picture is a path on this origin, starting with '/'".into())
                });
                if let Some(problem) = problem {
                    errors.push(source.error_at(at, format!("{key}.{field}"), problem));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_literals_and_named_parameters() {
        assert_eq!(segments("/").unwrap(), []);
        assert_eq!(
            segments("/product/{id}").unwrap(),
            [
                Segment::Literal("product".into()),
                Segment::Param("id".into())
            ]
        );
        for bad in [
            "product",
            "/a/{}",
            "/a/{Id}",
            "/a/{page}",
            "/{a}/{a}",
            "/a?b",
            "/x{y}",
        ] {
            assert!(segments(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_name_their_placeholders() {
        assert_eq!(placeholders("/m/{id}-{page}.svg").unwrap(), ["id", "page"]);
        for bad in ["{id", "id}", "}{"] {
            assert!(placeholders(bad).is_err(), "{bad}");
        }
    }

    /// Each mistake is reported at its own key and line.
    #[test]
    fn check_names_what_is_wrong_with_a_route() {
        let base = super::super::DEFAULT_CONFIG;
        let with = |routes: &str| {
            let text = format!("{base}\n{routes}");
            let errors = Config::parse(&Source::inline("t.toml", text)).unwrap_err();
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let errors = with("[routes.\"/p/{id}\"]\nview = \"nope\"\npicture = \"/m/{size}.svg\"");
        assert!(
            errors.contains("routes.\"/p/{id}\".view: unknown view \"nope\""),
            "{errors}"
        );
        assert!(
            errors.contains("routes.\"/p/{id}\".picture: {size} is neither"),
            "{errors}"
        );
        let errors = with("[routes.\"/a/{x}/{y}\"]\nview = \"product\"");
        assert!(errors.contains(".id: needs `id`"), "{errors}");
        let errors = with("[routes.\"/a\"]\nview = \"product\"\nid = \"{slug\"");
        assert!(errors.contains("unmatched brace"), "{errors}");
        let lines = base.lines().count();
        assert!(
            errors.contains(&format!("t.toml:{}:", lines + 4)),
            "{errors}"
        );
    }
}
