//! What an evaluation produces, case by case: a score per criterion per
//! output, and the totals over many cases. The whole result of a prompt
//! version is [`super::EvalResult`].

use serde::{Deserialize, Serialize};

use super::call::{CallOutcome, CallStats};

/// One criterion's verdict on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// In [0, 1]; a judge's 1–5 maps to (n − 1) / 4.
    #[serde(deserialize_with = "value_or_nan")]
    pub value: f64,
    /// Short, human: why this score (a judge's reason is kept here).
    pub reason: String,
    /// How to show the score when not as 0–1, e.g. `4/5`.
    pub display: Option<String>,
}

/// JSON has no NaN: serde_json writes a value that is not finite as
/// `null`, so a result holding one (an evaluator's NaN, which the gate
/// counts as an error) must read `null` back as NaN rather than fail.
fn value_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
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

/// A score (0–1) at or above this passes; a 1–5 grade passes from 3.
pub const PASS_MARK: f64 = 0.5;

/// A result's totals ([`EvalResult::totals`](super::EvalResult::totals)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultTotals {
    pub failed_calls: usize,
    pub calls: CallStats,
    /// Cases whose every repeat got an answer scored above 0 on every
    /// criterion it has.
    pub passing_every_criterion: usize,
    /// By criterion index (as `EvalResult::criteria`), over the cases.
    pub criteria: Vec<CriterionTotals>,
}

/// One criterion's scores over a result's cases, each case's score being
/// its mean over the repeats that were scored ([`CaseResult::mean_score`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CriterionTotals {
    /// Cases with a score.
    pub scored: usize,
    /// Sum of those scores.
    pub sum: f64,
    /// Of those, scores at or above [`PASS_MARK`].
    pub passed: usize,
    /// Cases with a failed call, a failed score or a missing one.
    pub errors: usize,
    /// Some score was shown as a 1–5 grade (`n/5`).
    pub graded_of_five: bool,
}

impl ResultTotals {
    /// Adds one case.
    pub fn add(&mut self, case: &CaseResult) {
        let mut passes_all = true;
        for repeat in &case.repeats {
            self.calls.record(&repeat.call);
            if repeat.call.result.is_err() {
                self.failed_calls += 1;
                passes_all = false;
            }
            if self.criteria.len() < repeat.scores.len() {
                self.criteria
                    .resize(repeat.scores.len(), CriterionTotals::default());
            }
            for (totals, score) in self.criteria.iter_mut().zip(&repeat.scores) {
                let shown = score.score.as_ref().ok().and_then(|s| s.display.as_deref());
                totals.graded_of_five |= shown.is_some_and(|d| d.ends_with("/5"));
            }
            passes_all &= repeat
                .scores
                .iter()
                .all(|s| s.score.as_ref().is_ok_and(|score| score.value > 0.0));
        }
        self.passing_every_criterion += usize::from(passes_all);
        for (index, totals) in self.criteria.iter_mut().enumerate() {
            let (mean, error) = case.mean_score(index);
            totals.errors += usize::from(error);
            if let Some(mean) = mean {
                totals.scored += 1;
                totals.sum += mean;
                totals.passed += usize::from(mean >= PASS_MARK);
            }
        }
    }

    /// One criterion's totals (all zero for a criterion no case scored).
    pub fn criterion(&self, index: usize) -> CriterionTotals {
        self.criteria.get(index).copied().unwrap_or_default()
    }
}

impl CaseResult {
    /// The case's score on the criterion at `index`: the mean over the
    /// repeats whose call answered and whose score was recorded, and
    /// whether any repeat failed its call or its score (or has none).
    pub fn mean_score(&self, index: usize) -> (Option<f64>, bool) {
        let (mut sum, mut n, mut error) = (0.0, 0usize, false);
        for repeat in &self.repeats {
            if repeat.call.result.is_err() {
                error = true;
                continue;
            }
            match repeat.scores.get(index).map(|s| &s.score) {
                Some(Ok(score)) => {
                    sum += score.value;
                    n += 1;
                }
                Some(Err(_)) | None => error = true,
            }
        }
        ((n > 0).then(|| sum / n as f64), error)
    }
}
