//! `gate` jobs: the check of a pull request, posted as the Action posts it.

use std::sync::Arc;

use super::{GitHubWork, github_failed, last_attempt, payload};
use crate::edges::github::post::{self, CheckVerdict, PullRequestTarget};
use crate::edges::github::{GitHubApi, PullRequest};
use crate::flows::check::{CheckRequest, check_sources};
use crate::flows::evaluate::RunOptions;
use crate::server::events::{GateJob, GateTrigger};
use crate::server::jobs::{Job, JobError, JobHandler, RepositoryError, ServerError};
use crate::server::sources::pull_request_sources;
use crate::server::spend;
use crate::types::RepoName;

pub struct GateHandler {
    pub(super) work: Arc<GitHubWork>,
}

#[async_trait::async_trait]
impl JobHandler for GateHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let order: GateJob = payload(job)?;
        let repo = &order.repo;
        let Some(number) = order.pull_request else {
            tracing::info!(%repo, "rerun of a commit that belongs to no pull request: nothing to gate");
            return Ok(());
        };
        let Some(github) = self.work.client(repo, order.installation).await? else {
            return Ok(());
        };
        if let Some(user) = &order.commenter
            && !may_rerun(github.as_ref(), repo, user).await?
        {
            tracing::info!(%repo, %number, %user, "`/promptgate rerun` from a user without write access: ignored");
            return Ok(());
        }
        let pr = github
            .pull_request(repo, number)
            .await
            .map_err(github_failed(repo))?;
        if pr.state != "open" {
            tracing::info!(%repo, %number, state = %pr.state, "the pull request is not open: nothing to gate");
            return Ok(());
        }
        // A push made after this event has its own job (which superseded
        // this one if it was still waiting): gate only the current head.
        if order.trigger == GateTrigger::PullRequest
            && order.head_sha.as_ref() != Some(&pr.head_sha)
        {
            tracing::info!(%repo, %number, "the pull request moved on since this event: skipped");
            return Ok(());
        }
        self.gate(job, github.as_ref(), repo, &pr, order.all).await
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
            // The server reads whole repositories: paths are from the root.
            path_prefix: "",
        };
        let external_id = format!("promptgate-job-{}", job.id);
        let handle = post::start_check(github, &target, Some(&external_id))
            .await
            .map_err(github_failed(repo))?;
        // A failure retrying cannot fix is reported on the check run and ends
        // the job; any other is retried, and reported on the last attempt.
        let could_not_run = async |error: RepositoryError| {
            let permanent = error.is_permanent();
            if permanent || last_attempt(job) {
                post::post_could_not_run(github, &target, &handle, &error.to_string()).await;
            }
            if permanent {
                Ok(())
            } else {
                Err(JobError::from(error))
            }
        };
        let sources =
            match pull_request_sources(github, repo, &pr.base_sha, &pr.head_sha, self.work.limits)
                .await
            {
                Ok(sources) => sources,
                Err(source) => {
                    let repo = repo.clone();
                    return could_not_run(RepositoryError::Files { repo, source }).await;
                }
            };
        let day = spend::utc_day();
        let spent_today = self
            .work
            .spend
            .spent(repo, pr.number, &day)
            .await
            .map_err(spend_unknown)?;
        let request = CheckRequest {
            all,
            spent_today: Some(spent_today),
            run: RunOptions {
                untrusted: pr.is_fork(),
                refuse_commands: true,
                keys: self.work.key_policy(repo),
                ..RunOptions::default()
            },
            ..CheckRequest::default()
        };
        let run = match check_sources(sources, &request, &self.work.locations(repo)).await {
            Ok(run) => run,
            Err(source) => {
                let repo = repo.clone();
                return could_not_run(RepositoryError::Check { repo, source }).await;
            }
        };
        // Counted before posting: a post that fails and is retried must not
        // make the spending vanish.
        self.work
            .spend
            .add(repo, pr.number, &day, &run.report.totals.calls)
            .await
            .map_err(spend_unknown)?;
        let mut run = run;
        let notes = self
            .suggest(github, &target, pr, &run, &request.run, &day)
            .await?;
        run.report.notes.extend(notes);
        let verdict = CheckVerdict::of(&run.report, run.failed);
        post::post_report(github, &target, Some(&handle), &run.report, verdict, true)
            .await
            .map_err(|error| match error {
                post::PostError::GitHub(error) => github_failed(repo)(error),
                post::PostError::Report(source) => ServerError::Report {
                    repo: repo.clone(),
                    source,
                }
                .into(),
            })?;
        tracing::info!(
            %repo,
            number = %pr.number,
            head = %pr.head_sha.short(),
            verdict = verdict.as_str(),
            "gate posted"
        );
        Ok(())
    }
}

impl GateHandler {
    /// After a failed gate, when the base branch's `[suggest]` enables it:
    /// verified fixes posted as one-click suggestions (their cost counts
    /// toward the pull request's day). Returns the sticky comment's lines
    /// about them; a suggestion that cannot be made is a note.
    async fn suggest(
        &self,
        github: &dyn GitHubApi,
        target: &PullRequestTarget<'_>,
        pr: &PullRequest,
        run: &crate::flows::check::CheckRun,
        options: &RunOptions,
        day: &str,
    ) -> Result<Vec<String>, JobError> {
        if !run.failed {
            return Ok(Vec::new());
        }
        let repo = target.repo;
        let found = async {
            let sources =
                pull_request_sources(github, repo, &pr.base_sha, &pr.head_sha, self.work.limits)
                    .await
                    .map_err(|e| crate::flows::suggest::SuggestError::Sources(e.to_string()))?;
            crate::flows::suggest::suggest_in_pull_request(
                run,
                sources,
                &self.work.locations(repo),
                options,
            )
            .await
        };
        let suggestions = match found.await {
            Ok(suggestions) => suggestions,
            Err(error) => return Ok(vec![format!("no suggestion: {error}")]),
        };
        for suggestion in &suggestions {
            self.work
                .spend
                .add(repo, target.number, day, &suggestion.cost)
                .await
                .map_err(spend_unknown)?;
        }
        let mut notes: Vec<String> = suggestions
            .iter()
            .map(crate::pipeline::suggest::render::headline)
            .collect();
        notes.extend(
            post::post_suggestions(github, target, &suggestions)
                .await
                .map_err(github_failed(repo))?,
        );
        Ok(notes)
    }
}

/// The day's spending could not be read or written: retried, as any
/// database failure is.
fn spend_unknown(source: crate::edges::db::DatabaseError) -> JobError {
    ServerError::Database { source }.into()
}

/// `/promptgate rerun` runs only for users who may push to the repository.
async fn may_rerun(github: &dyn GitHubApi, repo: &RepoName, user: &str) -> Result<bool, JobError> {
    Ok(github
        .permission(repo, user)
        .await
        .map_err(github_failed(repo))?
        .can_write())
}
