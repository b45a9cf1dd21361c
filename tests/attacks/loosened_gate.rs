//! Hole 4: a fork loosens its own gate through its evaluators. On top of
//! a real regression, each variant passed where the unmodified change
//! fails. Untrusted, the base's criteria judge the head; the same change
//! from the repository itself (trusted) is the mutant that shows each
//! variant does loosen the gate.

use crate::support::{apply, check, commit_fork, edit, example_repo, try_check};

const PROMPT: &str = "prompts/support-bot.prompt.yml";

/// A loosening edit: its name, whether it also loosens a trusted gate
/// (the mutant that shows the edit matters), and the edit.
type Variant = (&'static str, bool, fn(&std::path::Path));

/// The loosening edits, each on its own copy of the regressed change.
fn variants() -> Vec<Variant> {
    vec![
        // The gate compares an existing prompt with its baseline, so a
        // threshold alone loosens nothing here; it still must not count.
        ("threshold to zero", false, |root| {
            edit(root, PROMPT, "threshold: 0.9", "threshold: 0.0")
        }),
        ("evaluator deleted", true, |root| {
            edit(
                root,
                PROMPT,
                "  - name: no refund promises\n    regex:\n      pattern: \"(?i)\\\\b(guarantee[ds]?|we will refund)\\\\b\"\n      negate: true\n    weight: 2\n    threshold: 0.9\n",
                "",
            )
        }),
        ("regex changed", true, |root| {
            edit(root, PROMPT, "we will refund", "never matches this")
        }),
        // Renamed, it has no baseline: only its own (zeroed) thresholds.
        ("prompt renamed", true, |root| {
            edit(root, PROMPT, "name: support-bot", "name: support-bot-v2");
            edit(root, PROMPT, "threshold: 0.9", "threshold: 0.0");
        }),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_is_judged_by_the_base_criteria() {
    let control = example_repo();
    apply(control.path(), "regression.patch");
    commit_fork(control.path(), "regress");
    assert!(
        check(control.path(), true).await.failed,
        "the control fails"
    );

    for (name, loosens_trusted, loosen) in variants() {
        let repo = example_repo();
        apply(repo.path(), "regression.patch");
        loosen(repo.path());
        commit_fork(repo.path(), name);
        let trusted = check(repo.path(), false).await;
        assert_eq!(!trusted.failed, loosens_trusted, "{name}: trusted");
        // A fresh checkout: the trusted run's store must not matter.
        std::fs::remove_dir_all(repo.path().join(".promptgate")).ok();
        let untrusted = check(repo.path(), true).await;
        assert!(untrusted.failed, "{name}: a fork loosened its own gate");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_cannot_switch_to_echo_the_base_never_routes() {
    let repo = example_repo();
    apply(repo.path(), "regression.patch");
    edit(
        repo.path(),
        PROMPT,
        "model: openai/gpt-4o-mini",
        "model: echo/pass",
    );
    commit_fork(repo.path(), "echo");
    assert!(
        try_check(repo.path(), false).await.is_ok(),
        "trusted: allowed"
    );
    let refused = try_check(repo.path(), true)
        .await
        .err()
        .expect("an untrusted echo model is refused");
    assert!(refused.to_string().contains("refused"), "{refused}");
}
