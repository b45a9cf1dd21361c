//! Hole 9: `{% include ".git/config" %}` from the working tree echoed the
//! checkout's `extraheader = AUTHORIZATION: basic …` into the report. No
//! include, dataset or symlink reads version-control metadata.

use crate::common::{git, promptgate, write};

const TOKEN: &str = "eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA==";

fn prompt(name: &str, body: &str) -> String {
    format!(
        "name: {name}\nsemantics: promptgate\nmodel: echo/echo\nmessages:\n  - role: user\n    content: \"{body}\"\ntestData:\n  - q: hi\n"
    )
}

#[test]
fn includes_datasets_and_symlinks_never_read_dot_git() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "promptgate.toml",
        "prompts = [\"prompts/*.prompt.yml\"]\n",
    );
    write(
        root,
        "prompts/a.prompt.yml",
        &prompt("a", "{% include '.git/config' %}"),
    );
    write(
        root,
        "prompts/b.prompt.yml",
        &prompt("b", "{% include './.GIT/config' %}"),
    );
    write(
        root,
        "prompts/c.prompt.yml",
        "name: c\nmodel: echo/echo\ndataset: .git/config\nmessages:\n  - role: user\n    content: hi\n",
    );
    write(
        root,
        "prompts/d.prompt.yml",
        &prompt("d", "{% include 'snippets/link.md' %}"),
    );
    std::fs::create_dir_all(root.join("snippets")).unwrap();
    std::os::unix::fs::symlink("../.git/config", root.join("snippets/link.md")).unwrap();
    git(root, &["init", "-q"]);
    git(
        root,
        &[
            "config",
            "http.https://github.com/.extraheader",
            &format!("AUTHORIZATION: basic {TOKEN}"),
        ],
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "base"]);
    let report = root.join("report.md");
    for args in [
        vec!["validate"],
        vec!["eval", "--markdown", report.to_str().unwrap()],
        vec!["check", "--all", "--base", "HEAD"],
    ] {
        let (code, stdout, stderr) = promptgate(root, &args);
        let written = std::fs::read_to_string(&report).unwrap_or_default();
        for text in [&stdout, &stderr, &written] {
            assert!(!text.contains(TOKEN), "{args:?} leaked the token:\n{text}");
        }
        assert_eq!(code, 2, "{args:?}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("version-control metadata"),
            "{args:?}: {stderr}"
        );
    }
}
