//! What a gate posts on a pull request: one sticky comment with the
//! score-delta report, and a check run (or commit status) with its
//! conclusion and annotations. The Action and the server both post through
//! here, so a reviewer sees the same thing whichever ran the gate.

use super::{
    CHECK_SUMMARY_MAX_CHARS, CheckHandle, CheckOutcome, Conclusion, GitHubApi, GitHubError,
};
use crate::pipeline::report::markdown::{self, MarkdownOptions};
use crate::pipeline::report::{CheckReport, ReportError, Status};
use crate::types::{CommitSha, PrNumber, RepoName};

/// The name of the check run (and of the commit status that stands in for it).
pub const CHECK_NAME: &str = "promptgate";

/// How a gate ended, as the Action's `verdict` output and the check's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    Pass,
    /// Passed the gate, with something that needs a look (inconclusive, warnings).
    Warn,
    Fail,
    /// Nothing was evaluated (e.g. a fork without credentials).
    Skipped,
}

impl CheckVerdict {
    pub fn of(report: &CheckReport, failed: bool) -> Self {
        match (failed, report.status()) {
            (true, _) | (_, Status::Fail) => Self::Fail,
            (false, Status::Warn) => Self::Warn,
            (false, Status::Pass) => Self::Pass,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skipped => "skipped",
        }
    }

    /// Something that needs a look but passes the gate is neutral.
    pub fn conclusion(self) -> Conclusion {
        match self {
            Self::Pass => Conclusion::Success,
            Self::Fail => Conclusion::Failure,
            Self::Warn | Self::Skipped => Conclusion::Neutral,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Where a gate's results go.
#[derive(Debug, Clone)]
pub struct PullRequestTarget<'a> {
    pub repo: &'a RepoName,
    pub number: PrNumber,
    pub head_sha: &'a CommitSha,
    /// Linked from the check run (the workflow run, or the server's page).
    pub details_url: Option<&'a str>,
    /// The folder of the repository the report's paths are relative to
    /// (`services/chat/`); empty at the root.
    pub path_prefix: &'a str,
}

/// Starts the check on the head commit (`in_progress`).
/// `external_id` names the work (the server's job), so that a retry of a
/// job killed mid-way takes over its check run instead of adding a second.
pub async fn start_check(
    github: &dyn GitHubApi,
    target: &PullRequestTarget<'_>,
    external_id: Option<&str>,
) -> Result<CheckHandle, GitHubError> {
    github
        .start_check(
            target.repo,
            CHECK_NAME,
            target.head_sha,
            target.details_url,
            external_id,
        )
        .await
}

/// Posts a finished gate: the sticky comment (when `comment`), then the
/// check's conclusion with the report as its summary and annotations.
pub async fn post_report(
    github: &dyn GitHubApi,
    target: &PullRequestTarget<'_>,
    handle: Option<&CheckHandle>,
    report: &CheckReport,
    verdict: CheckVerdict,
    comment: bool,
) -> Result<(), PostError> {
    if comment {
        let body = markdown::render(
            report,
            &MarkdownOptions {
                // The sticky-comment call adds the marker.
                marker: false,
                ..MarkdownOptions::comment()
            },
        )?;
        github
            .upsert_sticky_comment(target.repo, target.number, &body)
            .await?;
    }
    if let Some(handle) = handle {
        let summary = markdown::render(
            report,
            &MarkdownOptions {
                marker: false,
                max_bytes: CHECK_SUMMARY_MAX_CHARS,
            },
        )?;
        let outcome = CheckOutcome {
            conclusion: verdict.conclusion(),
            title: report.headline(),
            summary,
            annotations: super::annotations::in_folder(
                super::annotations::annotations(report),
                target.path_prefix,
            ),
            details_url: target.details_url.map(str::to_owned),
        };
        github.finish_check(target.repo, handle, &outcome).await?;
    }
    Ok(())
}

/// Completes a started check as failed because the gate could not run;
/// `why` (which quotes the pull request's files) is shown in a code block
/// it cannot close, neutralised as the comment is. A failure to post is logged, not
/// returned: the caller is already reporting the first error.
pub async fn post_could_not_run(
    github: &dyn GitHubApi,
    target: &PullRequestTarget<'_>,
    handle: &CheckHandle,
    why: &str,
) {
    let outcome = CheckOutcome {
        conclusion: Conclusion::Failure,
        title: "promptgate could not run".into(),
        summary: crate::pipeline::report::escape::code_block(why, ""),
        annotations: Vec::new(),
        details_url: target.details_url.map(str::to_owned),
    };
    if let Err(also) = github.finish_check(target.repo, handle, &outcome).await {
        tracing::warn!("{also}");
    }
}

/// The hidden marker of promptgate's suggestion comment for one prompt's
/// file: a hash, so a name from the pull request cannot end the comment.
fn suggestion_marker(prompt: &str, path: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{prompt}\n{path}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("<!-- promptgate:suggestion:{hex} -->")
}

/// A suggestion comment's body: the marker is its first line, so the
/// suggested text below — written into the block unescaped, since it is
/// what the reviewer applies — can never stand for it.
fn with_first_line_marker(marker: &str, body: &str) -> String {
    format!("{marker}\n{body}")
}

/// Whether `body` is the comment `marker` marks: only its first line is read.
fn marked_by(body: &str, marker: &str) -> bool {
    body.split('\n').next() == Some(marker)
}

/// Posts each verified suggestion as a review comment with a
/// ```` ```suggestion ```` block on the exact lines of its file, one per
/// prompt and file per head commit: a comment of ours with the marker on
/// the same commit is updated, never repeated. Returns one note per
/// suggestion that could not be posted (e.g. lines outside the pull
/// request's diff, which GitHub refuses with 422).
pub async fn post_suggestions(
    github: &dyn GitHubApi,
    target: &PullRequestTarget<'_>,
    suggestions: &[crate::pipeline::suggest::PromptSuggestion],
) -> Result<Vec<String>, GitHubError> {
    use crate::pipeline::suggest::render;
    let found: Vec<_> = suggestions
        .iter()
        .filter_map(|s| s.verified().map(|v| (s, v)))
        .collect();
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let me = github.own_login().await?;
    let existing = github.review_comments(target.repo, target.number).await?;
    let mut notes = Vec::new();
    for (suggestion, verified) in found {
        for file in &verified.files {
            let path = format!("{}{}", target.path_prefix, file.path);
            let marker = suggestion_marker(&suggestion.prompt, &path);
            let body = with_first_line_marker(
                &marker,
                &render::review_comment(suggestion, verified, file),
            );
            let lines = &file.lines;
            // Cutting the comment would change the text it applies.
            if body.chars().count() > super::COMMENT_BODY_MAX_CHARS {
                notes.push(format!(
                    "{}: the verified suggestion for {path} lines {}–{} is longer than GitHub \
                     allows in a comment; run `promptgate suggest {}` to see it",
                    suggestion.prompt, lines.start_line, lines.end_line, suggestion.prompt
                ));
                continue;
            }
            let ours = existing.iter().find(|c| {
                c.author.eq_ignore_ascii_case(&me)
                    && marked_by(&c.body, &marker)
                    && c.commit_id == target.head_sha.0
            });
            if let Some(comment) = ours {
                if comment.body != body {
                    github
                        .update_review_comment(target.repo, comment.id, &body)
                        .await?;
                }
                continue;
            }
            let comment = super::NewReviewComment {
                commit_id: target.head_sha,
                path: &path,
                start_line: (lines.start_line < lines.end_line).then_some(lines.start_line),
                line: lines.end_line,
                body: &body,
            };
            match github
                .create_review_comment(target.repo, target.number, &comment)
                .await
            {
                Ok(_) => {}
                Err(error) if error.status() == Some(422) => notes.push(format!(
                    "{}: the verified suggestion for {path} lines {}–{} could not be posted on \
                     those lines (GitHub accepts suggestions only on lines of the pull \
                     request's diff); run `promptgate suggest {}` to see it",
                    suggestion.prompt, lines.start_line, lines.end_line, suggestion.prompt
                )),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::suggest::render::tests::hostile_line;
    use crate::pipeline::suggest::render::{suggested_lines, suggestion_block};
    use proptest::prelude::*;

    proptest! {
        /// Whatever a candidate's lines hold — our markers included — the
        /// comment applies exactly them, and among our suggestion comments
        /// only the one for this prompt's file is taken for it.
        #[test]
        fn a_suggestion_applies_its_text_and_is_found_once(
            mut lines in prop::collection::vec(hostile_line(), 0..6),
            spoof_at in 0usize..6,
        ) {
            let marker = suggestion_marker("support-bot", "prompts/support-bot.prompt.yml");
            lines.insert(spoof_at.min(lines.len()), marker.clone());
            let block = suggestion_block(&lines);
            let body = with_first_line_marker(&marker, &format!("**verified**\n\n{block}\n"));
            prop_assert_eq!(suggested_lines(&body), Some(lines.clone()));
            // Our comments on other files, whose suggested text carries
            // this comment's marker.
            let others: Vec<String> = [
                ("support-bot", "snippets/tone.md"),
                ("summarize", "prompts/support-bot.prompt.yml"),
            ]
            .iter()
            .map(|(prompt, path)| {
                with_first_line_marker(&suggestion_marker(prompt, path), &format!("{block}\n"))
            })
            .collect();
            let found = std::iter::once(&body)
                .chain(&others)
                .filter(|b| marked_by(b, &marker))
                .count();
            prop_assert_eq!(found, 1);
        }
    }
}
