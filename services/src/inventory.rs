//! The inventory service: price, currency and stock level per product. Owns `inventory.db`.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use rusqlite::{Connection, OptionalExtension, params};

use crate::common::db::{Db, DbError};
use crate::common::faults::FaultSwitch;
use crate::common::http::{ServiceError, cached_items, cached_or_404};
use crate::common::params::{BatchQuery, Id, Params, parse_id_list};
use crate::common::server;
use crate::seed::{self, LOW_STOCK, Scale};

/// What the service answers per product: the front end's own type.
pub use tessera_contract::data::Stock;

/// Stock moves: clients and the BFF may cache it only briefly.
const MAX_AGE_S: u32 = 5;

#[derive(Debug, Clone)]
pub struct Inventory {
    db: Arc<Db>,
}

impl Inventory {
    /// Opens the store at `path`, creating and seeding it on first use.
    pub fn open(path: &Path, scale: Scale) -> Result<Self, DbError> {
        let db = Db::open_seeded(path, SCHEMA, "stock", |conn| populate(conn, scale))?;
        Ok(Self { db })
    }

    pub fn router(self, faults: FaultSwitch) -> Router {
        let routes = Router::new()
            .route("/products/{id}/stock", get(get_stock))
            .route("/stock", get(batch_stock))
            .with_state(self);
        server::wrap("inventory", routes, faults)
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS stock (
         product_id INTEGER PRIMARY KEY,
         price_cents INTEGER NOT NULL CHECK (price_cents > 0),
         currency TEXT NOT NULL,
         stock INTEGER NOT NULL CHECK (stock >= 0)
     );";

fn populate(conn: &mut Connection, scale: Scale) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO stock (product_id, price_cents, currency, stock) VALUES (?1, ?2, 'EUR', ?3)",
        )?;
        for s in seed::stock(scale) {
            insert.execute(params![s.product_id, s.price_cents, s.stock])?;
        }
    }
    tx.commit()
}

fn availability(stock: i64) -> &'static str {
    match stock {
        0 => "out_of_stock",
        n if n <= LOW_STOCK => "low",
        _ => "in_stock",
    }
}

fn read_stock(conn: &Connection, id: i64) -> rusqlite::Result<Option<Stock>> {
    conn.prepare_cached("SELECT price_cents, currency, stock FROM stock WHERE product_id = ?1")?
        .query_row([id], |r| {
            let stock: i64 = r.get(2)?;
            Ok(Stock {
                product_id: id,
                price_cents: r.get(0)?,
                currency: r.get(1)?,
                stock,
                availability: availability(stock).to_owned(),
            })
        })
        .optional()
}

async fn get_stock(
    State(inventory): State<Inventory>,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let stock = inventory.db.call(move |conn| read_stock(conn, id)).await?;
    cached_or_404(&headers, stock, MAX_AGE_S, || {
        format!("no stock record for product {id}")
    })
}

/// `GET /stock?ids=1,2,3`: several products at once (the home page's grid). Unknown ids are
/// simply absent from `items`.
async fn batch_stock(
    State(inventory): State<Inventory>,
    Params(query): Params<BatchQuery>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let ids = parse_id_list(&query.ids)?;
    let items = inventory
        .db
        .call(move |conn| {
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(stock) = read_stock(conn, id)? {
                    items.push(stock);
                }
            }
            Ok(items)
        })
        .await?;
    Ok(cached_items(&headers, &items, MAX_AGE_S))
}
