//! The demo services' JSON as the front end reads it from a view's parts (the BFF relays each
//! service's answer as the part's `data`). Most types name only the fields the page uses, so a
//! service may add fields freely; [`Stock`] and [`Rating`] are the very types the inventory and
//! reviews services serialize. `services/tests/front_end_contract.rs` feeds the services' real
//! answers through these types, so a field the page needs cannot quietly disappear or change type.

use serde::{Deserialize, Serialize};

/// The catalog's product (`GET /products/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: CategoryRef,
    /// The picture's path on the catalog (`/images/7.svg`); the page loads it through the BFF.
    pub image: String,
    pub attributes: Attributes,
}

/// The category a product belongs to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CategoryRef {
    pub slug: String,
    pub name: String,
}

/// What the catalog knows of a product beyond its name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Attributes {
    pub material: String,
    pub color: String,
    pub weight_g: u32,
}

/// A product in a list: enough for a card (`GET /products`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProductCard {
    pub id: i64,
    pub name: String,
    pub image: String,
}

/// A catalog category with its size (`GET /categories`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Category {
    pub slug: String,
    pub name: String,
    pub product_count: i64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub total: i64,
    pub total_pages: i64,
}

/// The `{"items": [...]}` shape of lists that are not paged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// Price and stock from inventory (`GET /products/{id}/stock`, `GET /stock?ids=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    pub product_id: i64,
    /// Price in the currency's minor unit (cents).
    pub price_cents: i64,
    pub currency: String,
    pub stock: i64,
    /// `in_stock`, `low` or `out_of_stock`.
    pub availability: String,
}

/// The reviews service's materialized summary (`GET /products/{id}/summary`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReviewSummary {
    pub count: i64,
    pub average: Option<f64>,
    /// Reviews per rating; index 0 is one star.
    pub histogram: [i64; 5],
}

/// A product's rating in a few bytes, for lists of products (`GET /summaries?ids=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub product_id: i64,
    pub count: i64,
    pub average: Option<f64>,
}

/// One review (`GET /products/{id}/reviews`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Review {
    pub id: i64,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub author: String,
}

/// A related product (`GET /products/{id}/recommendations`,
/// `GET /categories/{slug}/recommendations`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Related {
    pub id: i64,
    pub name: String,
}

/// A review as the page's form sends it (`POST /products/{id}/reviews`, through the BFF's
/// `review` action).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewReview {
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub author: String,
}
