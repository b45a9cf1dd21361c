//! The work behind GitHub's events: the [`JobHandler`]s of `gate`,
//! `publish` and `model_rerun` jobs. Each reads the repository through the
//! GitHub API as its installation ([`super::sources`]), runs the same code as
//! the CLI and the Action ([`crate::flows::check`], [`crate::flows::publish`],
//! [`crate::flows::rerun`]) and posts what the Action posts
//! ([`crate::edges::github::post`]).
//!
//! Handlers may be stopped at any `.await` (superseded, shut down, killed)
//! and run again; every effect is safe to repeat: the comment is sticky,
//! publishing the same content again is a no-op, the model issue is found by
//! its marker.

mod gate;
mod model_rerun;
mod publish;

use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;

pub use gate::GateHandler;
pub use model_rerun::{ModelRerunHandler, model_issue_marker};
pub use publish::PublishHandler;

use super::installations::Installations;
use super::sources::{BlobCache, FetchLimits, commit_files};
use crate::edges::github::app::GitHubApp;
use crate::edges::github::{GitHubApi, GitHubError};
use crate::edges::registry::{Namespace, Registry};
use crate::flows::evaluate::{KeyPolicy, Locations, RegistryAccess};
use crate::pipeline::spec::Workspace;
use crate::server::jobs::{Job, JobError, JobKind, KindRouter, RepositoryError, ServerError};
use crate::server::settings::KeyAllowlist;
use crate::server::spend::PullRequestSpend;
use crate::types::{CommitSha, InstallationId, RepoName};

/// Makes API clients that act as an installation of the App.
pub trait InstallationClients: Send + Sync {
    fn client(&self, installation: InstallationId) -> Arc<dyn GitHubApi>;
}

impl InstallationClients for GitHubApp {
    fn client(&self, installation: InstallationId) -> Arc<dyn GitHubApi> {
        Arc::new(self.installation_client(installation))
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct GitHubWork {
    pub clients: Arc<dyn InstallationClients>,
    /// The server's registry: publish jobs write to it, reruns read
    /// baselines from it, `/v1/repos/…` serves from it (each repository its namespace).
    pub registry: Arc<dyn Registry>,
    /// Per repository: the response cache and stored results, reused
    /// across jobs (`<data_dir>/<owner>/<repo>/`).
    pub data_dir: PathBuf,
    pub limits: FetchLimits,
    /// Installations known to be suspended get no work.
    pub installations: Installations,
    /// Where the server's provider keys may go, per repository.
    pub keys: KeyAllowlist,
    /// What each pull request spent per day, for the daily budget.
    pub spend: PullRequestSpend,
}

impl GitHubWork {
    /// The three handlers, by kind.
    pub fn handlers(self, router: KindRouter) -> KindRouter {
        let work = Arc::new(self);
        router
            .route(JobKind::Gate, Arc::new(GateHandler { work: work.clone() }))
            .route(
                JobKind::Publish,
                Arc::new(PublishHandler { work: work.clone() }),
            )
            .route(JobKind::ModelRerun, Arc::new(ModelRerunHandler { work }))
    }

    /// A client acting as the job's installation; `None` when the
    /// installation is suspended (the job has nothing to do).
    async fn client(
        &self,
        repo: &RepoName,
        installation: Option<InstallationId>,
    ) -> Result<Option<Arc<dyn GitHubApi>>, JobError> {
        let installation =
            installation.ok_or_else(|| ServerError::NoInstallation { repo: repo.clone() })?;
        let suspended = self
            .installations
            .is_suspended(installation)
            .await
            .map_err(|source| ServerError::Database { source })?;
        if suspended {
            tracing::info!(
                installation = installation.0,
                "the installation is suspended: skipped"
            );
            return Ok(None);
        }
        Ok(Some(self.clients.client(installation)))
    }

    /// The repository's prompts and config at `commit`, read through the API.
    async fn workspace_at(
        &self,
        github: &dyn GitHubApi,
        repo: &RepoName,
        commit: &CommitSha,
    ) -> Result<Workspace, JobError> {
        let files = commit_files(github, repo, commit, &BlobCache::default(), self.limits)
            .await
            .map_err(|source| RepositoryError::Files {
                repo: repo.clone(),
                source,
            })?;
        // The gate reported these problems on the pull request already.
        Workspace::load(Box::new(files)).map_err(|problems| {
            RepositoryError::Prompts {
                repo: repo.clone(),
                commit: commit.clone(),
                problems,
            }
            .into()
        })
    }

    /// The key rule of runs for `repo`: the operator's allowlist.
    pub(crate) fn key_policy(&self, repo: &RepoName) -> KeyPolicy {
        let (keys, repo) = (self.keys.clone(), repo.clone());
        KeyPolicy::new(move |alias, table| keys.check(&repo, alias, table))
    }

    /// Where a repository's store lives, and the server's registry for
    /// baselines. The server runs no repository code, so the work folder is
    /// only where the store sits.
    pub(crate) fn locations(&self, repo: &RepoName) -> Locations {
        let dir = self.data_dir.join(&repo.owner).join(&repo.name);
        Locations {
            work_dir: dir.clone(),
            store_dir: Some(dir.join("store")),
            registry: RegistryAccess::Given(self.registry_of(repo)),
        }
    }

    /// The registry's view of `repo`'s prompts: a repository publishes to,
    /// and gates against, its own namespace only.
    fn registry_of(&self, repo: &RepoName) -> Arc<dyn Registry> {
        self.registry.scoped(&Namespace::from(repo))
    }
}

/// A job's payload, or a permanent error naming the job.
pub(crate) fn payload<T: DeserializeOwned>(job: &Job) -> Result<T, JobError> {
    serde_json::from_value(job.payload.clone()).map_err(|source| {
        ServerError::Payload {
            job: job.id,
            kind: job.kind,
            source,
        }
        .into()
    })
}

/// Turns a failed call of the App's to GitHub about `repo` into a job error.
fn github_failed(repo: &RepoName) -> impl FnOnce(GitHubError) -> JobError {
    move |source| {
        ServerError::GitHub {
            repo: repo.clone(),
            source,
        }
        .into()
    }
}

/// The last attempt a job will get: failures are reported to the user then.
fn last_attempt(job: &Job) -> bool {
    job.attempts >= job.max_attempts
}
