//! `promptgate check` stops calling the provider once a prompt is decided:
//! the example's support bot on a 400-case dataset, its shared snippet
//! edited to promise refunds, checked end to end with the real binary in a
//! real git repository (the `echo` provider, no network).

mod common;

use common::{example_repo, git, promptgate, write};
use serde_json::Value;

const CASES: usize = 400;

/// The example with `CASES` support questions, committed as the base.
fn big_suite() -> tempfile::TempDir {
    let repo = example_repo();
    let plans = ["Free", "Plus", "Pro", "Business"];
    let lines: Vec<String> = (0..CASES)
        .map(|i| {
            serde_json::json!({
                "id": format!("question-{i}"),
                "plan": plans[i % plans.len()],
                "question": format!("Question number {i}: how do I share folder {i}?"),
            })
            .to_string()
        })
        .collect();
    write(
        repo.path(),
        "datasets/support.jsonl",
        &(lines.join("\n") + "\n"),
    );
    git(repo.path(), &["commit", "-qam", "a big suite"]);
    git(repo.path(), &["branch", "-M", "main"]);
    // The head: the shared snippet now promises refunds.
    write(
        repo.path(),
        "snippets/tone.md",
        "Be warm. If anything goes wrong, we will refund the customer in full.\n\
         Sign off as \"Nimbus Support\".\n",
    );
    repo
}

fn check_json(repo: &std::path::Path) -> (i32, Value) {
    let (code, stdout, stderr) = promptgate(repo, &["check", "--base", "main", "--format", "json"]);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}); stderr:\n{stderr}\nstdout:\n{stdout}"));
    (code, report)
}

/// The support bot's part of the report.
fn support_bot(report: &Value) -> &Value {
    report["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "support-bot")
        .unwrap_or_else(|| panic!("support-bot in {report}"))
}

fn verdict<'a>(prompt: &'a Value, criterion: &str) -> &'a str {
    prompt["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == criterion)
        .unwrap_or_else(|| panic!("criterion {criterion} in {prompt}"))["verdict"]
        .as_str()
        .unwrap()
}

#[test]
fn a_clear_regression_is_decided_early_and_the_partial_run_is_never_stored() {
    let repo = big_suite();
    let (code, report) = check_json(repo.path());
    assert_eq!(code, 1, "a regression fails the check: {report}");
    let prompt = support_bot(&report);
    assert_eq!(verdict(prompt, "no refund promises"), "regressed");
    let sequential = &prompt["sequential"];
    assert_eq!(sequential["stopped_early"], true, "{sequential}");
    let decided_after = sequential["decided_after"].as_u64().unwrap() as usize;
    assert_eq!(sequential["cases"], CASES);
    assert!(decided_after < CASES / 4, "decided after {decided_after}");
    assert_eq!(prompt["cases"].as_array().unwrap().len(), decided_after);
    // Both sides were evaluated in batches (no stored baseline): each case
    // not run saves one head call and one baseline call.
    assert_eq!(
        sequential["calls_saved"].as_u64().unwrap() as usize,
        2 * (CASES - decided_after)
    );
    let calls = &prompt["calls"];
    assert_eq!(
        (calls["made"].as_u64().unwrap() + calls["cached"].as_u64().unwrap()) as usize,
        2 * decided_after
    );
    assert!(
        sequential["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("decided after {decided_after} of {CASES} cases")),
        "{sequential}"
    );

    // The terminal, markdown and JUnit reports say it too.
    let markdown = repo.path().join("report.md");
    let junit = repo.path().join("report.xml");
    let (_, stdout, _) = promptgate(
        repo.path(),
        &[
            "check",
            "--base",
            "main",
            "--markdown",
            markdown.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let said = format!("decided after {decided_after} of {CASES} cases");
    assert!(stdout.contains(&said), "{stdout}");
    let markdown = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        markdown.contains(&format!("Decided after {decided_after} of {CASES} cases")),
        "{markdown}"
    );
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains("name=\"gate.sequential\"") && junit.contains(&said),
        "{junit}"
    );

    // Again: had the partial head been stored as the fingerprint's result,
    // this run would reuse it instead of testing again.
    let (code, again) = check_json(repo.path());
    assert_eq!(code, 1);
    let again = support_bot(&again);
    assert_eq!(again["sequential"]["stopped_early"], true, "{again}");
    assert_eq!(again["sequential"]["decided_after"], decided_after);
}

#[test]
fn sequential_false_evaluates_every_case() {
    let repo = big_suite();
    let config = std::fs::read_to_string(repo.path().join("promptgate.toml")).unwrap();
    write(
        repo.path(),
        "promptgate.toml",
        &config.replace("[gate]\n", "[gate]\nsequential = false\n"),
    );
    let (code, report) = check_json(repo.path());
    assert_eq!(code, 1, "{report}");
    let prompt = support_bot(&report);
    assert!(prompt.get("sequential").is_none(), "{prompt}");
    assert_eq!(prompt["cases"].as_array().unwrap().len(), CASES);
    assert_eq!(verdict(prompt, "no refund promises"), "regressed");
}
