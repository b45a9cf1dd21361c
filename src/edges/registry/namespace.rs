//! Which repository a prompt belongs to: its namespace, `owner/repo`.
//!
//! GitHub treats owner and repository names without regard to case, so a
//! namespace is kept in lower case: `Acme/Bot` from a webhook and
//! `acme/bot` from a remote URL are one namespace.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{RegistryError, Result};
use crate::types::RepoName;

/// Names the repository explicitly, for every registry URL.
pub const ENV_REPOSITORY: &str = "PROMPTGATE_REPOSITORY";

/// A repository, `owner/repo`, in lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

impl Namespace {
    /// Where rows written before namespaces existed live, and what a
    /// registry in a file or on the repository's own branch uses. `_` is
    /// not a GitHub account name, so it never collides with a repository.
    pub const DEFAULT: &'static str = "_/default";

    pub fn parse(text: &str) -> Result<Self> {
        let bad = || RegistryError::InvalidNamespace(text.to_string());
        let (owner, repo) = text.split_once('/').ok_or_else(bad)?;
        let part_ok = |part: &str| {
            !part.is_empty()
                && part.len() <= 100
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !part_ok(owner) || !part_ok(repo) {
            return Err(bad());
        }
        Ok(Namespace(text.to_ascii_lowercase()))
    }

    /// The namespace of rows whose repository is unknown.
    pub fn default_namespace() -> Self {
        Namespace(Self::DEFAULT.to_string())
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(owner, _)| owner)
    }

    pub fn repo(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, repo)| repo)
    }

    /// The repository a GitHub remote URL names (`https://github.com/o/r.git`,
    /// `git@github.com:o/r.git`, `ssh://git@host/o/r`); `None` for anything
    /// that does not end in `owner/repo`.
    pub fn from_remote_url(url: &str) -> Option<Self> {
        let url = url.trim().trim_end_matches('/');
        let url = url.strip_suffix(".git").unwrap_or(url);
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.split_once('/')?.1,
            // scp-like syntax: `user@host:owner/repo`.
            None => url.split_once(':')?.1,
        };
        let mut parts = path.rsplitn(3, '/');
        let repo = parts.next()?;
        let owner = parts.next()?;
        Namespace::parse(&format!("{owner}/{repo}")).ok()
    }
}

/// A repository GitHub named (a webhook's, an installation's): its
/// namespace. GitHub's names already keep to what [`Namespace::parse`] allows.
impl From<&RepoName> for Namespace {
    fn from(repo: &RepoName) -> Self {
        Namespace(format!("{}/{}", repo.owner, repo.name).to_ascii_lowercase())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Namespace {
    type Error = RegistryError;
    fn try_from(text: String) -> Result<Self> {
        Namespace::parse(&text)
    }
}

impl From<Namespace> for String {
    fn from(namespace: Namespace) -> String {
        namespace.0
    }
}

/// The namespace a checkout's commands use with the registry at `url`:
///
/// 1. `PROMPTGATE_REPOSITORY`, when set, for every registry;
/// 2. a registry in a file (`sqlite://`) or on the repository's own branch
///    (`git+branch://`) belongs to this one repository: the default namespace;
/// 3. a shared registry (`postgres://`, `https://`): `GITHUB_REPOSITORY`
///    (set in GitHub Actions), else the `origin` remote when it names
///    `owner/repo`; failing both, the default namespace for PostgreSQL (with
///    a warning) and an error for a server, which keeps no default.
pub async fn namespace_for(url: &str, repo_root: &Path) -> Result<Namespace> {
    if let Some(explicit) = env_value(ENV_REPOSITORY) {
        return Namespace::parse(&explicit);
    }
    let shared = ["postgres://", "postgresql://", "https://", "http://"]
        .iter()
        .any(|scheme| url.starts_with(scheme));
    if !shared {
        return Ok(Namespace::default_namespace());
    }
    if let Some(actions) = env_value("GITHUB_REPOSITORY") {
        return Namespace::parse(&actions);
    }
    if let Some(remote) = origin_url(repo_root).await
        && let Some(namespace) = Namespace::from_remote_url(&remote)
    {
        return Ok(namespace);
    }
    if url.starts_with("http") {
        return Err(RegistryError::NamespaceUnknown);
    }
    tracing::warn!(
        "no repository named ({ENV_REPOSITORY}, GITHUB_REPOSITORY, or an `origin` remote): using the shared registry's default namespace `{}`",
        Namespace::DEFAULT
    );
    Ok(Namespace::default_namespace())
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

async fn origin_url(repo_root: &Path) -> Option<String> {
    let output = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo_root)
        .args(["remote", "get-url", "origin"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_parse_in_lower_case() {
        assert_eq!(Namespace::parse("Acme/Bot").unwrap().as_str(), "acme/bot");
        let ns = Namespace::parse("acme/support.bot-2").unwrap();
        assert_eq!((ns.owner(), ns.repo()), ("acme", "support.bot-2"));
        for bad in [
            "", "acme", "acme/", "/bot", "a/b/c", "a/..", "a b/c", "a/b?",
        ] {
            assert!(Namespace::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Namespace::default_namespace().is_default());
    }

    #[test]
    fn remote_urls_name_their_repository() {
        for url in [
            "https://github.com/Acme/bot.git",
            "https://github.com/acme/bot",
            "git@github.com:acme/bot.git",
            "ssh://git@github.example.com:2222/acme/bot.git",
            "https://ghe.example.com/acme/bot/",
        ] {
            assert_eq!(
                Namespace::from_remote_url(url).map(String::from),
                Some("acme/bot".to_string()),
                "{url}"
            );
        }
        assert_eq!(Namespace::from_remote_url("/srv/repos/bot"), None);
        assert_eq!(Namespace::from_remote_url("https://host"), None);
    }
}
