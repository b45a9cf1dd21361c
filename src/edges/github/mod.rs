//! The GitHub edge.
//!
//! Everything promptgate does on GitHub goes through the [`GitHubApi`] trait:
//! the Action and the server are written against it, [`GitHubClient`] (octocrab
//! underneath) is the real one, and tests point that real client at a fake
//! GitHub on loopback. The compound behaviours — the sticky comment, the check
//! run with batched annotations and its commit-status fallback, the issue kept
//! by a marker — are provided methods, so they run the same on any backend.
//!
//! Webhook payloads and the Actions environment are parsed into our own types
//! at once ([`webhook`], [`actions`]); nothing downstream touches raw JSON.

pub mod actions;
pub mod annotations;
pub mod app;
mod client;
pub mod manifest;
pub mod post;
mod secret;
pub mod webhook;

use std::fmt;

use async_trait::async_trait;

use crate::types::{CommitSha, PrNumber, RepoName};

pub use app::{AppCredentials, GitHubApp};
pub use client::{ClientOptions, DEFAULT_API_URL, GitHubClient, RetryPolicy};
pub use secret::Secret;

/// The hidden marker that identifies promptgate's sticky pull-request comment.
pub const COMMENT_MARKER: &str = "<!-- promptgate:comment -->";

/// GitHub's limit on a check run's `output.summary` and `output.text`.
pub const CHECK_SUMMARY_MAX_CHARS: usize = 65_535;

/// GitHub accepts at most this many annotations per check-run request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// GitHub's limit on an issue or comment body.
pub const COMMENT_BODY_MAX_CHARS: usize = 65_536;

/// The login of the bot that writes with an Actions `GITHUB_TOKEN`.
pub const ACTIONS_BOT_LOGIN: &str = "github-actions[bot]";

/// What a pull request or a comparison did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Modified,
    Removed,
    /// Renamed from the given path (possibly also modified).
    Renamed {
        from: String,
    },
    /// `copied`, `changed`, `unchanged`: content may differ; treat as modified.
    Other(String),
}

/// A commit's files, as the git trees API lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    pub files: Vec<TreeFile>,
    /// GitHub listed only part of the tree (over 100,000 entries or 7 MB).
    pub truncated: bool,
}

/// One file of a [`Tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    /// The blob's git object id: equal ids, equal contents.
    pub blob_sha: String,
    /// Bytes; GitHub omits it for some entries.
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    pub change: FileChange,
}

/// The parts of a pull request promptgate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: PrNumber,
    pub state: String,
    pub head_sha: CommitSha,
    pub head_ref: String,
    /// `None` when the head repository was deleted.
    pub head_repo: Option<RepoName>,
    pub base_sha: CommitSha,
    pub base_ref: String,
    pub base_repo: RepoName,
    pub merged: bool,
    pub merge_commit_sha: Option<CommitSha>,
}

impl PullRequest {
    /// A pull request from another repository (or a deleted one) is untrusted.
    pub fn is_fork(&self) -> bool {
        self.head_repo.as_ref() != Some(&self.base_repo)
    }
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub merge_base_sha: CommitSha,
    pub status: String,
    pub files: Vec<ChangedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub author: String,
    pub body: String,
}

/// A pull-request review comment (a comment on lines of a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewComment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub path: String,
    /// The commit the comment was made on.
    pub commit_id: String,
}

/// A new review comment on lines of the pull request's head (the `RIGHT`
/// side of its diff): one line, or `start_line..=line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReviewComment<'a> {
    pub commit_id: &'a CommitSha,
    pub path: &'a str,
    pub start_line: Option<u32>,
    pub line: u32,
    pub body: &'a str,
}

/// What [`GitHubApi::upsert_sticky_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentOutcome {
    Created { id: u64 },
    Updated { id: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Neutral => "neutral",
        }
    }

    /// The commit-status `state` that says the same.
    fn status_state(self) -> StatusState {
        match self {
            Self::Success | Self::Neutral => StatusState::Success,
            Self::Failure => StatusState::Failure,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

impl AnnotationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Failure => "failure",
        }
    }
}

/// A note on lines of a file in the check run (and the PR's diff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub level: AnnotationLevel,
    pub title: Option<String>,
    pub message: String,
}

/// How a check finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub conclusion: Conclusion,
    pub title: String,
    /// Markdown; cut to [`CHECK_SUMMARY_MAX_CHARS`] when longer.
    pub summary: String,
    pub annotations: Vec<Annotation>,
    pub details_url: Option<String>,
}

/// One request's worth of a check run's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunUpdate {
    /// `Some` on the request that completes the run.
    pub conclusion: Option<Conclusion>,
    pub title: String,
    pub summary: String,
    /// At most [`ANNOTATIONS_PER_REQUEST`].
    pub annotations: Vec<Annotation>,
    pub details_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
        }
    }
}

/// A commit status (the fallback when check runs may not be created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub state: StatusState,
    pub context: String,
    /// GitHub keeps at most 140 characters; longer text is cut.
    pub description: String,
    pub target_url: Option<String>,
}

/// Where a running check is reported: a check run, or a commit status when
/// the token may not create check runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckHandle {
    CheckRun {
        id: u64,
    },
    Status {
        sha: CommitSha,
        context: String,
        target_url: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// A branch, tag or SHA.
    pub git_ref: String,
    pub environment: String,
    pub description: String,
    /// Free-form JSON GitHub stores with the deployment (e.g. prompt versions).
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub state: String,
    pub author: String,
    pub title: String,
    pub body: String,
}

/// What [`GitHubApi::upsert_issue_by_marker`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    Opened {
        number: u64,
    },
    Updated {
        number: u64,
    },
    /// A closed issue with the marker was reopened.
    Reopened {
        number: u64,
    },
}

/// A user's permission on a repository (`GET .../collaborators/{user}/permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    None,
    Read,
    Write,
    Admin,
}

impl Permission {
    pub fn can_write(self) -> bool {
        self >= Self::Write
    }
}

/// Which call failed, for error messages: `create check run (POST /repos/o/r/check-runs)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallName(pub String);

impl fmt::Display for CallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A failed GitHub call. Messages name the call and the fix; never a token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "GitHub refused {call} (HTTP 403: {message}); the token needs the `{permission}` permission — add it under `permissions:` in the workflow, or to the GitHub App's permissions"
    )]
    Forbidden {
        call: CallName,
        permission: &'static str,
        message: String,
    },
    #[error(
        "GitHub {call} failed: not found (HTTP 404: {message}); check the repository name and that the token can see it (`{permission}`)"
    )]
    NotFound {
        call: CallName,
        permission: &'static str,
        message: String,
    },
    #[error(
        "GitHub {call} failed: the token was rejected (HTTP 401: {message}); check that it is set and not expired"
    )]
    Unauthorized { call: CallName, message: String },
    #[error("GitHub {call} failed: HTTP {status}: {message}")]
    Status {
        call: CallName,
        status: u16,
        message: String,
    },
    #[error(
        "GitHub {call} is rate limited; gave up after {attempts} attempt(s) (GitHub asked to wait {wait_secs}s); try again later or raise the limit"
    )]
    RateLimited {
        call: CallName,
        attempts: u32,
        wait_secs: u64,
    },
    #[error("GitHub {call} timed out after {secs}s (attempt {attempts}); is {api_url} reachable?")]
    Timeout {
        call: CallName,
        secs: u64,
        attempts: u32,
        api_url: String,
    },
    #[error("GitHub {call} failed: could not reach the API: {message}")]
    Transport { call: CallName, message: String },
    #[error("GitHub {call} returned a response promptgate cannot read: {message}")]
    Decode { call: CallName, message: String },
    #[error("GitHub client configuration: {0}")]
    Config(String),
    #[error("GitHub App authentication: {0}")]
    AppAuth(String),
}

impl GitHubError {
    /// The HTTP status GitHub answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::Unauthorized { .. } => Some(401),
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The GitHub operations promptgate needs. Primitive calls are required;
/// the compound behaviours are provided on top of them.
#[async_trait]
pub trait GitHubApi: Send + Sync {
    /// The login our comments and issues are authored by: the token's user,
    /// `<app-slug>[bot]` for an App, `github-actions[bot]` for an Actions token.
    async fn own_login(&self) -> Result<String, GitHubError>;

    /// The repository's default branch.
    async fn default_branch(&self, repo: &RepoName) -> Result<String, GitHubError>;

    async fn pull_request(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<PullRequest, GitHubError>;

    /// Every file the pull request touches (all pages).
    async fn pull_request_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<ChangedFile>, GitHubError>;

    /// A file's bytes at a ref (branch, tag or SHA); `None` when it does not exist there.
    async fn file_contents(
        &self,
        repo: &RepoName,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, GitHubError>;

    /// Every file (blob) in the commit's tree, recursively. GitHub cuts the
    /// listing of very large trees; [`Tree::truncated`] says so.
    async fn tree(&self, repo: &RepoName, commit: &CommitSha) -> Result<Tree, GitHubError>;

    /// The commit a ref (`heads/main`, `tags/v1`) points at; `None` when it does not exist.
    async fn resolve_ref(
        &self,
        repo: &RepoName,
        git_ref: &str,
    ) -> Result<Option<CommitSha>, GitHubError>;

    async fn compare(
        &self,
        repo: &RepoName,
        base: &str,
        head: &str,
    ) -> Result<Comparison, GitHubError>;

    async fn permission(&self, repo: &RepoName, user: &str) -> Result<Permission, GitHubError>;

    /// Every comment on an issue or pull request (all pages), oldest first.
    async fn issue_comments(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<IssueComment>, GitHubError>;

    async fn create_issue_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        body: &str,
    ) -> Result<u64, GitHubError>;

    async fn update_issue_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError>;

    /// Every review comment on the pull request (all pages), oldest first.
    async fn review_comments(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<ReviewComment>, GitHubError>;

    /// Comments on lines of a file of the pull request; returns its id.
    async fn create_review_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        comment: &NewReviewComment<'_>,
    ) -> Result<u64, GitHubError>;

    async fn update_review_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError>;

    /// Creates a check run `in_progress` on `head_sha`; returns its id.
    /// `external_id` names the work it reports on, so a retry finds it.
    async fn create_check_run(
        &self,
        repo: &RepoName,
        name: &str,
        head_sha: &CommitSha,
        details_url: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<u64, GitHubError>;

    /// The id of a check run on `head_sha` named `name` with this
    /// `external_id` that is not completed yet: one an earlier attempt of the
    /// same work created before it was killed.
    async fn find_unfinished_check_run(
        &self,
        repo: &RepoName,
        name: &str,
        head_sha: &CommitSha,
        external_id: &str,
    ) -> Result<Option<u64>, GitHubError>;

    /// One update request; callers keep annotations ≤ [`ANNOTATIONS_PER_REQUEST`].
    async fn update_check_run(
        &self,
        repo: &RepoName,
        check_run_id: u64,
        update: &CheckRunUpdate,
    ) -> Result<(), GitHubError>;

    async fn create_commit_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<(), GitHubError>;

    async fn create_deployment(
        &self,
        repo: &RepoName,
        deployment: &NewDeployment,
    ) -> Result<u64, GitHubError>;

    async fn create_deployment_status(
        &self,
        repo: &RepoName,
        deployment_id: u64,
        state: DeploymentState,
        description: &str,
        environment_url: Option<&str>,
    ) -> Result<(), GitHubError>;

    /// Issues (not pull requests) authored by `creator`, in any state (all pages).
    async fn issues_by(&self, repo: &RepoName, creator: &str) -> Result<Vec<Issue>, GitHubError>;

    async fn create_issue(
        &self,
        repo: &RepoName,
        title: &str,
        body: &str,
    ) -> Result<u64, GitHubError>;

    /// Changes the given fields of an issue; `state` is `open` or `closed`.
    async fn update_issue(
        &self,
        repo: &RepoName,
        number: u64,
        title: Option<&str>,
        body: Option<&str>,
        state: Option<&str>,
    ) -> Result<(), GitHubError>;

    // ---- compound behaviours ----

    /// Our sticky comment on the pull request: the comment carrying
    /// [`COMMENT_MARKER`] written by our own account (a marker pasted by
    /// anyone else is ignored), searched through every page.
    async fn find_sticky_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<IssueComment>, GitHubError> {
        let me = self.own_login().await?;
        let comments = self.issue_comments(repo, number).await?;
        Ok(comments
            .into_iter()
            .find(|c| c.author.eq_ignore_ascii_case(&me) && c.body.contains(COMMENT_MARKER)))
    }

    /// Creates the sticky comment, or updates ours in place. The marker is
    /// added to `body`; an over-long body is cut with a note.
    async fn upsert_sticky_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        body: &str,
    ) -> Result<CommentOutcome, GitHubError> {
        let full = with_marker(COMMENT_MARKER, body);
        match self.find_sticky_comment(repo, number).await? {
            Some(existing) => {
                if existing.body != full {
                    self.update_issue_comment(repo, existing.id, &full).await?;
                }
                Ok(CommentOutcome::Updated { id: existing.id })
            }
            None => {
                let id = self.create_issue_comment(repo, number, &full).await?;
                Ok(CommentOutcome::Created { id })
            }
        }
    }

    /// Starts a check on `head_sha`: a check run `in_progress`, or — when the
    /// token may not create check runs (403) — a `pending` commit status.
    /// With an `external_id`, an unfinished check run an earlier attempt of
    /// the same work left behind is taken over rather than duplicated.
    async fn start_check(
        &self,
        repo: &RepoName,
        name: &str,
        head_sha: &CommitSha,
        details_url: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<CheckHandle, GitHubError> {
        if let Some(external_id) = external_id {
            match self
                .find_unfinished_check_run(repo, name, head_sha, external_id)
                .await
            {
                Ok(Some(id)) => return Ok(CheckHandle::CheckRun { id }),
                Ok(None) => {}
                // Listing needs only `checks: read`; without it, create.
                Err(error) => {
                    tracing::info!(%repo, "cannot list check runs ({error}); creating one")
                }
            }
        }
        match self
            .create_check_run(repo, name, head_sha, details_url, external_id)
            .await
        {
            Ok(id) => Ok(CheckHandle::CheckRun { id }),
            Err(GitHubError::Forbidden { .. }) => {
                tracing::info!(
                    %repo, "token may not create check runs; reporting a commit status instead"
                );
                let status = CommitStatus {
                    state: StatusState::Pending,
                    context: name.to_owned(),
                    description: "promptgate is evaluating the changed prompts".to_owned(),
                    target_url: details_url.map(str::to_owned),
                };
                self.create_commit_status(repo, head_sha, &status).await?;
                Ok(CheckHandle::Status {
                    sha: head_sha.clone(),
                    context: name.to_owned(),
                    target_url: details_url.map(str::to_owned),
                })
            }
            Err(other) => Err(other),
        }
    }

    /// Completes a check: the first request carries the conclusion and up to
    /// 50 annotations, further requests carry the rest, 50 at a time (GitHub
    /// appends them). A status-backed check gets its final state.
    async fn finish_check(
        &self,
        repo: &RepoName,
        handle: &CheckHandle,
        outcome: &CheckOutcome,
    ) -> Result<(), GitHubError> {
        match handle {
            CheckHandle::CheckRun { id } => {
                for update in check_run_updates(outcome) {
                    self.update_check_run(repo, *id, &update).await?;
                }
                Ok(())
            }
            CheckHandle::Status {
                sha,
                context,
                target_url,
            } => {
                let status = CommitStatus {
                    state: outcome.conclusion.status_state(),
                    context: context.clone(),
                    description: truncate_chars(&outcome.title, 140),
                    target_url: outcome.details_url.clone().or_else(|| target_url.clone()),
                };
                self.create_commit_status(repo, sha, &status).await
            }
        }
    }

    /// Opens the issue carrying `marker` (authored by us), or updates it —
    /// reopening it when it was closed.
    async fn upsert_issue_by_marker(
        &self,
        repo: &RepoName,
        marker: &str,
        title: &str,
        body: &str,
    ) -> Result<IssueOutcome, GitHubError> {
        let full = with_marker(marker, body);
        match self.find_issue_by_marker(repo, marker).await? {
            Some(issue) => {
                let reopen = issue.state != "open";
                self.update_issue(
                    repo,
                    issue.number,
                    Some(title),
                    Some(&full),
                    reopen.then_some("open"),
                )
                .await?;
                Ok(if reopen {
                    IssueOutcome::Reopened {
                        number: issue.number,
                    }
                } else {
                    IssueOutcome::Updated {
                        number: issue.number,
                    }
                })
            }
            None => Ok(IssueOutcome::Opened {
                number: self.create_issue(repo, title, &full).await?,
            }),
        }
    }

    /// Closes the open issue carrying `marker`, optionally replacing its body
    /// (e.g. "fixed by the rerun of …"). Returns the issue closed, if any.
    async fn close_issue_by_marker(
        &self,
        repo: &RepoName,
        marker: &str,
        body: Option<&str>,
    ) -> Result<Option<u64>, GitHubError> {
        match self.find_issue_by_marker(repo, marker).await? {
            Some(issue) if issue.state == "open" => {
                let full = body.map(|b| with_marker(marker, b));
                self.update_issue(repo, issue.number, None, full.as_deref(), Some("closed"))
                    .await?;
                Ok(Some(issue.number))
            }
            _ => Ok(None),
        }
    }

    /// The newest issue authored by us whose body carries `marker`.
    async fn find_issue_by_marker(
        &self,
        repo: &RepoName,
        marker: &str,
    ) -> Result<Option<Issue>, GitHubError> {
        let me = self.own_login().await?;
        let issues = self.issues_by(repo, &me).await?;
        Ok(issues
            .into_iter()
            .filter(|i| i.author.eq_ignore_ascii_case(&me) && i.body.contains(marker))
            .max_by_key(|i| i.number))
    }
}

/// `body` with `marker` on its own line at the end, cut to GitHub's body limit.
pub fn with_marker(marker: &str, body: &str) -> String {
    let note = "\n\n_(cut: the report is longer than GitHub allows in a comment)_";
    let room = COMMENT_BODY_MAX_CHARS - marker.chars().count() - 1;
    let body = if body.chars().count() > room {
        let mut cut = truncate_chars(body, room - note.chars().count());
        cut.push_str(note);
        cut
    } else {
        body.to_owned()
    };
    format!("{body}\n{marker}")
}

/// The requests that complete a check run: the first carries the conclusion.
pub fn check_run_updates(outcome: &CheckOutcome) -> Vec<CheckRunUpdate> {
    let summary = if outcome.summary.chars().count() > CHECK_SUMMARY_MAX_CHARS {
        let note = "\n\n_(cut: see the step summary or the JSON report for the rest)_";
        let mut cut = truncate_chars(
            &outcome.summary,
            CHECK_SUMMARY_MAX_CHARS - note.chars().count(),
        );
        cut.push_str(note);
        cut
    } else {
        outcome.summary.clone()
    };
    let mut chunks: Vec<Vec<Annotation>> = outcome
        .annotations
        .chunks(ANNOTATIONS_PER_REQUEST)
        .map(<[Annotation]>::to_vec)
        .collect();
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, annotations)| CheckRunUpdate {
            conclusion: (i == 0).then_some(outcome.conclusion),
            title: outcome.title.clone(),
            summary: summary.clone(),
            annotations,
            details_url: outcome.details_url.clone(),
        })
        .collect()
}

/// The first `max` characters of `s` (never splits a character).
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((byte, _)) => s[..byte].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(annotations: usize, summary_len: usize) -> CheckOutcome {
        CheckOutcome {
            conclusion: Conclusion::Failure,
            title: "1 regression".into(),
            summary: "é".repeat(summary_len),
            annotations: (0..annotations)
                .map(|i| Annotation {
                    path: "a.prompt.yml".into(),
                    start_line: i as u32 + 1,
                    end_line: i as u32 + 1,
                    level: AnnotationLevel::Failure,
                    title: None,
                    message: format!("case {i} regressed"),
                })
                .collect(),
            details_url: None,
        }
    }

    #[test]
    fn annotations_are_batched_by_fifty_and_only_the_first_request_concludes() {
        let updates = check_run_updates(&outcome(120, 10));
        let sizes: Vec<usize> = updates.iter().map(|u| u.annotations.len()).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        assert_eq!(updates[0].conclusion, Some(Conclusion::Failure));
        assert!(updates[1..].iter().all(|u| u.conclusion.is_none()));
        assert_eq!(updates[2].annotations[19].start_line, 120);
        assert_eq!(check_run_updates(&outcome(0, 10)).len(), 1);
    }

    #[test]
    fn long_summaries_are_cut_to_the_limit_on_a_char_boundary() {
        let updates = check_run_updates(&outcome(0, 70_000));
        let len = updates[0].summary.chars().count();
        assert!(len <= CHECK_SUMMARY_MAX_CHARS, "{len}");
        assert!(updates[0].summary.ends_with("for the rest)_"));
    }

    #[test]
    fn marker_goes_last_and_the_body_fits() {
        let body = with_marker(COMMENT_MARKER, "hello");
        assert_eq!(body, format!("hello\n{COMMENT_MARKER}"));
        let long = with_marker(COMMENT_MARKER, &"x".repeat(100_000));
        assert!(long.chars().count() <= COMMENT_BODY_MAX_CHARS);
        assert!(long.ends_with(COMMENT_MARKER));
    }

    #[test]
    fn repo_names_parse_and_reject_garbage() {
        let repo: RepoName = "octo-org/prompts.v2".parse().unwrap();
        assert_eq!(repo, RepoName::new("octo-org", "prompts.v2"));
        for bad in ["", "octo", "/x", "x/", "a/b/c", "a/..", "a b/c"] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
    }
}
