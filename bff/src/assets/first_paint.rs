//! The page's first paint, drawn on the server: the build's
//! `<template id="tessera-first-paint">` filled with a part's data and put first in the page's
//! `<body>`, so the page's main content is in the HTML itself — on screen before any script
//! has run or the wasm has arrived. The app takes it away once its own tile shows.
//!
//! A placeholder is `{part.field.sub}` (object keys, or array indices, after the part's
//! name), with `|segment` for a value that is one path segment of a URL, percent-encoded,
//! and `|file` for the last `/`-separated segment of a value, likewise. SECURITY: every value
//! is written as HTML-escaped text, so data can never become markup, and a value in a URL
//! only as an encoded segment (never `.` or `..`), so data can never point the page's
//! pictures and links elsewhere; a template that reads a value that is missing, or not a
//! string, number or boolean, draws nothing rather than half a page. The page's own script (`frontend/index.html`) fills
//! the same template in the browser where no BFF drew it (a static host).

use serde_json::Value;

use super::hints::attribute;

/// The template's element, as the build writes it.
const OPEN: &str = "<template id=\"tessera-first-paint\"";
const CLOSE: &str = "</template>";
/// What the filled template is put in: the element the app takes away (`frontend/src/
/// preview.rs`), a picture of the page that is not read out, focused or clicked.
const WRAP_OPEN: &str = "<div id=\"tessera-preview\" class=\"preview\" data-testid=\"preview\" \
                         aria-hidden=\"true\" inert>";
const WRAP_CLOSE: &str = "</div>";

/// A parsed first-paint template, and the page it is drawn into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstPaint {
    /// The page's title while it shows (`data-title`), if the template gives one.
    title: Option<Vec<Piece>>,
    body: Vec<Piece>,
    /// The page it is drawn into: see [`critical_path`].
    page: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Markup as written in the build.
    Markup(String),
    /// A value: the part's name, then the steps into its data.
    Value(Vec<String>, Filter),
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    /// As text.
    Text,
    /// As one path segment (`|segment`).
    Segment,
    /// Its last `/`-separated segment, as one path segment (`|file`).
    File,
}

impl FirstPaint {
    /// The template in the page `html`, if the build has a well-formed one; `stylesheet`
    /// gives the text of a stylesheet the page links by its `href`.
    pub(crate) fn find(html: &str, stylesheet: impl Fn(&str) -> Option<String>) -> Option<Self> {
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
            page: critical_path(html, stylesheet),
        })
    }

    /// The page a first paint is drawn into (for its policy: it holds inline styles).
    pub(crate) fn page(&self) -> &str {
        &self.page
    }

    /// Whether the template shows data of part `name` (and only parts so named).
    pub(crate) fn shows(&self, name: &str) -> bool {
        let mut parts =
            self.title
                .iter()
                .flatten()
                .chain(&self.body)
                .filter_map(|piece| match piece {
                    Piece::Value(path, _) => path.first(),
                    Piece::Markup(_) => None,
                });
        parts.all(|part| part == name)
    }

    /// The page with this first paint drawn from `data` (an object of the parts' data by
    /// name), or `None` when a value it shows is missing or cannot be written, or the page
    /// has no `<body>`.
    pub(crate) fn draw(&self, data: &Value) -> Option<String> {
        let html = &self.page;
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

/// The page `html` rearranged so that nothing competes with its first paint:
///
/// - its stylesheets inline: a page drawn per address is downloaded anyway, and a stylesheet
///   it links would hold the paint back by another round trip;
/// - its wasm fetched once the paint has been counted as the page's main content (the page's
///   script resolves `window.__tesseraPainted` then, or after 250 ms): its preload held
///   (`rel="tessera-wasm"`, which the page's script turns back into a preload then), and the
///   loader waiting for it. Until then the line is left to the page, its picture and its view.
///   (Fetched while the paint was still to come, the wasm made the app's tile, not the first
///   paint, the page's largest paint in the browser's eyes.)
fn critical_path(html: &str, stylesheet: impl Fn(&str) -> Option<String>) -> String {
    let html = inline_stylesheets(html, stylesheet);
    let html = hold_wasm_preload(&html);
    match html.find(LOADER) {
        Some(at) => {
            let at = at + LOADER.len();
            format!("{}{WAIT}{}", &html[..at], &html[at..])
        }
        None => html,
    }
}

/// The opening of the loader Trunk writes, and what the drawn page's loader does first.
const LOADER: &str = "<script type=\"module\">";
const WAIT: &str = "\nawait window.__tesseraPainted;";

/// `html` with its `<link rel="preload" … type="application/wasm">` held: `rel="tessera-wasm"`.
fn hold_wasm_preload(html: &str) -> String {
    rewrite_links(html, |tag| {
        (attribute(tag, "type") == Some("application/wasm"))
            .then(|| tag.replace(" rel=\"preload\"", " rel=\"tessera-wasm\""))
    })
}

/// `html` with every `<link rel="stylesheet" href="…">` whose text `stylesheet` gives written
/// as a `<style>` element instead. A stylesheet that would mean something else inline stays
/// linked: one for some media only, or whose text has markup (`<`) or loads anything by a
/// relative address (`url(`, `@import`), which would resolve against the page's address.
fn inline_stylesheets(html: &str, stylesheet: impl Fn(&str) -> Option<String>) -> String {
    rewrite_links(html, |tag| {
        if attribute(tag, "rel") != Some("stylesheet") || attribute(tag, "media").is_some() {
            return None;
        }
        let css = stylesheet(attribute(tag, "href")?)?;
        let lower = css.to_ascii_lowercase();
        let inert = !lower.contains('<') && !lower.contains("url(") && !lower.contains("@import");
        inert.then(|| format!("<style>{css}</style>"))
    })
}

/// `html` with each `<link …>` tag replaced by what `replace` gives for it, if anything.
fn rewrite_links(html: &str, mut replace: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find("<link ") {
        let end = open + rest[open..].find('>').map_or(rest.len() - open, |e| e + 1);
        let tag = &rest[open..end];
        out.push_str(&rest[..open]);
        out.push_str(&replace(tag).unwrap_or_else(|| tag.to_owned()));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `text` as markup and `{…}` values; `None` for a stray brace or an unknown filter.
fn pieces(text: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        let close = open + rest[open..].find('}')?;
        if rest.as_bytes()[open] != b'{' {
            return None;
        }
        pieces.push(Piece::Markup(rest[..open].to_owned()));
        let (path, filter) = match rest[open + 1..close].split_once('|') {
            None => (&rest[open + 1..close], Filter::Text),
            Some((path, "segment")) => (path, Filter::Segment),
            Some((path, "file")) => (path, Filter::File),
            Some(_) => return None,
        };
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        if path
            .iter()
            .any(|step| step.is_empty() || step.contains('{'))
        {
            return None;
        }
        pieces.push(Piece::Value(path, filter));
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
            Piece::Value(path, filter) => {
                let value = path.iter().try_fold(data, |value, step| match value {
                    Value::Array(items) => items.get(step.parse::<usize>().ok()?),
                    _ => value.get(step),
                })?;
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null | Value::Array(_) | Value::Object(_) => return None,
                };
                let text = match filter {
                    Filter::Text => text,
                    Filter::Segment => segment(&text)?,
                    Filter::File => segment(text.rsplit('/').next().unwrap_or_default())?,
                };
                escape_into(&mut out, &text);
            }
        }
    }
    Some(out)
}

/// `text` as one percent-encoded path segment; `None` for one that would step elsewhere.
fn segment(text: &str) -> Option<String> {
    if matches!(text, "" | "." | "..") {
        return None;
    }
    Some(percent_encoding::utf8_percent_encode(text, crate::config::template::VALUE).to_string())
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
        <h1>{product.name}</h1><img src=\"/media/images/{product.image|file}\">\
        <a href=\"/c/{product.slug|segment}\">{product.tags.1} {product.weight} g</a>\
        </template></body></html>";

    #[test]
    fn the_template_is_drawn_first_in_the_body_with_its_title() {
        let paint = FirstPaint::find(PAGE, |_| None).unwrap();
        let data = json!({"product": {"name": "Chair", "image": "/images/1.svg",
            "slug": "oak chairs", "tags": ["a", "oak"], "weight": 4200}});
        let page = paint.draw(&data).unwrap();
        assert_eq!(
            page,
            PAGE.replace("<title>Store", "<title>Chair · Store")
                .replace(
                    "<body>",
                    "<body><div id=\"tessera-preview\" class=\"preview\" data-testid=\"preview\" \
                 aria-hidden=\"true\" inert><h1>Chair</h1><img src=\"/media/images/1.svg\">\
                 <a href=\"/c/oak%20chairs\">oak 4200 g</a></div>"
                )
        );
        assert!(paint.shows("product") && !paint.shows("summary"));
    }

    /// The page it is drawn into holds the build's stylesheets inline, unless one has markup,
    /// relative addresses or media of its own, and fetches its wasm once the first paint is
    /// counted; other links stay as they are.
    #[test]
    fn nothing_competes_with_the_first_paint() {
        let page = PAGE.replace(
            "<title>",
            "<script type=\"module\">\nimport init from '/a.js';\nawait init('/a.wasm');</script>\
             <link rel=\"stylesheet\" href=\"/a.css\" integrity=\"x\"/><link rel=\"icon\" \
             href=\"/i.svg\"><link rel=\"preload\" href=\"/a.wasm\" as=\"fetch\" \
             type=\"application/wasm\"><link rel=\"stylesheet\" href=\"/b.css\">\
             <link rel=\"stylesheet\" href=\"/c.css\"><link rel=\"stylesheet\" href=\"/a.css\" \
             media=\"print\"><title>",
        );
        let css = |href: &str| match href {
            "/a.css" => Some("p{color:red}".to_owned()),
            "/b.css" => Some("p::after{content:\"</STYLE>\"}".to_owned()),
            "/c.css" => Some("p{background:URL(x.png)}".to_owned()),
            _ => None,
        };
        let paint = FirstPaint::find(&page, css).unwrap();
        assert!(
            paint.page().starts_with(
                "<html><head><script type=\"module\">\nawait window.__tesseraPainted;\n\
                 import init from '/a.js';\nawait init('/a.wasm');</script>\
                 <style>p{color:red}</style><link rel=\"icon\" href=\"/i.svg\">\
                 <link rel=\"tessera-wasm\" href=\"/a.wasm\" as=\"fetch\" \
                 type=\"application/wasm\"><link rel=\"stylesheet\" href=\"/b.css\">\
                 <link rel=\"stylesheet\" href=\"/c.css\"><link rel=\"stylesheet\" \
                 href=\"/a.css\" media=\"print\"><title>"
            ),
            "{}",
            paint.page()
        );
    }

    #[test]
    fn data_is_text_never_markup() {
        let paint = FirstPaint::find(PAGE, |_| None).unwrap();
        let data = json!({"product": {"name": "<img src=x onerror=\"alert(1)\">&'",
            "image": "/x/\"><script>", "slug": "a/../../api?x#y", "tags": ["", ""],
            "weight": 1}});
        let page = paint.draw(&data).unwrap();
        assert!(
            page.contains("<h1>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;</h1>"),
            "{page}"
        );
        assert!(
            page.contains("src=\"/media/images/%22%3E%3Cscript%3E\""),
            "{page}"
        );
        assert!(
            page.contains("href=\"/c/a%2F..%2F..%2Fapi%3Fx%23y\""),
            "{page}"
        );
        assert!(page.contains("<title>&lt;img src=x"), "{page}");
        assert_eq!(page.matches("<script>").count(), 1, "{page}");
    }

    #[test]
    fn a_missing_or_structured_value_or_one_that_steps_elsewhere_draws_nothing() {
        let paint = FirstPaint::find(PAGE, |_| None).unwrap();
        for product in [
            json!({"name": "C", "image": "/i/..", "slug": "s", "tags": ["a", "b"], "weight": 1}),
            json!({"name": "C", "image": "/i/x", "slug": ".", "tags": ["a", "b"], "weight": 1}),
            json!({"name": "C", "image": "/i/", "slug": "s", "tags": ["a", "b"], "weight": 1}),
            json!({"name": "Chair", "image": "/i", "slug": "s", "tags": ["a"], "weight": 1}),
            json!({"name": null, "image": "/i", "slug": "s", "tags": ["a", "b"], "weight": 1}),
            json!({"name": {"en": "C"}, "image": "/i", "slug": "s", "tags": ["a", "b"], "weight": 1}),
        ] {
            assert_eq!(paint.draw(&json!({ "product": product })), None);
        }
    }

    #[test]
    fn a_build_without_a_well_formed_template_has_none() {
        assert_eq!(
            FirstPaint::find("<html><body></body></html>", |_| None),
            None
        );
        for broken in [
            "<p>{a.b</p>",
            "<p>a}</p>",
            "<p>{}</p>",
            "<p>{a..b}</p>",
            "<p>{a|up}</p>",
        ] {
            let page = format!("<body>{OPEN}>{broken}{CLOSE}</body>");
            assert_eq!(FirstPaint::find(&page, |_| None), None, "{broken}");
        }
        let unclosed = format!("<body>{OPEN}><p>{{a.b}}</p></body>");
        assert_eq!(FirstPaint::find(&unclosed, |_| None), None);
    }
}
