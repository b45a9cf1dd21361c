//! The GitHub Actions environment, read once into a plain struct.

use std::path::PathBuf;

use super::Secret;
use super::client::DEFAULT_API_URL;
use super::webhook::{Event, PayloadError, parse_event};
use crate::types::{CommitSha, RepoName};

/// What a workflow step knows about its run.
#[derive(Debug, Clone)]
pub struct ActionsEnv {
    /// `GITHUB_EVENT_NAME`: `pull_request`, `push`, `workflow_dispatch`, …
    pub event_name: String,
    /// `GITHUB_EVENT_PATH`: the webhook payload that triggered the run.
    pub event_path: PathBuf,
    /// `GITHUB_REPOSITORY`.
    pub repository: RepoName,
    /// `GITHUB_SHA`. For `pull_request` this is the test merge commit, not the head.
    pub sha: CommitSha,
    /// `GITHUB_BASE_REF` (pull requests only).
    pub base_ref: Option<String>,
    /// `GITHUB_HEAD_REF` (pull requests only).
    pub head_ref: Option<String>,
    /// `GITHUB_API_URL` (GitHub Enterprise sets its own), default `https://api.github.com`.
    pub api_url: String,
    /// `GITHUB_OUTPUT`: where `name=value` outputs are appended.
    pub output_path: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`: where the markdown summary is appended.
    pub step_summary_path: Option<PathBuf>,
    /// `GITHUB_TOKEN` (or the action's `github-token` input, passed the same way).
    pub token: Option<Secret>,
}

/// The triggering event, read from `GITHUB_EVENT_PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsEvent {
    pub event: Event,
    /// A pull request whose head lives in another repository: a read-only
    /// token and no secrets (DESIGN.md "Trust").
    pub fork: bool,
    /// `workflow_dispatch` inputs (`model`, `all`), as strings.
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionsEnvError {
    #[error(
        "{0} is not set; `promptgate action` runs inside GitHub Actions (use `promptgate check` elsewhere)"
    )]
    Missing(&'static str),
    #[error("{name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("reading the event payload {path}: {source}")]
    ReadEvent {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the event payload {path}: {source}")]
    Payload {
        path: String,
        #[source]
        source: PayloadError,
    },
}

impl ActionsEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ActionsEnvError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `var` (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ActionsEnvError> {
        let present = |name: &'static str| var(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| present(name).ok_or(ActionsEnvError::Missing(name));
        let repository =
            required("GITHUB_REPOSITORY")?
                .parse()
                .map_err(|message| ActionsEnvError::Invalid {
                    name: "GITHUB_REPOSITORY",
                    message,
                })?;
        let sha = required("GITHUB_SHA")?;
        if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ActionsEnvError::Invalid {
                name: "GITHUB_SHA",
                message: format!("`{sha}` is not a commit SHA"),
            });
        }
        let api_url = present("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        super::client::normalise_api_url(&api_url).map_err(|e| ActionsEnvError::Invalid {
            name: "GITHUB_API_URL",
            message: e.to_string(),
        })?;
        Ok(Self {
            event_name: required("GITHUB_EVENT_NAME")?,
            event_path: PathBuf::from(required("GITHUB_EVENT_PATH")?),
            repository,
            sha: CommitSha(sha),
            base_ref: present("GITHUB_BASE_REF"),
            head_ref: present("GITHUB_HEAD_REF"),
            api_url: api_url.trim_end_matches('/').to_owned(),
            output_path: present("GITHUB_OUTPUT").map(PathBuf::from),
            step_summary_path: present("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            token: present("GITHUB_TOKEN").map(Secret::new),
        })
    }

    /// Reads and parses the event payload. `pull_request_target` payloads
    /// have the `pull_request` shape.
    pub fn read_event(&self) -> Result<ActionsEvent, ActionsEnvError> {
        let path = self.event_path.display().to_string();
        let body =
            std::fs::read(&self.event_path).map_err(|source| ActionsEnvError::ReadEvent {
                path: path.clone(),
                source,
            })?;
        let as_event = match self.event_name.as_str() {
            "pull_request_target" => "pull_request",
            other => other,
        };
        let event = parse_event(as_event, &body)
            .map_err(|source| ActionsEnvError::Payload { path, source })?;
        let fork = matches!(&event, super::webhook::Event::PullRequest(pr) if pr.fork);
        let inputs = if self.event_name == "workflow_dispatch" {
            serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("inputs").and_then(|i| i.as_object().cloned()))
                .unwrap_or_default()
        } else {
            serde_json::Map::new()
        };
        Ok(ActionsEvent {
            event,
            fork,
            inputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut v: HashMap<String, String> = [
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", "/tmp/event.json"),
            ("GITHUB_REPOSITORY", "octo/prompts"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_BASE_REF", "main"),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_TOKEN", "ghs_secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, val) in extra {
            v.insert((*k).to_owned(), (*val).to_owned());
        }
        v
    }

    #[test]
    fn reads_the_environment_with_defaults() {
        let v = vars(&[("GITHUB_API_URL", "https://ghe.example.com/api/v3/")]);
        let env = ActionsEnv::from_vars(|k| v.get(k).cloned()).unwrap();
        assert_eq!(env.repository, RepoName::new("octo", "prompts"));
        assert_eq!(env.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(env.base_ref.as_deref(), Some("main"));
        assert!(env.output_path.is_none());
        assert!(!format!("{env:?}").contains("ghs_secret"));

        let v = vars(&[("GITHUB_BASE_REF", "")]);
        let env = ActionsEnv::from_vars(|k| v.get(k).cloned()).unwrap();
        assert_eq!(env.api_url, DEFAULT_API_URL);
        assert_eq!(env.base_ref, None);
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let mut v = vars(&[]);
        v.remove("GITHUB_REPOSITORY");
        let err = ActionsEnv::from_vars(|k| v.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("GITHUB_REPOSITORY"), "{err}");
        let v = vars(&[("GITHUB_SHA", "not-a-sha")]);
        let err = ActionsEnv::from_vars(|k| v.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("GITHUB_SHA"), "{err}");
    }

    #[test]
    fn fork_pull_requests_are_detected_from_the_event_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("event.json");
        let payload = |head_repo: &str| {
            serde_json::json!({
                "action": "opened", "number": 7,
                "pull_request": {
                    "head": {"sha": "a".repeat(40), "ref": "feature", "repo": {"full_name": head_repo}},
                    "base": {"sha": "b".repeat(40), "ref": "main", "repo": {"full_name": "octo/prompts"}},
                },
                "repository": {"full_name": "octo/prompts"},
            })
            .to_string()
        };
        let v = vars(&[("GITHUB_EVENT_PATH", path.to_str().unwrap())]);
        let env = ActionsEnv::from_vars(|k| v.get(k).cloned()).unwrap();

        std::fs::write(&path, payload("stranger/prompts")).unwrap();
        assert!(env.read_event().unwrap().fork);
        std::fs::write(&path, payload("octo/prompts")).unwrap();
        assert!(!env.read_event().unwrap().fork);
        std::fs::write(&path, "{").unwrap();
        let err = env.read_event().unwrap_err();
        assert!(err.to_string().contains("event.json"), "{err}");
    }
}
