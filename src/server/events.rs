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
use crate::types::{CommitSha, InstallationId, PrNumber, RepoName};

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
///
/// Payloads are stored with the job, so their JSON must not change: the
/// typed fields serialize as the plain strings and numbers they replaced
/// (`"owner/name"`, a SHA, a number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateJob {
    pub trigger: GateTrigger,
    pub repo: RepoName,
    /// `None` for a rerun of a commit that belongs to no pull request of the
    /// repository (GitHub lists none for forks).
    pub pull_request: Option<PrNumber>,
    pub head_sha: Option<CommitSha>,
    pub base_sha: Option<CommitSha>,
    /// The head is in another repository: untrusted (DESIGN.md "Trust").
    /// `None` when the event does not say.
    pub fork: Option<bool>,
    pub installation: Option<InstallationId>,
    /// Evaluate every prompt, not only the changed ones (`rerun --all`).
    pub all: bool,
    /// Who commented `/promptgate rerun`: the handler must check they have
    /// write access before running anything.
    pub commenter: Option<String>,
}

/// The payload of a [`JobKind::Publish`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishJob {
    pub repo: RepoName,
    /// The commit on the default branch whose prompts are published.
    pub sha: CommitSha,
    /// `refs/heads/main`.
    pub git_ref: String,
    /// The merged pull request, when the job came from one.
    pub pull_request: Option<PrNumber>,
    pub installation: Option<InstallationId>,
}

/// The payload of a [`JobKind::ModelRerun`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRerunJob {
    pub repo: RepoName,
    pub model: String,
    pub installation: Option<InstallationId>,
}

/// The payload of a [`JobKind::InstallationSync`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationSyncJob {
    pub installation: InstallationId,
    /// `created`, `deleted`, `suspend`, `unsuspend`,
    /// `new_permissions_accepted`, or `repositories_changed`.
    pub action: String,
    pub account: Option<String>,
    pub added: Vec<RepoName>,
    pub removed: Vec<RepoName>,
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
                let key = pr_key(&pr.repo, pr.number);
                let gate = GateJob {
                    trigger: GateTrigger::PullRequest,
                    repo: pr.repo,
                    pull_request: Some(pr.number),
                    head_sha: Some(pr.head_sha),
                    base_sha: Some(pr.base_sha),
                    fork: Some(pr.fork),
                    installation: pr.installation,
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
                    let key = pr_key(&command.repo, command.number);
                    let gate = GateJob {
                        trigger: GateTrigger::Comment,
                        repo: command.repo,
                        pull_request: Some(command.number),
                        head_sha: None,
                        base_sha: None,
                        fork: None,
                        installation: command.installation,
                        all,
                        commenter: Some(command.author),
                    };
                    job(JobKind::Gate, serde_json::to_value(&gate), key)
                }
                Command::Unknown { text } => Ok(Routing::Ignore(format!(
                    "`/promptgate {text}` is not a command (try `/promptgate rerun` or `/promptgate rerun --all`)"
                ))),
            },
            Event::PullRequestMerged(merged) => match merged_publish(merged) {
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
                    repo: changed.repo,
                    model: changed.model,
                    installation: changed.installation,
                };
                job(JobKind::ModelRerun, serde_json::to_value(&rerun), key)
            }
            Event::Installation(installation) => {
                let sync = InstallationSyncJob {
                    installation: installation.installation,
                    action: installation_action(installation.action).to_string(),
                    account: Some(installation.account).filter(|a| !a.is_empty()),
                    added: installation.repositories,
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
                    installation: change.installation,
                    action: "repositories_changed".to_string(),
                    account: None,
                    added: change.added,
                    removed: change.removed,
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

/// `owner/repo#12`.
fn pr_key(repo: &RepoName, number: PrNumber) -> String {
    format!("{repo}{number}")
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
    let number = rerun.pull_requests.first().copied();
    let key = match number {
        Some(number) => pr_key(&rerun.repo, number),
        None => format!("{}@{}", rerun.repo, rerun.head_sha),
    };
    let gate = GateJob {
        trigger: GateTrigger::Rerequested,
        repo: rerun.repo,
        pull_request: number,
        head_sha: Some(rerun.head_sha),
        base_sha: None,
        fork: None,
        installation: rerun.installation,
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
        repo: push.repo,
        sha: push.after,
        git_ref: push.git_ref,
        pull_request: None,
        installation: push.installation,
    })
}

/// A merge publishes only into the default branch. A payload that does not
/// name its default branch is taken at its word (GitHub always names it).
fn merged_publish(merged: MergedEvent) -> Result<PublishJob, String> {
    let base = merged
        .base_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(&merged.base_ref);
    if merged
        .default_branch
        .as_deref()
        .is_some_and(|default| default != base)
    {
        return Err(format!(
            "merged into `{base}`, not the default branch: only the default branch publishes"
        ));
    }
    let Some(sha) = merged.merge_commit_sha else {
        return Err("merged pull request without a merge commit SHA".to_string());
    };
    Ok(PublishJob {
        git_ref: format!("refs/heads/{base}"),
        repo: merged.repo,
        sha,
        pull_request: Some(merged.number),
        installation: merged.installation,
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

    /// Jobs outlive deployments: payloads an older server stored (plain
    /// strings and numbers) read into the typed structs and write back the
    /// same JSON.
    #[test]
    fn payloads_stored_before_the_typed_fields_still_read() {
        fn round_trip<T: serde::de::DeserializeOwned + Serialize>(stored: serde_json::Value) -> T {
            let typed: T = serde_json::from_value(stored.clone()).unwrap();
            assert_eq!(serde_json::to_value(&typed).unwrap(), stored);
            typed
        }
        let sha = "a".repeat(40);
        let gate: GateJob = round_trip(json!({
            "trigger": "pull_request", "repo": "octo/p", "pull_request": 7,
            "head_sha": sha, "base_sha": "b".repeat(40), "fork": false,
            "installation": 42, "all": false, "commenter": null,
        }));
        assert_eq!(gate.repo, RepoName::new("octo", "p"));
        assert_eq!(gate.pull_request, Some(PrNumber(7)));
        assert_eq!(gate.head_sha, Some(CommitSha(sha.clone())));
        assert_eq!(gate.installation, Some(InstallationId(42)));
        let rerun: GateJob = round_trip(json!({
            "trigger": "rerequested", "repo": "octo/p", "pull_request": null,
            "head_sha": sha, "base_sha": null, "fork": null,
            "installation": null, "all": false, "commenter": null,
        }));
        assert_eq!(rerun.pull_request, None);
        let publish: PublishJob = round_trip(json!({
            "repo": "octo/p", "sha": sha, "git_ref": "refs/heads/main",
            "pull_request": 7, "installation": 42,
        }));
        assert_eq!(publish.sha, CommitSha(sha));
        let model: ModelRerunJob = round_trip(json!({
            "repo": "octo/p", "model": "openai/gpt-4o", "installation": 42,
        }));
        assert_eq!(model.repo.to_string(), "octo/p");
        let sync: InstallationSyncJob = round_trip(json!({
            "installation": 42, "action": "repositories_changed", "account": null,
            "added": ["octo/a"], "removed": ["octo/b"],
        }));
        assert_eq!(sync.added, [RepoName::new("octo", "a")]);
        // A stored repository that is not `owner/name` is refused, as the
        // handlers refused it before.
        assert!(
            serde_json::from_value::<ModelRerunJob>(json!({
                "repo": "octo", "model": "m", "installation": null,
            }))
            .is_err()
        );
    }

    #[test]
    fn a_merge_names_its_default_branch_in_the_event() {
        let merged = json!({
            "action": "closed", "number": 7,
            "pull_request": {
                "merged": true, "merge_commit_sha": "a".repeat(40),
                "head": {"sha": "b".repeat(40), "ref": "feature"},
                "base": {"sha": "c".repeat(40), "ref": "trunk"},
            },
            "repository": {"full_name": "octo/p", "default_branch": "trunk"},
        });
        let Ok(Event::PullRequestMerged(event)) =
            parse_event("pull_request", merged.to_string().as_bytes())
        else {
            panic!("a merge");
        };
        assert_eq!(event.default_branch.as_deref(), Some("trunk"));
        let publish = merged_publish(event).unwrap();
        assert_eq!(publish.git_ref, "refs/heads/trunk");
        assert_eq!(publish.pull_request, Some(PrNumber(7)));
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
