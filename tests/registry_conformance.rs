//! One conformance suite for every registry backend: each behaviour is a
//! generic async fn over `dyn Registry`, run against SQLite (a temp file),
//! PostgreSQL (a fresh database per test, from `PROMPTGATE_TEST_POSTGRES`),
//! the git branch (a bare "remote" in a temp folder and two clones) and a
//! `promptgate serve` server over real HTTP on loopback (the server's
//! registry API, its registry in a temp SQLite file).
//!
//! Every fixture holds two registry handles on the same storage (two pools
//! on one database, or two clones of one remote), as two processes would,
//! and the concurrency tests spread their writers over both.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use promptgate::edges::db::Database;
use promptgate::edges::registry::http::HttpRegistry;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{
    ExpectFrom, GateOutcome, LATEST, LabelTarget, MoveKind, MoveLabel, Namespace, NewVersion,
    PolicyRule, Promote, PublishInput, Registry, RegistryError, VersionRef, open, open_in,
    publish_prompt,
};
use promptgate::pipeline::config::PromotionPolicy;
use promptgate::server::jobs::{JobQueue, RetryPolicy, shutdown_channel};
use promptgate::server::{
    GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
};
use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint,
    MessageTemplate, ModelId, ModelParameters, PromptContent, RepeatResult, ResponseFormat, Role,
    Usage, VersionId,
};

type Shared = Arc<dyn Registry>;

struct Fixture {
    /// Two handles on the same registry, as two processes would hold.
    a: Shared,
    b: Shared,
    /// Checks the backend's storage after the test (the git working tree is untouched).
    after: Option<Box<dyn FnOnce() + Send + Sync>>,
    _temp: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
    Git,
    Http,
}

async fn sqlite_fixture() -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let url = "sqlite://registry/registry.db";
    let a: Shared = open(url, temp.path()).await.unwrap().into();
    let b: Shared = open(url, temp.path()).await.unwrap().into();
    Fixture {
        a,
        b,
        after: None,
        _temp: temp,
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

async fn git_fixture() -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let remote = temp.path().join("remote.git");
    std::fs::create_dir(&remote).unwrap();
    git(
        &remote,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    let first = temp.path().join("first");
    let second = temp.path().join("second");
    git(
        temp.path(),
        &[
            "clone",
            "--quiet",
            remote.to_str().unwrap(),
            first.to_str().unwrap(),
        ],
    );
    // The user's own work: a commit on main and an uncommitted edit, both of which must survive.
    std::fs::write(first.join("support.prompt.yml"), "name: support\n").unwrap();
    git(&first, &["add", "."]);
    git(&first, &["commit", "--quiet", "-m", "first"]);
    git(&first, &["push", "--quiet", "origin", "main"]);
    std::fs::write(
        first.join("support.prompt.yml"),
        "name: support\n# editing\n",
    )
    .unwrap();
    git(
        temp.path(),
        &[
            "clone",
            "--quiet",
            remote.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
    );
    let head_before = git(&first, &["rev-parse", "HEAD"]);
    let status_before = git(&first, &["status", "--porcelain"]);
    let a: Shared = open("git+branch://", &first).await.unwrap().into();
    let b: Shared = open("git+branch://", &second).await.unwrap().into();
    let after = move || {
        assert_eq!(git(&first, &["rev-parse", "HEAD"]), head_before);
        assert_eq!(git(&first, &["status", "--porcelain"]), status_before);
        assert_eq!(git(&first, &["branch", "--show-current"]), "main");
        assert_eq!(
            std::fs::read_to_string(first.join("support.prompt.yml")).unwrap(),
            "name: support\n# editing\n"
        );
    };
    Fixture {
        a,
        b,
        after: Some(Box::new(after)),
        _temp: temp,
    }
}

/// A server on a loopback port, serving the registry API over a fresh SQLite
/// database; two clients present an admin key that reaches every repository.
async fn http_fixture() -> Fixture {
    http_fixture_with_floor(lenient()).await
}

/// [`http_fixture`] on a server whose `[promotion_floor]` is `floor`.
async fn http_fixture_with_floor(floor: PromotionPolicy) -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", temp.path().join("server.db").display());
    let db = Database::connect(&url, 8).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    let registry: Shared = Arc::new(SqlRegistry::on(db.clone()));
    let mut state = ServerState::new(
        JobQueue::new(db, RetryPolicy::default()),
        Arc::new(HmacVerifier::new(vec![Secret::new("s")])),
        Arc::new(GitHubEvents::default()),
        Arc::new(RegistryPrompts::new(registry.clone())),
    );
    state.registry = Some(registry);
    state.promotion_floor = floor;
    let key = state
        .api_keys
        .create("conformance", Scope::Admin, KeyReach::Every)
        .await
        .unwrap()
        .key;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(promptgate::server::serve(listener, state, shutdown));
    let client = || -> Shared {
        Arc::new(
            HttpRegistry::new(
                &base,
                Secret::new(key.expose()),
                &Namespace::default_namespace(),
            )
            .unwrap(),
        )
    };
    Fixture {
        a: client(),
        b: client(),
        after: Some(Box::new(move || stop.trigger())),
        _temp: temp,
    }
}

/// A fresh database on the test server, dropped afterwards.
async fn postgres_fixture(server: &str) -> (Fixture, String) {
    use sqlx::Connection;
    let name = format!("promptgate_test_{}_{}", std::process::id(), rand_suffix());
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&name);
    let temp = tempfile::tempdir().unwrap();
    let default = Namespace::default_namespace();
    let a: Shared = open_in(url.as_str(), temp.path(), &default)
        .await
        .unwrap()
        .into();
    let b: Shared = open_in(url.as_str(), temp.path(), &default)
        .await
        .unwrap()
        .into();
    (
        Fixture {
            a,
            b,
            after: None,
            _temp: temp,
        },
        name,
    )
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos}_{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

async fn run<F, Fut>(backend: Backend, behaviour: F)
where
    F: FnOnce(Arc<Fixture>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut dropped_database = None;
    let fixture = match backend {
        Backend::Sqlite => sqlite_fixture().await,
        Backend::Git => git_fixture().await,
        Backend::Http => http_fixture().await,
        Backend::Postgres => match std::env::var("PROMPTGATE_TEST_POSTGRES") {
            Ok(server) if !server.is_empty() => {
                let (fixture, name) = postgres_fixture(&server).await;
                dropped_database = Some((server, name));
                fixture
            }
            _ => {
                skipped_loudly("PostgreSQL");
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but PROMPTGATE_TEST_POSTGRES is not"
                );
                return;
            }
        },
    };
    let fixture = Arc::new(fixture);
    tokio::time::timeout(Duration::from_secs(120), behaviour(fixture.clone()))
        .await
        .expect("test timed out");
    let mut fixture = Arc::try_unwrap(fixture)
        .ok()
        .expect("the behaviour kept the fixture");
    if let Some(after) = fixture.after.take() {
        after();
    }
    drop(fixture);
    if let Some((server, name)) = dropped_database {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

fn content(text: &str) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![
            MessageTemplate {
                role: Role::System,
                content: "You are terse.".into(),
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
            temperature: Some(0.2),
            ..Default::default()
        },
        response_format: ResponseFormat::Text,
    }
}

fn new_version(prompt: &str, text: &str) -> NewVersion {
    NewVersion {
        prompt: prompt.into(),
        id: VersionId(format!("{:x}", md5ish(&format!("{prompt}/{text}")))),
        content: content(text),
        parent: None,
        git_commit: Some("0123abcd".into()),
        author: "Ada <ada@example.com>".into(),
        message: Some(format!("say {text}")),
    }
}

/// A stable stand-in for the content hash `spec` computes.
fn md5ish(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// A result of `cases` cases, each scoring `score` on one criterion.
fn result_of(
    prompt: &str,
    id: &VersionId,
    fingerprint: &str,
    cases: usize,
    score: f64,
) -> EvalResult {
    EvalResult {
        prompt: prompt.into(),
        version: id.clone(),
        fingerprint: Fingerprint(fingerprint.into()),
        model: "openai/gpt-4o-mini".into(),
        from_model: true,
        criteria: vec![CriterionInfo {
            name: "helpful".into(),
            kind: "judge".into(),
            weight: 1.0,
            threshold: None,
            binary: false,
            line: Some(12),
        }],
        cases: (0..cases)
            .map(|i| CaseResult {
                case_id: format!("case-{i}"),
                vars: serde_json::Map::new(),
                repeats: vec![RepeatResult {
                    call: CallOutcome {
                        result: Ok("fine".into()),
                        usage: Usage {
                            input_tokens: 10,
                            output_tokens: 5,
                        },
                        latency_ms: 100,
                        cost_usd: None,
                        cached: false,
                    },
                    scores: vec![CriterionScore {
                        score: Ok(promptgate::types::Score {
                            value: score,
                            reason: "ok".into(),
                            display: None,
                        }),
                    }],
                }],
            })
            .collect(),
        created_at: "2025-01-01T00:00:00Z".into(),
    }
}

fn set(prompt: &str, label: &str, to: LabelTarget, expect: ExpectFrom) -> MoveLabel {
    MoveLabel {
        prompt: prompt.into(),
        label: label.into(),
        to,
        expect,
        kind: MoveKind::Set,
        forced: false,
        actor: "Grace <grace@example.com>".into(),
        reason: Some("testing".into()),
    }
}

fn envs() -> Vec<String> {
    vec!["staging".into(), "production".into()]
}

fn promote(prompt: &str, number: u32, to: &str) -> Promote {
    Promote {
        prompt: prompt.into(),
        version: VersionRef::Number(number),
        to: to.into(),
        actor: "Grace <grace@example.com>".into(),
        reason: Some("looks good".into()),
        force: false,
    }
}

/// No rule but the order of environments.
fn lenient() -> PromotionPolicy {
    PromotionPolicy {
        min_cases: 0,
        min_score: None,
        require_gate_passed: false,
    }
}

// ---------------------------------------------------------------- behaviours

async fn publish_numbers_versions_and_is_idempotent(fx: Arc<Fixture>) {
    let first = fx.a.publish(new_version("support", "hello")).await.unwrap();
    assert!(first.created);
    assert_eq!(first.version.number, 1);
    assert_eq!(first.version.parent, None);
    let again = fx.b.publish(new_version("support", "hello")).await.unwrap();
    assert!(
        !again.created,
        "identical content must return the existing version"
    );
    assert_eq!(again.version, first.version);
    let second =
        fx.b.publish(new_version("support", "hi there"))
            .await
            .unwrap();
    assert_eq!((second.version.number, second.version.parent), (2, Some(1)));
    let mut with_parent = new_version("support", "third");
    with_parent.parent = Some(first.version.id.clone());
    let third = fx.a.publish(with_parent).await.unwrap();
    assert_eq!((third.version.number, third.version.parent), (3, Some(1)));
    let other =
        fx.a.publish(new_version("billing bot", "hello"))
            .await
            .unwrap();
    assert_eq!(other.version.number, 1, "numbers are per prompt");

    // Reads through the other handle see everything, content intact.
    let versions = fx.b.versions("support").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.number).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(versions[1].content, content("hi there"));
    assert_eq!(versions[1].git_commit.as_deref(), Some("0123abcd"));
    assert_eq!(versions[1].message.as_deref(), Some("say hi there"));
    let by_id =
        fx.b.version("support", &VersionRef::Id(second.version.id.clone()))
            .await
            .unwrap();
    assert_eq!(by_id.as_ref(), Some(&second.version));
    let by_number =
        fx.a.version("support", &VersionRef::Number(2))
            .await
            .unwrap();
    assert_eq!(by_number.as_ref(), Some(&second.version));
    assert_eq!(
        fx.a.version("support", &VersionRef::Number(9))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        fx.b.prompts().await.unwrap(),
        vec!["billing bot".to_string(), "support".to_string()]
    );

    let bad =
        fx.a.publish(new_version("../escape", "x"))
            .await
            .unwrap_err();
    assert!(matches!(bad, RegistryError::InvalidName { .. }), "{bad}");
}

async fn results_and_baselines(fx: Arc<Fixture>) {
    let v1 =
        fx.a.publish(new_version("support", "hello"))
            .await
            .unwrap()
            .version;
    let v2 =
        fx.a.publish(new_version("support", "bye"))
            .await
            .unwrap()
            .version;
    let result = result_of("support", &v1.id, "fp-1", 3, 0.75);
    fx.a.record_result(&result, "ci").await.unwrap();
    assert_eq!(
        fx.b.result(&Fingerprint("fp-1".into())).await.unwrap(),
        Some(result.clone())
    );
    assert_eq!(
        fx.b.result(&Fingerprint("fp-none".into())).await.unwrap(),
        None
    );
    assert_eq!(fx.b.baseline("support", 1).await.unwrap(), None);

    let baseline =
        fx.b.set_baseline("support", 1, &result.fingerprint, GateOutcome::Passed, "ci")
            .await
            .unwrap();
    let read = fx.a.baseline("support", 1).await.unwrap().unwrap();
    assert_eq!(read, baseline);
    assert_eq!(
        (read.gate, read.result),
        (GateOutcome::Passed, result.clone())
    );

    let wrong =
        fx.a.set_baseline(
            "support",
            v2.number,
            &result.fingerprint,
            GateOutcome::Passed,
            "ci",
        )
        .await;
    assert!(
        matches!(wrong, Err(RegistryError::ResultMismatch { .. })),
        "{wrong:?}"
    );
    let missing =
        fx.a.set_baseline(
            "support",
            1,
            &Fingerprint("nope".into()),
            GateOutcome::Passed,
            "ci",
        )
        .await;
    assert!(
        matches!(missing, Err(RegistryError::ResultNotFound(_))),
        "{missing:?}"
    );
    let unpublished =
        fx.a.set_baseline("support", 7, &result.fingerprint, GateOutcome::Passed, "ci")
            .await;
    assert!(
        matches!(unpublished, Err(RegistryError::VersionNotFound { .. })),
        "{unpublished:?}"
    );
}

async fn labels_splits_and_their_history(fx: Arc<Fixture>) {
    for text in ["one", "two", "three"] {
        fx.a.publish(new_version("support", text)).await.unwrap();
    }
    let first =
        fx.a.move_label(set(
            "support",
            "production",
            LabelTarget::Version(1),
            ExpectFrom::Unset,
        ))
        .await
        .unwrap();
    assert_eq!((first.from, first.to), (None, LabelTarget::Version(1)));
    let split = LabelTarget::parse("v1:80,v2:20").unwrap();
    fx.b.move_label(set(
        "support",
        "production",
        split.clone(),
        ExpectFrom::Target(LabelTarget::Version(1)),
    ))
    .await
    .unwrap();
    assert_eq!(
        fx.a.label("support", "production").await.unwrap(),
        Some(split.clone())
    );

    // A key always gets the same arm; different keys reach both arms.
    let mut arms = BTreeSet::new();
    for user in 0..40 {
        let key = format!("user-{user}");
        let picked =
            fx.a.resolve("support", "production", Some(&key))
                .await
                .unwrap();
        assert_eq!(
            fx.b.resolve("support", "production", Some(&key))
                .await
                .unwrap()
                .number,
            picked.number
        );
        arms.insert(picked.number);
    }
    assert_eq!(arms, BTreeSet::from([1, 2]));

    // Refused moves change nothing.
    let missing =
        fx.a.move_label(set(
            "support",
            "production",
            LabelTarget::Version(9),
            ExpectFrom::Anything,
        ))
        .await;
    assert!(
        matches!(missing, Err(RegistryError::VersionNotFound { .. })),
        "{missing:?}"
    );
    let stale =
        fx.a.move_label(set(
            "support",
            "production",
            LabelTarget::Version(3),
            ExpectFrom::Target(LabelTarget::Version(1)),
        ))
        .await;
    assert!(
        matches!(stale, Err(RegistryError::Conflict { .. })),
        "{stale:?}"
    );
    let same =
        fx.a.move_label(set(
            "support",
            "production",
            split.clone(),
            ExpectFrom::Anything,
        ))
        .await;
    assert!(
        matches!(same, Err(RegistryError::Unchanged { .. })),
        "{same:?}"
    );
    assert_eq!(
        fx.b.label("support", "production").await.unwrap(),
        Some(split.clone())
    );
    let unset = fx.a.resolve("support", "staging", None).await;
    assert!(
        matches!(unset, Err(RegistryError::LabelNotSet { .. })),
        "{unset:?}"
    );

    let history = fx.b.label_history("support").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].from, Some(LabelTarget::Version(1)));
    assert_eq!(history[1].to, split);
    assert_eq!(history[1].actor, "Grace <grace@example.com>");
    assert_eq!(history[1].reason.as_deref(), Some("testing"));
    assert_eq!(
        fx.a.labels("support").await.unwrap(),
        BTreeMap::from([("production".to_string(), split)])
    );
}

async fn promotion_follows_the_policy(fx: Arc<Fixture>) {
    let policy = PromotionPolicy {
        min_cases: 3,
        min_score: Some(0.6),
        require_gate_passed: true,
    };
    let good =
        fx.a.publish(new_version("support", "good"))
            .await
            .unwrap()
            .version;
    let weak =
        fx.a.publish(new_version("support", "weak"))
            .await
            .unwrap()
            .version;
    fx.a.record_result(&result_of("support", &good.id, "fp-good", 5, 0.9), "ci")
        .await
        .unwrap();
    fx.a.set_baseline(
        "support",
        1,
        &Fingerprint("fp-good".into()),
        GateOutcome::Passed,
        "ci",
    )
    .await
    .unwrap();
    fx.a.record_result(&result_of("support", &weak.id, "fp-weak", 2, 0.4), "ci")
        .await
        .unwrap();
    fx.a.set_baseline(
        "support",
        2,
        &Fingerprint("fp-weak".into()),
        GateOutcome::Failed,
        "ci",
    )
    .await
    .unwrap();

    let skipped =
        fx.b.promote(promote("support", 1, "production"), &envs(), &policy)
            .await
            .unwrap_err();
    let RegistryError::Refused(refused) = &skipped else {
        panic!("{skipped}")
    };
    assert!(
        matches!(&refused.rules[..], [PolicyRule::SkipsEnvironment { required, current: None }] if required == "staging")
    );
    assert!(
        skipped.to_string().contains("must be on `staging` first"),
        "{skipped}"
    );

    fx.b.promote(promote("support", 1, "staging"), &envs(), &policy)
        .await
        .unwrap();
    let moved =
        fx.a.promote(promote("support", 1, "production"), &envs(), &policy)
            .await
            .unwrap();
    assert_eq!(
        (moved.kind, moved.forced, moved.to.clone()),
        (MoveKind::Promote, false, LabelTarget::Version(1))
    );

    let weak_refused =
        fx.a.promote(promote("support", 2, "staging"), &envs(), &policy)
            .await
            .unwrap_err();
    let RegistryError::Refused(refused) = &weak_refused else {
        panic!("{weak_refused}")
    };
    assert!(matches!(
        &refused.rules[..],
        [
            PolicyRule::TooFewCases { have: 2, need: 3 },
            PolicyRule::ScoreTooLow { .. },
            PolicyRule::GateNotPassed {
                gate: GateOutcome::Failed
            }
        ]
    ));
    let message = weak_refused.to_string();
    for rule in [
        "promotion.min_cases",
        "promotion.min_score",
        "promotion.require_gate_passed",
        "--force",
    ] {
        assert!(message.contains(rule), "`{rule}` missing from: {message}");
    }
    let nowhere =
        fx.a.promote(promote("support", 1, "qa"), &envs(), &policy)
            .await
            .unwrap_err();
    assert!(
        nowhere
            .to_string()
            .contains("`qa` is not one of the environments"),
        "{nowhere}"
    );
    let unpublished =
        fx.a.promote(promote("support", 5, "staging"), &envs(), &policy)
            .await
            .unwrap_err();
    assert!(
        matches!(unpublished, RegistryError::VersionNotFound { .. }),
        "{unpublished}"
    );

    let mut forced = promote("support", 2, "staging");
    forced.force = true;
    forced.reason = None;
    let no_reason =
        fx.a.promote(forced.clone(), &envs(), &policy)
            .await
            .unwrap_err();
    assert!(
        matches!(no_reason, RegistryError::ForceWithoutReason),
        "{no_reason}"
    );
    forced.reason = Some("hotfix for incident 42".into());
    let moved = fx.a.promote(forced, &envs(), &policy).await.unwrap();
    assert!(moved.forced);
    let history = fx.b.label_history("support").await.unwrap();
    let last = history.last().unwrap();
    assert!(last.forced && last.reason.as_deref() == Some("hotfix for incident 42"));
    assert_eq!(
        fx.b.label("support", "staging").await.unwrap(),
        Some(LabelTarget::Version(2))
    );
}

async fn rollback_walks_back_and_is_recorded(fx: Arc<Fixture>) {
    for text in ["one", "two", "three"] {
        fx.a.publish(new_version("support", text)).await.unwrap();
    }
    for number in 1..=3 {
        fx.a.promote(promote("support", number, "staging"), &envs(), &lenient())
            .await
            .unwrap();
    }
    let back =
        fx.b.rollback("support", "staging", "oncall", Some("errors up".into()))
            .await
            .unwrap();
    assert_eq!(
        (back.from, back.to, back.kind),
        (
            Some(LabelTarget::Version(3)),
            LabelTarget::Version(2),
            MoveKind::Rollback
        )
    );
    let back =
        fx.a.rollback("support", "staging", "oncall", None)
            .await
            .unwrap();
    assert_eq!(back.to, LabelTarget::Version(1));
    let nothing =
        fx.a.rollback("support", "staging", "oncall", None)
            .await
            .unwrap_err();
    assert!(
        matches!(nothing, RegistryError::NothingToRollBack { .. }),
        "{nothing}"
    );
    let unset =
        fx.a.rollback("support", "production", "oncall", None)
            .await
            .unwrap_err();
    assert!(
        matches!(unset, RegistryError::LabelNotSet { .. }),
        "{unset}"
    );
    assert_eq!(
        fx.b.label("support", "staging").await.unwrap(),
        Some(LabelTarget::Version(1))
    );
    let kinds: Vec<MoveKind> =
        fx.b.label_history("support")
            .await
            .unwrap()
            .iter()
            .map(|m| m.kind)
            .collect();
    assert_eq!(
        kinds,
        [
            MoveKind::Promote,
            MoveKind::Promote,
            MoveKind::Promote,
            MoveKind::Rollback,
            MoveKind::Rollback
        ]
    );
}

async fn audit_log_records_every_write(fx: Arc<Fixture>) {
    let v1 =
        fx.a.publish(new_version("support", "one"))
            .await
            .unwrap()
            .version;
    fx.a.publish(new_version("support", "one")).await.unwrap();
    fx.b.record_result(&result_of("support", &v1.id, "fp", 1, 1.0), "ci")
        .await
        .unwrap();
    fx.b.set_baseline(
        "support",
        1,
        &Fingerprint("fp".into()),
        GateOutcome::Passed,
        "ci",
    )
    .await
    .unwrap();
    fx.a.move_label(set(
        "support",
        "staging",
        LabelTarget::Version(1),
        ExpectFrom::Anything,
    ))
    .await
    .unwrap();
    let _ =
        fx.a.move_label(set(
            "support",
            "staging",
            LabelTarget::Version(4),
            ExpectFrom::Anything,
        ))
        .await;

    let log = fx.b.audit_log().await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["publish", "record_result", "set_baseline", "move_label"]
    );
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(log[0].actor, "Ada <ada@example.com>");
    assert_eq!(log[2].actor, "ci");
    assert_eq!(log[3].prompt.as_deref(), Some("support"));
    assert_eq!(log[3].detail["to"], serde_json::json!(1));
}

async fn publish_prompt_records_the_baseline_and_moves_latest(fx: Arc<Fixture>) {
    let input = |text: &str| {
        let version = new_version("support", text);
        let result = result_of("support", &version.id, &format!("fp-{text}"), 4, 0.8);
        PublishInput {
            version,
            result: Some(result),
            gate: GateOutcome::Passed,
        }
    };
    let first = publish_prompt(fx.a.as_ref(), input("one")).await.unwrap();
    assert!(first.created && first.latest_moved);
    let again = publish_prompt(fx.b.as_ref(), input("one")).await.unwrap();
    assert!(!again.created && !again.latest_moved);
    let second = publish_prompt(fx.b.as_ref(), input("two")).await.unwrap();
    assert_eq!((second.version.number, second.latest_moved), (2, true));
    assert_eq!(
        fx.a.resolve("support", LATEST, None).await.unwrap().number,
        2
    );
    let baseline = fx.a.baseline("support", 2).await.unwrap().unwrap();
    assert_eq!(
        (baseline.gate, baseline.fingerprint),
        (GateOutcome::Passed, Fingerprint("fp-two".into()))
    );
    let moves = fx.a.label_history("support").await.unwrap();
    assert_eq!(
        moves.iter().map(|m| m.kind).collect::<Vec<_>>(),
        [MoveKind::Publish, MoveKind::Publish]
    );
}

async fn concurrent_publishers_never_share_a_number(fx: Arc<Fixture>) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let registry = if i % 2 == 0 {
                fx.a.clone()
            } else {
                fx.b.clone()
            };
            tokio::spawn(async move {
                registry
                    .publish(new_version("support", &format!("text {i}")))
                    .await
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for task in tasks {
        let published = task.await.unwrap().unwrap();
        assert!(published.created);
        assert!(
            numbers.insert(published.version.number),
            "number {} given twice",
            published.version.number
        );
    }
    assert_eq!(numbers, (1..=32).collect());
    let stored = fx.a.versions("support").await.unwrap();
    assert_eq!(
        stored.iter().map(|v| v.number).collect::<BTreeSet<_>>(),
        numbers
    );
    assert_eq!(
        stored
            .iter()
            .map(|v| v.id.clone())
            .collect::<BTreeSet<_>>()
            .len(),
        32
    );
}

async fn concurrent_label_moves_lose_nothing(fx: Arc<Fixture>) {
    for text in ["one", "two", "three", "four"] {
        fx.a.publish(new_version("support", text)).await.unwrap();
    }
    // Unconditional moves: each one lands and is recorded, in one chain.
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let registry = if i % 2 == 0 {
                fx.a.clone()
            } else {
                fx.b.clone()
            };
            // Every move changes the target: the same arm set never repeats back to back.
            let to =
                LabelTarget::Split(BTreeMap::from([(1 + i % 4, 100 + i), (1 + (i + 1) % 4, 1)]));
            tokio::spawn(async move {
                registry
                    .move_label(set("support", "production", to, ExpectFrom::Anything))
                    .await
            })
        })
        .collect();
    let mut landed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => landed += 1,
            Err(error) => panic!("an unconditional move failed: {error}"),
        }
    }
    let history = fx.b.label_history("support").await.unwrap();
    assert_eq!(history.len(), landed);
    assert_eq!(history[0].from, None);
    for pair in history.windows(2) {
        assert_eq!(
            pair[1].from.as_ref(),
            Some(&pair[0].to),
            "a move was lost between two recorded moves"
        );
    }
    let current = fx.a.label("support", "production").await.unwrap().unwrap();
    assert_eq!(&current, &history.last().unwrap().to);
    for number in current.versions() {
        assert!(
            fx.b.version("support", &VersionRef::Number(number))
                .await
                .unwrap()
                .is_some()
        );
    }

    // Conditional moves from the same state: exactly one wins, the others are told.
    let expect = ExpectFrom::Target(current);
    let tasks: Vec<_> = (0..8u32)
        .map(|i| {
            let registry = if i % 2 == 0 {
                fx.a.clone()
            } else {
                fx.b.clone()
            };
            let request = set(
                "support",
                "production",
                LabelTarget::Version(1 + i % 4),
                expect.clone(),
            );
            tokio::spawn(async move { registry.move_label(request).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(RegistryError::Conflict { .. } | RegistryError::Unchanged { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        fx.a.label_history("support").await.unwrap().len(),
        landed + 1
    );
}

/// Two repositories publishing a prompt of the same name publish two
/// prompts: numbers, labels, results, baselines and the audit log of one
/// never show in the other, nor in the default namespace.
async fn repositories_are_namespaces(fx: Arc<Fixture>) {
    let acme = Namespace::parse("Acme/Support").unwrap();
    let other = Namespace::parse("other/support").unwrap();
    let (in_acme, in_other) = (fx.a.scoped(&acme), fx.b.scoped(&other));
    assert_eq!(in_acme.namespace().as_str(), "acme/support");

    let first = publish_prompt(
        in_acme.as_ref(),
        PublishInput {
            version: new_version("support-bot", "acme says hi"),
            result: Some(result_of(
                "support-bot",
                &new_version("support-bot", "acme says hi").id,
                "fp-shared",
                3,
                0.9,
            )),
            gate: GateOutcome::Passed,
        },
    )
    .await
    .unwrap();
    in_acme
        .publish(new_version("support-bot", "acme v2"))
        .await
        .unwrap();
    let theirs = publish_prompt(
        in_other.as_ref(),
        PublishInput {
            version: new_version("support-bot", "other says hi"),
            // The same fingerprint in another repository is another result.
            result: Some(result_of(
                "support-bot",
                &new_version("support-bot", "other says hi").id,
                "fp-shared",
                3,
                0.2,
            )),
            gate: GateOutcome::Failed,
        },
    )
    .await
    .unwrap();
    assert_eq!((first.version.number, theirs.version.number), (1, 1));
    assert!(theirs.created && theirs.latest_moved);

    // Each repository sees its own prompt, through either handle.
    let acme_versions = fx.b.scoped(&acme).versions("support-bot").await.unwrap();
    let other_versions = fx.a.scoped(&other).versions("support-bot").await.unwrap();
    assert_eq!(acme_versions.len(), 2);
    assert_eq!(other_versions.len(), 1);
    assert_eq!(other_versions[0].content, content("other says hi"));
    assert_eq!(
        fx.b.scoped(&acme)
            .resolve("support-bot", LATEST, None)
            .await
            .unwrap()
            .content,
        content("acme says hi")
    );
    assert_eq!(
        in_other
            .resolve("support-bot", LATEST, None)
            .await
            .unwrap()
            .content,
        content("other says hi")
    );
    let acme_result = in_acme
        .result(&Fingerprint("fp-shared".into()))
        .await
        .unwrap()
        .unwrap();
    let other_result = in_other
        .result(&Fingerprint("fp-shared".into()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(acme_result, other_result);
    assert_eq!(
        in_other
            .baseline("support-bot", 1)
            .await
            .unwrap()
            .unwrap()
            .gate,
        GateOutcome::Failed
    );
    // A version of one repository cannot be labelled in the other.
    let crossed = in_other
        .move_label(set(
            "support-bot",
            "staging",
            LabelTarget::Version(2),
            ExpectFrom::Unset,
        ))
        .await;
    assert!(
        matches!(crossed, Err(RegistryError::VersionNotFound { .. })),
        "{crossed:?}"
    );
    assert_eq!(
        in_other.label_history("support-bot").await.unwrap().len(),
        1
    );
    assert_eq!(
        in_other
            .audit_log()
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "publish")
            .count(),
        1
    );
    assert_eq!(in_acme.prompts().await.unwrap(), vec!["support-bot"]);
    assert_eq!(in_other.prompts().await.unwrap(), vec!["support-bot"]);
    // The default namespace (where the fixture's own handles write) has none of it.
    assert!(fx.a.prompts().await.unwrap().is_empty());
    assert!(fx.a.versions("support-bot").await.unwrap().is_empty());
    assert!(fx.a.audit_log().await.unwrap().is_empty());
}

async fn review_labels_are_kept_per_namespace(fx: Arc<Fixture>) {
    use promptgate::pipeline::review::{HumanScore, OutputRef, ReviewLabel};
    let support = new_version("support", "hello");
    let triage = new_version("triage", "sort");
    fx.a.record_result(&result_of("support", &support.id, "fa11", 3, 0.75), "ci")
        .await
        .unwrap();
    fx.a.record_result(&result_of("triage", &triage.id, "fb22", 2, 0.25), "ci")
        .await
        .unwrap();
    let label = |prompt: &str, fingerprint: &str, case: &str, judge: f64, human| ReviewLabel {
        output: OutputRef {
            prompt: prompt.into(),
            criterion: "helpful".into(),
            fingerprint: fingerprint.into(),
            case_id: case.into(),
            repeat: 0,
        },
        judge_score: judge,
        human,
        note: Some("misses the refund policy".into()),
        reviewer: "Ada".into(),
        labelled_at: "2026-12-02T00:00:00Z".into(),
    };
    let first = label("support", "fa11", "case-0", 0.75, HumanScore::Fail);
    let second = label("triage", "fb22", "case-1", 0.25, HumanScore::Grade(2));
    let third = label("support", "fa11", "case-0", 0.75, HumanScore::Pass);
    fx.a.record_review_label(&first).await.unwrap();
    fx.b.record_review_label(&second).await.unwrap();
    fx.a.record_review_label(&third).await.unwrap();
    // What a reviewer said and what the judge had said, whoever stored it
    // (the server stamps its own time).
    let said = |l: &ReviewLabel| {
        (
            l.output.clone(),
            l.judge_score,
            l.human,
            l.note.clone(),
            l.reviewer.clone(),
        )
    };
    let all = fx.b.review_labels(None).await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let mut got: Vec<_> = all.iter().map(said).collect();
    let mut want: Vec<_> = [&first, &second, &third].into_iter().map(said).collect();
    got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    want.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(got, want);
    // A relabel is kept, never overwritten; in order within a prompt.
    let support_only = fx.a.review_labels(Some("support")).await.unwrap();
    assert_eq!(
        support_only.iter().map(|l| l.human).collect::<Vec<_>>(),
        vec![HumanScore::Fail, HumanScore::Pass]
    );
    // A label no statistic could use is refused.
    let mut broken = first.clone();
    broken.judge_score = 1.5;
    assert!(fx.a.record_review_label(&broken).await.is_err());
    // Another repository sees none of them.
    let other = Namespace::parse("someone/else").unwrap();
    assert!(
        fx.a.scoped(&other)
            .review_labels(None)
            .await
            .unwrap()
            .is_empty()
    );
}

macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() { super::run(super::Backend::Sqlite, super::$behaviour).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() { super::run(super::Backend::Postgres, super::$behaviour).await })*
        }
        mod git_branch {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() { super::run(super::Backend::Git, super::$behaviour).await })*
        }
        mod server {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() { super::run(super::Backend::Http, super::$behaviour).await })*
        }
    };
}

conformance!(
    publish_numbers_versions_and_is_idempotent,
    results_and_baselines,
    labels_splits_and_their_history,
    promotion_follows_the_policy,
    rollback_walks_back_and_is_recorded,
    audit_log_records_every_write,
    publish_prompt_records_the_baseline_and_moves_latest,
    concurrent_publishers_never_share_a_number,
    concurrent_label_moves_lose_nothing,
    repositories_are_namespaces,
    review_labels_are_kept_per_namespace,
);

/// A server's `[promotion_floor]` holds whatever policy a client sends: a
/// lenient caller is refused by the floor's rules, named as the caller's
/// would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_promotion_floor_holds_against_a_lenient_caller() {
    let fx = http_fixture_with_floor(PromotionPolicy {
        min_cases: 10,
        min_score: None,
        require_gate_passed: true,
    })
    .await;
    let version =
        fx.a.publish(new_version("support", "good"))
            .await
            .unwrap()
            .version;
    fx.a.record_result(&result_of("support", &version.id, "fp-good", 5, 0.9), "ci")
        .await
        .unwrap();
    fx.a.set_baseline(
        "support",
        1,
        &Fingerprint("fp-good".into()),
        GateOutcome::Passed,
        "ci",
    )
    .await
    .unwrap();
    let refused =
        fx.b.promote(promote("support", 1, "staging"), &envs(), &lenient())
            .await
            .unwrap_err();
    let RegistryError::Refused(rules) = &refused else {
        panic!("{refused}")
    };
    assert!(
        matches!(
            &rules.rules[..],
            [PolicyRule::TooFewCases { have: 5, need: 10 }]
        ),
        "{refused}"
    );
    assert_eq!(fx.b.label("support", "staging").await.unwrap(), None);
    if let Some(after) = fx.after {
        after();
    }
}

/// Written to the real stderr (not the test harness's capture), so a skip is seen.
fn skipped_loudly(what: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED: {what} registry tests: set PROMPTGATE_TEST_POSTGRES=postgres://USER@HOST:PORT/DB to run them !!!!!"
    );
}
