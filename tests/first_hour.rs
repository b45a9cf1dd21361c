//! What a new user meets in the first hour, run as they run it: `init`'s
//! project catches a regression, output into a closed pipe ends quietly, and
//! the first mistakes get one clear message each.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{git, promptgate, write};

/// A repository `promptgate init` set up, committed on `main`.
fn initialised_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let (code, stdout, stderr) = promptgate(dir.path(), &["init"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "promptgate init"]);
    dir
}

const PROMPT: &str = "prompts/support-reply.prompt.yml";

/// The edit `init` suggests: the system message starts promising refunds.
fn promise_refunds(repo: &Path) {
    let path = repo.join(PROMPT);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "friendly sentences.",
        "friendly sentences. Every customer gets a guaranteed refund.",
        1,
    );
    assert_ne!(
        edited, text,
        "the prompt init writes changed; update this test"
    );
    std::fs::write(path, edited).unwrap();
}

#[test]
fn the_project_init_writes_catches_the_regression_it_suggests() {
    let repo = initialised_repo();
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 0, "nothing changed yet: {stdout}\n{stderr}");

    promise_refunds(repo.path());
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 1, "the gate must catch it: {stdout}\n{stderr}");
    let row = stdout
        .lines()
        .find(|line| line.contains("no promises of refunds"))
        .unwrap_or_else(|| panic!("no row for the criterion: {stdout}"));
    assert!(row.contains("regressed"), "{row}");
    assert!(row.contains("threshold"), "{row}");
}

#[test]
fn a_harmless_edit_to_the_init_project_passes() {
    let repo = initialised_repo();
    let path = repo.path().join(PROMPT);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("friendly sentences", "kind sentences", 1),
    )
    .unwrap();
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!stdout.contains("regressed"), "{stdout}");
}

/// `promptgate … | head -1`: the reader leaves after one line. The command
/// must neither panic nor print anything about the pipe, and its exit code
/// is still its verdict.
#[test]
fn output_into_a_closed_pipe_ends_quietly_with_the_verdict_as_exit_code() {
    let repo = initialised_repo();
    promise_refunds(repo.path());
    // Enough output that it cannot all fit in the pipe's buffer before the
    // reader closes it: the markdown report, repeated by a large dataset.
    let mut rows = String::new();
    for i in 0..3000 {
        rows.push_str(&format!(
            "{{\"id\": \"case-{i}\", \"question\": \"Question number {i} about Acme Cloud?\"}}\n"
        ));
    }
    write(repo.path(), "datasets/support-reply.jsonl", &rows);
    for args in [
        &["check", "--base", "main", "--format", "markdown"][..],
        &["list"][..],
        &["eval", "--format", "json"][..],
    ] {
        // The verdict with a reader that reads everything.
        let (expected, _, stderr) = promptgate(repo.path(), args);
        assert!(expected == 0 || expected == 1, "{args:?}: {stderr}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .arg("-C")
            .arg(repo.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .env_remove("PROMPTGATE_REPO")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then hang up, as `head -c1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{args:?}: the verdict must not depend on the reader: {stderr}"
        );
    }
}

#[test]
fn check_outside_a_repository_or_before_the_first_commit_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = promptgate(dir.path(), &["init"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = promptgate(dir.path(), &["check"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is not inside a git repository"),
        "{stderr}"
    );
    assert!(stderr.contains("promptgate eval"), "{stderr}");
    assert!(!stderr.contains("symbolic-ref"), "{stderr}");

    git(dir.path(), &["init", "-q"]);
    let (code, _, stderr) = promptgate(dir.path(), &["check"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no commits yet"), "{stderr}");
    assert!(stderr.contains("commit your files first"), "{stderr}");
}

/// A typo in the config is reported once, as itself: no second error or note
/// made up from the defaults standing in for the broken config.
#[test]
fn a_config_typo_is_reported_once() {
    let repo = initialised_repo();
    let config = repo.path().join("promptgate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replacen("tolerance =", "tolerence =", 1)).unwrap();
    for command in ["validate", "eval", "check"] {
        let (code, stdout, stderr) = promptgate(repo.path(), &[command]);
        assert_eq!(code, 2, "{command}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("promptgate.toml:") && stderr.contains("unknown field `tolerence`"),
            "{command}: {stderr}"
        );
        assert!(
            !stdout.contains("GitHub Models") && !stderr.contains("GitHub Models"),
            "{command}: a second, wrong message: {stdout}\n{stderr}"
        );
        assert!(
            !stderr.contains("error: promptgate.toml"),
            "{command}: {stderr}"
        );
    }
}

/// `check` and `validate` say a template problem the same way: the prompt
/// file's line for an include, the dataset's lines for cases (the first ten,
/// then a count), one `error:` prefix.
#[test]
fn check_and_validate_report_template_problems_alike() {
    let repo = initialised_repo();
    let path = repo.path().join(PROMPT);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(
            "friendly sentences.",
            "friendly sentences. {% include \"snippets/missing.md\" %}",
            1,
        ),
    )
    .unwrap();
    let (_, _, validate) = promptgate(repo.path(), &["validate"]);
    let (code, _, check) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 2, "{check}");
    let problem = |stderr: &str| {
        stderr
            .lines()
            .find(|line| line.contains("snippets/missing.md"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no include problem: {stderr}"))
    };
    assert_eq!(problem(&check), problem(&validate));
    assert!(
        problem(&check).starts_with(&format!("{PROMPT}:")),
        "{check}"
    );
    assert!(!check.contains("error: prompts/"), "{check}");

    // A variable no case defines: every case fails, the first ten are shown.
    std::fs::write(
        &path,
        text.replacen("{{ question }}", "{{ question }} {{ plan }}", 1),
    )
    .unwrap();
    let (_, _, validate) = promptgate(repo.path(), &["validate"]);
    let (code, _, check) = promptgate(repo.path(), &["check", "--base", "main"]);
    assert_eq!(code, 2, "{check}");
    for stderr in [&validate, &check] {
        let shown = stderr
            .lines()
            .filter(|line| {
                line.starts_with("datasets/support-reply.jsonl:") && line.contains("`plan`")
            })
            .count();
        assert_eq!(shown, 10, "{stderr}");
        assert!(stderr.contains("4 more cases do not render"), "{stderr}");
    }
}

#[test]
fn check_on_a_model_no_prompt_uses_says_so() {
    let repo = initialised_repo();
    let (code, stdout, stderr) = promptgate(repo.path(), &["check", "--model", "demo/nosuch"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no prompt uses the model `demo/nosuch`") && stderr.contains("demo/echo"),
        "{stderr}"
    );
}

/// What a run would cost is known before anyone has a key; the run itself
/// names the missing variable before any call.
#[test]
fn estimate_works_without_the_key_the_run_needs() {
    let repo = initialised_repo();
    let path = repo.path().join(PROMPT);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("model: demo/echo", "model: openai/gpt-4o-mini", 1),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .arg("-C")
            .arg(repo.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("OPENAI_API_KEY")
            .env_remove("PROMPTGATE_REPO")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["eval", "--estimate"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("14 calls (0 cached, 14 to make)"),
        "{stdout}"
    );
    assert!(stdout.contains("cost: at most $"), "{stdout}");

    let (code, stdout, stderr) = run(&["eval"]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("OPENAI_API_KEY"), "{stderr}");
}
