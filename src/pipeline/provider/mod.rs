//! The provider edge: one trait, one implementation per wire format.
//!
//! - `openai`, `openai-compatible` and `github-models` speak OpenAI chat
//!   completions ([`openai`]);
//! - `anthropic` speaks the Messages API ([`anthropic`]);
//! - `ollama` speaks Ollama's native `/api/chat` ([`ollama`]);
//! - `echo` is not a model: it returns the rendered conversation ([`echo`]).
//!
//! [`build`] turns a `[providers.<alias>]` table into a ready provider; keys
//! are read from the environment variable the config names, once, at build
//! time, so a missing key fails before any call is made.

use std::sync::Arc;
use std::time::Duration;

use crate::pipeline::config::{ProviderConfig, ProviderKind};
use crate::types::{ChatRequest, Completion};

pub mod anthropic;
pub mod echo;
pub(crate) mod http;
pub mod ollama;
pub mod openai;

pub use http::{ApiKey, parse_retry_after};

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
    #[error(
        "unknown provider `{alias}`: add a [providers.{alias}] table to promptgate.toml \
         (kinds: openai, anthropic, ollama, openai-compatible, github-models, echo)"
    )]
    UnknownProvider { alias: String },
    #[error("provider `{provider}` is misconfigured: {message}")]
    Config { provider: String, message: String },
}

impl ProviderError {
    /// Worth another attempt: throttling, overload, server faults, and
    /// failures of the connection itself. Client errors (400, 401, 403, 404,
    /// 422, …) and malformed answers are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Http { status, .. } => {
                matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529)
            }
            ProviderError::Timeout(_) | ProviderError::Transport(_) => true,
            ProviderError::Malformed(_)
            | ProviderError::MissingKey { .. }
            | ProviderError::UnknownProvider { .. }
            | ProviderError::Config { .. } => false,
        }
    }

    /// The server's own word on when to come back, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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

/// The endpoint a kind talks to when the config names none.
pub fn default_base_url(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Ollama => Some("http://127.0.0.1:11434"),
        ProviderKind::GithubModels => Some("https://models.github.ai/inference"),
        // Any server: the config must say which.
        ProviderKind::OpenaiCompatible => None,
        ProviderKind::Echo => None,
    }
}

/// The variable holding the key when the config names none.
pub fn default_api_key_env(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some("OPENAI_API_KEY"),
        ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
        ProviderKind::GithubModels => Some("GITHUB_TOKEN"),
        // Local servers usually take no key; a config may still name one.
        ProviderKind::OpenaiCompatible | ProviderKind::Ollama | ProviderKind::Echo => None,
    }
}

/// A provider table of `kind` with every default filled in.
pub fn config_for_kind(kind: ProviderKind) -> ProviderConfig {
    ProviderConfig {
        kind,
        base_url: None,
        api_key_env: None,
        concurrency: crate::pipeline::config::defaults::concurrency(),
        requests_per_minute: None,
        timeout_s: crate::pipeline::config::defaults::timeout_s(),
        max_retries: crate::pipeline::config::defaults::max_retries(),
    }
}

/// Builds the provider for `alias` from its table. Reads the key now, so a
/// missing one is reported (by variable name) before any call.
pub fn build(alias: &str, config: &ProviderConfig) -> Result<Arc<dyn Provider>, ProviderError> {
    let key_var = match config.kind {
        ProviderKind::Echo => None,
        kind => config.api_key_env.as_deref().or(default_api_key_env(kind)),
    };
    let key = match key_var {
        Some(var) => Some(ApiKey::from_env(alias, var)?),
        None => None,
    };
    build_with_key(alias, config, key)
}

/// As [`build`], with the key given rather than read from the environment.
pub fn build_with_key(
    alias: &str,
    config: &ProviderConfig,
    key: Option<ApiKey>,
) -> Result<Arc<dyn Provider>, ProviderError> {
    if config.kind == ProviderKind::Echo {
        return Ok(Arc::new(echo::EchoProvider));
    }
    let base_url = match config.base_url.as_deref().or(default_base_url(config.kind)) {
        Some(url) => http::parse_base_url(alias, url)?,
        None => {
            return Err(ProviderError::Config {
                provider: alias.to_string(),
                message: "`base_url` is required for kind `openai-compatible` \
                          (e.g. base_url = \"http://127.0.0.1:8000/v1\")"
                    .to_string(),
            });
        }
    };
    let client = http::client(Duration::from_secs(config.timeout_s.max(1)), alias)?;
    let provider: Arc<dyn Provider> = match config.kind {
        ProviderKind::Openai => Arc::new(openai::OpenAiProvider::new(
            openai::Flavor::OpenAi,
            client,
            base_url,
            key,
            alias,
        )),
        ProviderKind::OpenaiCompatible => Arc::new(openai::OpenAiProvider::new(
            openai::Flavor::Compatible,
            client,
            base_url,
            key,
            alias,
        )),
        ProviderKind::GithubModels => Arc::new(openai::OpenAiProvider::new(
            openai::Flavor::GithubModels,
            client,
            base_url,
            key,
            alias,
        )),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicProvider::new(
            client,
            base_url,
            key.ok_or_else(|| ProviderError::Config {
                provider: alias.to_string(),
                message: "anthropic needs a key; set `api_key_env`".to_string(),
            })?,
        )),
        ProviderKind::Ollama => Arc::new(ollama::OllamaProvider::new(client, base_url, key)),
        ProviderKind::Echo => unreachable!("handled above"),
    };
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_exactly_the_transient_ones() {
        for status in [408, 409, 429, 500, 502, 503, 504, 529] {
            let error = ProviderError::Http {
                status,
                message: String::new(),
                retry_after: None,
            };
            assert!(error.is_retryable(), "{status} should be retried");
        }
        for status in [400, 401, 403, 404, 422] {
            let error = ProviderError::Http {
                status,
                message: String::new(),
                retry_after: None,
            };
            assert!(!error.is_retryable(), "{status} must not be retried");
        }
    }

    #[test]
    fn missing_key_names_the_variable() {
        let mut table = config_for_kind(ProviderKind::Openai);
        table.api_key_env = Some("PROMPTGATE_TEST_SURELY_UNSET_KEY".into());
        let error = build("openai", &table).err().unwrap();
        assert_eq!(
            error,
            ProviderError::MissingKey {
                provider: "openai".into(),
                var: "PROMPTGATE_TEST_SURELY_UNSET_KEY".into()
            }
        );
        assert!(
            error
                .to_string()
                .contains("PROMPTGATE_TEST_SURELY_UNSET_KEY")
        );
    }

    #[test]
    fn promptgate_secrets_are_never_provider_keys() {
        let mut table = config_for_kind(ProviderKind::Openai);
        table.api_key_env = Some("PROMPTGATE_WEBHOOK_SECRET".into());
        let error = build("openai", &table).err().unwrap().to_string();
        assert!(
            error.contains("PROMPTGATE_WEBHOOK_SECRET") && error.contains("own secrets"),
            "{error}"
        );
    }

    #[test]
    fn compatible_without_base_url_says_how_to_fix() {
        let table = config_for_kind(ProviderKind::OpenaiCompatible);
        let error = build("local", &table).err().unwrap();
        assert!(error.to_string().contains("base_url"), "{error}");
    }

    #[test]
    fn echo_is_not_a_model() {
        let echo = build("echo", &config_for_kind(ProviderKind::Echo)).unwrap();
        assert!(!echo.is_model());
        assert_eq!(echo.describe(), "echo");
    }
}
