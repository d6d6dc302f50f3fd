//! Talking to the BFF: the view client and the DTOs of the demo services' data.

use gloo_net::http::Request;
use send_wrapper::SendWrapper;
use serde::Deserialize;
use tessera_contract::{ErrorBody, ViewEnvelope};

/// Why a view could not be loaded, in words fit for the page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status, or `None` when the request never got an answer.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
}

impl ApiError {
    fn network(message: impl Into<String>) -> Self {
        Self {
            status: None,
            code: "network".into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} ({status})", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// Loads `GET /api/views/{view}/{id}`. The request is aborted if the calling reactive scope is
/// cleaned up (e.g. the user navigates away).
///
/// A 502/504 still carries the view (its optional parts may be fine), so it is returned as `Ok`
/// and the page shows each part's own outcome.
pub(crate) fn fetch_view(
    view: &str,
    id: &str,
) -> impl std::future::Future<Output = Result<ViewEnvelope, ApiError>> + Send + use<> {
    let url = format!("/api/views/{view}/{id}");
    SendWrapper::new(async move {
        let controller = SendWrapper::new(web_sys::AbortController::new().ok());
        let signal = controller.as_ref().map(|c| c.signal());
        leptos::prelude::on_cleanup(move || {
            if let Some(controller) = controller.take() {
                controller.abort();
            }
        });
        let response = Request::get(&url)
            .header("accept", "application/json")
            .abort_signal(signal.as_ref())
            .send()
            .await
            .map_err(|e| ApiError::network(format!("the shop could not be reached: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::network(format!("the answer was cut off: {e}")))?;
        if let Ok(envelope) = serde_json::from_str::<ViewEnvelope>(&text) {
            return Ok(envelope);
        }
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ApiError {
                status: Some(status),
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => ApiError {
                status: Some(status),
                code: "unexpected".into(),
                message: "the shop sent an unexpected answer".into(),
            },
        })
    })
}

/// The catalog's product.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: CategoryRef,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct CategoryRef {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Attributes {
    pub material: String,
    pub color: String,
    pub weight_g: u32,
}

/// Price and stock from inventory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Stock {
    pub price_cents: i64,
    pub currency: String,
    pub stock: i64,
    /// `in_stock`, `low` or `out_of_stock`.
    pub availability: String,
}

/// The reviews service's materialized summary.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ReviewSummary {
    pub count: i64,
    pub average: Option<f64>,
    /// Reviews per rating; index 0 is one star.
    pub histogram: [i64; 5],
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Review {
    pub id: i64,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub author: String,
}

/// A related product.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Related {
    pub id: i64,
    pub name: String,
}

/// The `{"items": [...]}` shape of lists.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Items<T> {
    pub items: Vec<T>,
}
