//! `publish` jobs: after a merge (or a push) to the default branch, the
//! prompts whose content is not yet in the registry are evaluated, gated
//! against the version `latest` names and published with their results as
//! baselines — the same code as `promptgate publish`. Content already
//! published (a redelivery, the push after the merge) publishes nothing.

use std::sync::Arc;

use super::{GitHubWork, payload};
use crate::edges::registry::{Registry, VersionRef};
use crate::flows::evaluate::RunOptions;
use crate::flows::publish::{PublishMeta, publish_workspace};
use crate::pipeline::spec::Workspace;
use crate::server::events::PublishJob;
use crate::server::jobs::{Job, JobError, JobHandler, RepositoryError, ServerError};
use crate::types::RepoName;

pub struct PublishHandler {
    pub(super) work: Arc<GitHubWork>,
}

#[async_trait::async_trait]
impl JobHandler for PublishHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let order: PublishJob = payload(job)?;
        let repo = &order.repo;
        let commit = &order.sha;
        let Some(github) = self.work.client(repo, order.installation).await? else {
            return Ok(());
        };
        let workspace = self
            .work
            .workspace_at(github.as_ref(), repo, commit)
            .await?;
        let registry = self.work.registry_of(repo);
        let registry = registry.as_ref();
        let unpublished = unpublished(repo, &workspace, registry).await?;
        if unpublished.is_empty() {
            tracing::info!(%repo, sha = %commit, "every prompt is already published");
            return Ok(());
        }
        let short = commit.short();
        let meta = PublishMeta {
            author: format!("promptgate (GitHub App) for {repo}"),
            git_commit: Some(commit.0.clone()),
            message: Some(match order.pull_request {
                // `PrNumber` shows as `#12`.
                Some(number) => format!("published on merge of {number} ({short})"),
                None => format!("published on push of {short} to {}", order.git_ref),
            }),
        };
        let options = RunOptions {
            refuse_commands: true,
            keys: self.work.key_policy(repo),
            ..RunOptions::default()
        };
        let published = publish_workspace(
            &workspace,
            &self.work.locations(repo),
            registry,
            &unpublished,
            &options,
            &meta,
        )
        .await
        .map_err(|source| RepositoryError::Publish {
            repo: repo.clone(),
            commit: commit.clone(),
            source,
        })?;
        for item in &published {
            tracing::info!(%repo, sha = %commit, "{}", item.describe());
        }
        Ok(())
    }
}

/// The prompts whose current content has no version in the registry.
async fn unpublished(
    repo: &RepoName,
    workspace: &Workspace,
    registry: &dyn Registry,
) -> Result<Vec<String>, JobError> {
    let mut names = Vec::new();
    for prompt in &workspace.prompts {
        let plan =
            crate::pipeline::evaluation::plan(prompt, workspace.files.as_ref(), &workspace.config)
                .map_err(|problems| RepositoryError::Plan {
                    repo: repo.clone(),
                    prompt: prompt.name.clone(),
                    problems,
                })?;
        let known = registry
            .version(&prompt.name, &VersionRef::Id(plan.version.clone()))
            .await
            .map_err(|source| ServerError::Registry {
                repo: repo.clone(),
                source,
            })?;
        if known.is_none() {
            names.push(prompt.name.clone());
        }
    }
    Ok(names)
}
