//! The registry commands, run as the real binary against a SQLite registry:
//! publish → promote (refused, then allowed) → rollback → history → export.

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;
use predicates::prelude::*;
use promptgate::edges::registry::{GateOutcome, NewVersion, PublishInput};
use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint,
    MessageTemplate, ModelId, ModelParameters, PromptContent, RepeatResult, ResponseFormat, Role,
    Usage, VersionId,
};

fn input(text: &str, cases: usize, gate: GateOutcome) -> PublishInput {
    let id = VersionId(format!("id-{text}"));
    let score = promptgate::types::Score {
        value: 0.9,
        reason: "good".into(),
        display: None,
    };
    PublishInput {
        version: NewVersion {
            prompt: "support bot".into(),
            id: id.clone(),
            content: PromptContent {
                semantics: Default::default(),
                messages: vec![MessageTemplate {
                    role: Role::User,
                    content: text.into(),
                }],
                model: ModelId {
                    provider: "openai".into(),
                    model: "gpt-4o-mini".into(),
                },
                parameters: ModelParameters::default(),
                response_format: ResponseFormat::Text,
            },
            parent: None,
            git_commit: Some("abc123".into()),
            author: "CI <ci@example.com>".into(),
            message: Some(format!("say {text}")),
        },
        result: Some(EvalResult {
            prompt: "support bot".into(),
            version: id,
            fingerprint: Fingerprint(format!("fp-{text}")),
            model: "openai/gpt-4o-mini".into(),
            from_model: true,
            criteria: vec![CriterionInfo {
                name: "helpful".into(),
                kind: "judge".into(),
                weight: 1.0,
                threshold: None,
                binary: false,
                line: None,
            }],
            cases: (0..cases)
                .map(|i| CaseResult {
                    case_id: format!("c{i}"),
                    vars: serde_json::Map::new(),
                    repeats: vec![RepeatResult {
                        call: CallOutcome {
                            result: Ok("answer".into()),
                            usage: Usage {
                                input_tokens: 1,
                                output_tokens: 1,
                            },
                            latency_ms: 5,
                            cost_usd: None,
                            cached: false,
                        },
                        scores: vec![CriterionScore {
                            score: Ok(score.clone()),
                        }],
                    }],
                })
                .collect(),
            created_at: "2025-01-01T00:00:00Z".into(),
        }),
        gate,
    }
}

fn promptgate(repo: &Path, registry: Option<&str>, envs: &[(&str, &str)]) -> Command {
    let mut command = Command::cargo_bin("promptgate").unwrap();
    if let Some(url) = registry {
        command.env("PROMPTGATE_REGISTRY", url);
    }
    command
        .env_remove("PROMPTGATE_API_KEY")
        .env_remove("PROMPTGATE_REPOSITORY")
        .env_remove("GITHUB_REPOSITORY")
        .envs(envs.iter().copied());
    command
        .arg("-C")
        .arg(repo)
        // Paths given on the command line are relative to where it runs.
        .current_dir(repo)
        .env_remove("PROMPTGATE_ACTOR")
        .env_remove("GITHUB_ACTOR")
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(60));
    command
}

fn git(repo: &Path, args: &[&str]) {
    assert!(
        StdCommand::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn the_commands_on_sqlite_from_the_config() {
    let temp = tempfile::tempdir().unwrap();
    git(temp.path(), &["init", "--quiet"]);
    publish_promote_rollback_history_and_export(temp.path(), None, &[]);
    assert!(temp.path().join(".promptgate/registry.db").exists());
    adopt_into_the_repository(temp.path(), None);
}

#[test]
fn the_commands_on_a_git_branch() {
    let temp = tempfile::tempdir().unwrap();
    let remote = temp.path().join("remote.git");
    let repo = temp.path().join("clone");
    std::fs::create_dir(&remote).unwrap();
    git(&remote, &["init", "--quiet", "--bare"]);
    git(
        temp.path(),
        &[
            "clone",
            "--quiet",
            remote.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    publish_promote_rollback_history_and_export(&repo, Some("git+branch://team-registry"), &[]);
    let labels = StdCommand::new("git")
        .arg("-C")
        .arg(&remote)
        .args(["show", "team-registry:prompts/support bot/labels.json"])
        .output()
        .unwrap();
    let labels: serde_json::Value = serde_json::from_slice(&labels.stdout).unwrap();
    assert_eq!(
        labels["production"], 1,
        "the remote's branch holds the labels"
    );
}

/// The same commands against a `promptgate serve` registry over HTTP: a key
/// for one repository (`acme/shop`, named by PROMPTGATE_REPOSITORY), never
/// printed; without the key, or for another repository, the commands fail
/// with a message that says why.
#[test]
fn the_commands_on_a_server() {
    let temp = tempfile::tempdir().unwrap();
    let repo = temp.path().join("checkout");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "--quiet"]);
    let database = format!("sqlite://{}", temp.path().join("server.db").display());
    let (address, key) = start_server(&database);
    let url = format!("http://{address}");
    let envs = [
        ("PROMPTGATE_API_KEY", key.as_str()),
        ("PROMPTGATE_REPOSITORY", "acme/shop"),
    ];
    publish_promote_rollback_history_and_export(&repo, Some(&url), &envs);

    // The diff of two versions, read from the server.
    let diff = promptgate(&repo, Some(&url), &envs)
        .args(["diff", "support bot", "@v1", "@v2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let diff = String::from_utf8(diff).unwrap();
    assert!(diff.contains("hello") && diff.contains("hi"), "{diff}");
    assert!(!diff.contains(&key));

    let missing_key = promptgate(&repo, Some(&url), &[("PROMPTGATE_REPOSITORY", "acme/shop")])
        .args(["history", "support bot"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8_lossy(&missing_key).contains("PROMPTGATE_API_KEY"),
        "{}",
        String::from_utf8_lossy(&missing_key)
    );
    // Another repository's history: nothing there for this key.
    promptgate(
        &repo,
        Some(&url),
        &[
            ("PROMPTGATE_API_KEY", key.as_str()),
            ("PROMPTGATE_REPOSITORY", "other/shop"),
        ],
    )
    .args(["history", "support bot"])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("nothing published"));
}

/// A server on a loopback port (its own thread and runtime) over `database`,
/// with a publish key for `acme/shop`; its address and the key.
fn start_server(database: &str) -> (String, String) {
    use promptgate::edges::db::Database;
    use promptgate::edges::registry::sql::SqlRegistry;
    use promptgate::edges::registry::{Namespace, Registry};
    use promptgate::server::jobs::{JobQueue, RetryPolicy, shutdown_channel};
    use promptgate::server::{
        GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
    };
    use std::sync::Arc;
    let database = database.to_string();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let db = Database::connect(&database, 4).await.unwrap();
            promptgate::server::schema::migrate(&db).await.unwrap();
            let registry: Arc<dyn Registry> = Arc::new(SqlRegistry::on(db.clone()));
            let mut state = ServerState::new(
                JobQueue::new(db, RetryPolicy::default()),
                Arc::new(HmacVerifier::new(vec![Secret::new("s")])),
                Arc::new(GitHubEvents::default()),
                Arc::new(RegistryPrompts::new(registry.clone())),
            );
            state.registry = Some(registry);
            let key = state
                .api_keys
                .create(
                    "cli",
                    Scope::Publish,
                    KeyReach::Repos(vec![Namespace::parse("acme/shop").unwrap()]),
                )
                .await
                .unwrap()
                .key;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap().to_string();
            sender.send((address, key.expose().to_string())).unwrap();
            // Runs until the test process exits.
            let (_stop, shutdown) = shutdown_channel();
            promptgate::server::serve(listener, state, shutdown)
                .await
                .unwrap();
        });
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap()
}

#[test]
fn the_commands_on_postgres() {
    let Some(server) = std::env::var("PROMPTGATE_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        use std::io::Write;
        // The real stderr, not the harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! SKIPPED: PostgreSQL CLI test: set PROMPTGATE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB to run it !!!!!"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but PROMPTGATE_TEST_POSTGRES is not"
        );
        return;
    };
    let name = format!("promptgate_cli_{}", std::process::id());
    let admin = |sql: String| {
        let server = server.clone();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection;
                let mut conn = tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    sqlx::PgConnection::connect(&server),
                )
                .await
                .unwrap()
                .unwrap();
                sqlx::query(&sql).execute(&mut conn).await.unwrap();
            })
    };
    admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    admin(format!("CREATE DATABASE {name}"));
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    let temp = tempfile::tempdir().unwrap();
    git(temp.path(), &["init", "--quiet"]);
    publish_promote_rollback_history_and_export(temp.path(), Some(url.as_str()), &[]);
    adopt_into_the_repository(temp.path(), Some(url.as_str()));
    admin(format!("DROP DATABASE {name} WITH (FORCE)"));
}

/// After the commands wrote into the default namespace: `adopt` copies the
/// prompt's whole history into its repository, exactly; it refuses to
/// adopt twice, names a prompt that is not there, and refuses a registry
/// that is not SQL. The default namespace keeps what it had.
fn adopt_into_the_repository(repo: &Path, registry: Option<&str>) {
    let history = |namespace: Option<&str>| -> serde_json::Value {
        let mut command = promptgate(repo, registry, &[]);
        command.args(["history", "support bot", "--json"]);
        if let Some(namespace) = namespace {
            command.args(["--repository", namespace]);
        }
        let output = command.assert().success().get_output().stdout.clone();
        serde_json::from_slice(&output).unwrap()
    };
    let before = history(None);
    promptgate(repo, registry, &[])
        .args(["adopt", "--repository", "octo/app"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "adopted support bot: 3 versions from _/default into octo/app",
        ));
    assert_eq!(history(Some("octo/app")), before, "the whole history came");
    assert_eq!(history(None), before, "the default namespace keeps it");
    promptgate(repo, registry, &[])
        .args(["adopt", "support bot", "--repository", "octo/app"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "support bot: already published in octo/app",
        ));
    promptgate(repo, registry, &[])
        .args(["adopt", "nothing here", "--repository", "octo/other"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("nothing here: not in _/default"));
    promptgate(repo, Some("git+branch://promptgate-registry"), &[])
        .args(["adopt", "--repository", "octo/app"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("works on a SQL registry"));
    // The adopted prompt is served and written in its repository from now on.
    promptgate(repo, registry, &[])
        .args([
            "rollback",
            "support bot",
            "--label",
            "staging",
            "--repository",
            "octo/app",
            "--reason",
            "after adoption",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("staging → v1 (was v2)"));
    assert_eq!(history(None), before, "the default namespace is untouched");
}

fn publish_promote_rollback_history_and_export(
    repo: &Path,
    registry: Option<&str>,
    envs: &[(&str, &str)],
) {
    git(repo, &["config", "user.name", "Ada Lovelace"]);
    git(repo, &["config", "user.email", "ada@example.com"]);
    std::fs::write(
        repo.join("promptgate.toml"),
        "registry = \"sqlite://.promptgate/registry.db\"\nenvironments = [\"staging\", \"production\"]\n\n[promotion]\nmin_cases = 3\n",
    )
    .unwrap();
    let inputs = vec![
        input("hello", 5, GateOutcome::Passed),
        input("hi", 5, GateOutcome::Passed),
    ];
    std::fs::write(
        repo.join("publish.json"),
        serde_json::to_string(&inputs).unwrap(),
    )
    .unwrap();
    std::fs::write(
        repo.join("weak.json"),
        serde_json::to_string(&input("hey", 1, GateOutcome::Failed)).unwrap(),
    )
    .unwrap();

    promptgate(repo, registry, envs)
        .args(["publish", "--input", "publish.json"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("support bot v1 published")
                .and(predicate::str::contains("support bot v2 published")),
        );
    promptgate(repo, registry, envs)
        .args(["publish", "--input", "publish.json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("v2 (already published)"));
    promptgate(repo, registry, envs)
        .args(["publish", "--input", "weak.json"])
        .assert()
        .success();

    // Production only from staging; the refusal names the rule.
    promptgate(repo, registry, envs)
        .args(["promote", "support bot", "v1", "--to", "production"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be on `staging` first"));
    promptgate(repo, registry, envs)
        .args(["promote", "support bot", "v3", "--to", "staging"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("promotion.min_cases")
                .and(predicate::str::contains("require_gate_passed")),
        );
    for (version, env) in [
        ("v1", "staging"),
        ("v1", "production"),
        ("2", "staging"),
        ("v2", "production"),
    ] {
        promptgate(repo, registry, envs)
            .args([
                "promote",
                "support bot",
                version,
                "--to",
                env,
                "--reason",
                "evals green",
            ])
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("{env} → v")));
    }
    promptgate(repo, registry, envs)
        .args(["promote", "support bot", "v3", "--to", "staging", "--force"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force needs --reason"));

    promptgate(repo, registry, envs)
        .args([
            "rollback",
            "support bot",
            "--label",
            "production",
            "--reason",
            "complaints",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("production → v1 (was v2)"));

    let text = promptgate(repo, registry, envs)
        .args(["history", "support bot"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    let newest_move = text.lines().position(|l| l.contains("rollback")).unwrap();
    let older_move = text
        .lines()
        .position(|l| l.contains("production: v1 → v2"))
        .unwrap();
    assert!(
        newest_move < older_move,
        "moves are not newest first:\n{text}"
    );
    assert!(
        text.contains("by Ada Lovelace <ada@example.com>: complaints"),
        "{text}"
    );
    let v3 = text
        .lines()
        .position(|l| l.trim_start().starts_with("v3"))
        .unwrap();
    let v1 = text
        .lines()
        .position(|l| l.trim_start().starts_with("v1 "))
        .unwrap();
    assert!(v3 < v1, "versions are not newest first:\n{text}");

    let json = promptgate(repo, registry, envs)
        .args(["history", "support bot", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["labels"]["production"], 1);
    assert_eq!(json["moves"][0]["kind"], "rollback");
    assert_eq!(json["versions"][0]["number"], 3);

    promptgate(repo, registry, envs)
        .args(["export", "--out", "site"])
        .assert()
        .success();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("site/index.json")).unwrap())
            .unwrap();
    assert_eq!(index["prompts"][0]["name"], "support bot");
    assert_eq!(index["prompts"][0]["path"], "prompts/support%20bot/");
    let production: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("site/prompts/support bot/labels/production.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        production["version"]["content"]["messages"][0]["content"],
        "hello"
    );
    assert!(
        repo.join("site/prompts/support bot/versions/v3.json")
            .exists()
    );

    promptgate(repo, registry, envs)
        .args(["history", "nobody"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing published"));
}
