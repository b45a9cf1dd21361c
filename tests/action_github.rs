//! `promptgate action` end to end: the real binary, with the Actions
//! environment set, on real git repositories made from `fixtures/example`,
//! against the contract-checked fake GitHub. Event payloads are GitHub's own
//! examples (`fixtures/github/webhooks/`) with this world's repository,
//! numbers and commits written in.

// Only the git helpers are used here.
#[allow(dead_code)]
mod common;
#[path = "support/fake_github/mod.rs"]
mod fake_github;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{git, write};
use fake_github::{ACTIONS_TOKEN, FakeGitHub, webhook_examples};
use promptgate::types::{CommitSha, PrNumber, RepoName};
use serde_json::{Value, json};

const REPO: &str = "octo-org/prompts";

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the test finished in time")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The example committed on `main`, with the store ignored.
fn example_repo(dir: &Path) -> String {
    copy_dir(&fixtures().join("example"), dir);
    write(
        dir,
        ".gitignore",
        ".promptgate/\npromptgate-*.xml\npromptgate-*.json\n",
    );
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "base"]);
    git(dir, &["rev-parse", "HEAD"])
}

fn apply(repo: &Path, patch: &str) {
    let patch = fixtures().join("example-edits").join(patch);
    git(repo, &["apply", patch.to_str().unwrap()]);
}

fn commit_all(repo: &Path, message: &str) -> String {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// GitHub's example `pull_request` payload for `action`, pointed at this world.
fn pr_payload(action: &str, number: PrNumber, head: &str, base: &str, head_repo: &str) -> Value {
    let (_, body) = webhook_examples("pull_request")
        .into_iter()
        .find(|(a, _)| a.as_deref() == Some(action))
        .expect("an example of the action");
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    event["number"] = json!(number.0);
    event["repository"]["full_name"] = json!(REPO);
    let pr = &mut event["pull_request"];
    pr["number"] = json!(number.0);
    pr["head"]["sha"] = json!(head);
    pr["head"]["ref"] = json!("feature");
    pr["head"]["repo"]["full_name"] = json!(head_repo);
    pr["base"]["sha"] = json!(base);
    pr["base"]["ref"] = json!("main");
    pr["base"]["repo"]["full_name"] = json!(REPO);
    event
}

/// GitHub's example `push` payload, pointed at this world's `main`.
fn push_payload(before: &str, after: &str) -> Value {
    let (_, body) = webhook_examples("push").remove(0);
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    event["ref"] = json!("refs/heads/main");
    event["before"] = json!(before);
    event["after"] = json!(after);
    event["deleted"] = json!(false);
    event["repository"]["full_name"] = json!(REPO);
    event["repository"]["default_branch"] = json!("main");
    event
}

/// What one run of the action left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    summary: String,
    outputs: String,
}

impl Run {
    fn output(&self, name: &str) -> Option<&str> {
        self.outputs
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
    }
}

/// Runs `promptgate action` in `repo` as a workflow step would.
async fn run_action(
    fake: &FakeGitHub,
    repo: &Path,
    event_name: &str,
    payload: &Value,
    extra: &[(&str, &str)],
) -> Run {
    let step = tempfile::tempdir().unwrap();
    let event_path = step.path().join("event.json");
    std::fs::write(&event_path, payload.to_string()).unwrap();
    let summary = step.path().join("summary.md");
    let outputs = step.path().join("output.txt");
    let sha = git(repo, &["rev-parse", "HEAD"]);
    let mut envs: Vec<(String, String)> = [
        ("GITHUB_EVENT_NAME", event_name.to_string()),
        ("GITHUB_EVENT_PATH", event_path.display().to_string()),
        ("GITHUB_REPOSITORY", REPO.to_string()),
        ("GITHUB_SHA", sha),
        ("GITHUB_API_URL", fake.api_url()),
        ("GITHUB_TOKEN", ACTIONS_TOKEN.to_string()),
        ("GITHUB_OUTPUT", outputs.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
        ("GITHUB_ACTOR", "octocat".to_string()),
        ("PROMPTGATE_CONFIG", "promptgate.toml".to_string()),
        ("PROMPTGATE_COMMENT", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    envs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let repo = repo.to_path_buf();
    // The fake serves on this runtime while the binary runs on another thread.
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let out = assert_cmd::Command::cargo_bin("promptgate")
            .unwrap()
            .arg("-C")
            .arg(&repo)
            .arg("action")
            .env_remove("PROMPTGATE_REPO")
            .env_remove("PROMPTGATE_REGISTRY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env("NO_COLOR", "1")
            .envs(envs)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    })
    .await
    .unwrap();
    Run {
        code,
        stdout,
        stderr,
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
    }
}

/// The 1-based line of the first line of `file` containing `text`.
fn line_of(file: &Path, text: &str) -> u64 {
    let content = std::fs::read_to_string(file).unwrap();
    content
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text} not in {}", file.display())) as u64
        + 1
}

struct PrWorld {
    fake: FakeGitHub,
    repo: RepoName,
    number: PrNumber,
    dir: tempfile::TempDir,
    base: String,
}

/// A fake repository with an open pull request, and the local clone of the
/// example on the pull request's branch (no commits on it yet).
async fn pr_world() -> PrWorld {
    let fake = FakeGitHub::start().await;
    let repo = fake.create_repo(REPO);
    let number = fake.open_pr(&repo, "feature", &[("prompts/x.prompt.yml", "changed")]);
    let dir = tempfile::tempdir().unwrap();
    let base = example_repo(dir.path());
    git(dir.path(), &["checkout", "-qb", "feature"]);
    PrWorld {
        fake,
        repo,
        number,
        dir,
        base,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_comment_per_pull_request_updated_on_push_and_a_regression_fails_the_check() {
    within(async {
        let w = pr_world().await;
        let root = w.dir.path();
        apply(root, "harmless.patch");
        let head = commit_all(root, "harmless");
        let opened = pr_payload("opened", w.number, &head, &w.base, REPO);
        let run = run_action(&w.fake, root, "pull_request", &opened, &[]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let comments = w.fake.comments(&w.repo, w.number);
        assert_eq!(comments.len(), 1, "one comment");
        assert_eq!(comments[0].author, "github-actions[bot]");
        assert!(
            comments[0].body.contains("support-bot"),
            "{}",
            comments[0].body
        );
        assert_eq!(
            comments[0]
                .body
                .matches("<!-- promptgate:comment -->")
                .count(),
            1,
            "the marker once"
        );
        let runs = w.fake.check_runs(&w.repo, &CommitSha(head.clone()));
        assert_eq!(runs.len(), 1, "one check run");
        assert_eq!(runs[0].status, "completed");
        assert_ne!(runs[0].conclusion.as_deref(), Some("failure"));
        assert!(runs[0].annotations.is_empty());
        assert!(run.summary.contains("support-bot"), "{}", run.summary);
        assert_ne!(run.output("verdict"), Some("fail"), "{}", run.outputs);
        assert_eq!(run.output("html-path"), None, "no HTML report unless asked");
        let junit = PathBuf::from(run.output("junit-path").unwrap());
        assert!(
            std::fs::read_to_string(junit)
                .unwrap()
                .contains("<testsuite")
        );
        let report: Value =
            serde_json::from_slice(&std::fs::read(run.output("report-json").unwrap()).unwrap())
                .unwrap();
        assert_eq!(report["prompts"][0]["name"], "support-bot", "{report}");

        // A push that regresses: the same comment, edited; a failed check.
        apply(root, "regression.patch");
        let head = commit_all(root, "regression");
        w.fake
            .push_to_pr(&w.repo, w.number, &[("prompts/x.prompt.yml", "again")]);
        let synchronize = pr_payload("synchronize", w.number, &head, &w.base, REPO);
        let run = run_action(&w.fake, root, "pull_request", &synchronize, &[]).await;
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let after = w.fake.comments(&w.repo, w.number);
        assert_eq!(after.len(), 1, "still one comment");
        assert_eq!(after[0].id, comments[0].id);
        assert_eq!(after[0].edits, 1);
        assert!(
            after[0].body.contains("no refund promises"),
            "{}",
            after[0].body
        );

        let runs = w.fake.check_runs(&w.repo, &CommitSha(head.clone()));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
        let prompt_file = root.join("prompts/support-bot.prompt.yml");
        let line = line_of(&prompt_file, "name: no refund promises");
        let annotation = runs[0]
            .annotations
            .iter()
            .find(|a| {
                a["title"]
                    .as_str()
                    .unwrap_or("")
                    .contains("no refund promises")
            })
            .unwrap_or_else(|| panic!("no annotation: {:?}", runs[0].annotations));
        assert_eq!(annotation["path"], "prompts/support-bot.prompt.yml");
        assert_eq!(annotation["start_line"], line, "{annotation}");
        assert_eq!(annotation["annotation_level"], "failure");
        assert!(
            run.stdout.contains(&format!(
                "::error file=prompts/support-bot.prompt.yml,line={line},"
            )),
            "{}",
            run.stdout
        );
        assert_eq!(run.output("verdict"), Some("fail"));
        assert_eq!(run.output("regressions"), Some("1"), "{}", run.outputs);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_marker_is_found_past_the_first_hundred_comments_and_only_ours_is_updated() {
    within(async {
        let w = pr_world().await;
        let root = w.dir.path();
        for i in 0..110 {
            w.fake
                .add_comment_by(&w.repo, w.number, "reviewer", &format!("comment {i}"));
        }
        // Anyone can paste the marker; only ours counts.
        let pasted = w.fake.add_comment_by(
            &w.repo,
            w.number,
            "mallory",
            "<!-- promptgate:comment --> pasted",
        );
        let ours = w.fake.add_comment_by(
            &w.repo,
            w.number,
            "github-actions[bot]",
            "old report\n<!-- promptgate:comment -->",
        );
        apply(root, "harmless.patch");
        let head = commit_all(root, "harmless");
        let payload = pr_payload("opened", w.number, &head, &w.base, REPO);
        let run = run_action(&w.fake, root, "pull_request", &payload, &[]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let comments = w.fake.comments(&w.repo, w.number);
        assert_eq!(comments.len(), 112, "no new comment");
        let edited: Vec<u64> = comments
            .iter()
            .filter(|c| c.edits > 0)
            .map(|c| c.id)
            .collect();
        assert_eq!(edited, vec![ours]);
        let mine = comments.iter().find(|c| c.id == ours).unwrap();
        assert!(mine.body.contains("support-bot"), "{}", mine.body);
        assert!(comments.iter().any(|c| c.id == pasted && c.edits == 0));
        assert!(
            w.fake
                .requests_to("issues/list-comments")
                .iter()
                .any(|r| r.query.iter().any(|(k, v)| k == "page" && v == "2")),
            "the second page was read"
        );
    })
    .await;
}

/// A fork's pull request that adds a `command` evaluator (it would create a
/// file) and loosens the gate, on top of a regression.
fn hostile_change(root: &Path, marker: &Path) -> String {
    apply(root, "regression.patch");
    let prompt = root.join("prompts/support-bot.prompt.yml");
    let text = std::fs::read_to_string(&prompt).unwrap().replace(
        "repeats: 1",
        &format!(
            "  - name: pwn\n    command:\n      program: touch\n      args: [\"{}\"]\nrepeats: 1",
            marker.display()
        ),
    );
    std::fs::write(&prompt, text).unwrap();
    let config = root.join("promptgate.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("tolerance = 0.02", "tolerance = 0.9")
        .replace("fail_on = \"regression\"", "fail_on = \"never\"");
    std::fs::write(&config, text).unwrap();
    commit_all(root, "hostile")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_runs_nothing_from_the_pull_request_posts_nothing_and_keeps_the_base_policy() {
    within(async {
        let w = pr_world().await;
        let root = w.dir.path();
        let outside = tempfile::tempdir().unwrap();
        let marker = outside.path().join("pwned");
        let head = hostile_change(root, &marker);
        let payload = pr_payload("opened", w.number, &head, &w.base, "stranger/prompts");
        let run = run_action(&w.fake, root, "pull_request", &payload, &[]).await;
        assert!(!marker.exists(), "a command from the fork ran");
        // The base's policy: the regression still fails.
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.output("verdict"), Some("fail"));
        assert!(run.summary.contains("fork"), "{}", run.summary);
        assert!(run.summary.contains("untrusted"), "{}", run.summary);
        assert!(
            run.stdout
                .contains("::error file=prompts/support-bot.prompt.yml")
        );
        assert!(
            w.fake.requests().is_empty(),
            "nothing attempted on GitHub: {:?}",
            w.fake.requests()
        );
        assert!(w.fake.comments(&w.repo, w.number).is_empty());

        // The same change from the repository itself is trusted: its
        // command runs and its looser policy applies. (The test above
        // would catch a fork being treated like this.) The fork's results
        // carry the refusal: they were not stored, so the trusted run
        // evaluates afresh instead of reusing them.
        let payload = pr_payload("opened", w.number, &head, &w.base, REPO);
        let run = run_action(&w.fake, root, "pull_request", &payload, &[]).await;
        assert!(marker.exists(), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_without_provider_keys_is_skipped_as_neutral() {
    within(async {
        let w = pr_world().await;
        let root = w.dir.path();
        // The base calls OpenAI itself (no echo stand-in): it needs a key.
        git(root, &["checkout", "-q", "main"]);
        let config = root.join("promptgate.toml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("[providers.openai]\nkind = \"echo\"\n", "");
        std::fs::write(&config, text).unwrap();
        let base = commit_all(root, "call openai");
        git(root, &["checkout", "-q", "-B", "feature"]);
        apply(root, "harmless.patch");
        let head = commit_all(root, "harmless");
        let payload = pr_payload("opened", w.number, &head, &base, "stranger/prompts");
        let run = run_action(&w.fake, root, "pull_request", &payload, &[]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.output("verdict"), Some("skipped"));
        assert!(
            run.summary.contains("skipped: no credentials (OPENAI"),
            "{}",
            run.summary
        );
        assert!(w.fake.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_main_publishes_the_changed_prompts_to_the_registry_branch() {
    within(async {
        let fake = FakeGitHub::start().await;
        let repo = fake.create_repo(REPO);
        let temp = tempfile::tempdir().unwrap();
        let origin = temp.path().join("origin.git");
        let root = temp.path().join("work");
        std::fs::create_dir_all(&root).unwrap();
        git(
            temp.path(),
            &["init", "-q", "--bare", origin.to_str().unwrap()],
        );
        let first = example_repo(&root);
        git(
            &root,
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        git(&root, &["push", "-q", "origin", "main"]);

        // The first push of the branch publishes every prompt.
        let zeros = "0".repeat(40);
        let run = run_action(&fake, &root, "push", &push_payload(&zeros, &first), &[]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("support-bot v1 published"),
            "{}",
            run.stdout
        );
        let registry = |path: &str| {
            let out = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&origin)
                .args(["show", &format!("promptgate-registry:{path}")])
                .output()
                .unwrap();
            out.status
                .success()
                .then(|| String::from_utf8(out.stdout).unwrap())
        };
        assert!(registry("prompts/classify-ticket/versions/v1.json").is_some());

        // A change to one prompt: only it gets a next version, with its baseline.
        apply(&root, "harmless.patch");
        let second = commit_all(&root, "reword the support bot");
        git(&root, &["push", "-q", "origin", "main"]);
        fake.world()
            .commits
            .insert(second.clone(), fake_github::world::Commit::default());
        let run = run_action(
            &fake,
            &root,
            "push",
            &push_payload(&first, &second),
            &[("PROMPTGATE_DEPLOYMENTS", "true")],
        )
        .await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("support-bot v2 published"),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains("classify-ticket"), "{}", run.stdout);
        let version: Value =
            serde_json::from_str(&registry("prompts/support-bot/versions/v2.json").unwrap())
                .unwrap();
        assert_eq!(version["git_commit"], second.as_str());
        assert!(
            version["content"]["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("Never promise refunds"),
            "includes resolved: {version}"
        );
        let baselines: Value =
            serde_json::from_str(&registry("prompts/support-bot/baselines.json").unwrap()).unwrap();
        assert!(baselines.get("2").is_some(), "{baselines}");
        let labels: Value =
            serde_json::from_str(&registry("prompts/support-bot/labels.json").unwrap()).unwrap();
        assert_eq!(labels["latest"], json!(2), "{labels}");
        assert!(registry("prompts/classify-ticket/versions/v2.json").is_none());
        assert!(
            run.summary.contains("| support-bot | v2 |"),
            "{}",
            run.summary
        );

        let deployments = fake.deployments(&repo);
        assert_eq!(deployments.len(), 1);
        assert_eq!(deployments[0].environment, "latest");
        assert_eq!(
            deployments[0].payload["promptgate"]["versions"]["support-bot"],
            2
        );
        assert_eq!(deployments[0].statuses[0].0, "success");

        // The rerun after a model change: fresh calls, compared with the
        // baselines stored by the publish.
        let dispatch = json!({
            "inputs": { "model": "openai/gpt-4o-mini" },
            "ref": "refs/heads/main",
            "repository": { "full_name": REPO },
            "sender": { "login": "octocat" },
            "workflow": ".github/workflows/promptgate.yml"
        });
        let run = run_action(&fake, &root, "workflow_dispatch", &dispatch, &[]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.summary
                .contains("Rerun of the prompts on `openai/gpt-4o-mini`"),
            "{}",
            run.summary
        );
        let report: Value =
            serde_json::from_slice(&std::fs::read(run.output("report-json").unwrap()).unwrap())
                .unwrap();
        assert!(
            report["totals"]["calls"]["made"].as_u64().unwrap() > 0,
            "evaluated fresh: {report}"
        );
        assert_eq!(
            report["prompts"][0]["baseline_source"], "local store",
            "{report}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_input_may_name_a_promptgate_toml_in_any_folder() {
    within(async {
        let fake = FakeGitHub::start().await;
        let repo = fake.create_repo(REPO);
        let number = fake.open_pr(&repo, "feature", &[("prompts/x.prompt.yml", "changed")]);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        copy_dir(&fixtures().join("example"), &root.join("services/chat"));
        write(
            root,
            ".gitignore",
            ".promptgate/\npromptgate-*.xml\npromptgate-*.json\n",
        );
        git(root, &["init", "-q"]);
        let base = commit_all(root, "base");
        git(root, &["checkout", "-qb", "feature"]);
        let patch = fixtures().join("example-edits/regression.patch");
        git(
            root,
            &[
                "apply",
                "--directory=services/chat",
                patch.to_str().unwrap(),
            ],
        );
        let head = commit_all(root, "regression");
        let opened = pr_payload("opened", number, &head, &base, REPO);
        let config = [
            ("PROMPTGATE_CONFIG", "services/chat/promptgate.toml"),
            ("PROMPTGATE_HTML", "reports/promptgate.html"),
        ];
        let run = run_action(&fake, root, "pull_request", &opened, &config).await;
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        // The HTML report, asked for, is written even though the gate failed,
        // in the working directory like the others, and loads nothing.
        let html = root.join("reports/promptgate.html");
        assert_eq!(
            run.output("html-path").map(PathBuf::from),
            Some(html.clone())
        );
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains("support-bot") && page.contains("regressed"));
        for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
            assert!(!page.contains(external), "{external} in the HTML report");
        }
        assert_eq!(run.output("regressions"), Some("1"), "{}", run.outputs);
        // Annotations name the file by its path in the repository.
        assert!(
            run.stdout
                .contains("::error file=services/chat/prompts/support-bot.prompt.yml,line="),
            "{}",
            run.stdout
        );
        let runs = fake.check_runs(&repo, &CommitSha(head.clone()));
        let paths: Vec<&str> = runs[0]
            .annotations
            .iter()
            .filter_map(|a| a["path"].as_str())
            .collect();
        assert!(
            !paths.is_empty()
                && paths
                    .iter()
                    .all(|p| p.starts_with("services/chat/prompts/")),
            "{paths:?}"
        );
        // The reports stay where `junit` says, in the working directory.
        assert_eq!(
            run.output("junit-path").map(PathBuf::from),
            Some(root.join("promptgate-junit.xml"))
        );
    })
    .await;
}

/// `action.yml` and the binary agree: every input a step passes on is
/// declared and read by `promptgate action`, every output it declares is one
/// the binary sets, and the HTML report is uploaded exactly when one was
/// written (whatever the verdict), by an action pinned to a commit.
#[test]
fn action_yml_and_the_binary_agree_on_inputs_outputs_and_the_html_upload() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let (action, problems) = promptgate::pipeline::spec::yaml::parse(&text).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let action = action.value;
    let source = std::fs::read_to_string(root.join("src/action/mod.rs")).unwrap()
        + &std::fs::read_to_string(root.join("src/edges/github/actions.rs")).unwrap();
    let inputs = action["inputs"].as_object().unwrap();
    let steps = action["runs"]["steps"].as_array().unwrap();
    let gate = steps.iter().find(|s| s["id"] == "gate").unwrap();
    for (name, value) in gate["env"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        if let Some(input) = value
            .strip_prefix("${{ inputs.")
            .and_then(|v| v.strip_suffix(" }}"))
        {
            assert!(
                inputs.contains_key(input),
                "{name} passes an undeclared input {input}"
            );
        }
        assert!(
            source.contains(&format!("\"{name}\"")),
            "the gate step passes {name}, which promptgate action never reads"
        );
    }
    for (name, output) in action["outputs"].as_object().unwrap() {
        let value = output["value"].as_str().unwrap();
        assert_eq!(value, format!("${{{{ steps.gate.outputs.{name} }}}}"));
        assert!(
            source.contains(&format!("(\"{name}\",")),
            "action.yml declares the output {name}, which promptgate action never sets"
        );
    }
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("a step uploads the HTML report");
    let pinned = upload["uses"].as_str().unwrap().split('@').nth(1).unwrap();
    assert!(
        pinned.len() == 40 && pinned.chars().all(|c| c.is_ascii_hexdigit()),
        "pinned to a commit, not a tag: {pinned}"
    );
    assert_eq!(
        upload["with"]["path"],
        "${{ steps.gate.outputs.html-path }}"
    );
    assert_eq!(upload["with"]["name"], "${{ inputs.html-artifact }}");
    let condition = upload["if"].as_str().unwrap();
    assert!(
        condition.contains("!cancelled()"),
        "runs after a failed gate: {condition}"
    );
    assert!(
        condition.contains("steps.gate.outputs.html-path != ''"),
        "{condition}"
    );
}
