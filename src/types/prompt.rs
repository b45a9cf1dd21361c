//! A prompt as plain data: what a `*.prompt.yml` file says once parsed and
//! validated (the spec stage builds these), and what a published version
//! holds. Every later stage reads these types; none of them does I/O.

use serde::{Deserialize, Serialize};

use super::case::Case;
use super::path::RepoPath;

/// A model id as written in a prompt file, e.g. `openai/gpt-4o-mini`: a
/// publisher, which doubles as a provider alias from `promptgate.toml`, and
/// the model. An id no alias could claim (no `/`, as in `gpt-4o-mini`, or a
/// publisher with other characters, as in `github:openai/gpt-4.1-mini`) has
/// an empty publisher and is kept whole in `model`: it belongs to GitHub
/// Models, which receives it exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    pub provider: String,
    pub model: String,
}

impl ModelId {
    /// Reads a model id. `publisher/model` splits at the first `/` when the
    /// publisher is a possible alias (letters, digits, `-`, `_`, `.`); the
    /// model part may itself contain `/` or `:` (`ollama/llama3.1:8b`,
    /// `openrouter/meta-llama/llama-3-8b`). Any other id without white space
    /// is kept whole, for GitHub Models.
    pub fn parse(text: &str) -> Result<ModelId, String> {
        let problem = |why: &str| {
            format!(
                "`{text}` is not a model id: {why} (write `publisher/model`, e.g. `openai/gpt-4o-mini`)"
            )
        };
        if text.is_empty() {
            return Err(problem("it is empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(problem("it contains white space"));
        }
        if let Some((provider, model)) = text.split_once('/') {
            let alias = !provider.is_empty()
                && provider
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if alias && !model.is_empty() {
                return Ok(ModelId {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                });
            }
            if model.is_empty() {
                return Err(problem("nothing follows the `/`"));
            }
        }
        Ok(ModelId {
            provider: String::new(),
            model: text.to_owned(),
        })
    }

    /// The id has no publisher any provider alias could claim.
    pub fn is_unclaimable(&self) -> bool {
        self.provider.is_empty()
    }
}

impl std::str::FromStr for ModelId {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ModelId::parse(text)
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.provider.is_empty() {
            f.write_str(&self.model)
        } else {
            write!(f, "{}/{}", self.provider, self.model)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        })
    }
}

/// One message of the conversation, its content still a minijinja template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageTemplate {
    pub role: Role,
    pub content: String,
}

/// Sampling parameters, named as the GitHub Models format names them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// `maxCompletionTokens` (the `actions/ai-inference` schema's name; `gh
    /// models eval` does not send it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
}

impl ModelParameters {
    /// The most output tokens asked for: `maxCompletionTokens` when set
    /// (it is the newer name), else `maxTokens`.
    pub fn output_cap(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Text,
    JsonObject,
    /// The schema as a JSON value, whether the file wrote it as a JSON
    /// string (as GitHub does) or as a YAML map.
    JsonSchema {
        schema: serde_json::Value,
    },
}

/// How a prompt file is read: its templates, its case values and columns.
/// docs/github-models.md has the whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// A file that uses only GitHub Models keys reads exactly as `gh models
    /// eval` reads it: `{{name}}` is replaced where written exactly so,
    /// values render as Go prints them, YAML scalars resolve as Go's
    /// `yaml.v3` resolves them, and no case column has a meaning of its own.
    Github,
    /// A file that uses promptgate's own keys (or says `semantics:
    /// promptgate`): minijinja templates with includes, variables a case must
    /// define, and the expectation columns `id`, `expected`, `keywords`,
    /// `regex`, `schema`.
    #[default]
    Promptgate,
}

impl Semantics {
    pub fn is_github(self) -> bool {
        self == Semantics::Github
    }
}

/// A validated prompt file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSpec {
    /// Where the file lives; names it in every diagnostic.
    pub path: RepoPath,
    pub name: String,
    pub description: Option<String>,
    /// How the file's templates and cases are read.
    pub semantics: Semantics,
    pub model: ModelId,
    pub parameters: ModelParameters,
    pub response_format: ResponseFormat,
    pub messages: Vec<MessageTemplate>,
    /// Inline `testData`, in file order.
    pub test_data: Vec<Case>,
    /// promptgate's `dataset` key: cases from a JSONL, CSV or YAML file.
    pub dataset: Option<RepoPath>,
    pub evaluators: Vec<EvaluatorSpec>,
    /// How many times each case is sent (for noisy models and judges).
    pub repeats: u32,
    pub gate: GateOverrides,
    pub tags: Vec<String>,
    pub owner: Option<String>,
}

/// Per-prompt overrides of the gate policy in `promptgate.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateOverrides {
    pub tolerance: Option<f64>,
    pub confidence: Option<f64>,
    pub min_cases: Option<u32>,
    pub fail_on: Option<FailOn>,
}

/// One criterion: how an output is scored, plus how much it counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorSpec {
    /// Unique within the prompt; the criterion's name in every report.
    pub name: String,
    pub kind: EvaluatorKind,
    pub weight: f64,
    /// The head's mean score must reach this on its own, whatever the baseline.
    pub threshold: Option<f64>,
    /// Line of the evaluator in its prompt file, for annotations.
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StringCheck {
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    Equals(String),
}

/// GitHub Models' built-in evaluators (`uses: github/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinEvaluator {
    Similarity,
    Coherence,
    Fluency,
    Relevance,
    Groundedness,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmChoice {
    pub choice: String,
    pub score: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMode {
    #[default]
    All,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimilarityMethod {
    TokenF1,
    RougeL,
    /// Cosine similarity of embeddings from this provider model.
    Embedding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    #[default]
    Chars,
    Words,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EvaluatorKind {
    /// GitHub Models `string`.
    String {
        check: StringCheck,
    },
    /// GitHub Models `llm`: a judge prompt whose reply is one of `choices`.
    Llm {
        model_id: ModelId,
        prompt: String,
        choices: Vec<LlmChoice>,
        system_prompt: Option<String>,
    },
    /// GitHub Models `uses: github/<name>`.
    Builtin {
        which: BuiltinEvaluator,
    },
    /// A `uses:` gh does not know: it scores 0 on every case, as in gh.
    UnknownPlugin {
        uses: String,
    },
    Regex {
        pattern: String,
        negate: bool,
    },
    Keywords {
        keywords: Vec<String>,
        mode: KeywordMode,
        case_sensitive: bool,
    },
    /// The output parses as JSON.
    Json,
    JsonSchema {
        schema: serde_json::Value,
    },
    /// Against the case's `expected`.
    Similarity {
        method: SimilarityMethod,
        model: Option<ModelId>,
    },
    Length {
        min: Option<u64>,
        max: Option<u64>,
        unit: LengthUnit,
    },
    Latency {
        max_ms: u64,
    },
    Cost {
        max_usd: f64,
    },
    /// promptgate's judge: a criterion scored on a 1–5 rubric.
    Judge {
        criterion: String,
        /// Five descriptions, for scores 1 to 5; a default rubric when empty.
        rubric: Vec<String>,
        model: Option<ModelId>,
    },
    /// An external program: case and output as JSON on stdin, score on stdout.
    Command {
        program: String,
        args: Vec<String>,
        timeout_s: u64,
    },
}

/// When the gate makes `check` exit 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
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

/// What a published version sends to the model: everything its [`VersionId`](super::VersionId)
/// hashes, with includes already resolved into the message texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptContent {
    /// How the messages are templates: an app renders them the same way.
    #[serde(default)]
    pub semantics: Semantics,
    pub messages: Vec<MessageTemplate>,
    pub model: ModelId,
    pub parameters: ModelParameters,
    pub response_format: ResponseFormat,
}
