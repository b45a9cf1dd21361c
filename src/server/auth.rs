//! Scoped API keys for the `/v1` routes. A key is shown once when created;
//! the database keeps only its SHA-256, looked up by that hash.
//!
//! A key has a scope (what it may do) and a reach (which repositories'
//! prompts it sees, [`KeyReach`]). A repository out of reach is answered
//! exactly as a repository with nothing published: 404, never 403, so a key
//! cannot learn what other repositories publish.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::Secret;
use super::ttl_cache::{DEFAULT_SERVING_CACHE, TtlCache};
use crate::edges::db::{Database, DatabaseError, per_backend};
use crate::edges::registry::Namespace;

/// What a key may do; each scope includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    /// Read, and report executions (`POST …/executions`): an application's
    /// key, which has no business publishing.
    Telemetry,
    Publish,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Telemetry => "telemetry",
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
            "telemetry" => Ok(Scope::Telemetry),
            "publish" => Ok(Scope::Publish),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown API key scope `{other}`: use read, telemetry, publish or admin"
            )),
        }
    }
}

/// Which repositories a key reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyReach {
    /// Every repository (keys made before namespaces, or `--all-repos`).
    Every,
    /// These repositories.
    Repos(Vec<Namespace>),
    /// The repositories of one App installation, as the server knows them
    /// now (a repository removed from the installation drops out).
    Installation(u64),
}

impl KeyReach {
    /// The stored form (see the `reach` column's migration).
    fn encode(&self) -> String {
        match self {
            KeyReach::Every => "*".to_string(),
            KeyReach::Repos(repos) => {
                let names: Vec<&str> = repos.iter().map(Namespace::as_str).collect();
                format!("repos:{}", names.join(" "))
            }
            KeyReach::Installation(id) => format!("installation:{id}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(KeyReach::Every);
        }
        if let Some(list) = text.strip_prefix("repos:") {
            return list
                .split_whitespace()
                .map(|repo| Namespace::parse(repo).ok())
                .collect::<Option<Vec<_>>>()
                .map(KeyReach::Repos);
        }
        text.strip_prefix("installation:")?
            .parse()
            .ok()
            .map(KeyReach::Installation)
    }
}

impl fmt::Display for KeyReach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyReach::Every => f.write_str("every repository"),
            KeyReach::Repos(repos) => {
                let names: Vec<&str> = repos.iter().map(Namespace::as_str).collect();
                f.write_str(&names.join(", "))
            }
            KeyReach::Installation(id) => write!(f, "installation {id}"),
        }
    }
}

impl Serialize for KeyReach {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

/// A key that authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub reach: KeyReach,
}

/// A stored key as `promptgate keys list` shows it: never the key itself
/// (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub reach: KeyReach,
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
    /// 404: the repository is out of the key's reach. The route answers as
    /// it answers for a prompt that does not exist.
    OutOfReach,
    /// 403: the key is valid but its scope is too small.
    Forbidden { have: Scope, need: Scope },
    /// 503: the key store cannot be read.
    Unavailable,
}

impl AuthFailure {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthFailure::Unauthenticated => StatusCode::UNAUTHORIZED,
            AuthFailure::OutOfReach => StatusCode::NOT_FOUND,
            AuthFailure::Forbidden { .. } => StatusCode::FORBIDDEN,
            AuthFailure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthFailure::Unauthenticated => {
                "send a valid API key as `Authorization: Bearer <key>`".to_string()
            }
            AuthFailure::OutOfReach => "not found".to_string(),
            AuthFailure::Forbidden { have, need } => {
                format!("this API key has scope `{have}`; this route needs `{need}`")
            }
            AuthFailure::Unavailable => "the API key store is unavailable".to_string(),
        }
    }
}

/// The `server_api_keys` table, with the keys and installation reaches
/// recently kept in memory: the serving path
/// reads no table for a key it has just seen. A key revoked by another
/// process (`promptgate keys revoke`, another replica) stops working within
/// that time ([`DEFAULT_SERVING_CACHE`] unless configured); one revoked
/// through this value at once.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    db: Database,
    /// SHA-256 of a presented key → the active key it is.
    recent: Arc<TtlCache<String, ApiKeyInfo>>,
    /// (installation, repository) pairs the installation has.
    installed: Arc<TtlCache<(u64, String), ()>>,
}

/// Keys (and installation reaches) kept at most; more start over.
const KEY_CACHE_ENTRIES: usize = 10_000;

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
        Self::with_cache(db, DEFAULT_SERVING_CACHE)
    }

    /// Keys trusted for `ttl` after they are read; zero reads every time.
    pub fn with_cache(db: Database, ttl: Duration) -> Self {
        ApiKeys {
            db,
            recent: Arc::new(TtlCache::new(ttl, KEY_CACHE_ENTRIES)),
            installed: Arc::new(TtlCache::new(ttl, KEY_CACHE_ENTRIES)),
        }
    }

    /// Creates a key with 256 random bits; returns it once.
    pub async fn create(
        &self,
        name: &str,
        scope: Scope,
        reach: KeyReach,
    ) -> Result<NewApiKey, DatabaseError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let id: i64 = per_backend!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO server_api_keys (name, scope, reach, key_sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(scope.as_str())
            .bind(reach.encode())
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
                reach,
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
        self.recent.forget(|_| true);
        Ok(changed == 1)
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, DatabaseError> {
        type Listed = (i64, String, String, String, i64, Option<i64>);
        let rows: Vec<Listed> = per_backend!(&self.db, pool => {
            let mut rows = Vec::new();
            for row in sqlx::query(
                "SELECT id, name, scope, reach, created_at, revoked_at FROM server_api_keys ORDER BY id",
            )
            .fetch_all(pool)
            .await?
            {
                rows.push((
                    row.try_get("id")?,
                    row.try_get("name")?,
                    row.try_get("scope")?,
                    row.try_get("reach")?,
                    row.try_get("created_at")?,
                    row.try_get("revoked_at")?,
                ));
            }
            rows
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, name, scope, reach, created_at_ms, revoked_at_ms)| {
                Some(ApiKeyRecord {
                    id,
                    name,
                    // The table's CHECK constraint allows only known scopes.
                    scope: scope.parse().ok()?,
                    reach: KeyReach::decode(&reach)?,
                    created_at_ms,
                    revoked_at_ms,
                })
            })
            .collect())
    }

    /// The active key whose hash matches `presented`, if any.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<ApiKeyInfo>, DatabaseError> {
        let digest = digest(presented);
        if let Some(info) = self.recent.get(&digest) {
            return Ok(Some(info));
        }
        let info = self.active_where("key_sha256 = $1", digest.clone()).await?;
        // Only active keys are kept: an unknown key is read every time, so
        // guessing fills nothing.
        if let Some(info) = &info {
            self.recent.insert(digest, info.clone());
        }
        Ok(info)
    }

    /// The key with this id, unless it was revoked (a dashboard session
    /// signed in with a key asks on every request).
    pub async fn active_by_id(&self, id: i64) -> Result<Option<ApiKeyInfo>, DatabaseError> {
        self.active_where("id = $1", id).await
    }

    async fn active_where<T>(
        &self,
        condition: &str,
        value: T,
    ) -> Result<Option<ApiKeyInfo>, DatabaseError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Sqlite>
            + sqlx::Type<sqlx::Postgres>
            + Send,
    {
        let sql = format!(
            "SELECT id, name, scope, reach FROM server_api_keys WHERE {condition} AND revoked_at IS NULL"
        );
        let row: Option<(i64, String, String, String)> = per_backend!(&self.db, pool => {
            match sqlx::query(&sql).bind(value).fetch_optional(pool).await? {
                Some(row) => Some((
                    row.try_get("id")?,
                    row.try_get("name")?,
                    row.try_get("scope")?,
                    row.try_get("reach")?,
                )),
                None => None,
            }
        });
        Ok(row.and_then(|(id, name, scope, reach)| {
            // A row this version cannot read authenticates nothing.
            let scope = scope.parse().ok()?;
            let reach = KeyReach::decode(&reach)?;
            Some(ApiKeyInfo {
                id,
                name,
                scope,
                reach,
            })
        }))
    }

    /// Whether `info`'s key reaches `repo`.
    pub async fn reaches(
        &self,
        info: &ApiKeyInfo,
        repo: &Namespace,
    ) -> Result<bool, DatabaseError> {
        match &info.reach {
            KeyReach::Every => Ok(true),
            KeyReach::Repos(repos) => Ok(repos.contains(repo)),
            KeyReach::Installation(installation) => {
                let cached = (*installation, repo.as_str().to_string());
                if self.installed.get(&cached).is_some() {
                    return Ok(true);
                }
                let id = i64::try_from(*installation).unwrap_or(i64::MAX);
                let found = per_backend!(&self.db, pool => {
                    sqlx::query(
                        "SELECT 1 AS found FROM github_installation_repositories \
                         WHERE installation_id = $1 AND LOWER(repo) = $2",
                    )
                    .bind(id)
                    .bind(repo.as_str())
                    .fetch_optional(pool)
                    .await?
                    .is_some()
                });
                // Only what it has: a repository added to the installation
                // is reached at once, one removed within the cache time.
                if found {
                    self.installed.insert(cached, ());
                }
                Ok(found)
            }
        }
    }

    /// Checks the request's bearer key against `need` in `repo`: a repository
    /// out of the key's reach is [`AuthFailure::OutOfReach`], checked before
    /// the scope so a key learns nothing about repositories it cannot see.
    pub async fn require_in(
        &self,
        headers: &HeaderMap,
        need: Scope,
        repo: &Namespace,
    ) -> Result<ApiKeyInfo, AuthFailure> {
        let info = self.authenticated(headers).await?;
        let reached = self.reaches(&info, repo).await.map_err(|error| {
            tracing::error!(%error, "cannot read the installations");
            AuthFailure::Unavailable
        })?;
        if !reached {
            return Err(AuthFailure::OutOfReach);
        }
        check_scope(info, need)
    }

    /// Checks the request's bearer key against `need`.
    pub async fn require(
        &self,
        headers: &HeaderMap,
        need: Scope,
    ) -> Result<ApiKeyInfo, AuthFailure> {
        check_scope(self.authenticated(headers).await?, need)
    }

    /// The active key the request presents.
    async fn authenticated(&self, headers: &HeaderMap) -> Result<ApiKeyInfo, AuthFailure> {
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
        Ok(info)
    }
}

fn check_scope(info: ApiKeyInfo, need: Scope) -> Result<ApiKeyInfo, AuthFailure> {
    if info.scope.allows(need) {
        Ok(info)
    } else {
        Err(AuthFailure::Forbidden {
            have: info.scope,
            need,
        })
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
    fn reaches_round_trip_through_their_stored_form() {
        let repos = KeyReach::Repos(vec![
            Namespace::parse("acme/bot").unwrap(),
            Namespace::parse("acme/web").unwrap(),
        ]);
        for reach in [KeyReach::Every, repos, KeyReach::Installation(42)] {
            assert_eq!(KeyReach::decode(&reach.encode()), Some(reach));
        }
        assert_eq!(KeyReach::decode("repos:not a repo"), None);
        assert_eq!(KeyReach::decode("installation:x"), None);
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
