//! Evaluators: (case, output, call metadata) → a score in [0, 1] and a reason.
//!
//! Every evaluator in [`EvaluatorKind`] is scored here. The deterministic ones
//! are pure functions; the judges (`llm`, `github/*`, `judge`) ask a model
//! through [`JudgeClient`], embeddings come through [`Embedder`], and
//! `command` runs a program. All three edges are traits so the runner plugs
//! in its cached, retried calls and tests plug in scripted doubles.
//!
//! An evaluator that cannot score an output returns an [`EvalError`]; the
//! criterion is then recorded as an error for that case, never as a made-up
//! score. `docs/evaluators.md` documents every evaluator's semantics.

mod command;
mod deterministic;
mod judge;
mod rubrics;
mod similarity;

use std::path::PathBuf;
use std::sync::Arc;

use crate::pipeline::provider::ProviderError;
use crate::types::{
    BuiltinEvaluator, CallOutcome, Case, ChatMessage, CriterionInfo, CriterionScore, EvaluatorKind,
    EvaluatorSpec, KeywordMode, ModelId, Score, ScoreOutOfRange,
};

pub use command::parse_command_output;
pub use judge::{JudgeVerdict, choice_scale, normalised_choice_score, parse_judge_reply};
pub use rubrics::{BuiltinRubric, ExpectedRole, builtin_rubric};
pub use similarity::{cosine_similarity, rouge_l_f1, token_f1};

/// Asks a judge model. The runner implements it over its cached, retried
/// provider calls; tests implement it with scripted replies.
#[async_trait::async_trait]
pub trait JudgeClient: Send + Sync {
    /// One judge call. `attempt` is 0 for the first question and 1 for the
    /// re-ask after an invalid reply: the implementation must make it part of
    /// the cache key so a re-ask is never answered from the cache.
    async fn ask(
        &self,
        model: &ModelId,
        messages: Vec<ChatMessage>,
        attempt: u32,
    ) -> Result<String, JudgeError>;
}

/// Why a judge gave no reply. Every message is fit for a report: none
/// contains a key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// The judge model routes to no usable provider (unknown alias, missing key).
    #[error(transparent)]
    Route(#[from] ProviderError),
    #[error(
        "the judge model {model} routes to the echo provider, which is not a model and cannot \
         judge; set `judge` in promptgate.toml (or the evaluator's model) to a real model"
    )]
    NotAModel { model: ModelId },
    /// The call failed after the runner's retries; its message names the
    /// call, the provider and what to do.
    #[error("{0}")]
    Call(String),
}

/// Turns texts into embedding vectors (a provider's embeddings endpoint).
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// One vector per text, in order.
    async fn embed(&self, model: &ModelId, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String>;
}

/// What evaluators may use besides the case and the output.
#[derive(Clone)]
pub struct EvalContext {
    /// How judges are asked; `None` makes every judge criterion an error.
    pub judge: Option<Arc<dyn JudgeClient>>,
    /// How embeddings are computed; `None` makes `similarity: embedding` an error.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// `judge` from `promptgate.toml`: the model for `judge` and `github/*`
    /// evaluators that name none.
    pub default_judge: Option<ModelId>,
    /// The change under evaluation is untrusted (a fork's pull request), or
    /// this is the server: `command` evaluators are refused.
    pub untrusted: bool,
    /// Commands run here, and a relative program path is resolved from here.
    pub repo_root: PathBuf,
}

impl EvalContext {
    /// A context with no judge, no embedder, trusted, rooted at `repo_root`.
    pub fn new(repo_root: impl Into<PathBuf>) -> Self {
        Self {
            judge: None,
            embedder: None,
            default_judge: None,
            untrusted: false,
            repo_root: repo_root.into(),
        }
    }

    /// The judge model: the evaluator's own, else the configured default,
    /// else the model GitHub's built-in evaluators use.
    fn judge_model(&self, own: Option<&ModelId>) -> ModelId {
        own.cloned()
            .or_else(|| self.default_judge.clone())
            .unwrap_or_else(|| ModelId {
                provider: "openai".into(),
                model: "gpt-4o".into(),
            })
    }

    fn judge_client(&self) -> Result<&dyn JudgeClient, EvalError> {
        self.judge.as_deref().ok_or(EvalError::NoJudge)
    }
}

/// Why a criterion has no score for an output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("no output to score: the model call failed ({0})")]
    CallFailed(String),
    #[error("{0}")]
    Misconfigured(String),
    #[error(
        "case `{case}` has no `{field}`; add `{field}` to the case (testData or dataset) for this evaluator"
    )]
    MissingExpectation { case: String, field: &'static str },
    #[error("no judge client is configured, so judge evaluators cannot run")]
    NoJudge,
    #[error("judge call failed: {0}")]
    JudgeCall(#[from] JudgeError),
    #[error("judge gave no valid score twice: {0}")]
    JudgeReply(String),
    #[error("embedding call failed: {0}")]
    Embedding(String),
    #[error("{0}")]
    Command(String),
    #[error(
        "command evaluators do not run for untrusted changes (pull requests from forks) nor on \
         the promptgate server; they run in the Action and the CLI for trusted changes"
    )]
    Untrusted,
    #[error(transparent)]
    OutOfRange(#[from] ScoreOutOfRange),
}

/// Scores one output on one criterion.
pub async fn evaluate(
    spec: &EvaluatorSpec,
    case: &Case,
    call: &CallOutcome,
    ctx: &EvalContext,
) -> Result<Score, EvalError> {
    let output = match &call.result {
        // `gh models eval` trims the reply before any evaluator sees it;
        // every evaluator here does the same so verdicts agree.
        Ok(text) => text.trim(),
        Err(err) => return Err(EvalError::CallFailed(err.clone())),
    };
    match &spec.kind {
        EvaluatorKind::String { check } => deterministic::string_check(check, case, output),
        EvaluatorKind::Llm {
            model_id,
            prompt,
            choices,
            system_prompt,
        } => {
            judge::llm_choices(
                ctx,
                model_id,
                prompt,
                system_prompt.as_deref(),
                choices,
                case,
                output,
            )
            .await
        }
        EvaluatorKind::Builtin { which } => judge::builtin(ctx, *which, case, output).await,
        EvaluatorKind::UnknownPlugin { uses } => Ok(Score::pass_fail(
            false,
            format!("plugin evaluator '{uses}' not found; gh models eval scores it 0"),
        )),
        EvaluatorKind::Regex { pattern, negate } => {
            deterministic::regex_match(pattern, *negate, case, output)
        }
        EvaluatorKind::Keywords {
            keywords,
            mode,
            case_sensitive,
        } => deterministic::keywords(keywords, *mode, *case_sensitive, case, output),
        EvaluatorKind::Json => Ok(deterministic::json_valid(output)),
        EvaluatorKind::JsonSchema { schema } => deterministic::json_schema(schema, case, output),
        EvaluatorKind::Similarity { method, model } => {
            similarity::score(ctx, *method, model.as_ref(), case, output).await
        }
        EvaluatorKind::Length { min, max, unit } => {
            deterministic::length(*min, *max, *unit, output)
        }
        EvaluatorKind::Latency { max_ms } => Ok(deterministic::latency(*max_ms, call)),
        EvaluatorKind::Cost { max_usd } => deterministic::cost(*max_usd, call),
        EvaluatorKind::Judge {
            criterion,
            rubric,
            model,
        } => judge::custom(ctx, criterion, rubric, model.as_ref(), case, output).await,
        EvaluatorKind::Command {
            program,
            args,
            timeout_s,
        } => command::run(ctx, program, args, *timeout_s, case, output).await,
    }
}

/// Scores one output on every criterion, in the order of `evaluators`.
///
/// Criteria are independent, so they run concurrently: the judge calls of one
/// output overlap (the runner's concurrency limit still applies to them).
pub async fn score_outputs(
    evaluators: &[EvaluatorSpec],
    case: &Case,
    call: &CallOutcome,
    ctx: &EvalContext,
) -> Vec<CriterionScore> {
    let scoring = evaluators.iter().map(|spec| async move {
        let score = evaluate(spec, case, call, ctx).await;
        CriterionScore {
            score: score.map_err(|err| err.to_string()),
        }
    });
    futures::future::join_all(scoring).await
}

/// The criterion as the store and the gate see it.
pub fn criterion_info(spec: &EvaluatorSpec) -> CriterionInfo {
    CriterionInfo {
        name: spec.name.clone(),
        kind: kind_name(&spec.kind),
        weight: spec.weight,
        threshold: spec.threshold,
        binary: is_binary(&spec.kind),
        line: spec.line,
    }
}

/// The evaluator's key as written in a prompt file.
fn kind_name(kind: &EvaluatorKind) -> String {
    let name = match kind {
        EvaluatorKind::String { .. } => "string",
        EvaluatorKind::Llm { .. } => "llm",
        EvaluatorKind::Builtin { which } => {
            return format!("github/{}", builtin_name(*which));
        }
        EvaluatorKind::UnknownPlugin { uses } => return uses.clone(),
        EvaluatorKind::Regex { .. } => "regex",
        EvaluatorKind::Keywords { .. } => "keywords",
        EvaluatorKind::Json => "json",
        EvaluatorKind::JsonSchema { .. } => "jsonSchema",
        EvaluatorKind::Similarity { .. } => "similarity",
        EvaluatorKind::Length { .. } => "length",
        EvaluatorKind::Latency { .. } => "latency",
        EvaluatorKind::Cost { .. } => "cost",
        EvaluatorKind::Judge { .. } => "judge",
        EvaluatorKind::Command { .. } => "command",
    };
    name.to_string()
}

pub(crate) fn builtin_name(which: BuiltinEvaluator) -> &'static str {
    match which {
        BuiltinEvaluator::Similarity => "similarity",
        BuiltinEvaluator::Coherence => "coherence",
        BuiltinEvaluator::Fluency => "fluency",
        BuiltinEvaluator::Relevance => "relevance",
        BuiltinEvaluator::Groundedness => "groundedness",
    }
}

/// Whether every score the evaluator can give is 0 or 1, so the gate may use
/// an exact test for paired pass/fail data.
fn is_binary(kind: &EvaluatorKind) -> bool {
    match kind {
        EvaluatorKind::String { .. }
        | EvaluatorKind::Regex { .. }
        | EvaluatorKind::Json
        | EvaluatorKind::JsonSchema { .. }
        | EvaluatorKind::Length { .. }
        | EvaluatorKind::Latency { .. }
        | EvaluatorKind::Cost { .. }
        | EvaluatorKind::UnknownPlugin { .. } => true,
        // `all` scores the fraction found, which is binary only for one keyword.
        EvaluatorKind::Keywords { keywords, mode, .. } => {
            *mode == KeywordMode::Any || keywords.len() == 1
        }
        // No match scores 0 (GitHub's rule), so choices scoring 0 or the
        // top of their scale give pass/fail scores.
        EvaluatorKind::Llm { choices, .. } => {
            let top = judge::choice_scale(choices);
            choices
                .iter()
                .all(|choice| choice.score <= 0.0 || choice.score == top)
        }
        EvaluatorKind::Builtin { .. }
        | EvaluatorKind::Similarity { .. }
        | EvaluatorKind::Judge { .. }
        | EvaluatorKind::Command { .. } => false,
    }
}

/// Cuts `text` to at most `max` characters (on a char boundary), marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
