//! The real [`EventRouter`]: a verified delivery is parsed by
//! [`crate::edges::github::webhook::parse_event`] into an [`Event`], and each event
//! becomes one job (or a ping, or an acknowledged no-op).
//!
//! | event | job | supersede key |
//! |---|---|---|
//! | `pull_request` opened / synchronize / reopened | `gate` | `owner/repo#N` |
//! | `check_run` / `check_suite` rerequested | `gate` | `owner/repo#N` (or `owner/repo@SHA` with no PR) |
//! | `issue_comment` `/promptgate rerun [--all]` | `gate` | `owner/repo#N` |
//! | `pull_request` closed and merged into the default branch | `publish` | `owner/repo publish@SHA` |
//! | `push` to the default branch | `publish` | `owner/repo publish@SHA` |
//! | `repository_dispatch` `promptgate-model-changed` | `model_rerun` | `owner/repo model@MODEL` |
//! | `installation`, `installation_repositories` | `installation_sync` | none: each carries a change |
//!
//! A merged pull request and the push of its merge commit name the same
//! commit, so both publish jobs share one supersede key: whichever is still
//! waiting when the other arrives never runs. If the first already finished,
//! the second publishes the same contents again, which the registry answers
//! with the existing versions (`created: false`), so nothing is published twice.

use serde::{Deserialize, Serialize};

use super::webhook::{BuiltinEvents, EventError, EventRouter, Routing, SELFTEST_DISPATCH};
use crate::edges::github::webhook::{
    Command, Event, InstallationAction, MergedEvent, PushEvent, RerequestEvent, parse_event,
};
use crate::server::jobs::{JobKind, NewJob};
use crate::types::{InstallationId, RepoName};

/// Why a gate job was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateTrigger {
    /// `pull_request` opened, synchronize or reopened.
    PullRequest,
    /// The check run or suite was re-run from GitHub's UI.
    Rerequested,
    /// `/promptgate rerun` in a comment.
    Comment,
}

/// The payload of a [`JobKind::Gate`] job. SHAs the event does not carry
/// (reruns, comments) are `None`: the handler reads the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateJob {
    pub trigger: GateTrigger,
    /// `owner/name`.
    pub repo: String,
    /// `None` for a rerun of a commit that belongs to no pull request of the
    /// repository (GitHub lists none for forks).
    pub pull_request: Option<u64>,
    pub head_sha: Option<String>,
    pub base_sha: Option<String>,
    /// The head is in another repository: untrusted (DESIGN.md "Trust").
    /// `None` when the event does not say.
    pub fork: Option<bool>,
    pub installation: Option<u64>,
    /// Evaluate every prompt, not only the changed ones (`rerun --all`).
    pub all: bool,
    /// Who commented `/promptgate rerun`: the handler must check they have
    /// write access before running anything.
    pub commenter: Option<String>,
}

/// The payload of a [`JobKind::Publish`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishJob {
    pub repo: String,
    /// The commit on the default branch whose prompts are published.
    pub sha: String,
    /// `refs/heads/main`.
    pub git_ref: String,
    /// The merged pull request, when the job came from one.
    pub pull_request: Option<u64>,
    pub installation: Option<u64>,
}

/// The payload of a [`JobKind::ModelRerun`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRerunJob {
    pub repo: String,
    pub model: String,
    pub installation: Option<u64>,
}

/// The payload of a [`JobKind::InstallationSync`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationSyncJob {
    pub installation: u64,
    /// `created`, `deleted`, `suspend`, `unsuspend`,
    /// `new_permissions_accepted`, or `repositories_changed`.
    pub action: String,
    pub account: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Routes GitHub's events to jobs; the `promptgate-selftest` dispatch still
/// goes to [`BuiltinEvents`].
#[derive(Debug, Clone, Default)]
pub struct GitHubEvents {
    pub builtin: BuiltinEvents,
}

impl GitHubEvents {
    pub fn new(selftest_enabled: bool) -> Self {
        GitHubEvents {
            builtin: BuiltinEvents { selftest_enabled },
        }
    }
}

impl EventRouter for GitHubEvents {
    fn route(&self, event: &str, body: &[u8]) -> Result<Routing, EventError> {
        if event == "repository_dispatch" && dispatch_action(body) == Some(SELFTEST_DISPATCH) {
            return self.builtin.route(event, body);
        }
        let parsed = parse_event(event, body).map_err(|error| EventError {
            event: event.to_string(),
            message: format!("at `{}`: {}", error.path, error.message),
        })?;
        let job = |kind, payload: Result<serde_json::Value, _>, key| {
            enqueue(event, kind, payload, Some(key))
        };
        match parsed {
            Event::Ping { .. } => Ok(Routing::Ping),
            Event::Ignored { action, reason, .. } => Ok(Routing::Ignore(match action {
                Some(action) => format!("`{event}` action `{action}`: {reason}"),
                None => format!("`{event}`: {reason}"),
            })),
            Event::PullRequest(pr) => {
                let key = pr_key(&pr.repo, pr.number.0);
                let gate = GateJob {
                    trigger: GateTrigger::PullRequest,
                    repo: pr.repo.to_string(),
                    pull_request: Some(pr.number.0),
                    head_sha: Some(pr.head_sha.0),
                    base_sha: Some(pr.base_sha.0),
                    fork: Some(pr.fork),
                    installation: id(pr.installation),
                    all: false,
                    commenter: None,
                };
                job(JobKind::Gate, serde_json::to_value(&gate), key)
            }
            Event::Rerequested(rerun) => {
                let (gate, key) = rerun_gate(rerun);
                job(JobKind::Gate, serde_json::to_value(&gate), key)
            }
            Event::Command(command) => match command.command {
                Command::Rerun { all } => {
                    let gate = GateJob {
                        trigger: GateTrigger::Comment,
                        repo: command.repo.to_string(),
                        pull_request: Some(command.number.0),
                        head_sha: None,
                        base_sha: None,
                        fork: None,
                        installation: id(command.installation),
                        all,
                        commenter: Some(command.author),
                    };
                    job(
                        JobKind::Gate,
                        serde_json::to_value(&gate),
                        pr_key(&command.repo, command.number.0),
                    )
                }
                Command::Unknown { text } => Ok(Routing::Ignore(format!(
                    "`/promptgate {text}` is not a command (try `/promptgate rerun` or `/promptgate rerun --all`)"
                ))),
            },
            Event::PullRequestMerged(merged) => match merged_publish(merged, body) {
                Ok(publish) => {
                    let key = publish_key(&publish);
                    job(JobKind::Publish, serde_json::to_value(&publish), key)
                }
                Err(reason) => Ok(Routing::Ignore(reason)),
            },
            Event::Push(push) => match push_publish(push) {
                Ok(publish) => {
                    let key = publish_key(&publish);
                    job(JobKind::Publish, serde_json::to_value(&publish), key)
                }
                Err(reason) => Ok(Routing::Ignore(reason)),
            },
            Event::ModelChanged(changed) => {
                let key = format!("{} model@{}", changed.repo, changed.model);
                let rerun = ModelRerunJob {
                    repo: changed.repo.to_string(),
                    model: changed.model,
                    installation: id(changed.installation),
                };
                job(JobKind::ModelRerun, serde_json::to_value(&rerun), key)
            }
            Event::Installation(installation) => {
                let sync = InstallationSyncJob {
                    installation: installation.installation.0,
                    action: installation_action(installation.action).to_string(),
                    account: Some(installation.account).filter(|a| !a.is_empty()),
                    added: names(&installation.repositories),
                    removed: Vec::new(),
                };
                enqueue(
                    event,
                    JobKind::InstallationSync,
                    serde_json::to_value(&sync),
                    None,
                )
            }
            Event::InstallationRepositories(change) => {
                let sync = InstallationSyncJob {
                    installation: change.installation.0,
                    action: "repositories_changed".to_string(),
                    account: None,
                    added: names(&change.added),
                    removed: names(&change.removed),
                };
                enqueue(
                    event,
                    JobKind::InstallationSync,
                    serde_json::to_value(&sync),
                    None,
                )
            }
        }
    }
}

/// Serialising the payload structs cannot fail (plain strings and numbers);
/// the error arm only keeps the router total.
fn enqueue(
    event: &str,
    kind: JobKind,
    payload: Result<serde_json::Value, serde_json::Error>,
    key: Option<String>,
) -> Result<Routing, EventError> {
    payload
        .map(|payload| {
            let job = NewJob::new(kind, payload);
            Routing::Enqueue(match key {
                Some(key) => job.superseding(key),
                None => job,
            })
        })
        .map_err(|error| EventError {
            event: event.to_string(),
            message: error.to_string(),
        })
}

fn dispatch_action(body: &[u8]) -> Option<&'static str> {
    #[derive(Deserialize)]
    struct Action {
        action: Option<String>,
    }
    let action = serde_json::from_slice::<Action>(body).ok()?.action?;
    (action == SELFTEST_DISPATCH).then_some(SELFTEST_DISPATCH)
}

fn id(installation: Option<InstallationId>) -> Option<u64> {
    installation.map(|i| i.0)
}

fn names(repos: &[RepoName]) -> Vec<String> {
    repos.iter().map(RepoName::to_string).collect()
}

fn pr_key(repo: &RepoName, number: u64) -> String {
    format!("{repo}#{number}")
}

fn publish_key(publish: &PublishJob) -> String {
    format!("{} publish@{}", publish.repo, publish.sha)
}

fn installation_action(action: InstallationAction) -> &'static str {
    match action {
        InstallationAction::Created => "created",
        InstallationAction::Deleted => "deleted",
        InstallationAction::Suspend => "suspend",
        InstallationAction::Unsuspend => "unsuspend",
        InstallationAction::NewPermissionsAccepted => "new_permissions_accepted",
    }
}

fn rerun_gate(rerun: RerequestEvent) -> (GateJob, String) {
    let number = rerun.pull_requests.first().map(|n| n.0);
    let key = match number {
        Some(number) => pr_key(&rerun.repo, number),
        None => format!("{}@{}", rerun.repo, rerun.head_sha),
    };
    let gate = GateJob {
        trigger: GateTrigger::Rerequested,
        repo: rerun.repo.to_string(),
        pull_request: number,
        head_sha: Some(rerun.head_sha.0),
        base_sha: None,
        fork: None,
        installation: id(rerun.installation),
        all: false,
        commenter: None,
    };
    (gate, key)
}

fn push_publish(push: PushEvent) -> Result<PublishJob, String> {
    if push.deleted {
        return Err(format!("push deleted `{}`", push.git_ref));
    }
    if !push.is_to_default_branch() {
        return Err(format!(
            "push to `{}`, not the default branch: only the default branch publishes",
            push.git_ref
        ));
    }
    Ok(PublishJob {
        repo: push.repo.to_string(),
        sha: push.after.0,
        git_ref: push.git_ref,
        pull_request: None,
        installation: id(push.installation),
    })
}

/// The merged pull request's `repository.default_branch`, which [`MergedEvent`]
/// does not carry: merges into other branches publish nothing.
fn merged_publish(merged: MergedEvent, body: &[u8]) -> Result<PublishJob, String> {
    #[derive(Deserialize)]
    struct Body {
        repository: Repository,
    }
    #[derive(Deserialize)]
    struct Repository {
        default_branch: Option<String>,
    }
    let default_branch = serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.repository.default_branch);
    let base = merged
        .base_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(&merged.base_ref);
    if default_branch.as_deref().is_some_and(|d| d != base) {
        return Err(format!(
            "merged into `{base}`, not the default branch: only the default branch publishes"
        ));
    }
    let Some(sha) = merged.merge_commit_sha else {
        return Err("merged pull request without a merge commit SHA".to_string());
    };
    Ok(PublishJob {
        repo: merged.repo.to_string(),
        sha: sha.0,
        git_ref: format!("refs/heads/{base}"),
        pull_request: Some(merged.number.0),
        installation: id(merged.installation),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enqueued(routing: Result<Routing, EventError>) -> NewJob {
        match routing {
            Ok(Routing::Enqueue(job)) => job,
            other => panic!("expected a job, got {other:?}"),
        }
    }

    #[test]
    fn a_merge_and_its_push_share_one_publish_key() {
        let sha = "a".repeat(40);
        let merged = json!({
            "action": "closed", "number": 7,
            "pull_request": {
                "merged": true, "merge_commit_sha": sha,
                "head": {"sha": "b".repeat(40), "ref": "feature", "repo": {"full_name": "octo/p"}},
                "base": {"sha": "c".repeat(40), "ref": "main", "repo": {"full_name": "octo/p"}},
            },
            "repository": {"full_name": "octo/p", "default_branch": "main"},
        });
        let push = json!({
            "ref": "refs/heads/main", "before": "c".repeat(40), "after": sha,
            "repository": {"full_name": "octo/p", "default_branch": "main"},
        });
        let events = GitHubEvents::default();
        let from_merge = enqueued(events.route("pull_request", merged.to_string().as_bytes()));
        let from_push = enqueued(events.route("push", push.to_string().as_bytes()));
        assert_eq!(from_merge.kind, JobKind::Publish);
        assert_eq!(from_push.kind, JobKind::Publish);
        assert_eq!(from_merge.supersede_key, from_push.supersede_key);
        assert_eq!(from_merge.payload["pull_request"], 7);

        let mut elsewhere = merged.clone();
        elsewhere["pull_request"]["base"]["ref"] = json!("release");
        assert!(matches!(
            events.route("pull_request", elsewhere.to_string().as_bytes()),
            Ok(Routing::Ignore(_))
        ));
    }

    #[test]
    fn comments_carry_the_commenter_and_unknown_commands_are_ignored() {
        let comment = |text: &str| {
            json!({
                "action": "created",
                "issue": {"number": 3, "pull_request": {}},
                "comment": {"id": 1, "body": text, "user": {"login": "mona", "type": "User"}},
                "repository": {"full_name": "octo/p"},
            })
            .to_string()
        };
        let events = GitHubEvents::default();
        let job = enqueued(events.route(
            "issue_comment",
            comment("/promptgate rerun --all").as_bytes(),
        ));
        let gate: GateJob = serde_json::from_value(job.payload).unwrap();
        assert_eq!(gate.commenter.as_deref(), Some("mona"));
        assert!(gate.all);
        assert_eq!(job.supersede_key.as_deref(), Some("octo/p#3"));
        let Ok(Routing::Ignore(reason)) =
            events.route("issue_comment", comment("/promptgate deploy").as_bytes())
        else {
            panic!("unknown commands are ignored");
        };
        assert!(reason.contains("rerun"), "{reason}");
    }

    #[test]
    fn malformed_payloads_name_the_json_path() {
        let body = br#"{"action":"opened","number":1,"pull_request":{"head":{"sha":5}}}"#;
        let error = GitHubEvents::default()
            .route("pull_request", body)
            .unwrap_err();
        assert!(error.message.contains("pull_request.head.sha"), "{error}");
    }

    #[test]
    fn the_selftest_dispatch_still_works() {
        let body = br#"{"action":"promptgate-selftest","client_payload":{"id":"t1"},"repository":{"full_name":"octo/p"}}"#;
        let job = enqueued(GitHubEvents::new(true).route("repository_dispatch", body));
        assert_eq!(job.kind, JobKind::SelfTest);
        assert!(matches!(
            GitHubEvents::new(false).route("repository_dispatch", body),
            Ok(Routing::Ignore(_))
        ));
    }
}
