//! Ollama's native chat API (`POST {base}/api/chat`), for local models.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{ApiKey, post_json};
use super::openai::role_name;
use super::{Provider, ProviderError};
use crate::types::{ChatRequest, Completion, ResponseFormat, Usage};

pub struct OllamaProvider {
    client: reqwest::Client,
    base_url: String,
    /// Ollama takes no key; one is sent only when the config names one
    /// (an authenticating proxy in front of it).
    key: Option<ApiKey>,
}

impl OllamaProvider {
    pub(crate) fn new(client: reqwest::Client, base_url: String, key: Option<ApiKey>) -> Self {
        Self {
            client,
            base_url,
            key,
        }
    }
}

/// The JSON body: parameters go in `options` under Ollama's names, JSON
/// output in `format`, and streaming is off.
pub fn request_body(request: &ChatRequest) -> Value {
    let parameters = &request.parameters;
    let mut options = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            options.insert(name.into(), value);
        }
    };
    put("num_predict", parameters.output_cap().map(|v| json!(v)));
    put("temperature", parameters.temperature.map(|v| json!(v)));
    put("top_p", parameters.top_p.map(|v| json!(v)));
    put("seed", parameters.seed.map(|v| json!(v)));
    put(
        "presence_penalty",
        parameters.presence_penalty.map(|v| json!(v)),
    );
    put(
        "frequency_penalty",
        parameters.frequency_penalty.map(|v| json!(v)),
    );
    if !parameters.stop.is_empty() {
        options.insert("stop".into(), json!(parameters.stop));
    }
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| json!({ "role": role_name(message.role), "content": message.content }))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(false));
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    match &request.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            body.insert("format".into(), json!("json"));
        }
        ResponseFormat::JsonSchema { schema } => {
            let schema = schema
                .get("schema")
                .filter(|inner| inner.is_object())
                .unwrap_or(schema);
            body.insert("format".into(), schema.clone());
        }
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct ChatResponse {
    message: WireMessage,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: u64,
    #[serde(default)]
    eval_count: u64,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: String,
}

#[async_trait::async_trait]
impl Provider for OllamaProvider {
    fn describe(&self) -> String {
        format!("ollama {}", self.base_url)
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError> {
        let mut builder = self.client.post(format!("{}/api/chat", self.base_url));
        if let Some(key) = &self.key {
            builder = builder.header(reqwest::header::AUTHORIZATION, key.header("Bearer ")?);
        }
        let response: ChatResponse =
            post_json(builder, &request_body(request), self.key.as_ref()).await?;
        Ok(Completion {
            text: response.message.content,
            usage: Usage {
                input_tokens: response.prompt_eval_count,
                output_tokens: response.eval_count,
            },
            finish_reason: response.done_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ModelParameters, Role};

    #[test]
    fn parameters_go_in_options() {
        let request = ChatRequest {
            model: "llama3.2".into(),
            messages: vec![ChatMessage {
                role: Role::User,
                content: "Hi".into(),
            }],
            parameters: ModelParameters {
                max_tokens: Some(20),
                seed: Some(1),
                ..ModelParameters::default()
            },
            response_format: ResponseFormat::JsonObject,
        };
        assert_eq!(
            request_body(&request),
            json!({
                "model": "llama3.2",
                "messages": [{"role": "user", "content": "Hi"}],
                "stream": false,
                "options": {"num_predict": 20, "seed": 1},
                "format": "json"
            })
        );
    }
}
