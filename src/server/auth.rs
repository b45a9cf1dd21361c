//! Scoped API keys for the `/v1` routes. A key is shown once when created;
//! the database keeps only its SHA-256, looked up by that hash.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderMap, StatusCode};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::Secret;
use crate::edges::db::{Database, DatabaseError, per_backend};

/// What a key may do; each scope includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Publish,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Publish => "publish",
            Scope::Admin => "admin",
        }
    }

    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "read" => Ok(Scope::Read),
            "publish" => Ok(Scope::Publish),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown API key scope `{other}`: use read, publish or admin"
            )),
        }
    }
}

/// A key that authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
}

/// A stored key as `promptgate keys list` shows it: never the key itself
/// (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A key just created: `key` is the only copy of the secret.
#[derive(Debug)]
pub struct NewApiKey {
    pub info: ApiKeyInfo,
    pub key: Secret,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// 401: no key, or a key that is unknown or revoked.
    Unauthenticated,
    /// 403: the key is valid but its scope is too small.
    Forbidden { have: Scope, need: Scope },
    /// 503: the key store cannot be read.
    Unavailable,
}

impl AuthFailure {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthFailure::Unauthenticated => StatusCode::UNAUTHORIZED,
            AuthFailure::Forbidden { .. } => StatusCode::FORBIDDEN,
            AuthFailure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthFailure::Unauthenticated => {
                "send a valid API key as `Authorization: Bearer <key>`".to_string()
            }
            AuthFailure::Forbidden { have, need } => {
                format!("this API key has scope `{have}`; this route needs `{need}`")
            }
            AuthFailure::Unavailable => "the API key store is unavailable".to_string(),
        }
    }
}

/// The `server_api_keys` table.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    db: Database,
}

/// Keys start with this so they are recognisable in secret scanners.
const KEY_PREFIX: &str = "pgk_";

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

impl ApiKeys {
    pub fn new(db: Database) -> Self {
        ApiKeys { db }
    }

    /// Creates a key with 256 random bits; returns it once.
    pub async fn create(&self, name: &str, scope: Scope) -> Result<NewApiKey, DatabaseError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let id: i64 = per_backend!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO server_api_keys (name, scope, key_sha256, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(scope.as_str())
            .bind(digest(&key))
            .bind(now_ms())
            .fetch_one(pool)
            .await?
            .try_get("id")?
        });
        Ok(NewApiKey {
            info: ApiKeyInfo {
                id,
                name: name.to_string(),
                scope,
            },
            key: Secret::new(key),
        })
    }

    /// Revokes a key; `false` when there was no such active key.
    pub async fn revoke(&self, id: i64) -> Result<bool, DatabaseError> {
        let changed = per_backend!(&self.db, pool => {
            sqlx::query("UPDATE server_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, DatabaseError> {
        let rows: Vec<(i64, String, String, i64, Option<i64>)> = per_backend!(&self.db, pool => {
            let mut rows = Vec::new();
            for row in sqlx::query(
                "SELECT id, name, scope, created_at, revoked_at FROM server_api_keys ORDER BY id",
            )
            .fetch_all(pool)
            .await?
            {
                rows.push((
                    row.try_get("id")?,
                    row.try_get("name")?,
                    row.try_get("scope")?,
                    row.try_get("created_at")?,
                    row.try_get("revoked_at")?,
                ));
            }
            rows
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, name, scope, created_at_ms, revoked_at_ms)| {
                Some(ApiKeyRecord {
                    id,
                    name,
                    // The table's CHECK constraint allows only known scopes.
                    scope: scope.parse().ok()?,
                    created_at_ms,
                    revoked_at_ms,
                })
            })
            .collect())
    }

    /// The active key whose hash matches `presented`, if any.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<ApiKeyInfo>, DatabaseError> {
        let row: Option<(i64, String, String)> = per_backend!(&self.db, pool => {
            match sqlx::query(
                "SELECT id, name, scope FROM server_api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL",
            )
            .bind(digest(presented))
            .fetch_optional(pool)
            .await?
            {
                Some(row) => Some((row.try_get("id")?, row.try_get("name")?, row.try_get("scope")?)),
                None => None,
            }
        });
        Ok(row.and_then(|(id, name, scope)| {
            let scope = scope.parse().ok()?;
            Some(ApiKeyInfo { id, name, scope })
        }))
    }

    /// Checks the request's bearer key against `need`.
    pub async fn require(
        &self,
        headers: &HeaderMap,
        need: Scope,
    ) -> Result<ApiKeyInfo, AuthFailure> {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_credentials)
            .filter(|key| !key.is_empty())
            .ok_or(AuthFailure::Unauthenticated)?;
        let info = self
            .authenticate(presented)
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot read API keys");
                AuthFailure::Unavailable
            })?
            .ok_or(AuthFailure::Unauthenticated)?;
        if info.scope.allows(need) {
            Ok(info)
        } else {
            Err(AuthFailure::Forbidden {
                have: info.scope,
                need,
            })
        }
    }
}

/// The credentials of `Authorization: Bearer <key>`; the scheme is
/// matched without regard to case, as RFC 9110 says schemes are.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer k1", "bearer k1", "BEARER  k1 ", "  bEaReR k1"] {
            assert_eq!(bearer_credentials(value), Some("k1"), "{value:?}");
        }
        for value in ["Basic k1", "Bearer", "Bearer   ", "Bearerk1", "token k1"] {
            assert_eq!(bearer_credentials(value), None, "{value:?}");
        }
    }

    #[test]
    fn scopes_include_lower_ones() {
        assert!(Scope::Admin.allows(Scope::Read));
        assert!(Scope::Publish.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Publish));
        assert!(!Scope::Publish.allows(Scope::Admin));
        for scope in [Scope::Read, Scope::Publish, Scope::Admin] {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
    }
}
