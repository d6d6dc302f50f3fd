//! The ops page's parts (the page itself is `pages::ops`): the poll loop, formatting, and one
//! module per block of the page.

pub(crate) mod format;
pub(crate) mod parts;
pub(crate) mod poll;
pub(crate) mod sparkline;
pub(crate) mod summary;
pub(crate) mod upstreams;
