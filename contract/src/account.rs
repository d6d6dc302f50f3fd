//! Signed-in shoppers: what the page sends to sign in, what the BFF says of the session, the
//! accounts service's orders as the page reads them, and the vault keys the page asks for.
//!
//! The page never holds a token: the session is an `HttpOnly` cookie the BFF set, and a vault
//! key is a URL that works for a minute or two on one document.

use serde::{Deserialize, Serialize};

/// `POST /api/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub user: String,
    pub password: String,
}

/// Who is signed in (`GET /api/session`, and the answer to a sign-in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The login name (`alice`).
    pub user: String,
    /// The name to show (`Alice Archer`).
    pub name: String,
    /// When the session ends, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// A vault key (`POST /api/keys/{grant}/{id}`): a URL on the data service itself, signed for
/// this shopper, this document and a short while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGrant {
    pub url: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// One order (`GET /me/orders` on the accounts service, the `orders` part of the `account`
/// view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    /// `YYYY-MM-DD`.
    pub placed_at: String,
    pub total_cents: i64,
    pub currency: String,
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: i64,
    pub name: String,
    pub quantity: u32,
    pub price_cents: i64,
}

/// A page of a shopper's orders, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Orders {
    pub items: Vec<Order>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// When a shopper bought one product (`GET /me/purchases/{product}`, the `purchases` part of
/// the `product` view): empty when never.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purchases {
    pub product_id: i64,
    pub orders: Vec<Purchase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    pub order_id: i64,
    /// `YYYY-MM-DD`.
    pub placed_at: String,
}
