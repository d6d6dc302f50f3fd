//! The recommendations service: related products for a product, and the top picks of a
//! category. Owns `recommendations.db`, a read model computed when it is seeded (names are copied
//! in, as a recommendation engine's index would hold them).

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::common::db::{Db, DbError};
use crate::common::faults::FaultSwitch;
use crate::common::http::{ServiceError, cached_json, cached_or_404};
use crate::common::params::{Id, Params, parse_paging};
use crate::common::server;
use crate::seed::{self, CATEGORIES, Scale};

const MAX_AGE_S: u32 = 300;
/// Related products stored per product.
const RELATED: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub id: i64,
    pub name: String,
    pub category: String,
    /// Relevance from 0 to 1.
    pub score: f64,
}

#[derive(Debug, Clone)]
pub struct Recommendations {
    db: Arc<Db>,
}

impl Recommendations {
    /// Opens the store at `path`, creating and seeding it on first use.
    pub fn open(path: &Path, scale: Scale) -> Result<Self, DbError> {
        let db = Db::open_seeded(path, SCHEMA, "items", |conn| populate(conn, scale))?;
        Ok(Self { db })
    }

    pub fn router(self, faults: FaultSwitch) -> Router {
        let routes = Router::new()
            .route("/products/{id}/recommendations", get(for_product))
            .route("/categories/{slug}/recommendations", get(for_category))
            .with_state(self);
        server::wrap("recommendations", routes, faults)
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS items (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL,
         category TEXT NOT NULL,
         popularity REAL NOT NULL
     );
     CREATE INDEX IF NOT EXISTS items_by_category ON items(category, popularity DESC);
     CREATE TABLE IF NOT EXISTS related (
         product_id INTEGER NOT NULL,
         rank INTEGER NOT NULL,
         related_id INTEGER NOT NULL REFERENCES items(id),
         score REAL NOT NULL,
         PRIMARY KEY (product_id, rank)
     ) WITHOUT ROWID;";

fn populate(conn: &mut Connection, scale: Scale) -> rusqlite::Result<()> {
    let products = seed::products(scale);
    let mut rng = fastrand::Rng::with_seed(seed::SEED ^ 0x3_0000);
    let mut by_category: Vec<Vec<i64>> = vec![Vec::new(); CATEGORIES.len()];
    for p in &products {
        by_category[(p.category_id - 1) as usize].push(p.id);
    }
    let tx = conn.transaction()?;
    {
        let mut insert_item = tx.prepare(
            "INSERT INTO items (id, name, category, popularity) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for p in &products {
            let slug = CATEGORIES[(p.category_id - 1) as usize].0;
            insert_item.execute(params![p.id, p.name, slug, rng.f64()])?;
        }
        let mut insert_related = tx.prepare(
            "INSERT INTO related (product_id, rank, related_id, score) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for p in &products {
            let same = &by_category[(p.category_id - 1) as usize];
            let mut picked: Vec<i64> = Vec::with_capacity(RELATED);
            // Mostly the same category, and two from elsewhere for discovery.
            for attempt in 0..RELATED * 4 {
                if picked.len() == RELATED {
                    break;
                }
                let candidate = if picked.len() < RELATED - 2 && attempt < RELATED * 3 {
                    same[rng.usize(..same.len())]
                } else {
                    products[rng.usize(..products.len())].id
                };
                if candidate != p.id && !picked.contains(&candidate) {
                    picked.push(candidate);
                }
            }
            for (rank, related) in picked.iter().enumerate() {
                let score =
                    ((0.95 - rank as f64 * 0.08 - rng.f64() * 0.04) * 100.0).round() / 100.0;
                insert_related.execute(params![p.id, rank as i64, related, score])?;
            }
        }
    }
    tx.commit()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<String>,
}

async fn for_product(
    State(recs): State<Recommendations>,
    Id(id): Id,
    Params(query): Params<LimitQuery>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let limit = parse_paging("limit", query.limit.as_deref(), 4, RELATED as u32)?;
    let items = recs
        .db
        .call(move |conn| {
            let known: i64 =
                conn.query_row("SELECT count(*) FROM items WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            if known == 0 {
                return Ok(None);
            }
            let items = conn
                .prepare_cached(
                    "SELECT i.id, i.name, i.category, r.score FROM related r
                     JOIN items i ON i.id = r.related_id
                     WHERE r.product_id = ?1 ORDER BY r.rank LIMIT ?2",
                )?
                .query_map(params![id, limit], |r| {
                    Ok(Recommendation {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        category: r.get(2)?,
                        score: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(items))
        })
        .await?;
    let body = items.map(|items| serde_json::json!({ "product_id": id, "items": items }));
    cached_or_404(&headers, body, MAX_AGE_S, || {
        format!("no product with id {id}")
    })
}

async fn for_category(
    State(recs): State<Recommendations>,
    UrlPath(slug): UrlPath<String>,
    query: Result<Params<LimitQuery>, ServiceError>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    if !CATEGORIES.iter().any(|(s, _, _)| *s == slug) {
        return Err(ServiceError::NotFound("no such category".into()));
    }
    // An unknown category is a 404 even with a bad query, so the query is checked second.
    let Params(query) = query?;
    let limit = parse_paging("limit", query.limit.as_deref(), 4, 24)?;
    let category = slug.clone();
    let items = recs
        .db
        .call(move |conn| {
            conn.prepare_cached(
                "SELECT id, name, category, popularity FROM items
                 WHERE category = ?1 ORDER BY popularity DESC LIMIT ?2",
            )?
            .query_map(params![category, limit], |r| {
                Ok(Recommendation {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    category: r.get(2)?,
                    score: (r.get::<_, f64>(3)? * 100.0).round() / 100.0,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    Ok(cached_json(
        &headers,
        &serde_json::json!({ "category": slug, "items": items }),
        MAX_AGE_S,
    ))
}
