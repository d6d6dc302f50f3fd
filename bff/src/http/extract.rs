//! axum's extractors with [`AppError`] as their rejection, so a malformed path, query or body
//! is our JSON error without a `map_err` in any handler (axum's `customize-extractor-error`).

use axum::extract::{FromRequest, FromRequestParts};

use super::error::AppError;

/// Path parameters; a mismatch is a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub(crate) struct Path<T>(pub(crate) T);

/// A query string; unknown or malformed fields are a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub(crate) struct Query<T>(pub(crate) T);

/// A JSON body; a malformed one is a 400, a missing content type a 415, too large a 413.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub(crate) struct Json<T>(pub(crate) T);
