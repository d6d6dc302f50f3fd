//! What every demo service shares: the SQLite pool, HTTP conventions, fault injection, serving.

pub mod db;
pub mod faults;
pub mod http;
pub mod server;
