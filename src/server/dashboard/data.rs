//! The reads the dashboard needs that the registry's trait does not offer
//! in one query: which repositories have prompts, and every version's
//! summary with its baseline's fingerprint and gate (without the version's
//! content, which only the version page shows, nor the result).

use sqlx::Row;

use crate::edges::db::{Database, DatabaseError, per_backend};

/// Repositories with published prompts, and how many prompts each has.
pub async fn repositories(db: &Database) -> Result<Vec<(String, i64)>, DatabaseError> {
    Ok(per_backend!(db, pool => {
        let mut listed = Vec::new();
        for row in sqlx::query("SELECT repo, COUNT(*) FROM prompts GROUP BY repo ORDER BY repo")
            .fetch_all(pool)
            .await?
        {
            listed.push((row.try_get(0)?, row.try_get(1)?));
        }
        listed
    }))
}

/// A version's baseline: its result's fingerprint and what its gate said.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineRef {
    pub fingerprint: String,
    pub gate: String,
}

/// What the prompt pages show of a version: no content.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSummary {
    pub number: u32,
    pub git_commit: Option<String>,
    pub author: String,
    pub message: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub baseline: Option<BaselineRef>,
}

/// Every version of `prompt` in `repo`, oldest first, with its baseline.
pub async fn version_summaries(
    db: &Database,
    repo: &str,
    prompt: &str,
) -> Result<Vec<VersionSummary>, DatabaseError> {
    const SQL: &str = "SELECT v.number, v.git_commit, v.author, v.message, v.created_at, \
         b.fingerprint, b.gate FROM versions v LEFT JOIN baselines b \
         ON b.repo = v.repo AND b.prompt = v.prompt AND b.number = v.number \
         WHERE v.repo = $1 AND v.prompt = $2 ORDER BY v.number";
    Ok(per_backend!(db, pool => {
        let mut found = Vec::new();
        for row in sqlx::query(SQL).bind(repo).bind(prompt).fetch_all(pool).await? {
            let number: i64 = row.try_get(0)?;
            let fingerprint: Option<String> = row.try_get(5)?;
            let gate: Option<String> = row.try_get(6)?;
            found.push(VersionSummary {
                number: u32::try_from(number).unwrap_or(0),
                git_commit: row.try_get(1)?,
                author: row.try_get(2)?,
                message: row.try_get(3)?,
                created_at: row.try_get(4)?,
                baseline: fingerprint.zip(gate).map(|(fingerprint, gate)| BaselineRef {
                    fingerprint,
                    gate,
                }),
            });
        }
        found
    }))
}
