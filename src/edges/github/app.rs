//! GitHub App authentication: a short-lived RS256 JWT signed with the App's
//! private key, exchanged for installation tokens that are cached until
//! shortly before they expire.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::client::{ClientOptions, GitHubClient, build_octocrab, normalise_api_url};
use super::{GitHubError, Secret};
use crate::types::InstallationId;

/// Refresh an installation token when less than this is left of its life.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// GitHub rejects JWTs that live longer than 10 minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// Backdate `iat` to allow for clock drift, as GitHub recommends.
const JWT_BACKDATE: Duration = Duration::from_secs(60);

/// The App id and its private key (PEM, PKCS#1 as GitHub issues it, or PKCS#8).
#[derive(Clone)]
pub struct AppCredentials {
    pub app_id: u64,
    pub private_key_pem: Secret,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("private_key_pem", &self.private_key_pem)
            .finish()
    }
}

/// A GitHub App: makes clients for its installations. Cheap to clone; clones
/// share the token cache.
#[derive(Clone)]
pub struct GitHubApp {
    inner: Arc<AppInner>,
}

struct AppInner {
    app_id: u64,
    key: EncodingKey,
    api_url: String,
    options: ClientOptions,
    tokens: Mutex<HashMap<InstallationId, CachedToken>>,
    bot_login: tokio::sync::OnceCell<String>,
}

struct CachedToken {
    octocrab: Octocrab,
    expires_at: SystemTime,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct AppClaims {
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct AppBody {
    slug: String,
}

impl GitHubApp {
    pub fn new(
        api_url: &str,
        credentials: &AppCredentials,
        options: ClientOptions,
    ) -> Result<Self, GitHubError> {
        let key = EncodingKey::from_rsa_pem(credentials.private_key_pem.expose().as_bytes())
            .map_err(|e| {
                GitHubError::AppAuth(format!(
                    "the App private key is not an RSA key in PEM format ({e}); use the `.pem` file GitHub generated for the App"
                ))
            })?;
        Ok(Self {
            inner: Arc::new(AppInner {
                app_id: credentials.app_id,
                key,
                api_url: normalise_api_url(api_url)?,
                options,
                tokens: Mutex::new(HashMap::new()),
                bot_login: tokio::sync::OnceCell::new(),
            }),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.inner.app_id
    }

    /// A client acting as the given installation.
    pub fn installation_client(&self, installation: InstallationId) -> GitHubClient {
        GitHubClient::for_installation(
            self.clone(),
            installation,
            &self.inner.api_url,
            self.inner.options.clone(),
        )
    }

    /// The JWT that authenticates as the App itself.
    pub fn jwt(&self) -> Result<Secret, GitHubError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| GitHubError::AppAuth("the system clock is before 1970".into()))?;
        let claims = AppClaims {
            iat: (now - JWT_BACKDATE).as_secs(),
            exp: (now + JWT_LIFETIME).as_secs(),
            iss: self.inner.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.inner.key)
            .map(Secret::new)
            .map_err(|e| GitHubError::AppAuth(format!("signing the App JWT: {e}")))
    }

    fn app_octocrab(&self) -> Result<Octocrab, GitHubError> {
        build_octocrab(&self.inner.api_url, &self.jwt()?, &self.inner.options)
    }

    /// `<app-slug>[bot]`, the login the App's comments carry.
    pub async fn bot_login(&self) -> Result<String, GitHubError> {
        self.inner
            .bot_login
            .get_or_try_init(|| async {
                let octocrab = self.app_octocrab()?;
                let body: AppBody = self
                    .app_call(&octocrab, "/app", None, "get the App")
                    .await?;
                Ok(format!("{}[bot]", body.slug))
            })
            .await
            .cloned()
    }

    /// An octocrab authenticated as the installation, from the cache when its
    /// token has more than five minutes left.
    pub(crate) async fn installation_octocrab(
        &self,
        installation: InstallationId,
    ) -> Result<Octocrab, GitHubError> {
        let mut tokens = self.inner.tokens.lock().await;
        if let Some(cached) = tokens.get(&installation)
            && cached.expires_at > SystemTime::now() + REFRESH_BEFORE_EXPIRY
        {
            return Ok(cached.octocrab.clone());
        }
        let octocrab = self.app_octocrab()?;
        let path = format!("/app/installations/{}/access_tokens", installation.0);
        let body: AccessToken = self
            .app_call(
                &octocrab,
                &path,
                Some(&serde_json::json!({})),
                "create an installation access token",
            )
            .await?;
        let expires_at = time::OffsetDateTime::parse(
            &body.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(SystemTime::from)
        .map_err(|e| {
            GitHubError::AppAuth(format!(
                "installation token expiry `{}` is not a timestamp: {e}",
                body.expires_at
            ))
        })?;
        let octocrab = build_octocrab(
            &self.inner.api_url,
            &Secret::new(body.token),
            &self.inner.options,
        )?;
        tokens.insert(
            installation,
            CachedToken {
                octocrab: octocrab.clone(),
                expires_at,
            },
        );
        Ok(octocrab)
    }

    /// A call authenticated with the JWT (no retries: a failure here usually
    /// means a wrong key or App id, and the caller retries the whole job).
    async fn app_call<T: serde::de::DeserializeOwned>(
        &self,
        octocrab: &Octocrab,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<T, GitHubError> {
        let request = async {
            match body {
                Some(b) => octocrab._post(path, Some(b)).await,
                None => octocrab._get(path).await,
            }
        };
        let response = tokio::time::timeout(self.inner.options.timeout, request)
            .await
            .map_err(|_| GitHubError::AppAuth(format!("{what} ({path}) timed out")))?
            .map_err(|e| GitHubError::AppAuth(format!("{what} ({path}): {e}")))?;
        let status = response.status();
        let text = octocrab
            .body_to_string(response)
            .await
            .map_err(|e| GitHubError::AppAuth(format!("{what} ({path}): {e}")))?;
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 => "; check the App id and that the private key belongs to this App",
                404 => "; is the App installed on this account?",
                _ => "",
            };
            return Err(GitHubError::AppAuth(format!(
                "{what} ({path}) failed with HTTP {}: {}{hint}",
                status.as_u16(),
                super::truncate_chars(&text, 300)
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| GitHubError::AppAuth(format!("{what} ({path}): unreadable answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../../fixtures/github/test-app-key.pem");
    const PUBLIC: &str = include_str!("../../../fixtures/github/test-app-key.pub.pem");

    #[test]
    fn jwt_is_rs256_backdated_and_short_lived() {
        let app = GitHubApp::new(
            "https://api.github.com",
            &AppCredentials {
                app_id: 4242,
                private_key_pem: Secret::new(KEY),
            },
            ClientOptions::default(),
        )
        .unwrap();
        let jwt = app.jwt().unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let decoded = jsonwebtoken::decode::<AppClaims>(
            jwt.expose(),
            &jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(decoded.claims.iss, "4242");
        assert!(decoded.claims.iat <= now - 59 && decoded.claims.iat >= now - 61);
        assert!(decoded.claims.exp - decoded.claims.iat <= 600);
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let err = GitHubApp::new(
            "https://api.github.com",
            &AppCredentials {
                app_id: 1,
                private_key_pem: Secret::new("-----BEGIN RSA PRIVATE KEY-----\nsecretstuff\n"),
            },
            ClientOptions::default(),
        )
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(text.contains("private key"), "{text}");
        assert!(!text.contains("secretstuff"), "{text}");
    }
}
