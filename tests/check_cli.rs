//! `promptgate check`, `eval` and `baseline` end to end: the real binary on
//! a real git repository made from `fixtures/example`, with the edits the
//! example ships (a harmless one, one that regresses a criterion).

mod common;
#[path = "support/llm_katan.rs"]
mod llm_katan;

use std::path::{Path, PathBuf};

use common::{git, promptgate, write};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A git repository holding the example, committed on `main`.
fn example_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("example"), dir.path());
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "base"]);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn apply(repo: &Path, patch: &str) {
    let patch = fixtures().join("example-edits").join(patch);
    git(repo, &["apply", patch.to_str().unwrap()]);
}

#[test]
fn a_harmless_edit_passes_and_a_regression_fails_with_a_clear_table() {
    let repo = example_repo();
    apply(repo.path(), "harmless.patch");
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 0, "harmless edit: {stdout}\n{stderr}");
    assert!(stdout.contains("support-bot"), "{stdout}");
    assert!(stdout.contains("affected: file changed"), "{stdout}");
    assert!(!stdout.contains("regressed"), "{stdout}");

    git(repo.path(), &["checkout", "-q", "--", "."]);
    apply(repo.path(), "regression.patch");
    let out = repo.path().join("out");
    let (code, stdout, stderr) = promptgate(
        repo.path(),
        &[
            "check",
            "--base",
            "main",
            "--junit",
            out.join("junit.xml").to_str().unwrap(),
            "--json",
            out.join("report.json").to_str().unwrap(),
            "--markdown",
            out.join("comment.md").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "regression: {stdout}\n{stderr}");
    // The snippet changed, not the prompt file: found through the include.
    assert!(
        stdout.contains("snippet snippets/tone.md changed"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("no refund promises"))
        .unwrap_or_else(|| panic!("no row for the criterion:\n{stdout}"));
    assert!(row.contains("1.00") && row.contains("0.00"), "{row}");
    assert!(row.contains("regressed"), "{row}");
    // The baseline was evaluated once, by the first check, and reused.
    assert!(stdout.contains("baseline: local store"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("../schemas/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    assert!(
        problems.is_empty(),
        "JSON report vs its schema: {problems:#?}"
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    let comment = std::fs::read_to_string(out.join("comment.md")).unwrap();
    assert!(comment.contains("<!-- promptgate:comment -->"), "{comment}");
    assert!(comment.contains("no refund promises"), "{comment}");
}

#[test]
fn a_second_check_of_the_same_change_calls_nothing() {
    let repo = example_repo();
    apply(repo.path(), "regression.patch");
    let (first, stdout, _) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(first, 1, "{stdout}");
    assert!(
        stdout.contains("30 made"),
        "baseline and head, 15 cases each:\n{stdout}"
    );
    let (second, stdout, _) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(second, 1, "{stdout}");
    assert!(stdout.contains("calls: 0 made"), "{stdout}");
}

/// DESIGN.md: a check finds its baseline in the local store, then in the
/// registry (the results the merge published), and only then evaluates the
/// base. A fresh clone has an empty store; the merge published to the
/// registry branch, so the base must not be evaluated again.
#[test]
fn a_fresh_clone_takes_its_baseline_from_the_registry_the_merge_published() {
    let upstream = example_repo();
    let config = upstream.path().join("promptgate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "judge = ",
            "registry = \"git+branch://promptgate-registry\"\njudge = ",
            1,
        ),
    )
    .unwrap();
    git(
        upstream.path(),
        &["commit", "-qam", "publish to the registry branch"],
    );
    let (code, stdout, stderr) = promptgate(upstream.path(), &["publish", "support-bot"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let clone = tempfile::tempdir().unwrap();
    let from = upstream.path().to_str().unwrap();
    git(clone.path(), &["clone", "-q", from, "repo"]);
    let repo = clone.path().join("repo");
    assert!(
        !repo.join(".promptgate").exists(),
        "a fresh clone has no store"
    );
    apply(&repo, "harmless.patch");
    let (code, stdout, stderr) =
        promptgate(&repo, &["check", "--base", "main", "--format", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let prompt = &report["prompts"][0];
    assert_eq!(prompt["name"], "support-bot");
    assert_eq!(prompt["baseline_source"], "registry", "{stdout}");
    // Only the head was evaluated: one call per case, none for the base.
    let cases = prompt["criteria"][0]["cases"].as_u64().unwrap();
    assert_eq!(prompt["calls"]["made"].as_u64(), Some(cases), "{stdout}");
}

#[test]
fn nothing_changed_means_nothing_evaluated() {
    let repo = example_repo();
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("4 unaffected"), "{stdout}");
}

#[test]
fn a_broken_prompt_is_exit_2_naming_file_and_line() {
    let repo = example_repo();
    let path = repo.path().join("prompts/support-bot.prompt.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("role: user", "role: customer");
    std::fs::write(&path, text).unwrap();
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("prompts/support-bot.prompt.yml:") && stderr.contains("customer"),
        "{stderr}"
    );
}

#[test]
fn a_variable_the_case_lacks_is_an_error_naming_it() {
    let repo = example_repo();
    let path = repo.path().join("prompts/support-bot.prompt.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{ question }}", "{{ question }} ({{ ticket_id }})");
    std::fs::write(&path, text).unwrap();
    let (code, _, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("ticket_id"), "{stderr}");
}

#[test]
fn eval_and_baseline_store_results_that_check_reuses() {
    let repo = example_repo();
    let (code, stdout, _) = promptgate(repo.path(), &["baseline", "support-bot"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("support-bot") && stdout.contains("stored"),
        "{stdout}"
    );
    let (code, stdout, _) = promptgate(repo.path(), &["baseline", "support-bot"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("already stored"), "{stdout}");

    let (code, stdout, stderr) = promptgate(
        repo.path(),
        &["eval", "prompts/support-bot.prompt.yml", "--format", "json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["prompts"].as_array().map(Vec::len),
        Some(1),
        "{stdout}"
    );

    let (code, stdout, _) = promptgate(repo.path(), &["eval", "--estimate"]);
    assert_eq!(code, 0, "{stdout}");
    // support-bot's calls are in the response cache; the other prompts'
    // are not: "<n> calls (<cached> cached, <to make> to make)".
    let counts: Vec<u64> = stdout
        .split(['(', ',', ')'])
        .take(3)
        .filter_map(|part| part.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        matches!(counts[..], [all, cached, to_make] if cached > 0 && to_make > 0 && cached + to_make == all),
        "{stdout}"
    );

    let (code, _, stderr) = promptgate(repo.path(), &["eval", "no-such-prompt"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no prompt named `no-such-prompt`"),
        "{stderr}"
    );
}

/// The example, committed with `openai/…` routed to llm-katan (key in
/// `KATAN_KEY`) and `max_retries` retries per call.
fn example_on_katan(server: &llm_katan::LlmKatan, max_retries: u32) -> tempfile::TempDir {
    let repo = example_repo();
    let config = std::fs::read_to_string(repo.path().join("promptgate.toml"))
        .unwrap()
        .replace(
            "[providers.openai]\nkind = \"echo\"",
            &format!(
                "[providers.openai]\nkind = \"openai-compatible\"\nbase_url = \"{}/v1\"\napi_key_env = \"KATAN_KEY\"\nmax_retries = {max_retries}",
                server.base_url()
            ),
        );
    write(repo.path(), "promptgate.toml", &config);
    git(repo.path(), &["commit", "-qam", "route to llm-katan"]);
    repo
}

/// The same check against a real HTTP server speaking the OpenAI wire
/// format (llm-katan's echo backend), with failures injected: every call
/// that fails is retried, and the verdicts match the clean run.
#[test]
fn check_against_an_openai_compatible_server_survives_injected_errors() {
    let Some(server) = llm_katan::start(&["--error-rate", "0.3"]) else {
        return;
    };
    let repo = example_on_katan(&server, 8);
    apply(repo.path(), "harmless.patch");
    let (code, stdout, stderr) = common::promptgate_with(
        repo.path(),
        &["check", "--base", "main"],
        &[("KATAN_KEY", "sk-test-not-a-secret")],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("0 failed"),
        "every injected error was retried:\n{stdout}"
    );
    assert!(
        !stdout.contains("sk-test"),
        "the key never shows:\n{stdout}"
    );
    assert!(!stdout.contains("NOT A MODEL"), "{stdout}");
}

/// `github_models = true` sends GitHub Models ids to GitHub Models: the key
/// it needs is `GITHUB_TOKEN`, named (once) before any call is made.
#[test]
fn github_models_routing_names_its_key_before_any_call() {
    let repo = example_repo();
    write(
        repo.path(),
        "promptgate.toml",
        "prompts = [\"prompts/**/*.prompt.yml\"]\ngithub_models = true\n",
    );
    let (code, _, stderr) = common::promptgate_with(
        repo.path(),
        &["eval", "Text Summarizer"],
        &[("GITHUB_TOKEN", "")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("GITHUB_TOKEN"), "{stderr}");
    assert_eq!(
        stderr.matches("GITHUB_TOKEN").count(),
        1,
        "said once: {stderr}"
    );
    let (code, stdout, stderr) = common::promptgate_with(
        repo.path(),
        &["eval", "Text Summarizer", "--estimate"],
        &[("GITHUB_TOKEN", "ghs_test_token_not_real")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("10 calls"), "{stdout}");
    assert!(!stdout.contains("ghs_test") && !stderr.contains("ghs_test"));
}

/// A run whose calls failed could not evaluate: it never exits 0, in
/// `eval` (no baseline) or in `check` (the failed cases are left out of the
/// comparison and the prompt fails).
#[test]
fn failed_calls_never_pass() {
    let Some(server) = llm_katan::start(&["--error-rate", "1.0"]) else {
        return;
    };
    let repo = example_on_katan(&server, 0);
    let env = [("KATAN_KEY", "sk-test-not-a-secret")];
    // A promptgate-format prompt: no case must pass, only the calls failed.
    let (code, stdout, stderr) =
        common::promptgate_with(repo.path(), &["eval", "classify-ticket"], &env);
    assert_eq!(code, 1, "eval with failed calls:\n{stdout}\n{stderr}");
    apply(repo.path(), "harmless.patch");
    let (code, stdout, stderr) =
        common::promptgate_with(repo.path(), &["check", "--base", "main"], &env);
    assert_ne!(code, 0, "check with failed calls:\n{stdout}\n{stderr}");
}
