//! Verified suggestions in a pull request, through the GitHub Action: the
//! real binary on a real git repository, the contract-checked fake GitHub
//! (which refuses a review comment whose lines are not part of the pull
//! request's diff, as GitHub does), and the scripted suggestion model.

#[allow(dead_code)]
mod common;
#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "support/scripted_model.rs"]
mod scripted_model;

use std::path::Path;
use std::time::Duration;

use common::{git, write};
use fake_github::{ACTIONS_TOKEN, FakeGitHub, webhook_examples};
use promptgate::types::{CommitSha, PrNumber, RepoName};
use scripted_model::{SAFE_TONE, ScriptedModel, example_suggester, refused_suggester};
use serde_json::{Value, json};

const REPO: &str = "octo-org/prompts";

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(180), f)
        .await
        .expect("the test finished in time")
}

/// A pull request that applies the example's regression, both on the fake
/// GitHub and in a local clone checked out at its head.
struct RegressedPr {
    fake: FakeGitHub,
    repo: RepoName,
    number: PrNumber,
    dir: tempfile::TempDir,
    /// The local base commit (what the action diffs against).
    base: String,
    /// The fake's head commit (what comments are made on).
    head: CommitSha,
}

async fn regressed_pr(model: &ScriptedModel, suggest_enabled: bool) -> RegressedPr {
    let dir = common::example_repo();
    let root = dir.path();
    let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
    write(
        root,
        "promptgate.toml",
        &format!(
            "{config}{}",
            model.suggest_config(&format!("enabled = {suggest_enabled}\n"))
        ),
    );
    write(
        root,
        ".gitignore",
        ".promptgate/\npromptgate-*.xml\npromptgate-*.json\n",
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "suggestions configured"]);
    let base = git(root, &["rev-parse", "HEAD"]);

    // The same files on the fake's main, and the pull request's change.
    let fake = FakeGitHub::start().await;
    let repo = fake.create_repo(REPO);
    fake.commit_checkout(&repo, "main", root);
    git(root, &["checkout", "-qb", "feature"]);
    let patch =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example-edits/regression.patch");
    git(root, &["apply", patch.to_str().unwrap()]);
    git(root, &["commit", "-qam", "reassure unhappy customers"]);
    let tone = std::fs::read_to_string(root.join("snippets/tone.md")).unwrap();
    let number = fake.open_pr(&repo, "feature", &[("snippets/tone.md", &tone)]);
    let head = CommitSha(fake.pull(&repo, number).head_sha);
    RegressedPr {
        fake,
        repo,
        number,
        dir,
        base,
        head,
    }
}

/// GitHub's example `opened` payload, pointed at this pull request.
fn opened(pr: &RegressedPr) -> Value {
    let (_, body) = webhook_examples("pull_request")
        .into_iter()
        .find(|(a, _)| a.as_deref() == Some("opened"))
        .expect("an example");
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    event["number"] = json!(pr.number.0);
    event["repository"]["full_name"] = json!(REPO);
    let p = &mut event["pull_request"];
    p["number"] = json!(pr.number.0);
    p["head"]["sha"] = json!(pr.head.0);
    p["head"]["ref"] = json!("feature");
    p["head"]["repo"]["full_name"] = json!(REPO);
    p["base"]["sha"] = json!(pr.base);
    p["base"]["ref"] = json!("main");
    p["base"]["repo"]["full_name"] = json!(REPO);
    event
}

/// Runs `promptgate action` for the pull request as a workflow step;
/// (exit code, stdout and stderr).
async fn run_action(pr: &RegressedPr) -> (i32, String) {
    let step = tempfile::tempdir().unwrap();
    let event_path = step.path().join("event.json");
    std::fs::write(&event_path, opened(pr).to_string()).unwrap();
    let envs: Vec<(String, String)> = [
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        ("GITHUB_EVENT_PATH", event_path.display().to_string()),
        ("GITHUB_REPOSITORY", REPO.to_owned()),
        ("GITHUB_SHA", pr.head.0.clone()),
        ("GITHUB_API_URL", pr.fake.api_url()),
        ("GITHUB_TOKEN", ACTIONS_TOKEN.to_owned()),
        (
            "GITHUB_OUTPUT",
            step.path().join("output").display().to_string(),
        ),
        (
            "GITHUB_STEP_SUMMARY",
            step.path().join("summary").display().to_string(),
        ),
        ("GITHUB_ACTOR", "octocat".to_owned()),
        ("PROMPTGATE_COMMENT", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let root = pr.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = assert_cmd::Command::cargo_bin("promptgate")
            .unwrap()
            .arg("-C")
            .arg(&root)
            .arg("action")
            .env_remove("PROMPTGATE_REPO")
            .env_remove("PROMPTGATE_REGISTRY")
            .env_remove("OPENAI_API_KEY")
            .env("NO_COLOR", "1")
            .envs(envs)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

/// The file with the lines `start..=end` replaced by the suggestion block
/// of `body`: what GitHub's "Commit suggestion" button does.
fn apply_suggestion(file: &str, start: u64, end: u64, body: &str) -> String {
    let open = body.find("```suggestion\n").expect("a suggestion block") + "```suggestion\n".len();
    let close = body[open..].find("\n```").expect("the block closes") + open;
    let replacement = &body[open..close];
    let lines: Vec<&str> = file.split('\n').collect();
    let mut out: Vec<&str> = lines[..start as usize - 1].to_vec();
    out.extend(replacement.split('\n'));
    out.extend(&lines[end as usize..]);
    out.join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_pull_request_gets_a_one_click_suggestion_on_the_right_lines() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let pr = regressed_pr(&model, true).await;
        let (code, out) = run_action(&pr).await;
        assert_eq!(code, 1, "the gate still fails: {out}");
        pr.fake.assert_no_violations();

        let comments = pr.fake.review_comments(&pr.repo, pr.number);
        assert_eq!(comments.len(), 1, "one suggestion: {comments:?}\n{out}");
        let comment = &comments[0];
        assert_eq!(comment.author, "github-actions[bot]");
        assert_eq!(comment.path, "snippets/tone.md");
        assert_eq!(comment.commit_id, pr.head.0);
        assert_eq!((comment.start_line, comment.line), (Some(2), 3));
        assert!(
            comment
                .body
                .contains("no refund promises 0.00 → 1.00 (Δ +1.00 ")
                && comment
                    .body
                    .contains("on 10 held-out cases; no criterion regressed"),
            "{}",
            comment.body
        );
        assert!(comment.body.contains("shared snippet"), "{}", comment.body);
        // The request carried the lines as GitHub's description names them.
        let sent = pr.fake.requests_to("pulls/create-review-comment");
        assert_eq!(sent.len(), 1);
        let body = sent[0].body.as_ref().unwrap();
        assert_eq!(body["side"], "RIGHT");
        assert_eq!(body["start_side"], "RIGHT");

        // One click applies it: the file validates and passes the gate.
        let before = pr.fake.file_at(&pr.head, "snippets/tone.md").unwrap();
        let applied = apply_suggestion(&before, 2, 3, &comment.body);
        assert_eq!(applied, SAFE_TONE);
        let root = pr.dir.path();
        write(root, "snippets/tone.md", &applied);
        git(root, &["commit", "-qam", "Apply suggestion from review"]);
        let (code, out, err) = common::promptgate(root, &["validate"]);
        assert_eq!(code, 0, "{out}\n{err}");
        let (code, out, err) = common::promptgate(root, &["check", "--base", &pr.base]);
        assert_eq!(code, 0, "{out}\n{err}");

        // The sticky comment says so.
        let sticky = pr.fake.comments(&pr.repo, pr.number);
        assert!(
            sticky[0]
                .body
                .contains("support-bot: verified suggestion (snippets/tone.md lines 2–3)"),
            "{}",
            sticky[0].body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_on_the_same_head_updates_the_suggestion_rather_than_repeating_it() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let pr = regressed_pr(&model, true).await;
        run_action(&pr).await;
        let first = pr.fake.review_comments(&pr.repo, pr.number);
        assert_eq!(first.len(), 1);
        let (code, out) = run_action(&pr).await;
        assert_eq!(code, 1, "{out}");
        let again = pr.fake.review_comments(&pr.repo, pr.number);
        assert_eq!(again.len(), 1, "not repeated: {again:?}");
        assert_eq!(again[0].id, first[0].id);
        pr.fake.assert_no_violations();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_posted_when_no_candidate_survives_and_the_sticky_comment_says_so() {
    within(async {
        let model = ScriptedModel::start(refused_suggester).await;
        let pr = regressed_pr(&model, true).await;
        let (code, out) = run_action(&pr).await;
        assert_eq!(code, 1, "{out}");
        assert!(pr.fake.review_comments(&pr.repo, pr.number).is_empty());
        let sticky = pr.fake.comments(&pr.repo, pr.number);
        assert!(
            sticky[0]
                .body
                .contains("support-bot: no suggested edit survived verification"),
            "{}",
            sticky[0].body
        );
        pr.fake.assert_no_violations();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_base_branch_decides_whether_a_model_is_asked() {
    within(async {
        let model = ScriptedModel::start(example_suggester).await;
        let pr = regressed_pr(&model, false).await;
        // The pull request turns suggestions on for itself: ignored.
        let root = pr.dir.path();
        let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
        write(
            root,
            "promptgate.toml",
            &config.replace("enabled = false", "enabled = true"),
        );
        git(root, &["commit", "-qam", "turn suggestions on"]);
        let (code, out) = run_action(&pr).await;
        assert_eq!(code, 1, "{out}");
        assert!(model.requests().is_empty(), "the model was never asked");
        assert!(pr.fake.review_comments(&pr.repo, pr.number).is_empty());
    })
    .await;
}
