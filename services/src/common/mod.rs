//! What every demo service shares: the SQLite pool, HTTP conventions, request parameters, fault
//! injection, traces, serving.
//!
//! The modules depend on each other in one direction only: `server` → `faults` → `http` → `db`
//! → `telemetry`, and `params` → `http`. Nothing lower imports anything higher.

pub mod db;
pub mod faults;
pub mod http;
pub mod params;
pub mod server;
pub mod telemetry;
