//! One page per module.

pub(crate) mod home;
pub(crate) mod not_found;
pub(crate) mod product;
