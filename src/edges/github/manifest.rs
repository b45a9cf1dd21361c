//! Registering the GitHub App from a manifest: the manifest promptgate asks
//! for (built from `app-manifest.json` at the root of the repository), the
//! URL of GitHub's creation page, and the exchange of the temporary code
//! GitHub redirects back with for the App's id, private key and webhook
//! secret (`POST /app-manifests/{code}/conversions`).

use std::time::Duration;

use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::Value;

use super::Secret;
use super::client::normalise_api_url;

/// The manifest shipped with promptgate: permissions, events, description.
const MANIFEST: &str = include_str!("../../../app-manifest.json");

/// `https://github.com`; a GitHub Enterprise Server is `https://HOST`.
pub const DEFAULT_WEB_URL: &str = "https://github.com";

/// The path on the promptgate server that receives webhooks.
pub const WEBHOOK_PATH: &str = "/webhooks/github";

/// What the manifest says beyond `app-manifest.json`.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    /// The App's name on GitHub (unique across GitHub; editable on GitHub's page).
    pub name: String,
    /// The server's public base URL; `None` creates the App with its webhook
    /// inactive, to be set in the App's settings later.
    pub server_url: Option<url::Url>,
    /// Where GitHub sends the browser back with the code.
    pub redirect_url: String,
}

/// The manifest to post to GitHub's creation page.
pub fn manifest(options: &ManifestOptions) -> Value {
    let mut manifest: Value = serde_json::from_str(MANIFEST).expect("app-manifest.json is JSON");
    manifest["name"] = Value::from(options.name.as_str());
    manifest["redirect_url"] = Value::from(options.redirect_url.as_str());
    manifest["hook_attributes"] = match &options.server_url {
        Some(base) => serde_json::json!({
            "url": webhook_url(base),
            "active": true,
        }),
        // GitHub still wants a URL; an inactive hook delivers nothing.
        None => serde_json::json!({
            "url": format!("https://promptgate.invalid{WEBHOOK_PATH}"),
            "active": false,
        }),
    };
    manifest
}

/// `BASE/webhooks/github`, keeping any path the base has (a reverse proxy's prefix).
pub fn webhook_url(base: &url::Url) -> String {
    format!("{}{WEBHOOK_PATH}", base.as_str().trim_end_matches('/'))
}

/// GitHub's page that creates an App from a posted manifest: for the signed-in
/// user, or for an organization.
pub fn creation_url(web_url: &str, org: Option<&str>, state: &str) -> String {
    let web = web_url.trim().trim_end_matches('/');
    match org {
        Some(org) => format!("{web}/organizations/{org}/settings/apps/new?state={state}"),
        None => format!("{web}/settings/apps/new?state={state}"),
    }
}

/// The REST API that belongs to a web URL: `https://api.github.com` for
/// github.com, `https://HOST/api/v3` for a GitHub Enterprise Server.
pub fn api_url_for(web_url: &str) -> String {
    let web = web_url.trim().trim_end_matches('/');
    if web == DEFAULT_WEB_URL {
        super::DEFAULT_API_URL.to_owned()
    } else {
        format!("{web}/api/v3")
    }
}

/// The App GitHub created, as the conversion answers it.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub html_url: String,
    /// The account that owns the App.
    pub owner: Option<String>,
    pub pem: Secret,
    /// `None` when GitHub made none (an App created without an active webhook).
    pub webhook_secret: Option<Secret>,
}

impl CreatedApp {
    /// The page where the App is installed on an account's repositories.
    pub fn installation_url(&self) -> String {
        format!("{}/installations/new", self.html_url.trim_end_matches('/'))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "GitHub does not know the code it sent back (HTTP 404: {message}): codes last one hour and work once; run `promptgate app create` again"
    )]
    CodeNotFound { message: String },
    #[error(
        "GitHub refused to create the App from the code (HTTP 422: {message}); the code may have been used already — run `promptgate app create` again"
    )]
    Rejected { message: String },
    #[error("GitHub answered the code exchange with HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("could not reach GitHub's API at {api_url} for the code exchange: {message}")]
    Transport { api_url: String, message: String },
    #[error("GitHub's answer to the code exchange cannot be read: {message}")]
    Decode { message: String },
    #[error("{0}")]
    Config(String),
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: Option<String>,
    name: String,
    html_url: String,
    owner: Option<Owner>,
    pem: String,
    webhook_secret: Option<String>,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// Exchanges the temporary code for the App's credentials. The call is not
/// authenticated (the code is the credential) and never repeated: a code
/// works once.
pub async fn convert_code(
    api_url: &str,
    code: &str,
    timeout: Duration,
) -> Result<CreatedApp, ManifestError> {
    let api_url = normalise_api_url(api_url).map_err(|e| ManifestError::Config(e.to_string()))?;
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ManifestError::Config(
            "the code GitHub sent back is not a plain token; open the link printed by `promptgate app create` again".into(),
        ));
    }
    let octocrab = octocrab::Octocrab::builder()
        .base_uri(api_url.as_str())
        .map_err(|e| ManifestError::Config(format!("GitHub API URL `{api_url}`: {e}")))?
        .set_connect_timeout(Some(timeout))
        .set_read_timeout(Some(timeout))
        .build()
        .map_err(|e| ManifestError::Config(format!("building the GitHub client: {e}")))?;
    let path = format!("/app-manifests/{code}/conversions");
    let transport = |message: String| ManifestError::Transport {
        api_url: api_url.clone(),
        message,
    };
    let response = tokio::time::timeout(timeout, octocrab._post(path, None::<&()>))
        .await
        .map_err(|_| transport(format!("no answer within {}s", timeout.as_secs())))?
        .map_err(|e| transport(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| transport(format!("reading the answer: {e}")))?
        .to_bytes();
    let status = parts.status.as_u16();
    if !parts.status.is_success() {
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .and_then(|b| b.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        let message = super::truncate_chars(&message, 300);
        return Err(match status {
            404 => ManifestError::CodeNotFound { message },
            422 => ManifestError::Rejected { message },
            _ => ManifestError::Status { status, message },
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    // The error names the JSON path only: the body holds the private key.
    let app: Conversion =
        serde_path_to_error::deserialize(de).map_err(|e| ManifestError::Decode {
            message: format!("at `{}`", e.path()),
        })?;
    Ok(CreatedApp {
        id: app.id,
        slug: app.slug.unwrap_or_default(),
        name: app.name,
        html_url: app.html_url,
        owner: app.owner.and_then(|o| o.login),
        pem: Secret::new(app.pem),
        webhook_secret: app
            .webhook_secret
            .filter(|s| !s.is_empty())
            .map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_points_github_at_the_server_and_back_at_us() {
        let options = ManifestOptions {
            name: "promptgate-acme".into(),
            server_url: Some(url::Url::parse("https://gate.acme.dev/pg/").unwrap()),
            redirect_url: "http://127.0.0.1:4000/callback".into(),
        };
        let m = manifest(&options);
        assert_eq!(m["name"], "promptgate-acme");
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://gate.acme.dev/pg/webhooks/github"
        );
        assert_eq!(m["hook_attributes"]["active"], true);
        assert_eq!(m["redirect_url"], "http://127.0.0.1:4000/callback");
        assert_eq!(m["default_permissions"]["checks"], "write");
        let events = m["default_events"].as_array().unwrap();
        assert!(events.iter().any(|e| e == "pull_request"), "{events:?}");

        let inactive = manifest(&ManifestOptions {
            server_url: None,
            ..options
        });
        assert_eq!(inactive["hook_attributes"]["active"], false);
    }

    #[test]
    fn creation_and_api_urls_for_github_and_enterprise_server() {
        assert_eq!(
            creation_url("https://github.com/", None, "s1"),
            "https://github.com/settings/apps/new?state=s1"
        );
        assert_eq!(
            creation_url("https://github.com", Some("acme"), "s1"),
            "https://github.com/organizations/acme/settings/apps/new?state=s1"
        );
        assert_eq!(api_url_for("https://github.com"), "https://api.github.com");
        assert_eq!(
            api_url_for("https://ghe.acme.dev/"),
            "https://ghe.acme.dev/api/v3"
        );
    }
}
