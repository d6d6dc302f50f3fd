//! Path templates of parts: `/products/{id}/reviews?per_page=5`,
//! `/categories/{product.category.slug}/recommendations`, `/stock?ids={products.items.*.id}`.
//!
//! A parameter is the view's `{id}`, the requested `{page}` (1 unless the client asks for
//! another with `?page=`), or a field of another part's data: the part's name, then
//! object keys or array indices separated by dots, where `*` takes the field of every element
//! and joins the values with commas. A template that reads another part makes that part a
//! dependency. Values are percent-encoded, so data can never change the shape of a path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Bytes left as they are in a rendered value: RFC 3986 unreserved characters.
pub(crate) const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(Param),
}

/// Where a parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    /// The view's id.
    Id,
    /// The page the client asked for.
    Page,
    /// One item of a per-item part's list (`each`).
    Item,
    /// A field of another part's data.
    Field { part: String, steps: Vec<Step> },
    /// A bare name that is neither `id` nor `part.field`: nothing provides it.
    Unknown(String),
}

/// One step into a part's JSON data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
    /// Every element of an array.
    Each,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("a path template must start with '/'")]
    NotAbsolute,
    #[error("unclosed '{{' in the path template")]
    Unclosed,
    #[error("stray '}}' in the path template")]
    StrayClose,
    #[error(
        "malformed template parameter {{{0}}}: use {{id}}, {{page}}, {{item}} or {{part.field}}"
    )]
    Malformed(String),
}

/// Why a template could not be filled in for one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("needs part {0:?}, which has no data")]
    MissingPart(String),
    #[error("{0} is missing or not a string, number or list of them")]
    MissingField(String),
    /// SECURITY: `.` or `..` as a value would be a dot segment and move the request to another
    /// path of the upstream. Encoding cannot help: URL parsers (reqwest's among them) read
    /// `%2e%2e` as `..` too, so such a value is refused.
    #[error("{0} is a dot segment ({1:?}), which would change the path")]
    DotSegment(String, String),
    /// Not a failure: every `*` the field went through was an empty list (a page past the
    /// end), so there is nothing to ask the upstream for. The part's result is empty.
    #[error("{0} is an empty list: nothing to ask for")]
    EmptyList(String),
}

impl Template {
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        if !text.starts_with('/') {
            return Err(TemplateError::NotAbsolute);
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(TemplateError::StrayClose);
            }
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(TemplateError::Unclosed)?;
            segments.push(Segment::Param(parse_param(&after[..close])?));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        Ok(Self { segments })
    }

    pub(crate) fn params(&self) -> impl Iterator<Item = &Param> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(p) => Some(p),
            Segment::Literal(_) => None,
        })
    }

    /// The parts this template reads, each once.
    pub(crate) fn dependencies(&self) -> Vec<&str> {
        let mut deps: Vec<&str> = self
            .params()
            .filter_map(|p| match p {
                Param::Field { part, .. } => Some(part.as_str()),
                _ => None,
            })
            .collect();
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    /// Fills in the template for `id` and `page`, reading other parts' data through `data_of`.
    pub(crate) fn render<'a>(
        &self,
        id: &str,
        page: u32,
        data_of: impl Fn(&str) -> Option<&'a Value>,
    ) -> Result<String, RenderError> {
        self.render_item(id, page, None, data_of)
    }

    /// [`Template::render`] for one item of a per-item part.
    pub(crate) fn render_item<'a>(
        &self,
        id: &str,
        page: u32,
        item: Option<&str>,
        data_of: impl Fn(&str) -> Option<&'a Value>,
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Param(Param::Id) => out.extend(utf8_percent_encode(id, VALUE)),
                Segment::Param(Param::Item) => {
                    let item = item.ok_or_else(|| RenderError::MissingField("item".into()))?;
                    // An empty item would leave an empty segment: `/products//x`.
                    if item.is_empty() || item == "." || item == ".." {
                        return Err(RenderError::DotSegment("item".into(), item.to_owned()));
                    }
                    out.extend(utf8_percent_encode(item, VALUE));
                }
                Segment::Param(Param::Page) => out.push_str(&page.to_string()),
                Segment::Param(Param::Field { part, steps }) => {
                    let data =
                        data_of(part).ok_or_else(|| RenderError::MissingPart(part.clone()))?;
                    let mut found = Found::default();
                    collect(data, steps, &mut found);
                    let missing = || RenderError::MissingField(describe(part, steps));
                    if found.values.is_empty() {
                        return Err(found.nothing(describe(part, steps)));
                    }
                    let values = found.values;
                    for (i, value) in values.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let text = match value {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            _ => return Err(missing()),
                        };
                        if text == "." || text == ".." {
                            return Err(RenderError::DotSegment(describe(part, steps), text));
                        }
                        out.extend(utf8_percent_encode(&text, VALUE));
                    }
                }
                Segment::Param(Param::Unknown(name)) => {
                    return Err(RenderError::MissingField(name.clone()));
                }
            }
        }
        Ok(out)
    }
}

/// A field of another part's data read as a list: `products.items.*.id` (what `each` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRef {
    pub(crate) part: String,
    steps: Vec<Step>,
}

impl FieldRef {
    pub(crate) fn parse(text: &str) -> Result<Self, TemplateError> {
        match parse_param(text)? {
            Param::Field { part, steps } => Ok(Self { part, steps }),
            _ => Err(TemplateError::Malformed(text.to_owned())),
        }
    }

    /// One entry per element of the field's list, in order: the element's value as text, or
    /// why it has none (the field is missing, or no string, number or boolean), so that every
    /// element keeps its place. The list itself missing is [`RenderError::MissingField`]; an
    /// empty one, [`RenderError::EmptyList`]. The field has exactly one `*` (checked with the
    /// configuration).
    pub(crate) fn items(
        &self,
        data: Option<&Value>,
    ) -> Result<Vec<Result<String, RenderError>>, RenderError> {
        let data = data.ok_or_else(|| RenderError::MissingPart(self.part.clone()))?;
        let name = || describe(&self.part, &self.steps);
        let at = self
            .steps
            .iter()
            .position(|s| *s == Step::Each)
            .ok_or_else(|| RenderError::MissingField(name()))?;
        let (to_list, rest) = (&self.steps[..at], &self.steps[at + 1..]);
        let mut found = Found::default();
        collect(data, to_list, &mut found);
        let Some(Value::Array(elements)) = found.values.first() else {
            return Err(RenderError::MissingField(name()));
        };
        if elements.is_empty() {
            return Err(RenderError::EmptyList(name()));
        }
        Ok(elements
            .iter()
            .map(|element| {
                let mut found = Found::default();
                collect(element, rest, &mut found);
                match found.values.first() {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(Value::Number(n)) => Ok(n.to_string()),
                    Some(Value::Bool(b)) => Ok(b.to_string()),
                    _ => Err(RenderError::MissingField(name())),
                }
            })
            .collect())
    }

    /// Whether the field goes through exactly one list (`*`).
    pub(crate) fn has_one_list(&self) -> bool {
        self.steps.iter().filter(|s| **s == Step::Each).count() == 1
    }
}

fn parse_param(text: &str) -> Result<Param, TemplateError> {
    let malformed = || TemplateError::Malformed(text.to_owned());
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let mut pieces = text.split('.');
    let head = pieces.next().filter(|h| is_name(h)).ok_or_else(malformed)?;
    let steps = pieces
        .map(|piece| match piece {
            "*" => Ok(Step::Each),
            p if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
                p.parse().map(Step::Index).map_err(|_| malformed())
            }
            p if is_name(p) => Ok(Step::Key(p.to_owned())),
            _ => Err(malformed()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match (head, steps.is_empty()) {
        ("id", true) => Param::Id,
        ("page", true) => Param::Page,
        ("item", true) => Param::Item,
        (_, true) => Param::Unknown(head.to_owned()),
        _ => Param::Field {
            part: head.to_owned(),
            steps,
        },
    })
}

/// What following a field's steps reached.
#[derive(Default)]
struct Found<'a> {
    values: Vec<&'a Value>,
    /// Empty lists a `*` met.
    empty_lists: usize,
    /// Places a step could not be followed (no such key or index, not a list or object).
    dead_ends: usize,
}

impl Found<'_> {
    /// Why nothing was found for the field `name`: only empty lists (nothing to ask for), or
    /// a dead end (the field is missing).
    fn nothing(&self, name: String) -> RenderError {
        if self.empty_lists > 0 && self.dead_ends == 0 {
            RenderError::EmptyList(name)
        } else {
            RenderError::MissingField(name)
        }
    }
}

/// Follows `steps` into `value`, collecting every value reached (several under `*`).
fn collect<'a>(value: &'a Value, steps: &[Step], found: &mut Found<'a>) {
    let Some((step, rest)) = steps.split_first() else {
        found.values.push(value);
        return;
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => match map.get(key) {
            Some(v) => collect(v, rest, found),
            None => found.dead_ends += 1,
        },
        (Step::Index(i), Value::Array(items)) => match items.get(*i) {
            Some(v) => collect(v, rest, found),
            None => found.dead_ends += 1,
        },
        (Step::Each, Value::Array(items)) => {
            if items.is_empty() {
                found.empty_lists += 1;
            }
            for item in items {
                collect(item, rest, found);
            }
        }
        _ => found.dead_ends += 1,
    }
}

fn describe(part: &str, steps: &[Step]) -> String {
    let mut text = part.to_owned();
    for step in steps {
        text.push('.');
        match step {
            Step::Key(k) => text.push_str(k),
            Step::Index(i) => text.push_str(&i.to_string()),
            Step::Each => text.push('*'),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(template: &str, data: &Value) -> Result<String, RenderError> {
        Template::parse(template)
            .unwrap()
            .render("42", 3, |part| (part == "product").then_some(data))
    }

    #[test]
    fn fills_ids_fields_and_lists() {
        let data = json!({"category": {"slug": "tea & coffee"}, "items": [{"id": 1}, {"id": 2}]});
        assert_eq!(render("/p/{id}?x=1", &data).unwrap(), "/p/42?x=1");
        assert_eq!(
            render("/p/{id}/reviews?page={page}", &data).unwrap(),
            "/p/42/reviews?page=3"
        );
        assert_eq!(
            render("/c/{product.category.slug}/r", &data).unwrap(),
            "/c/tea%20%26%20coffee/r"
        );
        assert_eq!(
            render("/stock?ids={product.items.*.id}", &data).unwrap(),
            "/stock?ids=1,2"
        );
        assert_eq!(
            render("/first/{product.items.0.id}", &data).unwrap(),
            "/first/1"
        );
    }

    #[test]
    fn data_cannot_escape_its_segment() {
        let data = json!({"slug": "../admin/faults?x=1"});
        assert_eq!(
            render("/c/{product.slug}", &data).unwrap(),
            "/c/..%2Fadmin%2Ffaults%3Fx%3D1"
        );
    }

    #[test]
    fn missing_data_is_an_error_not_an_empty_segment() {
        let data = json!({"items": [{"name": "no id"}]});
        assert!(matches!(
            render("/stock?ids={product.items.*.id}", &data),
            Err(RenderError::MissingField(f)) if f == "product.items.*.id"
        ));
        assert!(matches!(
            render("/c/{product.items}", &data),
            Err(RenderError::MissingField(_))
        ));
        let t = Template::parse("/x/{other.id}").unwrap();
        assert_eq!(
            t.render("1", 1, |_| None),
            Err(RenderError::MissingPart("other".into()))
        );
    }

    #[test]
    fn parses_dependencies_and_rejects_malformed_templates() {
        let t = Template::parse("/a/{b.x}/{c.y}/{b.z}/{id}/{sku}").unwrap();
        assert_eq!(t.dependencies(), ["b", "c"]);
        assert!(t.params().any(|p| *p == Param::Unknown("sku".into())));
        assert_eq!(Template::parse("a"), Err(TemplateError::NotAbsolute));
        assert_eq!(Template::parse("/a/{id"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("/a/id}"), Err(TemplateError::StrayClose));
        for bad in ["/{}", "/{a..b}", "/{a.}", "/{a b}", "/{.x}"] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn dot_segments_from_data_are_refused() {
        let template = Template::parse("/categories/{p.slug}/top").unwrap();
        for dots in [".", ".."] {
            let data = serde_json::json!({"slug": dots});
            let rendered = template.render("1", 1, |_| Some(&data));
            assert!(
                matches!(rendered, Err(RenderError::DotSegment(..))),
                "{dots}: {rendered:?}"
            );
        }
        let data = serde_json::json!({"slug": "...a.b"});
        assert_eq!(
            template.render("1", 1, |_| Some(&data)).unwrap(),
            "/categories/...a.b/top"
        );
    }

    #[test]
    fn an_empty_list_is_nothing_to_ask_for_and_a_missing_one_is_an_error() {
        let t = Template::parse("/stock?ids={products.items.*.id}").unwrap();
        let empty = serde_json::json!({"items": []});
        assert_eq!(
            t.render("1", 1, |_| Some(&empty)),
            Err(RenderError::EmptyList("products.items.*.id".into()))
        );
        let nested = Template::parse("/x?ids={p.groups.*.items.*.id}").unwrap();
        let groups = serde_json::json!({"groups": [{"items": []}, {"items": []}]});
        assert!(matches!(
            nested.render("1", 1, |_| Some(&groups)),
            Err(RenderError::EmptyList(_))
        ));
        for broken in [
            serde_json::json!({}),
            serde_json::json!({"items": 3}),
            serde_json::json!({"items": [{"name": "no id"}]}),
        ] {
            assert!(matches!(
                t.render("1", 1, |_| Some(&broken)),
                Err(RenderError::MissingField(_))
            ));
        }
    }
}
