//! The sequential runner on the example repository (the `echo` provider, no
//! network): batches run through the real engine in a seeded order, the
//! result keeps the plan's case order, every call is accounted for, and a
//! suite the tests cannot decide runs to its end.

use std::path::Path;

use promptgate::edges::git::WorkingTree;
use promptgate::flows::evaluate::{self, Locations, RunOptions, engine};
use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::evaluation::sequential::{
    BaselineSide, SequentialOptions, execute_sequential,
};
use promptgate::pipeline::evaluation::{self, Engine};
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
    let engine = checkout_engine(dir.path(), &workspace);
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
    // Rendering the cases again a chunk at a time as they run (as `eval`
    // does) gives the same result under the same fingerprint.
    let streamed_plan =
        evaluation::plan_streamed(&plan.prompt, &*workspace.files, &workspace.config).unwrap();
    let whole = evaluation::plan(&plan.prompt, &*workspace.files, &workspace.config).unwrap();
    assert_eq!(streamed_plan.fingerprint, whole.fingerprint);
    assert_eq!(streamed_plan.cases, plan.cases.len());
    let (streamed, _) = engine()
        .with_calls_per_batch(4)
        .execute_streamed(&streamed_plan, evaluation::PlanFiles::of(&*workspace.files))
        .await
        .unwrap();
    assert_eq!(outputs(&streamed), outputs(&at_once));
    assert_eq!(streamed.fingerprint, whole.fingerprint);
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

/// A streamed plan reads its cases twice: to plan and fingerprint them,
/// then a chunk at a time as they run. When the files change in between,
/// the run fails rather than store its result under the plan's fingerprint.
#[tokio::test]
async fn a_dataset_edited_during_a_streamed_run_fails_it_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_echo_prompt(root, "any", "");
    let data = |last: &str| {
        let mut lines: Vec<String> = (0..9)
            .map(|i| format!("{{\"id\": \"c{i}\", \"q\": \"question {i}\"}}"))
            .collect();
        lines.push(format!("{{\"id\": \"c9\", \"q\": \"{last}\"}}"));
        lines.join("\n")
    };
    std::fs::write(root.join("data.jsonl"), data("as planned")).unwrap();
    let workspace = Workspace::load(Box::new(WorkingTree::new(root).unwrap())).unwrap();
    let prompt = workspace.prompts.first().unwrap();
    let plan = evaluation::plan_streamed(prompt, &*workspace.files, &workspace.config).unwrap();
    assert_eq!(plan.cases, 10);
    let locations = Locations::checkout(root);
    let engine = engine(&locations, &workspace.config, &RunOptions::default())
        .unwrap()
        .with_calls_per_batch(3);
    let store = locations.store(&workspace.config);
    let evaluate = || {
        evaluate::stored_or_evaluated(
            &engine,
            &store,
            (&plan, evaluation::PlanFiles::of(&*workspace.files)),
            promptgate::pipeline::runner::cache::CacheMode::ReadWrite,
        )
    };

    // The last chunk's case changes after planning.
    std::fs::write(root.join("data.jsonl"), data("edited meanwhile")).unwrap();
    let error = evaluate().await.unwrap_err();
    assert!(
        error.to_string().contains("changed while it was evaluated"),
        "{error}"
    );
    assert!(store.load(&plan.fingerprint).unwrap().is_none());

    // As planned, it runs and is stored.
    std::fs::write(root.join("data.jsonl"), data("as planned")).unwrap();
    let (result, _, from_store) = evaluate().await.unwrap();
    assert!(!from_store);
    assert_eq!(result.cases.len(), 10);
    assert_eq!(store.load(&plan.fingerprint).unwrap(), Some(result));
}

/// A suite larger than a result keeps in memory: its cases go to their own
/// file as they are scored, and the stored result, its reading back and the
/// JSON report hold every case, in order, exactly once.
#[tokio::test]
async fn an_evaluation_larger_than_memory_holds_keeps_every_case_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let total = promptgate::types::cases::SPILL_AFTER + 37;
    let workspace = write_echo_suite(root, ("seven", "7"), total);
    let locations = Locations::checkout(root);
    let evaluations =
        evaluate::evaluate_workspace(&workspace, &[], &RunOptions::default(), &locations)
            .await
            .unwrap();
    let result = &evaluations.evaluated[0].result;
    assert!(result.cases.on_disk());
    let expected_ids: Vec<String> = (0..total).map(|i| format!("c{i}")).collect();
    let ids = |result: &promptgate::types::EvalResult| -> Vec<String> {
        result.cases.iter().map(|c| c.case_id.clone()).collect()
    };
    assert_eq!(ids(result), expected_ids);
    // Each case has its own echo, scored on its own.
    for case in &result.cases {
        let output = case.repeats[0].call.result.as_ref().unwrap();
        let number = case.case_id.trim_start_matches('c');
        assert!(output.ends_with(&format!("question {number}")), "{output}");
        let passed = case.repeats[0].scores[0].score.as_ref().unwrap().value == 1.0;
        assert_eq!(passed, number.contains('7'), "{}", case.case_id);
    }
    let stored = locations
        .store(&workspace.config)
        .load(&result.fingerprint)
        .unwrap()
        .expect("stored");
    assert!(stored.cases.on_disk());
    assert_eq!(&stored, result);

    let report = evaluations.into_report(0);
    let json: serde_json::Value =
        serde_json::from_str(&promptgate::pipeline::report::json::render(&report).unwrap())
            .unwrap();
    let reported: Vec<&str> = json["prompts"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(reported, expected_ids);
}

/// An echo prompt reading `data.jsonl`, with one criterion: the output
/// contains `text`.
/// [`write_echo_prompt`] with `cases` cases `c0`, `c1`, … (`q`: "question
/// i"), loaded.
fn write_echo_suite(root: &Path, (criterion, text): (&str, &str), cases: usize) -> Workspace {
    write_echo_prompt(root, criterion, text);
    let data: String = (0..cases)
        .map(|i| format!("{{\"id\": \"c{i}\", \"q\": \"question {i}\"}}\n"))
        .collect();
    std::fs::write(root.join("data.jsonl"), data).unwrap();
    Workspace::load(Box::new(WorkingTree::new(root).unwrap())).unwrap()
}

/// An engine for the workspace checked out at `root`, with default options.
fn checkout_engine(root: &Path, workspace: &Workspace) -> Engine {
    engine(
        &Locations::checkout(root),
        &workspace.config,
        &RunOptions::default(),
    )
    .unwrap()
}

fn write_echo_prompt(root: &Path, criterion: &str, text: &str) {
    std::fs::write(
        root.join("p.prompt.yml"),
        format!(
            "name: p\nmodel: echo/echo\nmessages:\n  - role: user\n    content: \"{{{{q}}}}\"\n\
             dataset: data.jsonl\nevaluators:\n  - name: {criterion}\n    string:\n      contains: \"{text}\"\n"
        ),
    )
    .unwrap();
}

/// A sequential run reads its cases in a shuffled order. A large suite's
/// cases are filed once and rendered as each batch asks for them: any
/// batch is exactly the plan's cases at those places, and the filed
/// reading is checked against the plan's (an edit in between fails it).
#[tokio::test]
async fn a_filed_plan_gives_any_batch_as_the_plan_does_and_refuses_an_edited_dataset() {
    use promptgate::pipeline::evaluation::filed::{PlanBatches, file_sides};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_echo_prompt(root, "any", "");
    let data = |last: &str| {
        (0..40)
            .map(|i| {
                let q = if i == 39 {
                    last.to_owned()
                } else {
                    format!("question {i}")
                };
                format!("{{\"id\": \"c{i}\", \"q\": \"{q}\"}}\n")
            })
            .collect::<String>()
    };
    std::fs::write(root.join("data.jsonl"), data("as planned")).unwrap();
    let workspace = Workspace::load(Box::new(WorkingTree::new(root).unwrap())).unwrap();
    let prompt = workspace.prompts.first().unwrap();
    let files = evaluation::PlanFiles::of(&*workspace.files);
    let streamed = evaluation::plan_streamed(prompt, &*workspace.files, &workspace.config).unwrap();
    let whole = evaluation::plan(prompt, &*workspace.files, &workspace.config).unwrap();
    let engine = checkout_engine(root, &workspace);

    let filed = file_sides(&engine, (&streamed, files), Some((&streamed, files))).unwrap();
    assert_eq!(filed.head.len(), 40);
    assert_eq!(filed.cached, vec![false; 40], "nothing ran yet");
    let baseline = filed.baseline.as_ref().expect("filed when asked for");
    for batch in [vec![39, 0, 17], vec![5], (0..40).rev().collect(), vec![]] {
        let at = |plan: &evaluation::EvaluationPlan| {
            plan.cases
                .iter()
                .map(|c| (c.case.clone(), c.messages.clone()))
                .collect::<Vec<_>>()
        };
        let expected = at(&whole.batch(&batch).unwrap());
        assert_eq!(at(&filed.head.batch(&batch).unwrap()), expected);
        assert_eq!(at(&baseline.batch(&batch).unwrap()), expected);
    }
    assert_eq!(filed.head.header().fingerprint, whole.fingerprint);

    // A second reading does not check ids again (the plan's did); an edit
    // that repeats one is still an edit, found by comparing the readings.
    let repeated_id = data("as planned").replace("\"c39\"", "\"c0\"");
    for edited in [data("edited meanwhile"), repeated_id] {
        std::fs::write(root.join("data.jsonl"), edited).unwrap();
        let error = file_sides(&engine, (&streamed, files), None).err().unwrap();
        assert!(
            error.to_string().contains("changed while it was evaluated"),
            "{error}"
        );
    }
}

/// A sequential run past the size a result keeps in memory: both sides'
/// cases come back in a shuffled order, go to their temporary files as they
/// come, and end in the plan's order, each case with its own output.
#[tokio::test]
async fn a_sequential_run_larger_than_memory_holds_keeps_each_side_in_plan_order() {
    use promptgate::pipeline::evaluation::filed::file_sides;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cases = promptgate::types::cases::SPILL_AFTER + 104;
    let workspace = write_echo_suite(root, ("any", ""), cases);
    let prompt = workspace.prompts.first().unwrap();
    let files = evaluation::PlanFiles::of(&*workspace.files);
    let plan = evaluation::plan_streamed(prompt, &*workspace.files, &workspace.config).unwrap();
    let engine = checkout_engine(root, &workspace);
    let filed = file_sides(&engine, (&plan, files), Some((&plan, files))).unwrap();
    // Every delta is 0 and the tolerance is 0: no test can ever decide.
    let policy = GatePolicy {
        tolerance: 0.0,
        ..GatePolicy::default()
    };
    let run = execute_sequential(
        &engine,
        &filed.head,
        BaselineSide::Evaluate(filed.baseline.as_ref().unwrap()),
        &policy,
        &SequentialOptions {
            batch: 700,
            cached: &filed.cached,
            family: 1,
        },
    )
    .await
    .unwrap();
    assert!(run.complete());
    let (baseline, _) = run.baseline.as_ref().unwrap();
    let expected: Vec<String> = (0..cases).map(|i| format!("c{i}")).collect();
    for side in [&run.head, baseline] {
        assert!(side.cases.on_disk(), "past the size kept in memory");
        assert_eq!(side.fingerprint, plan.fingerprint);
        let ids: Vec<String> = side.cases.iter().map(|c| c.case_id.clone()).collect();
        assert_eq!(ids, expected, "the plan's order");
        for case in side.cases.iter() {
            let own = case.case_id.trim_start_matches('c');
            let output = case.repeats[0].call.result.as_ref().unwrap();
            assert!(output.ends_with(&format!("question {own}")), "{output}");
        }
    }
}

/// Filing asks the response cache about the head's cases a chunk at a
/// time: a case counts as cached exactly when every one of its repeats is.
#[tokio::test]
async fn filing_counts_a_case_cached_when_the_cache_answers_every_repeat() {
    use promptgate::pipeline::evaluation::filed::file_sides;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let suite = |cases: usize, repeats: u32| {
        write_echo_prompt(root, "any", "");
        let prompt = std::fs::read_to_string(root.join("p.prompt.yml")).unwrap();
        std::fs::write(
            root.join("p.prompt.yml"),
            format!("{prompt}repeats: {repeats}\n"),
        )
        .unwrap();
        let data: String = (0..cases)
            .map(|i| format!("{{\"id\": \"c{i}\", \"q\": \"question {i}\"}}\n"))
            .collect();
        std::fs::write(root.join("data.jsonl"), data).unwrap();
        Workspace::load(Box::new(WorkingTree::new(root).unwrap())).unwrap()
    };
    let run = |workspace: Workspace| async move {
        let engine = checkout_engine(root, &workspace);
        let prompt = workspace.prompts.first().unwrap();
        let plan = evaluation::plan(prompt, &*workspace.files, &workspace.config).unwrap();
        engine.execute(&plan).await.unwrap();
    };
    // Cases 0–4 ran with both repeats; cases 5–9 with their first only.
    run(suite(5, 2)).await;
    run(suite(10, 1)).await;

    let workspace = suite(40, 2);
    let prompt = workspace.prompts.first().unwrap();
    let plan = evaluation::plan_streamed(prompt, &*workspace.files, &workspace.config).unwrap();
    let files = evaluation::PlanFiles::of(&*workspace.files);
    let engine = checkout_engine(root, &workspace);
    let filed = file_sides(&engine, (&plan, files), None).unwrap();
    let expected: Vec<bool> = (0..40).map(|i| i < 5).collect();
    assert_eq!(filed.cached, expected);
}
