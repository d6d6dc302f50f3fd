//! The reviews service: reviews (rating, title, body, author, date) paged newest-first, and a
//! materialized summary per product — count, average, rating histogram, best and worst review —
//! kept up to date in the same transaction as each new review, so reading it never scans the
//! reviews. Owns `reviews.db`.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::catalog::Page;
use crate::common::db::{Db, DbError};
use crate::common::faults::FaultSwitch;
use crate::common::http::{ServiceError, cached_items, cached_or_404};
use crate::common::params::{BatchQuery, Id, PageQuery, Params, parse_id_list, parse_page};
use crate::common::server;
use crate::seed::{self, Scale};

/// A product's rating in a few bytes, for lists of products: the front end's own type.
pub use tessera_contract::data::Rating;

const MAX_AGE_S: u32 = 10;
const MAX_PER_PAGE: u32 = 50;
/// Seeded review dates start here (2024-01-01T00:00:00Z) and move forward.
const SEED_EPOCH: i64 = 1_704_067_200;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Review {
    pub id: i64,
    pub product_id: i64,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub author: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The materialized per-product summary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub product_id: i64,
    pub count: i64,
    /// Mean rating, `null` without reviews.
    pub average: Option<f64>,
    /// Number of reviews per rating, index 0 is one star.
    pub histogram: [i64; 5],
    /// Highest rating, the newest among equals.
    pub best: Option<Review>,
    /// Lowest rating, the newest among equals.
    pub worst: Option<Review>,
}

/// The body of `POST /products/{id}/reviews`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub rating: i64,
    pub title: String,
    pub body: String,
    pub author: String,
}

impl NewReview {
    /// Checks ranges and lengths, naming the field at fault.
    pub fn validate(&self) -> Result<(), ServiceError> {
        let bad = |m: String| Err(ServiceError::BadRequest(m));
        if !(1..=5).contains(&self.rating) {
            return bad(format!("rating must be 1 to 5, got {}", self.rating));
        }
        for (field, value, max) in [
            ("title", &self.title, 120),
            ("body", &self.body, 4000),
            ("author", &self.author, 60),
        ] {
            let len = value.trim().chars().count();
            if len == 0 || len > max {
                return bad(format!("{field} must be 1 to {max} characters, got {len}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Reviews {
    db: Arc<Db>,
}

impl Reviews {
    /// Opens the store at `path`, creating and seeding it on first use.
    pub fn open(path: &Path, scale: Scale) -> Result<Self, DbError> {
        let db = Db::open_seeded(path, SCHEMA, "products", |conn| populate(conn, scale))?;
        Ok(Self { db })
    }

    pub fn router(self, faults: FaultSwitch) -> Router {
        let routes = Router::new()
            .route(
                "/products/{id}/reviews",
                get(list_reviews).post(create_review),
            )
            .route("/products/{id}/summary", get(get_summary))
            .route("/summaries", get(batch_ratings))
            .with_state(self);
        server::wrap("reviews", routes, faults)
    }

    /// Adds a review and updates the product's summary in one transaction.
    pub async fn add(&self, product_id: i64, review: NewReview) -> Result<Option<Review>, DbError> {
        self.db
            .call(move |conn| {
                // IMMEDIATE: the write lock is taken up front, so concurrent writers wait their
                // turn (busy timeout) instead of failing with SQLITE_BUSY when a DEFERRED
                // transaction that has already read tries to upgrade to a write.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let created_at: i64 = tx.query_row(
                    "SELECT max(unixepoch(), coalesce((SELECT max(created_at) FROM reviews), 0))",
                    [],
                    |r| r.get(0),
                )?;
                let review = insert_review(&tx, product_id, &review, created_at)?;
                tx.commit()?;
                Ok(review)
            })
            .await
    }

    /// The materialized summary of a product (`None` for an unknown product).
    pub async fn summary(&self, product_id: i64) -> Result<Option<Summary>, DbError> {
        self.db
            .call(move |conn| read_summary(conn, product_id))
            .await
    }

    /// The same figures computed from the reviews table — what the summary saves us from.
    pub async fn summary_by_scan(&self, product_id: i64) -> Result<Summary, DbError> {
        self.db
            .call(move |conn| scan_summary(conn, product_id))
            .await
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY);
     CREATE TABLE IF NOT EXISTS reviews (
         id INTEGER PRIMARY KEY,
         product_id INTEGER NOT NULL REFERENCES products(id),
         rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
         title TEXT NOT NULL,
         body TEXT NOT NULL,
         author TEXT NOT NULL,
         created_at INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS reviews_newest_first
         ON reviews(product_id, created_at DESC, id DESC);
     CREATE TABLE IF NOT EXISTS summaries (
         product_id INTEGER PRIMARY KEY REFERENCES products(id),
         count INTEGER NOT NULL,
         rating_sum INTEGER NOT NULL,
         r1 INTEGER NOT NULL, r2 INTEGER NOT NULL, r3 INTEGER NOT NULL,
         r4 INTEGER NOT NULL, r5 INTEGER NOT NULL,
         best_id INTEGER REFERENCES reviews(id),
         best_rating INTEGER,
         worst_id INTEGER REFERENCES reviews(id),
         worst_rating INTEGER
     );";

fn populate(conn: &mut Connection, scale: Scale) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let products = seed::products(scale);
    {
        let mut insert_product = tx.prepare("INSERT INTO products (id) VALUES (?1)")?;
        let mut insert_summary = tx.prepare(
            "INSERT INTO summaries (product_id, count, rating_sum, r1, r2, r3, r4, r5)
             VALUES (?1, 0, 0, 0, 0, 0, 0, 0)",
        )?;
        for p in &products {
            insert_product.execute([p.id])?;
            insert_summary.execute([p.id])?;
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed::SEED ^ 0x2_0000);
    let mut clock = SEED_EPOCH;
    for p in &products {
        // A long tail: one in seven products has no reviews, most have tens, a few thousands.
        let count = if rng.u8(0..7) == 0 {
            0
        } else {
            let u = rng.f64().max(1e-9);
            (13.0 * u.powf(-1.0 / 1.1)).min(4_000.0) as u32 - 12
        };
        // Each product has a "true quality" its ratings cluster around.
        let quality = 1.5 + rng.f64() * 3.5;
        for _ in 0..count {
            clock += rng.i64(1..600);
            let rating = (quality + (rng.f64() - 0.5) * 3.0).round().clamp(1.0, 5.0) as i64;
            let review = seed_review(&mut rng, rating, &p.name);
            insert_review(&tx, p.id, &review, clock)?;
        }
    }
    tx.commit()
}

const FIRST_NAMES: [&str; 16] = [
    "Ana", "Ben", "Chloe", "Dmitri", "Eun-ji", "Farah", "Gustav", "Hana", "Ivan", "Jun", "Kemi",
    "Lucas", "Mira", "Noah", "Olga", "Priya",
];
const OPENINGS: [[&str; 3]; 5] = [
    ["Disappointing", "Would not buy again", "Fell apart quickly"],
    ["Not great", "Expected more", "Just about usable"],
    ["Does the job", "Decent for the price", "It's fine"],
    ["Very good", "Happy with it", "Solid choice"],
    ["Love it", "Excellent quality", "Perfect"],
];
const DETAILS: [&str; 8] = [
    "The finish feels nicer than the photos suggest.",
    "Delivery was quick and the packaging was minimal.",
    "Smaller than I expected, check the dimensions.",
    "I have used it every day for a month now.",
    "The colour is slightly different in daylight.",
    "Bought a second one as a gift.",
    "Instructions could be clearer.",
    "Sturdy and well made.",
];

fn seed_review(rng: &mut fastrand::Rng, rating: i64, product: &str) -> NewReview {
    let opening = OPENINGS[(rating - 1) as usize][rng.usize(..3)];
    let detail = DETAILS[rng.usize(..DETAILS.len())];
    let more = DETAILS[rng.usize(..DETAILS.len())];
    NewReview {
        rating,
        title: opening.to_owned(),
        body: format!("{opening} — my {}. {detail} {more}", product.to_lowercase()),
        author: format!(
            "{} {}.",
            FIRST_NAMES[rng.usize(..FIRST_NAMES.len())],
            (b'A' + rng.u8(0..26)) as char
        ),
    }
}

/// Inserts a review and folds it into the product's summary. `None` if the product is unknown.
///
/// The new review is the newest of its product, so it becomes the best review when its rating is
/// at least the current best, and the worst when at most the current worst.
fn insert_review(
    tx: &Transaction<'_>,
    product_id: i64,
    review: &NewReview,
    created_at: i64,
) -> rusqlite::Result<Option<Review>> {
    let known: Option<i64> = tx
        .prepare_cached("SELECT id FROM products WHERE id = ?1")?
        .query_row([product_id], |r| r.get(0))
        .optional()?;
    if known.is_none() {
        return Ok(None);
    }
    let (title, body, author) = (
        review.title.trim(),
        review.body.trim(),
        review.author.trim(),
    );
    tx.prepare_cached(
        "INSERT INTO reviews (product_id, rating, title, body, author, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        product_id,
        review.rating,
        title,
        body,
        author,
        created_at
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached(
        "UPDATE summaries SET
             count = count + 1,
             rating_sum = rating_sum + ?2,
             r1 = r1 + (?2 = 1), r2 = r2 + (?2 = 2), r3 = r3 + (?2 = 3),
             r4 = r4 + (?2 = 4), r5 = r5 + (?2 = 5),
             best_id = CASE WHEN best_rating IS NULL OR ?2 >= best_rating THEN ?3 ELSE best_id END,
             best_rating = CASE WHEN best_rating IS NULL OR ?2 >= best_rating THEN ?2 ELSE best_rating END,
             worst_id = CASE WHEN worst_rating IS NULL OR ?2 <= worst_rating THEN ?3 ELSE worst_id END,
             worst_rating = CASE WHEN worst_rating IS NULL OR ?2 <= worst_rating THEN ?2 ELSE worst_rating END
         WHERE product_id = ?1",
    )?
    .execute(params![product_id, review.rating, id])?;
    Ok(Some(Review {
        id,
        product_id,
        rating: review.rating as u8,
        title: title.to_owned(),
        body: body.to_owned(),
        author: author.to_owned(),
        created_at,
    }))
}

const REVIEW_COLUMNS: &str = "id, product_id, rating, title, body, author, created_at";

fn review_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Review> {
    Ok(Review {
        id: r.get(0)?,
        product_id: r.get(1)?,
        rating: r.get(2)?,
        title: r.get(3)?,
        body: r.get(4)?,
        author: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn review_by_id(conn: &Connection, id: Option<i64>) -> rusqlite::Result<Option<Review>> {
    let Some(id) = id else { return Ok(None) };
    conn.prepare_cached(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = ?1"
    ))?
    .query_row([id], review_from_row)
    .optional()
}

fn read_summary(conn: &Connection, product_id: i64) -> rusqlite::Result<Option<Summary>> {
    let row = conn
        .prepare_cached(
            "SELECT count, rating_sum, r1, r2, r3, r4, r5, best_id, worst_id
             FROM summaries WHERE product_id = ?1",
        )?
        .query_row([product_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        })
        .optional()?;
    let Some((count, sum, histogram, best_id, worst_id)) = row else {
        return Ok(None);
    };
    Ok(Some(Summary {
        product_id,
        count,
        average: average(sum, count),
        histogram,
        best: review_by_id(conn, best_id)?,
        worst: review_by_id(conn, worst_id)?,
    }))
}

fn average(sum: i64, count: i64) -> Option<f64> {
    // Rounded to two decimals so the summary and the scan agree exactly.
    (count > 0).then(|| (sum as f64 / count as f64 * 100.0).round() / 100.0)
}

fn scan_summary(conn: &Connection, product_id: i64) -> rusqlite::Result<Summary> {
    let mut histogram = [0i64; 5];
    let (mut count, mut sum) = (0, 0);
    let mut stmt = conn.prepare_cached(
        "SELECT rating, count(*) FROM reviews WHERE product_id = ?1 GROUP BY rating",
    )?;
    for row in stmt.query_map([product_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (rating, n) = row?;
        histogram[(rating - 1) as usize] = n;
        count += n;
        sum += rating * n;
    }
    let pick = |order: &str| -> rusqlite::Result<Option<Review>> {
        conn.prepare_cached(&format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews WHERE product_id = ?1
             ORDER BY rating {order}, created_at DESC, id DESC LIMIT 1"
        ))?
        .query_row([product_id], review_from_row)
        .optional()
    };
    Ok(Summary {
        product_id,
        count,
        average: average(sum, count),
        histogram,
        best: pick("DESC")?,
        worst: pick("ASC")?,
    })
}

async fn get_summary(
    State(reviews): State<Reviews>,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let summary = reviews.summary(id).await?;
    cached_or_404(&headers, summary, MAX_AGE_S, || {
        format!("no product with id {id}")
    })
}

/// `GET /summaries?ids=1,2,3`: the count and average of several products at once (a grid of
/// product cards). Unknown ids are simply absent from `items`.
async fn batch_ratings(
    State(reviews): State<Reviews>,
    Params(query): Params<BatchQuery>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let ids = parse_id_list(&query.ids)?;
    let items = reviews
        .db
        .call(move |conn| {
            let mut select = conn
                .prepare_cached("SELECT count, rating_sum FROM summaries WHERE product_id = ?1")?;
            let mut items = Vec::with_capacity(ids.len());
            for product_id in ids {
                let row = select
                    .query_row([product_id], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .optional()?;
                if let Some((count, sum)) = row {
                    items.push(Rating {
                        product_id,
                        count,
                        average: average(sum, count),
                    });
                }
            }
            Ok(items)
        })
        .await?;
    Ok(cached_items(&headers, &items, MAX_AGE_S))
}

async fn list_reviews(
    State(reviews): State<Reviews>,
    Id(id): Id,
    Params(query): Params<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let (page, per_page) = parse_page(
        query.page.as_deref(),
        query.per_page.as_deref(),
        10,
        MAX_PER_PAGE,
    )?;
    let result = reviews
        .db
        .call(move |conn| {
            let Some(summary) = read_summary(conn, id)? else {
                return Ok(None);
            };
            let offset = i64::from(page - 1) * i64::from(per_page);
            let items = conn
                .prepare_cached(&format!(
                    "SELECT {REVIEW_COLUMNS} FROM reviews WHERE product_id = ?1
                     ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(params![id, per_page, offset], review_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total = summary.count;
            Ok(Some(Page::new(items, page, per_page, total)))
        })
        .await?;
    cached_or_404(&headers, result, MAX_AGE_S, || {
        format!("no product with id {id}")
    })
}

async fn create_review(
    State(reviews): State<Reviews>,
    Id(id): Id,
    body: Result<axum::Json<NewReview>, JsonRejection>,
) -> Result<Response, ServiceError> {
    let axum::Json(review) = body?;
    review.validate()?;
    match reviews.add(id, review).await? {
        Some(created) => Ok((StatusCode::CREATED, axum::Json(created)).into_response()),
        None => Err(ServiceError::NotFound(format!("no product with id {id}"))),
    }
}
