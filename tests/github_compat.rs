//! Prompt files written for `gh models eval` run unchanged and score as gh
//! scores them: the real binary on real git repositories, models answered
//! by llm-katan's echo backend (which replies with the last user message, so
//! what was sent can be read back from the output).
//!
//! The corpus is `../shared/compat/github-models/` (real files from public
//! repositories, with `expected.json` saying what gh does with each). It is
//! read at test time, never copied; when it is absent the corpus tests say
//! so loudly, and fail under `CI=true`. Each numbered test is one point of
//! issue 13, with gh's rule written out in the test.

mod common;
#[path = "support/llm_katan.rs"]
mod llm_katan;

use std::path::{Path, PathBuf};

use common::{git, promptgate, promptgate_with, write};
use serde_json::Value;

const KEY: (&str, &str) = ("KATAN_KEY", "sk-test-not-a-secret");

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compat/github-models");
    if dir.join("expected.json").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "the compatibility corpus {} is missing, and CI=true: it must be beside the repository",
            dir.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED: the compatibility corpus {} is absent; the GitHub Models corpus tests did not run. ***\n",
        dir.display()
    );
    None
}

/// One corpus entry: the file, where it lived in its repository, what gh does.
struct Entry {
    file: PathBuf,
    path: String,
    gh: String,
}

fn entries(dir: &Path) -> Vec<Entry> {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut entries: Vec<Entry> = expected
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, about)| {
            let source = about["source"].as_str().unwrap();
            let (_, path) = source.split_once(':').unwrap();
            Entry {
                file: dir.join("files").join(name),
                path: path.to_string(),
                gh: about["gh"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    entries.sort_by(|a, b| a.file.cmp(&b.file));
    entries
}

/// A git repository holding `files` (path → text), committed on `main`.
fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "base"]);
    dir
}

/// promptgate.toml sending every model (GitHub Models, OpenAI, Anthropic
/// ids) to llm-katan.
fn katan_config(server: &llm_katan::LlmKatan) -> String {
    let table = |alias: &str, kind: &str| {
        format!(
            "[providers.{alias}]\nkind = \"{kind}\"\nbase_url = \"{}/v1\"\napi_key_env = \"KATAN_KEY\"\n\n",
            server.base_url()
        )
    };
    [
        table("github-models", "github-models"),
        table("openai", "openai-compatible"),
        table("anthropic", "openai-compatible"),
    ]
    .concat()
}

/// `eval PATH --format github` with every model on llm-katan: (exit code,
/// gh's JSON, stderr).
fn eval_github(repo: &Path, path: &str) -> (i32, Value, String) {
    let (code, stdout, stderr) =
        promptgate_with(repo, &["eval", path, "--format", "github"], &[KEY]);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!("{path}: not JSON ({error}), exit {code}:\n{stdout}\n{stderr}")
    });
    (code, json, stderr)
}

/// The evaluation results of test `test`, by evaluator name.
fn result<'a>(json: &'a Value, test: usize, evaluator: &str) -> &'a Value {
    json["testResults"][test]["evaluationResults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["evaluatorName"] == evaluator)
        .unwrap_or_else(|| panic!("no evaluator `{evaluator}` in {json:#}"))
}

/// gh's rule for a case: it passes when every evaluator passed.
fn gh_passes(test: &Value) -> bool {
    test["evaluationResults"]
        .as_array()
        .is_none_or(|results| results.iter().all(|r| r["passed"] == true))
}

// ------------------------------------------------------------ the corpus

/// Every file at its original path in its own repository: each file gh runs
/// validates; each file gh rejects (or loads but cannot run) is refused with
/// exit 2 and `file:line`.
#[test]
fn corpus_validates_as_gh_loads_it() {
    let Some(dir) = corpus() else { return };
    let entries = entries(&dir);
    let mut accepted = 0;
    let mut refused = 0;
    for entry in &entries {
        let text = std::fs::read_to_string(&entry.file).unwrap();
        let repo = repo_with(&[(entry.path.as_str(), text.as_str())]);
        let named = repo.path().join(&entry.path);
        let (code, stdout, stderr) =
            promptgate(repo.path(), &["validate", named.to_str().unwrap()]);
        let name = entry.file.file_name().unwrap().to_string_lossy();
        if entry.gh == "runs" {
            assert_eq!(code, 0, "{name}: gh runs it\n{stdout}\n{stderr}");
            assert!(stdout.contains("ok: 1 prompt"), "{name}: {stdout}");
            accepted += 1;
        } else {
            assert_eq!(code, 2, "{name}: gh: {}\n{stdout}\n{stderr}", entry.gh);
            let located = format!("{}:", entry.path);
            let with_line = stderr.lines().any(|line| {
                line.strip_prefix(&located)
                    .and_then(|rest| rest.split(':').next())
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
            });
            assert!(with_line, "{name}: no file:line in\n{stderr}");
            refused += 1;
        }
    }
    assert_eq!(accepted, 41, "the corpus has 41 files gh runs");
    assert_eq!(refused, entries.len() - 41);
}

/// Every file gh runs also evaluates (models on llm-katan): gh's JSON shape,
/// one test per case, exit 1 exactly when a case fails an evaluator.
#[test]
fn corpus_files_gh_runs_evaluate() {
    let Some(dir) = corpus() else { return };
    let Some(server) = llm_katan::start(&[]) else {
        return;
    };
    for entry in entries(&dir).iter().filter(|e| e.gh == "runs") {
        let text = std::fs::read_to_string(&entry.file).unwrap();
        let config = katan_config(&server);
        let repo = repo_with(&[
            (entry.path.as_str(), text.as_str()),
            ("promptgate.toml", config.as_str()),
        ]);
        let name = entry.file.file_name().unwrap().to_string_lossy();
        let (code, json, stderr) = eval_github(repo.path(), &entry.path);
        let tests = json["testResults"].as_array().map_or(0, Vec::len);
        let total = json["summary"]["totalTests"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {json:#}\n{stderr}")) as usize;
        assert_eq!(tests, total, "{name}: {json:#}");
        let failed = json["testResults"]
            .as_array()
            .map_or(0, |t| t.iter().filter(|t| !gh_passes(t)).count());
        assert_eq!(
            json["summary"]["failedTests"].as_u64().unwrap() as usize,
            failed,
            "{name}"
        );
        let want = if failed > 0 { 1 } else { 0 };
        assert_eq!(code, want, "{name}: {failed} failed\n{stderr}");
    }
}

// ------------------------------------------------------------ one test per point

/// A repository holding one prompt file, its models on a running llm-katan.
struct OnKatan {
    repo: tempfile::TempDir,
    _server: llm_katan::LlmKatan,
}

/// `None` (after llm-katan's loud notice) when llm-katan is not installed.
fn on_katan(path: &str, text: &str) -> Option<OnKatan> {
    let server = llm_katan::start(&[])?;
    let config = katan_config(&server);
    Some(OnKatan {
        repo: repo_with(&[(path, text), ("promptgate.toml", config.as_str())]),
        _server: server,
    })
}

/// What the echo model was sent in test `test`: its reply's last line.
fn sent(json: &Value, test: usize) -> &str {
    let response = json["testResults"][test]["modelResponse"].as_str().unwrap();
    response.rsplit("User: ").next().unwrap_or(response)
}

/// 1. A `{{var}}` the case does not define is sent as written, with a warning
///    naming its line.
#[test]
fn p01_undefined_placeholder_is_sent_as_written() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"Q: {{input}} / {{company}}\"\ntestData:\n  - input: hello\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, stdout, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("p.prompt.yml:4:") && stderr.contains("`{{company}}` is sent as written"),
        "{stderr}"
    );
    let (code, json, _) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 0);
    assert_eq!(sent(&json, 0), "Q: hello / {{company}}");
}

/// 2. Model ids no provider claims (`gpt-4o-mini`, `github:openai/…`, catalog
///    publishers) belong to GitHub Models: validate and list say so, the
///    run needs `GITHUB_TOKEN` and names it when it is missing.
#[test]
fn p02_unclaimed_model_ids_run_on_github_models() {
    for model in [
        "gpt-4o-mini",
        "github:openai/gpt-4.1-mini",
        "deepseek/deepseek-v3-0324",
        "mistral-ai/mistral-small-2503",
    ] {
        let text = format!(
            "model: {model}\nmessages:\n  - role: user\n    content: \"{{{{input}}}}\"\ntestData:\n  - input: hi\n"
        );
        let repo = repo_with(&[("p.prompt.yml", text.as_str())]);
        let (code, stdout, stderr) = promptgate(repo.path(), &["validate"]);
        assert_eq!(code, 0, "{model}: {stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!(
                "model `{model}` runs on GitHub Models, with the token in GITHUB_TOKEN"
            )),
            "{model}: {stdout}"
        );
        let (code, stdout, stderr) = promptgate(repo.path(), &["list", "--json"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(&format!("\"model\": \"{model}\"")),
            "{stdout}"
        );
        let (code, _, stderr) = promptgate_with(
            repo.path(),
            &["eval", "p.prompt.yml"],
            &[("GITHUB_TOKEN", "")],
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("GITHUB_TOKEN"), "{stderr}");
    }
}

/// 3. A file named on the command line that holds a prompt is a prompt, even
///    without `.prompt.` in its name (gh-models' `examples/*.yml`).
#[test]
fn p03_a_named_yml_file_holding_a_prompt_is_a_prompt() {
    let text = "name: sample\nmodel: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: hello\nevaluators:\n  - name: echoes\n    string: {contains: hello}\n";
    let Some(on) = on_katan("examples/sample_prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let named = repo.path().join("examples/sample_prompt.yml");
    let (code, stdout, stderr) = promptgate(repo.path(), &["validate", named.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok: 1 prompt, 1 case"), "{stdout}");
    let (code, json, stderr) = eval_github(repo.path(), "examples/sample_prompt.yml");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["name"], "sample");
    assert_eq!(result(&json, 0, "echoes")["passed"], true);
}

/// 4. Roles in capitals are lowercased, as gh does.
#[test]
fn p04_roles_in_capitals() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: System\n    content: Be brief.\n  - role: USER\n    content: \"{{input}}\"\ntestData:\n  - input: hello\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, json, stderr) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 0, "{stderr}");
    let response = json["testResults"][0]["modelResponse"].as_str().unwrap();
    assert!(
        response.contains("messages=2") && response.ends_with("User: hello"),
        "{response}"
    );
}

/// 5. Unquoted scalars in string fields keep their text: `contains: 2026`
///    is the text `2026`, `choice: 1` the text `1`, `contains: 1.50` is
///    `1.50`, not `1.5`.
#[test]
fn p05_unquoted_scalars_in_string_fields_keep_their_text() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: in 2026 it costs 1.50\nevaluators:\n  - name: year\n    string: {contains: 2026}\n  - name: price\n    string: {contains: 1.50}\n  - name: digit\n    llm:\n      modelId: openai/gpt-4o\n      prompt: \"{{completion}}\"\n      choices: [{choice: 2026, score: 1}]\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, json, stderr) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    for name in ["year", "price", "digit"] {
        assert_eq!(result(&json, 0, name)["score"], 1, "{name}: {json:#}");
    }
}

/// 6. `schema`, `keywords`, `regex`, `id` in inline testData are ordinary
///    variables in a GitHub-format file: no error, rendered as gh renders.
#[test]
fn p06_promptgate_columns_are_plain_variables() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{schema}} | {{regex}} | {{id}} | {{keywords}}\"\ntestData:\n  - schema: \"CREATE TABLE t (a int)\"\n    regex: \"[a-z\"\n    id: [1, 2]\n    keywords: 7\n  - schema: x\n    regex: y\n    id: [1, 2]\n    keywords: 8\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, stdout, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (_, json, _) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(sent(&json, 0), "CREATE TABLE t (a int) | [a-z | [1 2] | 7");
}

/// 7. Evaluators with duplicate names, no name or an unknown `uses:` are
///    accepted; the unknown plugin scores 0 and fails, as in gh.
#[test]
fn p07_lenient_evaluators() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: hello\nevaluators:\n  - name: same\n    string: {contains: hello}\n  - name: same\n    string: {startsWith: \"[echo]\"}\n  - string: {contains: user}\n  - name: plugin\n    uses: acme/custom\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, stdout, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("gh scores it 0"), "{stderr}");
    let (code, json, _) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 1, "the unknown plugin fails the case: {json:#}");
    assert_eq!(result(&json, 0, "same")["passed"], true);
    assert_eq!(result(&json, 0, "same (2)")["passed"], true);
    assert_eq!(result(&json, 0, "evaluators[2]")["passed"], true);
    let plugin = result(&json, 0, "plugin");
    assert_eq!(
        (plugin["score"].clone(), plugin["passed"].clone()),
        (0.into(), false.into())
    );
}

/// 8. Values render as Go prints them: `4.0` → `4`, `1e3` → `1000`,
///    `[a, b]` → `[a b]`, null → `<nil>`, in messages and evaluators alike.
#[test]
fn p08_values_render_as_gh_renders_them() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"f={{f}} e={{e}} l={{l}} n={{n}} o={{o}} end\"\ntestData:\n  - f: 4.0\n    e: 1e3\n    l: [a, b]\n    n: null\n    o: 017\nevaluators:\n  - name: four\n    string: {contains: \"f=4 \"}\n  - name: list\n    string: {contains: \"l={{l}}\"}\n  - name: nil\n    string: {contains: \"n={{n}}\"}\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, json, stderr) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    assert_eq!(sent(&json, 0), "f=4 e=1000 l=[a b] n=<nil> o=15 end");
    for name in ["four", "list", "nil"] {
        assert_eq!(result(&json, 0, name)["passed"], true, "{name}");
    }
}

/// 9. Triple braces: `{{{expected}}}` becomes `{Paris}`.
#[test]
fn p09_triple_braces() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"A: {{{expected}}}\"\ntestData:\n  - expected: Paris\nevaluators:\n  - name: braced\n    string: {endsWith: \"{{{expected}}}\"}\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, json, _) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 0);
    assert_eq!(sent(&json, 0), "A: {Paris}");
    assert_eq!(result(&json, 0, "braced")["passed"], true);
}

/// 10. `{{ input }}` with spaces is sent literally, with a warning; a file
///     that says `semantics: promptgate` reads it as minijinja.
#[test]
fn p10_spaced_placeholders_are_sent_literally() {
    let body = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"Q: {{ input }}\"\ntestData:\n  - input: hello\n";
    let Some(on) = on_katan("p.prompt.yml", body) else {
        return;
    };
    let repo = &on.repo;
    let (code, _, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("`{{ input }}` is sent as written: gh replaces only `{{input}}`"),
        "{stderr}"
    );
    let (_, json, _) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(sent(&json, 0), "Q: {{ input }}");

    let opted = format!("semantics: promptgate\n{body}");
    write(repo.path(), "p.prompt.yml", &opted);
    let (_, json, _) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(sent(&json, 0), "Q: hello");
}

/// 11. `llm` choices on a 1–10 scale: gh reports the raw score and passes
///     it (`score > 0`); validate and eval agree.
#[test]
fn p11_llm_choice_scales_beyond_one() {
    // The echo judge replies with its prompt, which holds the output, which
    // holds the input: gh's rule picks the first choice the reply contains.
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: rated excellent\n  - input: rated poor\nevaluators:\n  - name: rating\n    llm:\n      modelId: openai/gpt-4o\n      prompt: \"Rate: {{completion}}\"\n      choices:\n        - {choice: excellent, score: 10}\n        - {choice: poor, score: 1}\n        - {choice: rate, score: 0}\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, _, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, json, stderr) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    let first = result(&json, 0, "rating");
    assert_eq!(
        (first["score"].clone(), first["passed"].clone()),
        (10.into(), true.into())
    );
    let second = result(&json, 1, "rating");
    assert_eq!(
        (second["score"].clone(), second["passed"].clone()),
        (1.into(), true.into())
    );
    let (_, table, _) = promptgate_with(repo.path(), &["eval", "p.prompt.yml"], &[KEY]);
    assert!(table.contains("rating"), "{table}");
}

/// 12. `uses: github/*` scores by gh's rule: the first of "1" … "5" the
///     reply contains. The echo judge repeats the rubric, which lists "1"
///     first, so gh's rule gives 0 — failed, like gh would.
#[test]
fn p12_builtins_score_by_ghs_rule() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: Why is the sky blue?\n    expected: Rayleigh scattering.\nevaluators:\n  - name: fluent\n    uses: github/fluency\n  - name: similar\n    uses: github/similarity\n";
    let Some(on) = on_katan("p.prompt.yml", text) else {
        return;
    };
    let repo = &on.repo;
    let (code, json, stderr) = eval_github(repo.path(), "p.prompt.yml");
    assert_eq!(code, 1, "{stderr}\n{json:#}");
    for name in ["fluent", "similar"] {
        let r = result(&json, 0, name);
        assert_eq!(
            (r["score"].clone(), r["passed"].clone()),
            (0.into(), false.into()),
            "{r}"
        );
        assert!(
            r["details"]
                .as_str()
                .unwrap()
                .contains("matched choice '1'"),
            "{r}"
        );
    }
}

/// 13. gh's own failing example fails `promptgate eval` (exit 1, status
///     fail), and a passing file passes.
#[test]
fn p13_eval_fails_exactly_when_gh_does() {
    let failing = "name: Failing\nmodel: openai/gpt-4o\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: a\n  - input: b\nevaluators:\n  - name: impossible\n    string: {contains: never-in-any-response}\n";
    let Some(on) = on_katan("f.prompt.yml", failing) else {
        return;
    };
    let repo = &on.repo;
    let (code, stdout, _) = promptgate_with(
        repo.path(),
        &["eval", "f.prompt.yml", "--format", "json"],
        &[KEY],
    );
    assert_eq!(code, 1, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "fail");
    assert_eq!(report["summary"]["cases_failed"], 2);
    let (code, json, _) = eval_github(repo.path(), "f.prompt.yml");
    assert_eq!(code, 1);
    assert_eq!(json["summary"]["passRate"], 0);

    write(
        repo.path(),
        "f.prompt.yml",
        &failing.replace("never-in-any-response", "\"user: \""),
    );
    let (code, json, _) = eval_github(repo.path(), "f.prompt.yml");
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["summary"]["passRate"], 100);
}

/// 14. A prompt without cases is skipped with a note, in eval and check.
#[test]
fn p14_no_cases_is_skipped_with_a_note() {
    let text = "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: hi\n";
    let repo = repo_with(&[("p.prompt.yml", text)]);
    let (code, stdout, stderr) = promptgate(repo.path(), &["eval"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("skipped, it has no cases"), "{stdout}");
    write(
        repo.path(),
        "p.prompt.yml",
        &format!("{text}description: changed\n"),
    );
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("skipped, it has no cases"), "{stdout}");
}

/// 15. Parameter names seen in the wild that gh ignores warn, saying so;
///     `maxCompletionTokens` is read.
#[test]
fn p15_parameter_names_from_the_wild() {
    let text = "model: openai/gpt-4o\nmodelParameters:\n  max_tokens: 10\n  top_p: 0.5\n  max_completion_tokens: 10\n  maxCompletionTokens: 20\nmessages:\n  - role: user\n    content: hi\ntestData:\n  - x: 1\n";
    let repo = repo_with(&[("p.prompt.yml", text)]);
    let (code, stdout, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0, "{stderr}");
    for (line, name, instead) in [
        (3, "max_tokens", "maxTokens"),
        (4, "top_p", "topP"),
        (5, "max_completion_tokens", "maxCompletionTokens"),
    ] {
        assert!(
            stderr.contains(&format!(
                "p.prompt.yml:{line}:3: warning: `modelParameters.{name}` is ignored, by `gh models eval` too; write `{instead}`"
            )),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("maxCompletionTokens` is"), "{stderr}");
    assert!(
        stdout.contains("`maxCompletionTokens` are sent by promptgate; gh sends only maxTokens"),
        "validate lists the difference: {stdout}"
    );
}

/// `validate` on a GitHub-format file says what would differ from gh, or
/// that nothing does; a promptgate key opts into promptgate's semantics, and
/// `semantics: github` with one is refused.
#[test]
fn validate_lists_differences_from_gh() {
    let text = "model: meta/llama-3.3-70b-instruct\nmessages:\n  - role: user\n    content: \"{{input}}\"\ntestData:\n  - input: hi\n";
    let repo = repo_with(&[("p.prompt.yml", text)]);
    let (code, stdout, _) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(
            "GitHub-format file: promptgate reads and scores it as `gh models eval` does"
        ),
        "{stdout}"
    );
    let openai = text.replace("meta/llama-3.3-70b-instruct", "openai/gpt-4o");
    write(repo.path(), "p.prompt.yml", &openai);
    let (_, stdout, _) = promptgate(repo.path(), &["validate"]);
    assert!(
        stdout.contains("model `openai/gpt-4o` runs on provider `openai` with OPENAI_API_KEY; gh sends it to GitHub Models"),
        "{stdout}"
    );
    write(
        repo.path(),
        "p.prompt.yml",
        &format!("semantics: github\ntags: [x]\n{openai}"),
    );
    let (code, _, stderr) = promptgate(repo.path(), &["validate"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("p.prompt.yml:2:1: error: `tags` is promptgate's own key"),
        "{stderr}"
    );
}
