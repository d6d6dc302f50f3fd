//! The application state: what a handler can reach.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub(crate) use crate::app::App;
use crate::app::Live;

/// The running application, behind one `Arc`: axum clones the state for every request.
pub(crate) type AppState = Arc<Live>;

/// The generation a request began on, loaded once (by the `observe` layer) and held to the
/// request's end: a reload never changes a request half-way.
#[derive(Debug, Clone)]
pub(crate) struct Current(pub(crate) Arc<App>);

impl FromRequestParts<AppState> for Current {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        live: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let app = parts.extensions.get::<Arc<App>>().cloned();
        Ok(Self(app.unwrap_or_else(|| live.current())))
    }
}
