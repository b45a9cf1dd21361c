//! Hole 1: a fork forges its own result. It commits
//! `.promptgate/results/<fingerprint>.json` holding good scores under the
//! fingerprint of its regressed head; a run that reads the checkout's
//! store then never evaluates the head.

use promptgate::edges::store::ResultStore;

use crate::support::{apply, calls_made, check, commit_fork, example_repo};

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_cannot_pass_with_a_result_it_committed_itself() {
    let repo = example_repo();
    let root = repo.path();
    apply(root, "regression.patch");
    commit_fork(root, "regress");
    // The honest run fails; it leaves the head's result and the baseline
    // in the checkout's store.
    let honest = check(root, true).await;
    assert!(honest.failed, "the regression fails");
    let head = honest.head_results[0].clone();
    let baseline = honest.report.prompts[0].baseline.clone().unwrap();

    // The forgery: the baseline's good scores filed as the head's result.
    let store = ResultStore::new(&root.join(".promptgate"));
    let forged = promptgate::types::EvalResult {
        fingerprint: head.fingerprint.clone(),
        version: head.version.clone(),
        ..baseline
    };
    store.save(&forged).unwrap();
    commit_fork(root, "add a friendly result");

    // The weakened variant (a run that reads the checkout's store, as a
    // trusted run does) is fooled: nothing of the head is evaluated.
    let fooled = check(root, false).await;
    assert!(!fooled.failed, "the forgery works on a run that reads it");

    // An untrusted run evaluates both sides itself and fails.
    let run = check(root, true).await;
    assert!(run.failed, "{:?}", run.report.notes);
    assert_eq!(
        calls_made(&run),
        calls_made(&honest),
        "{:?}",
        run.report.totals
    );
    assert!(
        run.report.notes.iter().any(|n| n.contains("not read")),
        "{:?}",
        run.report.notes
    );
}
