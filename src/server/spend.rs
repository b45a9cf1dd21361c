//! What the server spent per pull request and UTC day, so `[budget]`'s
//! per-pull-request daily limits hold across pushes: each gate job reads
//! the day's spending before it runs (the check refuses a run that would
//! pass the limit) and adds what the run spent after.

use sqlx::Row;

use crate::edges::db::{Database, DatabaseError, per_backend};
use crate::pipeline::budget::Spending;
use crate::types::{CallStats, PrNumber, RepoName};

/// The `pull_request_spend` table.
#[derive(Debug, Clone)]
pub struct PullRequestSpend {
    db: Database,
}

/// Today in UTC, as the table keys days (`2026-12-01`).
pub fn utc_day() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

impl PullRequestSpend {
    pub fn new(db: Database) -> Self {
        PullRequestSpend { db }
    }

    /// What the pull request spent on `day`; nothing when it has no row.
    pub async fn spent(
        &self,
        repo: &RepoName,
        pull_request: PrNumber,
        day: &str,
    ) -> Result<Spending, DatabaseError> {
        let number = pull_request.0 as i64;
        let row = per_backend!(&self.db, pool => {
            sqlx::query(
                "SELECT calls, tokens, cost_usd FROM pull_request_spend \
                 WHERE repo = $1 AND pull_request = $2 AND day = $3",
            )
            .bind(repo.to_string())
            .bind(number)
            .bind(day)
            .fetch_optional(pool)
            .await?
            .map(|row| Spending {
                calls: row.get::<i64, _>(0).max(0) as u64,
                tokens: row.get::<i64, _>(1).max(0) as u64,
                cost_usd: row.get::<f64, _>(2),
            })
        });
        Ok(row.unwrap_or_default())
    }

    /// Adds a run's calls made (cached answers are free) to the day.
    pub async fn add(
        &self,
        repo: &RepoName,
        pull_request: PrNumber,
        day: &str,
        calls: &CallStats,
    ) -> Result<(), DatabaseError> {
        let number = pull_request.0 as i64;
        let tokens = calls.input_tokens.saturating_add(calls.output_tokens);
        per_backend!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO pull_request_spend (repo, pull_request, day, calls, tokens, cost_usd) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (repo, pull_request, day) DO UPDATE SET \
                 calls = pull_request_spend.calls + excluded.calls, \
                 tokens = pull_request_spend.tokens + excluded.tokens, \
                 cost_usd = pull_request_spend.cost_usd + excluded.cost_usd",
            )
            .bind(repo.to_string())
            .bind(number)
            .bind(day)
            .bind(calls.made.min(i64::MAX as u64) as i64)
            .bind(tokens.min(i64::MAX as u64) as i64)
            .bind(calls.cost_usd)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spending_adds_up_per_pull_request_and_day() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        let db = Database::connect(&url, 2).await.unwrap();
        crate::server::schema::migrate(&db).await.unwrap();
        let spend = PullRequestSpend::new(db);
        let repo: RepoName = "octo/prompts".parse().unwrap();
        let run = CallStats {
            made: 30,
            cached: 5,
            input_tokens: 1000,
            output_tokens: 500,
            cost_usd: 0.25,
            ..CallStats::default()
        };
        spend
            .add(&repo, PrNumber(7), "2026-12-01", &run)
            .await
            .unwrap();
        spend
            .add(&repo, PrNumber(7), "2026-12-01", &run)
            .await
            .unwrap();
        spend
            .add(&repo, PrNumber(8), "2026-12-01", &run)
            .await
            .unwrap();
        spend
            .add(&repo, PrNumber(7), "2026-12-02", &run)
            .await
            .unwrap();
        let spent = spend.spent(&repo, PrNumber(7), "2026-12-01").await.unwrap();
        assert_eq!((spent.calls, spent.tokens), (60, 3000));
        assert!((spent.cost_usd - 0.5).abs() < 1e-9);
        let other = spend.spent(&repo, PrNumber(9), "2026-12-01").await.unwrap();
        assert_eq!(other, Spending::default());
        assert_eq!(utc_day().len(), 10);
    }
}
