//! The server's database: SQLite (one machine, the default) or PostgreSQL
//! (several replicas). Queries use sqlx's runtime API and are written once
//! with `$N` placeholders, which both drivers accept; [`per_backend!`] runs the
//! same code against whichever pool is configured.
//!
//! Tables belong to owners (the registry; the server's queue, deliveries and
//! installations), each with its own [`Schema`]: its migrations, applied with
//! [`Database::migrate`]. Owners share one database and one `_sqlx_migrations`
//! table, so a CLI registry file gets only the registry's tables while the
//! server's database holds both.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// How long an SQLite connection waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection pool to the server's database.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The migrations of one owner's tables, for both engines (embedded with
/// `sqlx::migrate!`, one folder per engine).
#[derive(Debug)]
pub struct Schema {
    /// Who owns the tables (`registry`, `server`), for messages.
    pub owner: &'static str,
    sqlite: fn() -> Migrator,
    postgres: fn() -> Migrator,
}

impl Schema {
    /// `sqlite` and `postgres` build the migrators (`|| sqlx::migrate!("…")`):
    /// a built migrator borrows the embedded files, so building one is cheap.
    pub const fn new(
        owner: &'static str,
        sqlite: fn() -> Migrator,
        postgres: fn() -> Migrator,
    ) -> Self {
        Schema {
            owner,
            sqlite,
            postgres,
        }
    }

    /// The migrator for `backend`. Other owners' versions sit in the same
    /// `_sqlx_migrations` table; it ignores them instead of refusing to run.
    pub fn migrator(&self, backend: Backend) -> Migrator {
        let mut migrator = match backend {
            Backend::Sqlite => (self.sqlite)(),
            Backend::Postgres => (self.postgres)(),
        };
        migrator.set_ignore_missing(true);
        migrator
    }

    /// The versions of this schema's migrations for `backend`, in order.
    pub fn versions(&self, backend: Backend) -> Vec<i64> {
        self.migrator(backend)
            .iter()
            .map(|migration| migration.version)
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(
        "database URL `{url}` is not supported: use `sqlite://PATH` (e.g. sqlite://promptgate-server.db) or `postgres://USER@HOST/DB`"
    )]
    UnsupportedUrl { url: String },
    #[error("cannot open database `{url}`: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the database migrations ({owner} tables): {source}")]
    Migrate {
        owner: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Runs `$body` with `$pool` bound to the concrete pool, so one block of sqlx
/// code is type-checked and run against either backend.
macro_rules! per_backend {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::edges::db::Database::Sqlite($pool) => $body,
            $crate::edges::db::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use per_backend;

impl Database {
    /// Opens a pool for `url` (`sqlite://…` or `postgres://…`). SQLite files are
    /// created when missing and run in WAL mode with a busy timeout, so the
    /// HTTP handlers and the workers can write concurrently.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let shown = redact_url(url);
        let connect_error = |source| DatabaseError::Connect {
            url: shown.clone(),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(connect_error)?;
            Self::sqlite(options, max_connections)
                .await
                .map_err(connect_error)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(connect_error)?;
            Ok(Database::Postgres(pool))
        } else {
            Err(DatabaseError::UnsupportedUrl { url: shown })
        }
    }

    /// Opens (creating it when missing) the SQLite file at `path`, as
    /// [`Database::connect`] opens a `sqlite://` URL. A path needs no URL
    /// escaping this way (`%`, `?` and `#` are file name characters here).
    pub async fn open_sqlite_file(
        path: &Path,
        max_connections: u32,
    ) -> Result<Self, DatabaseError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::sqlite(options, max_connections)
            .await
            .map_err(|source| DatabaseError::Connect {
                url: format!("sqlite://{}", path.display()),
                source,
            })
    }

    async fn sqlite(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, sqlx::Error> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before it returns, so what the
            // server acknowledges (a webhook delivery's 202) survives a power
            // cut, not only a crash. Deliveries commit in groups, so a burst
            // pays for few syncs.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await?;
        Ok(Database::Sqlite(pool))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies every migration of `schema` not yet applied (on PostgreSQL
    /// under sqlx's advisory lock, so several processes may start at once).
    pub async fn migrate(&self, schema: &Schema) -> Result<(), DatabaseError> {
        let migrator = schema.migrator(self.backend());
        per_backend!(self, pool => migrator.run(pool).await).map_err(|source| {
            DatabaseError::Migrate {
                owner: schema.owner,
                source,
            }
        })
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        per_backend!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Versions of the migrations of `schemas` that the database has not
    /// applied (empty when the schema is current). A database never migrated
    /// has none applied.
    pub async fn pending_migrations(&self, schemas: &[&Schema]) -> Result<Vec<i64>, DatabaseError> {
        use sqlx::Row;
        let applied: Vec<i64> = per_backend!(self, pool => {
            match sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
            {
                Ok(rows) => rows
                    .iter()
                    .map(|row| row.try_get::<i64, _>("version"))
                    .collect::<Result<Vec<_>, _>>()?,
                // No bookkeeping table yet: nothing applied.
                Err(sqlx::Error::Database(_)) => Vec::new(),
                Err(other) => return Err(other.into()),
            }
        });
        Ok(schemas
            .iter()
            .flat_map(|schema| schema.versions(self.backend()))
            .filter(|version| !applied.contains(version))
            .collect())
    }

    /// Closes every pooled connection (waits for checked-out ones).
    pub async fn close(&self) {
        per_backend!(self, pool => pool.close().await)
    }
}

/// The URL with any password (user info or `password=` parameter) replaced,
/// fit for errors and logs.
pub fn redact_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        // A file path; nothing secret in it.
        return url.to_string();
    }
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.cannot_be_a_base() => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query().is_some() {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if key.eq_ignore_ascii_case("password") {
                            "***".to_string()
                        } else {
                            value.into_owned()
                        };
                        (key.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL we can take apart: show only the scheme.
        _ => match url.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:…"),
            None => "(unparseable URL)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db.internal:5432/pg"),
            "postgres://app:***@db.internal:5432/pg"
        );
        assert_eq!(redact_url("postgres://app@db/pg"), "postgres://app@db/pg");
        assert!(!redact_url("garbage:hunter2@x").contains("hunter2"));
        let query = redact_url("postgres://db/pg?sslmode=require&password=hunter2");
        assert!(
            query.contains("sslmode=require") && !query.contains("hunter2"),
            "{query}"
        );
        assert_eq!(
            redact_url("sqlite://promptgate-server.db"),
            "sqlite://promptgate-server.db"
        );
    }

    #[tokio::test]
    async fn rejects_unknown_schemes_without_echoing_secrets() {
        let connect = Database::connect("mysql://root:hunter2@localhost/db", 1);
        let error = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .expect("refused at once")
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("sqlite://"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
