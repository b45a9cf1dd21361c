//! What the tools take and return: each input and each structured result
//! derives its JSON Schema, which the tool listing publishes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edges::registry::{LabelMove, LabelTarget};
use crate::flows::listing::Listed;
use crate::pipeline::report::{self, CheckReport};

/// A value as the JSON object a structured result carries (tool results
/// must be objects).
pub fn as_object<T: Serialize>(
    value: &T,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::to_value(value).map_err(|e| e.to_string())? {
        serde_json::Value::Object(object) => Ok(object),
        other => Err(format!("expected a JSON object, made {other}")),
    }
}

/// Prompts by name or path; none means every prompt.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Selection {
    /// Prompt names or paths of `.prompt.yml` files (default: every prompt).
    #[serde(default)]
    pub prompts: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadPrompt {
    /// The prompt's `name` or the path of its file.
    pub prompt: String,
    /// A published version (`v3`, `3`) or a label (`production`) to read
    /// from the registry; absent: the file in the working tree.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiffPrompt {
    /// The prompt's `name` or file path; `NAME@v7` or `NAME@production`
    /// also names the old version.
    pub prompt: String,
    /// The old version: a git revision or a published version (`@v7`,
    /// `@production`); default: the merge base of HEAD with the default branch.
    #[serde(default)]
    pub from: Option<String>,
    /// The new version, in the same forms; default: the working tree.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Validate {
    /// Prompt files or folders to check, relative to the repository
    /// (default: every prompt the config finds).
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Check {
    /// Compare against this revision (default: the merge base with the default branch).
    #[serde(default)]
    pub base: Option<String>,
    /// Evaluate every prompt, changed or not.
    #[serde(default)]
    pub all: bool,
    /// Only these prompts (by name).
    #[serde(default)]
    pub prompts: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Results {
    /// `eval` (default): the scores of the prompts as they are now, from
    /// this session's last evaluation or the store; `check`: the verdicts
    /// of this session's last check.
    #[serde(default)]
    pub of: ResultsOf,
    /// Only these prompts (eval only; default: every prompt).
    #[serde(default)]
    pub prompts: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultsOf {
    #[default]
    Eval,
    Check,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Promote {
    /// The prompt's name.
    pub prompt: String,
    /// The version: `v7`, `7`, or a version id.
    pub version: String,
    /// The environment label to move, e.g. `staging` or `production`.
    pub to: String,
    /// Why; recorded with the move (needed with `force`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Override the promotion policy (recorded as forced).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Rollback {
    /// The prompt's name.
    pub prompt: String,
    /// The label to move back to its previous version.
    pub label: String,
    /// Why; recorded with the move.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PromptList {
    pub prompts: Vec<Listed>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PromptText {
    pub name: String,
    /// Where it was read: the file's path, or `NAME@vN (registry …)`.
    pub source: String,
    /// The prompt file as it is (working tree only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The published version, with its content (registry only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffText {
    pub name: String,
    pub from: String,
    pub to: String,
    /// Set when the prompt exists on one side only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The word-level diff, as markdown.
    pub markdown: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Validated {
    pub prompts: usize,
    pub cases: usize,
    /// Warnings, each as `file:line:col: warning: …`.
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Estimated {
    pub calls: usize,
    pub cached: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Upper bound, US dollars, of the priced uncached calls.
    pub max_cost_usd: f64,
    /// Models without a price: their cost is not included.
    pub unpriced_models: Vec<String>,
    /// Judge calls depend on the outputs and are not included.
    pub judge_calls_included: bool,
}

/// A report, as the CLI prints it and as `schemas/report.schema.json` describes it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Reported {
    /// `pass`, `warn` or `fail`.
    pub status: String,
    /// `check` only: whether the gate failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_failed: Option<bool>,
    /// The table `promptgate eval` / `check` prints.
    pub summary: String,
    /// Prompts whose current version has no stored result yet (`results` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_evaluated: Vec<String>,
    /// The JSON report (schemas/report.schema.json).
    pub report: serde_json::Map<String, serde_json::Value>,
}

impl Reported {
    pub fn new(report: &CheckReport, gate_failed: Option<bool>) -> Result<Self, String> {
        let json = report::json::render(report).map_err(|e| e.to_string())?;
        let report_json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&json).map_err(|e| e.to_string())?;
        Ok(Reported {
            status: report_json
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_owned(),
            gate_failed,
            summary: report::terminal::render(report, false),
            not_evaluated: Vec::new(),
            report: report_json,
        })
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Published {
    /// One line per prompt, as `promptgate publish` prints.
    pub published: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Moved {
    pub prompt: String,
    pub label: String,
    pub to: String,
    /// `unset` when the label was new.
    pub from: String,
    pub forced: bool,
}

impl Moved {
    pub fn of(moved: &LabelMove) -> Self {
        Moved {
            prompt: moved.prompt.clone(),
            label: moved.label.clone(),
            to: moved.to.to_string(),
            from: moved
                .from
                .as_ref()
                .map_or("unset".to_string(), LabelTarget::to_string),
            forced: moved.forced,
        }
    }
}
