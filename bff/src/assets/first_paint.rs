//! The page's first paint, drawn on the server: the build's
//! `<template id="tessera-first-paint">` filled with a part's data and put first in the page's
//! `<body>`, so the page's main content is in the HTML itself — on screen before any script
//! has run or the wasm has arrived. The app takes it away once its own tile shows.
//!
//! A placeholder is `{part.field.sub}` (object keys, or array indices, after the part's
//! name). SECURITY: every value is written as HTML-escaped text, so data can never become
//! markup; a template that reads a value that is missing, or not a string, number or boolean,
//! draws nothing rather than half a page. The page's own script (`frontend/index.html`) fills
//! the same template in the browser where no BFF drew it (a static host).

use serde_json::Value;

/// The template's element, as the build writes it.
const OPEN: &str = "<template id=\"tessera-first-paint\"";
const CLOSE: &str = "</template>";
/// What the filled template is put in: the element the app takes away (`frontend/src/
/// preview.rs`), a picture of the page that is not read out, focused or clicked.
const WRAP_OPEN: &str = "<div id=\"tessera-preview\" class=\"preview\" data-testid=\"preview\" \
                         aria-hidden=\"true\" inert>";
const WRAP_CLOSE: &str = "</div>";

/// A parsed first-paint template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstPaint {
    /// The page's title while it shows (`data-title`), if the template gives one.
    title: Option<Vec<Piece>>,
    body: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Markup as written in the build.
    Markup(String),
    /// A value: the part's name, then the steps into its data.
    Value(Vec<String>),
}

impl FirstPaint {
    /// The template in the page `html`, if the build has a well-formed one.
    pub(crate) fn find(html: &str) -> Option<Self> {
        let start = html.find(OPEN)?;
        let tag_end = start + html[start..].find('>')?;
        let tag = &html[start..tag_end];
        let content_end = tag_end + html[tag_end..].find(CLOSE)?;
        let title = match attribute(tag, "data-title") {
            Some(title) => Some(pieces(title)?),
            None => None,
        };
        Some(Self {
            title,
            body: pieces(&html[tag_end + 1..content_end])?,
        })
    }

    /// The page `html` with this first paint drawn from `data` (an object of the parts' data
    /// by name), or `None` when a value it shows is missing.
    pub(crate) fn draw(&self, html: &str, data: &Value) -> Option<String> {
        let body = fill(&self.body, data)?;
        let title = match &self.title {
            Some(title) => Some(fill(title, data)?),
            None => None,
        };
        let at = html
            .find("<body")
            .and_then(|b| Some(b + html[b..].find('>')? + 1))?;
        let mut page = String::with_capacity(html.len() + body.len() + 256);
        page.push_str(&html[..at]);
        page.push_str(WRAP_OPEN);
        page.push_str(&body);
        page.push_str(WRAP_CLOSE);
        page.push_str(&html[at..]);
        if let Some(title) = title {
            let open = page.find("<title>").map(|i| i + "<title>".len());
            if let Some((open, close)) =
                open.and_then(|o| Some((o, o + page[o..].find("</title>")?)))
            {
                page.replace_range(open..close, &title);
            }
        }
        Some(page)
    }
}

/// The value of attribute `name` in `tag`, double-quoted as the build writes it.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// `text` as markup and `{…}` values; `None` for a stray brace.
fn pieces(text: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        let close = open + rest[open..].find('}')?;
        if rest.as_bytes()[open] != b'{' {
            return None;
        }
        pieces.push(Piece::Markup(rest[..open].to_owned()));
        let path: Vec<String> = rest[open + 1..close]
            .split('.')
            .map(str::to_owned)
            .collect();
        if path
            .iter()
            .any(|step| step.is_empty() || step.contains('{'))
        {
            return None;
        }
        pieces.push(Piece::Value(path));
        rest = &rest[close + 1..];
    }
    pieces.push(Piece::Markup(rest.to_owned()));
    Some(pieces)
}

fn fill(pieces: &[Piece], data: &Value) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Markup(markup) => out.push_str(markup),
            Piece::Value(path) => {
                let value = path.iter().try_fold(data, |value, step| match value {
                    Value::Array(items) => items.get(step.parse::<usize>().ok()?),
                    _ => value.get(step),
                })?;
                match value {
                    Value::String(text) => escape_into(&mut out, text),
                    Value::Number(n) => out.push_str(&n.to_string()),
                    Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    Value::Null | Value::Array(_) | Value::Object(_) => return None,
                }
            }
        }
    }
    Some(out)
}

/// `text` as HTML text, safe in element content and in a quoted attribute.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PAGE: &str = "<html><head><title>Store</title></head><body><script>x</script>\
        <template id=\"tessera-first-paint\" data-title=\"{product.name} · Store\">\
        <h1>{product.name}</h1><img src=\"/media{product.image}\"><p>{product.tags.1} \
        {product.weight} g</p></template></body></html>";

    #[test]
    fn the_template_is_drawn_first_in_the_body_with_its_title() {
        let paint = FirstPaint::find(PAGE).unwrap();
        let data = json!({"product": {"name": "Chair", "image": "/images/1.svg",
            "tags": ["a", "oak"], "weight": 4200}});
        let page = paint.draw(PAGE, &data).unwrap();
        assert_eq!(
            page,
            "<html><head><title>Chair · Store</title></head><body>\
             <div id=\"tessera-preview\" class=\"preview\" data-testid=\"preview\" \
             aria-hidden=\"true\" inert><h1>Chair</h1><img src=\"/media/images/1.svg\">\
             <p>oak 4200 g</p></div><script>x</script><template id=\"tessera-first-paint\" \
             data-title=\"{product.name} · Store\"><h1>{product.name}</h1><img \
             src=\"/media{product.image}\"><p>{product.tags.1} {product.weight} g</p>\
             </template></body></html>"
        );
    }

    #[test]
    fn data_is_text_never_markup() {
        let paint = FirstPaint::find(PAGE).unwrap();
        let data = json!({"product": {"name": "<img src=x onerror=\"alert(1)\">&'",
            "image": "\"><script>", "tags": ["", ""], "weight": 1}});
        let page = paint.draw(PAGE, &data).unwrap();
        assert!(
            page.contains("<h1>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;</h1>"),
            "{page}"
        );
        assert!(
            page.contains("src=\"/media&quot;&gt;&lt;script&gt;\""),
            "{page}"
        );
        assert!(page.contains("<title>&lt;img src=x"), "{page}");
        assert_eq!(page.matches("<script>").count(), 1, "{page}");
    }

    #[test]
    fn a_missing_or_structured_value_draws_nothing() {
        let paint = FirstPaint::find(PAGE).unwrap();
        for product in [
            json!({"name": "Chair", "image": "/i", "tags": ["a"], "weight": 1}),
            json!({"name": null, "image": "/i", "tags": ["a", "b"], "weight": 1}),
            json!({"name": {"en": "Chair"}, "image": "/i", "tags": ["a", "b"], "weight": 1}),
        ] {
            assert_eq!(paint.draw(PAGE, &json!({ "product": product })), None);
        }
    }

    #[test]
    fn a_build_without_a_well_formed_template_has_none() {
        assert_eq!(FirstPaint::find("<html><body></body></html>"), None);
        for broken in ["<p>{a.b</p>", "<p>a}</p>", "<p>{}</p>", "<p>{a..b}</p>"] {
            let page = format!("<body>{OPEN}>{broken}{CLOSE}</body>");
            assert_eq!(FirstPaint::find(&page), None, "{broken}");
        }
        let unclosed = format!("<body>{OPEN}><p>{{a.b}}</p></body>");
        assert_eq!(FirstPaint::find(&unclosed), None);
    }
}
