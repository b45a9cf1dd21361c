//! What the attacks share: the example repository in git, a fork's change
//! on top of it, and the check run as the Action and the server run it.

use std::path::{Path, PathBuf};

use promptgate::flows::check::{CheckRequest, CheckRun, run_check};
use promptgate::flows::evaluate::RunOptions;

use crate::common::git;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The example on `main` (it answers through the echo provider, so a
/// check needs no key and no network).
pub use crate::common::example_repo;

/// Applies one of the example's edits (`harmless.patch`, `regression.patch`).
pub fn apply(repo: &Path, patch: &str) {
    let patch = fixtures().join("example-edits").join(patch);
    git(repo, &["apply", patch.to_str().unwrap()]);
}

/// Commits everything (ignored files too, as a fork can) on a `fork` branch.
pub fn commit_fork(repo: &Path, message: &str) -> String {
    let branch = git(repo, &["branch", "--show-current"]);
    if branch != "fork" {
        git(repo, &["checkout", "-qb", "fork"]);
    }
    git(repo, &["add", "-Af"]);
    git(repo, &["commit", "-qm", message, "--allow-empty"]);
    git(repo, &["rev-parse", "HEAD"])
}

/// Replaces `from` with `to` in a file of the repository (which must change).
pub fn edit(repo: &Path, file: &str, from: &str, to: &str) {
    let path = repo.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} holds no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The check of HEAD against `main` in the checkout, as the Action runs a
/// pull request: `untrusted` for a fork.
pub async fn check(repo: &Path, untrusted: bool) -> CheckRun {
    try_check(repo, untrusted)
        .await
        .unwrap_or_else(|e| panic!("the check could not run: {e}"))
}

pub async fn try_check(
    repo: &Path,
    untrusted: bool,
) -> Result<CheckRun, promptgate::flows::error::FlowError> {
    run_check(repo, &request(untrusted)).await
}

/// A check of `HEAD` against `main`, as a fork's (`untrusted`) or not.
pub fn request(untrusted: bool) -> CheckRequest {
    CheckRequest {
        base: Some("main".into()),
        head: Some("HEAD".into()),
        run: RunOptions {
            untrusted,
            progress: promptgate::pipeline::runner::ProgressMode::Hidden,
            ..RunOptions::default()
        },
        ..CheckRequest::default()
    }
}

/// The note that refused the run, with its estimate.
pub fn refusal(run: &CheckRun) -> &str {
    run.report
        .notes
        .iter()
        .find(|n| n.contains("nothing was run"))
        .unwrap_or_else(|| panic!("no refusal in {:?}", run.report.notes))
}

/// Provider calls a check made (head and baseline, judges included).
pub fn calls_made(run: &CheckRun) -> u64 {
    run.report.totals.calls.made
}
