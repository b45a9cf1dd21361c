//! Why a job failed, typed: what failed and where (job, repository,
//! commit), the error underneath, whether another attempt may succeed, and
//! for whom the message is meant.
//!
//! - [`RepositoryError`] — about the repository a job works on, for its
//!   users: their files, their config, their provider keys, or their change
//!   failing to evaluate. A gate posts these on its check run.
//! - [`ServerError`] — about the server: a job it cannot read or route, its
//!   database, its registry, GitHub refusing or failing the App's calls, a
//!   handler bug. For the operator: logged and kept as the job's last error.

use std::path::PathBuf;

use super::{JobId, JobKind};
use crate::edges::db::DatabaseError;
use crate::edges::github::GitHubError;
use crate::edges::registry::RegistryError;
use crate::flows::error::FlowError;
use crate::flows::publish::PublishError;
use crate::pipeline::evaluation::ExecuteError;
use crate::pipeline::report::ReportError;
use crate::server::sources::SourcesError;
use crate::types::{CommitSha, Diagnostics, RepoName};

/// A handler's failure. Its text is what the queue records as the job's
/// `last_error`; [`JobError::is_permanent`] decides whether it retries.
/// Boxed: the errors underneath are large, and every handler returns this.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Repository(Box<RepositoryError>),
    #[error(transparent)]
    Server(Box<ServerError>),
}

impl From<RepositoryError> for JobError {
    fn from(error: RepositoryError) -> Self {
        JobError::Repository(Box::new(error))
    }
}

impl From<ServerError> for JobError {
    fn from(error: ServerError) -> Self {
        JobError::Server(Box::new(error))
    }
}

/// What stopped a job on a repository, for the repository's users.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Reading the repository's files through the API (or past the server's
    /// limits).
    #[error("{source}")]
    Files {
        repo: RepoName,
        #[source]
        source: SourcesError,
    },
    /// The files were read, and the check of them failed.
    #[error("{source}")]
    Check {
        repo: RepoName,
        #[source]
        source: FlowError,
    },
    #[error("{repo}@{commit}: the prompts cannot be loaded:\n{problems}")]
    Prompts {
        repo: RepoName,
        commit: CommitSha,
        problems: Diagnostics,
    },
    /// A prompt cannot be planned (its cases or dataset are invalid).
    #[error("{problems}")]
    Plan {
        repo: RepoName,
        prompt: String,
        problems: Diagnostics,
    },
    #[error("{repo} has no branch `{branch}`")]
    NoBranch { repo: RepoName, branch: String },
    #[error("{source}")]
    Publish {
        repo: RepoName,
        commit: CommitSha,
        #[source]
        source: PublishError,
    },
}

/// What stopped a job on the server's side, for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("job {job} ({kind}) has an unreadable payload: {source}")]
    Payload {
        job: JobId,
        kind: JobKind,
        #[source]
        source: serde_json::Error,
    },
    #[error("this server has no handler for `{kind}` jobs; configure it or upgrade promptgate")]
    NoHandler { kind: JobKind },
    #[error("the job handler panicked: {message}")]
    Panicked { message: String },
    #[error("the event named no App installation: it was not sent to the App's webhook")]
    NoInstallation { repo: RepoName },
    #[error("{source}")]
    Database {
        #[source]
        source: DatabaseError,
    },
    #[error("{source}")]
    Registry {
        repo: RepoName,
        #[source]
        source: RegistryError,
    },
    /// A call of the App's to GitHub (reading a pull request, posting).
    #[error("{source}")]
    GitHub {
        repo: RepoName,
        #[source]
        source: GitHubError,
    },
    /// Rendering what would be posted.
    #[error("{source}")]
    Report {
        repo: RepoName,
        #[source]
        source: ReportError,
    },
    #[error("self-test payload: {source}")]
    SelfTestPayload {
        #[source]
        source: serde_json::Error,
    },
    /// The self-test order asks for something out of bounds.
    #[error("{problem}")]
    SelfTestOrder { problem: String },
    #[error("cannot write self-test markers in {}: {source}", dir.display())]
    SelfTestMarkers {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failure known only by its message (handlers outside this crate).
    #[error("{message}")]
    Other { message: String, permanent: bool },
}

impl JobError {
    /// A failure another attempt may fix, described by its message.
    pub fn retryable(message: impl Into<String>) -> Self {
        ServerError::Other {
            message: message.into(),
            permanent: false,
        }
        .into()
    }

    /// A failure no retry can fix (bad payload, missing configuration),
    /// described by its message.
    pub fn permanent(message: impl Into<String>) -> Self {
        ServerError::Other {
            message: message.into(),
            permanent: true,
        }
        .into()
    }

    /// Retrying cannot help: the job fails at once.
    pub fn is_permanent(&self) -> bool {
        match self {
            JobError::Repository(error) => error.is_permanent(),
            JobError::Server(error) => error.is_permanent(),
        }
    }

    /// The failure when the repository's users should see it.
    pub fn for_users(&self) -> Option<&RepositoryError> {
        match self {
            JobError::Repository(error) => Some(error.as_ref()),
            JobError::Server(_) => None,
        }
    }
}

impl RepositoryError {
    pub fn is_permanent(&self) -> bool {
        match self {
            RepositoryError::Files { source, .. } => match source {
                SourcesError::GitHub(error) => github_refused(error),
                // Past the limits, or a tree that lies: the same next time.
                _ => true,
            },
            RepositoryError::Check { source, .. } => check_is_permanent(source),
            RepositoryError::Publish { source, .. } => match source {
                PublishError::Check(error) => check_is_permanent(error),
                PublishError::Content { .. } => true,
                PublishError::Registry { .. } => false,
            },
            RepositoryError::Prompts { .. }
            | RepositoryError::Plan { .. }
            | RepositoryError::NoBranch { .. } => true,
        }
    }

    /// The repository the failure is about.
    pub fn repo(&self) -> &RepoName {
        match self {
            RepositoryError::Files { repo, .. }
            | RepositoryError::Check { repo, .. }
            | RepositoryError::Prompts { repo, .. }
            | RepositoryError::Plan { repo, .. }
            | RepositoryError::NoBranch { repo, .. }
            | RepositoryError::Publish { repo, .. } => repo,
        }
    }
}

impl ServerError {
    pub fn is_permanent(&self) -> bool {
        match self {
            ServerError::Payload { .. }
            | ServerError::NoHandler { .. }
            | ServerError::NoInstallation { .. }
            | ServerError::Report { .. }
            | ServerError::SelfTestPayload { .. }
            | ServerError::SelfTestOrder { .. } => true,
            ServerError::Panicked { .. }
            | ServerError::Database { .. }
            | ServerError::Registry { .. }
            | ServerError::SelfTestMarkers { .. } => false,
            ServerError::GitHub { source, .. } => github_refused(source),
            ServerError::Other { permanent, .. } => *permanent,
        }
    }
}

/// GitHub's refusals (no access, gone, invalid) do not heal by retrying;
/// outages, rate limits and timeouts may.
fn github_refused(error: &GitHubError) -> bool {
    matches!(error.status(), Some(403 | 404 | 410 | 422))
}

/// Whether retrying cannot help: the repository's files or config are
/// wrong (invalid prompts, a provider with no key or no route), as opposed
/// to the run being cut short or the store failing. Failed model calls are
/// not errors here: the runner retried them and the report counts them.
fn check_is_permanent(error: &FlowError) -> bool {
    match error {
        FlowError::Execute(ExecuteError::Provider { source, .. }) => !source.is_retryable(),
        FlowError::Execute(ExecuteError::Interrupted(_)) | FlowError::Store(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_errors_keep_their_text_and_permanence() {
        let retry = JobError::retryable("provider answered 503");
        assert_eq!(retry.to_string(), "provider answered 503");
        assert!(!retry.is_permanent() && retry.for_users().is_none());
        assert!(JobError::permanent("no repository").is_permanent());
    }

    #[test]
    fn repository_errors_are_for_users_and_name_the_commit() {
        let repo = RepoName::new("octo", "prompts");
        let error = JobError::from(RepositoryError::NoBranch {
            repo: repo.clone(),
            branch: "main".into(),
        });
        assert_eq!(error.to_string(), "octo/prompts has no branch `main`");
        assert!(error.is_permanent());
        assert_eq!(error.for_users().map(RepositoryError::repo), Some(&repo));

        let files = JobError::from(RepositoryError::Files {
            repo: repo.clone(),
            source: SourcesError::Vanished {
                repo: repo.clone(),
                commit: "abc".into(),
                path: "a.prompt.yml".into(),
            },
        });
        assert!(files.is_permanent());
        assert!(
            files.to_string().starts_with("octo/prompts@abc:"),
            "{files}"
        );
        assert!(std::error::Error::source(&files).is_some());
    }

    #[test]
    fn server_side_failures_retry_unless_the_job_cannot_run() {
        let panicked = JobError::from(ServerError::Panicked {
            message: "bug".into(),
        });
        assert!(!panicked.is_permanent() && panicked.for_users().is_none());
        assert_eq!(panicked.to_string(), "the job handler panicked: bug");
        let routed = JobError::from(ServerError::NoHandler {
            kind: JobKind::Gate,
        });
        assert!(routed.is_permanent());
    }
}
