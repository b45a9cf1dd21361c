//! `publish` jobs: after a merge (or a push) to the default branch, the
//! prompts whose content is not yet in the registry are evaluated, gated
//! against the version `latest` names and published with their results as
//! baselines — the same code as `promptgate publish`. Content already
//! published (a redelivery, the push after the merge) publishes nothing.

use std::sync::Arc;

use super::{GitHubWork, check_error, payload, repo_of};
use crate::edges::registry::{Registry, VersionRef};
use crate::flows::evaluate::RunOptions;
use crate::flows::publish::{PublishError, PublishMeta, publish_workspace};
use crate::pipeline::spec::Workspace;
use crate::server::events::PublishJob;
use crate::server::jobs::{Job, JobError, JobHandler};
use crate::types::CommitSha;

pub struct PublishHandler {
    pub(super) work: Arc<GitHubWork>,
}

#[async_trait::async_trait]
impl JobHandler for PublishHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let order: PublishJob = payload(job)?;
        let repo = repo_of(&order.repo)?;
        let Some(github) = self.work.client(order.installation).await? else {
            return Ok(());
        };
        let commit = CommitSha(order.sha.clone());
        let workspace = self
            .work
            .workspace_at(github.as_ref(), &repo, &commit)
            .await?;
        let registry = self.work.registry.as_ref();
        let unpublished = unpublished(&workspace, registry).await?;
        if unpublished.is_empty() {
            tracing::info!(%repo, sha = %order.sha, "every prompt is already published");
            return Ok(());
        }
        let short: String = order.sha.chars().take(12).collect();
        let meta = PublishMeta {
            author: format!("promptgate (GitHub App) for {repo}"),
            git_commit: Some(order.sha.clone()),
            message: Some(match order.pull_request {
                Some(number) => format!("published on merge of #{number} ({short})"),
                None => format!("published on push of {short} to {}", order.git_ref),
            }),
        };
        let options = RunOptions {
            refuse_commands: true,
            ..RunOptions::default()
        };
        let published = publish_workspace(
            &workspace,
            &self.work.locations(&repo),
            registry,
            &unpublished,
            &options,
            &meta,
        )
        .await
        .map_err(publish_error)?;
        for item in &published {
            tracing::info!(%repo, sha = %order.sha, "{}", item.describe());
        }
        Ok(())
    }
}

/// The prompts whose current content has no version in the registry.
async fn unpublished(
    workspace: &Workspace,
    registry: &dyn Registry,
) -> Result<Vec<String>, JobError> {
    let mut names = Vec::new();
    for prompt in &workspace.prompts {
        let plan =
            crate::pipeline::evaluation::plan(prompt, workspace.files.as_ref(), &workspace.config)
                .map_err(|problems| JobError::permanent(problems.to_string()))?;
        let known = registry
            .version(&prompt.name, &VersionRef::Id(plan.version.clone()))
            .await
            .map_err(|error| JobError::retryable(error.to_string()))?;
        if known.is_none() {
            names.push(prompt.name.clone());
        }
    }
    Ok(names)
}

fn publish_error(error: PublishError) -> JobError {
    match error {
        PublishError::Check(error) => check_error(error),
        PublishError::Content { .. } => JobError::permanent(error.to_string()),
        PublishError::Registry { .. } => JobError::retryable(error.to_string()),
    }
}
