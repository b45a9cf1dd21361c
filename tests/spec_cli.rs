//! `promptgate validate`, `list` and `init`, run as a user runs them.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn example() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/example"))
}

fn promptgate(repo: &Path) -> Command {
    let mut command = Command::cargo_bin("promptgate").unwrap();
    command
        .arg("-C")
        .arg(repo)
        .env("NO_COLOR", "1")
        .env_remove("PROMPTGATE_REPO");
    command
}

fn write(root: &Path, path: &str, text: &str) {
    let target = root.join(path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(target, text).unwrap();
}

#[test]
fn validate_passes_on_the_example() {
    promptgate(example())
        .arg("validate")
        .assert()
        .success()
        .stdout(
            "note: prompts/summarize.prompt.yml: GitHub-format file, differs from `gh models eval`: model `openai/gpt-4o-mini` runs on provider `openai`; gh sends it to GitHub Models (set `github_models = true` in promptgate.toml to do the same)\n\
             note: prompts/summarize.prompt.yml: GitHub-format file, differs from `gh models eval`: `uses: github/…` evaluators ask `openai/gpt-4o-mini` on provider `openai` with promptgate's own rubric wording and gh's scoring rule; gh asks `openai/gpt-4o` on GitHub Models with its own prompts, so the judge may answer differently\n\
             note: prompts/summarize.prompt.yml: GitHub-format file, differs from `gh models eval`: judges are asked at temperature 0 for repeatable scores; gh sends no temperature\n\
             ok: 4 prompts, 49 cases\n",
        );
}

#[test]
fn list_shows_every_prompt() {
    let output = promptgate(example()).arg("list").assert().success();
    let text = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("PROMPT"));
    let support = lines.iter().find(|l| l.starts_with("support-bot")).unwrap();
    assert!(
        support.contains("openai/gpt-4o-mini") && support.contains(" 15 "),
        "{support}"
    );
    assert!(support.contains("3 (signs off, no refund promises, names the plan)"));

    let output = promptgate(example())
        .args(["list", "--json"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    let summarize = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Text Summarizer")
        .unwrap();
    assert_eq!(summarize["cases"], 10);
    assert_eq!(summarize["version"].as_str().unwrap().len(), 64);
}

#[test]
fn init_then_validate_passes_and_init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".gitignore"), "target/").unwrap();
    promptgate(dir.path()).arg("init").assert().success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
        "target/\n.promptgate/\n"
    );
    promptgate(dir.path())
        .arg("validate")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("ok: 1 prompt, 14 cases"));
    let before = std::fs::read_to_string(dir.path().join("promptgate.toml")).unwrap();
    promptgate(dir.path())
        .arg("init")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not overwriting promptgate.toml"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("promptgate.toml")).unwrap(),
        before
    );
    // The entry is not added twice.
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore"))
            .unwrap()
            .matches(".promptgate/")
            .count(),
        1
    );
}

#[test]
fn validate_lists_every_problem_with_location_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "promptgate.toml",
        "[gate]\ntolerance = 0.1\nfail_on = \"sometimes\"\n",
    );
    write(
        root,
        "prompts/a.prompt.yml",
        "model: openai/gpt-4o-mini\nmessages:\n  - role: user\n    content: '{{ question }} {% include \"snippets/x.md\" %}'\ndataset: data/cases.jsonl\n",
    );
    write(root, "snippets/x.md", "({{ tone }})");
    write(
        root,
        "data/cases.jsonl",
        "{\"question\": \"q1\", \"tone\": \"warm\"}\n{\"question\": \"q2\"}\n",
    );
    write(
        root,
        "prompts/b.prompt.yml",
        "model: \"no model\"\nmessages: hello\nsurprise: 1\n",
    );
    write(
        root,
        "prompts/c.prompt.yml",
        "model: mystery/m1\nmessages: [{role: user, content: hi}]\ntestData: [{x: 1}]\n",
    );
    let output = promptgate(root).arg("validate").assert().code(2);
    let stderr = String::from_utf8(output.get_output().stderr.clone()).unwrap();
    for expected in [
        "data/cases.jsonl:2: error: prompt `a`: case `cases.jsonl:2`: messages[0] (user) uses `tone`",
        "prompts/b.prompt.yml:1:8: error: `model`: `no model` is not a model id",
        "prompts/b.prompt.yml:2:11: error: `messages` must be a list, not a string",
        "prompts/b.prompt.yml:3:1: warning: unknown key `surprise`",
        "promptgate.toml:3:11: error:",
        "3 | fail_on = \"sometimes\"",
        "error: 4 errors and 1 warning",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("c.prompt.yml"), "{stderr}");

    // Only the named paths; a publisher no provider claims runs on GitHub Models.
    write(root, "promptgate.toml", "");
    promptgate(root)
        .args(["validate", "prompts/c.prompt.yml"])
        .current_dir(root)
        .assert()
        .success()
        .stdout(
            predicate::str::contains(
                "note: prompts/c.prompt.yml: model `mystery/m1` runs on GitHub Models, with the token in GITHUB_TOKEN",
            )
            .and(predicate::str::contains("b.prompt.yml").not()),
        );
}

#[test]
fn validate_warns_but_passes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "x.prompt.yaml",
        "model: echo/e\nmessages: [{role: user, content: hi}]\nnewGitHubKey: 1\n",
    );
    promptgate(dir.path())
        .arg("validate")
        .assert()
        .success()
        .stdout(
            "note: x.prompt.yaml: GitHub-format file, differs from `gh models eval`: model `echo/e` runs on provider `echo`; gh sends it to GitHub Models (set `github_models = true` in promptgate.toml to do the same)\n\
             ok: 1 prompt, 0 cases, 2 warnings\n",
        )
        .stderr(predicate::str::contains(
            "x.prompt.yaml:3:1: warning: unknown key `newGitHubKey`",
        ));
}
