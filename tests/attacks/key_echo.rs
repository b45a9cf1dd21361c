//! Hole 5: keys leak through provider errors. A hostile (or careless)
//! server echoes the key it was sent in every way an error can carry it:
//! a JSON message, a text body, a 200 that is not JSON, a JSON of the
//! wrong shape, the key placed past the point where messages are cut.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use promptgate::pipeline::config::{ProviderConfig, ProviderKind};
use promptgate::pipeline::provider::{self, ApiKey, config_for_kind};
use promptgate::types::{ChatMessage, ChatRequest, ModelParameters, ResponseFormat, Role};

const KEY: &str = "sk-attack-0123456789abcdefghijklmnopqrstuvwxyzABCD";

/// Answers by the first path segment, echoing whatever key arrived.
async fn echo_key(uri: Uri, headers: HeaderMap) -> Response {
    let sent = ["authorization", "x-api-key"]
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_string();
    let padding = "x".repeat(600);
    let mode = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let json = |status: StatusCode, body: serde_json::Value| {
        (
            status,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    match mode {
        "json-message" => json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": {"message": format!("Incorrect API key {sent}")}}),
        ),
        "json-late" => json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": {"message": format!("{padding} key {sent}")}}),
        ),
        "text-late" => (StatusCode::BAD_GATEWAY, format!("{padding} {sent}")).into_response(),
        "ok-not-json" => (StatusCode::OK, format!("Authorization: Bearer {sent}")).into_response(),
        "ok-late-not-json" => {
            (StatusCode::OK, format!("{} {sent}", &padding[..190])).into_response()
        }
        // The key where a typed field is expected: serde's own error
        // message quotes the value.
        _ => json(
            StatusCode::OK,
            serde_json::json!({"choices": sent, "content": sent, "message": sent}),
        ),
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hi".into(),
        }],
        parameters: ModelParameters::default(),
        response_format: ResponseFormat::Text,
    }
}

/// Any 8 characters of the key in a row.
fn leaks(text: &str) -> bool {
    KEY.as_bytes()
        .windows(8)
        .any(|w| text.contains(std::str::from_utf8(w).unwrap()))
}

#[tokio::test]
async fn no_error_kind_carries_the_key_whole_or_in_part() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(echo_key);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let modes = [
        "json-message",
        "json-late",
        "text-late",
        "ok-not-json",
        "ok-late-not-json",
        "wrong-shape",
    ];
    let kinds = [
        ProviderKind::Openai,
        ProviderKind::OpenaiCompatible,
        ProviderKind::Anthropic,
        ProviderKind::Ollama,
    ];
    let mut checked = 0;
    for kind in kinds {
        for mode in modes {
            let config = ProviderConfig {
                base_url: Some(format!("http://{addr}/{mode}")),
                ..config_for_kind(kind)
            };
            let provider =
                provider::build_with_key("attack", &config, Some(ApiKey::new(KEY))).unwrap();
            let error = provider
                .complete(&request())
                .await
                .expect_err("every mode is an error");
            let text = error.to_string();
            assert!(!leaks(&text), "{kind:?} {mode}: {text}");
            assert!(!leaks(&format!("{error:?}")), "{kind:?} {mode}: {error:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, kinds.len() * modes.len());
}

/// The mutant: the old order (shorten, then redact) leaks most of a key
/// placed past the cut, which is why the order matters.
#[test]
fn shortening_before_redacting_leaks_the_key() {
    let text = format!("{} {KEY}", "x".repeat(480));
    let cut: String = text.chars().take(500).collect();
    let old_way = cut.replace(KEY, "***");
    assert!(leaks(&old_way), "{old_way}");
}
