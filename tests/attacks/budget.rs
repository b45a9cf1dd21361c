//! Hole 3: no budget, so a fork could spend the base's key (100,000 rows
//! × 10 repeats: 4,357 calls in 30 s before anyone noticed) and ask for
//! 10⁹ calls, planned in memory before the first. A run over its budget is
//! refused with the estimate, before any call, without planning the cases.

use std::fmt::Write as _;

use promptgate::pipeline::report::markdown;

use crate::support::{calls_made, check, commit_fork, edit, example_repo, refusal};

const PROMPT: &str = "prompts/support-bot.prompt.yml";

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_over_the_budget_is_refused_before_any_call() {
    let repo = example_repo();
    let root = repo.path();
    let mut rows = String::new();
    for i in 0..100_000 {
        writeln!(
            rows,
            r#"{{"id": "r{i}", "plan": "free", "question": "q{i}"}}"#
        )
        .unwrap();
    }
    std::fs::write(root.join("datasets/support.jsonl"), rows).unwrap();
    edit(root, PROMPT, "repeats: 1", "repeats: 10000");
    commit_fork(root, "a billion calls");

    let started = std::time::Instant::now();
    let run = check(root, true).await;
    assert!(run.failed, "refused is not passed");
    assert_eq!(calls_made(&run), 0, "nothing was called");
    let refusal = refusal(&run);
    assert!(refusal.contains("000000 calls"), "the estimate: {refusal}");
    assert!(refusal.contains("max_calls 2000"), "{refusal}");
    // The comment (and the check run, which shows the same report) says so.
    let comment = markdown::render_comment(&run.report).unwrap();
    assert!(comment.contains("nothing was run"), "{comment}");
    // Counted, not planned: a few seconds even in a debug build.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_base_budget_binds_a_trusted_change_too() {
    let repo = example_repo();
    let root = repo.path();
    let config = root.join("promptgate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[budget]\nmax_calls = 20\n")).unwrap();
    crate::common::git(root, &["commit", "-qam", "budget"]);
    crate::support::apply(root, "regression.patch");
    commit_fork(root, "regress");
    // 15 cases, head and baseline: 30 calls, over 20.
    let run = check(root, false).await;
    assert!(run.failed);
    assert_eq!(calls_made(&run), 0);
    assert!(
        run.report
            .notes
            .iter()
            .any(|n| n.contains("30 calls > max_calls 20")),
        "{:?}",
        run.report.notes
    );
}

/// On the server a pull request's pushes add up: what it spent today plus
/// what this run would spend must fit `[budget.pull_request_per_day]` (for
/// a fork whose base sets none, the untrusted daily default, 10,000 calls).
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_over_its_daily_budget_is_refused() {
    use promptgate::flows::check::{CheckRequest, run_check};
    use promptgate::pipeline::budget::Spending;

    let repo = example_repo();
    let root = repo.path();
    crate::support::apply(root, "regression.patch");
    commit_fork(root, "regress");
    let request = |calls: u64| CheckRequest {
        spent_today: Some(Spending {
            calls,
            ..Spending::default()
        }),
        ..crate::support::request(true)
    };
    // 15 cases, head and baseline: 30 calls on top of 9,990 already spent.
    let run = run_check(root, &request(9_990)).await.unwrap();
    assert!(run.failed);
    assert_eq!(calls_made(&run), 0);
    let refusal = refusal(&run);
    assert!(refusal.contains("spent 9990 calls"), "{refusal}");
    assert!(refusal.contains("pull_request_per_day"), "{refusal}");

    // The same change with room left today runs.
    let run = run_check(root, &request(100)).await.unwrap();
    assert!(calls_made(&run) > 0, "{:?}", run.report.notes);
}
