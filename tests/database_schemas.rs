//! Who owns which tables: a registry the CLI opens gets only the registry's
//! tables; the server's database gets the registry's and the server's, on one
//! pool; and a database migrated by the old layout (every migration in one
//! folder, applied in one run) opens and migrates cleanly under the split.
//! Each scenario runs on SQLite and on PostgreSQL (`PROMPTGATE_TEST_POSTGRES`;
//! required when `CI` is set).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use promptgate::edges::db::{Backend, Database};
use promptgate::edges::registry::sql::{REGISTRY_SCHEMA, SqlRegistry};
use promptgate::edges::registry::{self, Namespace, NewVersion, Registry, VersionRef};
use promptgate::server::jobs::{JobKind, JobQueue, NewJob, RetryPolicy};
use promptgate::server::schema::{self, SERVER_SCHEMA};
use promptgate::server::settings::ServeSettings;
use promptgate::types::{
    MessageTemplate, ModelId, ModelParameters, PromptContent, ResponseFormat, Role, Semantics,
    VersionId,
};
use sqlx::Row;

const REGISTRY_TABLES: &[&str] = &[
    "audit",
    "baselines",
    "label_moves",
    "labels",
    "prompts",
    "results",
    "review_labels",
    "versions",
];
const SERVER_TABLES: &[&str] = &[
    "dashboard_sessions",
    "github_installation_repositories",
    "github_installations",
    "jobs",
    "pull_request_spend",
    "server_api_keys",
    "telemetry_daily",
    "telemetry_daily_latency",
    "telemetry_executions",
    "telemetry_hourly",
    "telemetry_hourly_latency",
    "telemetry_idempotency",
    "webhook_deliveries",
];

/// Where a scenario's database is: a URL the CLI (as a registry URL) and
/// the server (as its database URL) both take.
#[derive(Debug, Clone)]
struct Target {
    /// `sqlite://…` (absolute) or `postgres://…`.
    url: String,
    /// The repository root the CLI resolves relative registry paths in.
    repo_root: PathBuf,
}

/// A fresh database on the test server (its admin URL and name), or `None`
/// after saying loudly why (a failure under CI, where PostgreSQL must be).
async fn create_postgres(test: &str) -> Option<(String, String, String)> {
    let Some(admin_url) = std::env::var("PROMPTGATE_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!(
            "\n*** SKIPPED {test} on PostgreSQL: set PROMPTGATE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB ***\n"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but PROMPTGATE_TEST_POSTGRES is not: the schema tests must run on PostgreSQL in CI"
        );
        return None;
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Test names would pass PostgreSQL's 63-byte limit on names.
    let name = format!(
        "promptgate_schema_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    admin(&admin_url, &format!("CREATE DATABASE \"{name}\"")).await;
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    Some((admin_url, name, url.to_string()))
}

async fn admin(admin_url: &str, sql: &str) {
    let admin = Database::connect(admin_url, 1).await.unwrap();
    let Database::Postgres(pool) = &admin else {
        panic!("PROMPTGATE_TEST_POSTGRES must be a postgres:// URL");
    };
    sqlx::query(sql).execute(pool).await.unwrap();
    admin.close().await;
}

/// Every table of the database, sorted, without the engine's own.
async fn tables(db: &Database) -> Vec<String> {
    match db {
        Database::Sqlite(pool) => sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("name"))
        .collect(),
        Database::Postgres(pool) => sqlx::query(
            "SELECT tablename::TEXT AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("name"))
        .collect(),
    }
}

/// The number of migrations recorded as applied.
async fn applied_migrations(db: &Database) -> i64 {
    let sql = "SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success";
    match db {
        Database::Sqlite(pool) => sqlx::query(sql).fetch_one(pool).await.unwrap().get("n"),
        Database::Postgres(pool) => sqlx::query(sql).fetch_one(pool).await.unwrap().get("n"),
    }
}

fn expected(groups: &[&[&str]]) -> Vec<String> {
    let mut names: Vec<String> = groups
        .iter()
        .flat_map(|group| group.iter().map(|name| name.to_string()))
        .chain(["_sqlx_migrations".to_string()])
        .collect();
    names.sort();
    names
}

fn new_version(text: &str) -> NewVersion {
    let content = PromptContent {
        semantics: Semantics::default(),
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
    };
    NewVersion {
        prompt: "support".into(),
        id: VersionId(format!("id-{text}")),
        content,
        parent: None,
        git_commit: None,
        author: "Ada <ada@example.com>".into(),
        message: None,
    }
}

/// The server's settings with `url` as its database.
fn settings(url: &str) -> ServeSettings {
    ServeSettings::load(None, &|name| match name {
        "PROMPTGATE_WEBHOOK_SECRET" => Some("schemas-test-webhook-secret".to_string()),
        "PROMPTGATE_DATABASE_URL" => Some(url.to_string()),
        _ => None,
    })
    .unwrap()
}

/// The CLI's registry: only the registry's tables, nothing of the server's.
async fn a_cli_registry_gets_only_the_registry_tables(target: Target) {
    let cli = registry::open_in(
        &target.url,
        &target.repo_root,
        &Namespace::default_namespace(),
    )
    .await
    .unwrap();
    cli.publish(new_version("one")).await.unwrap();
    drop(cli);
    let db = Database::connect(&target.url, 1).await.unwrap();
    assert_eq!(tables(&db).await, expected(&[REGISTRY_TABLES]));
    assert!(
        db.pending_migrations(&[&REGISTRY_SCHEMA])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.pending_migrations(&[&SERVER_SCHEMA]).await.unwrap(),
        SERVER_SCHEMA.versions(db.backend()),
        "the server's migrations are not applied by the CLI"
    );
    db.close().await;
}

/// The server's start-up: both schemas on one pool, which the registry and
/// the queue share; the CLI can still open the same database as a registry
/// (its migrator ignores the server's versions).
async fn the_server_database_holds_both_on_one_pool(target: Target) {
    let db = promptgate::server::start::open_database(&settings(&target.url))
        .await
        .unwrap();
    assert_eq!(
        tables(&db).await,
        expected(&[REGISTRY_TABLES, SERVER_TABLES])
    );
    assert!(schema::pending_migrations(&db).await.unwrap().is_empty());
    // Again, as a restarted server does: nothing to do, nothing refused.
    schema::migrate(&db).await.unwrap();

    let served = SqlRegistry::on(db.clone());
    let published = served.publish(new_version("one")).await.unwrap();
    let queue = JobQueue::new(db.clone(), RetryPolicy::default());
    queue
        .enqueue(&NewJob::new(
            JobKind::SelfTest,
            serde_json::json!({"id": "t"}),
        ))
        .await
        .unwrap();
    assert_eq!(queue.depth().await.unwrap().queued, 1);

    let cli = registry::open_in(
        &target.url,
        &target.repo_root,
        &Namespace::default_namespace(),
    )
    .await
    .unwrap();
    let seen = cli
        .version("support", &VersionRef::Number(published.version.number))
        .await
        .unwrap();
    assert_eq!(seen.map(|v| v.id), Some(published.version.id));
    db.close().await;
}

/// A registry the CLI created first, later used as the server's database.
async fn a_cli_registry_becomes_a_server_database(target: Target) {
    let cli = registry::open_in(
        &target.url,
        &target.repo_root,
        &Namespace::default_namespace(),
    )
    .await
    .unwrap();
    cli.publish(new_version("one")).await.unwrap();
    drop(cli);
    let db = promptgate::server::start::open_database(&settings(&target.url))
        .await
        .unwrap();
    assert_eq!(
        tables(&db).await,
        expected(&[REGISTRY_TABLES, SERVER_TABLES])
    );
    let versions = SqlRegistry::on(db.clone())
        .versions("support")
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    db.close().await;
}

/// The migration files of one engine as the old layout had them: all of
/// them in one folder (copied byte for byte from today's two), leaving out
/// migrations written after the split.
fn old_layout(engine: &str) -> tempfile::TempDir {
    // Migrations are named by date; the split came after these.
    const SPLIT: &str = "20261124";
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let dir = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for owner in ["registry", "server"] {
        let folder: PathBuf = root.join(owner).join(engine);
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().as_ref() >= SPLIT {
                continue;
            }
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 3, "the three migrations of the old layout");
    dir
}

/// A database that the old layout migrated in one run (one migrator, all
/// three files) opens, migrates and works under the split.
async fn a_database_of_the_old_layout_migrates_cleanly(target: Target) {
    let db = Database::connect(&target.url, 2).await.unwrap();
    let engine = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let files = old_layout(engine);
    let old = sqlx::migrate::Migrator::new(files.path()).await.unwrap();
    match &db {
        Database::Sqlite(pool) => old.run(pool).await.unwrap(),
        Database::Postgres(pool) => old.run(pool).await.unwrap(),
    }
    assert_eq!(applied_migrations(&db).await, 3);
    // Published before the upgrade (by that version's queries): still there after it.
    insert_old_rows(&db, "support").await;
    db.close().await;

    // The new server: each migrator finds its versions applied with the
    // same checksums and ignores the other's.
    let db = promptgate::server::start::open_database(&settings(&target.url))
        .await
        .unwrap();
    assert!(schema::pending_migrations(&db).await.unwrap().is_empty());
    assert_eq!(
        tables(&db).await,
        expected(&[REGISTRY_TABLES, SERVER_TABLES])
    );
    let served = SqlRegistry::on(db.clone());
    served.publish(new_version("after")).await.unwrap();
    assert_eq!(served.versions("support").await.unwrap().len(), 3);
    let queue = JobQueue::new(db.clone(), RetryPolicy::default());
    queue
        .enqueue(&NewJob::new(
            JobKind::SelfTest,
            serde_json::json!({"id": "t"}),
        ))
        .await
        .unwrap();
    db.close().await;

    // The new CLI on the same database, which also holds the server's tables.
    let cli = registry::open_in(
        &target.url,
        &target.repo_root,
        &Namespace::default_namespace(),
    )
    .await
    .unwrap();
    assert_eq!(cli.versions("support").await.unwrap().len(), 3);
}

/// Rows as the registry wrote them before namespaces (its first migration's
/// tables, no `repo`): two versions of `prompt`, a result that is v1's
/// baseline, `latest` on v2 with its two moves, and the audit lines.
async fn insert_old_rows(db: &Database, prompt: &str) {
    let content = serde_json::to_string(&new_version("x").content).unwrap();
    let result = serde_json::json!({"note": "opaque to the migration"}).to_string();
    let statements: Vec<(String, Vec<String>)> = vec![
        ("INSERT INTO prompts (name, writes) VALUES ($1, 4)".into(), vec![prompt.into()]),
        (
            "INSERT INTO versions (prompt, number, version_id, content, parent, git_commit, author, message, created_at) \
             VALUES ($1, 1, 'id-1', $2, NULL, 'c0ffee', 'ada', 'first', '2026-11-01T00:00:00Z')".into(),
            vec![prompt.into(), content.clone()],
        ),
        (
            "INSERT INTO versions (prompt, number, version_id, content, parent, git_commit, author, message, created_at) \
             VALUES ($1, 2, 'id-2', $2, 1, 'beef00', 'ada', 'second', '2026-11-02T00:00:00Z')".into(),
            vec![prompt.into(), content],
        ),
        (
            "INSERT INTO results (fingerprint, prompt, version_id, result, recorded_at) \
             VALUES ('fp-old', $1, 'id-1', $2, '2026-11-01T00:00:00Z')".into(),
            vec![prompt.into(), result],
        ),
        (
            "INSERT INTO baselines (prompt, number, fingerprint, gate, set_by, set_at) \
             VALUES ($1, 1, 'fp-old', 'passed', 'ada', '2026-11-01T00:00:00Z')".into(),
            vec![prompt.into()],
        ),
        (
            "INSERT INTO labels (prompt, label, target) VALUES ($1, 'latest', '2')".into(),
            vec![prompt.into()],
        ),
        (
            "INSERT INTO label_moves (prompt, label, from_target, to_target, kind, forced, actor, reason, at) \
             VALUES ($1, 'latest', NULL, '1', 'publish', 0, 'ada', NULL, '2026-11-01T00:00:00Z')".into(),
            vec![prompt.into()],
        ),
        (
            "INSERT INTO label_moves (prompt, label, from_target, to_target, kind, forced, actor, reason, at) \
             VALUES ($1, 'latest', '1', '2', 'publish', 0, 'ada', NULL, '2026-11-02T00:00:00Z')".into(),
            vec![prompt.into()],
        ),
        (
            "INSERT INTO audit (at, actor, action, prompt, detail) \
             VALUES ('2026-11-01T00:00:00Z', 'ada', 'publish', $1, '{\"number\":1}')".into(),
            vec![prompt.into()],
        ),
    ];
    for (sql, binds) in statements {
        match db {
            Database::Sqlite(pool) => {
                let mut query = sqlx::query(&sql);
                for bind in &binds {
                    query = query.bind(bind);
                }
                query.execute(pool).await.unwrap();
            }
            Database::Postgres(pool) => {
                let mut query = sqlx::query(&sql);
                for bind in &binds {
                    query = query.bind(bind);
                }
                query.execute(pool).await.unwrap();
            }
        }
    }
}

/// The namespaces migration on a registry created with the schema before
/// it: every row moves to the default namespace, keeps its numbers, labels,
/// history and audit order; another repository's namespace starts empty;
/// the append-only rules still hold; new rows need a repository.
async fn rows_from_before_namespaces_move_to_the_default_namespace(target: Target) {
    let db = Database::connect(&target.url, 2).await.unwrap();
    let engine = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let first = tempfile::tempdir().unwrap();
    let name = "20250101000000_registry.sql";
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/registry")
            .join(engine)
            .join(name),
        first.path().join(name),
    )
    .unwrap();
    let old = sqlx::migrate::Migrator::new(first.path()).await.unwrap();
    match &db {
        Database::Sqlite(pool) => old.run(pool).await.unwrap(),
        Database::Postgres(pool) => old.run(pool).await.unwrap(),
    }
    insert_old_rows(&db, "support-bot").await;
    db.migrate(&REGISTRY_SCHEMA).await.unwrap();

    let default = SqlRegistry::on(db.clone());
    assert_eq!(default.namespace(), &Namespace::default_namespace());
    let versions = default.versions("support-bot").await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.number, v.id.0.as_str(), v.git_commit.as_deref(), v.parent))
            .collect::<Vec<_>>(),
        vec![
            (1, "id-1", Some("c0ffee"), None),
            (2, "id-2", Some("beef00"), Some(1))
        ]
    );
    assert_eq!(default.prompts().await.unwrap(), vec!["support-bot"]);
    assert_eq!(
        default.label("support-bot", "latest").await.unwrap(),
        Some(registry::LabelTarget::Version(2))
    );
    assert_eq!(default.label_history("support-bot").await.unwrap().len(), 2);
    assert_eq!(default.audit_log().await.unwrap().len(), 1);
    let stored_gate: String = match &db {
        Database::Sqlite(pool) => {
            sqlx::query("SELECT gate FROM baselines WHERE repo = '_/default'")
                .fetch_one(pool)
                .await
                .unwrap()
                .get("gate")
        }
        Database::Postgres(pool) => {
            sqlx::query("SELECT gate FROM baselines WHERE repo = '_/default'")
                .fetch_one(pool)
                .await
                .unwrap()
                .get("gate")
        }
    };
    assert_eq!(stored_gate, "passed");

    // Another repository's prompt of the same name is a new prompt.
    let acme = default.scoped(&Namespace::parse("acme/bot").unwrap());
    assert!(acme.versions("support-bot").await.unwrap().is_empty());
    let published = acme.publish(new_version("acme's")).await.unwrap();
    assert_eq!(published.version.number, 1);
    assert_eq!(default.versions("support-bot").await.unwrap().len(), 2);
    // The default namespace continues its numbers.
    let mut next = new_version("next");
    next.prompt = "support-bot".into();
    assert_eq!(default.publish(next).await.unwrap().version.number, 3);

    // Still append-only, and a row without a repository is refused.
    let (updated, unscoped) = match &db {
        Database::Sqlite(pool) => (
            sqlx::query("UPDATE versions SET author = 'mallory'")
                .execute(pool)
                .await
                .is_err(),
            sqlx::query("INSERT INTO prompts (name) VALUES ('x')")
                .execute(pool)
                .await
                .is_err(),
        ),
        Database::Postgres(pool) => (
            sqlx::query("UPDATE versions SET author = 'mallory'")
                .execute(pool)
                .await
                .is_err(),
            sqlx::query("INSERT INTO prompts (name) VALUES ('x')")
                .execute(pool)
                .await
                .is_err(),
        ),
    };
    assert!(updated, "versions stay append-only");
    assert!(unscoped, "every row names its repository");
    db.close().await;
}

async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        url: format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        repo_root: dir.path().to_path_buf(),
    };
    within_timeout(scenario(target)).await;
}

async fn on_postgres<F, Fut>(test: &str, scenario: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some((admin_url, name, url)) = create_postgres(test).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        url,
        repo_root: dir.path().to_path_buf(),
    };
    within_timeout(scenario(target)).await;
    admin(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await;
}

async fn within_timeout(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::on_sqlite(super::$scenario).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::on_postgres(stringify!($scenario), super::$scenario).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_cli_registry_gets_only_the_registry_tables,
    the_server_database_holds_both_on_one_pool,
    a_cli_registry_becomes_a_server_database,
    a_database_of_the_old_layout_migrates_cleanly,
    rows_from_before_namespaces_move_to_the_default_namespace,
);
