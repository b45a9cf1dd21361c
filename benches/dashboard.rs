//! The dashboard's prompt page for a prompt with 1,000 versions (each with
//! a published result of 20 cases and 2 criteria) and 1,000,000 executions
//! over the last 14 days (two versions in an A/B split), rendered by the
//! real server in this process and fetched over loopback HTTP with a
//! signed-in session. Prints the first render (score summaries not yet
//! cached) and the median and worst of 20 later ones.
//!
//!     cargo bench --bench dashboard
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke version.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{
    ExpectFrom, GateOutcome, LabelTarget, MoveKind, MoveLabel, Namespace, NewVersion, Registry,
};
use promptgate::pipeline::telemetry::{Execution, Outcome};
use promptgate::server::dashboard::sessions::{NewSession, SESSION_COOKIE};
use promptgate::server::jobs::{JobQueue, RetryPolicy, shutdown_channel};
use promptgate::server::telemetry::store::{StoredExecution, TelemetryStore};
use promptgate::server::{
    ApiKeys, GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
    schema,
};
use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint,
    MessageTemplate, ModelId, ModelParameters, PromptContent, RepeatResult, ResponseFormat, Role,
    Score, Usage, VersionId,
};

type Error = Box<dyn std::error::Error>;

const REPO: &str = "octo/bench";
const PROMPT: &str = "support-bot";
const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn result(number: usize, cases: usize) -> EvalResult {
    let criterion = |name: &str, binary| CriterionInfo {
        name: name.into(),
        kind: "judge".into(),
        weight: 1.0,
        threshold: None,
        binary,
        line: None,
    };
    EvalResult {
        prompt: PROMPT.into(),
        version: VersionId(format!("{number:064}")),
        fingerprint: Fingerprint(format!("fp{number:062}")),
        model: "openai/gpt-4o-mini".into(),
        from_model: true,
        criteria: vec![criterion("tone", false), criterion("greeting", true)],
        cases: (0..cases)
            .map(|i| CaseResult {
                case_id: format!("case-{i}"),
                vars: serde_json::Map::new(),
                repeats: vec![RepeatResult {
                    call: CallOutcome {
                        result: Ok(format!("answer {i}")),
                        usage: Usage {
                            input_tokens: 10,
                            output_tokens: 20,
                        },
                        latency_ms: 100,
                        cost_usd: Some(0.001),
                        cached: false,
                    },
                    scores: vec![
                        CriterionScore {
                            score: Ok(Score {
                                value: ((number + i) % 5) as f64 / 4.0,
                                reason: "judged".into(),
                                display: None,
                            }),
                        },
                        CriterionScore {
                            score: Ok(Score::pass_fail(!(number + i).is_multiple_of(7), "greets")),
                        },
                    ],
                }],
            })
            .collect(),
        created_at: "2026-12-01T10:00:00Z".into(),
    }
}

fn content(number: usize) -> PromptContent {
    PromptContent {
        semantics: Default::default(),
        messages: vec![MessageTemplate {
            role: Role::User,
            content: format!("Version {number}: answer {{{{ question }}}}"),
        }],
        model: ModelId::parse("openai/gpt-4o-mini").unwrap(),
        parameters: ModelParameters::default(),
        response_format: ResponseFormat::Text,
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (versions, executions, repeats) = if full {
        (1_000, 1_000_000, 20)
    } else {
        (20, 10_000, 3)
    };
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Database::connect(&url, 8).await?;
    schema::migrate(&db).await?;

    let seeding = Instant::now();
    let root: Arc<dyn Registry> = Arc::new(SqlRegistry::on(db.clone()));
    let registry = root.scoped(&Namespace::parse(REPO)?);
    for number in 1..=versions {
        let result = result(number, 20);
        registry
            .publish(NewVersion {
                prompt: PROMPT.into(),
                id: result.version.clone(),
                content: content(number),
                parent: None,
                git_commit: Some(format!("{number:040x}")),
                author: "bench".into(),
                message: None,
            })
            .await?;
        registry.record_result(&result, "bench").await?;
        registry
            .set_baseline(
                PROMPT,
                number as u32,
                &result.fingerprint,
                GateOutcome::Passed,
                "bench",
            )
            .await?;
    }
    registry
        .move_label(MoveLabel {
            prompt: PROMPT.into(),
            label: "production".into(),
            to: LabelTarget::parse(&format!("v{}:50,v{}:50", versions - 1, versions))?,
            expect: ExpectFrom::Anything,
            kind: MoveKind::Set,
            forced: false,
            actor: "bench".into(),
            reason: None,
        })
        .await?;
    let store = TelemetryStore::new(db.clone());
    let now = now_ms();
    let span = 14 * DAY_MS - 60_000;
    let mut rows = Vec::with_capacity(10_000);
    for i in 0..executions {
        rows.push(StoredExecution {
            repo: REPO.into(),
            prompt: PROMPT.into(),
            version: (versions - (i % 2)) as i64,
            label: "production".into(),
            at_ms: now - (i as i64 * span / executions as i64),
            execution: Execution {
                latency_ms: 80.0 + (i % 400) as f64,
                outcome: if i.is_multiple_of(50) {
                    Outcome::Error
                } else {
                    Outcome::Ok
                },
                input_tokens: Some(100),
                output_tokens: Some(200),
                cost_usd: Some(0.002 + (i % 3) as f64 * 0.001),
                feedback: i
                    .is_multiple_of(10)
                    .then_some(i.is_multiple_of(20) as u8 as f64),
                quality: None,
            },
            error_kind: None,
            key: None,
            received_at_ms: now,
        });
        if rows.len() == 10_000 {
            store.append(&rows).await?;
            rows.clear();
        }
    }
    store.append(&rows).await?;
    let seeded = seeding.elapsed();

    let mut state = ServerState::new(
        JobQueue::new(db.clone(), RetryPolicy::default()),
        Arc::new(HmacVerifier::new(vec![Secret::new(
            "dashboard-bench-secret",
        )])),
        Arc::new(GitHubEvents::default()),
        Arc::new(RegistryPrompts::new(root.clone())),
    );
    state.registry = Some(root);
    let key = ApiKeys::new(db.clone())
        .create("bench", Scope::Publish, KeyReach::Every)
        .await?;
    let token = state
        .dashboard
        .sessions()
        .create(&NewSession {
            login: "bench".into(),
            api_key_id: Some(key.info.id),
            repositories: Default::default(),
        })
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let page = format!(
        "http://{}/dashboard/repos/{REPO}/prompts/{PROMPT}",
        listener.local_addr()?
    );
    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(promptgate::server::serve(listener, state, shutdown));
    let http = reqwest::Client::new();
    let fetch = || async {
        let started = Instant::now();
        let answer = http
            .get(&page)
            .header("cookie", format!("{SESSION_COOKIE}={token}"))
            .send()
            .await?;
        let status = answer.status();
        let body = answer.text().await?;
        if !status.is_success() || !body.contains("executions reported") {
            return Err(format!("the prompt page answered {status}").into());
        }
        Ok::<_, Error>((started.elapsed(), body.len()))
    };
    let (first, bytes) = fetch().await?;
    let mut times = Vec::new();
    for _ in 0..repeats {
        times.push(fetch().await?.0);
    }
    times.sort();
    println!(
        "dashboard prompt page: {versions} versions, {executions} executions over 14 days (seeded in {:.1} s), {} KB of HTML",
        seeded.as_secs_f64(),
        bytes / 1024
    );
    println!(
        "  first render (score summaries read and cached): {:.1} ms",
        ms(first)
    );
    println!(
        "  later renders, median {:.1} ms, worst {:.1} ms (of {repeats})",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    stop.trigger();
    db.close().await;
    Ok(())
}
