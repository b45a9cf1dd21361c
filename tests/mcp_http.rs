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

// Only some of the shared helpers are used here.
#[allow(dead_code)]
mod common;
#[path = "mcp/support.rs"]
mod mcp_support;

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
const TOOLS: [&str; 7] = [
    "diff_prompt",
    "history",
    "list_prompts",
    "promote",
    "read_prompt",
    "results",
    "rollback",
];

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
    let Ok(admin_url) = std::env::var("PROMPTGATE_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but PROMPTGATE_TEST_POSTGRES is not"
        );
        eprintln!("SKIPPED (not run, not passed): set PROMPTGATE_TEST_POSTGRES=postgres://…");
        return;
    };
    let name = format!("promptgate_mcp_http_{}", std::process::id());
    let admin = Database::connect(&admin_url, 1).await.unwrap();
    let Database::Postgres(pool) = &admin else {
        panic!("PROMPTGATE_TEST_POSTGRES must be a postgres:// URL");
    };
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(pool)
        .await
        .unwrap();
    let mut database = url::Url::parse(&admin_url).unwrap();
    database.set_path(&name);
    agent_on(database.as_str()).await;
    // Best effort: the servers have stopped; a leftover database is harmless.
    let _ = sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(pool)
        .await;
    admin.close().await;
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
    for scope in [Scope::Read, Scope::Publish, Scope::Admin] {
        let made = state
            .api_keys
            .create(&format!("agent-{scope}"), scope, reach.clone())
            .await
            .unwrap();
        keys[scope.as_str()] = made.key.expose().into();
    }
    let publisher = state
        .api_keys
        .create("ci", Scope::Publish, KeyReach::Every)
        .await
        .unwrap()
        .key;
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

    // The tools, each with an input schema and a structured result; nothing
    // that needs a working tree.
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
