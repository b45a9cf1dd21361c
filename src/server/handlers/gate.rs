//! `gate` jobs: the check of a pull request, posted as the Action posts it.

use std::sync::Arc;

use super::{GitHubWork, check_error, github_error, last_attempt, payload, repo_of, sources_error};
use crate::edges::github::post::{self, CheckVerdict, PullRequestTarget};
use crate::edges::github::{GitHubApi, PullRequest};
use crate::flows::check::{CheckRequest, check_sources};
use crate::flows::evaluate::RunOptions;
use crate::server::events::{GateJob, GateTrigger};
use crate::server::jobs::{Job, JobError, JobHandler};
use crate::server::sources::pull_request_sources;
use crate::types::{CommitSha, PrNumber, RepoName};

pub struct GateHandler {
    pub(super) work: Arc<GitHubWork>,
}

#[async_trait::async_trait]
impl JobHandler for GateHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let order: GateJob = payload(job)?;
        let repo = repo_of(&order.repo)?;
        let Some(number) = order.pull_request.map(PrNumber) else {
            tracing::info!(%repo, "rerun of a commit that belongs to no pull request: nothing to gate");
            return Ok(());
        };
        let Some(github) = self.work.client(order.installation).await? else {
            return Ok(());
        };
        if let Some(user) = &order.commenter
            && !may_rerun(github.as_ref(), &repo, user).await?
        {
            tracing::info!(%repo, %number, %user, "`/promptgate rerun` from a user without write access: ignored");
            return Ok(());
        }
        let pr = github
            .pull_request(&repo, number)
            .await
            .map_err(github_error)?;
        if pr.state != "open" {
            tracing::info!(%repo, %number, state = %pr.state, "the pull request is not open: nothing to gate");
            return Ok(());
        }
        // A push made after this event has its own job (which superseded
        // this one if it was still waiting): gate only the current head.
        if order.trigger == GateTrigger::PullRequest
            && order.head_sha.as_deref() != Some(pr.head_sha.0.as_str())
        {
            tracing::info!(%repo, %number, "the pull request moved on since this event: skipped");
            return Ok(());
        }
        self.gate(job, github.as_ref(), &repo, &pr, order.all).await
    }
}

impl GateHandler {
    async fn gate(
        &self,
        job: &Job,
        github: &dyn GitHubApi,
        repo: &RepoName,
        pr: &PullRequest,
        all: bool,
    ) -> Result<(), JobError> {
        let target = PullRequestTarget {
            repo,
            number: pr.number,
            head_sha: &pr.head_sha,
            details_url: None,
        };
        let handle = post::start_check(github, &target)
            .await
            .map_err(github_error)?;
        // A failure retrying cannot fix is reported on the check run and ends
        // the job; any other is retried, and reported on the last attempt.
        let could_not_run = async |error: JobError| {
            if error.permanent || last_attempt(job) {
                post::post_could_not_run(github, &target, &handle, &error.message).await;
            }
            if error.permanent { Ok(()) } else { Err(error) }
        };
        let sources =
            match pull_request_sources(github, repo, &pr.base_sha, &pr.head_sha, self.work.limits)
                .await
            {
                Ok(sources) => sources,
                Err(error) => return could_not_run(sources_error(error)).await,
            };
        let request = CheckRequest {
            all,
            run: RunOptions {
                untrusted: pr.is_fork(),
                refuse_commands: true,
                ..RunOptions::default()
            },
            ..CheckRequest::default()
        };
        let run = match check_sources(sources, &request, &self.work.locations(repo)).await {
            Ok(run) => run,
            Err(error) => return could_not_run(check_error(error)).await,
        };
        let verdict = CheckVerdict::of(&run.report, run.failed);
        post::post_report(github, &target, Some(&handle), &run.report, verdict, true)
            .await
            .map_err(|error| match error {
                post::PostError::GitHub(error) => github_error(error),
                other => JobError::permanent(other.to_string()),
            })?;
        tracing::info!(
            %repo,
            number = %pr.number,
            head = %short(&pr.head_sha),
            verdict = verdict.as_str(),
            "gate posted"
        );
        Ok(())
    }
}

/// `/promptgate rerun` runs only for users who may push to the repository.
async fn may_rerun(github: &dyn GitHubApi, repo: &RepoName, user: &str) -> Result<bool, JobError> {
    Ok(github
        .permission(repo, user)
        .await
        .map_err(github_error)?
        .can_write())
}

fn short(sha: &CommitSha) -> String {
    sha.0.chars().take(12).collect()
}
