//! Helpers shared by Tessera's integration tests and benchmarks (never by the shipped binaries).
//!
//! - [`stub`]: a scriptable upstream over raw TCP that records when each request started, when
//!   it was answered and when the client went away.
//! - [`bench`]: percentiles and the writer of `docs/BENCHMARKS.md` sections.

pub mod bench;
pub mod stub;
