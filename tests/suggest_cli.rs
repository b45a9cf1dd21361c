//! `promptgate suggest` end to end: the real binary on a real git
//! repository made from `fixtures/example` with its regression applied,
//! the model under test the example's echo provider, and the suggestion
//! model a local OpenAI-format server answering with scripted candidates
//! (one that fixes the failing criterion, one that fixes it but breaks
//! another, one that fixes only the cases it was shown).

#[allow(dead_code)]
mod common;
#[path = "support/scripted_model.rs"]
mod scripted_model;

use std::path::Path;
use std::time::Duration;

use common::{git, promptgate_with, write};
use scripted_model::{
    SAFE_TONE, ScriptedModel, example_suggester, refused_suggester, suggestion_brief,
};

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(180), f)
        .await
        .expect("the test finished in time")
}

/// The example with `[suggest]` pointed at `model`, committed on `main`,
/// and the regression committed on a branch.
fn regressed_example(model: &ScriptedModel) -> tempfile::TempDir {
    let dir = common::example_repo();
    let root = dir.path();
    let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
    write(
        root,
        "promptgate.toml",
        &format!(
            "{config}{}",
            model.suggest_config(
                "enabled = true\ncandidates = 3\n\n\
                 [pricing.\"scripted/suggester\"]\ninput_per_mtok = 2.5\noutput_per_mtok = 10.0\n"
            )
        ),
    );
    write(root, ".gitignore", ".promptgate/\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "suggestions on"]);
    git(root, &["checkout", "-qb", "regress"]);
    let patch =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example-edits/regression.patch");
    git(root, &["apply", patch.to_str().unwrap()]);
    git(root, &["commit", "-qam", "reassure unhappy customers"]);
    dir
}

/// Runs the binary off the runtime that serves the scripted model.
async fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    let root = root.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        promptgate_with(&root, &args, &[])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn suggest_finds_verifies_and_writes_the_fix_of_the_example_regression() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let dir = regressed_example(&model);
        let root = dir.path();
        let (code, _, _) = run(root, &["check"]).await;
        assert_eq!(code, 1, "the regression fails the gate first");

        let (code, out, err) = run(root, &["suggest"]).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            out.contains("target criterion: no refund promises"),
            "{out}"
        );
        assert!(
            out.contains("5 shown to the model (fit), 10 held out for verification"),
            "{out}"
        );
        assert!(out.contains("candidate 1: survived"), "{out}");
        assert!(
            out.contains("candidate 2: rejected: `signs off` regressed on all cases"),
            "{out}"
        );
        assert!(
            out.contains("candidate 3: rejected: `no refund promises` is")
                && out.contains("it improves the cases the model was shown, not the held-out ones"),
            "{out}"
        );
        assert!(
            out.contains("snippets/tone.md lines 2–3 (a shared snippet"),
            "{out}"
        );
        assert!(
            out.contains("no refund promises: 0.00 → 1.00 (Δ +1.00 ["),
            "the held-out and all-case deltas with intervals: {out}"
        );
        // One request, priced: 1200 in, 400 out at $2.50 / $10 per million.
        assert!(out.contains("cost of finding it: $0.0070"), "{out}");

        // The model saw only the fit part: five cases, all failing ones.
        let requests = model.requests();
        assert_eq!(requests.len(), 1, "one suggestion request");
        assert_eq!(requests[0]["model"], "suggester");
        assert_eq!(requests[0]["response_format"]["type"], "json_schema");
        let brief = suggestion_brief(&requests[0]);
        let shown: Vec<&str> = brief["prompt"]["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert_eq!(brief["prompt"]["target"], "no refund promises");
        assert!(
            brief["prompt"]["cases"][0]["output"]
                .as_str()
                .unwrap()
                .contains("we will refund"),
            "the failing output is evidence"
        );

        // A second run asks nothing new: the answer comes from the cache.
        let (code, out, _) = run(root, &["suggest"]).await;
        assert_eq!(code, 0);
        assert_eq!(model.requests().len(), 1, "{out}");

        let prompt_before =
            std::fs::read_to_string(root.join("prompts/support-bot.prompt.yml")).unwrap();
        let (code, out, err) = run(root, &["suggest", "support-bot", "--write"]).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("wrote snippets/tone.md"), "{out}");
        assert_eq!(
            std::fs::read_to_string(root.join("snippets/tone.md")).unwrap(),
            SAFE_TONE
        );
        assert_eq!(
            std::fs::read_to_string(root.join("prompts/support-bot.prompt.yml")).unwrap(),
            prompt_before,
            "the prompt file was not touched"
        );
        let (code, out, err) = run(root, &["validate"]).await;
        assert_eq!(code, 0, "{out}\n{err}");
        let (code, out, err) = run(root, &["check"]).await;
        assert_eq!(code, 0, "the fixed prompt passes the gate: {out}\n{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_no_candidate_survives_nothing_is_suggested_or_written() {
    within(async {
        // Only the two bad candidates.
        let model = ScriptedModel::start(refused_suggester).await;
        let dir = regressed_example(&model);
        let root = dir.path();
        let (code, out, err) = run(root, &["suggest", "--write"]).await;
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(
            out.contains("no suggested edit survived verification"),
            "{out}"
        );
        assert!(!out.contains("wrote "), "{out}");
        let tone = std::fs::read_to_string(root.join("snippets/tone.md")).unwrap();
        assert!(tone.contains("we will refund"), "nothing was written");
    })
    .await;
}

/// Only the prompt being fixed is measured, so an edit of a snippet that
/// another prompt includes too cannot be verified: the fix that survives
/// when support-bot alone includes `snippets/tone.md` is rejected once a
/// second prompt includes it, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_of_a_snippet_another_prompt_includes_is_not_verified() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let dir = regressed_example(&model);
        let root = dir.path();
        let support_bot =
            std::fs::read_to_string(root.join("prompts/support-bot.prompt.yml")).unwrap();
        write(
            root,
            "prompts/billing-bot.prompt.yml",
            &support_bot.replace("name: support-bot", "name: billing-bot"),
        );
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "billing-bot shares the tone"]);

        let (code, out, err) = run(root, &["suggest", "support-bot", "--write"]).await;
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(
            out.contains(
                "candidate 1: rejected: it edits snippets/tone.md, which billing-bot also \
                 includes: its effect there is not measured, so it cannot be verified"
            ),
            "{out}"
        );
        assert!(!out.contains("wrote "), "{out}");
        let tone = std::fs::read_to_string(root.join("snippets/tone.md")).unwrap();
        assert!(tone.contains("we will refund"), "nothing was written");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_few_cases_cannot_be_verified_and_the_model_is_not_asked() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let dir = regressed_example(&model);
        let root = dir.path();
        // Keep 11 of the 15 cases: 10 must be held out, so 1 would be shown.
        let dataset = std::fs::read_to_string(root.join("datasets/support.jsonl")).unwrap();
        let kept: Vec<&str> = dataset.lines().take(11).collect();
        write(
            root,
            "datasets/support.jsonl",
            &format!("{}\n", kept.join("\n")),
        );
        let (code, out, err) = run(root, &["suggest", "support-bot"]).await;
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(
            out.contains("11 case(s): a suggestion cannot be verified"),
            "{out}"
        );
        assert!(model.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_exit_2_with_a_clear_error() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let dir = regressed_example(&model);
        let root = dir.path();
        let (code, _, err) = run(root, &["suggest", "--criterion", "politeness"]).await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("support-bot has no criterion `politeness`; its criteria are: signs off"),
            "{err}"
        );
        let (code, _, err) = run(root, &["suggest", "--candidates", "0"]).await;
        assert_eq!(code, 2, "{err}");

        // Without a suggestion model.
        let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
        write(
            root,
            "promptgate.toml",
            &config
                .replace("model = \"scripted/suggester\"\n", "")
                .replace("enabled = true\n", ""),
        );
        let (code, _, err) = run(root, &["suggest"]).await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("no suggestion model: set `model` under `[suggest]`"),
            "{err}"
        );
        // And a model id that is none: the config names the line.
        let broken = config.replace("model = \"scripted/suggester\"", "model = \"two words\"");
        write(root, "promptgate.toml", &broken);
        let (code, _, err) = run(root, &["suggest"]).await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("promptgate.toml:") && err.contains("`suggest.model`"),
            "{err}"
        );
        assert!(model.requests().is_empty());
    })
    .await;
}
