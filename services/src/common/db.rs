//! A small pool of SQLite connections run on Tokio's blocking threads.
//!
//! rusqlite's `Connection` is `Send` but not `Sync`, and every call blocks, so each request takes
//! one connection behind a std `Mutex` (not a Tokio one: nothing awaits while holding it) on a
//! blocking thread. WAL mode lets readers run beside the one writer. A hand-written pool of four
//! mutexes is simpler than pulling in r2d2 for the same effect.
//!
//! When the request a call serves is traced, each statement the call runs becomes a span: a
//! SQLite profile hook is set on the connection for the length of the call only, so untraced
//! calls pay nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use rusqlite::trace::{TraceEvent, TraceEventCodes};

use super::telemetry::StatementParent;

const POOL_SIZE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("sqlite error: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("database worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A shared handle to one service's SQLite file.
#[derive(Debug)]
pub struct Db {
    path: PathBuf,
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Db {
    /// Opens (creating if needed) the file at `path`, then runs `init` once on a connection
    /// (schema and seeding) before the pool is handed out.
    pub fn open(
        path: &Path,
        init: impl FnOnce(&mut Connection) -> rusqlite::Result<()>,
    ) -> Result<Arc<Self>, DbError> {
        let wrap = |source| DbError::Sqlite {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| wrap(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        }
        let connect = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(conn)
        };
        let mut first = connect().map_err(wrap)?;
        init(&mut first).map_err(wrap)?;
        let mut conns = vec![Mutex::new(first)];
        for _ in 1..POOL_SIZE {
            conns.push(Mutex::new(connect().map_err(wrap)?));
        }
        Ok(Arc::new(Self {
            path: path.to_owned(),
            conns,
            next: AtomicUsize::new(0),
        }))
    }

    /// Opens a service's store at `path`: applies `schema` (idempotent `CREATE … IF NOT EXISTS`
    /// statements), then runs `seed` only while `table` is empty, so an existing file is reused as
    /// it is rather than reseeded.
    pub fn open_seeded(
        path: &Path,
        schema: &str,
        table: &str,
        seed: impl FnOnce(&mut Connection) -> rusqlite::Result<()>,
    ) -> Result<Arc<Self>, DbError> {
        Self::open(path, |conn| {
            conn.execute_batch(schema)?;
            // `table` is one of the services' own table names, never request input.
            let rows: i64 =
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            if rows > 0 {
                return Ok(());
            }
            seed(conn)
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a connection on a blocking thread.
    pub async fn call<T, F>(self: &Arc<Self>, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = Arc::clone(self);
        let parent = StatementParent::current();
        tokio::task::spawn_blocking(move || {
            // Prefer an idle connection; otherwise wait on the next one in turn.
            let mut guard = db
                .conns
                .iter()
                .find_map(|c| c.try_lock().ok())
                .unwrap_or_else(|| {
                    let i = db.next.fetch_add(1, Ordering::Relaxed) % db.conns.len();
                    db.conns[i]
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                });
            match parent {
                None => f(&mut guard),
                Some(parent) => f(Traced::install(&mut guard, parent).conn()),
            }
        })
        .await?
        .map_err(DbError::from)
    }
}

/// A connection whose finished statements become spans until this is dropped (also when the
/// call panics, so a pooled connection never keeps a stale request's hook).
struct Traced<'c>(&'c mut Connection);

impl<'c> Traced<'c> {
    fn install(conn: &'c mut Connection, parent: StatementParent) -> Self {
        let hooked = conn.trace_v2(
            TraceEventCodes::SQLITE_TRACE_PROFILE,
            Some(move |event: TraceEvent<'_>| {
                if let TraceEvent::Profile(statement, took) = event {
                    parent.finished(&statement.sql(), took);
                }
            }),
        );
        if let Err(e) = hooked {
            tracing::warn!(error = %e, "cannot trace SQLite statements");
        }
        Self(conn)
    }

    fn conn(&mut self) -> &mut Connection {
        self.0
    }
}

impl Drop for Traced<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>);
    }
}
