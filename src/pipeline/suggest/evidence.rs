//! What the suggestion model is told about a failing prompt: its messages
//! and snippets, its criteria, and the cases that fail or regressed — only
//! those of the fit part.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::pipeline::gate::{PromptGate, Verdict};
use crate::types::{CaseResult, EvalResult, MessageTemplate, RepoPath};

/// A per-case score below this fails (the gate's pass mark for flips).
const PASS_MARK: f64 = 0.5;
/// Longest output quoted to the model, in characters.
const MAX_OUTPUT_CHARS: usize = 2_000;

/// One criterion of the prompt, as the model sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionBrief {
    pub name: String,
    pub kind: String,
    pub threshold: Option<f64>,
}

/// One criterion's score of one case, on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreBrief {
    pub criterion: String,
    pub score: Option<f64>,
    pub baseline_score: Option<f64>,
    /// The evaluator's reason (a judge's words), or the scoring error.
    pub reason: String,
}

/// One case that fails or regressed.
#[derive(Debug, Clone, Serialize)]
pub struct CaseBrief {
    pub id: String,
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub output: String,
    pub baseline_output: Option<String>,
    pub scores: Vec<ScoreBrief>,
}

/// A shared snippet the prompt includes: the model may edit it too, unless
/// other prompts include it as well.
#[derive(Debug, Clone, Serialize)]
pub struct SnippetBrief {
    pub path: String,
    pub content: String,
    /// The other prompts that include it: only the prompt being fixed is
    /// measured, so an edit of this snippet cannot be verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_included_by: Vec<String>,
}

/// Everything the model is shown about one prompt.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub prompt: String,
    pub path: String,
    pub messages: Vec<MessageTemplate>,
    pub snippets: Vec<SnippetBrief>,
    pub criteria: Vec<CriterionBrief>,
    /// The criterion to fix.
    pub target: String,
    /// Fit cases that fail or regressed on any criterion.
    pub cases: Vec<CaseBrief>,
}

/// The criterion a suggestion should fix when none is named: the first
/// that regressed, else the first below its threshold.
pub fn failing_criterion(gate: &PromptGate) -> Option<String> {
    gate.criteria
        .iter()
        .find(|c| c.verdict == Verdict::Regressed)
        .or_else(|| {
            gate.criteria
                .iter()
                .find(|c| c.threshold_met == Some(false))
        })
        .map(|c| c.criterion.clone())
}

/// A case's mean score per criterion (over repeats; a failed call or a
/// scoring error counts as missing).
fn case_scores(case: &CaseResult, criteria: usize) -> Vec<Option<f64>> {
    (0..criteria)
        .map(|i| {
            let values: Vec<f64> = case
                .repeats
                .iter()
                .filter_map(|r| r.scores.get(i)?.score.as_ref().ok().map(|s| s.value))
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        })
        .collect()
}

/// Per case of `head`: whether the `target` criterion fails on it or
/// scored lower than on the baseline. What the split stratifies by.
pub fn failing_on(
    head: &EvalResult,
    baseline: Option<&EvalResult>,
    target: &str,
) -> Vec<(String, bool)> {
    let index = head.criteria.iter().position(|c| c.name == target);
    let base_index = baseline.and_then(|b| b.criteria.iter().position(|c| c.name == target));
    let base_cases = baseline_by_id(baseline);
    head.cases
        .iter()
        .map(|case| {
            let score = index.and_then(|i| case_scores(&case, i + 1)[i]);
            let base = base_index
                .zip(base_cases.get(case.case_id.as_str()))
                .and_then(|(i, b)| case_scores(b, i + 1)[i]);
            (case.case_id.clone(), fails(score, base))
        })
        .collect()
}

/// A case fails a criterion when it has no score, scores below the pass
/// mark, or scores lower than on the baseline.
fn fails(score: Option<f64>, baseline: Option<f64>) -> bool {
    match (score, baseline) {
        (None, _) => true,
        (Some(s), Some(b)) => s < PASS_MARK || s < b,
        (Some(s), None) => s < PASS_MARK,
    }
}

fn baseline_by_id(baseline: Option<&EvalResult>) -> BTreeMap<String, Cow<'_, CaseResult>> {
    baseline
        .map(|b| b.cases.iter().map(|c| (c.case_id.clone(), c)).collect())
        .unwrap_or_default()
}

fn first_output(case: &CaseResult) -> String {
    let text = match case.repeats.first().map(|r| &r.call.result) {
        Some(Ok(text)) => text.clone(),
        Some(Err(error)) => format!("(the call failed: {error})"),
        None => String::new(),
    };
    if text.chars().count() <= MAX_OUTPUT_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_OUTPUT_CHARS).collect();
    cut.push_str(" […]");
    cut
}

/// The prompt as written and the fit cases that fail or regressed, with
/// their outputs on both sides and every criterion's score and reason.
pub struct EvidenceInput<'a> {
    pub prompt: &'a str,
    pub path: &'a RepoPath,
    pub messages: &'a [MessageTemplate],
    pub snippets: &'a BTreeMap<RepoPath, String>,
    /// The snippets other prompts include too, with those prompts' names.
    pub included_elsewhere: &'a BTreeMap<RepoPath, Vec<String>>,
    pub head: &'a EvalResult,
    pub baseline: Option<&'a EvalResult>,
    pub target: &'a str,
    pub fit: &'a [String],
}

pub fn gather(input: &EvidenceInput<'_>) -> Evidence {
    let head = input.head;
    let criteria = head.criteria.len();
    let base_cases = baseline_by_id(input.baseline);
    let base_index = |name: &str| {
        input
            .baseline
            .and_then(|b| b.criteria.iter().position(|c| c.name == name))
    };
    let cases = head
        .cases
        .iter()
        .filter(|case| input.fit.contains(&case.case_id))
        .filter_map(|case| {
            let scores = case_scores(&case, criteria);
            let base = base_cases.get(case.case_id.as_str()).map(Cow::as_ref);
            let briefs: Vec<ScoreBrief> = head
                .criteria
                .iter()
                .enumerate()
                .map(|(i, info)| {
                    let baseline_score = base
                        .zip(base_index(&info.name))
                        .and_then(|(b, j)| case_scores(b, j + 1)[j]);
                    let reason = case
                        .repeats
                        .first()
                        .and_then(|r| r.scores.get(i))
                        .map(|s| match &s.score {
                            Ok(score) => score.reason.clone(),
                            Err(error) => error.clone(),
                        })
                        .unwrap_or_default();
                    ScoreBrief {
                        criterion: info.name.clone(),
                        score: scores[i],
                        baseline_score,
                        reason,
                    }
                })
                .collect();
            let bad = briefs.iter().any(|b| fails(b.score, b.baseline_score));
            bad.then(|| CaseBrief {
                id: case.case_id.clone(),
                vars: case.vars.clone(),
                output: first_output(&case),
                baseline_output: base.map(first_output),
                scores: briefs,
            })
        })
        .collect();
    Evidence {
        prompt: input.prompt.to_owned(),
        path: input.path.to_string(),
        messages: input.messages.to_vec(),
        snippets: input
            .snippets
            .iter()
            .map(|(path, content)| SnippetBrief {
                path: path.to_string(),
                content: content.clone(),
                also_included_by: input
                    .included_elsewhere
                    .get(path)
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect(),
        criteria: head
            .criteria
            .iter()
            .map(|c| CriterionBrief {
                name: c.name.clone(),
                kind: c.kind.clone(),
                threshold: c.threshold,
            })
            .collect(),
        target: input.target.to_owned(),
        cases,
    }
}
