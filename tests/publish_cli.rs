//! `promptgate publish [PROMPT…]`: the real binary on a git repository made
//! from `fixtures/example`, publishing to a SQLite registry.

// Only some of the helpers are used here.
#[allow(dead_code)]
mod common;

use common::{example_repo, promptgate};

#[test]
fn publish_evaluates_publishes_moves_latest_and_is_idempotent() {
    let repo = example_repo();
    let root = repo.path();
    let registry = ["--registry", "sqlite://.promptgate/registry.db"];
    let publish = |extra: &[&str]| {
        let mut args = vec!["publish"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&registry);
        promptgate(root, &args)
    };

    let (code, stdout, stderr) = publish(&["support-bot"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        "support-bot v1 published (gate passed), latest → v1"
    );

    // The same content again: nothing new.
    let (code, stdout, _) = publish(&["support-bot"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("support-bot v1 already published"),
        "{stdout}"
    );
    assert!(!stdout.contains("latest →"), "{stdout}");

    // A changed include is a new version; every prompt when none is named.
    let snippet = root.join("snippets/tone.md");
    let text = std::fs::read_to_string(&snippet).unwrap();
    std::fs::write(&snippet, text.replace("short sentences", "brief sentences")).unwrap();
    let (code, stdout, stderr) = publish(&[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("support-bot v2 published (gate passed), latest → v2"),
        "{stdout}"
    );
    assert!(stdout.contains("classify-ticket v1 published"), "{stdout}");

    let (code, stdout, _) = promptgate(
        root,
        &["history", "support-bot", "--json", registry[0], registry[1]],
    );
    assert_eq!(code, 0);
    let history: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let newest = &history["versions"][0];
    assert_eq!(newest["number"], 2);
    assert!(
        newest["content"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("brief sentences"),
        "the include is stored resolved: {newest}"
    );

    let (code, _, stderr) = publish(&["no-such-prompt"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no prompt named `no-such-prompt`"),
        "{stderr}"
    );
}
