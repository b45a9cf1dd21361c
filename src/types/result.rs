//! What an evaluation produces: a score per criterion per output, and the
//! result of evaluating one prompt version, which the store keeps by
//! fingerprint and the gate compares.

use serde::{Deserialize, Serialize};

use super::call::{CallOutcome, CallStats};
use super::cases::Cases;
use super::ids::{Fingerprint, VersionId};

/// One criterion's verdict on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// In [0, 1]; a judge's 1–5 maps to (n − 1) / 4.
    pub value: f64,
    /// Short, human: why this score (a judge's reason is kept here).
    pub reason: String,
    /// How to show the score when not as 0–1, e.g. `4/5`.
    pub display: Option<String>,
}

impl Score {
    /// A pass (1) or a fail (0).
    pub fn pass_fail(passed: bool, reason: impl Into<String>) -> Self {
        Self {
            value: if passed { 1.0 } else { 0.0 },
            reason: reason.into(),
            display: None,
        }
    }

    /// A graded score; refuses values outside [0, 1] (and NaN) rather than
    /// clamping them, so a broken evaluator shows up as an error.
    pub fn graded(value: f64, reason: impl Into<String>) -> Result<Self, ScoreOutOfRange> {
        if !(0.0..=1.0).contains(&value) {
            return Err(ScoreOutOfRange(value));
        }
        Ok(Self {
            value,
            reason: reason.into(),
            display: None,
        })
    }
}

/// A graded score outside [0, 1] (or NaN): a broken evaluator, reported as
/// an error rather than clamped.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("evaluator produced score {0}, which is outside [0, 1]")]
pub struct ScoreOutOfRange(pub f64);

/// A criterion as it was when the result was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionInfo {
    pub name: String,
    /// e.g. `judge`, `regex`, `string`.
    pub kind: String,
    pub weight: f64,
    pub threshold: Option<f64>,
    /// Scores are pass/fail (0 or 1) by construction: the gate may use an exact test.
    pub binary: bool,
    pub line: Option<u32>,
}

/// One criterion's score of one output: the score, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionScore {
    pub score: Result<Score, String>,
}

/// One repeat of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatResult {
    pub call: CallOutcome,
    /// In the order of `EvalResult::criteria`.
    pub scores: Vec<CriterionScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub case_id: String,
    /// The case's variables, for reports of the worst cases.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub repeats: Vec<RepeatResult>,
}

/// The stored outcome of evaluating one prompt version: what the gate compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub prompt: String,
    pub version: VersionId,
    pub fingerprint: Fingerprint,
    /// `publisher/model` the outputs came from.
    pub model: String,
    /// False when the outputs came from the echo provider.
    pub from_model: bool,
    pub criteria: Vec<CriterionInfo>,
    /// In memory, or in a temporary file for a large suite.
    pub cases: Cases,
    /// RFC 3339.
    pub created_at: String,
}

impl EvalResult {
    /// Calls that got no answer (provider errors, timeouts): a result with
    /// any is incomplete and is never stored or used as a baseline.
    pub fn failed_calls(&self) -> usize {
        self.cases
            .iter()
            .map(|case| {
                case.repeats
                    .iter()
                    .filter(|repeat| repeat.call.result.is_err())
                    .count()
            })
            .sum()
    }

    /// Cases whose every repeat scored above 0 on every criterion: `gh
    /// models eval`'s rule for a passed test (a failed call or an error
    /// fails the case). With the number of cases.
    pub fn cases_passing_every_criterion(&self) -> (usize, usize) {
        let passed = self
            .cases
            .iter()
            .filter(|case| {
                case.repeats.iter().all(|repeat| {
                    repeat.call.result.is_ok()
                        && repeat
                            .scores
                            .iter()
                            .all(|s| s.score.as_ref().is_ok_and(|score| score.value > 0.0))
                })
            })
            .count();
        (passed, self.cases.len())
    }

    /// The output calls recorded in the result (judge calls are not in it).
    pub fn call_stats(&self) -> CallStats {
        let mut stats = CallStats::default();
        for case in &self.cases {
            case.repeats
                .iter()
                .for_each(|repeat| stats.record(&repeat.call));
        }
        stats
    }
}
