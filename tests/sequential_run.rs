//! The sequential runner on the example repository (the `echo` provider, no
//! network): batches run through the real engine in a seeded order, the
//! result keeps the plan's case order, every call is accounted for, and a
//! suite the tests cannot decide runs to its end.

use std::path::Path;

use promptgate::edges::git::WorkingTree;
use promptgate::flows::evaluate::{Locations, RunOptions, engine};
use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::evaluation;
use promptgate::pipeline::evaluation::sequential::{
    BaselineSide, SequentialOptions, execute_sequential,
};
use promptgate::pipeline::spec::Workspace;

fn copy_example(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example");
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(&from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn batches_cover_the_suite_in_plan_order_when_nothing_is_decided() {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    let workspace = Workspace::load(Box::new(WorkingTree::new(dir.path()).unwrap())).unwrap();
    let prompt = workspace
        .prompts
        .iter()
        .max_by_key(|p| {
            evaluation::plan(p, &*workspace.files, &workspace.config)
                .map(|plan| plan.cases.len())
                .unwrap_or(0)
        })
        .unwrap();
    let plan = evaluation::plan(prompt, &*workspace.files, &workspace.config).unwrap();
    assert!(plan.cases.len() > 3, "a suite of several batches");
    let options = RunOptions::default();
    let engine = engine(
        &Locations::checkout(dir.path()),
        &workspace.config,
        &options,
    )
    .unwrap();
    let (baseline, _) = engine.execute(&plan).await.unwrap();

    // The same version against itself: every delta is 0, which a dozen
    // cases can never show to be within ±0.02, so no stop.
    let run = execute_sequential(
        &engine,
        &plan,
        BaselineSide::Known(&baseline),
        &GatePolicy::default(),
        &SequentialOptions {
            batch: 3,
            cached: &[],
            family: 1,
        },
    )
    .await
    .unwrap();
    assert!(run.complete());
    let ids = |cases: &promptgate::types::Cases| {
        cases.iter().map(|c| c.case_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&run.head.cases), ids(&baseline.cases));
    assert_eq!(run.head.fingerprint, plan.fingerprint);
    // Answers come from the provider or the cache the baseline filled.
    assert_eq!(
        (run.head_calls.made + run.head_calls.cached) as usize,
        plan.calls()
    );
}

/// A plan sent to the runner a few calls at a time (as a large one is, so
/// its calls never all exist at once), borrowed or consumed, gives every
/// case its own outputs and scores, in plan order, exactly as one batch does.
#[tokio::test]
async fn a_plan_executed_a_few_calls_at_a_time_keeps_each_case_its_own() {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path());
    let workspace = Workspace::load(Box::new(WorkingTree::new(dir.path()).unwrap())).unwrap();
    let prompt = workspace.prompts.first().unwrap();
    let mut plan = evaluation::plan(prompt, &*workspace.files, &workspace.config).unwrap();
    // Repeats make a case's calls span batches of 4.
    plan.prompt.repeats = 3;
    assert!(plan.calls() > 8, "a plan of several batches");
    let options = RunOptions {
        cache: promptgate::pipeline::runner::cache::CacheMode::Off,
        ..RunOptions::default()
    };
    let engine = || {
        engine(
            &Locations::checkout(dir.path()),
            &workspace.config,
            &options,
        )
        .unwrap()
    };
    let (at_once, _) = engine().execute(&plan).await.unwrap();
    let (batched, calls) = engine()
        .with_calls_per_batch(4)
        .execute(&plan)
        .await
        .unwrap();
    assert_eq!(calls.made as usize, plan.calls());
    let outputs = |result: &promptgate::types::EvalResult| {
        result
            .cases
            .iter()
            .map(|case| {
                let repeats: Vec<_> = case
                    .repeats
                    .iter()
                    .map(|r| (r.call.result.clone(), r.scores.clone()))
                    .collect();
                (case.case_id.clone(), case.vars.clone(), repeats)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(outputs(&batched), outputs(&at_once));
    // Consuming the plan (as `eval` does) gives the same result.
    let (owned, _) = engine()
        .with_calls_per_batch(4)
        .execute_owned(plan.clone())
        .await
        .unwrap();
    assert_eq!(outputs(&owned), outputs(&at_once));
    assert_eq!(owned.fingerprint, plan.fingerprint);
    // Each case's outputs are the echo of its own conversation.
    for (planned, case) in plan.cases.iter().zip(&batched.cases) {
        assert_eq!(case.case_id, planned.case.id);
        assert_eq!(case.repeats.len(), 3);
        let own = &planned.messages.last().unwrap().content;
        for repeat in &case.repeats {
            let output = repeat.call.result.as_ref().unwrap();
            assert!(output.ends_with(own.as_str()), "{}: {output}", case.case_id);
        }
    }
}
