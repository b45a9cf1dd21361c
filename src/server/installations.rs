//! Which App installations the server serves and their repositories, kept
//! from the `installation` and `installation_repositories` webhooks (the
//! `installation_sync` jobs). Work for a suspended installation is skipped:
//! its token would be refused, and its owner asked GitHub to stop.

use sqlx::Row;

use super::events::InstallationSyncJob;
use super::handlers::payload;
use crate::edges::db::{Database, DatabaseError, per_backend};
use crate::server::jobs::{Job, JobError, JobHandler, ServerError};
use crate::types::{InstallationId, RepoName};

/// The `github_installations` and `github_installation_repositories` tables.
#[derive(Debug, Clone)]
pub struct Installations {
    db: Database,
}

/// One installation as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub id: u64,
    pub account: Option<String>,
    pub suspended: bool,
    /// `owner/name`, sorted.
    pub repositories: Vec<String>,
}

impl Installations {
    pub fn new(db: Database) -> Self {
        Installations { db }
    }

    /// Records what one webhook, received at `received_ms`, said. Safe to
    /// repeat; jobs may run out of order, so a suspension state older than
    /// the one stored is ignored.
    pub async fn apply(
        &self,
        sync: &InstallationSyncJob,
        received_ms: i64,
    ) -> Result<(), DatabaseError> {
        let id = sync.installation.0 as i64;
        if sync.action == "deleted" {
            per_backend!(&self.db, pool => {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM github_installation_repositories WHERE installation_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM github_installations WHERE installation_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            });
            return Ok(());
        }
        // Only these actions say whether the installation is suspended.
        let suspended = match sync.action.as_str() {
            "suspend" => Some(true),
            "unsuspend" | "created" => Some(false),
            _ => None,
        };
        per_backend!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO github_installations (installation_id, account, suspended, updated_at) \
                 VALUES ($1, $2, COALESCE($3, FALSE), $4) \
                 ON CONFLICT (installation_id) DO UPDATE SET \
                 account = COALESCE(excluded.account, github_installations.account), \
                 suspended = CASE WHEN $3 IS NOT NULL AND excluded.updated_at >= github_installations.updated_at \
                   THEN excluded.suspended ELSE github_installations.suspended END, \
                 updated_at = CASE WHEN $3 IS NOT NULL AND excluded.updated_at >= github_installations.updated_at \
                   THEN excluded.updated_at ELSE github_installations.updated_at END",
            )
            .bind(id)
            .bind(sync.account.as_deref())
            .bind(suspended)
            .bind(received_ms)
            .execute(&mut *tx)
            .await?;
            for repo in &sync.added {
                sqlx::query(
                    "INSERT INTO github_installation_repositories (installation_id, repo) \
                     VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(repo.to_string())
                .execute(&mut *tx)
                .await?;
            }
            for repo in &sync.removed {
                sqlx::query(
                    "DELETE FROM github_installation_repositories WHERE installation_id = $1 AND repo = $2",
                )
                .bind(id)
                .bind(repo.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every installation the server knows, with its repositories.
    pub async fn list(&self) -> Result<Vec<Installation>, DatabaseError> {
        let mut installations: Vec<Installation> = per_backend!(&self.db, pool => {
            let mut found = Vec::new();
            for row in sqlx::query(
                "SELECT installation_id, account, suspended FROM github_installations ORDER BY installation_id",
            )
            .fetch_all(pool)
            .await?
            {
                found.push(Installation {
                    id: row.try_get::<i64, _>("installation_id")? as u64,
                    account: row.try_get("account")?,
                    suspended: row.try_get("suspended")?,
                    repositories: Vec::new(),
                });
            }
            found
        });
        let repositories: Vec<(i64, String)> = per_backend!(&self.db, pool => {
            let mut found = Vec::new();
            for row in sqlx::query(
                "SELECT installation_id, repo FROM github_installation_repositories ORDER BY repo",
            )
            .fetch_all(pool)
            .await?
            {
                found.push((row.try_get("installation_id")?, row.try_get("repo")?));
            }
            found
        });
        for (id, repo) in repositories {
            if let Some(installation) = installations.iter_mut().find(|i| i.id == id as u64) {
                installation.repositories.push(repo);
            }
        }
        Ok(installations)
    }

    /// The installation that holds `repo` (by the webhooks received so
    /// far; names compared case-insensitively, as GitHub does), with
    /// whether it is suspended; `None` when no installation holds it.
    pub async fn holding(
        &self,
        repo: &RepoName,
    ) -> Result<Option<(InstallationId, bool)>, DatabaseError> {
        let name = repo.to_string().to_lowercase();
        let found: Option<(i64, bool)> = per_backend!(&self.db, pool => {
            sqlx::query(
                "SELECT r.installation_id, COALESCE(i.suspended, FALSE) AS suspended \
                 FROM github_installation_repositories r \
                 LEFT JOIN github_installations i ON i.installation_id = r.installation_id \
                 WHERE LOWER(r.repo) = $1 ORDER BY r.installation_id LIMIT 1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
            .map(|row| Ok::<_, sqlx::Error>((row.try_get("installation_id")?, row.try_get("suspended")?)))
            .transpose()?
        });
        Ok(found.map(|(id, suspended)| (InstallationId(id as u64), suspended)))
    }

    /// Whether the installation is known and suspended.
    pub async fn is_suspended(&self, installation: InstallationId) -> Result<bool, DatabaseError> {
        let suspended: Option<bool> = per_backend!(&self.db, pool => {
            sqlx::query("SELECT suspended FROM github_installations WHERE installation_id = $1")
                .bind(installation.0 as i64)
                .fetch_optional(pool)
                .await?
                .map(|row| row.try_get("suspended"))
                .transpose()?
        });
        Ok(suspended.unwrap_or(false))
    }
}

/// Runs `installation_sync` jobs.
pub struct InstallationSyncHandler {
    pub installations: Installations,
}

#[async_trait::async_trait]
impl JobHandler for InstallationSyncHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let sync: InstallationSyncJob = payload(job)?;
        self.installations
            .apply(&sync, job.created_at_ms)
            .await
            .map_err(|source| ServerError::Database { source })?;
        tracing::info!(
            installation = sync.installation.0,
            action = %sync.action,
            added = sync.added.len(),
            removed = sync.removed.len(),
            "installation recorded"
        );
        Ok(())
    }
}
