//! The accounts service: shoppers, their orders and the orders' invoices, behind the BFF's
//! short-lived keys. Owns `accounts.db`.
//!
//! It trusts what the BFF signed and nothing else, and never calls the BFF back — it is given
//! no BFF address at all. A `/me…` request carries a user token (`Authorization: Bearer`, an
//! EdDSA JWT for audience `accounts`); an invoice is fetched by the browser itself with a vault
//! key, a URL the BFF signed for one shopper, one document and a minute or two. Both are checked
//! against the public keys in the key folder ([`KeyRing`]), so signing in, fetching orders and
//! opening an invoice keep working while the BFF's own state (sessions, caches) is elsewhere.
//!
//! Signing in is the one call the BFF makes with a password: `POST /auth/check` answers who the
//! shopper is; the BFF then keeps the session and signs tokens for it.

mod invoice;
pub mod seed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tessera_contract::account::{Order, OrderLine, Orders, Purchase, Purchases};
use tessera_contract::keys::{GrantError, GrantQuery, KeyError, now_s};

use crate::common::cors::{self, Origins};
use crate::common::db::{Db, DbError};
use crate::common::faults::FaultSwitch;
use crate::common::http::{ServiceError, private_json};
use crate::common::keyring::KeyRing;
use crate::common::params::{Id, PageQuery, Params, parse_id, parse_page};
use crate::common::server;
use crate::seed::Scale;

/// The `aud` a token must carry unless configured otherwise.
pub const AUDIENCE: &str = "accounts";
const PER_PAGE: u32 = 20;
const MAX_PER_PAGE: u32 = 50;
/// The longest login name looked up; a longer one is simply unknown.
const MAX_LOGIN_LEN: usize = 64;
/// The longest password checked; a longer one is simply wrong.
const MAX_PASSWORD_LEN: usize = 1_024;
/// Password checks (Argon2, 8 MiB each) running at once.
static PASSWORD_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// How the service checks what the BFF signed, and which pages may read its invoices.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder of the BFF's public keys (`<kid>.pub`).
    pub keys_dir: PathBuf,
    /// The `aud` a user token must carry.
    pub audience: String,
    /// The origins whose pages may read an invoice answer (CORS).
    pub origins: Origins,
}

impl Options {
    /// Keys from `keys_dir`, audience [`AUDIENCE`], the storefront's origins.
    pub fn new(keys_dir: impl Into<PathBuf>) -> Self {
        Self {
            keys_dir: keys_dir.into(),
            audience: AUDIENCE.to_owned(),
            origins: Origins::storefront(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the BFF's public keys: {0}")]
    Keys(#[from] KeyError),
}

/// The service's state: its database and the keys it checks with. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Arc<Db>,
    keys: Arc<KeyRing>,
    audience: Arc<str>,
    origins: Origins,
    /// What an unknown user's password is checked against, so that a wrong user name costs the
    /// same time as a wrong password.
    dummy_hash: Arc<str>,
}

/// `POST /auth/check` and its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// A shopper: the answer of a good sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shopper {
    /// The user id, in decimal (a token's `sub`).
    pub id: String,
    /// The login name.
    pub user: String,
    /// The name to show.
    pub name: String,
}

/// `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub user: String,
    pub name: String,
    /// How many orders the shopper has placed.
    pub orders: i64,
}

impl Accounts {
    /// Opens the store at `path`, creating and seeding it on first use (hashing every seeded
    /// password: a few seconds at demo scale), and reads the public keys.
    pub fn open(path: &Path, scale: Scale, options: Options) -> Result<Self, OpenError> {
        let keys = KeyRing::open(&options.keys_dir)?;
        let db = Db::open_seeded(path, SCHEMA, "users", |conn| seed::populate(conn, scale))?;
        Ok(Self {
            db,
            keys,
            audience: options.audience.into(),
            origins: options.origins,
            dummy_hash: seed::hash_password("not anyone's password", &[0x5a; 16]).into(),
        })
    }

    /// The folder the public keys are read from.
    pub fn keys_dir(&self) -> &Path {
        self.keys.dir()
    }

    pub fn router(self, faults: FaultSwitch) -> Router {
        let origins = self.origins.clone();
        let routes = Router::new()
            .route("/auth/check", post(check_credentials))
            .route("/me", get(me))
            .route("/me/orders", get(list_orders))
            .route("/me/orders/{id}", get(get_order))
            .route("/me/purchases/{id}", get(purchases))
            .route("/invoices/{order}", get(invoice))
            .with_state(self);
        cors::layer(
            server::wrap("accounts", routes, faults),
            "/invoices/",
            origins,
        )
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (
         id INTEGER PRIMARY KEY,
         login TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL,
         password_hash TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS orders (
         id INTEGER PRIMARY KEY,
         user_id INTEGER NOT NULL REFERENCES users(id),
         placed_at TEXT NOT NULL,
         currency TEXT NOT NULL,
         total_cents INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS orders_newest_first ON orders(user_id, placed_at DESC, id DESC);
     CREATE TABLE IF NOT EXISTS order_lines (
         order_id INTEGER NOT NULL REFERENCES orders(id),
         line INTEGER NOT NULL,
         product_id INTEGER NOT NULL,
         name TEXT NOT NULL,
         quantity INTEGER NOT NULL CHECK (quantity > 0),
         price_cents INTEGER NOT NULL,
         PRIMARY KEY (order_id, line)
     ) WITHOUT ROWID;";

/// The shopper a request's bearer token names (its `sub`).
struct Bearer(i64);

/// The claims of the request's bearer token, checked for `audience`.
async fn bearer_claims(
    parts: &Parts,
    accounts: &Accounts,
    audience: &str,
) -> Result<tessera_contract::keys::Claims, ServiceError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ServiceError::Unauthorized(None));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| ServiceError::Unauthorized(Some("not a bearer token".into())))?;
    accounts
        .keys
        .token(token, audience, now_s())
        .await
        .map_err(|e| {
            tracing::info!(reason = %e, "bearer token refused");
            ServiceError::Unauthorized(Some(e.to_string()))
        })
}

/// The BFF itself, asking to check a password: a token it signed for the audience
/// `<audience>/auth-check` (see [`tessera_contract::keys::auth_check_audience`]). Without one,
/// nobody can guess passwords here past the BFF's sign-in limits.
pub struct FromBff;

impl FromRequestParts<Accounts> for FromBff {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        accounts: &Accounts,
    ) -> Result<Self, Self::Rejection> {
        let audience = tessera_contract::keys::auth_check_audience(&accounts.audience);
        bearer_claims(parts, accounts, &audience).await?;
        Ok(Self)
    }
}

impl FromRequestParts<Accounts> for Bearer {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        accounts: &Accounts,
    ) -> Result<Self, Self::Rejection> {
        let claims = bearer_claims(parts, accounts, &accounts.audience).await?;
        match parse_id(&claims.sub) {
            Ok(id) => Ok(Self(id)),
            Err(_) => Err(ServiceError::Unauthorized(Some(
                "the subject is not a user id".into(),
            ))),
        }
    }
}

/// `POST /auth/check`: who `user` is, if `password` is theirs. An unknown user and a wrong
/// password get the same answer after the same work.
async fn check_credentials(
    State(accounts): State<Accounts>,
    _bff: FromBff,
    body: Result<axum::Json<Credentials>, JsonRejection>,
) -> Result<Response, ServiceError> {
    let axum::Json(credentials) = body?;
    let login = credentials.user.trim().to_ascii_lowercase();
    if credentials.password.len() > MAX_PASSWORD_LEN {
        return Err(ServiceError::InvalidCredentials);
    }
    let found = if login.is_empty() || login.len() > MAX_LOGIN_LEN {
        None
    } else {
        accounts
            .db
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT id, login, name, password_hash FROM users WHERE login = ?1",
                )?
                .query_row([login], |r| {
                    Ok((
                        Shopper {
                            id: r.get::<_, i64>(0)?.to_string(),
                            user: r.get(1)?,
                            name: r.get(2)?,
                        },
                        r.get::<_, String>(3)?,
                    ))
                })
                .optional()
            })
            .await?
    };
    let hash = found.as_ref().map_or_else(
        || Arc::clone(&accounts.dummy_hash),
        |(_, hash)| hash.as_str().into(),
    );
    // Argon2 is deliberately slow (and takes memory): off the runtime's threads, a few at a
    // time, so a flood of sign-ins queues instead of taking the machine.
    let _permit = PASSWORD_CHECKS
        .acquire()
        .await
        .map_err(|e| ServiceError::Internal(format!("password check: {e}")))?;
    let matches = tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier as _;
        argon2::Argon2::default()
            .verify_password(credentials.password.as_bytes(), &*hash)
            .is_ok()
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("password check: {e}")))?;
    match found {
        Some((shopper, _)) if matches => {
            tracing::info!(user = %shopper.user, "signed in");
            let mut response = axum::Json(shopper).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        _ => Err(ServiceError::InvalidCredentials),
    }
}

/// `GET /me`.
async fn me(
    State(accounts): State<Accounts>,
    Bearer(user): Bearer,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let me = accounts
        .db
        .call(move |conn| {
            conn.prepare_cached(
                "SELECT login, name, (SELECT count(*) FROM orders WHERE user_id = ?1)
                 FROM users WHERE id = ?1",
            )?
            .query_row([user], |r| {
                Ok(Me {
                    id: user.to_string(),
                    user: r.get(0)?,
                    name: r.get(1)?,
                    orders: r.get(2)?,
                })
            })
            .optional()
        })
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no shopper with id {user}")))?;
    Ok(private_json(&headers, &user.to_string(), &me))
}

/// `GET /me/orders?page=N`: newest first.
async fn list_orders(
    State(accounts): State<Accounts>,
    Bearer(user): Bearer,
    Params(query): Params<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let (page, per_page) = parse_page(
        query.page.as_deref(),
        query.per_page.as_deref(),
        PER_PAGE,
        MAX_PER_PAGE,
    )?;
    let orders = accounts
        .db
        .call(move |conn| {
            let total: i64 = conn
                .prepare_cached("SELECT count(*) FROM orders WHERE user_id = ?1")?
                .query_row([user], |r| r.get(0))?;
            let offset = i64::from(page - 1) * i64::from(per_page);
            let ids = conn
                .prepare_cached(
                    "SELECT id FROM orders WHERE user_id = ?1
                     ORDER BY placed_at DESC, id DESC LIMIT ?2 OFFSET ?3",
                )?
                .query_map(params![user, per_page, offset], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut items = Vec::with_capacity(ids.len());
            for id in ids {
                items.extend(read_order(conn, user, id)?);
            }
            Ok(Orders {
                items,
                page,
                per_page,
                total,
            })
        })
        .await?;
    Ok(private_json(&headers, &user.to_string(), &orders))
}

/// `GET /me/orders/{id}`: someone else's order is as unknown as a missing one.
async fn get_order(
    State(accounts): State<Accounts>,
    Bearer(user): Bearer,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let order = accounts
        .db
        .call(move |conn| read_order(conn, user, id))
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no order {id} of yours")))?;
    Ok(private_json(&headers, &user.to_string(), &order))
}

/// `GET /me/purchases/{product}`: the shopper's orders holding the product, newest first
/// (an empty list when never bought).
async fn purchases(
    State(accounts): State<Accounts>,
    Bearer(user): Bearer,
    Id(product_id): Id,
    headers: HeaderMap,
) -> Result<Response, ServiceError> {
    let orders = accounts
        .db
        .call(move |conn| {
            conn.prepare_cached(
                "SELECT o.id, o.placed_at FROM orders o
                 WHERE o.user_id = ?1
                   AND EXISTS (SELECT 1 FROM order_lines l
                               WHERE l.order_id = o.id AND l.product_id = ?2)
                 ORDER BY o.placed_at DESC, o.id DESC",
            )?
            .query_map(params![user, product_id], |r| {
                Ok(Purchase {
                    order_id: r.get(0)?,
                    placed_at: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    let purchases = Purchases { product_id, orders };
    Ok(private_json(&headers, &user.to_string(), &purchases))
}

/// `GET /invoices/{order}?user=&exp=&kid=&sig=`: the invoice, to the holder of a vault key.
///
/// SECURITY: the signature is checked over the exact path asked for, before anything is
/// looked up; a link that does not hold is 403 whatever the order (410 only for a genuine
/// link past its time), and a genuine link for an order that is not its user's is 403 too.
async fn invoice(
    State(accounts): State<Accounts>,
    uri: Uri,
    query: Result<Query<GrantQuery>, QueryRejection>,
) -> Result<Response, ServiceError> {
    let refused = |e: GrantError| {
        tracing::info!(reason = %e, path = uri.path(), "vault key refused");
        if e.status() == 410 {
            ServiceError::Gone(e.to_string())
        } else {
            ServiceError::Forbidden(e.to_string())
        }
    };
    let Query(grant) = query.map_err(|_| refused(GrantError::Malformed))?;
    let path = uri.path();
    let user = accounts
        .keys
        .grant("GET", path, &grant, now_s())
        .await
        .map_err(refused)?;
    let not_yours = || ServiceError::Forbidden("this link does not open this invoice".into());
    let order_id = path
        .strip_prefix("/invoices/")
        .and_then(|raw| parse_id(raw).ok())
        .ok_or_else(not_yours)?;
    let user_id = parse_id(&user).map_err(|_| not_yours())?;
    let found = accounts
        .db
        .call(move |conn| {
            let Some(order) = read_order(conn, user_id, order_id)? else {
                return Ok(None);
            };
            let (login, name): (String, String) = conn
                .prepare_cached("SELECT login, name FROM users WHERE id = ?1")?
                .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(Some((order, login, name)))
        })
        .await?;
    let (order, login, name) = found.ok_or_else(not_yours)?;
    let disposition = format!("attachment; filename=\"{}\"", invoice::file_name(order.id));
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            // The URL is the key: it must not leak to another site through a Referer.
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        invoice::render(&order, &login, &name),
    )
        .into_response())
}

/// Order `id` with its lines, if it is `user`'s.
fn read_order(conn: &Connection, user: i64, id: i64) -> rusqlite::Result<Option<Order>> {
    let head = conn
        .prepare_cached(
            "SELECT placed_at, total_cents, currency FROM orders WHERE id = ?1 AND user_id = ?2",
        )?
        .query_row(params![id, user], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((placed_at, total_cents, currency)) = head else {
        return Ok(None);
    };
    let lines = conn
        .prepare_cached(
            "SELECT product_id, name, quantity, price_cents FROM order_lines
             WHERE order_id = ?1 ORDER BY line",
        )?
        .query_map([id], |r| {
            Ok(OrderLine {
                product_id: r.get(0)?,
                name: r.get(1)?,
                quantity: r.get(2)?,
                price_cents: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(Order {
        id,
        placed_at,
        total_cents,
        currency,
        lines,
    }))
}
