//! The tables of the server's database and their migrations. One database
//! (one pool) holds two owners' tables: the registry's
//! ([`REGISTRY_SCHEMA`], `migrations/registry`) and the server's own
//! ([`SERVER_SCHEMA`], `migrations/server`: jobs, webhook deliveries, API
//! keys, installations). Each owner's migrator ignores the versions the other
//! recorded in the shared `_sqlx_migrations` table.

use crate::edges::db::{Database, DatabaseError, Schema};
use crate::edges::registry::sql::REGISTRY_SCHEMA;

/// The server's own tables.
pub static SERVER_SCHEMA: Schema = Schema::new(
    "server",
    || sqlx::migrate!("migrations/server/sqlite"),
    || sqlx::migrate!("migrations/server/postgres"),
);

/// Every schema of the server's database, in the order they are applied.
pub static SCHEMAS: [&Schema; 2] = [&REGISTRY_SCHEMA, &SERVER_SCHEMA];

/// Applies every migration the server's database lacks (at start-up; `keys`
/// too, which shares the database).
pub async fn migrate(db: &Database) -> Result<(), DatabaseError> {
    for schema in SCHEMAS {
        db.migrate(schema).await?;
    }
    Ok(())
}

/// The versions of [`SCHEMAS`] the database has not applied (`/readyz`).
pub async fn pending_migrations(db: &Database) -> Result<Vec<i64>, DatabaseError> {
    db.pending_migrations(&SCHEMAS).await
}
