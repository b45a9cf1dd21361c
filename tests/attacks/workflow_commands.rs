//! Hole 6: workflow-command injection. A file name, a case id, a model
//! value or a dataset path holding `\n::error …` reaches stdout or stderr
//! in a line the Actions runner executes as a command.

use std::path::Path;

use crate::common::{git, promptgate_with, write};

/// How the runner finds commands in output, line by line (`\r` and `\n`
/// both end a line): `::` after blanks, or `##[` anywhere.
fn commands_in(output: &str) -> Vec<&str> {
    output
        .split(['\r', '\n'])
        .filter(|line| line.trim_start().starts_with("::") || line.contains("##["))
        .collect()
}

fn hostile_repo(root: &Path) {
    write(
        root,
        "promptgate.toml",
        "prompts = [\"prompts/**/*.prompt.yml\"]\n",
    );
    // A model that the config cannot route, with a command after a newline.
    write(
        root,
        "prompts/model.prompt.yml",
        "name: model\nmodel: \"nobody/x\\n::error title=pwned::model\"\nmessages:\n  - role: user\n    content: hi\ntestData:\n  - id: \"case\\n::warning::case id\"\n",
    );
    // A dataset path that names no file.
    write(
        root,
        "prompts/data.prompt.yml",
        "name: data\nmodel: echo/echo\ndataset: \"missing\\n::error::dataset ##[error]v1\"\nmessages:\n  - role: user\n    content: hi\n",
    );
    // A file whose very name carries the command, holding broken YAML.
    write(
        root,
        "prompts/x\n::error::named.prompt.yml",
        "name: [unclosed\n",
    );
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "hostile"]);
}

#[test]
fn names_from_a_pull_request_run_no_workflow_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    hostile_repo(root);
    let actions = [("GITHUB_ACTIONS", "true"), ("CI", "true")];
    for args in [
        &["validate"][..],
        &["eval"][..],
        &["check", "--base", "HEAD", "--all"][..],
        &["list"][..],
    ] {
        let (code, stdout, stderr) = promptgate_with(root, args, &actions);
        assert_ne!(code, 0, "{args:?} should fail: {stdout}\n{stderr}");
        let found: Vec<&str> = commands_in(&stdout)
            .into_iter()
            .chain(commands_in(&stderr))
            .collect();
        assert!(
            found.is_empty(),
            "{args:?} printed workflow commands {found:?}:\n{stdout}\n{stderr}"
        );
        // The text is still there, only defused.
        assert!(
            stdout.contains("pwned") || stderr.contains("pwned") || stderr.contains("named"),
            "{args:?}: {stdout}\n{stderr}"
        );
    }
}
