//! The review routes of `promptgate serve`, over real HTTP on loopback with
//! a temp SQLite registry: the queue hides the judge's score, labelling
//! needs a publish key and reveals the score the server read from the
//! stored result (never the client's), and agreement follows the labels.

use std::sync::Arc;

use promptgate::edges::db::Database;
use promptgate::edges::registry::sql::SqlRegistry;
use promptgate::edges::registry::{
    GateOutcome, Namespace, NewVersion, PublishInput, Registry, publish_prompt,
};
use promptgate::server::jobs::{JobQueue, RetryPolicy, shutdown_channel};
use promptgate::server::{
    GitHubEvents, HmacVerifier, KeyReach, RegistryPrompts, Scope, Secret, ServerState,
};
use promptgate::types::{
    CallOutcome, CaseResult, CriterionInfo, CriterionScore, EvalResult, Fingerprint,
    MessageTemplate, ModelId, ModelParameters, PromptContent, RepeatResult, ResponseFormat, Role,
    Score, Usage, VersionId,
};
use serde_json::{Value, json};

/// Forty answers; the judge passes the even ones.
fn result(id: &VersionId) -> EvalResult {
    EvalResult {
        prompt: "support-bot".into(),
        version: id.clone(),
        fingerprint: Fingerprint("feed01".into()),
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
        cases: (0..40u32)
            .map(|i| CaseResult {
                case_id: format!("c{i}"),
                vars: serde_json::Map::new(),
                repeats: vec![RepeatResult {
                    call: CallOutcome {
                        result: Ok(format!("answer {i}")),
                        usage: Usage {
                            input_tokens: 1,
                            output_tokens: 1,
                        },
                        latency_ms: 1,
                        cost_usd: None,
                        cached: false,
                    },
                    scores: vec![CriterionScore {
                        score: Ok(Score {
                            value: if i.is_multiple_of(2) { 1.0 } else { 0.0 },
                            reason: "secret reasoning".into(),
                            display: None,
                        }),
                    }],
                }],
            })
            .collect(),
        created_at: "2026-12-01T00:00:00Z".into(),
    }
}

struct Server {
    base: String,
    read: String,
    publish: String,
    stop: promptgate::server::jobs::ShutdownTrigger,
    _temp: tempfile::TempDir,
}

async fn server() -> Server {
    let temp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", temp.path().join("server.db").display());
    let db = Database::connect(&url, 8).await.unwrap();
    promptgate::server::schema::migrate(&db).await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(SqlRegistry::on(db.clone()));
    let id = VersionId("v1id".into());
    let view = registry.scoped(&Namespace::parse("octo/prompts").unwrap());
    publish_prompt(
        view.as_ref(),
        PublishInput {
            version: NewVersion {
                prompt: "support-bot".into(),
                id: id.clone(),
                content: PromptContent {
                    semantics: Default::default(),
                    messages: vec![MessageTemplate {
                        role: Role::User,
                        content: "help".into(),
                    }],
                    model: ModelId {
                        provider: "openai".into(),
                        model: "gpt-4o-mini".into(),
                    },
                    parameters: ModelParameters::default(),
                    response_format: ResponseFormat::Text,
                },
                parent: None,
                git_commit: None,
                author: "ci".into(),
                message: None,
            },
            result: Some(result(&id)),
            gate: GateOutcome::Passed,
        },
    )
    .await
    .unwrap();
    let mut state = ServerState::new(
        JobQueue::new(db, RetryPolicy::default()),
        Arc::new(HmacVerifier::new(vec![Secret::new("s")])),
        Arc::new(GitHubEvents::default()),
        Arc::new(RegistryPrompts::new(registry.clone())),
    );
    state.registry = Some(registry);
    let key = |scope| {
        let keys = state.api_keys.clone();
        async move {
            keys.create("review", scope, KeyReach::Every)
                .await
                .unwrap()
                .key
                .expose()
                .to_owned()
        }
    };
    let read = key(Scope::Read).await;
    let publish = key(Scope::Publish).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://{}/v1/repos/octo/prompts/reviews",
        listener.local_addr().unwrap()
    );
    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(promptgate::server::serve(listener, state, shutdown));
    Server {
        base,
        read,
        publish,
        stop,
        _temp: temp,
    }
}

async fn call(method: &str, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(key)
        .timeout(std::time::Duration::from_secs(20));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_hides_the_judge_and_a_label_reveals_it() {
    let s = server().await;
    let (status, queue) = call(
        "GET",
        &format!("{}/queue?count=10&seed=7", s.base),
        &s.read,
        None,
    )
    .await;
    assert_eq!(status, 200, "{queue}");
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    let text = queue.to_string();
    assert!(
        !text.contains("judge") && !text.contains("secret reasoning"),
        "{text}"
    );
    // Proportional to the judge's grades: half passed, half failed.
    let passed = items
        .iter()
        .filter(|i| {
            i["case_id"].as_str().unwrap()[1..]
                .parse::<u32>()
                .unwrap()
                .is_multiple_of(2)
        })
        .count();
    assert_eq!(passed, 5);
    // The same seed, the same queue.
    let (_, again) = call(
        "GET",
        &format!("{}/queue?count=10&seed=7", s.base),
        &s.read,
        None,
    )
    .await;
    assert_eq!(again, queue);

    let item = &items[0];
    let case: u32 = item["case_id"].as_str().unwrap()[1..].parse().unwrap();
    let label = json!({
        "prompt": "support-bot", "criterion": "helpful", "fingerprint": "feed01",
        "case_id": item["case_id"], "repeat": 0, "human": "fail", "reviewer": "Ada",
        "note": "misses the point"
    });
    // A read key cannot label.
    let (status, _) = call(
        "POST",
        &format!("{}/labels", s.base),
        &s.read,
        Some(label.clone()),
    )
    .await;
    assert_eq!(status, 403);
    // A judge score in the request is refused, not trusted.
    let mut forged = label.clone();
    forged["judge_score"] = json!(0.0);
    let (status, _) = call(
        "POST",
        &format!("{}/labels", s.base),
        &s.publish,
        Some(forged),
    )
    .await;
    assert_eq!(status, 400);
    let (status, recorded) = call(
        "POST",
        &format!("{}/labels", s.base),
        &s.publish,
        Some(label.clone()),
    )
    .await;
    assert_eq!(status, 201, "{recorded}");
    let judged = if case.is_multiple_of(2) { 1.0 } else { 0.0 };
    assert_eq!(recorded["judge"]["score"], json!(judged));
    assert_eq!(recorded["label"]["judge_score"], json!(judged));
    assert_eq!(recorded["judge"]["reason"], "secret reasoning");
    // An output the server does not store is not labelled.
    let mut missing = label.clone();
    missing["case_id"] = json!("c999");
    let (status, _) = call(
        "POST",
        &format!("{}/labels", s.base),
        &s.publish,
        Some(missing),
    )
    .await;
    assert_eq!(status, 404);

    // Labelled outputs leave the queue.
    let (_, after) = call("GET", &format!("{}/queue?count=40", s.base), &s.read, None).await;
    let ids: Vec<&str> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 39);
    assert!(!ids.contains(&item["case_id"].as_str().unwrap()));

    let (status, labels) = call(
        "GET",
        &format!("{}/labels?prompt=support-bot", s.base),
        &s.read,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(labels["labels"].as_array().unwrap().len(), 1);
    let (status, agreement) = call("GET", &format!("{}/agreement", s.base), &s.read, None).await;
    assert_eq!(status, 200);
    let criteria = agreement["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 1);
    assert_eq!(criteria[0]["labels"], 1);
    assert_eq!(criteria[0]["enough"], false);
    assert_eq!(criteria[0]["labels_needed"], 29);

    // Bad parameters are refused in JSON.
    let (status, body) = call("GET", &format!("{}/queue?count=0", s.base), &s.read, None).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("count"));
    s.stop.trigger();
}
