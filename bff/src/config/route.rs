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
use super::types::{Config, Scope};

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
    /// The part whose data the page's first paint shows, drawn by the BFF into the HTML it
    /// serves for this route (from the build's `<template id="tessera-first-paint">`), so the
    /// page's main content is on screen before any script runs. A public part only: the page
    /// is the same for everyone, and a shared cache may keep it.
    #[serde(default)]
    pub first_paint: Option<Spanned<String>>,
    /// How long the page waits for that part before it is served without a first paint, ms.
    #[serde(default = "default_first_paint_wait_ms")]
    pub first_paint_wait_ms: Spanned<u64>,
}

fn default_first_paint_wait_ms() -> Spanned<u64> {
    Spanned::new(0..0, 50)
}

/// The longest a page may be held back for its first paint, ms.
pub const MAX_FIRST_PAINT_WAIT_MS: u64 = 1_000;

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

    /// The view id this route gives `path` (raw, as requested) with `query`, or `None` when
    /// the path is not this route's. Parameters are percent-decoded; `{page}` is read as the
    /// start script reads it (a whole number above 1 that fits a `u32`, else 1).
    pub fn view_id(&self, route: &str, path: &str, query: Option<&str>) -> Option<String> {
        let segments = segments(route).ok()?;
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut values = vec![(PAGE.to_owned(), page_of(query).to_string())];
        for (segment, part) in segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(text) if text == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    let value = percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .ok()?;
                    values.push((name.clone(), value.into_owned()));
                }
            }
        }
        // One pass over the template, so a value is never read as a template itself.
        let template = self.id_template(&segments)?;
        let mut id = String::new();
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}')?;
            let name = &rest[open + 1..close];
            let (_, value) = values.iter().find(|(known, _)| known == name)?;
            id.push_str(&rest[..open]);
            id.push_str(value);
            rest = &rest[close + 1..];
        }
        id.push_str(rest);
        Some(id)
    }
}

/// The `?page=` of `query` (its first, decoded as a form is): 1 unless it is a whole number
/// above 1 that fits a `u32`.
pub fn page_of(query: Option<&str>) -> u32 {
    let value = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find_map(|(key, value)| (key == PAGE).then_some(value));
    value
        .as_deref()
        .map(|v| v.strip_prefix('+').unwrap_or(v))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 1)
        .unwrap_or(1)
}

impl Config {
    /// A first paint shows a public part of the route's view, waited for a bounded time.
    fn validate_first_paint(
        &self,
        key: &str,
        route: &RouteConfig,
        source: &Source,
        errors: &mut Vec<ConfigError>,
    ) {
        let wait = &route.first_paint_wait_ms;
        if !(1..=MAX_FIRST_PAINT_WAIT_MS).contains(wait.get_ref()) {
            errors.push(source.error_at(
                wait.span(),
                format!("{key}.first_paint_wait_ms"),
                format!("must be 1 to {MAX_FIRST_PAINT_WAIT_MS} ms"),
            ));
        }
        let (Some(part), Some(view)) = (&route.first_paint, self.views.get(route.view.get_ref()))
        else {
            return;
        };
        let problem = match view.parts.get_ref().get(part.get_ref()) {
            None => format!(
                "view {:?} has no part {:?}",
                route.view.get_ref(),
                part.get_ref()
            ),
            Some(config) if config.scope_in(view) == Scope::User => format!(
                "part {:?} is one shopper's: a page anyone may be served (and a shared cache \
                 may keep) cannot show it",
                part.get_ref()
            ),
            Some(config) if config.cache.is_none() => format!(
                "part {:?} is not cached: a page that stops waiting for it would cut its \
                 upstream call short every time (give it a `cache`)",
                part.get_ref()
            ),
            Some(_) => return,
        };
        errors.push(source.error_at(part.span(), format!("{key}.first_paint"), problem));
    }

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
            self.validate_first_paint(&key, route, source, errors);
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

    /// A path gives the view id the start script would ask for, or none.
    #[test]
    fn a_path_gives_its_routes_view_id() {
        let route = |id: Option<&str>| RouteConfig {
            view: Spanned::new(0..0, "v".into()),
            id: id.map(|id| Spanned::new(0..0, id.into())),
            paged: false,
            picture: None,
            first_paint: None,
            first_paint_wait_ms: default_first_paint_wait_ms(),
        };
        let product = route(None);
        assert_eq!(
            product
                .view_id("/product/{id}", "/product/4", None)
                .as_deref(),
            Some("4")
        );
        assert_eq!(
            product
                .view_id("/product/{id}", "/product/a%20b/", None)
                .as_deref(),
            Some("a b")
        );
        for path in ["/product/4/x", "/product", "/item/4", "/product/%ff"] {
            assert_eq!(product.view_id("/product/{id}", path, None), None, "{path}");
        }
        let pair = route(Some("{a}-{b}"));
        assert_eq!(
            pair.view_id("/x/{a}/{b}", "/x/%7Bb%7D/2", None).as_deref(),
            Some("{b}-2"),
            "a value is not read as a template"
        );
        let home = route(Some("{page}"));
        for (query, page) in [
            (None, "1"),
            (Some("page=3"), "3"),
            (Some("a=1&page=%2B3&page=4"), "3"),
            (Some("page=+3"), "1"),
            (Some("page=0"), "1"),
            (Some("page=4294967296"), "1"),
            (Some("page=-2"), "1"),
        ] {
            assert_eq!(
                home.view_id("/", "/", query).as_deref(),
                Some(page),
                "{query:?}"
            );
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
        let errors = with(
            "[routes.\"/p/{id}\"]\nview = \"product\"\nfirst_paint = \"purchases\"\n\
             [routes.\"/q/{id}\"]\nview = \"product\"\nfirst_paint = \"nope\"\n\
             first_paint_wait_ms = 0\n\
             [views.t]\nid = \"integer\"\n[views.t.parts.p]\nupstream = \"catalog\"\n\
             path = \"/p/{id}\"\ntimeout_ms = 100\n\
             [routes.\"/r/{id}\"]\nview = \"t\"\nfirst_paint = \"p\"\n\
             [routes.\"/s/{id}\"]\nview = \"product\"\nfirst_paint_wait_ms = 1001",
        );
        assert!(
            errors.contains("routes.\"/p/{id}\".first_paint: part \"purchases\" is one shopper's"),
            "{errors}"
        );
        assert!(
            errors
                .contains("routes.\"/q/{id}\".first_paint: view \"product\" has no part \"nope\""),
            "{errors}"
        );
        assert!(
            errors.contains("routes.\"/q/{id}\".first_paint_wait_ms: must be 1 to 1000 ms"),
            "{errors}"
        );
        assert!(
            errors.contains("routes.\"/r/{id}\".first_paint: part \"p\" is not cached"),
            "{errors}"
        );
        assert!(
            errors.contains("routes.\"/s/{id}\".first_paint_wait_ms: must be 1 to 1000 ms"),
            "{errors}"
        );
        let lines = base.lines().count();
        assert!(
            errors.contains(&format!("t.toml:{}:", lines + 4)),
            "{errors}"
        );
    }
}
