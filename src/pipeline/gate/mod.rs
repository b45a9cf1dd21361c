//! The gate: head vs baseline per prompt and criterion → verdicts.
//!
//! Pure: no I/O. Deterministic: the bootstrap's seed derives from the
//! fingerprints, so the same results always give the same verdicts.
//! `docs/gate.md` explains the method in plain words.

mod holm;
pub mod sequential;
pub(crate) mod stats;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pipeline::config::{GatePolicy, MIN_CASES_FLOOR};
use crate::types::{CaseIdDigest, CriterionInfo, EvalResult, FailOn, GateOverrides};

use super::review::correction::{self, ConfusionTable, ReviewedJudges};
use super::review::{Agreement, PASS_MARK};
use stats::{Bootstrap, Bound, EPS, PairedTable, SignFlip, TBound, Units, UnseenChange, Widest};

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
    /// When the cases carry a `group`: the number of groups among the
    /// paired cases, which are resampled as units.
    #[serde(default)]
    pub groups: Option<usize>,
    /// Scores that failed on an output the call did return (the output
    /// broke the evaluator), per side, over all of that side's cases: they
    /// count as score 0, against the side they happened on. Failed calls
    /// are not here: see [`PromptGate::calls`].
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
    /// Set when the criterion is corrected for its judge's errors: then
    /// `delta` and `interval` are of the true pass rates, and this keeps
    /// the judged difference and the labels behind the correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_correction: Option<JudgeCorrection>,
    /// For a judged criterion with reviewer labels: how often its judge
    /// agrees with them (attached by the flow; the gate leaves it `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_agreement: Option<Agreement>,
}

/// How a criterion's verdict was corrected for its judge's errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeCorrection {
    /// The difference of the judge's pass rates, before correction.
    pub judged_delta: f64,
    /// Reviewer labels behind the judge's error rates.
    pub labels: u64,
    /// The judge's estimated sensitivity and specificity (None without
    /// labels of that class) and Youden's J = Se + Sp − 1.
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    pub youden: Option<f64>,
    /// The range of J the interval was divided by.
    pub youden_range: (f64, f64),
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
    /// Under the policy's `fail_on`, including missed thresholds and
    /// failed calls (an incomplete run never passes).
    pub failed: bool,
    /// Calls that failed (provider errors, timeouts) and the cases the gate
    /// left out because of them.
    #[serde(default)]
    pub calls: CallFailures,
    /// The policy this prompt was gated under (config + its overrides).
    pub policy: GatePolicy,
}

/// Calls that failed on either side. A failed call says nothing about the
/// prompt's output, so its case is left out of every comparison rather
/// than scored 0 (an outage must not read as a regression); the failures
/// are tested on their own instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallFailures {
    /// Failed calls / all calls of the head's cases.
    pub head_failed: usize,
    pub head_calls: usize,
    pub baseline_failed: usize,
    pub baseline_calls: usize,
    /// Case ids on both sides left out of the pairing because a call of
    /// theirs failed on either side.
    pub cases_left_out: usize,
    /// The head's calls failed more often than the baseline's: a regression
    /// of its own kind (the edit may make calls fail, e.g. a request the
    /// provider refuses), whatever the scores say.
    pub regressed: bool,
}

impl CallFailures {
    fn of(head: &EvalResult, baseline: Option<&EvalResult>) -> Self {
        let count = |r: &EvalResult| {
            let calls = r.call_stats();
            (calls.failed as usize, (calls.made + calls.cached) as usize)
        };
        let (head_failed, head_calls) = count(head);
        let (baseline_failed, baseline_calls) = baseline.map(count).unwrap_or_default();
        let cases_left_out = baseline.map_or(0, |b| left_out(head, b));
        let rate = |failed: usize, calls: usize| failed as f64 / calls.max(1) as f64;
        Self {
            head_failed,
            head_calls,
            baseline_failed,
            baseline_calls,
            cases_left_out,
            regressed: rate(head_failed, head_calls) > rate(baseline_failed, baseline_calls),
        }
    }
}

/// Case ids present on both sides of which either side has a failed call.
/// Held in memory: the ids of failed cases only (by digest), not every id.
fn left_out(head: &EvalResult, baseline: &EvalResult) -> usize {
    let failed = |r: &EvalResult| -> HashSet<CaseIdDigest> {
        r.cases
            .iter()
            .filter(|c| c.repeats.iter().any(|r| r.call.result.is_err()))
            .map(|c| CaseIdDigest::of(&c.case_id))
            .collect()
    };
    let mut failed_ids = failed(head);
    failed_ids.extend(failed(baseline));
    if failed_ids.is_empty() {
        return 0;
    }
    let present = |r: &EvalResult| -> HashSet<CaseIdDigest> {
        r.cases
            .iter()
            .map(|c| CaseIdDigest::of(&c.case_id))
            .filter(|id| failed_ids.contains(id))
            .collect()
    };
    let (in_head, in_baseline) = (present(head), present(baseline));
    failed_ids
        .iter()
        .filter(|id| in_head.contains(*id) && in_baseline.contains(*id))
        .count()
}

/// One prompt to gate: its head result, its baseline if there is one, and
/// the policy it is held to.
#[derive(Debug, Clone, Copy)]
pub struct GateInput<'a> {
    pub head: &'a EvalResult,
    pub baseline: Option<&'a EvalResult>,
    pub policy: &'a GatePolicy,
    pub overrides: &'a GateOverrides,
    /// Set when the head was evaluated sequentially: the fixed-n tests
    /// then run at the level the sequential tests left
    /// ([`sequential::final_policy`]), and a run that stopped early takes
    /// its verdicts from them.
    pub sequential: Option<&'a sequential::SequentialOutcome>,
}

/// At most this many largest drops are listed.
const MAX_DROPS: usize = 10;
/// Resampling bounds: enough draws beyond the most extreme quantile a
/// check can need (the Bonferroni tail, expanded to the percentile scale at
/// the criterion's n), within a budget that keeps a check with many
/// criteria fast. Too few resamples only cost power: with p = (c + 1)/(B + 1)
/// no p-value falls below 1/(B + 1).
const MIN_RESAMPLES: usize = 2_000;
const MAX_RESAMPLES: usize = 100_000;
const DRAWS_IN_TAIL: f64 = 25.0;
/// The power the minimum detectable effect is quoted at.
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
        min_cases: overrides
            .min_cases
            .unwrap_or(policy.min_cases)
            .max(MIN_CASES_FLOOR),
        fail_on: overrides.fail_on.unwrap_or(policy.fail_on),
        sequential: policy.sequential,
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
    gate_all_reviewed(inputs, &ReviewedJudges::default())
}

/// [`gate_all`], with the judged criteria in `judges` corrected for their
/// judge's errors as reviewers measured them (docs/review.md): such a
/// criterion is gated on its pass rate (score ≥ 0.5), and its interval is
/// the judged difference's divided by the whole confidence range of the
/// judge's Youden J ([`review::correction`]).
pub fn gate_all_reviewed(inputs: &[GateInput<'_>], judges: &ReviewedJudges) -> Vec<PromptGate> {
    let shown: Vec<GatePolicy> = inputs
        .iter()
        .map(|i| effective_policy(i.policy, i.overrides))
        .collect();
    // The level the fixed-n tests run at: all of α, or what a sequential
    // run left of it.
    let policies: Vec<GatePolicy> = inputs
        .iter()
        .zip(&shown)
        .map(|(input, policy)| match input.sequential {
            Some(_) => sequential::final_policy(policy),
            None => policy.clone(),
        })
        .collect();
    let mut prepared: Vec<Vec<Prepared<'_>>> = inputs
        .iter()
        .zip(&policies)
        .map(|(input, policy)| prepare_prompt(input, policy, judges))
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

    let mut tests = Vec::with_capacity(family);
    for (prompt, policy) in prepared.iter_mut().zip(&policies) {
        for criterion in prompt.iter_mut() {
            if let Some(paired) = criterion.paired.as_mut() {
                paired.analyse(bonferroni_tail, policy.tolerance);
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
        .zip(policies.iter().zip(shown))
        .map(|((criteria, input), (policy, shown))| {
            let stopped = input.sequential.filter(|s| s.stopped.is_some());
            let criteria: Vec<CriterionGate> = criteria
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let decision = match &c.paired {
                        Some(p) if p.testable => decisions.next(),
                        _ => None,
                    };
                    let mut gate = c.finish(policy, decision);
                    if let Some(verdict) = stopped.and_then(|s| s.verdicts.get(i)) {
                        let verdict = match (&gate.judge_correction, *verdict) {
                            // The anytime-valid tests ran on the judged
                            // scale: a drop or gain beyond the tolerance
                            // there is one in truth too (the judge only
                            // shrinks differences), but "unchanged" is not.
                            (Some(_), Verdict::Unchanged) => Verdict::Inconclusive,
                            (_, verdict) => verdict,
                        };
                        take_sequential_verdict(&mut gate, verdict);
                    }
                    gate
                })
                .collect();
            summarise(input, criteria, shown)
        })
        .collect()
}

/// A run that stopped early is decided by its anytime-valid tests: the
/// fixed-n interval on the cases run is still shown, for orientation, but
/// it was not built to be read at a stopping time of the data's choosing.
fn take_sequential_verdict(gate: &mut CriterionGate, verdict: Verdict) {
    if gate.verdict == Verdict::New {
        return;
    }
    gate.verdict = verdict;
    gate.cases_needed = None;
    gate.method = format!(
        "decided by the anytime-valid betting test (stopped early); interval: {}",
        gate.method
    );
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
    // A criterion of weight 0 is shown but never decides the prompt: it is
    // how a prompt file marks a criterion as informational.
    let counts = |i: usize| input.head.criteria.get(i).is_none_or(|c| c.weight > 0.0);
    let deciding = || {
        criteria
            .iter()
            .enumerate()
            .filter(move |(i, _)| counts(*i))
            .map(|(_, c)| c)
    };
    let verdict = deciding()
        .map(|c| c.verdict)
        .max_by_key(|v| v.severity())
        .unwrap_or(if input.baseline.is_some() {
            Verdict::Inconclusive
        } else {
            Verdict::New
        });
    let missed_threshold = deciding().any(|c| c.threshold_met == Some(false));
    let calls = CallFailures::of(input.head, input.baseline);
    // A head whose calls failed was not evaluated in full: it never passes
    // (unless the policy never fails anything).
    let incomplete = calls.head_failed > 0;
    let failed = match policy.fail_on {
        FailOn::Never => false,
        FailOn::Regression => incomplete || missed_threshold || verdict == Verdict::Regressed,
        FailOn::Inconclusive => {
            incomplete
                || missed_threshold
                || matches!(verdict, Verdict::Regressed | Verdict::Inconclusive)
        }
    };
    PromptGate {
        prompt: input.head.prompt.clone(),
        criteria,
        verdict,
        failed,
        calls,
        policy,
    }
}

/// One side's per-case scores for one criterion.
struct SideScores {
    /// Each scored case, in the result's case order; the first of
    /// duplicate ids wins. Ids are held as digests (16 bytes, not the text).
    cases: Vec<SideCase>,
    /// Errored (or missing, or non-finite) scores of calls that returned
    /// an output, over all repeats.
    errors: usize,
}

/// A case's score on one side.
#[derive(Clone, Copy)]
struct SideCase {
    id: CaseIdDigest,
    /// Where the case is in its result (to read its id's text back).
    position: u32,
    /// Its repeats' scores that errored.
    errors: u32,
    /// Mean over repeats.
    score: f64,
}

impl SideScores {
    /// Per-case score = mean over repeats; a repeat whose score failed on
    /// the output it got scores 0 for the side it happened on. Scores
    /// outside [0, 1] are clamped into it. A case without repeats has no
    /// score, and a case with a failed call is left out (see
    /// [`CallFailures`]).
    fn collect(result: &EvalResult, criterion: usize) -> Self {
        Self::collect_as(result, criterion, false)
    }

    /// As [`Self::collect`]; with `pass_fail`, each repeat's score is read
    /// as pass (1) or fail (0) at [`PASS_MARK`] first, so the per-case
    /// score is the case's pass rate.
    fn collect_as(result: &EvalResult, criterion: usize, pass_fail: bool) -> Self {
        let mut cases = Vec::with_capacity(result.cases.len());
        // Where each id is first seen: a later copy of it is left out.
        let mut firsts: Vec<(CaseIdDigest, u32)> = Vec::with_capacity(result.cases.len());
        for (position, case) in result.cases.iter().enumerate() {
            if case.repeats.is_empty() {
                continue;
            }
            let id = CaseIdDigest::of(&case.case_id);
            let position = u32::try_from(position).expect("fewer than 2^32 cases");
            firsts.push((id, position));
            // The first copy of an id wins, even when it has nothing to say.
            if case.repeats.iter().any(|r| r.call.result.is_err()) {
                continue;
            }
            let mut sum = 0.0;
            let mut errors = 0;
            for repeat in &case.repeats {
                match repeat.scores.get(criterion).map(|s| &s.score) {
                    Some(Ok(score)) if score.value.is_finite() => {
                        let value = score.value.clamp(0.0, 1.0);
                        sum += match pass_fail {
                            true if value >= PASS_MARK => 1.0,
                            true => 0.0,
                            false => value,
                        };
                    }
                    _ => errors += 1,
                }
            }
            cases.push(SideCase {
                id,
                position,
                errors,
                score: sum / case.repeats.len() as f64,
            });
        }
        // Sorted by id, then position: the first of each id comes first.
        firsts.sort_unstable();
        firsts.dedup_by_key(|(id, _)| *id);
        let first_of = |id: &CaseIdDigest| {
            let at = firsts.binary_search_by_key(id, |(first, _)| *first).ok()?;
            Some(firsts[at].1)
        };
        cases.retain(|case| first_of(&case.id) == Some(case.position));
        Self {
            errors: cases.iter().map(|case| case.errors as usize).sum(),
            cases,
        }
    }

    fn mean(&self) -> Option<f64> {
        (!self.cases.is_empty())
            .then(|| self.cases.iter().map(|c| c.score).sum::<f64>() / self.cases.len() as f64)
    }

    /// Each case's id and score, sorted by id: the side paired against is
    /// looked up, and needs neither places nor errors (24 bytes a case,
    /// in the memory these cases held).
    fn sorted_by_id(self) -> SortedScores {
        let mut scores: Vec<(CaseIdDigest, f64)> = self
            .cases
            .into_iter()
            .map(|case| (case.id, case.score))
            .collect();
        scores.shrink_to_fit();
        // Each id is held once (the first copy was kept): unstable is exact.
        scores.sort_unstable_by_key(|(id, _)| *id);
        SortedScores(scores)
    }
}

/// One side's scores by id, sorted.
struct SortedScores(Vec<(CaseIdDigest, f64)>);

impl SortedScores {
    fn score_of(&self, id: &CaseIdDigest) -> Option<f64> {
        let at = self.0.binary_search_by_key(id, |(case, _)| *case).ok()?;
        Some(self.0[at].1)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A criterion between pairing and the Holm step.
struct Prepared<'a> {
    info: &'a CriterionInfo,
    head_mean_all: Option<f64>,
    head_errors: usize,
    baseline_errors: usize,
    /// `None` when there is nothing to compare with (`New`).
    paired: Option<Paired>,
}

/// The cases both sides scored, and what the statistics made of them.
struct Paired {
    /// Each pair's place in the head's result (to read its id back).
    head_positions: Vec<u32>,
    /// What moved: flips and the largest drops, with their ids' text.
    moves: Moves,
    head: Vec<f64>,
    baseline: Vec<f64>,
    /// The units resampled: every case (whose sums are the pairs' deltas),
    /// or every group when cases have one.
    units: Units,
    /// The number of groups when the cases are grouped.
    groups: Option<usize>,
    seed: u64,
    binary: bool,
    /// Enough paired cases to be tested (≥ min_cases, ≥ 1).
    testable: bool,
    analysis: Option<Analysis>,
    /// One-sided p-value for "delta < −tolerance", before adjustment.
    p_drop: f64,
    /// The reviewers' table of the judge's errors, when the criterion is
    /// corrected for them.
    judge_errors: Option<ConfusionTable>,
}

enum Analysis {
    /// Scored criteria: the widest of the resampling bound (exact sign-flip
    /// at small n, bootstrap above), the t bound and the unseen-change floor.
    Scored {
        bounds: Widest,
        method: String,
    },
    Binary(PairedTable),
    /// The judged difference's analysis, divided by the judge's J.
    Corrected {
        judged: Box<Analysis>,
        errors: ConfusionTable,
    },
}

/// How many bootstrap resamples a criterion of `n` cases needs so that
/// about `DRAWS_IN_TAIL` of them fall beyond the most extreme percentile a
/// verdict can read (the Bonferroni tail, expanded at this n).
fn resamples_for(n: usize, bonferroni_tail: f64) -> usize {
    if n < 2 {
        return MIN_RESAMPLES;
    }
    let pct = stats::expanded_tail(bonferroni_tail, n);
    let wanted = (DRAWS_IN_TAIL / pct).ceil() - 1.0;
    if wanted.is_finite() {
        (wanted as usize).clamp(MIN_RESAMPLES, MAX_RESAMPLES)
    } else {
        MAX_RESAMPLES
    }
}

impl Analysis {
    fn scored(units: &Units, bonferroni_tail: f64, seed: u64) -> Self {
        let n = units.len();
        let mean = units.mean();
        let mut bounds: Vec<Box<dyn Bound + Send + Sync>> = Vec::with_capacity(3);
        let method = if n <= stats::EXACT_SIGN_FLIP_MAX {
            bounds.push(Box::new(SignFlip::run(units)));
            "exact sign-flip test, t bound and unseen-change floor".to_owned()
        } else {
            let boot = Bootstrap::run(units, resamples_for(n, bonferroni_tail), seed);
            let method = format!(
                "paired bootstrap, expanded percentile ({} resamples), t bound and unseen-change floor",
                boot.resamples()
            );
            bounds.push(Box::new(boot));
            method
        };
        bounds.push(Box::new(TBound::new(units)));
        bounds.push(Box::new(UnseenChange::new(n, mean)));
        Analysis::Scored {
            bounds: Widest { mean, bounds },
            method,
        }
    }

    fn interval(&self, tail: f64) -> (f64, f64) {
        match self {
            Analysis::Scored { bounds, .. } => bounds.interval(tail),
            Analysis::Binary(t) => t.interval(tail),
            Analysis::Corrected { judged, errors } => {
                let (judged_tail, youden_tail) = correction::split_tail(tail);
                correction::corrected_interval(
                    judged.interval(judged_tail),
                    errors.youden_bounds(youden_tail),
                )
            }
        }
    }

    /// The p-value of "delta < x". For pass/fail criteria it must also
    /// beat McNemar's exact test on the discordant pairs (the larger of the
    /// two p-values: both tests have to agree).
    fn p_below(&self, x: f64) -> f64 {
        match self {
            Analysis::Scored { bounds, .. } => bounds.p_below(x),
            Analysis::Binary(t) => t.p_below(x).max(t.mcnemar_losses()),
            Analysis::Corrected { judged, .. } => {
                let exact = match judged.as_ref() {
                    Analysis::Binary(t) => t.mcnemar_losses(),
                    _ => 0.0,
                };
                self.tail_where_upper_falls_below(x).max(exact)
            }
        }
    }

    /// The smallest tail at which the interval's upper bound is below `x`
    /// (the upper bound falls as the tail grows), by bisection on the log
    /// of the tail; 1 when no tail gets it there.
    fn tail_where_upper_falls_below(&self, x: f64) -> f64 {
        const SMALLEST: f64 = 1e-15;
        let below = |tail: f64| self.interval(tail).1 < x;
        if below(SMALLEST) {
            return SMALLEST;
        }
        if !below(1.0) {
            return 1.0;
        }
        let (mut lo, mut hi) = (SMALLEST.ln(), 0.0f64);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if below(mid.exp()) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi.exp()
    }

    /// Whether McNemar's exact test backs a drop (or a gain) at this tail.
    fn exact_test_agrees(&self, drop: bool, tail: f64) -> bool {
        match self {
            Analysis::Scored { .. } => true,
            Analysis::Binary(t) if drop => t.mcnemar_losses() <= tail,
            Analysis::Binary(t) => t.mcnemar_gains() <= tail,
            Analysis::Corrected { judged, .. } => judged.exact_test_agrees(drop, tail),
        }
    }

    fn method(&self) -> String {
        match self {
            Analysis::Scored { method, .. } => method.clone(),
            Analysis::Binary(_) => "Newcombe paired score interval + McNemar exact".to_owned(),
            Analysis::Corrected { judged, errors } => format!(
                "pass rates corrected for the judge's errors ({} reviewer labels; Rogan-Gladen, \
                 divided by the range of Youden's J); judged difference: {}",
                errors.n(),
                judged.method()
            ),
        }
    }
}

impl Paired {
    /// How many cases were paired.
    fn len(&self) -> usize {
        self.head.len()
    }

    fn analyse(&mut self, bonferroni_tail: f64, tolerance: f64) {
        if self.head.is_empty() {
            return;
        }
        // Grouped pass/fail cases are not independent pairs: McNemar's
        // table does not apply, the grouped resampling does.
        let table = if self.binary && self.groups.is_none() {
            PairedTable::from_scores(&self.head, &self.baseline)
        } else {
            None
        };
        let analysis = match table {
            Some(table) => Analysis::Binary(table),
            None => Analysis::scored(&self.units, bonferroni_tail, self.seed),
        };
        let analysis = match self.judge_errors {
            Some(errors) => Analysis::Corrected {
                judged: Box::new(analysis),
                errors,
            },
            None => analysis,
        };
        self.p_drop = analysis.p_below(-tolerance - EPS);
        self.analysis = Some(analysis);
    }
}

fn prepare_prompt<'a>(
    input: &GateInput<'a>,
    policy: &GatePolicy,
    judges: &ReviewedJudges,
) -> Vec<Prepared<'a>> {
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
            let judge_errors = judges.get(&input.head.prompt, &info.name).copied();
            let (baseline_errors, paired) = match base {
                Some((baseline, &j)) => {
                    let base = SideScores::collect(baseline, j);
                    let baseline_errors = base.errors;
                    let paired = match judge_errors {
                        // Corrected criteria are compared on pass rates,
                        // the quantity the judge's error rates describe.
                        Some(errors) => {
                            drop(base);
                            let head = SideScores::collect_as(input.head, i, true);
                            let base = SideScores::collect_as(baseline, j, true).sorted_by_id();
                            let mut paired = pair(input.head, baseline, info, &head, &base, policy);
                            paired.binary = true;
                            paired.judge_errors = Some(errors);
                            paired
                        }
                        None => {
                            let base = base.sorted_by_id();
                            pair(input.head, baseline, info, &head, &base, policy)
                        }
                    };
                    (baseline_errors, Some(paired))
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

fn pair(
    head_result: &EvalResult,
    baseline_result: &EvalResult,
    info: &CriterionInfo,
    head: &SideScores,
    baseline: &SortedScores,
    policy: &GatePolicy,
) -> Paired {
    let groups = case_groups(head_result, baseline_result);
    // Sized once: at a million pairs, growing by doubling would hold the
    // old and the new copy of each vector at once.
    let most = head.cases.len().min(baseline.len());
    let mut head_positions = Vec::with_capacity(most);
    let mut head_scores = Vec::with_capacity(most);
    let mut baseline_scores = Vec::with_capacity(most);
    let mut deltas = Vec::with_capacity(most);
    // The pairs' ids, kept only when some case has a group to look up.
    let mut case_ids = Vec::new();
    for case in &head.cases {
        if let Some(b) = baseline.score_of(&case.id) {
            if !groups.is_empty() {
                case_ids.push(case.id);
            }
            head_positions.push(case.position);
            head_scores.push(case.score);
            baseline_scores.push(b);
            deltas.push(case.score - b);
        }
    }
    let n = deltas.len();
    let (units, group_count) = if case_ids.iter().any(|id| groups.contains_key(id)) {
        let units = group_units(&case_ids, &deltas, &groups);
        let count = units.len();
        (units, Some(count))
    } else {
        (Units::of_cases(deltas), None)
    };
    drop(case_ids);
    let mut paired = Paired {
        head_positions,
        moves: Moves::default(),
        head: head_scores,
        baseline: baseline_scores,
        units,
        groups: group_count,
        seed: seed(head_result, baseline_result, &info.name),
        binary: info.binary,
        testable: n >= 1 && n >= policy.min_cases as usize,
        analysis: None,
        p_drop: 1.0,
        judge_errors: None,
    };
    paired.moves = Moves::of(&paired, head_result);
    paired
}

/// The variable (a dataset column) that names a case's group.
pub const GROUP_KEY: &str = "group";

/// Case id → group, from the head's cases and then the baseline's (the
/// first copy of an id wins). A number or other value is used as its text.
/// Only cases with a group are held.
fn case_groups(head: &EvalResult, baseline: &EvalResult) -> HashMap<CaseIdDigest, String> {
    let mut groups = HashMap::new();
    for case in head.cases.iter().chain(&baseline.cases) {
        if let Some(value) = case.vars.get(GROUP_KEY) {
            let name = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            groups
                .entry(CaseIdDigest::of(&case.case_id))
                .or_insert(name);
        }
    }
    groups
}

/// One unit per group (cases without a group are their own), in the order
/// groups first appear.
fn group_units(
    case_ids: &[CaseIdDigest],
    deltas: &[f64],
    groups: &HashMap<CaseIdDigest, String>,
) -> Units {
    /// A group, or a case of none (never the same unit as a group of
    /// the same name).
    #[derive(PartialEq, Eq, Hash)]
    enum Unit<'a> {
        Group(&'a str),
        Case(CaseIdDigest),
    }
    let mut index: HashMap<Unit<'_>, usize> = HashMap::new();
    let (mut sums, mut sizes) = (Vec::new(), Vec::new());
    for (id, delta) in case_ids.iter().zip(deltas) {
        let key = groups
            .get(id)
            .map_or(Unit::Case(*id), |group| Unit::Group(group));
        let at = *index.entry(key).or_insert_with(|| {
            sums.push(0.0);
            sizes.push(0.0);
            sums.len() - 1
        });
        sums[at] += delta;
        sizes[at] += 1.0;
    }
    Units::of_groups(sums, sizes)
}

/// A criterion's cases that moved, with their ids' text: every flip
/// either way, and the largest drops.
#[derive(Debug, Clone, Default)]
struct Moves {
    to_fail: Vec<CaseMove>,
    to_pass: Vec<CaseMove>,
    drops: Vec<CaseMove>,
}

impl Moves {
    fn of(paired: &Paired, head_result: &EvalResult) -> Self {
        let change = |k: usize| paired.head[k] - paired.baseline[k];
        let to_fail = |k: usize| paired.baseline[k] >= PASS_MARK && paired.head[k] < PASS_MARK;
        let to_pass = |k: usize| paired.baseline[k] < PASS_MARK && paired.head[k] >= PASS_MARK;
        // The largest drops are the MAX_DROPS smallest changes; every pair
        // tied with the last of them is a candidate (ties go by id).
        let mut drops: Vec<f64> = (0..paired.len()).map(change).filter(|c| *c < 0.0).collect();
        let cutoff = match drops.len() {
            0 => None,
            n => Some(
                *drops
                    .select_nth_unstable_by(n.min(MAX_DROPS) - 1, f64::total_cmp)
                    .1,
            ),
        };
        drop(drops);
        let wanted: Vec<usize> = (0..paired.len())
            .filter(|&k| {
                to_fail(k)
                    || to_pass(k)
                    || cutoff.is_some_and(|cut| change(k) < 0.0 && change(k) <= cut)
            })
            .collect();
        let ids = ids_at(
            head_result,
            wanted.iter().map(|&k| paired.head_positions[k] as usize),
        );
        let moves = wanted.iter().zip(ids).map(|(&k, case_id)| {
            (
                k,
                CaseMove {
                    case_id,
                    baseline: paired.baseline[k],
                    head: paired.head[k],
                },
            )
        });
        let mut found = Moves::default();
        for (k, case_move) in moves {
            if to_fail(k) {
                found.to_fail.push(case_move.clone());
            }
            if to_pass(k) {
                found.to_pass.push(case_move.clone());
            }
            if change(k) < 0.0 {
                found.drops.push(case_move);
            }
        }
        let change = |m: &CaseMove| m.head - m.baseline;
        let worst_first = |a: &CaseMove, b: &CaseMove| {
            change(a)
                .total_cmp(&change(b))
                .then_with(|| a.case_id.cmp(&b.case_id))
        };
        found.to_fail.sort_by(worst_first);
        found.to_pass.sort_by(|a, b| {
            change(b)
                .total_cmp(&change(a))
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        found.drops.sort_by(worst_first);
        found.drops.truncate(MAX_DROPS);
        found
    }
}

/// The ids of the head cases at `positions` (in order), in one pass over
/// the head's cases.
fn ids_at(head: &EvalResult, positions: impl Iterator<Item = usize>) -> Vec<String> {
    let mut wanted: Vec<(usize, usize)> = positions.enumerate().map(|(i, p)| (p, i)).collect();
    let mut ids = vec![String::new(); wanted.len()];
    wanted.sort_unstable();
    let mut next = wanted.iter().peekable();
    for (position, case) in head.cases.iter().enumerate() {
        while let Some(&&(at, i)) = next.peek() {
            if at != position {
                break;
            }
            ids[i] = case.case_id.clone();
            next.next();
        }
        if next.peek().is_none() {
            break;
        }
    }
    ids
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
            groups: None,
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
            judge_correction: None,
            judge_agreement: None,
        };
        if let Some(paired) = self.paired {
            paired.fill(&mut gate, policy, decision);
        }
        gate
    }
}

impl Paired {
    fn fill(
        &self,
        gate: &mut CriterionGate,
        policy: &GatePolicy,
        decision: Option<holm::Decision>,
    ) {
        let n = self.len();
        let tolerance = policy.tolerance;
        gate.paired_cases = n;
        gate.verdict = Verdict::Inconclusive;
        gate.method = "none: no case scored on both sides".to_owned();
        let Some(analysis) = &self.analysis else {
            gate.cases_needed = Some(policy.min_cases.max(1));
            return;
        };
        let delta = self.units.mean();
        let sd = self.units.sd();
        gate.groups = self.groups;
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

        // The observed spread can understate the uncertainty the interval
        // carries (equal deltas have sd 0 but the unseen-change floor; a
        // pass/fail criterion with no discordant pairs has a wide exact
        // interval): the detectable effect is projected from whichever is
        // wider, so it never claims more than the interval.
        // With groups, the groups are the sample size.
        let units = self.units.len();
        if units >= 2 {
            let df = units as f64 - 1.0;
            let q = stats::t_quantile(1.0 - tail, df);
            let q_power = stats::t_quantile(POWER, df);
            let root_n = (units as f64).sqrt();
            let spread = sd.max((hi - lo) / 2.0 * root_n / q);
            gate.min_detectable_effect = Some(tolerance + (q + q_power) * spread / root_n);
        }
        gate.verdict = if self.testable {
            verdict(analysis, (lo, hi), tolerance, tail)
        } else {
            Verdict::Inconclusive
        };
        if let Analysis::Corrected { errors, .. } = analysis {
            // The projection of more cases knows nothing of the labels'
            // share of the uncertainty: no number rather than a wrong one.
            gate.judge_correction = Some(judge_correction(errors, delta, tail));
            gate.delta = errors
                .youden()
                .and_then(|j| correction::corrected_point(delta, j));
            return;
        }
        if gate.verdict == Verdict::Inconclusive {
            gate.cases_needed = cases_needed(units, delta, sd, tail, tolerance, policy.min_cases);
        }
    }

    fn fill_moves(&self, gate: &mut CriterionGate) {
        gate.flipped_to_fail = self.moves.to_fail.clone();
        gate.flipped_to_pass = self.moves.to_pass.clone();
        gate.largest_drops = self.moves.drops.clone();
    }
}

fn judge_correction(errors: &ConfusionTable, judged_delta: f64, tail: f64) -> JudgeCorrection {
    let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
    JudgeCorrection {
        judged_delta,
        labels: errors.n(),
        sensitivity: rate(errors.both_pass, errors.human_passes()),
        specificity: rate(errors.both_fail, errors.human_fails()),
        youden: errors.youden(),
        youden_range: errors.youden_bounds(correction::split_tail(tail).1),
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
/// nearest tolerance bound if the mean delta and its standard deviation
/// stayed as observed: the n where the t half-width t₍ₙ₋₁₎·sd/√n and the
/// unseen-change floor both fit in the distance. A projection of a mean
/// that stays put decides about half the time (50% power), and the reports
/// say so. `None` when no number of cases would (the mean sits on a bound)
/// or the projection disagrees with the interval actually computed.
fn cases_needed(
    n: usize,
    delta: f64,
    sd: f64,
    tail: f64,
    tolerance: f64,
    min_cases: u32,
) -> Option<u32> {
    let short_of_minimum = (min_cases as usize).saturating_sub(n);
    if n < 2 {
        return Some(short_of_minimum.max(2 - n) as u32);
    }
    let distance = (delta.abs() - tolerance).abs();
    if distance <= EPS {
        return (short_of_minimum > 0).then_some(short_of_minimum as u32);
    }
    let mut total = UnseenChange::cases_for(distance, tail);
    if sd > 0.0 {
        // t's quantile depends on the n being solved for: a few fixed-point
        // steps from the normal answer settle it.
        let mut m = (stats::normal_quantile(1.0 - tail) * sd / distance).powi(2);
        for _ in 0..4 {
            let df = m.max(2.0) - 1.0;
            m = (stats::t_quantile(1.0 - tail, df) * sd / distance).powi(2);
        }
        total = total.max(m.ceil());
    }
    let total = total.max(min_cases as f64);
    let more = total - n as f64;
    (more >= 1.0).then(|| more.min(u32::MAX as f64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_needed_projects_from_the_observed_spread() {
        // Mean −0.05, sd 0.3, bound at −0.02: distance 0.03; t₀.₉₇₅ at ~385
        // cases is 1.966, so (1.966·0.3/0.03)² ≈ 387.
        let more = cases_needed(20, -0.05, 0.3, 0.025, 0.02, 10).unwrap();
        assert!((386..=389).contains(&(more + 20)), "{more}");
        // Too few cases for any spread estimate: reach the minimum first.
        assert_eq!(cases_needed(1, -0.5, 0.0, 0.025, 0.02, 10), Some(9));
        assert_eq!(cases_needed(0, 0.0, 0.0, 0.025, 0.02, 0), Some(2));
        // No spread: the unseen-change floor still needs its cases:
        // 1 − 0.025^(1/n) < 0.48 from n = 6 on.
        assert_eq!(cases_needed(4, -0.5, 0.0, 0.025, 0.02, 5), Some(2));
        // An all-zero delta claims "unchanged" only once a change striking
        // 2% of cases would have shown: n > ln 0.05 / ln 0.98 ≈ 148.3.
        assert_eq!(cases_needed(30, 0.0, 0.0, 0.05, 0.02, 10), Some(149 - 30));
        // A mean exactly on the bound never decides.
        assert_eq!(cases_needed(40, -0.02, 0.2, 0.025, 0.02, 10), None);
        // Already enough by the projection: no number to offer.
        assert_eq!(cases_needed(400, -0.05, 0.3, 0.025, 0.02, 10), None);
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
