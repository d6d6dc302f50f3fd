//! Tessera's demo data services. Each owns its own SQLite file, seeded deterministically on first
//! start, serves its own HTTP API with ETags and JSON errors, and accepts fault injection so the
//! BFF's resilience and the page's degradation can be shown and tested.
//!
//! # Layout
//!
//! - [`common`]: the SQLite pool, HTTP conventions (errors, ETag/304), request parameters, fault
//!   injection, OpenTelemetry traces, serving, the BFF's public keys, CORS.
//! - [`seed`]: the deterministic data set every service seeds from.
//! - [`catalog`]: products and categories (port 8081).
//! - [`inventory`]: price and stock (8082).
//! - [`reviews`]: reviews and their materialized summaries (8083).
//! - [`recommendations`]: related products (8084).
//! - [`accounts`]: shoppers, orders and invoices behind the BFF's short-lived keys (8085).
//! - [`demo`]: all five in one process on ephemeral ports, for tests.

pub mod accounts;
pub mod catalog;
pub mod common;
pub mod demo;
pub mod inventory;
pub mod recommendations;
pub mod reviews;
pub mod seed;

pub use common::faults::{FaultSwitch, Faults};
pub use common::telemetry::Telemetry;
pub use seed::Scale;
