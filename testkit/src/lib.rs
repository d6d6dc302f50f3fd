//! Helpers shared by Tessera's integration tests and benchmarks (never by the shipped binaries).
//!
//! - [`stub`]: a scriptable upstream over raw TCP that records when each request started, when
//!   it was answered and when the client went away.
//! - [`config`]: BFF configurations built in code (upstreams, views, parts) as TOML.
//! - [`http`]: GET JSON or text, and conditional GETs that must answer 304.
//! - [`otlp`]: an OTLP/HTTP trace receiver that keeps the spans exporters send it.
//! - [`bench`]: percentiles and the writer of `docs/BENCHMARKS.md` sections.

pub mod bench;
pub mod config;
pub mod http;
pub mod otlp;
pub mod stub;
