//! What the tools take and return: each input and each structured result
//! derives its JSON Schema, which the tool listing publishes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edges::registry::{LabelMove, LabelTarget};
use crate::flows::listing::Listed;
use crate::pipeline::gate::{CriterionGate, PromptGate};
use crate::pipeline::report::{self, CheckReport};
use crate::pipeline::suggest::{FileEdit, PromptSuggestion, SuggestStatus, Verified, render};
use crate::pipeline::textdiff;

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

impl Validated {
    /// A validation as the `validate` tools answer it, or its errors, each
    /// as `file:line:col: error: …`.
    pub fn of(validation: crate::flows::validate::Validation) -> Result<Self, Vec<String>> {
        let (errors, warnings): (Vec<_>, Vec<_>) = validation
            .diagnostics
            .0
            .iter()
            .partition(|d| d.severity == crate::types::Severity::Error);
        if !errors.is_empty() {
            return Err(errors.iter().map(ToString::to_string).collect());
        }
        Ok(Self {
            prompts: validation.prompts,
            cases: validation.cases,
            warnings: warnings.iter().map(ToString::to_string).collect(),
            notes: validation.notes,
        })
    }
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

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Suggest {
    /// The prompts to fix, by name or path (default: every prompt the
    /// change affects whose gate failed).
    #[serde(default)]
    pub prompts: Vec<String>,
    /// One prompt to fix: the same as `prompts` with one name.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The criterion to fix (default: the first that regressed, else the
    /// first below its threshold).
    #[serde(default)]
    pub criterion: Option<String>,
    /// How many candidate edits to ask for, 1 to 10 (default: `[suggest]
    /// candidates`).
    #[serde(default)]
    pub candidates: Option<u32>,
    /// Compare against this revision (default: the merge base with the default branch).
    #[serde(default)]
    pub base: Option<String>,
    /// Write each verified suggestion into the files, as `promptgate
    /// suggest --write` does.
    #[serde(default)]
    pub apply: bool,
}

/// `promptgate suggest`'s account, one entry per prompt asked about.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Suggested {
    /// Whether the check the suggestions start from failed its gate.
    pub gate_failed: bool,
    /// Set when there was nothing to suggest for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub suggestions: Vec<SuggestionOf>,
    /// The files written (`apply` only).
    pub applied: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SuggestionOf {
    pub prompt: String,
    pub path: String,
    /// `verified`, `none_survived`, `cannot_verify` (too few cases, over
    /// the budget: nothing was asked) or `nothing_to_fix`.
    pub status: String,
    /// The line the pull request's comment carries about it.
    pub headline: String,
    /// The criterion the edit must improve.
    pub target: Option<String>,
    pub split: Option<SplitSizes>,
    /// Every candidate the model proposed, in its order.
    pub candidates: Vec<CandidateOf>,
    /// The surviving candidate (status `verified` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<VerifiedEdit>,
    /// Everything finding it cost: the suggestion call, the candidates'
    /// evaluations and their judges.
    pub cost: Cost,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SplitSizes {
    /// Cases shown to the suggestion model.
    pub fit: usize,
    /// Cases kept back to verify its edits.
    pub held_out: usize,
    pub seed: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CandidateOf {
    /// 1-based, in the model's order.
    pub number: usize,
    pub survived: bool,
    /// Why it was refused (absent when it survived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// The model's reasons, `where: why`.
    pub rationale: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifiedEdit {
    /// The target criterion's movement and the rule it passed, in a sentence.
    pub effect: String,
    /// Every criterion against the current version, on the held-out cases.
    pub held_out: Vec<Movement>,
    /// The same on all cases.
    pub all_cases: Vec<Movement>,
    /// The word-level diff of each file it changes, as markdown.
    pub diff_markdown: String,
    pub edits: Vec<EditOf>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Movement {
    pub criterion: String,
    /// `improved`, `unchanged`, `regressed`, `inconclusive` or `new`.
    pub verdict: String,
    /// The current version's mean.
    pub before: Option<f64>,
    /// The edited version's mean.
    pub after: Option<f64>,
    pub delta: Option<f64>,
    /// The confidence interval of `delta`, `[low, high]`.
    pub interval: Option<[f64; 2]>,
    pub cases: usize,
}

/// One file's edit: lines `start_line..=end_line` (1-based, of the file as
/// it is) replaced by `new_text`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EditOf {
    pub path: String,
    /// A shared snippet: every prompt that includes it changes.
    pub snippet: bool,
    pub start_line: u32,
    pub end_line: u32,
    /// The lines replaced, as they are now.
    pub old_text: String,
    /// What replaces them.
    pub new_text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Cost {
    /// US dollars, of the priced calls made.
    pub usd: f64,
    /// As the CLI says it, unpriced calls included.
    pub text: String,
    pub calls_made: u64,
    pub calls_cached: u64,
}

impl SuggestionOf {
    pub fn of(suggestion: &PromptSuggestion) -> Self {
        let status = match &suggestion.status {
            SuggestStatus::Found(_) => "verified",
            SuggestStatus::NoneSurvived => "none_survived",
            SuggestStatus::CannotVerify(_) => "cannot_verify",
            SuggestStatus::NothingToFix => "nothing_to_fix",
        };
        SuggestionOf {
            prompt: suggestion.prompt.clone(),
            path: suggestion.path.to_string(),
            status: status.to_owned(),
            headline: render::headline(suggestion),
            target: suggestion.target.clone(),
            split: suggestion.split.as_ref().map(|split| SplitSizes {
                fit: split.fit.len(),
                held_out: split.held_out.len(),
                seed: split.seed.clone(),
            }),
            candidates: suggestion
                .candidates
                .iter()
                .map(|fate| CandidateOf {
                    number: fate.number,
                    survived: fate.rejected.is_none(),
                    rejected: fate.rejected.clone(),
                    rationale: fate.rationale.clone(),
                })
                .collect(),
            verified: suggestion
                .verified()
                .map(|verified| VerifiedEdit::of(suggestion, verified)),
            cost: Cost {
                usd: suggestion.cost.cost_usd,
                text: suggestion.cost.cost_text(),
                calls_made: suggestion.cost.made,
                calls_cached: suggestion.cost.cached,
            },
        }
    }
}

impl VerifiedEdit {
    fn of(suggestion: &PromptSuggestion, verified: &Verified) -> Self {
        let movements = |gate: &PromptGate| gate.criteria.iter().map(Movement::of).collect();
        VerifiedEdit {
            effect: render::effect(suggestion, verified),
            held_out: movements(&verified.judged.held_out),
            all_cases: movements(&verified.judged.all),
            diff_markdown: verified
                .files
                .iter()
                .map(|file| {
                    format!(
                        "**{}**\n\n{}",
                        file.path,
                        textdiff::diff_markdown(&file.old, &file.new)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n\n"),
            edits: verified.files.iter().map(EditOf::of).collect(),
        }
    }
}

impl Movement {
    fn of(gate: &CriterionGate) -> Self {
        let verdict = serde_json::to_value(gate.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Movement {
            criterion: gate.criterion.clone(),
            verdict,
            before: gate.baseline_mean,
            after: gate.head_mean,
            delta: gate.delta,
            interval: gate.interval.map(|(low, high)| [low, high]),
            cases: gate.paired_cases,
        }
    }
}

impl EditOf {
    fn of(file: &FileEdit) -> Self {
        let lines = &file.lines;
        let old_text = file
            .old
            .split('\n')
            .skip(lines.start_line as usize - 1)
            .take((lines.end_line + 1 - lines.start_line) as usize)
            .collect::<Vec<_>>()
            .join("\n");
        EditOf {
            path: file.path.to_string(),
            snippet: file.snippet,
            start_line: lines.start_line,
            end_line: lines.end_line,
            old_text,
            new_text: lines.replacement.join("\n"),
        }
    }
}
