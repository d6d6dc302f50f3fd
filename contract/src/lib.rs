//! The wire contract between the BFF and its clients (the browser front end, API users).
//!
//! A composite view is a set of named parts. Each part carries its own outcome, so a client can
//! render what arrived and mark what did not, and the view says whether it is complete.
//!
//! # Layout
//!
//! - [`PartStatus`], [`PartOutcome`]: one part and how it was obtained.
//! - [`ViewEnvelope`]: the buffered response of `GET /api/views/{view}/{id}`.
//! - [`StreamLine`]: one line of the NDJSON stream of the same view.
//! - [`ErrorBody`]: every 4xx/5xx JSON body the BFF and the demo services return.
//! - [`data`]: the demo services' JSON inside parts, as the front end reads it.
//! - [`ops`]: the admin API's live statistics, as the ops page reads them.
//! - [`account`]: signing in, the signed-in shopper, their orders and vault keys.
//! - `keys` (feature `keys`): the signed tokens and URLs the BFF hands out and the services
//!   verify on their own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod account;
pub mod data;
#[cfg(feature = "keys")]
pub mod keys;
pub mod ops;

/// How a part was obtained. `Ok`, `Stale` and `Partial` carry upstream data; `Fallback` carries
/// the configured fallback value; `Timeout` and `Error` carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    /// Fresh data from the upstream (or from cache within its TTL).
    Ok,
    /// Cached data past its TTL, served because the upstream was slow, failing or being refreshed.
    Stale,
    /// A per-item part some of whose items failed: its list holds `null` for each of them, and
    /// `failed` says why.
    Partial,
    /// The upstream failed and the part's configured fallback value was used instead.
    Fallback,
    /// The part's deadline passed before the upstream answered.
    Timeout,
    /// The upstream failed (status, connection, or an undecodable body).
    Error,
    /// A part that belongs to one shopper (`scope = "user"`), asked for by nobody signed in:
    /// no upstream was called.
    Unauthorized,
}

impl PartStatus {
    /// Whether the part holds usable data (its own or a fallback).
    pub fn has_data(self) -> bool {
        matches!(
            self,
            Self::Ok | Self::Stale | Self::Partial | Self::Fallback
        )
    }

    /// The lowercase name used on the wire and in `data-status` attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Stale => "stale",
            Self::Partial => "partial",
            Self::Fallback => "fallback",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// One part of a composite view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartOutcome {
    pub status: PartStatus,
    /// Whether the view fails without this part.
    pub critical: bool,
    /// Wall time spent on this part, in milliseconds.
    pub elapsed_ms: u64,
    /// For `stale`: how long past its fetch time the cached copy is, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_s: Option<u64>,
    /// The part's data, present when `status.has_data()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// A short, client-safe reason for `timeout`/`error`/`fallback` (never upstream internals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PartError>,
    /// For a per-item part: the items that failed, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<ItemFailure>,
}

/// One item of a per-item part that has no data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// Its place in the list.
    pub index: usize,
    /// The item (the value its call was made for).
    pub item: String,
    pub code: String,
    pub message: String,
}

/// Why a part has no data of its own. The `code` is stable; the `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartError {
    pub code: String,
    pub message: String,
}

/// The buffered response of a composite view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewEnvelope {
    pub view: String,
    pub id: String,
    /// True when every requested part is `ok` (or `unauthorized`: nothing to get for a
    /// visitor who is not signed in).
    pub complete: bool,
    pub elapsed_ms: u64,
    pub parts: BTreeMap<String, PartOutcome>,
}

impl ViewEnvelope {
    /// The data of a part, if it has any.
    pub fn data(&self, part: &str) -> Option<&serde_json::Value> {
        self.parts.get(part).and_then(|p| p.data.as_ref())
    }
}

/// One line of a streamed view (`application/x-ndjson`): every part as it finishes, then one
/// summary line.
///
/// Read through [`WireLine`], in one pass: the derived form of an internally tagged enum with a
/// flattened field buffers every line's fields (a part's data included) and converts them a
/// second time, and its code was the largest single piece of the browser's JSON reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "WireLine")]
pub enum StreamLine {
    Part {
        name: String,
        #[serde(flatten)]
        outcome: PartOutcome,
    },
    Summary {
        view: String,
        id: String,
        complete: bool,
        /// The HTTP status the buffered form of this view would have had.
        status: u16,
        elapsed_ms: u64,
    },
}

/// A stream line as it is on the wire: the fields of both kinds, told apart by `type`. A field
/// of one kind is type-checked on a line of the other too (a summary's `critical` must be a
/// boolean if present): a later field must not reuse a name of the other kind with another type.
#[derive(Deserialize)]
struct WireLine {
    #[serde(rename = "type")]
    kind: LineKind,
    name: Option<String>,
    /// A part's [`PartStatus`], or the summary's HTTP status.
    status: Option<LineStatus>,
    critical: Option<bool>,
    elapsed_ms: u64,
    age_s: Option<u64>,
    data: Option<serde_json::Value>,
    error: Option<PartError>,
    #[serde(default)]
    failed: Vec<ItemFailure>,
    view: Option<String>,
    id: Option<String>,
    complete: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LineKind {
    Part,
    Summary,
}

enum LineStatus {
    Part(PartStatus),
    Http(u16),
}

/// A name is a part's status, a number the summary's (by hand: `untagged` would buffer it).
impl<'de> Deserialize<'de> for LineStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LineStatus;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a part's status or an HTTP status")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<LineStatus, E> {
                use serde::de::IntoDeserializer;
                PartStatus::deserialize(name.into_deserializer()).map(LineStatus::Part)
            }

            fn visit_u64<E: serde::de::Error>(self, code: u64) -> Result<LineStatus, E> {
                u16::try_from(code)
                    .map(LineStatus::Http)
                    .map_err(|_| E::custom("an HTTP status above 65535"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl TryFrom<WireLine> for StreamLine {
    type Error = &'static str;

    fn try_from(line: WireLine) -> Result<Self, Self::Error> {
        match (line.kind, line.status) {
            (LineKind::Part, Some(LineStatus::Part(status))) => Ok(Self::Part {
                name: line.name.ok_or("a part line without its name")?,
                outcome: PartOutcome {
                    status,
                    critical: line.critical.ok_or("a part line without `critical`")?,
                    elapsed_ms: line.elapsed_ms,
                    age_s: line.age_s,
                    data: line.data,
                    error: line.error,
                    failed: line.failed,
                },
            }),
            (LineKind::Summary, Some(LineStatus::Http(status))) => Ok(Self::Summary {
                view: line.view.ok_or("a summary line without its view")?,
                id: line.id.ok_or("a summary line without its id")?,
                complete: line.complete.ok_or("a summary line without `complete`")?,
                status,
                elapsed_ms: line.elapsed_ms,
            }),
            (LineKind::Part, _) => Err("a part line without a part's status"),
            (LineKind::Summary, _) => Err("a summary line without an HTTP status"),
        }
    }
}

/// One `part` line of a streamed view, serialized without copying the outcome; the same JSON as
/// [`StreamLine::Part`] (without the trailing newline).
pub fn encode_part_line(name: &str, outcome: &PartOutcome) -> Vec<u8> {
    #[derive(Serialize)]
    struct PartLine<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        name: &'a str,
        #[serde(flatten)]
        outcome: &'a PartOutcome,
    }
    serde_json::to_vec(&PartLine {
        kind: "part",
        name,
        outcome,
    })
    .expect("part outcomes serialize")
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`not_found`, `bad_request`, `upstream_timeout`, ...).
    pub code: String,
    /// A sentence for people; never contains upstream bodies or addresses.
    pub message: String,
    /// The request id, to find the details in the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                request_id: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_line_flattens_outcome_beside_its_name() {
        let line = StreamLine::Part {
            name: "reviews".into(),
            outcome: PartOutcome {
                status: PartStatus::Timeout,
                critical: false,
                elapsed_ms: 250,
                age_s: None,
                data: None,
                error: Some(PartError {
                    code: "timeout".into(),
                    message: "reviews did not answer within 250 ms".into(),
                }),
                failed: Vec::new(),
            },
        };
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["type"], "part");
        assert_eq!(json["name"], "reviews");
        assert_eq!(json["status"], "timeout");
        assert!(json.get("data").is_none());
        let back: StreamLine = serde_json::from_value(json).unwrap();
        assert_eq!(back, line);

        let StreamLine::Part { name, outcome } = &line else {
            unreachable!()
        };
        let borrowed: StreamLine =
            serde_json::from_slice(&encode_part_line(name, outcome)).unwrap();
        assert_eq!(borrowed, line, "the borrowed encoding is the same line");
    }

    #[test]
    fn lines_are_read_as_the_derived_form_wrote_them() {
        let part = StreamLine::Part {
            name: "product".into(),
            outcome: PartOutcome {
                status: PartStatus::Partial,
                critical: true,
                elapsed_ms: 12,
                age_s: Some(30),
                data: Some(serde_json::json!({"items": [null, {"a": [1, 2.5, "x", true]}]})),
                error: None,
                failed: vec![ItemFailure {
                    index: 0,
                    item: "7".into(),
                    code: "timeout".into(),
                    message: "late".into(),
                }],
            },
        };
        let summary = StreamLine::Summary {
            view: "product".into(),
            id: "7".into(),
            complete: false,
            status: 504,
            elapsed_ms: 250,
        };
        for line in [part, summary] {
            let text = serde_json::to_string(&line).unwrap();
            assert_eq!(
                serde_json::from_str::<StreamLine>(&text).unwrap(),
                line,
                "{text}"
            );
        }
        // Fields a later BFF may add are passed over; `null` data is no data.
        let line: StreamLine = serde_json::from_str(
            r#"{"type":"part","name":"x","status":"error","critical":false,"elapsed_ms":1,
                "data":null,"trace":"later"}"#,
        )
        .unwrap();
        assert!(matches!(line, StreamLine::Part { outcome, .. } if outcome.data.is_none()));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for text in [
            r#"{"type":"part","name":"x","status":200,"critical":false,"elapsed_ms":1}"#,
            r#"{"type":"part","status":"ok","critical":false,"elapsed_ms":1}"#,
            r#"{"type":"part","name":"x","status":"fine","critical":false,"elapsed_ms":1}"#,
            r#"{"type":"summary","view":"v","id":"1","complete":true,"status":"ok","elapsed_ms":1}"#,
            r#"{"type":"summary","view":"v","complete":true,"status":200,"elapsed_ms":1}"#,
            r#"{"type":"summary","view":"v","id":"1","complete":true,"status":70000,"elapsed_ms":1}"#,
            r#"{"type":"other","status":200,"elapsed_ms":1}"#,
            r#"{"name":"x","status":"ok","critical":false,"elapsed_ms":1}"#,
            r#"{"type":"part","name":"x","status":"ok","critical":false}"#,
            r#"{"type":"part","name":"x","status":"ok","elapsed_ms":1}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<StreamLine>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn only_data_carrying_statuses_have_data() {
        assert!(PartStatus::Stale.has_data());
        assert!(PartStatus::Fallback.has_data());
        assert!(!PartStatus::Timeout.has_data());
        assert!(!PartStatus::Error.has_data());
    }
}

/// Whether an `If-None-Match` header value matches `etag` (a quoted strong tag), using the weak
/// comparison RFC 9110 §13.1.2 prescribes for `If-None-Match`: `*`, or any listed tag equal to
/// ours once a `W/` prefix is ignored.
/// The response header (and the page's `<meta>`) naming a front-end build: `<n>-<hash>`,
/// where `n` counts the builds fingerprinted into one folder.
pub const BUILD_HEADER: &str = "tessera-build";

/// The number at the front of a build id: a later build has a larger one.
pub fn build_number(build: &str) -> Option<u64> {
    build.split('-').next()?.parse().ok()
}

pub fn if_none_match(header: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod conditional_tests {
    use super::if_none_match;

    #[test]
    fn matches_lists_stars_and_weak_forms() {
        assert!(if_none_match("\"a\"", "\"a\""));
        assert!(if_none_match("\"x\", W/\"a\"", "\"a\""));
        assert!(if_none_match("*", "\"a\""));
        assert!(!if_none_match("\"b\"", "\"a\""));
        assert!(!if_none_match("a", "\"a\""));
    }
}
