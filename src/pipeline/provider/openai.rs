//! OpenAI chat completions (`POST {base}/chat/completions`), spoken by
//! OpenAI itself, by GitHub Models, and by the many OpenAI-compatible
//! servers (vLLM, llama.cpp, LM Studio, LiteLLM, Groq, OpenRouter, …).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{ApiKey, post_json};
use super::{Provider, ProviderError};
use crate::types::{ChatRequest, Completion, ResponseFormat, Role, Usage};

/// Which OpenAI-speaking service; they differ in small, real ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Compatible,
    /// GitHub Models names models `publisher/model`.
    GithubModels,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::OpenAi => "openai",
            Flavor::Compatible => "openai-compatible",
            Flavor::GithubModels => "github-models",
        }
    }
}

pub struct OpenAiProvider {
    flavor: Flavor,
    client: reqwest::Client,
    base_url: String,
    key: Option<ApiKey>,
    /// The alias this provider was configured under; GitHub Models uses it
    /// as the publisher when the model id carries none.
    alias: String,
}

impl OpenAiProvider {
    pub(crate) fn new(
        flavor: Flavor,
        client: reqwest::Client,
        base_url: String,
        key: Option<ApiKey>,
        alias: &str,
    ) -> Self {
        Self {
            flavor,
            client,
            base_url,
            key,
            alias: alias.to_string(),
        }
    }

    fn model_name(&self, model: &str) -> String {
        // `openai/gpt-4o-mini` in a prompt file arrives here as alias
        // `openai` + model `gpt-4o-mini`; GitHub Models wants it whole. The
        // `github-models` alias itself receives ids whole (`gpt-4o-mini`
        // stays as written, as gh sends it).
        if self.flavor == Flavor::GithubModels
            && !model.contains('/')
            && self.alias != crate::pipeline::config::GITHUB_MODELS
        {
            format!("{}/{model}", self.alias)
        } else {
            model.to_string()
        }
    }
}

/// The JSON body for `request`, as the OpenAI API documents it.
pub fn request_body(flavor: Flavor, model: &str, request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| json!({ "role": role_name(message.role), "content": message.content }))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    let parameters = &request.parameters;
    insert_some(
        &mut body,
        "max_completion_tokens",
        parameters.max_completion_tokens,
    );
    if let Some(max_tokens) = parameters
        .max_tokens
        .filter(|_| parameters.max_completion_tokens.is_none())
    {
        // OpenAI's reasoning models refuse `max_tokens`; everyone else
        // (including most compatible servers) only knows `max_tokens`.
        let name = if flavor == Flavor::OpenAi && is_reasoning_model(model) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body.insert(name.into(), json!(max_tokens));
    }
    insert_some(&mut body, "temperature", parameters.temperature);
    insert_some(&mut body, "top_p", parameters.top_p);
    insert_some(&mut body, "seed", parameters.seed);
    insert_some(&mut body, "presence_penalty", parameters.presence_penalty);
    insert_some(&mut body, "frequency_penalty", parameters.frequency_penalty);
    if !parameters.stop.is_empty() {
        body.insert("stop".into(), json!(parameters.stop));
    }
    match &request.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => {
            body.insert("response_format".into(), json!({ "type": "json_object" }));
        }
        ResponseFormat::JsonSchema { schema } => {
            body.insert(
                "response_format".into(),
                json!({ "type": "json_schema", "json_schema": json_schema_block(schema) }),
            );
        }
    }
    Value::Object(body)
}

/// GitHub's prompt files write the whole `json_schema` block (`name`,
/// `strict`, `schema`); others write only the schema. Accept both.
fn json_schema_block(schema: &Value) -> Value {
    let is_block = schema.get("schema").is_some_and(Value::is_object)
        && schema.get("name").is_some_and(Value::is_string);
    if is_block {
        schema.clone()
    } else {
        json!({ "name": "response", "schema": schema })
    }
}

fn is_reasoning_model(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|prefix| bare == *prefix || bare.starts_with(&format!("{prefix}-")))
}

fn insert_some<T: serde::Serialize>(body: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(value) = value {
        body.insert(name.into(), json!(value));
    }
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[async_trait::async_trait]
impl Provider for OpenAiProvider {
    fn describe(&self) -> String {
        format!("{} {}", self.flavor.name(), self.base_url)
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError> {
        let model = self.model_name(&request.model);
        let body = request_body(self.flavor, &model, request);
        let mut builder = self
            .client
            .post(format!("{}/chat/completions", self.base_url));
        if let Some(key) = &self.key {
            builder = builder.header(reqwest::header::AUTHORIZATION, key.header("Bearer ")?);
        }
        let response: ChatResponse = post_json(builder, &body, self.key.as_ref()).await?;
        let choice = response
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::Malformed("the response has no choices".into()))?;
        // A refusal is an answer: evaluators should see and score it.
        let text = choice
            .message
            .content
            .or(choice.message.refusal)
            .unwrap_or_default();
        let usage = response.usage.map_or(Usage::default(), |usage| Usage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
        });
        Ok(Completion {
            text,
            usage,
            finish_reason: choice.finish_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ModelParameters};

    fn request(response_format: ResponseFormat) -> ChatRequest {
        ChatRequest {
            model: "gpt-4o-mini".into(),
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
                max_tokens: Some(50),
                temperature: Some(0.0),
                stop: vec!["\n\n".into()],
                seed: Some(7),
                ..ModelParameters::default()
            },
            response_format,
        }
    }

    #[test]
    fn body_carries_every_parameter() {
        let body = request_body(
            Flavor::OpenAi,
            "gpt-4o-mini",
            &request(ResponseFormat::Text),
        );
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"}
                ],
                "max_tokens": 50,
                "temperature": 0.0,
                "seed": 7,
                "stop": ["\n\n"]
            })
        );
    }

    #[test]
    fn json_schema_is_wrapped_once() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let body = request_body(
            Flavor::Compatible,
            "m",
            &request(ResponseFormat::JsonSchema {
                schema: schema.clone(),
            }),
        );
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}})
        );
        let block = json!({"name": "answer", "strict": true, "schema": schema});
        let body = request_body(
            Flavor::Compatible,
            "m",
            &request(ResponseFormat::JsonSchema {
                schema: block.clone(),
            }),
        );
        assert_eq!(body["response_format"]["json_schema"], block);
        let body = request_body(
            Flavor::Compatible,
            "m",
            &request(ResponseFormat::JsonObject),
        );
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        let body = request_body(Flavor::OpenAi, "o3-mini", &request(ResponseFormat::Text));
        assert_eq!(body["max_completion_tokens"], json!(50));
        assert!(body.get("max_tokens").is_none());
        let body = request_body(
            Flavor::Compatible,
            "o3-mini",
            &request(ResponseFormat::Text),
        );
        assert_eq!(body["max_tokens"], json!(50));
    }

    #[test]
    fn github_models_names_the_publisher() {
        let provider = OpenAiProvider::new(
            Flavor::GithubModels,
            reqwest::Client::new(),
            "https://models.github.ai/inference".into(),
            None,
            "openai",
        );
        assert_eq!(provider.model_name("gpt-4o-mini"), "openai/gpt-4o-mini");
        assert_eq!(provider.model_name("meta/llama-3"), "meta/llama-3");
        // The `github-models` alias itself sends ids as written, as gh does.
        let catalog = OpenAiProvider::new(
            Flavor::GithubModels,
            reqwest::Client::new(),
            "https://models.github.ai/inference".into(),
            None,
            "github-models",
        );
        assert_eq!(catalog.model_name("gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(
            catalog.model_name("github:openai/gpt-4.1-mini"),
            "github:openai/gpt-4.1-mini"
        );
    }

    #[test]
    fn max_completion_tokens_is_sent_and_wins_over_max_tokens() {
        let mut with_both = request(ResponseFormat::Text);
        with_both.parameters.max_completion_tokens = Some(80);
        let body = request_body(Flavor::Compatible, "gpt-4o", &with_both);
        assert_eq!(body["max_completion_tokens"], json!(80));
        assert!(body.get("max_tokens").is_none(), "{body}");
        let body = request_body(Flavor::Compatible, "gpt-4o", &request(ResponseFormat::Text));
        assert_eq!(body["max_tokens"], json!(50));
        assert!(body.get("max_completion_tokens").is_none(), "{body}");
    }
}
