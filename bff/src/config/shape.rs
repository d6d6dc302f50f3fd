//! Shaping a part's data for its page (issue: a part returned its upstream's JSON whole):
//! `select` keeps only the named fields, `omit` drops some, `rename` renames some, in that
//! order, and `transform`, a jq filter (the jaq implementation), says what those cannot.
//!
//! Field paths are keys and `*` (every element of a list), joined by dots: `items.*.id`.
//! Everything is parsed and checked when the configuration is: a path that can never match
//! (what `select` already dropped, a renamed field that was omitted) is a configuration error.

use std::collections::BTreeMap;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    /// Every element of a list.
    Each,
}

/// A field path: `items.*.id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(Vec<Step>);

impl FieldPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let is_name = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let steps = text
            .split('.')
            .map(|piece| match piece {
                "*" => Ok(Step::Each),
                p if is_name(p) => Ok(Step::Key(p.to_owned())),
                p => Err(format!(
                    "{text:?}: {p:?} is neither a field name (letters, digits, '-', '_') nor '*'"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(steps))
    }

    /// The path ends in a field (what `omit` and `rename` act on), not in `*`.
    fn ends_in_field(&self) -> bool {
        matches!(self.0.last(), Some(Step::Key(_)))
    }

    fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }
}

/// What `select` keeps: a tree of the selected paths.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tree {
    /// Everything here is kept.
    whole: bool,
    keys: BTreeMap<String, Tree>,
    each: Option<Box<Tree>>,
}

impl Tree {
    fn add(&mut self, steps: &[Step]) {
        let Some((step, rest)) = steps.split_first() else {
            self.whole = true;
            return;
        };
        let child = match step {
            Step::Key(key) => self.keys.entry(key.clone()).or_default(),
            Step::Each => self.each.get_or_insert_with(Box::default),
        };
        child.add(rest);
    }

    /// Whether a path can still match after selecting.
    fn reaches(&self, steps: &[Step]) -> bool {
        if self.whole {
            return true;
        }
        match steps.split_first() {
            None => true,
            Some((Step::Key(key), rest)) => self.keys.get(key).is_some_and(|t| t.reaches(rest)),
            Some((Step::Each, rest)) => self.each.as_ref().is_some_and(|t| t.reaches(rest)),
        }
    }

    /// The selected part of `value`, or `None` when nothing of it is selected.
    fn select(&self, value: &Value) -> Option<Value> {
        if self.whole {
            return Some(value.clone());
        }
        match value {
            Value::Object(map) if !self.keys.is_empty() => {
                let kept: Map<String, Value> = self
                    .keys
                    .iter()
                    .filter_map(|(key, tree)| Some((key.clone(), tree.select(map.get(key)?)?)))
                    .collect();
                Some(Value::Object(kept))
            }
            Value::Array(items) => {
                let tree = self.each.as_ref()?;
                Some(Value::Array(
                    items
                        .iter()
                        .map(|i| tree.select(i).unwrap_or(Value::Null))
                        .collect(),
                ))
            }
            _ => None,
        }
    }
}

/// Applies `act` to the parent object of every field `steps` reaches, with the field's name.
fn at_fields(
    value: &mut Value,
    steps: &[Step],
    act: &mut impl FnMut(&mut Map<String, Value>, &str),
) {
    match (steps, value) {
        ([Step::Key(key)], Value::Object(map)) => act(map, key),
        ([Step::Key(key), rest @ ..], Value::Object(map)) => {
            if let Some(child) = map.get_mut(key) {
                at_fields(child, rest, act);
            }
        }
        ([Step::Each, rest @ ..], Value::Array(items)) => {
            for item in items {
                at_fields(item, rest, act);
            }
        }
        _ => {}
    }
}

/// The shaping configuration of one part, as written.
#[derive(Debug, Default)]
pub struct ShapeSpec<'a> {
    pub select: &'a [String],
    /// Whether `select` was written at all (an empty one is an error).
    pub select_given: bool,
    pub omit: &'a [String],
    pub rename: Option<&'a BTreeMap<String, String>>,
    pub transform: Option<&'a str>,
}

/// A part's shaping, checked and compiled.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    select: Option<Tree>,
    omit: Vec<FieldPath>,
    rename: Vec<(FieldPath, String)>,
    transform: Option<Arc<Transform>>,
}

/// Which setting of a part's shaping is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// `select`, `omit`, `rename` or `transform`.
    pub key: &'static str,
    pub message: String,
}

impl Shape {
    /// Parses and checks a part's shaping; every error at once.
    pub fn parse<'a>(spec: &ShapeSpec<'a>) -> Result<Self, Vec<ShapeError>> {
        let mut errors = Vec::new();
        // Each path with its text; the ones that do not parse are errors already.
        let mut paths = |key: &'static str, texts: &mut dyn Iterator<Item = &'a String>| {
            texts
                .filter_map(|text| match FieldPath::parse(text) {
                    Ok(path) => Some((path, text)),
                    Err(message) => {
                        errors.push(ShapeError { key, message });
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let selected = paths("select", &mut spec.select.iter());
        let omit = paths("omit", &mut spec.omit.iter());
        let renames: BTreeMap<&String, &String> = spec.rename.into_iter().flatten().collect();
        let rename_paths = paths("rename", &mut renames.keys().copied());
        if spec.select.is_empty() && spec.select_given {
            errors.push(ShapeError {
                key: "select",
                message: "an empty select keeps nothing: leave it out to keep everything".into(),
            });
        }
        let select = (!spec.select.is_empty()).then(|| {
            let mut tree = Tree::default();
            for (path, _) in &selected {
                tree.add(&path.0);
            }
            tree
        });
        let mut never = |key, text: &str, why: &str| {
            errors.push(ShapeError {
                key,
                message: format!("{text:?} can never match: {why}"),
            });
        };
        for (path, text) in &omit {
            if !path.ends_in_field() {
                never("omit", text, "it must end in a field name, not '*'");
            } else if select.as_ref().is_some_and(|t| !t.reaches(&path.0)) {
                never("omit", text, "select drops it already");
            }
        }
        let mut rename = Vec::new();
        let mut targets: BTreeMap<(Vec<Step>, &str), &str> = BTreeMap::new();
        for (path, text) in &rename_paths {
            let to = renames[text];
            if !path.ends_in_field() {
                never("rename", text, "it must end in a field name, not '*'");
            } else if select.as_ref().is_some_and(|t| !t.reaches(&path.0)) {
                never("rename", text, "select drops it");
            } else if omit.iter().any(|(o, _)| path.starts_with(o)) {
                never("rename", text, "omit drops it");
            } else if rename_paths
                .iter()
                .any(|(other, _)| other != path && path.starts_with(other))
            {
                never("rename", text, "a field above it is renamed first");
            } else if rename_paths.iter().any(|(other, _)| {
                other.0.len() == path.0.len()
                    && other.0[..other.0.len() - 1] == path.0[..path.0.len() - 1]
                    && other.0.last() == Some(&Step::Key(to.clone()))
            }) {
                never(
                    "rename",
                    text,
                    "its new name is renamed too (renames do not chain)",
                );
            } else if FieldPath::parse(to).map_or(true, |p| p.0.len() != 1 || !p.ends_in_field()) {
                never("rename", text, "the new name must be one field name");
            } else {
                let parent = path.0[..path.0.len() - 1].to_vec();
                if let Some(other) = targets.insert((parent, to.as_str()), text.as_str()) {
                    never(
                        "rename",
                        text,
                        &format!("{other:?} is renamed to {to:?} too"),
                    );
                }
                rename.push((path.clone(), to.clone()));
            }
        }
        let transform = match spec.transform.map(Transform::compile).transpose() {
            Ok(transform) => transform.map(Arc::new),
            Err(message) => {
                errors.push(ShapeError {
                    key: "transform",
                    message,
                });
                None
            }
        };
        if errors.is_empty() {
            Ok(Self {
                select,
                omit: omit.into_iter().map(|(path, _)| path).collect(),
                rename,
                transform,
            })
        } else {
            Err(errors)
        }
    }

    pub fn is_identity(&self) -> bool {
        self.select.is_none()
            && self.omit.is_empty()
            && self.rename.is_empty()
            && self.transform.is_none()
    }

    /// The declarative steps (select, omit, rename); cheap, and they cannot fail.
    pub fn fields(&self, value: &Value) -> Value {
        let mut value = match &self.select {
            Some(tree) => tree.select(value).unwrap_or(Value::Null),
            None => value.clone(),
        };
        for path in &self.omit {
            at_fields(&mut value, &path.0, &mut |map, key| {
                map.remove(key);
            });
        }
        for (path, to) in &self.rename {
            at_fields(&mut value, &path.0, &mut |map, key| {
                if let Some(v) = map.remove(key) {
                    map.insert(to.clone(), v);
                }
            });
        }
        value
    }

    pub fn transform(&self) -> Option<&Arc<Transform>> {
        self.transform.as_ref()
    }
}

/// A jq filter, compiled once. Its first output is the part's data; none, or an error, is the
/// part's error.
pub struct Transform {
    filter: jaq_core::Filter<data::JustLut<jaq_json::Val>>,
    /// Until when the filter is off: a run went over its time (a filter can loop, and the
    /// thread it runs on cannot be stopped), so it is not run again for a while.
    off_until: std::sync::Mutex<Option<std::time::Instant>>,
    /// Runs at once: a run past its part's deadline still holds its thread (and permit) until
    /// it ends, so a slow filter can hold only so many threads.
    runs: Arc<tokio::sync::Semaphore>,
}

/// How long a transform that ran over its time is off.
const OFF_AFTER_OVERRUN: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs of one transform at once.
const RUNS_AT_ONCE: usize = 4;

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transform")
            .field("off_until", &self.off_until.lock().ok().and_then(|o| *o))
            .finish()
    }
}

/// Why a transform gave no data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error("the transform failed: {0}")]
    Failed(String),
    #[error("the transform gave no output")]
    NoOutput,
    #[error("the transform's output is over {0} bytes")]
    TooLarge(usize),
    #[error("the transform ran over its time and is off for a minute")]
    Tripped,
    #[error("the transform is still busy with earlier requests")]
    Busy,
}

impl Transform {
    fn compile(code: &str) -> Result<Self, String> {
        // A filter of one's own can recurse, and a recursion deep enough overflows the stack,
        // which aborts the whole process: no thread or time cap can stop that.
        let words = code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        if words.into_iter().any(|word| word == "def") {
            return Err("may not define filters (`def`): a recursion could not be bounded".into());
        }
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let described: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, error)| describe_load_error(error))
                    .collect();
                format!("does not parse: {}", described.join("; "))
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let described: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, undefined)| undefined)
                    .map(|(name, what)| format!("undefined {} {name}", what.as_str()))
                    .collect();
                format!("does not compile: {}", described.join("; "))
            })?;
        Ok(Self {
            filter,
            off_until: std::sync::Mutex::new(None),
            runs: Arc::new(tokio::sync::Semaphore::new(RUNS_AT_ONCE)),
        })
    }

    /// Runs the filter on `input` (blocking: run it off the async threads). At most
    /// `max_bytes` of output.
    pub fn run(&self, input: &Value, max_bytes: usize) -> Result<Value, TransformError> {
        let now = std::time::Instant::now();
        if self
            .off_until
            .lock()
            .is_ok_and(|off| off.is_some_and(|until| until > now))
        {
            return Err(TransformError::Tripped);
        }
        let input = <jaq_json::Val as serde::Deserialize>::deserialize(input)
            .map_err(|e| TransformError::Failed(e.to_string()))?;
        let ctx = Ctx::<data::JustLut<jaq_json::Val>>::new(&self.filter.lut, Vars::new([]));
        let first = self
            .filter
            .id
            .run((ctx, input))
            .map(unwrap_valr)
            .next()
            .ok_or(TransformError::NoOutput)?
            .map_err(|e| TransformError::Failed(e.to_string()))?;
        let mut out = Bounded {
            text: String::new(),
            max: max_bytes,
        };
        use std::fmt::Write;
        write!(out, "{first}").map_err(|_| TransformError::TooLarge(max_bytes))?;
        serde_json::from_str(&out.text).map_err(|e| TransformError::Failed(e.to_string()))
    }

    /// A permit to run the filter, if fewer than [`RUNS_AT_ONCE`] runs are under way.
    pub fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, TransformError> {
        self.runs
            .clone()
            .try_acquire_owned()
            .map_err(|_| TransformError::Busy)
    }

    /// Turns the filter off for [`OFF_AFTER_OVERRUN`]: a run went over its time.
    pub fn trip(&self) {
        if let Ok(mut off) = self.off_until.lock() {
            *off = Some(std::time::Instant::now() + OFF_AFTER_OVERRUN);
        }
    }
}

fn describe_load_error(error: jaq_core::load::Error<&str>) -> Vec<String> {
    use jaq_core::load::Error;
    match error {
        Error::Io(errors) => errors.into_iter().map(|(_, e)| e).collect(),
        Error::Lex(errors) => errors
            .into_iter()
            .map(|(expect, at)| format!("expected {} at {at:?}", expect.as_str()))
            .collect(),
        Error::Parse(errors) => errors
            .into_iter()
            .map(|(expect, at)| format!("expected {} at {at:?}", expect.as_str()))
            .collect(),
    }
}

/// A `fmt::Write` that refuses to grow past `max` bytes.
struct Bounded {
    text: String,
    max: usize,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.max {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(
        select: &[&str],
        omit: &[&str],
        rename: &[(&str, &str)],
    ) -> Result<Shape, Vec<ShapeError>> {
        let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
        let omit: Vec<String> = omit.iter().map(|s| s.to_string()).collect();
        let rename: BTreeMap<String, String> = rename
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Shape::parse(&ShapeSpec {
            select: &select,
            select_given: !select.is_empty(),
            omit: &omit,
            rename: Some(&rename),
            transform: None,
        })
    }

    fn data() -> Value {
        json!({
            "count": 3, "average": 4.5, "best": {"title": "x", "body": "long"},
            "items": [
                {"id": 1, "name": "a", "body": "long", "author": {"name": "Ada", "email": "e"}},
                {"id": 2, "name": "b", "body": "long", "author": {"name": "Lin", "email": "f"}}
            ]
        })
    }

    #[test]
    fn select_keeps_nested_fields_and_list_items() {
        let s = shape(&["count", "items.*.id", "items.*.author.name"], &[], &[]).unwrap();
        assert_eq!(
            s.fields(&data()),
            json!({"count": 3, "items": [
                {"id": 1, "author": {"name": "Ada"}}, {"id": 2, "author": {"name": "Lin"}}
            ]})
        );
    }

    #[test]
    fn omit_and_rename_act_in_every_list_item() {
        let s = shape(
            &[],
            &["best", "items.*.body", "items.*.author.email"],
            &[("items.*.name", "title"), ("average", "mean")],
        )
        .unwrap();
        assert_eq!(
            s.fields(&data()),
            json!({"count": 3, "mean": 4.5, "items": [
                {"id": 1, "title": "a", "author": {"name": "Ada"}},
                {"id": 2, "title": "b", "author": {"name": "Lin"}}
            ]})
        );
    }

    #[test]
    fn paths_that_can_never_match_are_errors() {
        let errors = shape(
            &["items.*.id"],
            &["best.body", "items.*", "items..x"],
            &[("items.*.name", "title"), ("count", "a.b")],
        )
        .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            ["omit", "omit", "omit", "rename", "rename"],
            "{errors:?}"
        );
        assert!(
            errors[0].message.contains("neither a field name"),
            "{errors:?}"
        );
        assert!(errors[1].message.contains("select drops it"), "{errors:?}");
        assert!(errors[2].message.contains("not '*'"), "{errors:?}");
        let errors = shape(
            &[],
            &["best"],
            &[("items.*.name", "t"), ("average", "count")],
        );
        assert!(errors.is_ok(), "renaming onto an existing field is allowed");
        let errors = shape(&[], &["items"], &[("items.*.name", "t")]).unwrap_err();
        assert!(errors[0].message.contains("omit drops it"), "{errors:?}");
        let errors = shape(&[], &[], &[("a", "x"), ("b", "x")]).unwrap_err();
        assert!(
            errors[0].message.contains("renamed to \"x\" too"),
            "{errors:?}"
        );
        // Renames neither chain, nor swap, nor reach under a renamed field.
        let errors = shape(&[], &[], &[("a", "b"), ("b", "c")]).unwrap_err();
        assert!(errors[0].message.contains("do not chain"), "{errors:?}");
        let errors = shape(&[], &[], &[("items", "list"), ("items.*.name", "t")]).unwrap_err();
        assert!(errors[0].message.contains("renamed first"), "{errors:?}");
    }

    #[test]
    fn transforms_run_and_fail_clearly() {
        let t = Transform::compile("{n: (.items | length), ids: [.items[].id]}").unwrap();
        assert_eq!(
            t.run(&data(), 1 << 20).unwrap(),
            json!({"n": 2, "ids": [1, 2]})
        );
        assert_eq!(t.run(&data(), 5), Err(TransformError::TooLarge(5)));
        assert!(matches!(
            Transform::compile(".items[").unwrap_err(),
            m if m.contains("does not parse")
        ));
        assert!(
            Transform::compile("nosuch(1)")
                .unwrap_err()
                .contains("undefined filter nosuch")
        );
        let failing = Transform::compile(".count | error(\"no\")").unwrap();
        assert!(matches!(
            failing.run(&data(), 1 << 20),
            Err(TransformError::Failed(_))
        ));
        let empty = Transform::compile("empty").unwrap();
        assert_eq!(empty.run(&data(), 1 << 20), Err(TransformError::NoOutput));
        failing.trip();
        assert_eq!(failing.run(&data(), 1 << 20), Err(TransformError::Tripped));
        assert!(
            Transform::compile("def f: [f]; f")
                .unwrap_err()
                .contains("`def`")
        );
    }
}
