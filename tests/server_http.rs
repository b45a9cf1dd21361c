//! The HTTP shell: through the router (`oneshot`), over real loopback TCP, and
//! as the real `promptgate serve` process killed with SIGKILL mid-job.

#[path = "support/serve_process.rs"]
mod serve_process;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use promptgate::edges::db::Database;
use promptgate::edges::registry::Namespace;
use promptgate::server::jobs::{
    JobEvent, JobKind, JobQueue, JobStatus, KindRouter, RetryPolicy, Settled, WorkerConfig,
    run_worker, shutdown_channel,
};
use promptgate::server::{
    AuthFailure, BuiltinEvents, HmacVerifier, KeyReach, PromptSource, PromptSourceError, Scope,
    Secret, SelfTestHandler, ServedPrompt, ServerState, openapi, router,
};
use serde_json::{Value, json};
use serve_process::ServeProcess;
use tower::ServiceExt;

const SECRET: &str = "test-webhook-secret";
const TIMEOUT: Duration = Duration::from_secs(60);

async fn within_timeout<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, test)
        .await
        .expect("test timed out")
}

fn sign(body: &[u8]) -> String {
    serve_process::sign(SECRET, body)
}

fn selftest_dispatch(id: &str, hold_attempts: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "action": "promptgate-selftest",
        "client_payload": {"id": id, "hold_attempts": hold_attempts},
        "repository": {"full_name": "octo/prompts"},
    }))
    .unwrap()
}

fn octo() -> Namespace {
    Namespace::parse("octo/prompts").unwrap()
}

/// Published prompts held in memory: a real implementation of the trait over a map.
#[derive(Default)]
struct MapPrompts {
    versions: HashMap<(String, u64), ServedPrompt>,
    labels: HashMap<(String, String), u64>,
}

#[async_trait::async_trait]
impl PromptSource for MapPrompts {
    async fn resolve(
        &self,
        repo: &Namespace,
        name: &str,
        label: &str,
        _key: Option<&str>,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        let Some(number) = self.labels.get(&(name.to_string(), label.to_string())) else {
            return Ok(None);
        };
        let mut prompt = self.version(repo, name, *number).await?;
        if let Some(prompt) = &mut prompt {
            prompt.label = Some(label.to_string());
        }
        Ok(prompt)
    }

    async fn version(
        &self,
        repo: &Namespace,
        name: &str,
        number: u64,
    ) -> Result<Option<ServedPrompt>, PromptSourceError> {
        // One repository's prompts.
        if repo.as_str() != "octo/prompts" {
            return Ok(None);
        }
        Ok(self.versions.get(&(name.to_string(), number)).cloned())
    }
}

fn prompts() -> MapPrompts {
    let mut prompts = MapPrompts::default();
    for number in [1, 2] {
        prompts.versions.insert(
            ("summarize".into(), number),
            ServedPrompt {
                repository: "octo/prompts".into(),
                name: "summarize".into(),
                version: number,
                version_id: format!("sha256-v{number}"),
                label: None,
                content: json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": format!("v{number}: {{{{text}}}}")}]}),
                git_commit: None,
                author: None,
                message: None,
                created_at: None,
            },
        );
    }
    prompts
        .labels
        .insert(("summarize".into(), "production".into()), 2);
    prompts
}

struct Fixture {
    state: ServerState,
    queue: JobQueue,
    selftest_dir: PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture(max_webhook_bytes: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let db = Database::connect(&url, 8).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    let queue = JobQueue::new(db, RetryPolicy::default());
    let mut state = ServerState::new(
        queue.clone(),
        Arc::new(HmacVerifier::new(vec![
            Secret::new("retired-secret"),
            Secret::new(SECRET),
        ])),
        Arc::new(BuiltinEvents {
            selftest_enabled: true,
        }),
        Arc::new(prompts()),
    );
    state.max_webhook_bytes = max_webhook_bytes;
    Fixture {
        state,
        queue,
        selftest_dir: dir.path().join("selftest"),
        _dir: dir,
    }
}

fn webhook(event: &str, delivery: &str, signature: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut request = Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(Body::from(body)).unwrap()
}

async fn call(state: &ServerState, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn bad_signatures_are_refused_and_create_no_job() {
    within_timeout(async {
        let fixture = fixture(1024 * 1024).await;
        let body = selftest_dispatch("t1", 0);
        let good = sign(&body);
        let mut tampered = body.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 0x01;
        let wrong_secret = serve_process::sign("not the secret", &body);
        let cases: [(Option<&str>, Vec<u8>); 4] = [
            (None, body.clone()),
            (Some(&wrong_secret), body.clone()),
            (Some(&good), tampered),
            (Some("sha256=not-hex"), body.clone()),
        ];
        for (n, (signature, body)) in cases.into_iter().enumerate() {
            let (status, answer) = call(
                &fixture.state,
                webhook("repository_dispatch", &format!("bad-{n}"), signature, body),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "case {n}");
            assert!(
                json_of(&answer)["error"]
                    .as_str()
                    .unwrap()
                    .contains("X-Hub-Signature-256")
            );
        }
        assert_eq!(
            fixture.queue.depth().await.unwrap().total(),
            0,
            "no job from a refused delivery"
        );

        let (_, metrics) = call(
            &fixture.state,
            Request::get("/metrics").body(Body::empty()).unwrap(),
        )
        .await;
        let metrics = String::from_utf8(metrics).unwrap();
        assert!(
            metrics.contains("promptgate_webhook_signature_failures_total{reason=\"missing\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("promptgate_webhook_signature_failures_total{reason=\"mismatch\"} 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains("promptgate_webhook_signature_failures_total{reason=\"malformed\"} 1"),
            "{metrics}"
        );

        // The same body, correctly signed, is accepted.
        let (status, _) = call(
            &fixture.state,
            webhook("repository_dispatch", "good", Some(&good), body),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(fixture.queue.depth().await.unwrap().queued, 1);
    })
    .await;
}

#[tokio::test]
async fn ping_ignored_and_malformed_deliveries() {
    within_timeout(async {
        let fixture = fixture(1024 * 1024).await;
        let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
        let (status, body) = call(
            &fixture.state,
            webhook("ping", "p1", Some(&sign(&ping)), ping),
        )
        .await;
        assert_eq!(
            (status, json_of(&body)["status"].clone()),
            (StatusCode::OK, json!("pong"))
        );

        let star = br#"{"action":"created"}"#.to_vec();
        let (status, body) = call(
            &fixture.state,
            webhook("star", "s1", Some(&sign(&star)), star),
        )
        .await;
        assert_eq!(
            (status, json_of(&body)["status"].clone()),
            (StatusCode::ACCEPTED, json!("ignored"))
        );

        let broken = br#"{"action": 5}"#.to_vec();
        let (status, body) = call(
            &fixture.state,
            webhook("repository_dispatch", "b1", Some(&sign(&broken)), broken),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(json_of(&body)["error"].as_str().unwrap().contains("action"));

        let unsafe_id = selftest_dispatch("../../etc/passwd", 0);
        let (status, _) = call(
            &fixture.state,
            webhook(
                "repository_dispatch",
                "b2",
                Some(&sign(&unsafe_id)),
                unsafe_id,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let body = selftest_dispatch("t", 0);
        let no_event = Request::post("/webhooks/github")
            .header("x-github-delivery", "e1")
            .header("x-hub-signature-256", sign(&body))
            .body(Body::from(body))
            .unwrap();
        assert_eq!(
            call(&fixture.state, no_event).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(fixture.queue.depth().await.unwrap().total(), 0);
        assert_eq!(
            fixture
                .state
                .metrics
                .deliveries_of("ping", promptgate::server::DeliveryOutcome::Ping),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_webhook_makes_one_job() {
    within_timeout(async {
        let fixture = fixture(1024 * 1024).await;
        let body = selftest_dispatch("once", 0);
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let (status, answer) = call(
                &fixture.state,
                webhook(
                    "repository_dispatch",
                    "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                    Some(&sign(&body)),
                    body.clone(),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::ACCEPTED);
            statuses.push(json_of(&answer)["status"].as_str().unwrap().to_string());
        }
        assert_eq!(statuses, ["queued", "duplicate", "duplicate"]);
        let jobs = fixture.queue.jobs().await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, JobKind::SelfTest);
        assert_eq!(
            jobs[0].payload,
            json!({"id": "once", "hold_attempts": 0, "work_ms": 0})
        );
    })
    .await;
}

#[tokio::test]
async fn bodies_over_the_cap_get_413() {
    within_timeout(async {
        let fixture = fixture(1024).await;
        let mut body = selftest_dispatch("big", 0);
        body.resize(4096, b' ');
        let (status, _) = call(
            &fixture.state,
            webhook("repository_dispatch", "big", Some(&sign(&body)), body),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(fixture.queue.depth().await.unwrap().total(), 0);
    })
    .await;
}

#[tokio::test]
async fn operations_routes() {
    within_timeout(async {
        let fixture = fixture(1024).await;
        for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            let (status, _) = call(
                &fixture.state,
                Request::get(path).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        let (_, document) = call(
            &fixture.state,
            Request::get("/openapi.json").body(Body::empty()).unwrap(),
        )
        .await;
        let document = json_of(&document);
        assert_eq!(document["openapi"], "3.1.0");
        // Every documented route is routed (nothing answers 404 or 405).
        for (path, method) in openapi::ROUTES {
            let concrete = openapi::example_path(path);
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&concrete)
                .body(Body::empty())
                .unwrap();
            let (status, _) = call(&fixture.state, request).await;
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete} answered {status}"
            );
        }

        // A database without the migrations is not ready.
        let dir = tempfile::tempdir().unwrap();
        let bare = Database::connect(
            &format!("sqlite://{}", dir.path().join("bare.db").display()),
            1,
        )
        .await
        .unwrap();
        let mut unmigrated = fixture.state.clone();
        unmigrated.queue = JobQueue::new(bare, RetryPolicy::default());
        let (status, body) = call(
            &unmigrated,
            Request::get("/readyz").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            json_of(&body)["error"]
                .as_str()
                .unwrap()
                .contains("migrations")
        );
    })
    .await;
}

fn get_prompt(uri: &str, key: Option<&str>, if_none_match: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn prompts_are_served_behind_scoped_keys_with_etags() {
    within_timeout(async {
        let fixture = fixture(1024).await;
        let keys = fixture.state.api_keys.clone();
        let read = keys
            .create("app", Scope::Read, KeyReach::Repos(vec![octo()]))
            .await
            .unwrap();
        let read_key = read.key.expose().to_string();
        assert!(
            !format!("{read:?}").contains(&read_key),
            "a new key never prints"
        );

        let uri = "/v1/repos/octo/prompts/prompts/summarize?label=production&key=user-1";
        assert_eq!(
            call(&fixture.state, get_prompt(uri, None, None)).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&fixture.state, get_prompt(uri, Some("pgk_0000"), None))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );

        let response = router(fixture.state.clone())
            .oneshot(get_prompt(uri, Some(&read_key), None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(etag, "\"sha256-v2\"");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let served: ServedPrompt = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (served.version, served.label.as_deref()),
            (2, Some("production"))
        );

        let (status, body) = call(
            &fixture.state,
            get_prompt(uri, Some(&read_key), Some(&etag)),
        )
        .await;
        assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
        let (status, _) = call(
            &fixture.state,
            get_prompt(uri, Some(&read_key), Some("\"sha256-v1\"")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        let (status, body) = call(
            &fixture.state,
            get_prompt(
                "/v1/repos/octo/prompts/prompts/summarize/versions/1",
                Some(&read_key),
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body)["version_id"], "sha256-v1");
        let (status, _) = call(
            &fixture.state,
            get_prompt(
                "/v1/repos/octo/prompts/prompts/summarize/versions/9",
                Some(&read_key),
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            &fixture.state,
            get_prompt(
                "/v1/repos/octo/prompts/prompts/summarize?label=staging",
                Some(&read_key),
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Scope: a read key cannot publish; an admin key can.
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "authorization",
            format!("Bearer {read_key}").parse().unwrap(),
        );
        let refused = keys.require(&headers, Scope::Publish).await.unwrap_err();
        assert_eq!(
            refused,
            AuthFailure::Forbidden {
                have: Scope::Read,
                need: Scope::Publish
            }
        );
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let admin = keys
            .create("ops", Scope::Admin, KeyReach::Every)
            .await
            .unwrap();
        headers.insert(
            "authorization",
            format!("Bearer {}", admin.key.expose()).parse().unwrap(),
        );
        assert_eq!(
            keys.require(&headers, Scope::Publish).await.unwrap().name,
            "ops"
        );

        // A revoked key is unknown.
        assert!(keys.revoke(read.info.id).await.unwrap());
        assert_eq!(
            call(&fixture.state, get_prompt(uri, Some(&read_key), None))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );

        // Only the hash is stored.
        let Database::Sqlite(pool) = fixture.queue.database() else {
            unreachable!()
        };
        let stored: Vec<(String,)> = sqlx::query_as("SELECT key_sha256 FROM server_api_keys")
            .fetch_all(pool)
            .await
            .unwrap();
        assert!(
            stored
                .iter()
                .all(|(hash,)| hash.len() == 64 && !hash.contains(&read_key))
        );
    })
    .await;
}

/// A server on 127.0.0.1:0 with a worker running self-test jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_delivery_runs_its_job() {
    within_timeout(async {
        let fixture = fixture(1024).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, shutdown) = shutdown_channel();
        let server = tokio::spawn(promptgate::server::serve(
            listener,
            fixture.state.clone(),
            shutdown.clone(),
        ));
        let handler = KindRouter::new().route(
            JobKind::SelfTest,
            Arc::new(SelfTestHandler {
                dir: fixture.selftest_dir.clone(),
            }),
        );
        let mut events = fixture.queue.subscribe();
        let worker = tokio::spawn(run_worker(
            fixture.queue.clone(),
            Arc::new(handler),
            WorkerConfig {
                poll_interval: Duration::from_millis(50),
                ..WorkerConfig::new("loopback")
            },
            shutdown,
        ));

        let client = reqwest::Client::new();
        let url = format!("http://{address}/webhooks/github");
        let send = |delivery: &str, signature: String, body: reqwest::Body| {
            client
                .post(&url)
                .header("x-github-event", "repository_dispatch")
                .header("x-github-delivery", delivery)
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
        };
        let body = selftest_dispatch("loop", 0);
        let mut wrong = body.clone();
        wrong[3] ^= 0x20;
        let refused = send("l0", sign(&body), wrong.into()).await.unwrap();
        assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
        // Its body was read (to check the signature): the connection stays.
        assert_eq!(refused.headers().get("connection"), None);

        // Streamed without Content-Length: the cap applies while reading.
        let mut big = selftest_dispatch("big", 0);
        big.resize(8192, b' ');
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.chunks(512).map(|c| Ok(c.to_vec())).collect();
        let streamed = send(
            "l1",
            sign(&big),
            reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
        )
        .await
        .unwrap();
        assert_eq!(streamed.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
        // Answered before its body ended: the client must not send the next
        // request on this connection, which the server closes.
        assert_eq!(streamed.headers()["connection"], "close");

        for _ in 0..3 {
            let accepted = send("l2", sign(&body), body.clone().into()).await.unwrap();
            assert_eq!(accepted.status(), reqwest::StatusCode::ACCEPTED);
            assert_eq!(accepted.headers().get("connection"), None);
        }
        loop {
            match events.recv().await.unwrap() {
                JobEvent::Settled {
                    settled: Settled::Done,
                    ..
                } => break,
                JobEvent::Settled { settled, .. } => panic!("job ended {settled:?}"),
                _ => {}
            }
        }
        stop.trigger();
        server.await.unwrap().unwrap();
        assert_eq!(worker.await.unwrap().done, 1);
        let done = std::fs::read_to_string(fixture.selftest_dir.join("loop.done")).unwrap();
        assert_eq!(done.lines().count(), 1, "{done}");
        assert_eq!(fixture.queue.depth().await.unwrap().total(), 1);
    })
    .await;
}

/// The real binary, SIGKILLed while its job runs, then restarted on the same
/// SQLite file: the job finishes exactly once, on attempt 2.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_finishes_the_job_after_restart() {
    within_timeout(async {
        let dir = tempfile::tempdir().unwrap();
        let selftest = dir.path().join("selftest");
        let config = dir.path().join("server.toml");
        std::fs::write(
            &config,
            format!(
                "[jobs]\nlease_seconds = 1\npoll_interval_ms = 100\nshutdown_grace_seconds = 1\n[selftest]\ndir = \"{}\"\n",
                selftest.display()
            ),
        )
        .unwrap();
        let database = format!("sqlite://{}", dir.path().join("server.db").display());

        let envs = [
            ("PROMPTGATE_WEBHOOK_SECRET", SECRET.to_string()),
            ("PROMPTGATE_DATABASE_URL", database.clone()),
        ];
        let start = |name: &str| {
            let log = dir.path().join(format!("{name}.log"));
            let (config, envs) = (config.clone(), envs.clone());
            async move { ServeProcess::start(&config, &envs, &log).await }
        };

        let mut first = start("first").await;
        let body = selftest_dispatch("crash", 1);
        let status = first
            .deliver(SECRET, "repository_dispatch", "crash-delivery", body)
            .await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED);
        wait_for_file(&selftest.join("crash.attempt-1")).await;
        first.child.kill().await.unwrap(); // SIGKILL: no chance to release the job
        assert!(!selftest.join("crash.done").exists());

        let second = start("second").await;
        wait_for_file(&selftest.join("crash.done")).await;
        second.stop().await; // SIGTERM: a graceful stop exits 0.

        let done = std::fs::read_to_string(selftest.join("crash.done")).unwrap();
        assert_eq!(done.lines().collect::<Vec<_>>(), ["job #1 attempt 2"]);
        let db = Database::connect(&database, 1).await.unwrap();
        let queue = JobQueue::new(db, RetryPolicy::default());
        let jobs = queue.jobs().await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].status, jobs[0].attempts), (JobStatus::Done, 2));
    })
    .await;
}

/// Waits for another process to create `path`.
async fn wait_for_file(path: &Path) {
    while !path.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
