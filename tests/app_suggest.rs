//! Verified suggestions from the GitHub App: the real `promptgate serve`
//! acting as the App against the contract-checked fake GitHub (which
//! refuses a review comment on lines outside the pull request's diff, as
//! GitHub does), the example repository's files reaching it only through
//! the API, its echo provider as the model under test, and the scripted
//! suggestion model of tests/support/scripted_model.rs.

#[allow(dead_code)]
mod common;
#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "support/scripted_model.rs"]
mod scripted_model;
#[path = "support/serve_process.rs"]
mod serve_process;

use std::path::Path;
use std::time::Duration;

use fake_github::{APP_ID, FakeGitHub, webhook_examples};
use promptgate::types::{CommitSha, InstallationId, PrNumber, RepoName};
use scripted_model::{SAFE_TONE, ScriptedModel, example_suggester, refused_suggester};
use serde_json::{Value, json};
use serve_process::ServeProcess;

const SECRET: &str = "app-suggest-webhook-secret";
const REPO: &str = "octo-org/prompts";
const BOT: &str = "promptgate[bot]";

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(300), f)
        .await
        .expect("the test finished in time")
}

/// `fixtures/example`'s files, its config followed by `config_tail`.
fn example_files(config_tail: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example");
    walkdir::WalkDir::new(&root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let path = entry.path().strip_prefix(&root).unwrap();
            let mut text = std::fs::read_to_string(entry.path()).unwrap();
            if path == Path::new("promptgate.toml") {
                text.push_str(config_tail);
            }
            (path.to_str().unwrap().to_owned(), text)
        })
        .collect()
}

fn refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect()
}

/// The tone snippet after the example's regression (`regression.patch`):
/// it promises refunds.
fn regressed_tone() -> String {
    let tone = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example/snippets/tone.md"),
    )
    .unwrap();
    let regressed = tone.replace(
        "exclamation marks. Never promise refunds, credits or delivery dates; offer\n\
         to connect the customer with a human agent instead. Sign off as\n",
        "exclamation marks. When a customer is unhappy, reassure them: say\n\
         that we will refund them if the problem is not fixed today. Sign off as\n",
    );
    assert_ne!(
        regressed, tone,
        "the example's tone snippet changed; update this test"
    );
    regressed
}

/// The App installed on the example repository, whose `main` has
/// `[suggest]` as `base_suggest` says, and a pull request that makes the
/// tone snippet promise refunds (and changes the config to `head_config`
/// when given).
struct World {
    fake: FakeGitHub,
    repo: RepoName,
    install: InstallationId,
    number: PrNumber,
    head: CommitSha,
}

fn world(fake: FakeGitHub, base_config: &str, head_config: Option<&str>) -> World {
    let repo = fake.create_repo(REPO);
    fake.commit(&repo, "main", &refs(&example_files(base_config)));
    let install = fake.install_app(&[&repo]);
    let tone = regressed_tone();
    let mut changes = vec![("snippets/tone.md".to_owned(), tone)];
    if let Some(tail) = head_config {
        let config = example_files(tail)
            .into_iter()
            .find(|(p, _)| p == "promptgate.toml")
            .unwrap();
        changes.push(config);
    }
    let number = fake.open_pr(&repo, "feature", &refs(&changes));
    let head = CommitSha(fake.pull(&repo, number).head_sha);
    World {
        fake,
        repo,
        install,
        number,
        head,
    }
}

/// GitHub's example `pull_request` payload of `action`, pointed at the world.
fn pr_event(world: &World, action: &str) -> Value {
    let (_, body) = webhook_examples("pull_request")
        .into_iter()
        .find(|(a, _)| a.as_deref() == Some(action))
        .expect("an example of the action");
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    let pull = world.fake.pull(&world.repo, world.number);
    event["number"] = json!(world.number.0);
    event["repository"]["full_name"] = json!(REPO);
    event["installation"] = json!({ "id": world.install.0 });
    let pr = &mut event["pull_request"];
    pr["number"] = json!(world.number.0);
    pr["head"]["sha"] = json!(pull.head_sha);
    pr["head"]["ref"] = json!(pull.head_ref);
    pr["head"]["repo"]["full_name"] = json!(REPO);
    pr["base"]["sha"] = json!(pull.base_sha);
    pr["base"]["ref"] = json!("main");
    pr["base"]["repo"]["full_name"] = json!(REPO);
    event
}

/// A `promptgate serve` acting as the fake's App, with its own database and
/// data folder.
struct App {
    process: ServeProcess,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start(fake: &FakeGitHub) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("server.toml");
        std::fs::write(
            &config,
            "[jobs]\nlease_seconds = 5\npoll_interval_ms = 100\nshutdown_grace_seconds = 1\n\
             backoff_base_seconds = 0\n",
        )
        .unwrap();
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/test-app-key.pem");
        let envs = [
            ("PROMPTGATE_WEBHOOK_SECRET", SECRET.to_owned()),
            (
                "PROMPTGATE_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("app.db").display()),
            ),
            (
                "PROMPTGATE_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            ("PROMPTGATE_GITHUB_APP_ID", APP_ID.to_string()),
            (
                "PROMPTGATE_GITHUB_PRIVATE_KEY_PATH",
                key.display().to_string(),
            ),
            ("PROMPTGATE_GITHUB_API_URL", fake.api_url()),
        ];
        let process = ServeProcess::start(&config, &envs, &dir.path().join("app.log")).await;
        App { process, _dir: dir }
    }

    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let status = self.process.deliver(SECRET, event, delivery, body).await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{delivery}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("app.log")).unwrap_or_default()
    }

    /// Delivers `action` and waits until the head has `runs` completed
    /// check runs (each gate completes its own).
    async fn gate(&self, world: &World, action: &str, delivery: &str, runs: usize) {
        self.deliver("pull_request", delivery, &pr_event(world, action))
            .await;
        let give_up = std::time::Instant::now() + Duration::from_secs(180);
        loop {
            let done = world
                .fake
                .check_runs(&world.repo, &world.head)
                .iter()
                .filter(|r| r.status == "completed")
                .count();
            if done >= runs {
                return;
            }
            assert!(
                std::time::Instant::now() < give_up,
                "no completed check run after {delivery}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The replacement lines of the suggestion block in a comment body, read
/// as CommonMark reads a fenced block (the closing fence is a line of at
/// least as many backticks as opened it).
fn suggested_lines(body: &str) -> Vec<&str> {
    let mut lines = body.split('\n');
    let fence = lines
        .by_ref()
        .find_map(|line| {
            let ticks = line.strip_suffix("suggestion")?;
            (ticks.len() >= 3 && ticks.bytes().all(|b| b == b'`')).then_some(ticks.len())
        })
        .expect("a suggestion block");
    lines
        .take_while(|line| {
            let trimmed = line.trim();
            !(trimmed.len() >= fence && trimmed.bytes().all(|b| b == b'`'))
        })
        .collect()
}

/// What GitHub's "Commit suggestion" does: lines `start..=end` replaced.
fn commit_suggestion(file: &str, start: u64, end: u64, replacement: &[&str]) -> String {
    let lines: Vec<&str> = file.split('\n').collect();
    let mut out = lines[..start as usize - 1].to_vec();
    out.extend_from_slice(replacement);
    out.extend_from_slice(&lines[end as usize..]);
    out.join("\n")
}

/// The scripted model answering with `script`; the world whose base and
/// head configs `configs` makes of it (`[suggest]` settings appended to the
/// example's); the App, having gated the pull request once.
async fn gated_once(
    script: impl Fn(&Value) -> String + Send + Sync + 'static,
    configs: impl FnOnce(&ScriptedModel) -> (String, Option<String>),
) -> (ScriptedModel, World, App) {
    let model = ScriptedModel::start(script).await;
    let (base, head) = configs(&model);
    let world = world(FakeGitHub::start().await, &base, head.as_deref());
    let app = App::start(&world.fake).await;
    app.gate(&world, "opened", "delivery-opened", 1).await;
    let runs = world.fake.check_runs(&world.repo, &world.head);
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"), "{runs:?}");
    (model, world, app)
}

/// Stops the App; every request it made was GitHub's API as described.
async fn finish(app: App, world: &World) {
    app.process.stop().await;
    world.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_posts_a_verified_suggestion_once_on_the_right_lines() {
    within(async {
        let (_model, world, app) = gated_once(example_suggester, |model| {
            (
                model.suggest_config("enabled = true\ncandidates = 3\n"),
                None,
            )
        })
        .await;
        let comments = world.fake.review_comments(&world.repo, world.number);
        assert_eq!(
            comments.len(),
            1,
            "one suggestion: {comments:?}\n{}",
            app.log()
        );
        let comment = &comments[0];
        assert_eq!(comment.author, BOT);
        assert_eq!(comment.path, "snippets/tone.md");
        assert_eq!(comment.commit_id, world.head.0);
        assert_eq!((comment.start_line, comment.line), (Some(2), 3));
        assert!(
            comment.body.starts_with("<!-- promptgate:suggestion:"),
            "the marker is the first line: {}",
            comment.body
        );
        assert!(
            comment
                .body
                .contains("on 10 held-out cases; no criterion regressed"),
            "{}",
            comment.body
        );
        let sticky = world.fake.comments(&world.repo, world.number);
        assert_eq!(sticky.len(), 1, "{sticky:?}");
        assert!(
            sticky[0]
                .body
                .contains("support-bot: verified suggestion (snippets/tone.md lines 2–3)"),
            "{}",
            sticky[0].body
        );

        // Committing the suggestion gives the fixed snippet, which validates.
        let before = world.fake.file_at(&world.head, "snippets/tone.md").unwrap();
        let applied = commit_suggestion(&before, 2, 3, &suggested_lines(&comment.body));
        assert_eq!(applied, SAFE_TONE);
        let checkout = common::example_repo();
        common::write(checkout.path(), "snippets/tone.md", &applied);
        let (code, out, err) = common::promptgate(checkout.path(), &["validate"]);
        assert_eq!(code, 0, "{out}\n{err}");

        // The same head again, redelivered and synchronized: the one
        // suggestion is updated, not repeated.
        app.gate(&world, "opened", "delivery-opened", 1).await;
        app.gate(&world, "synchronize", "delivery-sync", 2).await;
        let again = world.fake.review_comments(&world.repo, world.number);
        assert_eq!(again.len(), 1, "not repeated: {again:?}");
        assert_eq!(again[0].id, comment.id);
        // (The second finding came from the cache, so its cost line changed.)
        assert_eq!(
            suggested_lines(&again[0].body),
            suggested_lines(&comment.body)
        );
        assert_eq!(world.fake.comments(&world.repo, world.number).len(), 1);
        finish(app, &world).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_turned_on_only_by_the_pull_request_ask_no_model() {
    within(async {
        let (model, world, app) = gated_once(example_suggester, |model| {
            (
                model.suggest_config("enabled = false\n"),
                Some(model.suggest_config("enabled = true\n")),
            )
        })
        .await;
        assert!(model.requests().is_empty(), "the model was asked");
        let posted = world.fake.review_comments(&world.repo, world.number);
        assert!(posted.is_empty(), "{posted:?}");
        let sticky = world.fake.comments(&world.repo, world.number);
        for said in [
            "verified suggestion",
            "survived verification",
            "no suggestion",
        ] {
            assert!(!sticky[0].body.contains(said), "{}", sticky[0].body);
        }
        finish(app, &world).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_candidate_survives_the_sticky_comment_says_so() {
    within(async {
        let (model, world, app) = gated_once(refused_suggester, |model| {
            (model.suggest_config("enabled = true\n"), None)
        })
        .await;
        assert_eq!(model.requests().len(), 1);
        let posted = world.fake.review_comments(&world.repo, world.number);
        assert!(posted.is_empty(), "{posted:?}");
        let sticky = &world.fake.comments(&world.repo, world.number)[0].body;
        let said = "support-bot: no suggested edit survived verification";
        assert!(sticky.contains(said), "{sticky}");
        finish(app, &world).await;
    })
    .await;
}
