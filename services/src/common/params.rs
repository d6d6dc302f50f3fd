//! What requests carry, parsed the same way by every service: ids in the path, id lists and
//! paging in the query. Every malformed value is a JSON 400 that names it.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::Deserialize;

use super::http::ServiceError;

/// The most ids one batch request may ask for.
pub const MAX_BATCH: usize = 100;

/// The positive integer id of a route's `{id}` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
        parse_id(&raw).map(Self)
    }
}

/// A query string as `T`, rejected as a JSON 400 (`Query` alone would answer in plain text).
#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(ServiceError))]
pub struct Params<T>(pub T);

/// `?ids=1,2,3` of the batch routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    pub ids: String,
}

/// `?page=&per_page=` of paged lists. Numbers arrive as strings so a bad one gets our own message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// Parses a positive integer id from a path segment, or says why it is malformed.
pub fn parse_id(raw: &str) -> Result<i64, ServiceError> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ServiceError::BadRequest(format!(
            "malformed id {raw:?}: expected a positive integer"
        ))),
    }
}

/// The longest `ids=` value accepted: [`MAX_BATCH`] ids of 19 digits and their commas.
const MAX_ID_LIST_BYTES: usize = MAX_BATCH * 20;

/// Parses `1,2,3`: at least one and at most [`MAX_BATCH`] positive integers, duplicates dropped.
/// The size is checked before anything else, so an oversized list costs nothing to refuse.
pub fn parse_id_list(raw: &str) -> Result<Vec<i64>, ServiceError> {
    let count = raw.split(',').count();
    if count > MAX_BATCH || raw.len() > MAX_ID_LIST_BYTES {
        return Err(ServiceError::BadRequest(format!(
            "at most {MAX_BATCH} ids per request, got {count} ({} bytes)",
            raw.len()
        )));
    }
    let mut ids = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::with_capacity(count);
    for part in raw.split(',') {
        let id = parse_id(part.trim())?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Parses a paging parameter: a positive integer no larger than `max`.
pub fn parse_paging(
    name: &str,
    raw: Option<&str>,
    default: u32,
    max: u32,
) -> Result<u32, ServiceError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ServiceError::BadRequest(format!(
            "{name} must be an integer from 1 to {max}, got {raw:?}"
        ))),
    }
}

/// `(page, per_page)` of a paged list: the first page by default, and `default_per_page`, at most
/// `max_per_page`, items on it.
pub fn parse_page(
    page: Option<&str>,
    per_page: Option<&str>,
    default_per_page: u32,
    max_per_page: u32,
) -> Result<(u32, u32), ServiceError> {
    let page = parse_paging("page", page, 1, 1_000_000)?;
    let per_page = parse_paging("per_page", per_page, default_per_page, max_per_page)?;
    Ok((page, per_page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(parse_id("42").unwrap(), 42);
        for bad in ["0", "-1", "abc", "1.5", "", "99999999999999999999"] {
            assert!(
                matches!(parse_id(bad), Err(ServiceError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn id_lists_are_bounded_before_they_are_parsed() {
        assert_eq!(parse_id_list("3,1,3,2").unwrap(), [3, 1, 2]);
        // 101 ids, the last one malformed: the size is refused first, without parsing.
        let long = format!("{},x", vec!["1"; 100].join(","));
        let Err(ServiceError::BadRequest(message)) = parse_id_list(&long) else {
            panic!("an oversized list is refused");
        };
        assert!(message.contains("at most 100 ids"), "{message}");
        // A few long "ids" are refused by size too.
        let wide = vec!["9".repeat(500); 3].join(",");
        assert!(parse_id_list(&wide).is_err());
        assert!(parse_id_list(&vec!["7"; 100].join(",")).is_ok());
    }
}
