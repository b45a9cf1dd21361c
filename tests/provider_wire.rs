//! Each provider against a real server speaking its wire format: llm-katan
//! for OpenAI and Anthropic, and an in-process axum server that records
//! what arrives (headers, bodies) for every kind, Ollama included.

#[path = "support/llm_katan.rs"]
mod llm_katan;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use promptgate::pipeline::config::{ProviderConfig, ProviderKind};
use promptgate::pipeline::provider::{self, ApiKey, Provider, ProviderError, config_for_kind};
use promptgate::types::{ChatMessage, ChatRequest, ModelParameters, ResponseFormat, Role};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

fn table(kind: ProviderKind, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        base_url: Some(base_url.to_string()),
        ..config_for_kind(kind)
    }
}

fn request(model: &str, user: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            ChatMessage {
                role: Role::System,
                content: "You are terse.".into(),
            },
            ChatMessage {
                role: Role::User,
                content: user.into(),
            },
        ],
        parameters: ModelParameters {
            max_tokens: Some(20),
            temperature: Some(0.0),
            ..ModelParameters::default()
        },
        response_format: ResponseFormat::Text,
    }
}

fn build(kind: ProviderKind, base_url: &str, key: Option<&str>) -> Arc<dyn Provider> {
    provider::build_with_key("test", &table(kind, base_url), key.map(ApiKey::new)).unwrap()
}

#[tokio::test]
async fn openai_and_anthropic_formats_against_llm_katan() {
    tokio::time::timeout(LIMIT, async {
        let Some(katan) = llm_katan::start(&[]) else {
            return;
        };
        let v1 = format!("{}/v1", katan.base_url());
        for kind in [ProviderKind::Openai, ProviderKind::OpenaiCompatible] {
            let openai = build(kind, &v1, Some("test-key"));
            let answer = openai
                .complete(&request("katan", "hello wire"))
                .await
                .unwrap();
            assert!(answer.text.contains("User: hello wire"), "{}", answer.text);
            assert!(answer.text.contains("max_tokens=20"), "{}", answer.text);
            assert!(answer.text.contains("messages=2"), "{}", answer.text);
            assert!(answer.usage.input_tokens > 0 && answer.usage.output_tokens > 0);
            assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
        }

        let anthropic = build(ProviderKind::Anthropic, &katan.base_url(), Some("test-key"));
        let answer = anthropic
            .complete(&request("katan", "hello messages"))
            .await
            .unwrap();
        assert!(
            answer.text.contains("User: hello messages"),
            "{}",
            answer.text
        );
        assert!(answer.text.contains("max_tokens=20"), "{}", answer.text);
        assert!(answer.usage.input_tokens > 0 && answer.usage.output_tokens > 0);
        assert_eq!(answer.finish_reason.as_deref(), Some("end_turn"));
        assert_eq!(katan.served().await, 3);
    })
    .await
    .expect("test timed out");
}

/// What one request looked like on arrival.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Answers in the dialect of the path; model `refuse` gets a 401 whose body
/// echoes the key, as some providers do.
async fn recording_handler(
    State(log): State<Log>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = uri.path().to_string();
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if body["model"] == "refuse" {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let message = format!("Incorrect API key provided: {auth}");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
        )
            .into_response();
    }
    let last = body["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .map(|message| message["content"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let reply = format!("ok: {last}");
    let answer = if path.ends_with("/api/chat") {
        json!({
            "model": body["model"], "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": reply},
            "done": true, "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7
        })
    } else if path.ends_with("/v1/messages") {
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 11, "output_tokens": 7}
        })
    } else {
        json!({
            "id": "c1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        })
    };
    Json(answer).into_response()
}

async fn recording_server() -> (String, Log) {
    let log: Log = Arc::default();
    let app = axum::Router::new()
        .fallback(axum::routing::post(recording_handler))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn every_kind_sends_its_own_wire_format() {
    tokio::time::timeout(LIMIT, async {
        let (url, log) = recording_server().await;
        let usage_and_text = |answer: promptgate::types::Completion| {
            assert_eq!(answer.text, "ok: hi");
            assert_eq!((answer.usage.input_tokens, answer.usage.output_tokens), (11, 7));
        };

        let ollama = build(ProviderKind::Ollama, &url, None);
        let mut json_request = request("llama3.2", "hi");
        json_request.response_format = ResponseFormat::JsonObject;
        json_request.parameters.seed = Some(42);
        usage_and_text(ollama.complete(&json_request).await.unwrap());
        let seen = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen.path, "/api/chat");
        assert_eq!(header(&seen, "authorization"), None);
        assert_eq!(seen.body["stream"], json!(false));
        assert_eq!(seen.body["format"], json!("json"));
        assert_eq!(seen.body["options"], json!({"num_predict": 20, "temperature": 0.0, "seed": 42}));
        assert_eq!(seen.body["messages"][0], json!({"role": "system", "content": "You are terse."}));
        assert_eq!(ollama.describe(), format!("ollama {url}"));

        let anthropic = build(ProviderKind::Anthropic, &url, Some("ak-1"));
        usage_and_text(anthropic.complete(&request("claude-x", "hi")).await.unwrap());
        let seen = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen.path, "/v1/messages");
        assert_eq!(header(&seen, "x-api-key"), Some("ak-1"));
        assert_eq!(header(&seen, "anthropic-version"), Some("2023-06-01"));
        assert_eq!(seen.body["system"], json!("You are terse."));
        assert_eq!(seen.body["messages"], json!([{"role": "user", "content": "hi"}]));

        let github = provider::build_with_key(
            "openai",
            &table(ProviderKind::GithubModels, &format!("{url}/inference")),
            Some(ApiKey::new("ghs-token")),
        )
        .unwrap();
        let mut schema_request = request("gpt-4o-mini", "hi");
        schema_request.response_format = ResponseFormat::JsonSchema {
            schema: json!({"type": "object"}),
        };
        schema_request.parameters.stop = vec!["END".into()];
        usage_and_text(github.complete(&schema_request).await.unwrap());
        let seen = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen.path, "/inference/chat/completions");
        assert_eq!(header(&seen, "authorization"), Some("Bearer ghs-token"));
        assert_eq!(seen.body["model"], json!("openai/gpt-4o-mini"));
        assert_eq!(seen.body["stop"], json!(["END"]));
        assert_eq!(
            seen.body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}})
        );

        // A local compatible server without a key gets no auth header.
        let local = build(ProviderKind::OpenaiCompatible, &format!("{url}/v1"), None);
        usage_and_text(local.complete(&request("qwen", "hi")).await.unwrap());
        let seen = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen.path, "/v1/chat/completions");
        assert_eq!(header(&seen, "authorization"), None);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn a_refused_key_never_appears_in_the_error() {
    tokio::time::timeout(LIMIT, async {
        let (url, _log) = recording_server().await;
        let openai = build(
            ProviderKind::Openai,
            &format!("{url}/v1"),
            Some("sk-very-secret-123"),
        );
        let error = openai.complete(&request("refuse", "hi")).await.unwrap_err();
        let ProviderError::Http {
            status, message, ..
        } = &error
        else {
            panic!("expected an HTTP error, got {error:?}");
        };
        assert_eq!(*status, 401);
        assert!(message.contains("Incorrect API key provided"), "{message}");
        assert!(!error.to_string().contains("sk-very-secret-123"), "{error}");
        assert!(!format!("{error:?}").contains("sk-very-secret-123"));
        assert!(!error.is_retryable());
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn missing_key_fails_before_any_call() {
    let mut config = config_for_kind(ProviderKind::Anthropic);
    config.api_key_env = Some("PROMPTGATE_TEST_NO_SUCH_KEY_VAR".into());
    config.base_url = Some("http://127.0.0.1:9".into());
    let error = provider::build("claude", &config).err().expect("must fail");
    assert_eq!(
        error.to_string(),
        "environment variable PROMPTGATE_TEST_NO_SUCH_KEY_VAR is not set \
         (it holds the key for provider `claude`)"
    );
}
