//! `promptgate serve` as a GitHub App, end to end: the real binary acting as
//! the App (RS256 JWT, installation tokens) against the contract-checked
//! fake GitHub, with llm-katan as the model provider. Deliveries are
//! GitHub's own example payloads pointed at this world and signed the way
//! GitHub signs them; repository files reach the server only through the
//! API (trees and contents).

#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "support/llm_katan.rs"]
mod llm_katan;
#[path = "support/serve_process.rs"]
mod serve_process;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_github::{APP_ID, FakeGitHub, webhook_examples};
use promptgate::edges::db::Database;
use promptgate::edges::registry::{self, VersionRef};
use promptgate::server::installations::Installations;
use promptgate::server::jobs::{JobKind, JobQueue, JobStatus, RetryPolicy};
use promptgate::types::{CommitSha, InstallationId, PrNumber, RepoName};
use serde_json::{Value, json};
use serve_process::ServeProcess;

const SECRET: &str = "server-github-webhook-secret";
const REPO: &str = "octo-org/prompts";
const BOT: &str = "promptgate[bot]";

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(300), f)
        .await
        .expect("the test finished in time")
}

/// A prompt that passes when the model behind `katan/assistant` is
/// `katan` (llm-katan's echo names the model it serves), and its config.
fn repo_files(provider_url: &str, instruction: &str) -> Vec<(String, String)> {
    let config = format!(
        "prompts = [\"prompts/*.prompt.yml\"]\n\
         [providers.katan]\nkind = \"openai-compatible\"\nbase_url = \"{}/v1\"\napi_key_env = \"KATAN_KEY\"\n\
         [gate]\nmin_cases = 5\nfail_on = \"regression\"\n",
        provider_url
    );
    let mut cases = String::new();
    for i in 0..8 {
        cases.push_str(&format!("  - question: \"question number {i}\"\n"));
    }
    let prompt = format!(
        "name: helper\nmodel: katan/assistant\nmessages:\n  - role: system\n    content: {instruction}\n  - role: user\n    content: \"{{{{question}}}}\"\ntestData:\n{cases}evaluators:\n  - name: served by katan\n    string:\n      contains: \"model=katan host\"\n  - name: repeats the question\n    string:\n      contains: \"question number\"\n"
    );
    vec![
        ("promptgate.toml".into(), config),
        ("prompts/helper.prompt.yml".into(), prompt),
    ]
}

fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect()
}

/// GitHub's example payload of `event` (with `action`), pointed at this world.
fn example(event: &str, action: Option<&str>) -> Value {
    let (_, body) = webhook_examples(event)
        .into_iter()
        .find(|(a, _)| action.is_none() || a.as_deref() == action)
        .expect("an example of the action");
    serde_json::from_slice(&body).unwrap()
}

fn pr_event(
    action: &str,
    fake: &FakeGitHub,
    repo: &RepoName,
    number: PrNumber,
    install: InstallationId,
) -> Value {
    let pull = fake.pull(repo, number);
    let mut event = example("pull_request", Some(action));
    event["number"] = json!(number.0);
    event["repository"]["full_name"] = json!(REPO);
    event["installation"] = json!({ "id": install.0 });
    let pr = &mut event["pull_request"];
    pr["number"] = json!(number.0);
    pr["head"]["sha"] = json!(pull.head_sha);
    pr["head"]["ref"] = json!(pull.head_ref);
    pr["head"]["repo"]["full_name"] = json!(REPO);
    pr["base"]["sha"] = json!(pull.base_sha);
    pr["base"]["ref"] = json!("main");
    pr["base"]["repo"]["full_name"] = json!(REPO);
    event
}

fn comment_event(number: PrNumber, user: &str, body: &str, install: InstallationId) -> Value {
    let mut event = example("issue_comment", Some("created"));
    event["issue"]["number"] = json!(number.0);
    event["issue"]["pull_request"] = json!({ "url": "https://api.github.com/x" });
    event["comment"]["body"] = json!(body);
    event["comment"]["user"]["login"] = json!(user);
    event["comment"]["user"]["type"] = json!("User");
    event["repository"]["full_name"] = json!(REPO);
    event["installation"] = json!({ "id": install.0 });
    event
}

fn push_event(before: &CommitSha, after: &CommitSha, install: InstallationId) -> Value {
    let mut event = example("push", None);
    event["ref"] = json!("refs/heads/main");
    event["before"] = json!(before.0);
    event["after"] = json!(after.0);
    event["deleted"] = json!(false);
    event["repository"]["full_name"] = json!(REPO);
    event["repository"]["default_branch"] = json!("main");
    event["installation"] = json!({ "id": install.0 });
    event
}

fn model_changed_event(model: &str, install: InstallationId) -> Value {
    let mut event = example("repository_dispatch", None);
    event["action"] = json!("promptgate-model-changed");
    event["client_payload"] = json!({ "model": model });
    event["repository"]["full_name"] = json!(REPO);
    event["installation"] = json!({ "id": install.0 });
    event
}

/// Everything a server run needs, kept across restarts.
struct Deployment {
    dir: tempfile::TempDir,
    api_url: String,
}

impl Deployment {
    fn new(fake: &FakeGitHub) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("server.toml"),
            "[jobs]\nlease_seconds = 1\npoll_interval_ms = 100\nshutdown_grace_seconds = 1\nbackoff_base_seconds = 0\n\
             [[keys]]\nenv = \"KATAN_KEY\"\nendpoints = [\"http://127.0.0.1\"]\n",
        )
        .unwrap();
        Deployment {
            dir,
            api_url: fake.api_url(),
        }
    }

    fn database(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("server.db").display())
    }

    fn key_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/test-app-key.pem")
    }

    /// A `promptgate serve` acting as the fake's App; its log is `NAME.log`.
    async fn start(&self, name: &str) -> Server {
        let dir = self.dir.path();
        let envs = [
            ("PROMPTGATE_WEBHOOK_SECRET", SECRET.to_string()),
            ("PROMPTGATE_DATABASE_URL", self.database()),
            (
                "PROMPTGATE_DATA_DIR",
                dir.join("data").display().to_string(),
            ),
            ("PROMPTGATE_GITHUB_APP_ID", APP_ID.to_string()),
            (
                "PROMPTGATE_GITHUB_PRIVATE_KEY_PATH",
                Self::key_path().display().to_string(),
            ),
            ("PROMPTGATE_GITHUB_API_URL", self.api_url.clone()),
            ("KATAN_KEY", "katan-test-key".to_string()),
        ];
        let log = dir.join(format!("{name}.log"));
        Server(ServeProcess::start(&dir.join("server.toml"), &envs, &log).await)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    async fn jobs(&self) -> Vec<promptgate::server::jobs::Job> {
        let db = Database::connect(&self.database(), 1).await.unwrap();
        JobQueue::new(db, RetryPolicy::default())
            .jobs()
            .await
            .unwrap()
    }

    /// Waits until every job is finished (done or failed).
    async fn settled(&self) -> Vec<promptgate::server::jobs::Job> {
        let give_up = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let jobs = self.jobs().await;
            if jobs.iter().all(|j| {
                matches!(
                    j.status,
                    JobStatus::Done | JobStatus::Failed | JobStatus::Superseded
                )
            }) {
                return jobs;
            }
            assert!(
                std::time::Instant::now() < give_up,
                "jobs did not settle: {jobs:#?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every server log of this deployment, for failure messages.
    fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        all
    }
}

/// A server of this file's deployments: deliveries are JSON, signed with [`SECRET`].
struct Server(ServeProcess);

impl Server {
    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(payload).unwrap();
        self.0.deliver(SECRET, event, delivery, body).await
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

/// A loopback TCP endpoint that forwards each new connection to the port it
/// points at now.
struct Switch {
    port: u16,
    target: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl Switch {
    async fn start(target: u16) -> Self {
        use std::sync::atomic::{AtomicU16, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = std::sync::Arc::new(AtomicU16::new(target));
        let current = target.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = current.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Switch { port, target }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn point_at(&self, port: u16) {
        self.target.store(port, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A repository with the prompt on `main`, the App installed on it.
fn world(fake: &FakeGitHub, provider_url: &str) -> (RepoName, InstallationId) {
    let repo = fake.create_repo(REPO);
    fake.commit(
        &repo,
        "main",
        &as_refs(&repo_files(provider_url, "Repeat the question.")),
    );
    let install = fake.install_app(&[&repo]);
    (repo, install)
}

async fn wait_for(deployment: &Deployment, what: &str, mut done: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            std::time::Instant::now() < give_up,
            "waited too long for {what}; jobs: {:#?}\n{}",
            deployment.jobs().await,
            deployment.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_gated_once_however_often_github_delivers_it() {
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    within(async {
        let fake = FakeGitHub::start().await;
        let (repo, install) = world(&fake, &katan.base_url());
        let files = repo_files(&katan.base_url(), "Repeat the question, politely.");
        let number = fake.open_pr(&repo, "polite", &as_refs(&files[1..]));
        let deployment = Deployment::new(&fake);
        let server = deployment.start("server").await;

        let opened = pr_event("opened", &fake, &repo, number, install);
        for _ in 0..3 {
            assert_eq!(
                server
                    .deliver("pull_request", "delivery-opened", &opened)
                    .await,
                reqwest::StatusCode::ACCEPTED
            );
        }
        let head = CommitSha(fake.pull(&repo, number).head_sha);
        wait_for(&deployment, "the check run to complete", || {
            fake.check_runs(&repo, &head)
                .iter()
                .any(|r| r.status == "completed")
        })
        .await;
        let jobs = deployment.settled().await;
        assert_eq!(jobs.len(), 1, "three deliveries, one job: {jobs:?}");
        assert_eq!(jobs[0].kind, JobKind::Gate);
        let comments = fake.comments(&repo, number);
        assert_eq!(comments.len(), 1, "one comment");
        assert_eq!(comments[0].author, BOT);
        assert!(comments[0].body.contains("helper"), "{}", comments[0].body);
        let runs = fake.check_runs(&repo, &head);
        assert_eq!(runs.len(), 1, "one check run: {runs:?}");
        // Eight cases cannot show that nothing changed: neutral, not failure.
        assert_eq!(runs[0].conclusion.as_deref(), Some("neutral"), "{runs:?}");
        // Only what the check reads, and what base and head share once:
        // promptgate.toml, and the prompt at the merge base and at the head.
        assert_eq!(fake.requests_to("repos/get-content").len(), 3);
        let metrics = reqwest::get(format!("http://{}/metrics", server.0.address))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for series in [
            "promptgate_github_api_calls_total{operation=\"get_a_git_tree\",status=\"2xx\"} 2",
            "promptgate_provider_calls_total{kind=\"openai-compatible\",outcome=\"ok\"}",
            "promptgate_webhook_deliveries_total{event=\"pull_request\"",
        ] {
            assert!(metrics.contains(series), "{series} in\n{metrics}");
        }

        // A regression pushed to the pull request: the same comment, updated;
        // the new head's check run fails and points at the criterion's line.
        let broken = fake.push_to_pr(
            &repo,
            number,
            &[(
                "prompts/helper.prompt.yml",
                // The question no longer reaches the model.
                &files[1].1.replace("\"{{question}}\"", "\"Say hello.\""),
            )],
        );
        let sync = pr_event("synchronize", &fake, &repo, number, install);
        server.deliver("pull_request", "delivery-sync", &sync).await;
        wait_for(&deployment, "the regression's check run", || {
            fake.check_runs(&repo, &broken)
                .iter()
                .any(|r| r.status == "completed")
        })
        .await;
        let runs = fake.check_runs(&repo, &broken);
        assert_eq!(runs[0].conclusion.as_deref(), Some("failure"), "{runs:?}");
        assert!(
            runs[0]
                .annotations
                .iter()
                .any(|a| a["path"] == "prompts/helper.prompt.yml"),
            "{runs:?}"
        );
        let comments = fake.comments(&repo, number);
        assert_eq!(comments.len(), 1, "still one comment");
        assert!(comments[0].edits >= 1, "the comment was updated");

        // `/promptgate rerun` from someone who may not push does nothing;
        // from a maintainer it reruns the gate on the current head.
        fake.set_permission(&repo, "drive-by", "read");
        fake.set_permission(&repo, "maintainer", "write");
        let asked = comment_event(number, "drive-by", "/promptgate rerun", install);
        server.deliver("issue_comment", "delivery-c1", &asked).await;
        deployment.settled().await;
        assert_eq!(fake.check_runs(&repo, &broken).len(), 1, "no rerun");
        let asked = comment_event(number, "maintainer", "/promptgate rerun", install);
        server.deliver("issue_comment", "delivery-c2", &asked).await;
        wait_for(&deployment, "the rerun's check run", || {
            fake.check_runs(&repo, &broken)
                .iter()
                .filter(|r| r.status == "completed")
                .count()
                >= 2
        })
        .await;
        assert_eq!(
            fake.comments(&repo, number).len(),
            1,
            "the rerun updated the one comment"
        );

        server.stop().await;
        fake.assert_no_violations();
    })
    .await;
}

/// The server SIGKILLed while it runs a gate: after a restart the job
/// finishes, and the pull request still has exactly one comment.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_killed_midway_finishes_after_a_restart_with_one_comment() {
    // Slow answers keep the gate running long enough to kill it.
    let Some(katan) = llm_katan::start(&["--latency-ms", "300"]) else {
        return;
    };
    within(async {
        let fake = FakeGitHub::start().await;
        let (repo, install) = world(&fake, &katan.base_url());
        let files = repo_files(&katan.base_url(), "Repeat the question, briefly.");
        let number = fake.open_pr(&repo, "brief", &as_refs(&files[1..]));
        let head = CommitSha(fake.pull(&repo, number).head_sha);
        let deployment = Deployment::new(&fake);
        let mut first = deployment.start("first").await;
        let opened = pr_event("opened", &fake, &repo, number, install);
        first
            .deliver("pull_request", "delivery-kill", &opened)
            .await;
        wait_for(&deployment, "the gate to start", || {
            !fake.check_runs(&repo, &head).is_empty()
        })
        .await;
        first.0.child.kill().await.unwrap();
        assert!(
            fake.comments(&repo, number).is_empty(),
            "killed before posting"
        );

        let second = deployment.start("second").await;
        wait_for(&deployment, "the comment", || {
            !fake.comments(&repo, number).is_empty()
        })
        .await;
        let jobs = deployment.settled().await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].status, jobs[0].attempts),
            (JobStatus::Done, 2),
            "{}",
            deployment.log("second")
        );
        assert_eq!(fake.comments(&repo, number).len(), 1, "exactly one comment");
        assert!(
            fake.check_runs(&repo, &head)
                .iter()
                .any(|r| r.conclusion.as_deref() == Some("neutral")),
            "the restarted job completed a check run"
        );
        assert_eq!(
            fake.check_runs(&repo, &head).len(),
            1,
            "the retry took over the check run the killed attempt left in progress"
        );
        // What the finished attempt spent counts toward the pull request's day.
        let db = Database::connect(&deployment.database(), 1).await.unwrap();
        let spent = promptgate::server::spend::PullRequestSpend::new(db)
            .spent(&repo, number, &promptgate::server::spend::utc_day())
            .await
            .unwrap();
        assert!(spent.calls > 0, "{spent}");
        second.stop().await;
    })
    .await;
}

/// A push to `main` publishes the prompt to the server's registry; a model
/// change that breaks it opens an issue with the table, and the rerun after
/// the model is fixed closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_publish_and_model_changes_open_then_close_an_issue() {
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    let Some(changed) = llm_katan::start(&["--model", "katan-v2"]) else {
        return;
    };
    within(async {
        // The repository names one endpoint; which model answers there is
        // switched under it, as a provider updating a model would.
        let endpoint = Switch::start(katan.port).await;
        let fake = FakeGitHub::start().await;
        let (repo, install) = world(&fake, &endpoint.url());
        let before = CommitSha(fake.world().repo_mut(REPO).branches["main"].clone());
        let after = fake.commit(
            &repo,
            "main",
            &[("README.md", "# prompts\n\nServed by promptgate.\n")],
        );
        let deployment = Deployment::new(&fake);
        let server = deployment.start("server").await;
        let push = push_event(&before, &after, install);
        server.deliver("push", "delivery-push", &push).await;
        // The same commit again (a redelivery with a new id): nothing new.
        server.deliver("push", "delivery-push-again", &push).await;
        let jobs = deployment.settled().await;
        assert!(
            jobs.iter().all(|j| j.status != JobStatus::Failed),
            "{jobs:?}\n{}",
            deployment.log("server")
        );
        // The publish landed in the repository's namespace, and only there.
        let registry = registry::open_in(
            &deployment.database(),
            deployment.dir.path(),
            &registry::Namespace::parse(REPO).unwrap(),
        )
        .await
        .unwrap();
        let elsewhere = registry.scoped(&registry::Namespace::default_namespace());
        assert!(elsewhere.versions("helper").await.unwrap().is_empty());
        let latest = registry.resolve("helper", "latest", None).await.unwrap();
        assert_eq!(latest.number, 1);
        assert_eq!(latest.git_commit.as_deref(), Some(after.0.as_str()));
        assert!(
            registry
                .version("helper", &VersionRef::Number(2))
                .await
                .unwrap()
                .is_none(),
            "publishing the same content twice made one version"
        );
        assert!(
            registry.baseline("helper", 1).await.unwrap().is_some(),
            "the published version has its baseline"
        );

        // The model behind the same id changes (katan-v2 answers now).
        endpoint.point_at(changed.port);
        let dispatch = model_changed_event("katan/assistant", install);
        server
            .deliver("repository_dispatch", "delivery-model-1", &dispatch)
            .await;
        deployment.settled().await;
        let issues = fake.issues(&repo);
        let opened: Vec<_> = issues.iter().collect();
        assert_eq!(opened.len(), 1, "{issues:?}\n{}", deployment.log("server"));
        assert_eq!(opened[0].state, "open");
        assert_eq!(opened[0].author, BOT);
        assert!(
            opened[0].title.contains("katan/assistant"),
            "{}",
            opened[0].title
        );
        assert!(
            opened[0].body.contains("served by katan"),
            "{}",
            opened[0].body
        );

        // The model is fixed: the next rerun passes and closes the issue.
        endpoint.point_at(katan.port);
        server
            .deliver("repository_dispatch", "delivery-model-2", &dispatch)
            .await;
        deployment.settled().await;
        let issues = fake.issues(&repo);
        assert_eq!(issues.len(), 1, "the same issue, not a second");
        assert_eq!(issues[0].state, "closed", "{}", deployment.log("server"));

        server.stop().await;
        fake.assert_no_violations();
    })
    .await;
}

/// `installation` webhooks tell the server what it serves; a suspended
/// installation gets no work until it is unsuspended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installations_are_recorded_and_a_suspended_one_gets_no_work() {
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    within(async {
        let fake = FakeGitHub::start().await;
        let (repo, install) = world(&fake, &katan.base_url());
        let files = repo_files(&katan.base_url(), "Repeat the question, kindly.");
        let number = fake.open_pr(&repo, "kind", &as_refs(&files[1..]));
        let head = CommitSha(fake.pull(&repo, number).head_sha);
        let deployment = Deployment::new(&fake);
        let server = deployment.start("server").await;
        let installation = |action: &str| {
            let mut event = example("installation", Some(action));
            event["installation"]["id"] = json!(install.0);
            event["repositories"] = json!([{ "id": 1, "name": "prompts", "full_name": REPO, "private": false, "node_id": "R_1" }]);
            event
        };
        for (n, action) in ["created", "suspend"].into_iter().enumerate() {
            let status = server
                .deliver("installation", &format!("delivery-i{n}"), &installation(action))
                .await;
            assert_eq!(status, reqwest::StatusCode::ACCEPTED);
        }
        deployment.settled().await;
        let db = Database::connect(&deployment.database(), 1).await.unwrap();
        let known = Installations::new(db.clone()).list().await.unwrap();
        assert_eq!(known.len(), 1, "{known:?}");
        assert_eq!(known[0].id, install.0);
        assert!(known[0].suspended);
        assert_eq!(known[0].repositories, [REPO]);

        let opened = pr_event("opened", &fake, &repo, number, install);
        server.deliver("pull_request", "delivery-p1", &opened).await;
        let jobs = deployment.settled().await;
        assert!(jobs.iter().all(|j| j.status == JobStatus::Done), "{jobs:?}");
        assert!(fake.check_runs(&repo, &head).is_empty(), "suspended: no work");

        server
            .deliver("installation", "delivery-i2", &installation("unsuspend"))
            .await;
        deployment.settled().await;
        server.deliver("pull_request", "delivery-p2", &opened).await;
        wait_for(&deployment, "the check run", || {
            fake.check_runs(&repo, &head)
                .iter()
                .any(|r| r.status == "completed")
        })
        .await;

        server
            .deliver("installation", "delivery-i3", &installation("deleted"))
            .await;
        deployment.settled().await;
        assert!(Installations::new(db).list().await.unwrap().is_empty());
        server.stop().await;
    })
    .await;
}

/// A fork's pull request is gated too (the server holds the keys), but
/// untrusted: the base branch's config decides, so a fork that turns its
/// own gate off still fails on its regression.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_cannot_turn_off_its_own_gate() {
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    within(async {
        let fake = FakeGitHub::start().await;
        let (repo, install) = world(&fake, &katan.base_url());
        let files = repo_files(&katan.base_url(), "Repeat the question.");
        let lenient = files[0]
            .1
            .replace("fail_on = \"regression\"", "fail_on = \"never\"");
        let broken = files[1].1.replace("\"{{question}}\"", "\"Say hello.\"");
        let number = fake.open_fork_pr(
            &repo,
            "mallory",
            "lenient",
            &[
                ("promptgate.toml", lenient.as_str()),
                ("prompts/helper.prompt.yml", broken.as_str()),
            ],
        );
        let head = CommitSha(fake.pull(&repo, number).head_sha);
        let deployment = Deployment::new(&fake);
        let server = deployment.start("server").await;
        let mut opened = pr_event("opened", &fake, &repo, number, install);
        opened["pull_request"]["head"]["repo"]["full_name"] = json!("mallory/prompts");
        server
            .deliver("pull_request", "delivery-fork", &opened)
            .await;
        wait_for(&deployment, "the fork's check run", || {
            fake.check_runs(&repo, &head)
                .iter()
                .any(|r| r.status == "completed")
        })
        .await;
        let runs = fake.check_runs(&repo, &head);
        assert_eq!(runs[0].conclusion.as_deref(), Some("failure"), "{runs:?}");
        let comments = fake.comments(&repo, number);
        assert_eq!(comments.len(), 1);
        assert!(
            comments[0].body.contains("untrusted"),
            "the comment says why: {}",
            comments[0].body
        );
        server.stop().await;
        fake.assert_no_violations();
    })
    .await;
}

/// What the server did with one pull request that changes `path` to
/// `content`: its jobs once settled, its check runs and its comments.
async fn gate_pull_request(
    katan: &llm_katan::LlmKatan,
    path: &str,
    content: impl FnOnce(&str) -> String,
) -> (
    Vec<promptgate::server::jobs::Job>,
    Vec<fake_github::CheckRun>,
    usize,
) {
    let fake = FakeGitHub::start().await;
    let (repo, install) = world(&fake, &katan.base_url());
    let files = repo_files(&katan.base_url(), "Repeat the question.");
    let (_, before) = files
        .iter()
        .find(|(p, _)| p == path)
        .expect("a repository file");
    let after = content(before);
    let number = fake.open_pr(&repo, "change", &[(path, after.as_str())]);
    let head = CommitSha(fake.pull(&repo, number).head_sha);
    let deployment = Deployment::new(&fake);
    let server = deployment.start("server").await;
    let opened = pr_event("opened", &fake, &repo, number, install);
    server
        .deliver("pull_request", "delivery-change", &opened)
        .await;
    let jobs = deployment.settled().await;
    server.stop().await;
    let runs = fake.check_runs(&repo, &head);
    (jobs, runs, fake.comments(&repo, number).len())
}

/// Broken prompt files complete the check run as failed with the error
/// (file and line), once: retrying cannot fix them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_prompt_files_fail_the_check_with_the_file_and_line() {
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    within(async {
        let (jobs, runs, comments) =
            gate_pull_request(&katan, "prompts/helper.prompt.yml", |prompt| {
                prompt.replace("model: katan/assistant", "model: [unclosed")
            })
            .await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].status, jobs[0].attempts),
            (JobStatus::Done, 1),
            "not retried"
        );
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
        let summary = runs[0].summary.clone().unwrap_or_default();
        assert!(
            summary.contains("prompts/helper.prompt.yml:3:"),
            "the file and line: {summary}"
        );
        assert_eq!(comments, 0, "no report to comment");
    })
    .await;
}

/// A provider key the server does not have fails the check with the
/// variable to set, at once: retrying cannot make the key appear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_server_lacks_fails_the_check_naming_the_variable() {
    let Some(katan) = llm_katan::start(&[]) else {
        return;
    };
    within(async {
        let (jobs, runs, _) = gate_pull_request(&katan, "promptgate.toml", |config| {
            config.replace("KATAN_KEY", "KATAN_KEY_NOBODY_SET")
        })
        .await;
        assert_eq!(
            (jobs[0].status, jobs[0].attempts),
            (JobStatus::Done, 1),
            "not retried: {jobs:?}"
        );
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
        let summary = runs[0].summary.clone().unwrap_or_default();
        assert!(summary.contains("KATAN_KEY_NOBODY_SET"), "{summary}");
        assert!(
            !summary.contains("katan-test-key"),
            "no key value: {summary}"
        );
    })
    .await;
}
