//! The two reads the dashboard needs that the registry's trait does not
//! offer in one query: which repositories have prompts, and every version's
//! baseline fingerprint and gate (without loading each result).

use std::collections::BTreeMap;

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

/// Every baseline of `prompt` in `repo`, by version number.
pub async fn baselines(
    db: &Database,
    repo: &str,
    prompt: &str,
) -> Result<BTreeMap<u32, BaselineRef>, DatabaseError> {
    Ok(per_backend!(db, pool => {
        let mut found = BTreeMap::new();
        for row in sqlx::query(
            "SELECT number, fingerprint, gate FROM baselines WHERE repo = $1 AND prompt = $2",
        )
        .bind(repo)
        .bind(prompt)
        .fetch_all(pool)
        .await?
        {
            let number: i64 = row.try_get(0)?;
            found.insert(
                u32::try_from(number).unwrap_or(0),
                BaselineRef {
                    fingerprint: row.try_get(1)?,
                    gate: row.try_get(2)?,
                },
            );
        }
        found
    }))
}
