//! A PostgreSQL database of a test's own, on the server that
//! `PROMPTGATE_TEST_POSTGRES` names: made for the test, dropped after.
//! Without that variable the test is skipped, loudly, and under `CI` it
//! fails: a missing database never passes silently.

use std::sync::atomic::{AtomicU64, Ordering};

/// The server `PROMPTGATE_TEST_POSTGRES` names, or `None` after a loud skip
/// (a failure under `CI`).
pub fn server(test: &str) -> Option<String> {
    match std::env::var("PROMPTGATE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but PROMPTGATE_TEST_POSTGRES is not: {test} must run in CI")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED {test}: set PROMPTGATE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB ***\n"
            );
            None
        }
    }
}

/// A database made for one test; [`Scratch::drop`] removes it.
pub struct Scratch {
    admin: sqlx::PgPool,
    name: String,
    /// Where the test connects.
    pub url: String,
}

impl Scratch {
    /// A new database on `admin_url`'s server, named after `label`, this
    /// process and a counter (a leftover says which tests made it).
    pub async fn create(admin_url: &str, label: &str) -> Self {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(admin_url)
            .await
            .expect("PROMPTGATE_TEST_POSTGRES answers");
        let name = format!(
            "promptgate_{label}_{}_{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::SeqCst)
        );
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&name);
        Scratch {
            admin,
            name,
            url: url.to_string(),
        }
    }

    /// Drops the database. A failure is only a warning: it must not hide
    /// the outcome of the test that used it.
    pub async fn drop(self) {
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(error) = sqlx::query(&drop).execute(&self.admin).await {
            eprintln!(
                "warning: could not drop the test database {}: {error}",
                self.name
            );
        }
        self.admin.close().await;
    }
}
