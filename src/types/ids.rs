//! Identities: of a prompt's content, of an evaluation, and of the GitHub
//! things promptgate names (repositories, commits, pull requests,
//! installations). Newtypes, so one is never passed where another belongs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How many hex digits of a SHA or a version id tables and messages show.
pub const SHORT_HEX: usize = 12;

/// The first [`SHORT_HEX`] characters of a hex id (all of it when shorter):
/// how every table and message names a commit, version or fingerprint.
pub fn short_hex(hex: &str) -> &str {
    hex.get(..SHORT_HEX).unwrap_or(hex)
}

/// The identity of a prompt's content (see `pipeline::spec::identity`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionId(pub String);

impl VersionId {
    /// The first 12 hex digits, for tables.
    pub fn short(&self) -> &str {
        short_hex(&self.0)
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of an evaluation: version + cases + evaluators + judge + repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    /// The first 12 hex digits, for tables.
    pub fn short(&self) -> &str {
        short_hex(&self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for RepoName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => Ok(Self::new(owner, name)),
            _ => Err(format!(
                "`{s}` is not a repository name; expected `owner/name` (letters, digits, `-`, `_`, `.`)"
            )),
        }
    }
}

impl TryFrom<String> for RepoName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<RepoName> for String {
    fn from(name: RepoName) -> String {
        name.to_string()
    }
}

/// A full commit SHA.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(pub String);

impl CommitSha {
    /// The first 12 hex digits, as reports name a commit.
    pub fn short(&self) -> &str {
        short_hex(&self.0)
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pull request (or issue) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrNumber(pub u64);

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A GitHub App installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstallationId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_keep_twelve_digits() {
        let sha = CommitSha("0123456789abcdef0123".into());
        assert_eq!(sha.short(), "0123456789ab");
        assert_eq!(VersionId("abc".into()).short(), "abc");
    }

    #[test]
    fn repo_names_round_trip_through_json() {
        let name: RepoName = serde_json::from_str("\"octo/hello-world\"").unwrap();
        assert_eq!(name, RepoName::new("octo", "hello-world"));
        assert_eq!(
            serde_json::to_string(&name).unwrap(),
            "\"octo/hello-world\""
        );
        assert!(serde_json::from_str::<RepoName>("\"octo\"").is_err());
    }
}
