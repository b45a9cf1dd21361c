//! GitHub's recorded example payloads, signed as GitHub signs them, POSTed
//! through the server's router with the real event router and a real SQLite
//! queue: each creates the job the event calls for, or none.

#[path = "support/fake_github/mod.rs"]
mod fake_github;
#[path = "support/serve_process.rs"]
mod serve_process;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fake_github::webhook_examples;
use promptgate::edges::db::Database;
use promptgate::server::jobs::{Job, JobId, JobKind, JobQueue, RetryPolicy};
use promptgate::server::{GitHubEvents, HmacVerifier, NoPrompts, Secret, ServerState, router};
use serde_json::{Value, json};
use serve_process::sign as sign_with;
use tower::ServiceExt;

const SECRET: &str = "events-test-secret";

async fn within_timeout<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("test timed out")
}

struct Fixture {
    state: ServerState,
    queue: JobQueue,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let db = Database::connect(&url, 4).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    let queue = JobQueue::new(db, RetryPolicy::default());
    let state = ServerState::new(
        queue.clone(),
        Arc::new(HmacVerifier::new(vec![Secret::new(SECRET)])),
        Arc::new(GitHubEvents::new(false)),
        Arc::new(NoPrompts),
    );
    Fixture {
        state,
        queue,
        _dir: dir,
    }
}

async fn post(
    fixture: &Fixture,
    event: &str,
    delivery: &str,
    signature: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let response = router(fixture.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, answer)
}

async fn job_count(queue: &JobQueue) -> usize {
    queue.jobs().await.unwrap().len()
}

/// What GitHub's documentation says each delivery should lead to, written
/// from the payload independently of the router: the job kind and its
/// supersede key, or `None` for a delivery that is acknowledged only.
fn expected(event: &str, payload: &Value) -> Option<(JobKind, Option<String>)> {
    let text = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let repo = text("/repository/full_name");
    let action = text("/action");
    match event {
        "pull_request" => match action.as_str() {
            "opened" | "synchronize" | "reopened" => {
                Some((JobKind::Gate, Some(format!("{repo}#{}", payload["number"]))))
            }
            "closed"
                if payload["pull_request"]["merged"] == true
                    && text("/pull_request/base/ref") == text("/repository/default_branch") =>
            {
                let sha = text("/pull_request/merge_commit_sha");
                Some((JobKind::Publish, Some(format!("{repo} publish@{sha}"))))
            }
            _ => None,
        },
        "push" => {
            let to_default =
                text("/ref") == format!("refs/heads/{}", text("/repository/default_branch"));
            let deleted = payload["deleted"] == true || text("/after").bytes().all(|b| b == b'0');
            (to_default && !deleted).then(|| {
                (
                    JobKind::Publish,
                    Some(format!("{repo} publish@{}", text("/after"))),
                )
            })
        }
        "check_run" | "check_suite" => (action == "rerequested").then(|| {
            let number = payload[event]["pull_requests"][0]["number"].as_u64();
            let key = match number {
                Some(number) => format!("{repo}#{number}"),
                None => format!("{repo}@{}", payload[event]["head_sha"].as_str().unwrap()),
            };
            (JobKind::Gate, Some(key))
        }),
        "issue_comment" => {
            let command = text("/comment/body")
                .trim_start()
                .starts_with("/promptgate rerun");
            let on_pr = payload["issue"].get("pull_request").is_some();
            let by_bot = text("/comment/user/type") == "Bot";
            (action == "created" && command && on_pr && !by_bot).then(|| {
                (
                    JobKind::Gate,
                    Some(format!("{repo}#{}", payload["issue"]["number"])),
                )
            })
        }
        "repository_dispatch" => (action == "promptgate-model-changed").then(|| {
            let model = text("/client_payload/model");
            (JobKind::ModelRerun, Some(format!("{repo} model@{model}")))
        }),
        "installation" | "installation_repositories" => {
            let handled = event == "installation_repositories"
                || [
                    "created",
                    "deleted",
                    "suspend",
                    "unsuspend",
                    "new_permissions_accepted",
                ]
                .contains(&action.as_str());
            // Each installation event carries a change: none supersedes another.
            handled.then_some((JobKind::InstallationSync, None))
        }
        _ => None,
    }
}

/// Every recorded example, plus variants GitHub publishes no example of:
/// each closed pull request merged, each comment a `/promptgate rerun --all`
/// on a pull request.
fn deliveries() -> Vec<(&'static str, String, Vec<u8>)> {
    let stems = [
        ("pull_request", "pull_request"),
        ("push", "push"),
        ("check_run", "check_run"),
        ("check_suite", "check_suite"),
        ("issue_comment", "issue_comment"),
        ("repository_dispatch", "repository_dispatch"),
        ("repository_dispatch", "repository_dispatch.promptgate"),
        ("installation", "installation"),
        ("installation_repositories", "installation_repositories"),
        ("ping", "ping"),
    ];
    let mut all = Vec::new();
    for (event, stem) in stems {
        let examples = webhook_examples(stem);
        assert!(!examples.is_empty(), "no examples for {stem}");
        for (index, (_, body)) in examples.into_iter().enumerate() {
            let mut payload: Value = serde_json::from_slice(&body).unwrap();
            all.push((event, format!("{stem}[{index}]"), body));
            if event == "pull_request" && payload["action"] == "closed" {
                payload["pull_request"]["merged"] = json!(true);
                all.push((
                    event,
                    format!("{stem}[{index}] merged"),
                    serde_json::to_vec(&payload).unwrap(),
                ));
            }
            if event == "issue_comment" && payload["action"] == "created" {
                payload["comment"]["body"] = json!("/promptgate rerun --all");
                payload["issue"]["pull_request"] = json!({"url": "https://api.github.com/x"});
                all.push((
                    event,
                    format!("{stem}[{index}] command"),
                    serde_json::to_vec(&payload).unwrap(),
                ));
            }
        }
    }
    all
}

#[tokio::test]
async fn every_recorded_payload_creates_the_job_it_should() {
    within_timeout(async {
        let fixture = fixture().await;
        let mut created = std::collections::BTreeMap::<JobKind, usize>::new();
        for (n, (event, name, body)) in deliveries().into_iter().enumerate() {
            let payload: Value = serde_json::from_slice(&body).unwrap();
            let want = expected(event, &payload);
            let before = job_count(&fixture.queue).await;
            let (status, answer) = post(
                &fixture,
                event,
                &format!("delivery-{n}"),
                Some(&sign_with(SECRET, &body)),
                &body,
            )
            .await;
            assert!(status.is_success(), "{name}: {status} {answer}");
            match want {
                None => {
                    let expected_status = if event == "ping" { "pong" } else { "ignored" };
                    assert_eq!(answer["status"], expected_status, "{name}: {answer}");
                    assert_eq!(job_count(&fixture.queue).await, before, "{name}: no job");
                }
                Some((kind, key)) => {
                    assert_eq!(status, StatusCode::ACCEPTED, "{name}");
                    assert_eq!(answer["status"], "queued", "{name}: {answer}");
                    let id = JobId(answer["job"].as_i64().expect("a job id"));
                    let job: Job = fixture.queue.job(id).await.unwrap().expect("stored");
                    assert_eq!(job.kind, kind, "{name}");
                    assert_eq!(job.supersede_key, key, "{name}");
                    check_payload(&name, &payload, &job);
                    *created.entry(kind).or_default() += 1;
                }
            }
        }
        // The fixtures exercise every kind the router produces.
        for kind in [
            JobKind::Gate,
            JobKind::Publish,
            JobKind::ModelRerun,
            JobKind::InstallationSync,
        ] {
            assert!(
                created.get(&kind).is_some_and(|n| *n > 0),
                "no {kind} job: {created:?}"
            );
        }
    })
    .await;
}

/// The fields the job handlers rely on came from the right places.
fn check_payload(name: &str, payload: &Value, job: &Job) {
    let got = &job.payload;
    match job.kind {
        JobKind::Gate if payload.get("pull_request").is_some() => {
            let pr = &payload["pull_request"];
            assert_eq!(got["pull_request"], payload["number"], "{name}");
            assert_eq!(got["head_sha"], pr["head"]["sha"], "{name}");
            assert_eq!(got["base_sha"], pr["base"]["sha"], "{name}");
            let fork = pr["head"]["repo"]["full_name"] != pr["base"]["repo"]["full_name"];
            assert_eq!(got["fork"], fork, "{name}");
            assert_eq!(got["installation"], payload["installation"]["id"], "{name}");
        }
        JobKind::Gate if payload.get("comment").is_some() => {
            assert_eq!(
                got["commenter"], payload["comment"]["user"]["login"],
                "{name}"
            );
            assert_eq!(got["all"], true, "{name}");
        }
        JobKind::Gate => {
            let check = payload
                .get("check_run")
                .or(payload.get("check_suite"))
                .unwrap();
            assert_eq!(got["head_sha"], check["head_sha"], "{name}");
        }
        JobKind::Publish => {
            assert_eq!(got["repo"], payload["repository"]["full_name"], "{name}");
        }
        JobKind::ModelRerun => {
            assert_eq!(got["model"], payload["client_payload"]["model"], "{name}");
        }
        JobKind::InstallationSync => {
            assert_eq!(got["installation"], payload["installation"]["id"], "{name}");
        }
        JobKind::SelfTest => panic!("{name}: self-tests are disabled here"),
    }
}

#[tokio::test]
async fn unsigned_missigned_or_altered_deliveries_are_refused() {
    within_timeout(async {
        let fixture = fixture().await;
        for (n, (event, name, body)) in deliveries().into_iter().enumerate() {
            let good = sign_with(SECRET, &body);
            let mut altered = body.clone();
            let middle = altered.len() / 2;
            altered[middle] ^= 0x20;
            let cases = [
                ("no signature", None, body.clone()),
                (
                    "wrong secret",
                    Some(sign_with("not-the-secret", &body)),
                    body.clone(),
                ),
                ("one byte changed", Some(good), altered),
            ];
            for (case, signature, body) in cases {
                let (status, answer) = post(
                    &fixture,
                    event,
                    &format!("refused-{n}-{case}"),
                    signature.as_deref(),
                    &body,
                )
                .await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}, {case}: {answer}");
            }
        }
        assert_eq!(job_count(&fixture.queue).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_payload_makes_one_job() {
    within_timeout(async {
        let fixture = fixture().await;
        let (_, body) = webhook_examples("pull_request")
            .into_iter()
            .find(|(action, _)| action.as_deref() == Some("synchronize"))
            .expect("a synchronize example");
        let signature = sign_with(SECRET, &body);
        let mut answers = Vec::new();
        for _ in 0..3 {
            let (status, answer) = post(
                &fixture,
                "pull_request",
                "same-delivery",
                Some(&signature),
                &body,
            )
            .await;
            assert_eq!(status, StatusCode::ACCEPTED);
            answers.push(answer);
        }
        assert_eq!(answers[0]["status"], "queued");
        assert_eq!(answers[1]["status"], "duplicate");
        assert_eq!(answers[2]["status"], "duplicate");
        assert_eq!(answers[1]["job"], answers[0]["job"]);
        assert_eq!(job_count(&fixture.queue).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_payload_is_400_naming_the_json_path() {
    within_timeout(async {
        let fixture = fixture().await;
        let (_, body) = webhook_examples("pull_request").remove(0);
        let mut payload: Value = serde_json::from_slice(&body).unwrap();
        payload["pull_request"]["head"]["sha"] = json!(42);
        let body = serde_json::to_vec(&payload).unwrap();
        let (status, answer) = post(
            &fixture,
            "pull_request",
            "malformed",
            Some(&sign_with(SECRET, &body)),
            &body,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains("pull_request.head.sha"), "{error}");
        assert_eq!(job_count(&fixture.queue).await, 0);
    })
    .await;
}
