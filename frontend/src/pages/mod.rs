//! One module per page.

pub(crate) mod account;
pub(crate) mod category;
pub(crate) mod home;
pub(crate) mod listing;
pub(crate) mod not_found;
pub(crate) mod ops;
pub(crate) mod product;
