//! What the `/mcp` commit tools run: a repository's commits read through
//! the App's installation, as the gate jobs read them
//! ([`crate::server::sources`]), then validated, estimated, evaluated,
//! checked or given a verified suggestion by the same flows as the CLI.
//! Nothing is posted to GitHub.
//!
//! Trust is the App's for a pull request from a fork, whatever the ref: an
//! agent may name any branch or commit, so the config that chooses
//! providers, judges, the suggestion model and budgets is the base's (the
//! default branch's for a ref alone), the server's key allowlist applies,
//! and no repository code runs (a `command` evaluator is refused before
//! anything is called). What a run spends counts toward the day of its
//! pull request (`pull/N`), or of the repository's runs outside pull
//! requests, which share number 0.

use std::sync::Arc;

use crate::edges::db::DatabaseError;
use crate::edges::github::{GitHubApi, GitHubError, PullRequest};
use crate::flows::check::{CheckRequest, CheckRun, budget_refusal, check_sources};
use crate::flows::error::FlowError;
use crate::flows::evaluate::{Evaluations, RunOptions, evaluate_workspace, select_by_name};
use crate::flows::suggest::{SuggestError, SuggestInput, SuggestRequest, suggest_fixes};
use crate::pipeline::budget::{self, Spending};
use crate::pipeline::runner::ProgressMode;
use crate::pipeline::runner::pricing::Estimate;
use crate::pipeline::spec::Workspace;
use crate::pipeline::suggest::PromptSuggestion;
use crate::server::handlers::GitHubWork;
use crate::server::sources::{
    BlobCache, CommitFiles, PullRequestFiles, SourcesError, commit_files, pull_request_files,
};
use crate::server::spend;
use crate::types::{
    CallStats, CommitSha, Diagnostic, Diagnostics, EvaluatorKind, PrNumber, PromptSpec, RepoName,
};

/// Where the runs of a ref outside any pull request count their spending.
const OUTSIDE_PULL_REQUESTS: PrNumber = PrNumber(0);

#[derive(Debug, thiserror::Error)]
pub(super) enum RunError {
    #[error(
        "{repo}: no branch, tag, commit or pull request `{name}` (name a branch, a 40-digit \
         commit SHA, `tags/NAME`, or a pull request as `pull/7`)"
    )]
    UnknownRef { repo: RepoName, name: String },
    #[error("{repo}: pull request #{number} is {state}; only open pull requests are checked")]
    Closed {
        repo: RepoName,
        number: u64,
        state: String,
    },
    #[error("{repo}: {source}")]
    GitHub { repo: RepoName, source: GitHubError },
    #[error(transparent)]
    Files(#[from] SourcesError),
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("the trusted config ({rev}) could not be loaded:\n{diagnostics}")]
    InvalidTrusted {
        rev: String,
        diagnostics: Diagnostics,
    },
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Suggest(#[from] SuggestError),
    #[error("{0}")]
    OverBudget(String),
    #[error("the server cannot read or record what this repository spent; try again later")]
    Spend(#[source] DatabaseError),
}

/// A commit an agent named, and the pull request when it named one.
pub(super) struct Resolved {
    pub sha: CommitSha,
    pub pull: Option<PullRequest>,
}

impl Resolved {
    /// The pull request whose day this run's spending counts toward.
    fn spend_bucket(&self) -> PrNumber {
        self.pull
            .as_ref()
            .map_or(OUTSIDE_PULL_REQUESTS, |pull| pull.number)
    }
}

/// One repository, as the App's installation sees it.
pub(super) struct Repository {
    work: Arc<GitHubWork>,
    api: Arc<dyn GitHubApi>,
    repo: RepoName,
    blobs: BlobCache,
}

/// Both sides of a check, fetched and loaded.
pub(super) struct Prepared {
    files: PullRequestFiles,
    /// The base (merge base) side, whose config is trusted.
    pub base: Workspace,
    head: Workspace,
}

/// A check of two commits, with what suggesting after it needs.
pub(super) struct Checked {
    pub run: CheckRun,
    pub head: Workspace,
    /// The base (merge base) side, whose config is trusted.
    pub base: Workspace,
    pub base_sha: CommitSha,
    pub options: RunOptions,
}

impl Repository {
    /// `repo` through the installation that holds it; `None` when none does
    /// (or it is suspended): the App cannot read it.
    pub async fn open(work: Arc<GitHubWork>, repo: RepoName) -> Result<Option<Self>, RunError> {
        let holding = work
            .installations
            .holding(&repo)
            .await
            .map_err(RunError::Spend)?;
        let Some((installation, false)) = holding else {
            return Ok(None);
        };
        let api = work.clients.client(installation);
        Ok(Some(Repository {
            work,
            api,
            repo,
            blobs: BlobCache::default(),
        }))
    }

    fn github(&self) -> impl FnOnce(GitHubError) -> RunError + '_ {
        |source| RunError::GitHub {
            repo: self.repo.clone(),
            source,
        }
    }

    /// A branch, `tags/NAME`, a 40-digit commit SHA, or a pull request
    /// (`pull/7`, `#7`, `refs/pull/7/head`), which must be open.
    pub async fn resolve(&self, name: &str) -> Result<Resolved, RunError> {
        let name = name.trim();
        if let Some(number) = pull_request_number(name) {
            let pull = self
                .api
                .pull_request(&self.repo, PrNumber(number))
                .await
                .map_err(|e| match e.status() {
                    Some(404) => self.unknown(name),
                    _ => self.github()(e),
                })?;
            if pull.state != "open" {
                return Err(RunError::Closed {
                    repo: self.repo.clone(),
                    number,
                    state: pull.state,
                });
            }
            return Ok(Resolved {
                sha: pull.head_sha.clone(),
                pull: Some(pull),
            });
        }
        if name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Resolved {
                sha: CommitSha(name.to_ascii_lowercase()),
                pull: None,
            });
        }
        let git_ref = name.trim_start_matches("refs/");
        let git_ref = if git_ref.starts_with("heads/") || git_ref.starts_with("tags/") {
            git_ref.to_owned()
        } else {
            format!("heads/{git_ref}")
        };
        let sha = self
            .api
            .resolve_ref(&self.repo, &git_ref)
            .await
            .map_err(self.github())?
            .ok_or_else(|| self.unknown(name))?;
        Ok(Resolved { sha, pull: None })
    }

    fn unknown(&self, name: &str) -> RunError {
        RunError::UnknownRef {
            repo: self.repo.clone(),
            name: name.to_owned(),
        }
    }

    /// The default branch's newest commit.
    async fn default_head(&self) -> Result<CommitSha, RunError> {
        let branch = self
            .api
            .default_branch(&self.repo)
            .await
            .map_err(self.github())?;
        Ok(self.resolve(&branch).await?.sha)
    }

    /// The commit whose config is trusted for a run of `at` alone: its pull
    /// request's base, else the default branch.
    async fn trusted_commit(&self, at: &Resolved) -> Result<CommitSha, RunError> {
        match &at.pull {
            Some(pull) => Ok(pull.base_sha.clone()),
            None => self.default_head().await,
        }
    }

    async fn files(&self, sha: &CommitSha) -> Result<CommitFiles, RunError> {
        Ok(commit_files(
            self.api.as_ref(),
            &self.repo,
            sha,
            &self.blobs,
            self.work.limits,
        )
        .await?)
    }

    /// The files of `at`, loaded as they are (for validating).
    pub async fn files_at(&self, at: &Resolved) -> Result<CommitFiles, RunError> {
        self.files(&at.sha).await
    }

    /// The prompts of `at`, with the trusted commit's config in place of
    /// its own: the ref's files are data, the trusted config decides
    /// providers, judges, the store and the budget.
    async fn trusted_workspace(&self, at: &Resolved) -> Result<Workspace, RunError> {
        let mut workspace =
            Workspace::load(Box::new(self.files(&at.sha).await?)).map_err(RunError::Invalid)?;
        let trusted = self.trusted_commit(at).await?;
        if trusted != at.sha {
            let files = self.files(&trusted).await?;
            workspace.config = crate::pipeline::config::load(&files).map_err(|diagnostics| {
                RunError::InvalidTrusted {
                    rev: trusted.0.clone(),
                    diagnostics,
                }
            })?;
        }
        Ok(workspace)
    }

    /// How every run here goes: untrusted, no commands, the operator's
    /// key rule, no progress bars.
    fn options(&self) -> RunOptions {
        RunOptions {
            untrusted: true,
            refuse_commands: true,
            keys: self.work.key_policy(&self.repo),
            progress: ProgressMode::Hidden,
            ..RunOptions::default()
        }
    }

    async fn spent_today(&self, bucket: PrNumber) -> Result<Spending, RunError> {
        self.work
            .spend
            .spent(&self.repo, bucket, &spend::utc_day())
            .await
            .map_err(RunError::Spend)
    }

    /// Counts `calls` toward the day of `bucket`.
    async fn count(&self, bucket: PrNumber, calls: &CallStats) -> Result<(), RunError> {
        self.work
            .spend
            .add(&self.repo, bucket, &spend::utc_day(), calls)
            .await
            .map_err(RunError::Spend)
    }

    /// The calls evaluating `prompts` (all when empty) at `at` would make,
    /// and their cost; nothing is called.
    pub async fn estimate(&self, at: &Resolved, prompts: &[String]) -> Result<Estimate, RunError> {
        let workspace = self.trusted_workspace(at).await?;
        let locations = self.work.locations(&self.repo);
        Ok(crate::flows::evaluate::estimate_workspace(
            &workspace,
            prompts,
            &locations,
            &self.options(),
        )?)
    }

    /// The prompts of `at` to evaluate (all, or those named), with the
    /// workspace they come from; refused, with nothing run, when they would
    /// run a command or go over the budget.
    pub async fn plan_evaluation(
        &self,
        at: &Resolved,
        prompts: &[String],
    ) -> Result<(Workspace, Vec<PromptSpec>), RunError> {
        let workspace = self.trusted_workspace(at).await?;
        let chosen = select_by_name(&workspace, prompts)?;
        refuse_commands(&[(&workspace, &chosen)])?;
        let mut spending = Spending::default();
        for prompt in &chosen {
            spending.add(&budget::estimate_prompt(
                prompt,
                workspace.files.as_ref(),
                &workspace.config,
            ));
        }
        let spent = self.spent_today(at.spend_bucket()).await?;
        if let Some(refusal) = budget_refusal(&workspace.config, true, &spending, Some(&spent)) {
            return Err(RunError::OverBudget(refusal));
        }
        Ok((workspace, chosen))
    }

    /// Evaluates one planned prompt into `all`; what it spent counts at
    /// once, so a run stopped half-way has paid for what it did.
    pub async fn evaluate_into(
        &self,
        at: &Resolved,
        workspace: &Workspace,
        prompt: &PromptSpec,
        all: &mut Evaluations,
    ) -> Result<(), RunError> {
        let paths = std::slice::from_ref(&prompt.path.0);
        let locations = self.work.locations(&self.repo);
        let one = evaluate_workspace(workspace, paths, &self.options(), &locations).await?;
        let mut calls = one.judge_calls.clone();
        one.evaluated.iter().for_each(|e| calls.add(&e.calls));
        self.count(at.spend_bucket(), &calls).await?;
        all.judge_calls.add(&one.judge_calls);
        all.evaluated.extend(one.evaluated);
        all.skipped.extend(one.skipped);
        Ok(())
    }

    /// Both sides of a check of `head` against `base` (default: its pull
    /// request's base, else the default branch), fetched and loaded;
    /// refused when either would run a command.
    pub async fn prepare_check(
        &self,
        head: &Resolved,
        base: Option<&str>,
    ) -> Result<Prepared, RunError> {
        let base_sha = match base {
            Some(name) => self.resolve(name).await?.sha,
            None => self.trusted_commit(head).await?,
        };
        let files = pull_request_files(
            self.api.as_ref(),
            &self.repo,
            &base_sha,
            &head.sha,
            self.work.limits,
        )
        .await?;
        let base = Workspace::load(Box::new(files.merge_base.clone())).map_err(|diagnostics| {
            RunError::InvalidTrusted {
                rev: files.merge_base_sha.0.clone(),
                diagnostics,
            }
        })?;
        let head = Workspace::load(Box::new(files.head.clone())).map_err(RunError::Invalid)?;
        refuse_commands(&[(&base, &base.prompts), (&head, &head.prompts)])?;
        Ok(Prepared { files, base, head })
    }

    /// The App's gate on `prepared` (only `prompts` when named), posting
    /// nothing; what it spent counts.
    pub async fn check(
        &self,
        at: &Resolved,
        prepared: Prepared,
        prompts: Vec<String>,
    ) -> Result<Checked, RunError> {
        let bucket = at.spend_bucket();
        let options = self.options();
        let request = CheckRequest {
            prompts,
            spent_today: Some(self.spent_today(bucket).await?),
            run: options.clone(),
            ..CheckRequest::default()
        };
        let Prepared { files, base, head } = prepared;
        let run =
            check_sources(files.sources(), &request, &self.work.locations(&self.repo)).await?;
        self.count(bucket, &run.report.totals.calls).await?;
        Ok(Checked {
            run,
            head,
            base,
            base_sha: files.merge_base_sha,
            options,
        })
    }

    /// A verified edit for each prompt of `checked` that failed (or the one
    /// named), by the base's `[suggest]` model; its cost counts.
    pub async fn suggest(
        &self,
        head: &Resolved,
        checked: &Checked,
        request: &SuggestRequest,
    ) -> Result<Vec<PromptSuggestion>, RunError> {
        let locations = self.work.locations(&self.repo);
        let input = SuggestInput {
            check: &checked.run,
            head: &checked.head,
            config: &checked.base.config,
            locations: &locations,
            options: &checked.options,
        };
        let suggestions = suggest_fixes(&input, request).await?;
        for suggestion in &suggestions {
            self.count(head.spend_bucket(), &suggestion.cost).await?;
        }
        Ok(suggestions)
    }
}

/// `7` from `pull/7`, `#7` or `refs/pull/7/head`.
fn pull_request_number(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix('#')
        .or_else(|| name.strip_prefix("pull/"))
        .or_else(|| {
            name.strip_prefix("refs/pull/")
                .and_then(|rest| rest.strip_suffix("/head"))
        })?;
    digits.parse().ok()
}

/// A tool error when any prompt of `workspaces` has a `command`
/// evaluator, at the line of its file that says so: the server runs no
/// repository code, and a criterion refused on every case could never pass.
fn refuse_commands(workspaces: &[(&Workspace, &[PromptSpec])]) -> Result<(), RunError> {
    let mut found = Vec::new();
    for (workspace, prompts) in workspaces {
        for prompt in prompts.iter() {
            let commands = prompt
                .evaluators
                .iter()
                .filter(|e| matches!(e.kind, EvaluatorKind::Command { .. }));
            for evaluator in commands {
                let (line, column) = command_key(workspace, prompt, &evaluator.name);
                found.push(Diagnostic::error(
                    prompt.path.clone(),
                    line,
                    column,
                    format!(
                        "evaluator `{}` runs a command: the server runs no repository code, so \
                         it is refused over MCP (check this prompt in a checkout, or with the \
                         Action)",
                        evaluator.name
                    ),
                ));
            }
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(RunError::Invalid(Diagnostics(found)))
    }
}

/// Line and column (1-based) of the `command` key after the evaluator
/// named `name` in its prompt's file; (0, 0) when the text does not show it.
fn command_key(workspace: &Workspace, prompt: &PromptSpec, name: &str) -> (u32, u32) {
    let Ok(Some(bytes)) = workspace.files.read(&prompt.path) else {
        return (0, 0);
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut past_name = false;
    for (number, line) in text.lines().enumerate() {
        past_name |= line.contains(name);
        if let (true, Some(at)) = (past_name, line.find("command")) {
            return (number as u32 + 1, at as u32 + 1);
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_requests_are_named_three_ways() {
        assert_eq!(pull_request_number("pull/7"), Some(7));
        assert_eq!(pull_request_number("#12"), Some(12));
        assert_eq!(pull_request_number("refs/pull/3/head"), Some(3));
        assert_eq!(pull_request_number("main"), None);
        assert_eq!(pull_request_number("pull/x"), None);
        assert_eq!(pull_request_number("refs/pull/3/merge"), None);
    }
}
