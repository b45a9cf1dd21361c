//! `model_rerun` jobs: a `promptgate-model-changed` dispatch reruns every
//! prompt of the default branch that uses the model against its baseline,
//! evaluated fresh. A regression opens (or updates) one issue per model in
//! the repository with the delta table; a later rerun that passes closes it.

use std::sync::Arc;

use super::{GitHubWork, github_failed, payload};
use crate::edges::github::GitHubApi;
use crate::flows::check::CheckRequest;
use crate::flows::evaluate::RunOptions;
use crate::flows::rerun::rerun_workspace;
use crate::pipeline::report::markdown::{self, MarkdownOptions};
use crate::server::events::ModelRerunJob;
use crate::server::jobs::{Job, JobError, JobHandler, RepositoryError, ServerError};
use crate::types::RepoName;

pub struct ModelRerunHandler {
    pub(super) work: Arc<GitHubWork>,
}

/// Marks the issue of one model's reruns, so it is found again (only in
/// issues our own account wrote).
pub fn model_issue_marker(model: &str) -> String {
    // Model ids are `publisher/model`; keep the marker one HTML comment.
    format!(
        "<!-- promptgate:model-rerun {} -->",
        model.replace("--", "-")
    )
}

#[async_trait::async_trait]
impl JobHandler for ModelRerunHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let order: ModelRerunJob = payload(job)?;
        let repo = &order.repo;
        let Some(github) = self.work.client(repo, order.installation).await? else {
            return Ok(());
        };
        let branch = github
            .default_branch(repo)
            .await
            .map_err(github_failed(repo))?;
        let commit = github
            .resolve_ref(repo, &format!("heads/{branch}"))
            .await
            .map_err(github_failed(repo))?
            .ok_or_else(|| RepositoryError::NoBranch {
                repo: repo.clone(),
                branch: branch.clone(),
            })?;
        let workspace = self
            .work
            .workspace_at(github.as_ref(), repo, &commit)
            .await?;
        if !workspace
            .prompts
            .iter()
            .any(|p| p.model.to_string() == order.model)
        {
            tracing::info!(%repo, model = %order.model, "no prompt on the default branch uses the model");
            return Ok(());
        }
        let request = CheckRequest {
            run: RunOptions {
                refuse_commands: true,
                keys: self.work.key_policy(repo),
                ..RunOptions::default()
            },
            ..CheckRequest::default()
        };
        let rerun = rerun_workspace(
            &workspace,
            &self.work.locations(repo),
            Some(&order.model),
            &request,
        )
        .await
        .map_err(|source| RepositoryError::Check {
            repo: repo.clone(),
            source,
        })?;
        let short = commit.short();
        let report = markdown::render(
            &rerun.report,
            &MarkdownOptions {
                marker: false,
                ..MarkdownOptions::comment()
            },
        )
        .map_err(|source| ServerError::Report {
            repo: repo.clone(),
            source,
        })?;
        let body = format!(
            "The model `{}` changed, so promptgate reran the prompts that use it on `{branch}` ({short}) against their baselines, without cached responses.\n\n{report}",
            order.model
        );
        record(
            github.as_ref(),
            repo,
            &order.model,
            rerun.failed,
            &body,
            &rerun.report.headline(),
        )
        .await
    }
}

/// Opens or updates the model's issue on a regression; closes it on a pass.
async fn record(
    github: &dyn GitHubApi,
    repo: &RepoName,
    model: &str,
    failed: bool,
    body: &str,
    headline: &str,
) -> Result<(), JobError> {
    let marker = model_issue_marker(model);
    if failed {
        let title = format!("promptgate: prompts regressed on {model}");
        let outcome = github
            .upsert_issue_by_marker(repo, &marker, &title, body)
            .await
            .map_err(github_failed(repo))?;
        tracing::info!(%repo, %model, ?outcome, %headline, "model rerun regressed");
    } else {
        let closed = github
            .close_issue_by_marker(repo, &marker, Some(&format!("Passed again.\n\n{body}")))
            .await
            .map_err(github_failed(repo))?;
        tracing::info!(%repo, %model, ?closed, %headline, "model rerun passed");
    }
    Ok(())
}
