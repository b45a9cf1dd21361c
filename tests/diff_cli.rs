//! `promptgate diff` through the real binary, on real git repositories and
//! a real SQLite registry in temp folders.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{git, promptgate, promptgate_with, write};
use promptgate::edges::registry::{self, NewVersion, PublishInput};
use promptgate::types::{
    MessageTemplate, ModelId, ModelParameters, PromptContent, ResponseFormat, Role, VersionId,
};

const PROMPT: &str = "name: support-bot\nsemantics: promptgate\nmodel: openai/gpt-4o-mini\nmodelParameters:\n  temperature: 0.3\nmessages:\n  - role: system\n    content: |\n      You are the support assistant.\n      {% include \"snippets/tone.md\" %}\n      The customer is on the {{ plan }} plan.\n  - role: user\n    content: \"{{ question }}\"\n";
const TONE: &str = "Write like a calm colleague.\n";
const REGISTRY: &str = "sqlite://.promptgate/registry.db";

/// A repository with the support-bot prompt and its snippet committed on `main`.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(root, "prompts/support-bot.prompt.yml", PROMPT);
    write(root, "snippets/tone.md", TONE);
    write(root, ".gitignore", ".promptgate/\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "first"]);
    dir
}

/// The support-bot content as published: the snippet already inlined.
fn content(system: &str, temperature: f64) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![
            MessageTemplate {
                role: Role::System,
                content: system.to_owned(),
            },
            MessageTemplate {
                role: Role::User,
                content: "{{ question }}".to_owned(),
            },
        ],
        model: ModelId::parse("openai/gpt-4o-mini").unwrap(),
        parameters: ModelParameters {
            temperature: Some(temperature),
            ..ModelParameters::default()
        },
        response_format: ResponseFormat::Text,
    }
}

/// Publishes each content as the next version of support-bot (moving `latest`).
fn publish(root: &Path, contents: Vec<PromptContent>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            let registry = registry::open(REGISTRY, root).await.unwrap();
            for (i, content) in contents.into_iter().enumerate() {
                let input = PublishInput {
                    version: NewVersion {
                        prompt: "support-bot".into(),
                        id: VersionId(format!("{i:064x}")),
                        content,
                        parent: None,
                        git_commit: None,
                        author: "Test <test@example.com>".into(),
                        message: None,
                    },
                    result: None,
                    gate: registry::GateOutcome::NotRun,
                };
                let outcome = registry::publish_prompt(registry.as_ref(), input)
                    .await
                    .unwrap();
                assert_eq!(outcome.version.number as usize, i + 1);
            }
        })
        .await
        .expect("publishing finished in time");
    });
}

#[test]
fn a_changed_snippet_shows_as_changed_message_text() {
    let dir = repo();
    let root = dir.path();
    write(
        root,
        "snippets/tone.md",
        "Write like a cheerful colleague.\n",
    );

    let (code, out, err) = promptgate(root, &["diff", "support-bot", "HEAD"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "prompt support-bot: prompts/support-bot.prompt.yml (git HEAD (" // sha follows
        ),
        "{out}"
    );
    assert!(out.contains("message 1 (system) changed:\n"), "{out}");
    assert!(
        out.contains("Write like a [-calm-]{+cheerful+} colleague."),
        "{out}"
    );
    // Only the resolved text changed: the include tag itself is gone.
    assert!(!out.contains("{% include"), "{out}");
    assert!(!out.contains("message 2"), "{out}");

    // The default FROM is the merge base with main, i.e. HEAD here; the
    // markdown form shows the same change as a diff block.
    let (code, md, err) = promptgate(root, &["diff", "support-bot", "--markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(md.starts_with("### Prompt `support-bot`\n"), "{md}");
    assert!(md.contains("-Write like a calm colleague."), "{md}");
    assert!(md.contains("+Write like a cheerful colleague."), "{md}");
}

#[test]
fn a_prompt_on_one_side_only_is_said_to_be_new() {
    let dir = repo();
    let root = dir.path();
    write(
        root,
        "prompts/extract.prompt.yml",
        "name: extract\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: user\n    content: Extract {{text}}\n",
    );
    let (code, out, err) = promptgate(root, &["diff", "extract", "HEAD"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("`extract` does not exist in the git HEAD"),
        "{out}"
    );
    assert!(out.contains("model: added openai/gpt-4o-mini"), "{out}");
}

#[test]
fn two_published_versions_are_diffed_from_the_registry() {
    let dir = repo();
    let root = dir.path();
    publish(
        root,
        vec![
            content("You are the support assistant.\nBe calm.\n", 0.3),
            content("You are the support assistant.\nBe brief.\n", 0.5),
        ],
    );
    let (code, out, err) = promptgate(
        root,
        &[
            "diff",
            "support-bot@v1",
            "support-bot@v2",
            "--registry",
            REGISTRY,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("prompt support-bot: support-bot@v1 (registry"),
        "{out}"
    );
    assert!(out.contains("→ support-bot@v2 (registry"), "{out}");
    assert!(
        out.contains("modelParameters.temperature: 0.3 → 0.5"),
        "{out}"
    );
    assert!(out.contains("Be [-calm-]{+brief+}."), "{out}");

    // The same through the default URL, with a label and `@vN` as FROM/TO.
    let (code, same, err) = promptgate(root, &["diff", "support-bot", "@1", "@latest"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(same, out);
}

#[test]
fn a_published_version_against_the_working_tree_compares_resolved_text() {
    let dir = repo();
    let root = dir.path();
    // v1 is what the working tree sends, with the snippet inlined, except
    // for one word.
    let published = "You are the support assistant.\nWrite like a calm colleague.\n\nThe customer is on the {{ plan }} plan.\n";
    write(
        root,
        "prompts/support-bot.prompt.yml",
        &PROMPT.replace("support assistant", "billing assistant"),
    );
    publish(root, vec![content(published, 0.3)]);

    let (code, text, err) = promptgate_with(
        root,
        &["diff", "support-bot@v1"],
        &[("PROMPTGATE_REGISTRY", REGISTRY)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("support-bot@v1 (registry") && text.contains("(working tree)"),
        "{text}"
    );
    assert!(
        text.contains("You are the [-support-]{+billing+} assistant."),
        "{text}"
    );
    // The inlined snippet matches the published text: no other change.
    assert_eq!(text.matches("[-").count(), 1, "{text}");
    assert!(!text.contains("modelParameters"), "{text}");
}

#[test]
fn an_unknown_version_or_label_exits_2_and_says_so() {
    let dir = repo();
    let root = dir.path();
    publish(root, vec![content("Be calm.\n", 0.3)]);

    let (code, out, err) = promptgate(root, &["diff", "support-bot@v9"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(
            "support-bot: no published version v9; `promptgate history support-bot` lists them"
        ),
        "{err}"
    );
    let (code, _, err) = promptgate(root, &["diff", "support-bot", "@production"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("support-bot: label `production` is not set"),
        "{err}"
    );
    let (code, _, err) = promptgate(root, &["diff", "@v1"]);
    assert_eq!(code, 2);
    assert!(err.contains("is a version, not a prompt"), "{err}");
}
