//! The provider edge: one trait, one implementation per wire format.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::spec::{ModelParameters, ResponseFormat, Role};

/// A rendered message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// Everything that decides what a provider is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name as the provider knows it (no alias prefix).
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub parameters: ModelParameters,
    pub response_format: ResponseFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    pub finish_reason: Option<String>,
}

/// Why a call failed. Messages never contain keys or headers.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    #[error("HTTP {status}: {message}")]
    Http {
        status: u16,
        message: String,
        /// From `Retry-After`, `retry-after-ms` or `x-ratelimit-reset-*`.
        retry_after: Option<Duration>,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("environment variable {var} is not set (it holds the key for provider `{provider}`)")]
    MissingKey { provider: String, var: String },
}

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Identifies provider kind and endpoint in cache keys and reports,
    /// e.g. `openai https://api.openai.com/v1`. Never contains a key.
    fn describe(&self) -> String;
    /// False only for `echo`, which reports must label as not a model.
    fn is_model(&self) -> bool {
        true
    }
    async fn complete(&self, request: &ChatRequest) -> Result<Completion, ProviderError>;
}
