//! "Sign in with GitHub": GitHub's web application flow with the App's OAuth
//! credentials. The browser goes to `{web}/login/oauth/authorize` with a
//! random `state` (kept in an HTTP-only cookie), GitHub sends it back to the
//! callback with a `code`, which is exchanged at
//! `{web}/login/oauth/access_token` for a user token. With it the server
//! asks `{api}/user` who signed in and `{api}/user/installations` (then each
//! installation's repositories) what they may read and write. The token is
//! used for those calls only and never stored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::sessions::Access;
use crate::server::Secret;

/// Where GitHub's sign-in pages are (not its API): github.com, or a GitHub
/// Enterprise Server's own host.
pub const DEFAULT_WEB_URL: &str = "https://github.com";
/// Repositories per page asked of GitHub (its maximum).
const PER_PAGE: usize = 100;
/// Pages read per installation at most (10,000 repositories).
const MAX_PAGES: usize = 100;

/// The App's OAuth client and GitHub's addresses.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// e.g. `https://github.com`.
    pub web_url: String,
    /// e.g. `https://api.github.com`.
    pub api_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("GitHub could not be reached: {0}")]
    Unreachable(String),
    #[error("GitHub refused the sign-in: {0}")]
    Refused(String),
    #[error("GitHub answered {status} to {what}")]
    Status { what: &'static str, status: u16 },
    #[error("GitHub's answer to {what} could not be read: {detail}")]
    Unreadable { what: &'static str, detail: String },
}

/// Who signed in and what they may do.
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubUser {
    pub login: String,
    /// Lower-case `owner/repo` → access.
    pub repositories: BTreeMap<String, Access>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct UserAnswer {
    login: String,
}

#[derive(Deserialize)]
struct Installations {
    installations: Vec<Installation>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct Repositories {
    repositories: Vec<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    #[serde(default)]
    permissions: Permissions,
}

#[derive(Deserialize, Default)]
struct Permissions {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    maintain: bool,
    #[serde(default)]
    push: bool,
    #[serde(default)]
    pull: bool,
}

impl Permissions {
    fn access(&self) -> Option<Access> {
        if self.admin || self.maintain || self.push {
            Some(Access::Write)
        } else if self.pull {
            Some(Access::Read)
        } else {
            None
        }
    }
}

/// The GitHub side of the flow.
#[derive(Debug, Clone)]
pub struct GitHubOAuth {
    settings: OAuthSettings,
    http: reqwest::Client,
}

fn unreachable(error: reqwest::Error) -> OAuthError {
    // reqwest's message names the URL, never a header or a form field.
    OAuthError::Unreachable(error.without_url().to_string())
}

impl GitHubOAuth {
    pub fn new(settings: OAuthSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("promptgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        GitHubOAuth { settings, http }
    }

    /// Where to send the browser to sign in.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let mut url = url::Url::parse(&format!(
            "{}/login/oauth/authorize",
            self.settings.web_url.trim_end_matches('/')
        ))
        .unwrap_or_else(|_| url::Url::parse(DEFAULT_WEB_URL).expect("a valid URL"));
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("allow_signup", "false");
        url.to_string()
    }

    /// Exchanges the callback's `code`, then reads the user and their
    /// repositories.
    pub async fn sign_in(&self, code: &str, redirect_uri: &str) -> Result<GitHubUser, OAuthError> {
        let token = self.exchange(code, redirect_uri).await?;
        let token = Secret::new(token);
        let user: UserAnswer = self.get("the user", "/user", &token).await?;
        let mut repositories = BTreeMap::new();
        let installations: Installations = self
            .get(
                "the installations",
                "/user/installations?per_page=100",
                &token,
            )
            .await?;
        for installation in installations.installations {
            for page in 1..=MAX_PAGES {
                let listed: Repositories = self
                    .get(
                        "an installation's repositories",
                        &format!(
                            "/user/installations/{}/repositories?per_page={PER_PAGE}&page={page}",
                            installation.id
                        ),
                        &token,
                    )
                    .await?;
                let count = listed.repositories.len();
                for repo in listed.repositories {
                    if let Some(access) = repo.permissions.access() {
                        let entry = repositories
                            .entry(repo.full_name.to_ascii_lowercase())
                            .or_insert(access);
                        *entry = (*entry).max(access);
                    }
                }
                if count < PER_PAGE {
                    break;
                }
            }
        }
        Ok(GitHubUser {
            login: user.login,
            repositories,
        })
    }

    async fn exchange(&self, code: &str, redirect_uri: &str) -> Result<String, OAuthError> {
        let what = "the code exchange";
        let answer = self
            .http
            .post(format!(
                "{}/login/oauth/access_token",
                self.settings.web_url.trim_end_matches('/')
            ))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose()),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        if !answer.status().is_success() {
            return Err(OAuthError::Status {
                what,
                status: answer.status().as_u16(),
            });
        }
        let answer: TokenAnswer = answer
            .json()
            .await
            .map_err(|error| OAuthError::Unreadable {
                what,
                detail: error.without_url().to_string(),
            })?;
        match (answer.access_token, answer.error) {
            (Some(token), None) if !token.is_empty() => Ok(token),
            (_, error) => Err(OAuthError::Refused(
                answer
                    .error_description
                    .or(error)
                    .unwrap_or_else(|| "no token in the answer".into()),
            )),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        token: &Secret,
    ) -> Result<T, OAuthError> {
        let answer = self
            .http
            .get(format!(
                "{}{path}",
                self.settings.api_url.trim_end_matches('/')
            ))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(unreachable)?;
        if !answer.status().is_success() {
            return Err(OAuthError::Status {
                what,
                status: answer.status().as_u16(),
            });
        }
        answer.json().await.map_err(|error| OAuthError::Unreadable {
            what,
            detail: error.without_url().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_access_is_push_or_more() {
        let p = |admin, maintain, push, pull| Permissions {
            admin,
            maintain,
            push,
            pull,
        };
        assert_eq!(p(false, false, false, true).access(), Some(Access::Read));
        assert_eq!(p(false, false, true, true).access(), Some(Access::Write));
        assert_eq!(p(false, true, false, true).access(), Some(Access::Write));
        assert_eq!(p(true, false, false, false).access(), Some(Access::Write));
        assert_eq!(p(false, false, false, false).access(), None);
    }

    #[test]
    fn the_authorize_url_carries_client_redirect_and_state() {
        let oauth = GitHubOAuth::new(OAuthSettings {
            client_id: "Iv1.abc".into(),
            client_secret: Secret::new("s"),
            web_url: "http://127.0.0.1:9/".into(),
            api_url: "http://127.0.0.1:9".into(),
        });
        let url = url::Url::parse(&oauth.authorize_url("http://localhost:1/cb", "st&ate")).unwrap();
        assert_eq!(url.path(), "/login/oauth/authorize");
        let pairs: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["client_id"], "Iv1.abc");
        assert_eq!(pairs["redirect_uri"], "http://localhost:1/cb");
        assert_eq!(pairs["state"], "st&ate");
    }
}
