//! `GET /v1/repos/{owner}/{repo}/prompts/…` served from a real registry:
//! versions published through the `Registry` API (as the CLI publishes, on a
//! pool of its own) into a temporary SQLite database whose one server pool
//! the queue, the API keys and the served registry share. Two repositories
//! publish a prompt of the same name; keys reach one, both, or neither.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{
    self, ExpectFrom, LabelTarget, MoveKind, MoveLabel, Namespace, NewVersion, Registry,
};
use promptgate::server::jobs::{JobQueue, RetryPolicy};
use promptgate::server::{
    GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState, router,
};
use promptgate::types::{
    MessageTemplate, ModelId, ModelParameters, PromptContent, ResponseFormat, Role, VersionId,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

async fn within_timeout<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("test timed out")
}

fn content(text: &str, temperature: f64, response_format: ResponseFormat) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![
            MessageTemplate {
                role: Role::System,
                content: "You summarise.".into(),
            },
            MessageTemplate {
                role: Role::User,
                content: text.into(),
            },
        ],
        model: ModelId {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
        },
        parameters: ModelParameters {
            temperature: Some(temperature),
            ..Default::default()
        },
        response_format,
    }
}

/// A stand-in for the content hash `spec` computes: distinct per content.
fn id_of(content: &PromptContent) -> VersionId {
    VersionId(hex::encode(Sha256::digest(
        serde_json::to_vec(content).unwrap(),
    )))
}

async fn publish(registry: &dyn Registry, prompt: &str, content: PromptContent) -> u32 {
    let published = registry
        .publish(NewVersion {
            prompt: prompt.into(),
            id: id_of(&content),
            content,
            parent: None,
            git_commit: None,
            author: "Ada <ada@example.com>".into(),
            message: None,
        })
        .await
        .unwrap();
    published.version.number
}

async fn set_label(registry: &dyn Registry, prompt: &str, label: &str, to: LabelTarget) {
    registry
        .move_label(MoveLabel {
            prompt: prompt.into(),
            label: label.into(),
            to,
            expect: ExpectFrom::Anything,
            kind: MoveKind::Set,
            forced: false,
            actor: "Ada <ada@example.com>".into(),
            reason: Some("test".into()),
        })
        .await
        .unwrap();
}

fn acme() -> Namespace {
    Namespace::parse("acme/app").unwrap()
}

fn other() -> Namespace {
    Namespace::parse("other/app").unwrap()
}

struct Fixture {
    state: ServerState,
    key: String,
    url: String,
    _dir: tempfile::TempDir,
}

/// Publishes `summarize` v1 (text) and v2 (JSON object), `production` → v2
/// and `experiment` split 50/50 between them; then opens the server on the
/// same database.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let writer = registry::open_in(&url, dir.path(), &acme()).await.unwrap();
    // Another repository's prompt of the same name: a prompt of its own.
    let theirs = writer.scoped(&other());
    publish(
        theirs.as_ref(),
        "summarize",
        content("other's: {{text}}", 0.9, ResponseFormat::Text),
    )
    .await;
    set_label(
        theirs.as_ref(),
        "summarize",
        "production",
        LabelTarget::Version(1),
    )
    .await;
    let v1 = publish(
        writer.as_ref(),
        "summarize",
        content("v1: {{text}}", 0.2, ResponseFormat::Text),
    )
    .await;
    let v2 = publish(
        writer.as_ref(),
        "summarize",
        content("v2: {{text}}", 0.0, ResponseFormat::JsonObject),
    )
    .await;
    assert_eq!((v1, v2), (1, 2));
    set_label(
        writer.as_ref(),
        "summarize",
        "production",
        LabelTarget::Version(2),
    )
    .await;
    set_label(
        writer.as_ref(),
        "summarize",
        "experiment",
        LabelTarget::parse("v1:50,v2:50").unwrap(),
    )
    .await;

    // The server's one pool: the registry it serves from is on it too.
    let db = Database::connect(&url, 4).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    let prompts = RegistryPrompts::new(Arc::new(SqlRegistry::on(db.clone())));
    let queue = JobQueue::new(db, RetryPolicy::default());
    let state = ServerState::new(
        queue,
        Arc::new(HmacVerifier::new(vec![Secret::new("s")])),
        Arc::new(GitHubEvents::default()),
        Arc::new(prompts),
    );
    let key = state
        .api_keys
        .create("app", Scope::Read, KeyReach::Repos(vec![acme()]))
        .await
        .unwrap()
        .key
        .expose()
        .to_string();
    Fixture {
        state,
        key,
        url,
        _dir: dir,
    }
}

async fn get(
    fixture: &Fixture,
    path: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, Option<String>, Option<Value>) {
    get_with_key(fixture, &fixture.key, path, if_none_match).await
}

async fn get_with_key(
    fixture: &Fixture,
    key: &str,
    path: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, Option<String>, Option<Value>) {
    let mut request = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = router(fixture.state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).ok();
    (status, etag, body)
}

#[tokio::test]
async fn a_label_serves_what_an_app_should_run_with_an_etag() {
    within_timeout(async {
        let fixture = fixture().await;
        let (status, etag, body) = get(
            &fixture,
            "/v1/repos/acme/app/prompts/summarize?label=production",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let body = body.unwrap();
        assert_eq!(body["name"], "summarize");
        assert_eq!(body["repository"], "acme/app");
        assert_eq!(body["version"], 2);
        assert_eq!(body["label"], "production");
        let expected = content("v2: {{text}}", 0.0, ResponseFormat::JsonObject);
        assert_eq!(body["version_id"], id_of(&expected).0);
        assert_eq!(body["content"]["messages"][1]["content"], "v2: {{text}}");
        assert_eq!(body["content"]["messages"][0]["role"], "system");
        assert_eq!(body["content"]["parameters"]["temperature"], 0.0);
        assert_eq!(body["content"], serde_json::to_value(&expected).unwrap());
        assert_eq!(
            etag.as_deref(),
            Some(format!("\"{}\"", id_of(&expected).0).as_str())
        );

        // `production` is the default label.
        let (_, _, default) = get(&fixture, "/v1/repos/acme/app/prompts/summarize", None).await;
        assert_eq!(default.unwrap()["version"], 2);

        // The client's copy is current: 304 without a body.
        let (status, again, body) = get(
            &fixture,
            "/v1/repos/acme/app/prompts/summarize",
            etag.as_deref(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(again, etag);
        assert!(body.is_none());
        // An old copy gets the new version.
        let v1 = id_of(&content("v1: {{text}}", 0.2, ResponseFormat::Text)).0;
        let (status, _, _) = get(
            &fixture,
            "/v1/repos/acme/app/prompts/summarize",
            Some(&format!("\"{v1}\"")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn versions_by_number_and_what_is_missing() {
    within_timeout(async {
        let fixture = fixture().await;
        let (status, etag, body) = get(
            &fixture,
            "/v1/repos/acme/app/prompts/summarize/versions/1",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let body = body.unwrap();
        assert_eq!(body["version"], 1);
        assert_eq!(body["label"], Value::Null);
        assert_eq!(
            body["content"]["response_format"],
            serde_json::to_value(ResponseFormat::Text).unwrap()
        );
        let v1 = id_of(&content("v1: {{text}}", 0.2, ResponseFormat::Text)).0;
        assert_eq!(etag, Some(format!("\"{v1}\"")));

        for path in [
            "/v1/repos/acme/app/prompts/summarize/versions/3",
            "/v1/repos/acme/app/prompts/summarize/versions/99999999999",
            "/v1/repos/acme/app/prompts/unknown",
            "/v1/repos/acme/app/prompts/summarize?label=staging",
        ] {
            let (status, _, body) = get(&fixture, path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_split_label_gives_each_key_one_arm() {
    within_timeout(async {
        let fixture = fixture().await;
        let mut arms = std::collections::BTreeMap::<u64, usize>::new();
        for user in 0..40 {
            let path =
                format!("/v1/repos/acme/app/prompts/summarize?label=experiment&key=user-{user}");
            let (status, etag, body) = get(&fixture, &path, None).await;
            assert_eq!(status, StatusCode::OK);
            let version = body.unwrap()["version"].as_u64().unwrap();
            *arms.entry(version).or_default() += 1;
            // The same key always lands on the same arm (and so the same ETag).
            let (_, again, body) = get(&fixture, &path, None).await;
            assert_eq!(body.unwrap()["version"].as_u64(), Some(version), "{path}");
            assert_eq!(again, etag);
        }
        assert_eq!(
            arms.keys().copied().collect::<Vec<_>>(),
            vec![1, 2],
            "{arms:?}"
        );
        assert!(
            arms.values().all(|n| *n >= 8),
            "a 50/50 split is lopsided: {arms:?}"
        );
    })
    .await;
}

/// `promptgate keys …` as a process, against `database_url`; (exit code,
/// stdout, stderr).
async fn keys_cli(database_url: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = assert_cmd::Command::cargo_bin("promptgate").unwrap();
    command
        .arg("keys")
        .args(args)
        .env("PROMPTGATE_DATABASE_URL", database_url)
        .env("NO_COLOR", "1");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn keys_made_on_the_command_line_open_and_close_the_api() {
    within_timeout(async {
        let fixture = fixture().await;
        let url = fixture.url.clone();
        let (code, stdout, stderr) = keys_cli(
            &url,
            &[
                "create",
                "--name",
                "checkout-service",
                "--scope",
                "read",
                "--repository",
                "Acme/App",
            ],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let key = stdout.trim().to_string();
        assert!(
            key.starts_with("pgk_") && !key.contains(char::is_whitespace),
            "{stdout}"
        );
        assert!(stderr.contains("not shown again"), "{stderr}");

        let path = "/v1/repos/acme/app/prompts/summarize";
        let (status, _, _) = get_with_key(&fixture, &key, path, None).await;
        assert_eq!(status, StatusCode::OK);

        let (code, table, stderr) = keys_cli(&url, &["list"]).await;
        assert_eq!(code, 0, "{stderr}");
        assert!(
            table.contains("checkout-service") && table.contains("read"),
            "{table}"
        );
        assert!(
            !table.contains(&key) && !table.contains(&key[4..]),
            "list shows a key: {table}"
        );
        let (code, lines, _) = keys_cli(&url, &["list", "--json"]).await;
        assert_eq!(code, 0);
        let listed: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The fixture's key and this one.
        assert_eq!(listed.len(), 2, "{lines}");
        let id = listed[1]["id"].as_i64().unwrap();
        assert_eq!(listed[1]["name"], "checkout-service");
        assert_eq!(listed[1]["revoked_at_ms"], Value::Null);

        let (code, _, stderr) = keys_cli(&url, &["revoke", &id.to_string()]).await;
        assert_eq!(code, 0, "{stderr}");
        // Revoked by another process: the server trusts what it read for
        // at most `[serving] cache_ms` (1 s by default), then refuses.
        let revoked = std::time::Instant::now();
        loop {
            let (status, _, _) = get_with_key(&fixture, &key, path, None).await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert_eq!(status, StatusCode::OK);
            assert!(
                revoked.elapsed() < promptgate::server::ttl_cache::DEFAULT_SERVING_CACHE * 3,
                "a revoked key still works after {:?}",
                revoked.elapsed()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (_, table, _) = keys_cli(&url, &["list"]).await;
        let row = table
            .lines()
            .find(|l| l.contains("checkout-service"))
            .unwrap();
        assert!(
            !row.trim_end().ends_with('-'),
            "revocation not shown: {row}"
        );

        // Revoking again, or an unknown id, says what to do.
        let (code, _, stderr) = keys_cli(&url, &["revoke", &id.to_string()]).await;
        assert_eq!(code, 2);
        assert!(stderr.contains("keys list"), "{stderr}");
        let (code, _, stderr) = keys_cli(
            &url,
            &["create", "--name", "x", "--scope", "owner", "--all-repos"],
        )
        .await;
        assert_ne!(code, 0);
        assert!(
            stderr.contains("read, telemetry, publish or admin"),
            "{stderr}"
        );

        // A publish key is enough to read; the scope is stored as asked.
        let (code, stdout, _) = keys_cli(
            &url,
            &[
                "create",
                "--name",
                "ci",
                "--scope",
                "publish",
                "--all-repos",
            ],
        )
        .await;
        assert_eq!(code, 0);
        let (status, _, _) = get_with_key(&fixture, stdout.trim(), path, None).await;
        assert_eq!(status, StatusCode::OK);
        let (_, lines, _) = keys_cli(&url, &["list", "--json"]).await;
        assert!(lines.contains("\"scope\":\"publish\""), "{lines}");

        // A key names the repositories it reaches: there is no default.
        let (code, _, stderr) = keys_cli(&url, &["create", "--name", "y"]).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("--repository"), "{stderr}");
        let (code, _, stderr) = keys_cli(
            &url,
            &["create", "--name", "y", "--repository", "not a repo"],
        )
        .await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("owner/repo"), "{stderr}");
    })
    .await;
}

/// A key reaches the repositories it names: another repository's prompt of
/// the same name is answered exactly as a prompt that does not exist (404,
/// the same message shape), never 403; a key for every repository sees both
/// prompts, each its own; the routes without a repository are gone (410).
#[tokio::test]
async fn a_key_sees_only_its_repositories() {
    within_timeout(async {
        let fixture = fixture().await;
        let theirs = "/v1/repos/other/app/prompts/summarize";
        let (status, _, body) = get(&fixture, theirs, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body:?}");
        let (status, _, nowhere) =
            get(&fixture, "/v1/repos/nobody/nothing/prompts/summarize", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let shape = |body: &Option<Value>| {
            body.as_ref().unwrap()["error"]
                .as_str()
                .unwrap()
                .replace("other/app", "R")
                .replace("nobody/nothing", "R")
        };
        assert_eq!(shape(&body), shape(&nowhere), "out of reach answers as absent");
        for path in [
            "/v1/repos/other/app/prompts/summarize/versions/1",
            "/v1/repos/OTHER/app/prompts/summarize?label=production",
        ] {
            let (status, _, _) = get(&fixture, path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        // Owner and repository are matched without regard to case.
        let (status, _, _) = get(&fixture, "/v1/repos/ACME/App/prompts/summarize", None).await;
        assert_eq!(status, StatusCode::OK);

        let every = fixture
            .state
            .api_keys
            .create("ops", Scope::Read, KeyReach::Every)
            .await
            .unwrap();
        let (status, _, body) = get_with_key(&fixture, every.key.expose(), theirs, None).await;
        assert_eq!(status, StatusCode::OK);
        let body = body.unwrap();
        assert_eq!((body["repository"].as_str(), body["version"].as_u64()), (Some("other/app"), Some(1)));
        assert_eq!(body["content"]["messages"][1]["content"], "other's: {{text}}");
        let (_, _, ours) = get_with_key(
            &fixture,
            every.key.expose(),
            "/v1/repos/acme/app/prompts/summarize",
            None,
        )
        .await;
        assert_eq!(ours.unwrap()["version"], 2);

        // An installation's key reaches the repositories the server knows it has.
        let installation = fixture
            .state
            .api_keys
            .create("inst", Scope::Read, KeyReach::Installation(77))
            .await
            .unwrap();
        let (status, _, _) = get_with_key(&fixture, installation.key.expose(), theirs, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let Database::Sqlite(pool) = fixture.state.queue.database() else {
            unreachable!()
        };
        sqlx::query(
            "INSERT INTO github_installation_repositories (installation_id, repo) VALUES (77, 'Other/App')",
        )
        .execute(pool)
        .await
        .unwrap();
        let (status, _, _) = get_with_key(&fixture, installation.key.expose(), theirs, None).await;
        assert_eq!(status, StatusCode::OK);

        let (status, _, body) = get(&fixture, "/v1/prompts/summarize", None).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(
            body.unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("/v1/repos/{owner}/{repo}/prompts/summarize")
        );
    })
    .await;
}

/// Serving keeps what it read for `[serving] cache_ms`: a label moved
/// through this server is served from the next request on; one moved by
/// another process (the CLI, another replica) within the cache time.
#[tokio::test]
async fn moved_labels_are_served_at_once_here_and_within_the_cache_time_elsewhere() {
    within_timeout(async {
        let mut fixture = fixture().await;
        let db = Database::connect(&fixture.url, 2).await.unwrap();
        let registry: Arc<dyn Registry> = Arc::new(SqlRegistry::on(db.clone()));
        fixture.state.registry = Some(registry.clone());
        let admin = fixture
            .state
            .api_keys
            .create("ops", Scope::Admin, KeyReach::Repos(vec![acme()]))
            .await
            .unwrap()
            .key
            .expose()
            .to_string();
        let path = "/v1/repos/acme/app/prompts/summarize?label=production";
        let served_version = |body: Option<Value>| body.unwrap()["version"].as_u64().unwrap();
        let (_, _, body) = get(&fixture, path, None).await;
        assert_eq!(served_version(body), 2, "cached now");

        // Through this server's API: the next request sees it.
        let request = Request::post("/v1/repos/acme/app/prompts/summarize/labels/production")
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"to": 1, "expect": "anything", "kind": "set", "actor": "Ops <ops@example.com>"}"#,
            ))
            .unwrap();
        let response = router(fixture.state.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (_, _, body) = get(&fixture, path, None).await;
        assert_eq!(served_version(body), 1, "moved through this server");

        // Elsewhere (straight into the database): within the cache time.
        set_label(
            registry.scoped(&acme()).as_ref(),
            "summarize",
            "production",
            LabelTarget::Version(2),
        )
        .await;
        let moved = std::time::Instant::now();
        loop {
            let (_, _, body) = get(&fixture, path, None).await;
            if served_version(body) == 2 {
                break;
            }
            assert!(
                moved.elapsed() < promptgate::server::ttl_cache::DEFAULT_SERVING_CACHE * 3,
                "a label moved elsewhere is still not served after {:?}",
                moved.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}
