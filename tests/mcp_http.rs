//! `promptgate serve`'s MCP endpoint (`/mcp`, Streamable HTTP) driven by the
//! official clients: the MCP Python SDK (`tests/mcp/registry_http.py`) and
//! the MCP Inspector's CLI. The server runs on loopback over a SQLite
//! registry (and a PostgreSQL one, with `PROMPTGATE_TEST_POSTGRES`) that the
//! real CLI filled: `promptgate publish` of the example
//! repository into `octo/example` (then support-bot again, edited to promise
//! refunds, so its v2 fails the gate) and into `octo/secret`, which the
//! agent's keys do not reach.
//!
//! Asserted: the tools and their schemas; list, read, diff, results and
//! history answer what the CLI published; promote obeys the promotion policy
//! and the server's floor, refusing with the rule; a read key cannot
//! promote and only an admin key forces; a repository out of reach answers
//! exactly as one with nothing published; a missing or wrong key gets 401
//! before any MCP session.
//!
//! And the whole loop of a remote agent on a repository the server reads
//! through its GitHub App (the contract-checked fake GitHub, the scripted
//! suggestion model): `tests/mcp/agent_loop_http.py` lists, evaluates,
//! reads the scores, checks, gets a verified suggestion, commits it through
//! GitHub's contents API and checks again.

// Only some of the shared helpers are used here.
#[allow(dead_code)]
mod common;
#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "mcp/support.rs"]
mod mcp_support;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/scripted_model.rs"]
mod scripted_model;

use std::path::Path;
use std::sync::Arc;

use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{Namespace, Registry};
use promptgate::pipeline::config::PromotionPolicy;
use promptgate::server::jobs::{JobQueue, RetryPolicy, ShutdownTrigger, shutdown_channel};
use promptgate::server::{
    GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
};
use serde_json::{Value, json};

/// A server of `state` on a loopback port until the trigger fires; its `/mcp` URL.
async fn serve(state: ServerState) -> (String, ShutdownTrigger, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, shutdown) = shutdown_channel();
    let running = tokio::spawn(async move {
        promptgate::server::serve(listener, state, shutdown)
            .await
            .unwrap();
    });
    (url, stop, running)
}

/// The state of a server on `database`, its registry included.
async fn server_state(database: &str) -> ServerState {
    let db = Database::connect(database, 4).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(SqlRegistry::on(db.clone()));
    let mut state = ServerState::new(
        JobQueue::new(db, RetryPolicy::default()),
        Arc::new(HmacVerifier::new(vec![Secret::new("webhook-secret")])),
        Arc::new(GitHubEvents::default()),
        Arc::new(RegistryPrompts::new(registry.clone())),
    );
    state.registry = Some(registry);
    state
}

/// A server on an empty registry and a `read` key for every repository:
/// (its folder, its `/mcp` URL, the key, its trigger, its task).
async fn serve_with_read_key() -> (
    tempfile::TempDir,
    String,
    Secret,
    ShutdownTrigger,
    tokio::task::JoinHandle<()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    let state = server_state(&database).await;
    let key = state
        .api_keys
        .create("agent", Scope::Read, KeyReach::Every)
        .await
        .unwrap()
        .key;
    let (url, stop, running) = serve(state).await;
    (dir, url, key, stop, running)
}

/// The tools `/mcp` offers, sorted.
const TOOLS: [&str; 12] = [
    "check",
    "diff_prompt",
    "estimate",
    "evaluate",
    "history",
    "list_prompts",
    "promote",
    "read_prompt",
    "results",
    "rollback",
    "suggest",
    "validate",
];

/// The agent's keys, `agent-<scope>` for each of `scopes` reaching
/// `reach`, put in `keys` by scope; returns CI's `publish` key, which
/// reaches every repository.
async fn agent_keys(
    state: &ServerState,
    reach: &KeyReach,
    scopes: &[Scope],
    keys: &mut Value,
) -> Secret {
    for scope in scopes {
        let made = state
            .api_keys
            .create(&format!("agent-{scope}"), *scope, reach.clone())
            .await
            .unwrap();
        keys[scope.as_str()] = made.key.expose().into();
    }
    state
        .api_keys
        .create("ci", Scope::Publish, KeyReach::Every)
        .await
        .unwrap()
        .key
}

/// `promptgate publish [PROMPTS]` of `repo` into `repository` on the server.
async fn publish(repo: &Path, server: &str, key: &str, repository: &str, prompts: &[&str]) {
    let (repo, server) = (
        repo.to_path_buf(),
        server.trim_end_matches("/mcp").to_owned(),
    );
    let (key, namespace) = (key.to_owned(), repository.to_owned());
    let prompts: Vec<String> = prompts.iter().map(|p| p.to_string()).collect();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut args = vec!["publish"];
        args.extend(prompts.iter().map(String::as_str));
        common::promptgate_with(
            &repo,
            &args,
            &[
                ("PROMPTGATE_REGISTRY", &server),
                ("PROMPTGATE_API_KEY", &key),
                ("PROMPTGATE_REPOSITORY", &namespace),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "publish into {repository}:\n{stdout}\n{stderr}");
}

/// Runs `tests/mcp/registry_http.py` in `mode`; its transcript.
async fn drive(python: &Path, url: &str, mode: &str, keys: &Value) -> Value {
    let (python, url, mode) = (python.to_path_buf(), url.to_owned(), mode.to_owned());
    let keys = keys.to_string();
    tokio::task::spawn_blocking(move || {
        mcp_support::run_script(
            &python,
            "registry_http.py",
            &[&url, &mode],
            &[("PROMPTGATE_TEST_KEYS", &keys)],
        )
    })
    .await
    .unwrap()
}

fn ok<'a>(step: &'a Value, name: &str) -> &'a Value {
    assert_eq!(step["is_error"], false, "{name}: {step}");
    &step["structured"]
}

fn refused<'a>(step: &'a Value, name: &str) -> &'a str {
    assert_eq!(step["is_error"], true, "{name}: {step}");
    step["text"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_and_promotes_within_its_key_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    agent_on(&database).await;
}

/// The same on a PostgreSQL registry: a fresh database on the server
/// `PROMPTGATE_TEST_POSTGRES` names (skipped loudly without it; a failure
/// under `CI`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_and_promotes_within_its_key_over_http_on_postgres() {
    let Some(admin_url) =
        postgres::server("an_agent_reads_and_promotes_within_its_key_over_http_on_postgres")
    else {
        return;
    };
    let scratch = postgres::Scratch::create(&admin_url, "mcp_http").await;
    agent_on(&scratch.url).await;
    // The servers have stopped by now.
    scratch.drop().await;
}

/// The whole loop against servers on `database`.
async fn agent_on(database: &str) {
    let Some(python) = mcp_support::python() else {
        return;
    };
    let state = server_state(database).await;
    let reach = KeyReach::Repos(vec![
        Namespace::parse("octo/example").unwrap(),
        Namespace::parse("octo/empty").unwrap(),
    ]);
    let mut keys =
        json!({"wrong": "pgk_0000000000000000000000000000000000000000000000000000000000000000"});
    let scopes = [Scope::Read, Scope::Publish, Scope::Admin];
    let publisher = agent_keys(&state, &reach, &scopes, &mut keys).await;
    // The same registry behind a second server whose promotion floor asks
    // for more cases than any example prompt has.
    let mut strict = state.clone();
    strict.promotion_floor = PromotionPolicy {
        min_cases: 1000,
        min_score: None,
        require_gate_passed: false,
    };
    let (url, stop, running) = serve(state).await;
    let (strict_url, strict_stop, strict_running) = serve(strict).await;

    // What CI publishes: the example, then support-bot promising refunds.
    let repo = common::example_repo();
    publish(repo.path(), &url, publisher.expose(), "octo/example", &[]).await;
    publish(repo.path(), &url, publisher.expose(), "octo/secret", &[]).await;
    let prompt = repo.path().join("prompts/support-bot.prompt.yml");
    let text = std::fs::read_to_string(&prompt).unwrap();
    let edited = text.replace(
        "      The customer is on the {{ plan }} plan.",
        "      We will refund any customer who asks.\n      The customer is on the {{ plan }} plan.",
    );
    assert_ne!(
        edited, text,
        "the example's support-bot prompt changed; update this test"
    );
    std::fs::write(&prompt, edited).unwrap();
    publish(
        repo.path(),
        &url,
        publisher.expose(),
        "octo/example",
        &["support-bot"],
    )
    .await;

    let t = drive(&python, &url, "loop", &keys).await;

    // The tools, each with an input schema and a structured result.
    let tools = t["tools"].as_object().unwrap();
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    for (name, tool) in tools {
        assert_eq!(tool["input"]["type"], "object", "{name}: {tool}");
        assert_eq!(tool["input"]["required"][0], "repository", "{name}: {tool}");
        assert_eq!(tool["output"]["type"], "object", "{name}: {tool}");
    }

    // The four prompts as published; support-bot twice, `latest` on v2.
    let list = ok(&t["list"], "list");
    assert_eq!(list["repository"], "octo/example");
    let prompts = list["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 4, "{list}");
    let bot = prompts.iter().find(|p| p["name"] == "support-bot").unwrap();
    assert_eq!(bot["versions"], 2, "{bot}");
    assert_eq!(bot["labels"]["latest"], "v2", "{bot}");

    // Reading: v1 without the edit, `latest` with it; a version that does
    // not exist in the words of the CLI.
    let v1 = ok(&t["read_v1"], "read_v1");
    let latest = ok(&t["read_latest"], "read_latest");
    assert_eq!(v1["published"]["number"], 1, "{v1}");
    assert_eq!(latest["published"]["number"], 2, "{latest}");
    assert!(
        !v1["published"]["content"]
            .to_string()
            .contains("refund any customer")
    );
    assert!(
        latest["published"]["content"]
            .to_string()
            .contains("refund any customer")
    );
    assert_eq!(latest["source"], "support-bot@v2 (octo/example)");
    assert_eq!(
        refused(&t["read_missing_version"], "read_missing_version"),
        "support-bot: no published version v9; `promptgate history support-bot` lists them"
    );

    let diff = ok(&t["diff"], "diff");
    assert_eq!(diff["from"], "v1 (v1)");
    assert_eq!(diff["to"], "v2 (latest)");
    assert!(
        diff["markdown"].as_str().unwrap().contains("refund"),
        "{diff}"
    );

    // The verdicts published with each version: v1 gated on thresholds
    // alone, v2 failed against v1 on the refund criterion.
    let r1 = ok(&t["results_v1"], "results_v1");
    let r2 = ok(&t["results_latest"], "results_latest");
    assert_eq!(
        (r1["version"].clone(), r2["version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(r1["gate"], "passed", "{r1}");
    assert_eq!(r2["gate"], "failed", "{r2}");
    assert!(r2["cases"].as_u64().unwrap() > 0, "{r2}");
    assert!(r2["score"].as_f64().unwrap() < r1["score"].as_f64().unwrap());
    assert!(
        r2["result"]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "no refund promises"),
        "{r2}"
    );

    // Promotion: scope, then the policy (each refusal names its rule), then
    // the moves, forced only by an admin key with a reason.
    assert_eq!(
        refused(&t["promote_with_read_key"], "read key"),
        "this API key has scope `read`; `promote` needs `publish`"
    );
    let gate = refused(&t["promote_failed_gate"], "failed gate");
    assert!(
        gate.starts_with("promotion of support-bot v2 to `staging` refused:")
            && gate.contains("gate"),
        "{gate}"
    );
    let skipping = refused(&t["promote_skipping_staging"], "skipping staging");
    assert!(skipping.contains("staging"), "{skipping}");
    let staged = ok(&t["promote_staging"], "staging");
    assert_eq!(
        (staged["label"].clone(), staged["to"].clone()),
        (json!("staging"), json!("v1"))
    );
    let produced = ok(&t["promote_production"], "production");
    assert_eq!(produced["to"], "v1");
    assert_eq!(produced["from"], "unset");
    assert_eq!(
        refused(&t["force_with_publish_key"], "force with publish"),
        "a forced promotion needs an API key with scope `admin`; this one has `publish`"
    );
    assert!(refused(&t["force_without_reason"], "force without reason").contains("--reason"));
    let forced = ok(&t["force_with_admin_key"], "forced");
    assert_eq!(
        (forced["to"].clone(), forced["forced"].clone()),
        (json!("v2"), json!(true))
    );
    let back = ok(&t["rollback"], "rollback");
    assert_eq!(
        (back["to"].clone(), back["from"].clone()),
        (json!("v1"), json!("v2"))
    );

    // The history records the moves, newest first, by the keys' names.
    let history = ok(&t["history"], "history");
    assert_eq!(history["labels"]["staging"], 1, "{history}");
    let moves = history["moves"].as_array().unwrap();
    assert_eq!(moves[0]["kind"], "rollback", "{history}");
    assert_eq!(moves[0]["actor"], "API key `agent-publish` (MCP)");
    assert_eq!(moves[1]["forced"], true);
    assert_eq!(moves[1]["actor"], "API key `agent-admin` (MCP)");
    assert_eq!(history["versions"][0]["number"], 2);

    // Out of reach reads exactly as nothing published, tool by tool: a
    // repository that has the prompt, one that never existed, and one in
    // reach with nothing in it answer the same words.
    let reach = t["reach"].as_object().unwrap();
    assert_eq!(reach.len(), 7, "{t}");
    for (tool, answers) in reach {
        let empty = refused(&answers["octo/empty"], tool);
        assert!(
            empty.contains("nothing published in octo/empty"),
            "{tool}: {empty}"
        );
        for other in ["octo/secret", "octo/nowhere"] {
            let said = refused(&answers[other], tool);
            assert_eq!(
                said.replace(other, "octo/empty"),
                empty,
                "{tool} in {other}"
            );
        }
    }
    // Reach before scope: a read key's promote elsewhere is not a scope error.
    assert_eq!(
        refused(
            &t["promote_out_of_reach_with_read_key"],
            "read key elsewhere"
        ),
        "support-bot: nothing published in octo/secret yet"
    );

    // No answer carries a key (moves name the key, never show it).
    let said = t.to_string();
    for scope in ["read", "publish", "admin"] {
        assert!(
            !said.contains(keys[scope].as_str().unwrap()),
            "{scope} key in a result"
        );
    }
    assert!(!said.contains(publisher.expose()));

    // A wrong key never starts a session.
    let wrong = &t["wrong_key"];
    assert!(wrong["error"].is_string(), "{wrong}");
    assert_eq!(wrong["statuses"], json!([401]), "{wrong}");

    // The server's promotion floor applies whatever the default policy says.
    let floor = drive(&python, &strict_url, "floor", &keys).await;
    let below = refused(&floor["promote_under_floor"], "floor");
    assert!(
        below.starts_with("promotion of classify-ticket v1 to `staging` refused:")
            && below.contains("1000"),
        "{below}"
    );

    stop.trigger();
    strict_stop.trigger();
    running.await.unwrap();
    strict_running.await.unwrap();
}

/// Without a valid key the endpoint answers 401 with `WWW-Authenticate`,
/// whatever the request; with one, the SDK answers the same request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_key_is_refused_before_any_session() {
    let (_dir, url, key, stop, running) = serve_with_read_key().await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "curl-like", "version": "1"}
        }
    });
    let client = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer pgk_not_a_key"),
        Some("Basic b2N0bzpwdw=="),
    ] {
        let mut request = client
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{auth:?}");
        assert_eq!(answer.headers()["www-authenticate"], "Bearer", "{auth:?}");
        assert!(answer.headers().get("mcp-session-id").is_none());
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("API key"),
            "{body}"
        );
    }
    let answer = client
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {}", key.expose()))
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["result"]["serverInfo"]["name"], "promptgate-serve",
        "{body}"
    );
    stop.trigger();
    running.await.unwrap();
}

/// The MCP Inspector's CLI lists the tools over Streamable HTTP with a key,
/// and its strict mode finds their schemas portable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_lists_the_tools_over_http() {
    let Some(inspector) = mcp_support::inspector() else {
        return;
    };
    let (dir, url, key, stop, running) = serve_with_read_key().await;
    let out = tokio::process::Command::new(inspector)
        .arg("--cli")
        .arg(&url)
        .args(["--transport", "http", "--strict", "--method", "tools/list"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", key.expose()))
        // Its catalog of servers goes to a scratch home, not the user's.
        .env("HOME", dir.path())
        .output()
        .await
        .expect("the inspector runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(mcp_support::listed_tool_names(&stdout), TOOLS);
    stop.trigger();
    running.await.unwrap();
}

/// The example repository on the fake GitHub, as the loop test's world
/// holds it: `main` with the scripted suggestion model in the base's
/// `[suggest]`, and pull request #1 (branch `feature`) applying the
/// example's regression (the tone snippet promises refunds).
struct ExampleOnGitHub {
    fake: fake_github::FakeGitHub,
    repo: promptgate::types::RepoName,
    /// The local checkout of `main`, which CI publishes from.
    checkout: tempfile::TempDir,
}

fn example_on_github(fake: fake_github::FakeGitHub, suggester_url: &str) -> ExampleOnGitHub {
    let checkout = common::example_repo();
    let root = checkout.path();
    let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
    common::write(
        root,
        "promptgate.toml",
        &format!(
            "{config}\n[providers.scripted]\nkind = \"openai-compatible\"\nbase_url = \"{suggester_url}\"\n\n\
             [suggest]\nenabled = true\nmodel = \"scripted/suggester\"\n"
        ),
    );
    common::write(root, ".gitignore", ".promptgate/\n");
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "suggestions configured"]);
    let repo = fake.create_repo("octo-org/prompts");
    fake.commit_checkout(&repo, "main", root);
    // The pull request's change, made with git as its author made it; it
    // also routes `openai` to the suggester's endpoint, which only the
    // base's config may choose.
    let patch =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example-edits/regression.patch");
    common::git(root, &["apply", patch.to_str().unwrap()]);
    let tone = std::fs::read_to_string(root.join("snippets/tone.md")).unwrap();
    common::git(root, &["checkout", "--", "snippets/tone.md"]);
    let config = std::fs::read_to_string(root.join("promptgate.toml")).unwrap();
    let hijacked = config.replace(
        "[providers.openai]\nkind = \"echo\"\n",
        &format!(
            "[providers.openai]\nkind = \"openai-compatible\"\nbase_url = \"{suggester_url}\"\n"
        ),
    );
    assert_ne!(
        hijacked, config,
        "the example's config changed; update this test"
    );
    fake.open_pr(
        &repo,
        "feature",
        &[("snippets/tone.md", &tone), ("promptgate.toml", &hijacked)],
    );
    ExampleOnGitHub {
        fake,
        repo,
        checkout,
    }
}

/// A request for candidate edits (its user message is the brief, as JSON).
fn is_suggestion_request(request: &Value) -> bool {
    request["messages"][1]["content"]
        .as_str()
        .is_some_and(|text| {
            serde_json::from_str::<Value>(text).is_ok_and(|brief| brief["prompt"].is_object())
        })
}

/// A repository whose default branch has a prompt scored by a `command`
/// evaluator, with an open pull request #1.
fn commands_repo(fake: &fake_github::FakeGitHub) -> promptgate::types::RepoName {
    let repo = fake.create_repo("octo-org/commands");
    let prompt = "name: scored\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: user\n    \
                  content: \"{{q}}\"\ntestData:\n  - q: one\n  - q: two\nevaluators:\n  \
                  - name: by a script\n    command:\n      program: ./score.sh\n";
    fake.commit(
        &repo,
        "main",
        &[
            (
                "promptgate.toml",
                "prompts = [\"prompts/*.prompt.yml\"]\n[providers.openai]\nkind = \"echo\"\n",
            ),
            ("prompts/scored.prompt.yml", prompt),
        ],
    );
    fake.open_pr(&repo, "tweak", &[("README.md", "# tweaked\n")]);
    repo
}

/// The whole loop of a remote agent with the official Python SDK over
/// Streamable HTTP: the server reads `octo-org/prompts` through its App's
/// installation on the fake GitHub. list_prompts → evaluate (the pull
/// request's head) → results → check (the head regresses: the gate fails)
/// → suggest (a verified edit) → the agent commits the edit through
/// GitHub's contents API → check on the new head (passes). Also: a read key
/// cannot evaluate, a base with a `command` evaluator is refused, out of
/// reach and not installed answer the same, and what the runs spent counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_agent_runs_the_whole_loop_over_http() {
    use promptgate::edges::github::{AppCredentials, ClientOptions, GitHubApp};
    use promptgate::server::InstallationSyncJob;
    use promptgate::server::handlers::GitHubWork;
    use promptgate::server::installations::Installations;
    use promptgate::server::settings::KeyAllowlist;
    use promptgate::server::sources::FetchLimits;
    use promptgate::server::spend::{PullRequestSpend, utc_day};

    let Some(python) = mcp_support::python() else {
        return;
    };
    // The suggester, which also answers anything else: a request that is
    // not a suggestion would be the pull request choosing a model.
    let model = scripted_model::ScriptedModel::start(|request| {
        if is_suggestion_request(request) {
            scripted_model::example_suggester(request)
        } else {
            "an answer from an endpoint the pull request chose".into()
        }
    })
    .await;
    let world = example_on_github(fake_github::FakeGitHub::start().await, &model.base_url());
    let fake = &world.fake;
    let commands = commands_repo(fake);
    let hidden = fake.create_repo("octo-org/hidden");
    let installation = fake.install_app(&[&world.repo, &commands, &hidden]);

    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    let mut state = server_state(&database).await;
    let db = state.queue.database().clone();
    let installations = Installations::new(db.clone());
    let sync = InstallationSyncJob {
        installation,
        action: "created".into(),
        account: Some("octo-org".into()),
        added: vec![world.repo.clone(), commands.clone(), hidden.clone()],
        removed: Vec::new(),
    };
    installations.apply(&sync, 0).await.unwrap();
    let app = GitHubApp::new(
        &fake.api_url(),
        &AppCredentials {
            app_id: fake_github::APP_ID,
            private_key_pem: Secret::new(fake_github::APP_PRIVATE_KEY),
        },
        ClientOptions::default(),
    )
    .unwrap();
    let spend = PullRequestSpend::new(db.clone());
    state.github = Some(Arc::new(GitHubWork {
        clients: Arc::new(app),
        registry: state.registry.clone().unwrap(),
        data_dir: dir.path().join("data"),
        limits: FetchLimits::default(),
        installations,
        keys: KeyAllowlist::default(),
        spend: spend.clone(),
    }));
    let reach = KeyReach::Repos(
        [
            "octo-org/prompts",
            "octo-org/commands",
            "octo-org/uninstalled",
        ]
        .map(|r| Namespace::parse(r).unwrap())
        .to_vec(),
    );
    let mut keys = json!({});
    let publisher = agent_keys(&state, &reach, &[Scope::Read, Scope::Publish], &mut keys).await;
    let (url, stop, running) = serve(state).await;
    // What CI published from main: the baselines `results` reads.
    let (checkout, repository) = (world.checkout.path(), world.repo.to_string());
    publish(checkout, &url, publisher.expose(), &repository, &[]).await;

    // The pull request's head before the agent commits to it.
    let head = fake
        .pull(&world.repo, promptgate::types::PrNumber(1))
        .head_sha;
    let token = fake.user_token("agent");
    let github = json!({
        "api_url": fake.api_url(),
        "token": token.expose(),
        "repository": repository,
        "pull": "pull/1",
        "branch": "feature",
        "commands": commands.to_string(),
        "commands_pull": "pull/1",
        "hidden": hidden.to_string(),
        "uninstalled": "octo-org/uninstalled",
    });
    let t = {
        let (python, url) = (python.clone(), url.clone());
        let (keys, github) = (keys.to_string(), github.to_string());
        tokio::task::spawn_blocking(move || {
            mcp_support::run_script(
                &python,
                "agent_loop_http.py",
                &[&url],
                &[
                    ("PROMPTGATE_TEST_KEYS", &keys),
                    ("PROMPTGATE_TEST_WORLD", &github),
                ],
            )
        })
        .await
        .unwrap()
    };

    let mut names: Vec<&str> = t["tools"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    let list = ok(&t["list"], "list");
    assert_eq!(list["prompts"].as_array().unwrap().len(), 4, "{list}");
    let validated = ok(&t["validate"], "validate");
    assert_eq!(validated["prompts"], 4, "{validated}");
    let estimate = ok(&t["estimate"], "estimate");
    assert!(
        estimate["estimate"]["calls"].as_u64().unwrap() > 0,
        "{estimate}"
    );

    // Evaluating the pull request's head: every prompt scored, one progress
    // step per prompt and one at the end.
    let evaluated = ok(&t["evaluate"], "evaluate");
    assert_eq!(evaluated["commit"], head);
    assert_eq!(evaluated["report"]["prompts"].as_array().unwrap().len(), 4);
    let steps = t["evaluate_progress"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert_eq!(steps.last().unwrap()["message"], "done");

    let results = ok(&t["results"], "results");
    assert_eq!(results["gate"], "passed", "{results}");

    // The gate the App runs: support-bot regresses on the refund criterion.
    let check = ok(&t["check"], "check");
    assert_eq!(check["gate_failed"], true, "{check}");
    assert_eq!(check["pull_request"], 1);
    assert_eq!(check["head"], head);
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .contains("no refund promises"),
        "{check}"
    );
    assert_eq!(t["check_progress"].as_array().unwrap().len(), 2);

    // The verified edit: the snippet without the promise, measured.
    let suggested = ok(&t["suggest"], "suggest");
    assert_eq!(suggested["gate_failed"], true);
    let suggestion = &suggested["suggestions"][0];
    assert_eq!(suggestion["prompt"], "support-bot", "{suggested}");
    assert_eq!(suggestion["status"], "found", "{suggestion}");
    assert_eq!(suggestion["target"], "no refund promises");
    let edit = &suggestion["edits"][0];
    assert_eq!(edit["path"], "snippets/tone.md");
    assert_eq!(edit["new"], scripted_model::SAFE_TONE);
    assert_eq!(
        (edit["start_line"].clone(), edit["end_line"].clone()),
        (json!(2), json!(3))
    );
    let fixed = suggestion["held_out"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["criterion"] == "no refund promises")
        .unwrap();
    assert_eq!(fixed["verdict"], "improved", "{fixed}");
    assert!(suggestion["calls"].as_u64().unwrap() > 0);
    // Only the base's suggestion model was asked, and only for suggestions.
    let asked = model.requests();
    assert!(!asked.is_empty(), "the base's model was asked");
    assert!(asked.iter().all(is_suggestion_request), "{asked:?}");

    // Applied through GitHub's API: a new commit on the pull request's branch.
    let applied = t["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0]["status"], 200);
    let new_head = fake
        .pull(&world.repo, promptgate::types::PrNumber(1))
        .head_sha;
    assert_eq!(applied[0]["commit"], new_head);
    assert_eq!(
        fake.file_at(
            &promptgate::types::CommitSha(new_head.clone()),
            "snippets/tone.md"
        )
        .unwrap(),
        scripted_model::SAFE_TONE
    );
    assert_eq!(
        fake.requests_to("repos/create-or-update-file-contents")
            .len(),
        1
    );

    // The new head passes the gate.
    let after = ok(&t["check_after"], "check after");
    assert_eq!(after["head"], new_head);
    assert_eq!(after["gate_failed"], false, "{after}");

    // Nothing was posted: the tools only read GitHub.
    assert!(
        fake.comments(&world.repo, promptgate::types::PrNumber(1))
            .is_empty()
    );
    assert!(
        fake.check_runs(&world.repo, &promptgate::types::CommitSha(head))
            .is_empty()
    );

    // Commands never run on the server: refused at the line that asks.
    for step in ["commands_evaluate", "commands_check"] {
        let said = refused(&t[step], step);
        assert!(
            said.starts_with(
                "prompts/scored.prompt.yml:11:5: error: evaluator `by a script` runs a command"
            ),
            "{step}: {said}"
        );
    }

    // Out of reach (installed) and not installed (in reach): the same words.
    assert_eq!(
        refused(&t["hidden"], "hidden").replace("octo-org/hidden", "X"),
        refused(&t["uninstalled"], "uninstalled").replace("octo-org/uninstalled", "X")
    );
    assert!(refused(&t["unknown_ref"], "unknown ref").contains("no-such-branch"));

    // A read key reads, but cannot spend.
    assert_eq!(
        refused(&t["read_key_evaluate"], "read key"),
        "this API key has scope `read`; `evaluate` needs `publish`"
    );
    ok(&t["read_key_results"], "read key results");

    // What the runs spent counts toward the pull request's day.
    let spent = spend
        .spent(&world.repo, promptgate::types::PrNumber(1), &utc_day())
        .await
        .unwrap();
    assert!(spent.calls > 0, "{spent:?}");

    // No answer carries a key or the agent's token.
    let said = t.to_string();
    for scope in ["read", "publish"] {
        assert!(!said.contains(keys[scope].as_str().unwrap()), "{scope} key");
    }
    assert!(!said.contains(token.expose()));
    fake.assert_no_violations();

    stop.trigger();
    running.await.unwrap();
}
