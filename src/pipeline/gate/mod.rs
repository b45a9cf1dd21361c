//! The gate: head vs baseline per prompt and criterion → verdicts.
//!
//! Pure: no I/O. Deterministic: the bootstrap's seed derives from the
//! fingerprints, so the same results always give the same verdicts.
//! `docs/gate.md` explains the method in plain words.

mod holm;
mod stats;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pipeline::config::GatePolicy;
use crate::types::{CriterionInfo, EvalResult, FailOn, GateOverrides};

use stats::{Bootstrap, EPS, PairedTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole interval lies above +tolerance.
    Improved,
    /// The whole interval lies within ±tolerance.
    Unchanged,
    /// The whole interval lies below −tolerance.
    Regressed,
    /// Too few cases, or the interval reaches past a tolerance bound.
    Inconclusive,
    /// No baseline to compare with (a new prompt or criterion).
    New,
}

impl Verdict {
    /// How bad a verdict is for the prompt's summary: regressed >
    /// inconclusive > improved > unchanged > new.
    fn severity(self) -> u8 {
        match self {
            Verdict::Regressed => 4,
            Verdict::Inconclusive => 3,
            Verdict::Improved => 2,
            Verdict::Unchanged => 1,
            Verdict::New => 0,
        }
    }
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
    /// Mean over every head case, paired or not: what `threshold` is
    /// checked against (and the only mean of a new criterion).
    pub head_mean_all: Option<f64>,
    /// head − baseline, mean over paired cases.
    pub delta: Option<f64>,
    /// Confidence interval of `delta` at `interval_confidence`: the policy's
    /// confidence after the multiple-comparison adjustment.
    pub interval: Option<(f64, f64)>,
    /// The two-sided confidence level `interval` was computed at.
    pub interval_confidence: Option<f64>,
    /// Holm-adjusted one-sided p-value for "head is worse than baseline by
    /// more than the tolerance"; `None` when the criterion was not tested.
    pub p_value: Option<f64>,
    /// How the interval was computed, e.g. `paired bootstrap`, `McNemar exact`.
    pub method: String,
    /// Cases scored on both sides.
    pub paired_cases: usize,
    /// Calls or scores that failed, per side, over all of that side's cases:
    /// they count as score 0, against the side they happened on.
    pub head_errors: usize,
    pub baseline_errors: usize,
    pub verdict: Verdict,
    /// The absolute threshold and whether the head's mean met it.
    pub threshold: Option<f64>,
    pub threshold_met: Option<bool>,
    /// The smallest true drop these cases would call regressed with 80%
    /// power at this confidence, given the observed spread of the deltas
    /// (tolerance included).
    pub min_detectable_effect: Option<f64>,
    /// When inconclusive: about how many more paired cases would decide,
    /// if the mean delta and its spread stayed as observed.
    pub cases_needed: Option<u32>,
    /// Pass → fail (score ≥ 0.5 → < 0.5), worst first.
    pub flipped_to_fail: Vec<CaseMove>,
    /// Fail → pass, largest gain first.
    pub flipped_to_pass: Vec<CaseMove>,
    /// The largest per-case drops, worst first (at most ten).
    pub largest_drops: Vec<CaseMove>,
}

/// A prompt's outcome: its criteria and whether it fails the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptGate {
    pub prompt: String,
    pub criteria: Vec<CriterionGate>,
    /// The worst criterion verdict (regressed > inconclusive > improved >
    /// unchanged > new). A prompt without criteria is `new` without a
    /// baseline and `inconclusive` with one.
    pub verdict: Verdict,
    /// Under the policy's `fail_on`, including missed thresholds.
    pub failed: bool,
    /// The policy this prompt was gated under (config + its overrides).
    pub policy: GatePolicy,
}

/// One prompt to gate: its head result, its baseline if there is one, and
/// the policy it is held to.
#[derive(Debug, Clone, Copy)]
pub struct GateInput<'a> {
    pub head: &'a EvalResult,
    pub baseline: Option<&'a EvalResult>,
    pub policy: &'a GatePolicy,
    pub overrides: &'a GateOverrides,
}

/// A per-case score at or above this passes (for flips).
const PASS_MARK: f64 = 0.5;
/// At most this many largest drops are listed.
const MAX_DROPS: usize = 10;
/// Resampling bounds: enough draws beyond the most extreme quantile a
/// check can need (the Bonferroni tail), within a budget that keeps a
/// check with many criteria fast.
const MIN_RESAMPLES: usize = 2_000;
const MAX_RESAMPLES: usize = 10_000;
const DRAWS_IN_TAIL: f64 = 25.0;
/// z for 80% power.
const POWER: f64 = 0.80;

/// The policy a prompt is gated under: `promptgate.toml`'s, with the
/// prompt's own overrides. Values the config loader should have refused
/// (a negative or NaN tolerance, a confidence outside (0, 1)) fall back
/// to the defaults rather than break the arithmetic.
pub fn effective_policy(policy: &GatePolicy, overrides: &GateOverrides) -> GatePolicy {
    let defaults = GatePolicy::default();
    let tolerance = overrides.tolerance.unwrap_or(policy.tolerance);
    let confidence = overrides.confidence.unwrap_or(policy.confidence);
    GatePolicy {
        tolerance: if tolerance.is_finite() && tolerance >= 0.0 {
            tolerance
        } else {
            defaults.tolerance
        },
        confidence: if confidence > 0.0 && confidence < 1.0 {
            confidence
        } else {
            defaults.confidence
        },
        min_cases: overrides.min_cases.unwrap_or(policy.min_cases),
        fail_on: overrides.fail_on.unwrap_or(policy.fail_on),
    }
}

/// Gates one prompt on its own (a family of one for Holm).
pub fn gate_one(input: GateInput<'_>) -> PromptGate {
    gate_all(&[input])
        .pop()
        .expect("gate_all returns one gate per input")
}

/// Gates every prompt of one check together, so the regression tests of
/// all their criteria share one Holm adjustment. One `PromptGate` per
/// input, in input order.
pub fn gate_all(inputs: &[GateInput<'_>]) -> Vec<PromptGate> {
    let policies: Vec<GatePolicy> = inputs
        .iter()
        .map(|i| effective_policy(i.policy, i.overrides))
        .collect();
    let mut prepared: Vec<Vec<Prepared<'_>>> = inputs
        .iter()
        .zip(&policies)
        .map(|(input, policy)| prepare_prompt(input, policy))
        .collect();

    // The family: every criterion that can be called regressed.
    let family = prepared
        .iter()
        .flatten()
        .filter(|c| c.paired.as_ref().is_some_and(|p| p.testable))
        .count();
    let bonferroni_tail = policies
        .iter()
        .map(|p| one_sided_level(p) / family.max(1) as f64)
        .fold(f64::INFINITY, f64::min);
    let resamples =
        ((DRAWS_IN_TAIL / bonferroni_tail).ceil() as usize).clamp(MIN_RESAMPLES, MAX_RESAMPLES);

    let mut tests = Vec::with_capacity(family);
    for (prompt, policy) in prepared.iter_mut().zip(&policies) {
        for criterion in prompt.iter_mut() {
            if let Some(paired) = criterion.paired.as_mut() {
                paired.analyse(resamples, policy.tolerance);
                if paired.testable {
                    tests.push(holm::Test {
                        p: paired.p_drop,
                        level: one_sided_level(policy),
                    });
                }
            }
        }
    }
    let mut decisions = holm::holm(&tests).into_iter();

    prepared
        .into_iter()
        .zip(inputs)
        .zip(policies)
        .map(|((criteria, input), policy)| {
            let criteria: Vec<CriterionGate> = criteria
                .into_iter()
                .map(|c| {
                    let decision = match &c.paired {
                        Some(p) if p.testable => decisions.next(),
                        _ => None,
                    };
                    c.finish(&policy, decision)
                })
                .collect();
            summarise(input, criteria, policy)
        })
        .collect()
}

/// The level of each verdict's one-sided test: 1 − confidence. Every
/// verdict is a one-sided claim ("the drop exceeds the tolerance", "the
/// gain exceeds it", and for *unchanged* two one-sided tests at once), so,
/// as in Schuirmann's TOST, the interval shown is the 1 − 2α interval whose
/// bounds are exactly those one-sided bounds.
fn one_sided_level(policy: &GatePolicy) -> f64 {
    1.0 - policy.confidence
}

fn summarise(
    input: &GateInput<'_>,
    criteria: Vec<CriterionGate>,
    policy: GatePolicy,
) -> PromptGate {
    let verdict = criteria
        .iter()
        .map(|c| c.verdict)
        .max_by_key(|v| v.severity())
        .unwrap_or(if input.baseline.is_some() {
            Verdict::Inconclusive
        } else {
            Verdict::New
        });
    let missed_threshold = criteria.iter().any(|c| c.threshold_met == Some(false));
    let failed = match policy.fail_on {
        FailOn::Never => false,
        FailOn::Regression => missed_threshold || verdict == Verdict::Regressed,
        FailOn::Inconclusive => {
            missed_threshold || matches!(verdict, Verdict::Regressed | Verdict::Inconclusive)
        }
    };
    PromptGate {
        prompt: input.head.prompt.clone(),
        criteria,
        verdict,
        failed,
        policy,
    }
}

/// One side's per-case scores for one criterion.
struct SideScores<'r> {
    /// (case id, mean over repeats), in the result's case order; the first
    /// of duplicate ids wins.
    cases: Vec<(&'r str, f64)>,
    /// Errored (or missing, or non-finite) scores over all repeats.
    errors: usize,
}

impl<'r> SideScores<'r> {
    /// Per-case score = mean over repeats; an errored repeat scores 0 for
    /// the side it happened on. Scores outside [0, 1] are clamped into it.
    /// A case without repeats has no score and is left out.
    fn collect(result: &'r EvalResult, criterion: usize) -> Self {
        let mut seen = std::collections::HashSet::new();
        let mut cases = Vec::with_capacity(result.cases.len());
        let mut errors = 0;
        for case in &result.cases {
            if case.repeats.is_empty() || !seen.insert(case.case_id.as_str()) {
                continue;
            }
            let mut sum = 0.0;
            for repeat in &case.repeats {
                match repeat.scores.get(criterion).map(|s| &s.score) {
                    Some(Ok(score)) if score.value.is_finite() => {
                        sum += score.value.clamp(0.0, 1.0)
                    }
                    _ => errors += 1,
                }
            }
            cases.push((case.case_id.as_str(), sum / case.repeats.len() as f64));
        }
        Self { cases, errors }
    }

    fn mean(&self) -> Option<f64> {
        (!self.cases.is_empty())
            .then(|| self.cases.iter().map(|(_, s)| s).sum::<f64>() / self.cases.len() as f64)
    }
}

/// A criterion between pairing and the Holm step.
struct Prepared<'a> {
    info: &'a CriterionInfo,
    head_mean_all: Option<f64>,
    head_errors: usize,
    baseline_errors: usize,
    /// `None` when there is nothing to compare with (`New`).
    paired: Option<Paired<'a>>,
}

/// The cases both sides scored, and what the statistics made of them.
struct Paired<'a> {
    case_ids: Vec<&'a str>,
    head: Vec<f64>,
    baseline: Vec<f64>,
    deltas: Vec<f64>,
    seed: u64,
    binary: bool,
    /// Enough paired cases to be tested (≥ min_cases, ≥ 1).
    testable: bool,
    analysis: Option<Analysis>,
    /// One-sided p-value for "delta < −tolerance", before adjustment.
    p_drop: f64,
}

enum Analysis {
    Bootstrap(Bootstrap),
    Binary(PairedTable),
}

impl Analysis {
    fn interval(&self, tail: f64) -> (f64, f64) {
        match self {
            Analysis::Bootstrap(b) => b.interval(tail),
            Analysis::Binary(t) => t.interval(tail),
        }
    }

    /// The p-value of "delta < x". For pass/fail criteria it must also
    /// beat McNemar's exact test on the discordant pairs (the larger of the
    /// two p-values: both tests have to agree).
    fn p_below(&self, x: f64) -> f64 {
        match self {
            Analysis::Bootstrap(b) => b.p_below(x),
            Analysis::Binary(t) => t.p_below(x).max(t.mcnemar_losses()),
        }
    }

    /// Whether McNemar's exact test backs a drop (or a gain) at this tail.
    fn exact_test_agrees(&self, drop: bool, tail: f64) -> bool {
        match self {
            Analysis::Bootstrap(_) => true,
            Analysis::Binary(t) if drop => t.mcnemar_losses() <= tail,
            Analysis::Binary(t) => t.mcnemar_gains() <= tail,
        }
    }

    fn method(&self) -> String {
        match self {
            Analysis::Bootstrap(b) if b.resamples() > 1 => format!(
                "paired bootstrap, expanded percentile ({} resamples)",
                b.resamples()
            ),
            Analysis::Bootstrap(_) => "paired bootstrap, expanded percentile".to_owned(),
            Analysis::Binary(_) => "Newcombe paired score interval + McNemar exact".to_owned(),
        }
    }
}

impl Paired<'_> {
    fn analyse(&mut self, resamples: usize, tolerance: f64) {
        if self.deltas.is_empty() {
            return;
        }
        let table = if self.binary {
            PairedTable::from_scores(&self.head, &self.baseline)
        } else {
            None
        };
        let analysis = match table {
            Some(table) => Analysis::Binary(table),
            None => Analysis::Bootstrap(Bootstrap::run(&self.deltas, resamples, self.seed)),
        };
        self.p_drop = analysis.p_below(-tolerance - EPS);
        self.analysis = Some(analysis);
    }
}

fn prepare_prompt<'a>(input: &GateInput<'a>, policy: &GatePolicy) -> Vec<Prepared<'a>> {
    let baseline_index: HashMap<&str, usize> = input
        .baseline
        .map(|b| {
            let mut index = HashMap::new();
            for (i, c) in b.criteria.iter().enumerate() {
                index.entry(c.name.as_str()).or_insert(i);
            }
            index
        })
        .unwrap_or_default();

    input
        .head
        .criteria
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let head = SideScores::collect(input.head, i);
            let base = input.baseline.zip(baseline_index.get(info.name.as_str()));
            let (baseline_errors, paired) = match base {
                Some((baseline, &j)) => {
                    let base = SideScores::collect(baseline, j);
                    let paired = pair(input.head, baseline, info, &head, &base, policy);
                    (base.errors, Some(paired))
                }
                None => (0, None),
            };
            Prepared {
                info,
                head_mean_all: head.mean(),
                head_errors: head.errors,
                baseline_errors,
                paired,
            }
        })
        .collect()
}

fn pair<'a>(
    head_result: &EvalResult,
    baseline_result: &EvalResult,
    info: &CriterionInfo,
    head: &SideScores<'a>,
    baseline: &SideScores<'_>,
    policy: &GatePolicy,
) -> Paired<'a> {
    let baseline_by_id: HashMap<&str, f64> = baseline.cases.iter().copied().collect();
    let mut paired = Paired {
        case_ids: Vec::new(),
        head: Vec::new(),
        baseline: Vec::new(),
        deltas: Vec::new(),
        seed: seed(head_result, baseline_result, &info.name),
        binary: info.binary,
        testable: false,
        analysis: None,
        p_drop: 1.0,
    };
    for &(id, h) in &head.cases {
        if let Some(&b) = baseline_by_id.get(id) {
            paired.case_ids.push(id);
            paired.head.push(h);
            paired.baseline.push(b);
            paired.deltas.push(h - b);
        }
    }
    let n = paired.deltas.len();
    paired.testable = n >= 1 && n >= policy.min_cases as usize;
    paired
}

/// The bootstrap seed: a hash of both fingerprints and the criterion, so a
/// rerun on the same results draws the same resamples.
fn seed(head: &EvalResult, baseline: &EvalResult, criterion: &str) -> u64 {
    let mut hasher = Sha256::new();
    for part in [&head.fingerprint.0, &baseline.fingerprint.0, criterion] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

impl Prepared<'_> {
    fn finish(self, policy: &GatePolicy, decision: Option<holm::Decision>) -> CriterionGate {
        let threshold = self.info.threshold;
        let threshold_met = threshold.map(|t| self.head_mean_all.is_some_and(|m| m + EPS >= t));
        let mut gate = CriterionGate {
            criterion: self.info.name.clone(),
            baseline_mean: None,
            head_mean: None,
            head_mean_all: self.head_mean_all,
            delta: None,
            interval: None,
            interval_confidence: None,
            p_value: None,
            method: "none: no baseline".to_owned(),
            paired_cases: 0,
            head_errors: self.head_errors,
            baseline_errors: self.baseline_errors,
            verdict: Verdict::New,
            threshold,
            threshold_met,
            min_detectable_effect: None,
            cases_needed: None,
            flipped_to_fail: Vec::new(),
            flipped_to_pass: Vec::new(),
            largest_drops: Vec::new(),
        };
        if let Some(paired) = self.paired {
            paired.fill(&mut gate, policy, decision);
        }
        gate
    }
}

impl Paired<'_> {
    fn fill(
        &self,
        gate: &mut CriterionGate,
        policy: &GatePolicy,
        decision: Option<holm::Decision>,
    ) {
        let n = self.deltas.len();
        let tolerance = policy.tolerance;
        gate.paired_cases = n;
        gate.verdict = Verdict::Inconclusive;
        gate.method = "none: no case scored on both sides".to_owned();
        let Some(analysis) = &self.analysis else {
            gate.cases_needed = Some(policy.min_cases.max(1));
            return;
        };
        let (delta, sd) = stats::mean_sd(&self.deltas);
        gate.head_mean = Some(self.head.iter().sum::<f64>() / n as f64);
        gate.baseline_mean = Some(self.baseline.iter().sum::<f64>() / n as f64);
        gate.delta = Some(delta);
        gate.method = analysis.method();
        self.fill_moves(gate);

        // Untested criteria (too few cases) are shown at the unadjusted level.
        let divisor = decision.map_or(1, |d| d.divisor);
        let tail = one_sided_level(policy) / divisor as f64;
        let (lo, hi) = analysis.interval(tail);
        gate.interval = Some((lo, hi));
        gate.interval_confidence = Some(1.0 - 2.0 * tail);
        gate.p_value = decision.map(|d| d.adjusted_p);

        let z = stats::normal_quantile(1.0 - tail);
        // The observed spread can understate the uncertainty the interval
        // carries (a pass/fail criterion with no discordant pairs has sd 0
        // but a wide exact interval): the detectable effect is projected
        // from whichever is wider, so it never claims more than the interval.
        if n >= 2 {
            let spread = sd.max((hi - lo) / 2.0 * (n as f64).sqrt() / z);
            let z_power = stats::normal_quantile(POWER);
            gate.min_detectable_effect =
                Some(tolerance + (z + z_power) * spread / (n as f64).sqrt());
        }
        gate.verdict = if self.testable {
            verdict(analysis, (lo, hi), tolerance, tail)
        } else {
            Verdict::Inconclusive
        };
        if gate.verdict == Verdict::Inconclusive {
            gate.cases_needed = cases_needed(n, delta, sd, z, tolerance, policy.min_cases);
        }
    }

    fn fill_moves(&self, gate: &mut CriterionGate) {
        let moves = self
            .case_ids
            .iter()
            .zip(self.head.iter().zip(&self.baseline))
            .map(|(id, (&head, &baseline))| CaseMove {
                case_id: (*id).to_owned(),
                baseline,
                head,
            });
        let change = |m: &CaseMove| m.head - m.baseline;
        let worst_first = |a: &CaseMove, b: &CaseMove| {
            change(a)
                .total_cmp(&change(b))
                .then_with(|| a.case_id.cmp(&b.case_id))
        };
        let mut to_fail: Vec<CaseMove> = moves
            .clone()
            .filter(|m| m.baseline >= PASS_MARK && m.head < PASS_MARK)
            .collect();
        to_fail.sort_by(worst_first);
        let mut to_pass: Vec<CaseMove> = moves
            .clone()
            .filter(|m| m.baseline < PASS_MARK && m.head >= PASS_MARK)
            .collect();
        to_pass.sort_by(|a, b| {
            change(b)
                .total_cmp(&change(a))
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        let mut drops: Vec<CaseMove> = moves.filter(|m| change(m) < 0.0).collect();
        drops.sort_by(worst_first);
        drops.truncate(MAX_DROPS);
        gate.flipped_to_fail = to_fail;
        gate.flipped_to_pass = to_pass;
        gate.largest_drops = drops;
    }
}

/// Read off the interval: a regression or improvement must lie wholly
/// beyond a tolerance bound (and, for pass/fail criteria, be backed by
/// McNemar's exact test); "unchanged" must lie wholly within ±tolerance.
/// With tolerance ≥ 0 the three cannot overlap; anything else is
/// inconclusive.
fn verdict(analysis: &Analysis, (lo, hi): (f64, f64), tolerance: f64, tail: f64) -> Verdict {
    if hi < -tolerance - EPS && analysis.exact_test_agrees(true, tail) {
        Verdict::Regressed
    } else if lo > tolerance + EPS && analysis.exact_test_agrees(false, tail) {
        Verdict::Improved
    } else if lo >= -tolerance - EPS && hi <= tolerance + EPS {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
    }
}

/// About how many more paired cases would make the interval clear the
/// nearest tolerance bound, if the mean delta and its standard deviation
/// stayed as observed (half-width ≈ z·sd/√n). `None` when no number of
/// cases would (the mean sits on a bound) or the projection disagrees with
/// the interval actually computed.
fn cases_needed(
    n: usize,
    delta: f64,
    sd: f64,
    z: f64,
    tolerance: f64,
    min_cases: u32,
) -> Option<u32> {
    let short_of_minimum = (min_cases as usize).saturating_sub(n);
    if n < 2 {
        return Some(short_of_minimum.max(2 - n) as u32);
    }
    let distance = (delta.abs() - tolerance).abs();
    let projected = if sd <= 0.0 {
        0.0
    } else if distance <= EPS {
        return (short_of_minimum > 0).then_some(short_of_minimum as u32);
    } else {
        (z * sd / distance).powi(2).ceil()
    };
    let total = projected.max(min_cases as f64);
    let more = total - n as f64;
    (more >= 1.0).then(|| more.min(u32::MAX as f64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_needed_projects_from_the_observed_spread() {
        // Mean −0.05, sd 0.3, bound at −0.02: distance 0.03, n = (1.96·0.3/0.03)² ≈ 385.
        let z = stats::normal_quantile(0.975);
        let more = cases_needed(20, -0.05, 0.3, z, 0.02, 10).unwrap();
        assert_eq!(more, 385 - 20);
        // Too few cases for any spread estimate: reach the minimum first.
        assert_eq!(cases_needed(1, -0.5, 0.0, z, 0.02, 10), Some(9));
        assert_eq!(cases_needed(0, 0.0, 0.0, z, 0.02, 0), Some(2));
        // No spread: only the minimum is missing.
        assert_eq!(cases_needed(4, -0.5, 0.0, z, 0.02, 10), Some(6));
        // A mean exactly on the bound never decides.
        assert_eq!(cases_needed(40, -0.02, 0.2, z, 0.02, 10), None);
        // Already enough by the projection: no number to offer.
        assert_eq!(cases_needed(400, -0.05, 0.3, z, 0.02, 10), None);
    }

    #[test]
    fn verdict_rules_do_not_overlap() {
        let table = PairedTable {
            both_pass: 0,
            gained: 0,
            lost: 30,
            both_fail: 0,
        };
        let analysis = Analysis::Binary(table);
        assert_eq!(
            verdict(&analysis, (-0.9, -0.5), 0.02, 0.025),
            Verdict::Regressed
        );
        assert_eq!(
            verdict(&analysis, (-0.02, 0.02), 0.02, 0.025),
            Verdict::Unchanged
        );
        assert_eq!(
            verdict(&analysis, (-0.03, 0.01), 0.02, 0.025),
            Verdict::Inconclusive
        );
        // An interval above +tol without McNemar's backing (no gains at all)
        // is not an improvement.
        assert_eq!(
            verdict(&analysis, (0.1, 0.3), 0.02, 0.025),
            Verdict::Inconclusive
        );
        // A drop the exact test does not back is not a regression.
        let few = Analysis::Binary(PairedTable {
            both_pass: 10,
            gained: 0,
            lost: 2,
            both_fail: 0,
        });
        assert_eq!(
            verdict(&few, (-0.9, -0.5), 0.02, 0.025),
            Verdict::Inconclusive
        );
    }
}
