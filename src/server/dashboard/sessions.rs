//! Dashboard sessions, stored server-side: the cookie holds a random token
//! (256 bits), the `dashboard_sessions` table its SHA-256, who signed in and
//! how, and when the session ends. A session signed in with an API key asks
//! the key store on every request, so revoking the key signs it out; a
//! GitHub session carries what GitHub said the user may do at sign-in.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::edges::db::{Database, DatabaseError, per_backend};
use crate::edges::registry::Namespace;
use crate::server::auth::{ApiKeyInfo, ApiKeys, Scope};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pg_session";

/// What a signed-in user may do in one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    /// Promote and roll back (GitHub's write permission, or a `publish` key).
    Write,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            _ => None,
        }
    }
}

/// How a session signed in, and what it carries for that.
#[derive(Debug, Clone, PartialEq)]
pub enum SignedIn {
    ApiKey(ApiKeyInfo),
    /// Repositories (lower-case `owner/repo`) and the access GitHub gave.
    GitHub(BTreeMap<String, Access>),
}

/// The user behind a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub login: String,
    pub signed_in: SignedIn,
    /// The session's token, from which the forms' CSRF token is derived.
    pub token: String,
}

/// A new session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub login: String,
    pub api_key_id: Option<i64>,
    pub repositories: BTreeMap<String, Access>,
}

/// The `dashboard_sessions` table.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: Database,
    keys: ApiKeys,
    lifetime_ms: i64,
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// 256 random bits, hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

impl Sessions {
    pub fn new(db: Database, lifetime: std::time::Duration) -> Self {
        Sessions {
            keys: ApiKeys::new(db.clone()),
            db,
            lifetime_ms: lifetime.as_millis().min(i64::MAX as u128) as i64,
        }
    }

    /// How long a session lasts, for the cookie's `Max-Age`.
    pub fn lifetime_seconds(&self) -> i64 {
        self.lifetime_ms / 1000
    }

    /// Stores a session; the token for the cookie (its only copy).
    pub async fn create(&self, session: &NewSession) -> Result<String, DatabaseError> {
        let token = random_token();
        let now = now_ms();
        let method = if session.api_key_id.is_some() {
            "api_key"
        } else {
            "github"
        };
        let repositories: BTreeMap<&str, &str> = session
            .repositories
            .iter()
            .map(|(repo, access)| (repo.as_str(), access.as_str()))
            .collect();
        let repositories = serde_json::to_string(&repositories).unwrap_or_else(|_| "{}".into());
        per_backend!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO dashboard_sessions \
                 (token_sha256, login, method, api_key_id, repositories, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sha256_hex(&token))
            .bind(&session.login)
            .bind(method)
            .bind(session.api_key_id)
            .bind(&repositories)
            .bind(now)
            .bind(now.saturating_add(self.lifetime_ms))
            .execute(pool)
            .await?;
        });
        Ok(token)
    }

    /// The viewer of a request's session cookie: `None` without a cookie,
    /// for an unknown or expired session, or a revoked key.
    pub async fn viewer(&self, headers: &HeaderMap) -> Result<Option<Viewer>, DatabaseError> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let row: Option<(String, Option<i64>, String)> = per_backend!(&self.db, pool => {
            match sqlx::query(
                "SELECT login, api_key_id, repositories FROM dashboard_sessions \
                 WHERE token_sha256 = $1 AND expires_at > $2",
            )
            .bind(sha256_hex(token))
            .bind(now_ms())
            .fetch_optional(pool)
            .await?
            {
                Some(row) => Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)),
                None => None,
            }
        });
        let Some((login, api_key_id, repositories)) = row else {
            return Ok(None);
        };
        let signed_in = match api_key_id {
            Some(id) => match self.keys.active_by_id(id).await? {
                Some(info) => SignedIn::ApiKey(info),
                None => return Ok(None),
            },
            None => {
                let stored: BTreeMap<String, String> =
                    serde_json::from_str(&repositories).unwrap_or_default();
                SignedIn::GitHub(
                    stored
                        .into_iter()
                        .filter_map(|(repo, access)| Some((repo, Access::parse(&access)?)))
                        .collect(),
                )
            }
        };
        Ok(Some(Viewer {
            login,
            signed_in,
            token: token.to_string(),
        }))
    }

    /// Ends the session of `token` (sign-out), and any that expired.
    pub async fn end(&self, token: &str) -> Result<(), DatabaseError> {
        per_backend!(&self.db, pool => {
            sqlx::query("DELETE FROM dashboard_sessions WHERE token_sha256 = $1 OR expires_at <= $2")
                .bind(sha256_hex(token))
                .bind(now_ms())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// What `viewer` may do in `repo`: `None` when it may not see it.
    pub async fn access(
        &self,
        viewer: &Viewer,
        repo: &Namespace,
    ) -> Result<Option<Access>, DatabaseError> {
        match &viewer.signed_in {
            SignedIn::GitHub(repos) => Ok(repos.get(repo.as_str()).copied()),
            SignedIn::ApiKey(info) => {
                if !self.keys.reaches(info, repo).await? {
                    return Ok(None);
                }
                Ok(Some(if info.scope.allows(Scope::Publish) {
                    Access::Write
                } else {
                    Access::Read
                }))
            }
        }
    }
}
