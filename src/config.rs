//! `promptgate.toml`: everything optional, with defaults a new repository
//! can run on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// When the gate makes `check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    /// A criterion regressed, or an absolute threshold was missed.
    #[default]
    Regression,
    /// As `regression`, and also when a criterion could not be decided.
    Inconclusive,
    /// Report only.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Ollama,
    OpenaiCompatible,
    GithubModels,
    /// Not a model: returns the rendered conversation. For demos and tests.
    Echo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// The name of the environment variable holding the key, never the key.
    pub api_key_env: Option<String>,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    pub requests_per_minute: Option<u32>,
    #[serde(default = "defaults::timeout_s")]
    pub timeout_s: u64,
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    /// Deltas within ±tolerance (on the 0–1 score scale) count as unchanged.
    #[serde(default = "defaults::tolerance")]
    pub tolerance: f64,
    /// Confidence level of the intervals, e.g. 0.95.
    #[serde(default = "defaults::confidence")]
    pub confidence: f64,
    /// Fewer paired cases than this is always inconclusive.
    #[serde(default = "defaults::min_cases")]
    pub min_cases: u32,
    #[serde(default)]
    pub fail_on: FailOn,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            tolerance: defaults::tolerance(),
            confidence: defaults::confidence(),
            min_cases: defaults::min_cases(),
            fail_on: FailOn::default(),
        }
    }
}

/// Price of a model in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

pub(crate) mod defaults {
    pub fn concurrency() -> usize {
        8
    }
    pub fn timeout_s() -> u64 {
        60
    }
    pub fn max_retries() -> u32 {
        4
    }
    pub fn tolerance() -> f64 {
        0.02
    }
    pub fn confidence() -> f64 {
        0.95
    }
    pub fn min_cases() -> u32 {
        10
    }
}

/// The whole of `promptgate.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Globs of prompt files; default `**/*.prompt.yml` and `**/*.prompt.yaml`.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// The local store; default `.promptgate`.
    pub store: Option<String>,
    /// Registry URL: `sqlite://…`, `postgres://…`, `git+branch://NAME`.
    pub registry: Option<String>,
    /// Provider aliases: a model id `alias/model` routes to `providers.alias`.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Default judge model (`alias/model`) for `judge`, `llm` and `github/*` evaluators.
    pub judge: Option<String>,
    #[serde(default)]
    pub gate: GatePolicy,
    /// Model id (`alias/model` or bare model name) → price.
    #[serde(default)]
    pub pricing: BTreeMap<String, ModelPrice>,
    /// Environments in promotion order, e.g. `["staging", "production"]`.
    #[serde(default)]
    pub environments: Vec<String>,
}
