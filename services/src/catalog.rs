//! The catalog service: products (name, description, category, image, attributes) and
//! categories, with paging and filtering by category. Owns `catalog.db`.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::common::db::{Db, DbError};
use crate::common::faults::FaultSwitch;
use crate::common::http::{ServiceError, cached_items, cached_or_404, etag_of};
use crate::common::params::{Id, Params, parse_id, parse_page};
use crate::common::server;
use crate::seed::{self, CATEGORIES, Scale};

/// Products and categories change rarely: let clients and the BFF cache them for a minute.
const MAX_AGE_S: u32 = 60;
const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Category {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub product_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryRef {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category: CategoryRef,
    /// Path of the product image on this service.
    pub image: String,
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProductSummary {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub image: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    pub total_pages: i64,
}

impl<T> Page<T> {
    /// A page of `items` out of `total`, with the page count derived from them.
    pub fn new(items: Vec<T>, page: u32, per_page: u32, total: i64) -> Self {
        let per = i64::from(per_page);
        Self {
            items,
            page,
            per_page,
            total,
            total_pages: (total + per - 1) / per,
        }
    }
}

/// The catalog's state: its database.
#[derive(Debug, Clone)]
pub struct Catalog {
    db: Arc<Db>,
}

impl Catalog {
    /// Opens the store at `path`, creating and seeding it on first use; an existing file is reused.
    pub fn open(path: &Path, scale: Scale) -> Result<Self, DbError> {
        let db = Db::open_seeded(path, SCHEMA, "products", |conn| populate(conn, scale))?;
        Ok(Self { db })
    }

    /// The service's full router.
    pub fn router(self, faults: FaultSwitch) -> Router {
        let routes = Router::new()
            .route("/categories", get(list_categories))
            .route("/products", get(list_products))
            .route("/products/{id}", get(get_product))
            .route("/images/{file}", get(product_image))
            .with_state(self);
        server::wrap("catalog", routes, faults)
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS categories (
         id INTEGER PRIMARY KEY,
         slug TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS products (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL,
         description TEXT NOT NULL,
         category_id INTEGER NOT NULL REFERENCES categories(id),
         attributes TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS products_by_category ON products(category_id, id);";

fn populate(conn: &mut Connection, scale: Scale) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert_category =
            tx.prepare("INSERT INTO categories (id, slug, name) VALUES (?1, ?2, ?3)")?;
        for (i, (slug, name, _)) in CATEGORIES.iter().enumerate() {
            insert_category.execute(params![i as i64 + 1, slug, name])?;
        }
        let mut insert_product = tx.prepare(
            "INSERT INTO products (id, name, description, category_id, attributes)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for p in seed::products(scale) {
            let attributes = serde_json::json!({
                "material": p.material,
                "color": p.color,
                "weight_g": p.weight_g,
            });
            insert_product.execute(params![
                p.id,
                p.name,
                p.description,
                p.category_id,
                attributes.to_string()
            ])?;
        }
    }
    tx.commit()
}

fn image_path(id: i64) -> String {
    format!("/images/{id}.svg")
}

async fn list_categories(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let items = catalog
        .db
        .call(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.id, c.slug, c.name, count(p.id)
                 FROM categories c LEFT JOIN products p ON p.category_id = c.id
                 GROUP BY c.id ORDER BY c.name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Category {
                    id: r.get(0)?,
                    slug: r.get(1)?,
                    name: r.get(2)?,
                    product_count: r.get(3)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    Ok(cached_items(&headers, &items, MAX_AGE_S))
}

/// Query of `GET /products`. Numbers arrive as strings so a bad one gets our own message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductQuery {
    category: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

async fn list_products(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
    Params(query): Params<ProductQuery>,
) -> Result<Response, ServiceError> {
    let (page, per_page) = parse_page(
        query.page.as_deref(),
        query.per_page.as_deref(),
        24,
        MAX_PER_PAGE,
    )?;
    let category = query.category;
    let result = catalog
        .db
        .call(move |conn| {
            let category_id: Option<i64> = match &category {
                None => None,
                Some(slug) => {
                    let id = conn
                        .query_row("SELECT id FROM categories WHERE slug = ?1", [slug], |r| r.get(0))
                        .optional()?;
                    match id {
                        Some(id) => Some(id),
                        None => return Ok(None),
                    }
                }
            };
            let total: i64 = conn.query_row(
                "SELECT count(*) FROM products WHERE ?1 IS NULL OR category_id = ?1",
                [category_id],
                |r| r.get(0),
            )?;
            let mut stmt = conn.prepare_cached(
                "SELECT p.id, p.name, c.slug FROM products p JOIN categories c ON c.id = p.category_id
                 WHERE ?1 IS NULL OR p.category_id = ?1
                 ORDER BY p.id LIMIT ?2 OFFSET ?3",
            )?;
            let offset = i64::from(page - 1) * i64::from(per_page);
            let items = stmt
                .query_map(params![category_id, per_page, offset], |r| {
                    let id: i64 = r.get(0)?;
                    Ok(ProductSummary {
                        id,
                        name: r.get(1)?,
                        category: r.get(2)?,
                        image: image_path(id),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(Page::new(items, page, per_page, total)))
        })
        .await?;
    cached_or_404(&headers, result, MAX_AGE_S, || "no such category".into())
}

async fn get_product(
    State(catalog): State<Catalog>,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let product = catalog
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT p.id, p.name, p.description, c.id, c.slug, c.name, p.attributes
                 FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ?1",
                [id],
                |r| {
                    let attributes: String = r.get(6)?;
                    Ok(Product {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        description: r.get(2)?,
                        category: CategoryRef {
                            id: r.get(3)?,
                            slug: r.get(4)?,
                            name: r.get(5)?,
                        },
                        image: image_path(id),
                        attributes: serde_json::from_str(&attributes)
                            .unwrap_or(serde_json::Value::Null),
                    })
                },
            )
            .optional()
        })
        .await?;
    cached_or_404(&headers, product, MAX_AGE_S, || {
        format!("no product with id {id}")
    })
}

/// `GET /images/{id}.svg`: a generated, deterministic product picture.
async fn product_image(
    State(catalog): State<Catalog>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let raw_id = file
        .strip_suffix(".svg")
        .ok_or_else(|| ServiceError::NotFound("images are served as <id>.svg".into()))?;
    let id = parse_id(raw_id)?;
    let found = catalog
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT p.name, c.slug FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ?1",
                [id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
        })
        .await?;
    let Some((name, category)) = found else {
        return Err(ServiceError::NotFound(format!("no product with id {id}")));
    };
    let svg = render_svg(id, &name, &category);
    let etag = etag_of(svg.as_bytes());
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| tessera_contract::if_none_match(v, &etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        svg.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}

/// A simple still life: a tinted background, a shape chosen by the id, and the product's initials.
fn render_svg(id: i64, name: &str, category: &str) -> String {
    let hue = (id * 47) % 360;
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(2)
        .collect();
    let shape = match id % 3 {
        0 => format!("<circle cx='200' cy='170' r='90' fill='hsl({hue},55%,62%)'/>"),
        1 => format!(
            "<rect x='115' y='85' width='170' height='170' rx='24' fill='hsl({hue},55%,62%)'/>"
        ),
        _ => format!("<polygon points='200,70 300,260 100,260' fill='hsl({hue},55%,62%)'/>"),
    };
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 400 400' role='img' aria-label='{category}'>\
         <rect width='400' height='400' fill='hsl({hue},45%,92%)'/>{shape}\
         <text x='200' y='340' font-family='system-ui,sans-serif' font-size='44' font-weight='600' \
         text-anchor='middle' fill='hsl({hue},40%,30%)'>{initials}</text></svg>"
    )
}
