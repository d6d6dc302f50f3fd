//! What every demo service shares: the SQLite pool, HTTP conventions, request parameters, fault
//! injection, traces, serving, and, for the services behind the BFF's keys, the public key ring
//! and CORS.
//!
//! The modules depend on each other in one direction only: `server` → `faults` → `http` → `db`
//! → `telemetry`, and `params` → `http`. Nothing lower imports anything higher; `keyring` and
//! `cors` import none of them.

pub mod cors;
pub mod db;
pub mod faults;
pub mod http;
pub mod keyring;
pub mod params;
pub mod server;
pub mod telemetry;
