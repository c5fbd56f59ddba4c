//! Storage plumbing: one connection type over SQLite and PostgreSQL, the pool, migrations,
//! and the transaction helper every write goes through. Everything backend-specific lives here.

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection, either backend. Queries built with diesel's DSL run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgresql(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the data lives, decided by the URL's scheme (never by trial and error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// `postgres://…` / `postgresql://…` select PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a
    /// plain path select SQLite.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("database URL is empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.contains("://") {
            return Err(format!(
                "unsupported database URL scheme in {:?}: use postgres://… or an SQLite path",
                redact_url(raw)
            ));
        }
        if path.is_empty() {
            return Err("SQLite database path is empty".into());
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// For messages and logs: the password of a PostgreSQL URL is hidden.
    pub fn display(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
            DatabaseUrl::Postgres(u) => redact_url(u),
        }
    }
}

/// Hides the password in `scheme://user:password@host/...`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Connection(String),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Pool(String),
}

/// Opens connections for r2d2 by URL scheme, so a PostgreSQL that is down reports libpq's own
/// message ("connection refused …") instead of diesel's generic multi-backend error.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

/// Seconds libpq waits for a TCP connection before giving up.
const PG_CONNECT_TIMEOUT_SECS: u64 = 5;
/// Milliseconds an SQLite writer waits for the write lock before reporting "busy".
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    fn pg_url_with_timeout(url: &str) -> String {
        if url.contains("connect_timeout=") {
            return url.to_string();
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}connect_timeout={PG_CONNECT_TIMEOUT_SECS}")
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let conn = diesel::PgConnection::establish(&Self::pg_url_with_timeout(url))
                    .map_err(|e| {
                        DbError::Connection(format!(
                            "cannot connect to PostgreSQL at {}: {}",
                            redact_url(url),
                            e.to_string().trim()
                        ))
                    })?;
                let mut conn = conn;
                // diesel prepares and caches statements; PostgreSQL then switches to a generic
                // plan chosen while tables were small (a sequential scan) and keeps it as they grow,
                // which made long imports quadratic. Plan every execution with its parameters.
                conn.batch_execute("SET plan_cache_mode = force_custom_plan")
                    .map_err(|e| {
                        DbError::Connection(format!("cannot configure PostgreSQL: {e}"))
                    })?;
                Ok(DbConnection::Postgresql(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let path_str = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&path_str).map_err(|e| {
                    DbError::Connection(format!("cannot open SQLite file {path_str}: {e}"))
                })?;
                // Per connection: wait for the write lock, enforce foreign keys, sync the WAL on
                // every commit so an acknowledged write survives a crash of the process or host,
                // and read through a memory map (pages shared with the OS cache instead of a
                // `pread` per page miss; nothing is written through it).
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
                ))
                .map_err(|e| DbError::Connection(format!("cannot configure SQLite: {e}")))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::Query)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = PooledConnection<ConnectionManager>;

/// Opens one connection directly, so the real error surfaces at once. SQLite: with `create`
/// the file (and its directory) is made if missing; without, a missing file is an error rather
/// than a new empty database. WAL mode is set here, once per file.
/// How much of an SQLite file each connection maps into memory for reading.
pub const SQLITE_MMAP_BYTES: u64 = 1 << 30;

pub fn open_direct(url: &DatabaseUrl, create: bool) -> Result<DbConnection, DbError> {
    if let DatabaseUrl::Sqlite(path) = url {
        if !create && !path.exists() {
            return Err(DbError::Connection(format!(
                "there is no database at {}: check the database URL, or create it with `credit-lists migrate`",
                path.display()
            )));
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    DbError::Connection(format!("cannot create directory {}: {e}", dir.display()))
                })?;
            }
        }
    }
    let mut conn = ConnectionManager::new(url.clone()).connect()?;
    if let DbConnection::Sqlite(c) = &mut conn {
        c.batch_execute("PRAGMA journal_mode = WAL;")?;
    }
    Ok(conn)
}

/// Opens and prepares the database (directory, WAL, optionally migrations) and builds the pool.
pub fn connect(url: &DatabaseUrl, pool_size: u32, run_migrations: bool) -> Result<Pool, DbError> {
    let manager = ConnectionManager::new(url.clone());
    let mut first = open_direct(url, true)?;
    if run_migrations {
        migrate(&mut first)?;
    }
    drop(first);
    let pool = r2d2::Pool::builder()
        .max_size(pool_size.max(1))
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build_unchecked(manager);
    Ok(pool)
}

/// Applies the embedded migrations of the connection's backend; returns how many ran.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, DbError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?
            .len(),
        DbConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?
            .len(),
    };
    Ok(applied)
}

/// Runs `f` with a pooled connection on actix's blocking thread pool, so request workers never
/// wait on the database.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|e| {
            tracing::warn!(error = %e, "database pool exhausted or unreachable");
            ApiError::unavailable("the database is not reachable right now")
        })?;
        f(&mut conn)
    })
    .await
    .map_err(|_| ApiError::internal("blocking task failed"))?
}

/// A write transaction. Its first statement takes the audit chain's head row, which
/// (a) makes SQLite take the write lock up front (no lock-upgrade failures under WAL) and
/// (b) serialises audited writes on PostgreSQL so the hash chain never forks.
pub fn write_tx<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if in_write_tx() {
        // Already inside a write transaction on this thread: join it rather than nest (the audit
        // chain tip of the outer transaction stays the one source of truth).
        return f(conn);
    }
    let out = conn.transaction::<T, E, _>(|c| {
        diesel::sql_query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(c)?;
        let batch = AuditBatch::start();
        let out = f(c)?;
        batch.flush(c)?;
        Ok(out)
    })?;
    LOCAL_COMMITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(out)
}

thread_local! {
    /// Set while this thread runs a [`write_tx`].
    static IN_WRITE_TX: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The audit chain's tip (last id and hash) appended by the current write transaction.
    static AUDIT_TIP: std::cell::RefCell<Option<(i64, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// True while this thread runs a [`write_tx`].
pub fn in_write_tx() -> bool {
    IN_WRITE_TX.with(|c| c.get())
}

/// The audit chain's tip appended by the current write transaction, if it appended anything
/// (`crate::audit::append` reads and moves it).
pub fn audit_tip() -> Option<(i64, String)> {
    AUDIT_TIP.with(|t| t.borrow().clone())
}

/// Moves the current write transaction's audit tip.
pub fn set_audit_tip(seq: i64, hash: &str) {
    AUDIT_TIP.with(|t| *t.borrow_mut() = Some((seq, hash.to_string())));
}

/// Writes the audit chain's head row.
pub fn write_audit_head(conn: &mut DbConnection, seq: i64, hash: &str) -> QueryResult<()> {
    use crate::schema::audit_head;
    diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
        .set((audit_head::seq.eq(seq), audit_head::last_hash.eq(hash)))
        .execute(conn)?;
    Ok(())
}

/// The audit records of one write transaction. The chain's head row is written once, when the
/// transaction is about to commit, instead of after every record: on PostgreSQL every update of
/// one row inside one transaction leaves a row version that later reads must step over, so an
/// import appending 100,000 records would slow down quadratically. Dropping the batch (error,
/// rollback, panic) forgets the tip.
struct AuditBatch(());

impl AuditBatch {
    fn start() -> AuditBatch {
        IN_WRITE_TX.with(|c| c.set(true));
        AUDIT_TIP.with(|t| *t.borrow_mut() = None);
        AuditBatch(())
    }

    /// Writes the head row if this transaction appended anything.
    fn flush(self, conn: &mut DbConnection) -> QueryResult<()> {
        if let Some((seq, hash)) = audit_tip() {
            write_audit_head(conn, seq, &hash)?;
        }
        Ok(())
    }
}

impl Drop for AuditBatch {
    fn drop(&mut self) {
        IN_WRITE_TX.with(|c| c.set(false));
        AUDIT_TIP.with(|t| *t.borrow_mut() = None);
    }
}

/// Write transactions committed by this process (see [`local_commits`]).
static LOCAL_COMMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many write transactions this process has committed. Caches compare it with the value they
/// saw when they last caught up: a different value means this process changed something since,
/// and the cache must not answer before catching up (read-your-writes on one instance).
pub fn local_commits() -> u64 {
    LOCAL_COMMITS.load(std::sync::atomic::Ordering::SeqCst)
}

/// Truncated to microseconds so that what is stored, hashed and read back is identical on
/// both backends.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_scheme_selects_backend() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u:p@localhost/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://localhost/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap(),
            DatabaseUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db").unwrap(),
            DatabaseUrl::Sqlite("x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("./data/x.db").unwrap(),
            DatabaseUrl::Sqlite("./data/x.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://localhost/db").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn password_is_redacted() {
        assert_eq!(
            redact_url("postgres://app:secret@db:5432/credit"),
            "postgres://app:***@db:5432/credit"
        );
        assert_eq!(redact_url("postgres://db/credit"), "postgres://db/credit");
    }
}
