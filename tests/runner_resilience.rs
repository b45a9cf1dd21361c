//! The runner against misbehaving servers: a scripted in-process axum
//! server (Retry-After forms, 529, slow bodies, malformed JSON, a reset
//! mid-body, 401/400) and llm-katan's failure injection. Every run must end
//! with the answers a clean run gives, or with each failure reported, in
//! order, under its label.

#[path = "support/llm_katan.rs"]
mod llm_katan;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use promptgate::pipeline::config::{ProviderConfig, ProviderKind};
use promptgate::pipeline::provider::{self, ApiKey, config_for_kind};
use promptgate::pipeline::runner::cache::{CacheMode, ResponseCache};
use promptgate::pipeline::runner::pricing::PriceTable;
use promptgate::pipeline::runner::{
    Call, ProgressMode, ProviderHandle, RunError, Runner, RunnerOptions,
};
use promptgate::types::{
    Backoff, CallOutcome, ChatMessage, ChatRequest, Jitter, ModelParameters, ResponseFormat, Role,
};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Script {
    /// Attempts seen per message content.
    attempts: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
    /// While set, `hang` requests never answer.
    hang: AtomicBool,
    hangs_arrived: tokio::sync::Notify,
    hangs_seen: AtomicU64,
}

impl Script {
    fn attempts(&self, content: &str) -> u32 {
        self.attempts
            .lock()
            .unwrap()
            .get(content)
            .copied()
            .unwrap_or(0)
    }
}

fn reply(content: &str) -> Response {
    Json(json!({
        "choices": [{"message": {"role": "assistant", "content": format!("reply to {content}")}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500}
    }))
    .into_response()
}

fn status(code: u16, headers: &[(&'static str, String)]) -> Response {
    let mut response = (
        StatusCode::from_u16(code).unwrap(),
        Json(json!({"error": {"message": format!("scripted {code}")}})),
    )
        .into_response();
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

/// A 200 whose body starts, then stalls for longer than any test timeout.
fn stalled_body() -> Response {
    let stream =
        futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"{\"choices\":")) })
            .chain(futures::stream::once(async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Bytes::from_static(b"[]}"))
            }));
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// A 200 whose body breaks off: the server aborts the connection mid-body.
fn reset_body() -> Response {
    let stream = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"{\"choices\":[{\"mess")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "scripted reset",
        )),
    ]);
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

use futures::StreamExt;

/// The scenario is the message content up to `#`; attempts count per content.
async fn scripted(State(script): State<Arc<Script>>, Json(body): Json<Value>) -> Response {
    script.requests.fetch_add(1, Ordering::SeqCst);
    let content = body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let attempt = {
        let mut attempts = script.attempts.lock().unwrap();
        let entry = attempts.entry(content.clone()).or_insert(0);
        *entry += 1;
        *entry - 1
    };
    let scenario = content.split('#').next().unwrap_or_default();
    match (scenario, attempt) {
        ("ok", _) => reply(&content),
        ("retry-after-1s", 0) => status(429, &[("retry-after", "1".into())]),
        ("retry-after-ms", 0) => status(429, &[("retry-after-ms", "300".into())]),
        ("reset-header", 0) => status(503, &[("x-ratelimit-reset-requests", "250ms".into())]),
        ("overloaded", 0 | 1) => status(529, &[]),
        ("slow-body", 0) => stalled_body(),
        ("always-slow", _) => stalled_body(),
        ("reset", 0) => reset_body(),
        ("malformed", _) => (StatusCode::OK, "{\"choices\": [").into_response(),
        ("unauthorized", _) => status(401, &[]),
        ("bad-request", _) => status(400, &[]),
        ("always-500", _) => status(500, &[]),
        ("hang", _) if script.hang.load(Ordering::SeqCst) => {
            if script.hangs_seen.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
                script.hangs_arrived.notify_one();
            }
            std::future::pending::<Response>().await
        }
        _ => reply(&content),
    }
}

async fn scripted_server() -> (String, Arc<Script>) {
    let script = Arc::new(Script::default());
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(scripted))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, script)
}

fn handle(
    kind: ProviderKind,
    base_url: &str,
    concurrency: usize,
    max_retries: u32,
    timeout: Duration,
) -> ProviderHandle {
    let config = ProviderConfig {
        base_url: Some(base_url.to_string()),
        concurrency,
        max_retries,
        ..config_for_kind(kind)
    };
    let built = provider::build_with_key("test", &config, Some(ApiKey::new("k-secret-1"))).unwrap();
    ProviderHandle::new("test", built, &config).with_timeout(timeout)
}

fn call(handle: &ProviderHandle, content: &str) -> Call {
    Call {
        provider: handle.clone(),
        request: ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![ChatMessage {
                role: Role::User,
                content: content.into(),
            }],
            parameters: ModelParameters {
                max_tokens: Some(64),
                ..ModelParameters::default()
            },
            response_format: ResponseFormat::Text,
        },
        repeat: 0,
        label: format!("suite / case {content} / repeat 0"),
    }
}

fn runner(cache_dir: &Path, mode: CacheMode) -> Runner {
    Runner::new(
        ResponseCache::new(cache_dir, mode),
        PriceTable::default(),
        RunnerOptions {
            progress: ProgressMode::Hidden,
            retry: Backoff {
                first: Duration::from_millis(5),
                cap: Duration::from_millis(200),
                jitter: Jitter::Full,
            },
            ..RunnerOptions::default()
        },
    )
}

fn texts(outcomes: &[CallOutcome]) -> Vec<Result<String, String>> {
    outcomes.iter().map(|o| o.result.clone()).collect()
}

#[tokio::test]
async fn transient_failures_are_survived_in_order() {
    tokio::time::timeout(LIMIT, async {
        let (url, script) = scripted_server().await;
        let dir = tempfile::tempdir().unwrap();
        let provider = handle(ProviderKind::Openai, &url, 8, 4, Duration::from_millis(500));
        let contents = [
            "ok#1",
            "overloaded#2",
            "slow-body#3",
            "reset#4",
            "reset-header#5",
            "retry-after-ms#6",
            "retry-after-1s#7",
            "ok#8",
        ];
        let calls: Vec<Call> = contents.iter().map(|c| call(&provider, c)).collect();
        let started = Instant::now();
        let output = runner(dir.path(), CacheMode::ReadWrite)
            .run(calls)
            .await
            .unwrap();
        let expected: Vec<_> = contents
            .iter()
            .map(|c| Ok(format!("reply to {c}")))
            .collect();
        assert_eq!(texts(&output.outcomes), expected);
        // Retry-After: 1 was honoured although jittered backoff stays < 200 ms.
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(script.attempts("overloaded#2"), 3);
        for once_failed in [
            "slow-body#3",
            "reset#4",
            "reset-header#5",
            "retry-after-ms#6",
            "retry-after-1s#7",
        ] {
            assert_eq!(script.attempts(once_failed), 2, "{once_failed}");
        }
        assert_eq!(output.totals.failed, 0);
        // 1000 in + 500 out of gpt-4o-mini at $0.15 / $0.60 per million.
        let each = (1000.0 * 0.15 + 500.0 * 0.60) / 1e6;
        assert!((output.totals.cost_usd - each * 8.0).abs() < 1e-12);
        assert_eq!(output.outcomes[0].cost_usd, Some(each));
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn final_failures_are_reported_once_with_their_label_and_never_dropped() {
    tokio::time::timeout(LIMIT, async {
        let (url, script) = scripted_server().await;
        let dir = tempfile::tempdir().unwrap();
        let provider = handle(ProviderKind::Openai, &url, 4, 2, Duration::from_millis(300));
        let contents = [
            "ok#a",
            "bad-request#b",
            "malformed#c",
            "always-500#d",
            "always-slow#e",
            "ok#f",
        ];
        let calls: Vec<Call> = contents.iter().map(|c| call(&provider, c)).collect();
        let output = runner(dir.path(), CacheMode::ReadWrite)
            .run(calls)
            .await
            .unwrap();
        let results = texts(&output.outcomes);
        assert_eq!(results.len(), 6);
        assert_eq!(results[0], Ok("reply to ok#a".into()));
        assert_eq!(results[5], Ok("reply to ok#f".into()));
        let error = |i: usize| results[i].clone().unwrap_err();
        assert!(
            error(1).starts_with("suite / case bad-request#b / repeat 0: "),
            "{}",
            error(1)
        );
        assert!(error(1).contains("HTTP 400: scripted 400"), "{}", error(1));
        assert!(error(1).contains("check modelParameters"), "{}", error(1));
        assert!(error(2).contains("malformed response"), "{}", error(2));
        assert!(
            error(3).contains("after 3 attempts") && error(3).contains("HTTP 500"),
            "{}",
            error(3)
        );
        assert!(
            error(4).contains("timed out") && error(4).contains("timeout_s"),
            "{}",
            error(4)
        );
        assert_eq!(script.attempts("bad-request#b"), 1, "400 is never retried");
        assert_eq!(script.attempts("malformed#c"), 1);
        assert_eq!(
            script.attempts("always-500#d"),
            3,
            "max_retries 2 → 3 attempts"
        );
        assert_eq!(output.totals.failed, 4);

        // Failures are not cached: a second run asks again for those only.
        let before = script.requests.load(Ordering::SeqCst);
        let calls: Vec<Call> = contents.iter().map(|c| call(&provider, c)).collect();
        let again = runner(dir.path(), CacheMode::ReadWrite)
            .run(calls)
            .await
            .unwrap();
        assert_eq!(again.totals.cached, 2);
        assert_eq!(
            script.requests.load(Ordering::SeqCst) - before,
            1 + 1 + 3 + 3
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_later_calls_fail_fast() {
    tokio::time::timeout(LIMIT, async {
        let (url, script) = scripted_server().await;
        let dir = tempfile::tempdir().unwrap();
        let provider = handle(ProviderKind::Openai, &url, 1, 4, Duration::from_secs(5));
        let calls: Vec<Call> = (0..5)
            .map(|i| call(&provider, &format!("unauthorized#{i}")))
            .collect();
        let output = runner(dir.path(), CacheMode::ReadWrite)
            .run(calls)
            .await
            .unwrap();
        assert_eq!(
            script.requests.load(Ordering::SeqCst),
            1,
            "one refusal is enough"
        );
        for (i, outcome) in output.outcomes.iter().enumerate() {
            let message = outcome.result.clone().unwrap_err();
            assert!(
                message.starts_with(&format!("suite / case unauthorized#{i} / repeat 0: ")),
                "{message}"
            );
            assert!(
                message.contains("HTTP 401") && message.contains("api_key_env"),
                "{message}"
            );
            assert!(!message.contains("k-secret-1"), "{message}");
        }
    })
    .await
    .expect("test timed out");
}

fn count_entries(dir: &Path) -> usize {
    ResponseCache::new(dir, CacheMode::ReadWrite).len()
}

#[tokio::test]
async fn second_run_makes_zero_calls_and_the_flags_do_what_they_say() {
    tokio::time::timeout(LIMIT, async {
        let (url, script) = scripted_server().await;
        let dir = tempfile::tempdir().unwrap();
        let provider = handle(ProviderKind::Openai, &url, 8, 0, Duration::from_secs(5));
        let work = || -> Vec<Call> {
            (0..20)
                .map(|i| call(&provider, &format!("ok#{i}")))
                .collect()
        };
        let served = || script.requests.load(Ordering::SeqCst);

        let first = runner(dir.path(), CacheMode::ReadWrite)
            .run(work())
            .await
            .unwrap();
        assert_eq!(served(), 20);
        assert_eq!(count_entries(dir.path()), 20);

        let second = runner(dir.path(), CacheMode::ReadWrite)
            .run(work())
            .await
            .unwrap();
        assert_eq!(served(), 20, "a warm cache makes no provider call");
        assert_eq!(second.totals.cached, 20);
        assert_eq!(texts(&second.outcomes), texts(&first.outcomes));
        assert_eq!(
            second.totals.cost_usd, 0.0,
            "cached answers cost nothing now"
        );
        let original: f64 = second.outcomes.iter().filter_map(|o| o.cost_usd).sum();
        assert_eq!(
            original, first.totals.cost_usd,
            "cached answers keep the price they were bought at"
        );

        runner(dir.path(), CacheMode::Refresh)
            .run(work())
            .await
            .unwrap();
        assert_eq!(served(), 40, "--refresh asks again");

        let fresh = tempfile::tempdir().unwrap();
        let off = runner(fresh.path(), CacheMode::Off)
            .run(work())
            .await
            .unwrap();
        assert_eq!(served(), 60, "--no-cache asks again");
        assert_eq!(off.totals.cached, 0);
        assert_eq!(count_entries(fresh.path()), 0, "--no-cache writes nothing");

        // A corrupted entry is asked again and rewritten.
        let database = rusqlite::Connection::open(
            ResponseCache::new(dir.path(), CacheMode::Off).database_path(),
        )
        .unwrap();
        let victim: String = database
            .query_row("SELECT key FROM answers LIMIT 1", [], |row| row.get(0))
            .unwrap();
        database
            .execute(
                "UPDATE answers SET response = ?2 WHERE key = ?1",
                rusqlite::params![victim, b"{\"key\":".to_vec()],
            )
            .unwrap();
        let healed = runner(dir.path(), CacheMode::ReadWrite)
            .run(work())
            .await
            .unwrap();
        assert_eq!(served(), 61);
        assert_eq!(healed.totals.cached, 19);
        assert_eq!(texts(&healed.outcomes), texts(&first.outcomes));
        let rewritten: Vec<u8> = database
            .query_row(
                "SELECT response FROM answers WHERE key = ?1",
                [&victim],
                |row| row.get(0),
            )
            .unwrap();
        let rewritten: Value = serde_json::from_slice(&rewritten).unwrap();
        assert!(
            rewritten["completion"]["text"]
                .as_str()
                .unwrap()
                .starts_with("reply to ok#")
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn interrupting_keeps_finished_calls_cached_and_a_rerun_resumes() {
    tokio::time::timeout(LIMIT, async {
        let (url, script) = scripted_server().await;
        script.hang.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let provider = handle(ProviderKind::Openai, &url, 10, 0, Duration::from_secs(30));
        let contents: Vec<String> = (0..5)
            .map(|i| format!("ok#{i}"))
            .chain((0..5).map(|i| format!("hang#{i}")))
            .collect();
        let work = || -> Vec<Call> { contents.iter().map(|c| call(&provider, c)).collect() };

        // The "Ctrl-C" arrives once all five hanging calls are in flight.
        let interrupt = script.hangs_arrived.notified();
        let result = runner(dir.path(), CacheMode::ReadWrite)
            .run_until(work(), interrupt)
            .await;
        let Err(RunError::Interrupted { finished, total }) = result else {
            panic!("expected an interruption, got {result:?}");
        };
        assert_eq!(total, 10);
        assert!(finished <= 5);
        assert_eq!(
            count_entries(dir.path()),
            finished,
            "exactly the finished calls are stored"
        );

        script.hang.store(false, Ordering::SeqCst);
        let before = script.requests.load(Ordering::SeqCst);
        let resumed = runner(dir.path(), CacheMode::ReadWrite)
            .run(work())
            .await
            .unwrap();
        assert_eq!(resumed.totals.cached as usize, finished);
        assert_eq!(
            script.requests.load(Ordering::SeqCst) - before,
            (10 - finished) as u64
        );
        let expected: Vec<_> = contents
            .iter()
            .map(|c| Ok(format!("reply to {c}")))
            .collect();
        assert_eq!(texts(&resumed.outcomes), expected);
    })
    .await
    .expect("test timed out");
}

/// A run made in batches (as an evaluation executes a large plan) is one
/// run: an interruption in a later batch counts the calls every batch
/// finished, of the whole run's total.
#[tokio::test]
async fn an_interrupted_run_of_batches_counts_every_batch() {
    tokio::time::timeout(LIMIT, async {
        let (url, script) = scripted_server().await;
        script.hang.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let provider = handle(ProviderKind::Openai, &url, 10, 0, Duration::from_secs(30));
        let batch = |prefix: &str| -> Vec<Call> {
            (0..5)
                .map(|i| call(&provider, &format!("{prefix}#{i}")))
                .collect()
        };
        let runner = runner(dir.path(), CacheMode::ReadWrite);
        // The "Ctrl-C" arrives once the second batch's five calls hang.
        let mut batches = runner.batches_until(10, script.hangs_arrived.notified());
        let first = runner.run_batch(&mut batches, batch("ok")).await.unwrap();
        assert_eq!(first.outcomes.len(), 5);
        let result = runner.run_batch(&mut batches, batch("hang")).await;
        let Err(RunError::Interrupted { finished, total }) = result else {
            panic!("expected an interruption, got {result:?}");
        };
        assert_eq!((finished, total), (5, 10));
        assert_eq!(count_entries(dir.path()), 5, "the first batch is stored");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn requests_per_minute_spaces_calls() {
    tokio::time::timeout(LIMIT, async {
        let (url, _script) = scripted_server().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ProviderConfig {
            base_url: Some(url.clone()),
            concurrency: 8,
            requests_per_minute: Some(600), // one start per 100 ms
            ..config_for_kind(ProviderKind::OpenaiCompatible)
        };
        let built = provider::build_with_key("test", &config, None).unwrap();
        let provider = ProviderHandle::new("test", built, &config);
        let calls: Vec<Call> = (0..4)
            .map(|i| call(&provider, &format!("ok#{i}")))
            .collect();
        let started = Instant::now();
        let output = runner(dir.path(), CacheMode::Off).run(calls).await.unwrap();
        assert_eq!(output.totals.failed, 0);
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
    })
    .await
    .expect("test timed out");
}

/// llm-katan's echo text minus its first line (which carries the port and
/// the time): what a clean run and a faulty run must agree on.
fn normalised(outcomes: &[CallOutcome]) -> Vec<Result<String, String>> {
    outcomes
        .iter()
        .map(|o| {
            o.result
                .clone()
                .map(|text| text.lines().skip(1).collect::<Vec<_>>().join("\n"))
        })
        .collect()
}

fn katan_calls(openai: &ProviderHandle, anthropic: &ProviderHandle, n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| {
            let handle = if i % 2 == 0 { openai } else { anthropic };
            let mut call = call(handle, &format!("question {i}"));
            call.request.model = "katan".into();
            call
        })
        .collect()
}

fn katan_handles(
    katan: &llm_katan::LlmKatan,
    concurrency: usize,
    retries: u32,
) -> (ProviderHandle, ProviderHandle) {
    let openai = handle(
        ProviderKind::OpenaiCompatible,
        &format!("{}/v1", katan.base_url()),
        concurrency,
        retries,
        Duration::from_secs(10),
    );
    let anthropic = handle(
        ProviderKind::Anthropic,
        &katan.base_url(),
        concurrency,
        retries,
        Duration::from_secs(10),
    );
    (openai, anthropic)
}

#[tokio::test]
async fn llm_katan_failure_injection_gives_the_clean_results() {
    tokio::time::timeout(LIMIT, async {
        let Some(clean) = llm_katan::start(&[]) else {
            return;
        };
        let (openai, anthropic) = katan_handles(&clean, 4, 0);
        let dir = tempfile::tempdir().unwrap();
        let reference = runner(dir.path(), CacheMode::Off)
            .run(katan_calls(&openai, &anthropic, 24))
            .await
            .unwrap();
        assert_eq!(reference.totals.failed, 0);
        let reference = normalised(&reference.outcomes);
        assert!(reference[3].as_ref().unwrap().contains("User: question 3"));

        // Random 500s, on both wire formats.
        let faulty = llm_katan::start(&["--error-rate", "0.3"]).unwrap();
        let (openai, anthropic) = katan_handles(&faulty, 4, 12);
        let output = runner(dir.path(), CacheMode::Off)
            .run(katan_calls(&openai, &anthropic, 24))
            .await
            .unwrap();
        assert_eq!(normalised(&output.outcomes), reference);
        assert!(
            openai.requests_sent() + anthropic.requests_sent() > 24,
            "some calls were retried"
        );

        // 503 beyond two requests in flight, each taking 30 ms.
        let crowded = llm_katan::start(&[
            "--max-inflight",
            "2",
            "--latency-ms",
            "30",
            "--max-concurrent",
            "8",
        ])
        .unwrap();
        let (openai, anthropic) = katan_handles(&crowded, 6, 30);
        let output = runner(dir.path(), CacheMode::Off)
            .run(katan_calls(&openai, &anthropic, 24))
            .await
            .unwrap();
        assert_eq!(normalised(&output.outcomes), reference);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn llm_katan_rate_limit_is_reported_then_resumed_through_the_cache() {
    tokio::time::timeout(LIMIT, async {
        let Some(clean) = llm_katan::start(&[]) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (openai, anthropic) = katan_handles(&clean, 1, 0);
        let reference = runner(dir.path(), CacheMode::Off)
            .run(katan_calls(&openai, &anthropic, 12))
            .await
            .unwrap();
        let reference = normalised(&reference.outcomes);

        // After 5 requests every answer is 429, for good: each run gets five
        // more answers into the cache, and reports the rest as failed.
        // Restarted on one port: the same endpoint, so the cache carries over.
        let mut successes = Vec::new();
        let mut port = 0;
        for _ in 0..3 {
            let limited = llm_katan::start_on(port, &["--rate-limit-after", "5"]).unwrap();
            port = limited.port;
            let (openai, anthropic) = katan_handles(&limited, 1, 1);
            let output = runner(dir.path(), CacheMode::ReadWrite)
                .run(katan_calls(&openai, &anthropic, 12))
                .await
                .unwrap();
            assert_eq!(output.outcomes.len(), 12, "failures are never dropped");
            for outcome in &output.outcomes {
                if let Err(message) = &outcome.result {
                    assert!(
                        message.contains("HTTP 429")
                            && message.starts_with("suite / case question "),
                        "{message}"
                    );
                }
            }
            successes.push(output.totals.made + output.totals.cached - output.totals.failed);
            if output.totals.failed == 0 {
                assert_eq!(normalised(&output.outcomes), reference);
            }
        }
        assert_eq!(successes, vec![5, 10, 12]);
    })
    .await
    .expect("test timed out");
}
