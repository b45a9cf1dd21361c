//! Webhook deliveries: the signature check, and the payloads turned at once
//! into our own [`Event`], so handlers never touch raw JSON.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::Secret;
use crate::types::{CommitSha, InstallationId, PrNumber, RepoName};

/// The `repository_dispatch` type that asks for a rerun after a model change.
pub const MODEL_CHANGED_DISPATCH: &str = "promptgate-model-changed";

/// A webhook event promptgate acts on, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `pull_request` opened, synchronize or reopened: run the gate.
    PullRequest(PullRequestEvent),
    /// `pull_request` closed with `merged: true`: publish.
    PullRequestMerged(MergedEvent),
    Push(PushEvent),
    /// `check_run` / `check_suite` rerequested: run the gate again.
    Rerequested(RerequestEvent),
    /// `issue_comment` created on a pull request with a `/promptgate` command.
    Command(CommandEvent),
    /// `repository_dispatch` of type [`MODEL_CHANGED_DISPATCH`].
    ModelChanged(ModelChangedEvent),
    Installation(InstallationEvent),
    InstallationRepositories(InstallationRepositoriesEvent),
    Ping {
        zen: Option<String>,
        hook_id: Option<u64>,
    },
    /// Acknowledged and not acted on.
    Ignored {
        event: String,
        action: Option<String>,
        reason: String,
    },
}

impl Event {
    /// The installation the delivery came through (App mode).
    pub fn installation(&self) -> Option<InstallationId> {
        match self {
            Self::PullRequest(e) => e.installation,
            Self::PullRequestMerged(e) => e.installation,
            Self::Push(e) => e.installation,
            Self::Rerequested(e) => e.installation,
            Self::Command(e) => e.installation,
            Self::ModelChanged(e) => e.installation,
            Self::Installation(e) => Some(e.installation),
            Self::InstallationRepositories(e) => Some(e.installation),
            Self::Ping { .. } | Self::Ignored { .. } => None,
        }
    }

    /// The repository the event is about, when there is one.
    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            Self::PullRequest(e) => Some(&e.repo),
            Self::PullRequestMerged(e) => Some(&e.repo),
            Self::Push(e) => Some(&e.repo),
            Self::Rerequested(e) => Some(&e.repo),
            Self::Command(e) => Some(&e.repo),
            Self::ModelChanged(e) => Some(&e.repo),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrAction {
    Opened,
    Synchronize,
    Reopened,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub action: PrAction,
    pub repo: RepoName,
    pub number: PrNumber,
    pub head_sha: CommitSha,
    pub head_ref: String,
    /// `None` when the head repository was deleted.
    pub head_repo: Option<RepoName>,
    pub base_sha: CommitSha,
    pub base_ref: String,
    /// Head repository ≠ base repository: untrusted (DESIGN.md "Trust").
    pub fork: bool,
    pub sender: String,
    pub installation: Option<InstallationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedEvent {
    pub repo: RepoName,
    pub number: PrNumber,
    /// The branch merged into (`main`).
    pub base_ref: String,
    pub merge_commit_sha: Option<CommitSha>,
    /// `repository.default_branch`; `None` when the payload does not say.
    pub default_branch: Option<String>,
    pub installation: Option<InstallationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    pub repo: RepoName,
    /// `refs/heads/main`.
    pub git_ref: String,
    pub before: CommitSha,
    pub after: CommitSha,
    /// `None` when the payload does not say.
    pub default_branch: Option<String>,
    /// The ref was deleted (`after` is all zeros).
    pub deleted: bool,
    pub installation: Option<InstallationId>,
}

impl PushEvent {
    /// A push to the repository's default branch (the publish trigger).
    pub fn is_to_default_branch(&self) -> bool {
        !self.deleted
            && self
                .default_branch
                .as_deref()
                .is_some_and(|b| self.git_ref == format!("refs/heads/{b}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerequestSource {
    CheckRun,
    CheckSuite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerequestEvent {
    pub source: RerequestSource,
    pub repo: RepoName,
    pub head_sha: CommitSha,
    /// Pull requests of the same repository at that commit (empty for forks).
    pub pull_requests: Vec<PrNumber>,
    pub installation: Option<InstallationId>,
}

/// A `/promptgate …` command in a pull-request comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/promptgate rerun` (changed prompts) or `/promptgate rerun --all`.
    Rerun { all: bool },
    /// Anything else after `/promptgate`: answer with usage.
    Unknown { text: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEvent {
    pub repo: RepoName,
    pub number: PrNumber,
    pub comment_id: u64,
    /// Check their permission before acting (write access is required).
    pub author: String,
    pub command: Command,
    pub installation: Option<InstallationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChangedEvent {
    pub repo: RepoName,
    pub model: String,
    pub installation: Option<InstallationId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationAction {
    Created,
    Deleted,
    Suspend,
    Unsuspend,
    NewPermissionsAccepted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationEvent {
    pub action: InstallationAction,
    pub installation: InstallationId,
    pub account: String,
    /// The repositories listed in the payload (all of them for `created` with
    /// "selected repositories"; empty when the App has access to all).
    pub repositories: Vec<RepoName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationRepositoriesEvent {
    pub installation: InstallationId,
    pub added: Vec<RepoName>,
    pub removed: Vec<RepoName>,
}

/// A payload that does not have the shape its event promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{event}` payload is malformed at `{path}`: {message}")]
pub struct PayloadError {
    pub event: String,
    /// Where in the JSON (`pull_request.head.sha`), `.` for the document.
    pub path: String,
    pub message: String,
}

// ---- the payload shapes we read (small private structs) ----

#[derive(Deserialize)]
struct Repo {
    full_name: String,
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

#[derive(Deserialize)]
struct BranchRef {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    repo: Option<RepoFullName>,
}

#[derive(Deserialize)]
struct RepoFullName {
    full_name: String,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    number: u64,
    pull_request: PullRequestBody,
    repository: Repo,
    installation: Option<Installation>,
    sender: Option<Account>,
}

#[derive(Deserialize)]
struct PullRequestBody {
    head: BranchRef,
    base: BranchRef,
    merged: Option<bool>,
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repo,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct PrNumberBody {
    number: u64,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    action: String,
    check_run: CheckBody,
    repository: Repo,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    action: String,
    check_suite: CheckBody,
    repository: Repo,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct CheckBody {
    head_sha: String,
    #[serde(default)]
    pull_requests: Vec<PrNumberBody>,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: IssueBody,
    comment: CommentBody,
    repository: Repo,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct IssueBody {
    number: u64,
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CommentBody {
    id: u64,
    body: Option<String>,
    user: CommentUser,
}

#[derive(Deserialize)]
struct CommentUser {
    login: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct DispatchPayload {
    action: String,
    #[serde(default)]
    client_payload: Option<serde_json::Value>,
    repository: Repo,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct ModelPayload {
    model: String,
}

#[derive(Deserialize)]
struct InstallationPayload {
    action: String,
    installation: InstallationBody,
    #[serde(default)]
    repositories: Option<Vec<RepoFullName>>,
}

#[derive(Deserialize)]
struct InstallationBody {
    id: u64,
    account: Option<Account>,
}

#[derive(Deserialize)]
struct InstallationRepositoriesPayload {
    installation: Installation,
    #[serde(default)]
    repositories_added: Vec<RepoFullName>,
    #[serde(default)]
    repositories_removed: Vec<RepoFullName>,
}

#[derive(Deserialize)]
struct PingPayload {
    zen: Option<String>,
    hook_id: Option<u64>,
}

#[derive(Deserialize)]
struct ActionOnly {
    action: Option<String>,
}

/// Parses a delivery (`X-GitHub-Event` header and body) into an [`Event`].
/// Unknown events and actions become [`Event::Ignored`]; a known event whose
/// payload is malformed is a [`PayloadError`] that says where.
pub fn parse_event(event: &str, body: &[u8]) -> Result<Event, PayloadError> {
    let ignored = |action: Option<String>, reason: &str| Event::Ignored {
        event: event.to_owned(),
        action,
        reason: reason.to_owned(),
    };
    match event {
        "pull_request" => {
            let p: PullRequestPayload = decode(event, body)?;
            let repo = repo_name(event, "repository.full_name", &p.repository.full_name)?;
            let installation = p.installation.map(|i| InstallationId(i.id));
            let action = match p.action.as_str() {
                "opened" => PrAction::Opened,
                "synchronize" => PrAction::Synchronize,
                "reopened" => PrAction::Reopened,
                "closed" if p.pull_request.merged == Some(true) => {
                    return Ok(Event::PullRequestMerged(MergedEvent {
                        repo,
                        number: PrNumber(p.number),
                        base_ref: p.pull_request.base.git_ref,
                        merge_commit_sha: p.pull_request.merge_commit_sha.map(CommitSha),
                        default_branch: p.repository.default_branch,
                        installation,
                    }));
                }
                "closed" => return Ok(ignored(Some(p.action), "closed without merging")),
                _ => return Ok(ignored(Some(p.action), "pull request action not gated")),
            };
            let base_repo = match &p.pull_request.base.repo {
                Some(r) => repo_name(event, "pull_request.base.repo.full_name", &r.full_name)?,
                None => repo.clone(),
            };
            let head_repo = match &p.pull_request.head.repo {
                Some(r) => Some(repo_name(
                    event,
                    "pull_request.head.repo.full_name",
                    &r.full_name,
                )?),
                None => None,
            };
            Ok(Event::PullRequest(PullRequestEvent {
                action,
                fork: head_repo.as_ref() != Some(&base_repo),
                repo,
                number: PrNumber(p.number),
                head_sha: CommitSha(p.pull_request.head.sha),
                head_ref: p.pull_request.head.git_ref,
                head_repo,
                base_sha: CommitSha(p.pull_request.base.sha),
                base_ref: p.pull_request.base.git_ref,
                sender: p.sender.map(|s| s.login).unwrap_or_default(),
                installation,
            }))
        }
        "push" => {
            let p: PushPayload = decode(event, body)?;
            let deleted = p.deleted || p.after.bytes().all(|b| b == b'0');
            Ok(Event::Push(PushEvent {
                repo: repo_name(event, "repository.full_name", &p.repository.full_name)?,
                git_ref: p.git_ref,
                before: CommitSha(p.before),
                after: CommitSha(p.after),
                default_branch: p.repository.default_branch,
                deleted,
                installation: p.installation.map(|i| InstallationId(i.id)),
            }))
        }
        "check_run" | "check_suite" => {
            let (action, check, repository, installation, source) = if event == "check_run" {
                let p: CheckRunPayload = decode(event, body)?;
                let source = RerequestSource::CheckRun;
                (p.action, p.check_run, p.repository, p.installation, source)
            } else {
                let p: CheckSuitePayload = decode(event, body)?;
                let source = RerequestSource::CheckSuite;
                (
                    p.action,
                    p.check_suite,
                    p.repository,
                    p.installation,
                    source,
                )
            };
            if action != "rerequested" {
                return Ok(ignored(Some(action), "only reruns are acted on"));
            }
            Ok(Event::Rerequested(RerequestEvent {
                source,
                repo: repo_name(event, "repository.full_name", &repository.full_name)?,
                head_sha: CommitSha(check.head_sha),
                pull_requests: check
                    .pull_requests
                    .iter()
                    .map(|p| PrNumber(p.number))
                    .collect(),
                installation: installation.map(|i| InstallationId(i.id)),
            }))
        }
        "issue_comment" => {
            let p: IssueCommentPayload = decode(event, body)?;
            if p.action != "created" {
                return Ok(ignored(Some(p.action), "only new comments carry commands"));
            }
            if p.issue.pull_request.is_none() {
                return Ok(ignored(
                    Some(p.action),
                    "comment on an issue, not a pull request",
                ));
            }
            // Bots (promptgate included) never command promptgate: no loops.
            if p.comment.user.kind.as_deref() == Some("Bot") {
                return Ok(ignored(Some(p.action), "comment written by a bot"));
            }
            let Some(command) = parse_command(p.comment.body.as_deref().unwrap_or("")) else {
                return Ok(ignored(Some(p.action), "no /promptgate command"));
            };
            Ok(Event::Command(CommandEvent {
                repo: repo_name(event, "repository.full_name", &p.repository.full_name)?,
                number: PrNumber(p.issue.number),
                comment_id: p.comment.id,
                author: p.comment.user.login,
                command,
                installation: p.installation.map(|i| InstallationId(i.id)),
            }))
        }
        "repository_dispatch" => {
            let p: DispatchPayload = decode(event, body)?;
            if p.action != MODEL_CHANGED_DISPATCH {
                return Ok(ignored(Some(p.action), "not a promptgate dispatch"));
            }
            let payload = p.client_payload.unwrap_or(serde_json::Value::Null);
            let model: ModelPayload =
                serde_path_to_error::deserialize(payload).map_err(|e| PayloadError {
                    event: event.to_owned(),
                    path: format!("client_payload.{}", e.path()),
                    message: format!(
                        "{} (send `{{\"event_type\": \"{MODEL_CHANGED_DISPATCH}\", \"client_payload\": {{\"model\": \"openai/gpt-4o\"}}}}`)",
                        e.inner()
                    ),
                })?;
            if model.model.trim().is_empty() {
                return Err(PayloadError {
                    event: event.to_owned(),
                    path: "client_payload.model".into(),
                    message: "the model name is empty".into(),
                });
            }
            Ok(Event::ModelChanged(ModelChangedEvent {
                repo: repo_name(event, "repository.full_name", &p.repository.full_name)?,
                model: model.model.trim().to_owned(),
                installation: p.installation.map(|i| InstallationId(i.id)),
            }))
        }
        "installation" => {
            let p: InstallationPayload = decode(event, body)?;
            let action = match p.action.as_str() {
                "created" => InstallationAction::Created,
                "deleted" => InstallationAction::Deleted,
                "suspend" => InstallationAction::Suspend,
                "unsuspend" => InstallationAction::Unsuspend,
                "new_permissions_accepted" => InstallationAction::NewPermissionsAccepted,
                _ => return Ok(ignored(Some(p.action), "installation action not handled")),
            };
            Ok(Event::Installation(InstallationEvent {
                action,
                installation: InstallationId(p.installation.id),
                account: p.installation.account.map(|a| a.login).unwrap_or_default(),
                repositories: repo_names(
                    event,
                    "repositories",
                    p.repositories.unwrap_or_default(),
                )?,
            }))
        }
        "installation_repositories" => {
            let p: InstallationRepositoriesPayload = decode(event, body)?;
            Ok(Event::InstallationRepositories(
                InstallationRepositoriesEvent {
                    installation: InstallationId(p.installation.id),
                    added: repo_names(event, "repositories_added", p.repositories_added)?,
                    removed: repo_names(event, "repositories_removed", p.repositories_removed)?,
                },
            ))
        }
        "ping" => {
            let p: PingPayload = decode(event, body)?;
            Ok(Event::Ping {
                zen: p.zen,
                hook_id: p.hook_id,
            })
        }
        _ => {
            // Read the action if there is one, for the log; the body may be anything.
            let action = serde_json::from_slice::<ActionOnly>(body)
                .ok()
                .and_then(|a| a.action);
            Ok(ignored(action, "event not handled by promptgate"))
        }
    }
}

fn decode<T: DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, PayloadError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| PayloadError {
        event: event.to_owned(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

fn repo_name(event: &str, path: &str, full_name: &str) -> Result<RepoName, PayloadError> {
    full_name.parse().map_err(|message| PayloadError {
        event: event.to_owned(),
        path: path.to_owned(),
        message,
    })
}

fn repo_names(
    event: &str,
    path: &str,
    repos: Vec<RepoFullName>,
) -> Result<Vec<RepoName>, PayloadError> {
    repos
        .iter()
        .enumerate()
        .map(|(i, r)| repo_name(event, &format!("{path}[{i}].full_name"), &r.full_name))
        .collect()
}

/// The first `/promptgate …` line of a comment. Lines quoted (`> `) or in
/// code do not start with the slash, so they are not commands.
pub fn parse_command(body: &str) -> Option<Command> {
    let mut in_fence = false;
    for line in body.lines() {
        let line = line.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let Some(rest) = line.strip_prefix("/promptgate") else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue; // `/promptgatefoo` is someone else's command
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        return Some(match words.as_slice() {
            ["rerun"] => Command::Rerun { all: false },
            ["rerun", "--all"] => Command::Rerun { all: true },
            _ => Command::Unknown {
                text: super::truncate_chars(rest.trim(), 200),
            },
        });
    }
    None
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the X-Hub-Signature-256 header is missing; set the webhook secret in the GitHub App (or webhook) settings"
    )]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=<64 hex digits>`")]
    Malformed,
    #[error(
        "the X-Hub-Signature-256 signature does not match; is PROMPTGATE_WEBHOOK_SECRET the secret configured on GitHub?"
    )]
    Mismatch,
    #[error("no webhook secret is configured; set PROMPTGATE_WEBHOOK_SECRET")]
    NoSecret,
}

/// One or more webhook secrets (comma-separated, so a secret can be rotated:
/// add the new one, change it on GitHub, remove the old one).
#[derive(Debug, Clone)]
pub struct WebhookSecrets(Vec<Secret>);

impl WebhookSecrets {
    pub fn parse(list: &str) -> Result<Self, SignatureError> {
        let secrets: Vec<Secret> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect();
        if secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        Ok(Self(secrets))
    }

    pub fn new(secrets: Vec<Secret>) -> Result<Self, SignatureError> {
        if secrets.is_empty() || secrets.iter().any(Secret::is_empty) {
            return Err(SignatureError::NoSecret);
        }
        Ok(Self(secrets))
    }

    /// Checks `X-Hub-Signature-256` over the raw body, in constant time,
    /// against every configured secret.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_sig = header
            .trim()
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed)?;
        if hex_sig.len() != 64 {
            return Err(SignatureError::Malformed);
        }
        let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
        let matches = self.0.iter().any(|secret| {
            let mut mac = hmac_for(secret);
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

fn hmac_for(secret: &Secret) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

/// `sha256=<hex>` as GitHub would send it for `body` (for tests and tools
/// that replay deliveries).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = hmac_for(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KNOWN_SECRET: &str = "It's a Secret to Everybody";
    const KNOWN_BODY: &[u8] = b"Hello, World!";
    const KNOWN_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_known_answer() {
        assert_eq!(
            sign(&Secret::new(KNOWN_SECRET), KNOWN_BODY),
            KNOWN_SIGNATURE
        );
        let secrets = WebhookSecrets::parse(KNOWN_SECRET).unwrap();
        assert_eq!(secrets.verify(Some(KNOWN_SIGNATURE), KNOWN_BODY), Ok(()));
    }

    #[test]
    fn wrong_missing_and_altered_signatures_are_refused() {
        let secrets = WebhookSecrets::parse(KNOWN_SECRET).unwrap();
        assert_eq!(
            secrets.verify(None, KNOWN_BODY),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            secrets.verify(Some("sha1=abc"), KNOWN_BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets.verify(Some("sha256=zz"), KNOWN_BODY),
            Err(SignatureError::Malformed)
        );
        let wrong = sign(&Secret::new("another secret"), KNOWN_BODY);
        assert_eq!(
            secrets.verify(Some(&wrong), KNOWN_BODY),
            Err(SignatureError::Mismatch)
        );
        // Every single-byte change of the body is caught.
        for i in 0..KNOWN_BODY.len() {
            let mut altered = KNOWN_BODY.to_vec();
            altered[i] ^= 0x01;
            assert_eq!(
                secrets.verify(Some(KNOWN_SIGNATURE), &altered),
                Err(SignatureError::Mismatch),
                "byte {i}"
            );
        }
        // So is a one-digit change of the signature.
        let mut sig = KNOWN_SIGNATURE.to_owned();
        sig.replace_range(10..11, "0");
        assert_eq!(
            secrets.verify(Some(&sig), KNOWN_BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rotated_secrets_all_verify_and_empty_lists_are_refused() {
        let secrets = WebhookSecrets::parse(" old-secret , It's a Secret to Everybody").unwrap();
        assert_eq!(secrets.verify(Some(KNOWN_SIGNATURE), KNOWN_BODY), Ok(()));
        let old = sign(&Secret::new("old-secret"), KNOWN_BODY);
        assert_eq!(secrets.verify(Some(&old), KNOWN_BODY), Ok(()));
        assert_eq!(
            WebhookSecrets::parse(" , ").err(),
            Some(SignatureError::NoSecret)
        );
        assert!(!format!("{secrets:?}").contains("old-secret"));
    }

    #[test]
    fn commands_are_found_on_their_own_line_only() {
        assert_eq!(
            parse_command("/promptgate rerun"),
            Some(Command::Rerun { all: false })
        );
        assert_eq!(
            parse_command("thanks!\n  /promptgate rerun --all  \n"),
            Some(Command::Rerun { all: true })
        );
        assert_eq!(
            parse_command("/promptgate deploy now"),
            Some(Command::Unknown {
                text: "deploy now".into()
            })
        );
        assert_eq!(parse_command("> /promptgate rerun"), None);
        assert_eq!(parse_command("```\n/promptgate rerun\n```"), None);
        assert_eq!(parse_command("please /promptgate rerun"), None);
        assert_eq!(parse_command("/promptgaterun"), None);
    }

    #[test]
    fn malformed_payloads_say_where() {
        let err = parse_event(
            "pull_request",
            br#"{"action":"opened","number":1,"pull_request":{"head":{"sha":1}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.event, "pull_request");
        assert!(err.path.starts_with("pull_request.head"), "{err}");
        let err = parse_event(
            "repository_dispatch",
            br#"{"action":"promptgate-model-changed","client_payload":{},"repository":{"full_name":"o/r"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("model"), "{err}");
    }

    #[test]
    fn unknown_events_are_ignored_whatever_the_body() {
        assert!(matches!(
            parse_event("star", b"not json"),
            Ok(Event::Ignored { .. })
        ));
    }

    proptest! {
        #[test]
        fn parser_never_panics(
            event in prop::sample::select(vec![
                "pull_request", "push", "check_run", "check_suite", "issue_comment",
                "repository_dispatch", "installation", "installation_repositories", "ping", "star",
            ]),
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = parse_event(event, &body);
        }

        #[test]
        fn parser_never_panics_on_json_shaped_noise(
            event in prop::sample::select(vec!["pull_request", "issue_comment", "repository_dispatch", "push"]),
            action in "[a-z_-]{0,12}",
            body in ".{0,64}",
            full_name in ".{0,20}",
        ) {
            let json = serde_json::json!({
                "action": action,
                "number": 1,
                "issue": {"number": 2, "pull_request": {}},
                "comment": {"id": 3, "body": body, "user": {"login": "u", "type": "User"}},
                "repository": {"full_name": full_name},
                "client_payload": {"model": body},
                "ref": "refs/heads/main", "before": "0", "after": "1",
            });
            let _ = parse_event(event, json.to_string().as_bytes());
            let _ = parse_command(&body);
        }

        #[test]
        fn signature_check_never_panics(
            header in proptest::option::of(".{0,80}"),
            body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let secrets = WebhookSecrets::parse("s1,s2").unwrap();
            let _ = secrets.verify(header.as_deref(), &body);
        }
    }
}
