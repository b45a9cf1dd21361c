//! The gate: head vs baseline per prompt and criterion → verdicts.
//! Pure: no I/O, deterministic for a given seed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval lies above +tolerance.
    Improved,
    /// The interval lies within ±tolerance.
    Unchanged,
    /// The interval lies below −tolerance.
    Regressed,
    /// Too few cases, or the interval straddles a tolerance bound.
    Inconclusive,
    /// No baseline to compare with (a new prompt or criterion).
    New,
}

/// A case whose score moved between baseline and head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseMove {
    pub case_id: String,
    pub baseline: f64,
    pub head: f64,
}

/// One criterion of one prompt, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionGate {
    pub criterion: String,
    /// Mean over the paired cases (per-case score = mean over repeats).
    pub baseline_mean: Option<f64>,
    pub head_mean: Option<f64>,
    /// head − baseline, mean over paired cases.
    pub delta: Option<f64>,
    /// Confidence interval of `delta` at the policy's confidence level
    /// (after the multiple-comparison adjustment).
    pub interval: Option<(f64, f64)>,
    /// How the interval was computed, e.g. `paired bootstrap`, `McNemar exact`.
    pub method: String,
    /// Cases scored on both sides.
    pub paired_cases: usize,
    /// Calls or scores that failed, per side: they count against the prompt.
    pub head_errors: usize,
    pub baseline_errors: usize,
    pub verdict: Verdict,
    /// The absolute threshold and whether the head's mean met it.
    pub threshold: Option<f64>,
    pub threshold_met: Option<bool>,
    /// Smallest |delta| this many cases could tell from zero at this
    /// confidence, given the observed spread.
    pub min_detectable_effect: Option<f64>,
    /// Cases that would make this criterion decidable, when inconclusive.
    pub cases_needed: Option<u32>,
    /// Pass → fail (score ≥ 0.5 → < 0.5), worst first.
    pub flipped_to_fail: Vec<CaseMove>,
    pub flipped_to_pass: Vec<CaseMove>,
    /// The largest per-case drops, worst first (at most ten).
    pub largest_drops: Vec<CaseMove>,
}

/// A prompt's outcome: its criteria and whether it fails the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptGate {
    pub prompt: String,
    pub criteria: Vec<CriterionGate>,
    /// The worst criterion verdict (regressed > inconclusive > improved > unchanged).
    pub verdict: Verdict,
    /// Under the policy's `fail_on`, including missed thresholds.
    pub failed: bool,
}
