//! `echo`: not a model. It answers with the rendered conversation, one
//! `role: content` block per message, separated by a blank line. Output is
//! deterministic and costs nothing, so evaluators and reports can be tried
//! without tokens; reports label its results as not from a model.

use super::openai::role_name;
use super::{Provider, ProviderError};
use crate::types::{ChatRequest, Completion, Usage};

pub struct EchoProvider;

/// The text echo answers for `request`.
pub fn render(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .map(|message| format!("{}: {}", role_name(message.role), message.content))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[async_trait::async_trait]
impl Provider for EchoProvider {
    fn describe(&self) -> String {
        "echo".to_string()
    }

    fn is_model(&self) -> bool {
        false
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError> {
        Ok(Completion {
            text: render(request),
            // No tokens were spent.
            usage: Usage::default(),
            finish_reason: Some("stop".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ModelParameters, ResponseFormat, Role};

    #[tokio::test]
    async fn echoes_the_conversation() {
        let request = ChatRequest {
            model: "anything".into(),
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
            parameters: ModelParameters::default(),
            response_format: ResponseFormat::Text,
        };
        let completion = EchoProvider.complete(&request).await.unwrap();
        assert_eq!(completion.text, "system: Be brief.\n\nuser: Hi");
        assert_eq!(completion.usage, Usage::default());
    }
}
