//! Anthropic Messages API (`POST {base}/v1/messages`).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{ApiKey, post_json};
use super::openai::role_name;
use super::{Provider, ProviderError};
use crate::types::{ChatRequest, Completion, ResponseFormat, Role, Usage};

/// The API version this implementation speaks.
pub const API_VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`; this is sent when the prompt sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

pub struct AnthropicProvider {
    client: reqwest::Client,
    base_url: String,
    key: ApiKey,
}

impl AnthropicProvider {
    pub(crate) fn new(client: reqwest::Client, base_url: String, key: ApiKey) -> Self {
        Self {
            client,
            base_url,
            key,
        }
    }
}

/// The JSON body for `request`: system messages become the top-level
/// `system` field; the rest stay in order.
pub fn request_body(request: &ChatRequest) -> Value {
    let mut system: Vec<&str> = request
        .messages
        .iter()
        .filter(|message| message.role == Role::System)
        .map(|message| message.content.as_str())
        .collect();
    let json_instruction;
    // The Messages API has no JSON mode; say it in the system prompt, which
    // is what Anthropic's own guidance does.
    match &request.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            system.push("Respond with a single JSON object and nothing else.")
        }
        ResponseFormat::JsonSchema { schema } => {
            let schema = schema
                .get("schema")
                .filter(|inner| inner.is_object())
                .unwrap_or(schema);
            json_instruction = format!(
                "Respond with a single JSON object and nothing else. It must match this JSON Schema:\n{schema}"
            );
            system.push(&json_instruction);
        }
    }
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|message| message.role != Role::System)
        .map(|message| json!({ "role": role_name(message.role), "content": message.content }))
        .collect();
    let parameters = &request.parameters;
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "max_tokens".into(),
        json!(parameters.output_cap().unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(temperature) = parameters.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = parameters.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if !parameters.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(parameters.stop));
    }
    // `seed` and the penalties have no Anthropic equivalent; they still
    // count in the cache key, so changing them is never silently ignored.
    Value::Object(body)
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

#[async_trait::async_trait]
impl Provider for AnthropicProvider {
    fn describe(&self) -> String {
        format!("anthropic {}", self.base_url)
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError> {
        let builder = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .header("x-api-key", self.key.header("")?)
            .header("anthropic-version", API_VERSION);
        let response: MessagesResponse =
            post_json(builder, &request_body(request), Some(&self.key)).await?;
        let text: String = response
            .content
            .iter()
            .filter(|block| block.kind == "text")
            .filter_map(|block| block.text.as_deref())
            .collect();
        let usage = response.usage.map_or(Usage::default(), |usage| Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        });
        Ok(Completion {
            text,
            usage,
            finish_reason: response.stop_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ModelParameters};

    #[test]
    fn system_goes_top_level_and_max_tokens_defaults() {
        let request = ChatRequest {
            model: "claude-sonnet-4-0".into(),
            messages: vec![
                ChatMessage {
                    role: Role::System,
                    content: "Be brief.".into(),
                },
                ChatMessage {
                    role: Role::User,
                    content: "Hi".into(),
                },
            ],
            parameters: ModelParameters {
                stop: vec!["END".into()],
                seed: Some(3),
                ..ModelParameters::default()
            },
            response_format: ResponseFormat::Text,
        };
        assert_eq!(
            request_body(&request),
            json!({
                "model": "claude-sonnet-4-0",
                "max_tokens": 1024,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": "Hi"}],
                "stop_sequences": ["END"]
            })
        );
    }

    #[test]
    fn json_formats_become_instructions() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: Role::User,
                content: "Hi".into(),
            }],
            parameters: ModelParameters::default(),
            response_format: ResponseFormat::JsonSchema {
                schema: json!({"name": "x", "schema": {"type": "object"}}),
            },
        };
        let system = request_body(&request)["system"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(system.contains(r#"{"type":"object"}"#), "{system}");
    }
}
