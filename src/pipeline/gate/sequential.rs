//! Sequential gating: decide from the cases evaluated so far, and stop
//! calling the provider once every criterion is decided.
//!
//! A fixed-n interval looked at after every batch would cry wolf far more
//! often than its level (each look is another chance). These tests stay
//! valid however often they are read: each is a betting e-process
//! (Waudby-Smith & Ramdas 2024, "Estimating means of bounded random
//! variables by betting"; Shafer 2021). A bettor starts with wealth 1 and,
//! before each case, stakes a share λ of it (chosen from the earlier cases
//! only) on the case's delta lying on the alternative's side of the bound;
//! under the null the wealth is a nonnegative supermartingale, so by
//! Ville's inequality it ever reaches 1/α with probability at most α.
//!
//! Per criterion, four one-sided tests at the tolerance bounds:
//! - regressed: the mean is below −tol (null: mean ≥ −tol);
//! - improved: the mean is above +tol (null: mean ≤ +tol);
//! - unchanged: both mean > −tol and mean < +tol (two nulls, each rejected:
//!   an intersection–union test, as TOST, needs no split of α).
//!
//! Across criteria, each test runs at α/m (Bonferroni on e-values, valid
//! under any dependence). The cases must arrive in an order fixed before
//! their scores are known (a seeded shuffle: [`case_order`]).
//!
//! A run that never stops early still ends with the fixed-n gate on every
//! case, which is more powerful at the full size. Two chances to err would
//! add their error rates, so the error budget is split: the sequential
//! tests get [`SEQUENTIAL_SHARE`] of α and the final gate the rest
//! ([`final_policy`]); whichever decides, "regressed" stays within α.
//!
//! Pure: no I/O. The engine feeds it batches and asks [`Sequential::decided`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Verdict;
use crate::types::{CaseIdDigest, CaseResult, CriterionInfo, EvalResult};

/// The share of the error budget the sequential tests spend; the final
/// fixed-n gate of a run that did not stop spends the rest.
pub const SEQUENTIAL_SHARE: f64 = 0.5;

/// Suites smaller than this run every case and are gated at the full
/// error budget: a betting test needs dozens of cases before it can
/// decide anything, so looking earlier would only cost the final gate
/// power (its share of α) and save nothing.
pub const MIN_CASES: usize = 50;

/// Cases per batch for a suite of `cases`: about twenty looks over the
/// suite, never so small that the runner's concurrency idles.
pub fn batch_size(cases: usize) -> usize {
    (cases / 20).clamp(20, 500)
}

/// How a prompt's sequential tests ended: what the gate and the report
/// need of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialOutcome {
    /// Each head criterion's verdict from the anytime-valid tests when
    /// the run ended.
    pub verdicts: Vec<Verdict>,
    /// Set when the run stopped before the last case: the verdicts above
    /// are the prompt's, and this says what stopping saved.
    pub stopped: Option<Savings>,
}

/// The policy of the fixed-n gate that ends a sequential run which did not
/// stop early: its one-sided level is what the sequential tests left.
pub fn final_policy(
    policy: &crate::pipeline::config::GatePolicy,
) -> crate::pipeline::config::GatePolicy {
    crate::pipeline::config::GatePolicy {
        confidence: 1.0 - (1.0 - policy.confidence) * (1.0 - SEQUENTIAL_SHARE),
        ..policy.clone()
    }
}

/// The largest share of wealth a bettor stakes, as a fraction of the most
/// it could without risking ruin (Waudby-Smith & Ramdas use 1/2 or 3/4).
const MAX_STAKE: f64 = 0.5;
/// Prior pseudo-observations for the bettor's running mean and variance,
/// so its first bets are small.
const PRIOR_VARIANCE: f64 = 0.25;

/// One one-sided betting test of "the mean delta is beyond `bound`" on the
/// side `below` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BettingTest {
    bound: f64,
    /// true: the alternative is "mean < bound".
    below: bool,
    /// ln of the bettor's wealth.
    log_wealth: f64,
    /// The alternative-side gains seen so far, y = ±(x − bound).
    count: f64,
    sum: f64,
    sum_sq: f64,
}

impl BettingTest {
    fn new(bound: f64, below: bool) -> Self {
        Self {
            bound,
            below,
            log_wealth: 0.0,
            count: 0.0,
            sum: 0.0,
            sum_sq: 0.0,
        }
    }

    /// The predictable stake (approximate GRAPA, Waudby-Smith & Ramdas
    /// §5.4): μ̂ / (σ̂² + μ̂²) from earlier cases, clipped to [0, c/ymax].
    fn stake(&self) -> f64 {
        let largest = 1.0 + self.bound.abs();
        let mean = self.sum / (self.count + 1.0);
        let variance = (PRIOR_VARIANCE + self.sum_sq - self.sum * self.sum / (self.count + 1.0))
            .max(0.0)
            / (self.count + 1.0);
        let lambda = mean / (variance + mean * mean).max(1e-12);
        lambda.clamp(0.0, MAX_STAKE / largest)
    }

    fn observe(&mut self, delta: f64) {
        let x = delta.clamp(-1.0, 1.0);
        let y = if self.below {
            self.bound - x
        } else {
            x - self.bound
        };
        let lambda = self.stake();
        self.log_wealth += (1.0 + lambda * y).ln();
        self.count += 1.0;
        self.sum += y;
        self.sum_sq += y * y;
    }

    fn rejects(&self, alpha: f64) -> bool {
        self.log_wealth >= -alpha.ln()
    }
}

/// The four tests of one criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CriterionTests {
    drop: BettingTest,
    gain: BettingTest,
    above_lower: BettingTest,
    below_upper: BettingTest,
}

/// The running state of one prompt's sequential gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequential {
    /// Level of each test: its share of (1 − confidence), over the number
    /// of criteria.
    alpha: f64,
    criteria: Vec<CriterionTests>,
    /// Cases seen so far.
    pub seen: usize,
}

impl Sequential {
    /// A gate for `criteria` criteria at this tolerance and confidence,
    /// one of `family` criteria tested in the same check (every criterion
    /// of every prompt: each test gets α over the family, Bonferroni).
    pub fn new(criteria: usize, family: usize, tolerance: f64, confidence: f64) -> Self {
        let tolerance = tolerance.max(0.0);
        let family = family.max(criteria).max(1);
        Self {
            alpha: (1.0 - confidence).clamp(1e-12, 1.0) * SEQUENTIAL_SHARE / family as f64,
            criteria: (0..criteria)
                .map(|_| CriterionTests {
                    drop: BettingTest::new(-tolerance, true),
                    gain: BettingTest::new(tolerance, false),
                    above_lower: BettingTest::new(-tolerance, false),
                    below_upper: BettingTest::new(tolerance, true),
                })
                .collect(),
            seen: 0,
        }
    }

    /// One case's paired deltas (head − baseline, per criterion, in
    /// [−1, 1]); `None` for a criterion the case could not score (a failed
    /// call): it is skipped, which the tests allow since the skip does not
    /// depend on the delta it hides.
    pub fn observe(&mut self, deltas: &[Option<f64>]) {
        for (tests, delta) in self.criteria.iter_mut().zip(deltas) {
            if let Some(d) = delta.filter(|d| d.is_finite()) {
                tests.drop.observe(d);
                tests.gain.observe(d);
                tests.above_lower.observe(d);
                tests.below_upper.observe(d);
            }
        }
        self.seen += 1;
    }

    /// Each criterion's verdict so far: regressed, improved or unchanged
    /// once decided, inconclusive until then.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.criteria
            .iter()
            .map(|t| {
                if t.drop.rejects(self.alpha) {
                    Verdict::Regressed
                } else if t.gain.rejects(self.alpha) {
                    Verdict::Improved
                } else if t.above_lower.rejects(self.alpha) && t.below_upper.rejects(self.alpha) {
                    Verdict::Unchanged
                } else {
                    Verdict::Inconclusive
                }
            })
            .collect()
    }

    /// Every criterion decided: the provider need not be called again for
    /// this prompt.
    pub fn decided(&self) -> bool {
        !self.criteria.is_empty() && self.verdicts().iter().all(|v| *v != Verdict::Inconclusive)
    }

    /// Nothing more to learn that could change whether the prompt fails:
    /// every criterion decided, or one that `fails_when_regressed` marks
    /// (it counts, and the policy fails on regressions) decided regressed.
    pub fn settled(&self, fails_when_regressed: &[bool]) -> bool {
        self.decided()
            || self
                .verdicts()
                .iter()
                .zip(fails_when_regressed)
                .any(|(verdict, fails)| *fails && *verdict == Verdict::Regressed)
    }
}

/// A case's score per criterion (mean over repeats, clamped into [0, 1],
/// a failed score counting 0 as in the gate); `None` when it has no
/// repeats or a call of it failed.
pub fn case_scores(case: &CaseResult, criteria: usize) -> Option<Vec<f64>> {
    if case.repeats.is_empty() || case.repeats.iter().any(|r| r.call.result.is_err()) {
        return None;
    }
    let repeats = case.repeats.len() as f64;
    Some(
        (0..criteria)
            .map(|k| {
                let sum: f64 = case
                    .repeats
                    .iter()
                    .map(|r| match r.scores.get(k).map(|s| &s.score) {
                        Some(Ok(score)) if score.value.is_finite() => score.value.clamp(0.0, 1.0),
                        _ => 0.0,
                    })
                    .sum();
                sum / repeats
            })
            .collect(),
    )
}

/// The baseline's per-case scores, in the head's criterion order (matched
/// by name, like the gate), to pair head cases with as they arrive. Held
/// as a table: a row of scores per case (NaN where it has none), found by
/// its id's digest, so a million-case baseline costs tens of megabytes.
#[derive(Debug, Clone, Default)]
pub struct BaselineScores {
    /// (id, row), sorted by id; the first case of an id wins.
    rows: Vec<(CaseIdDigest, u32)>,
    /// `criteria` scores a row.
    scores: Vec<f64>,
    criteria: usize,
}

impl BaselineScores {
    pub fn new(baseline: &EvalResult, head_criteria: &[CriterionInfo]) -> Self {
        let column: Vec<Option<usize>> = head_criteria
            .iter()
            .map(|c| baseline.criteria.iter().position(|b| b.name == c.name))
            .collect();
        let criteria = column.len();
        let mut rows = Vec::with_capacity(baseline.cases.len());
        let mut scores = Vec::with_capacity(baseline.cases.len() * criteria);
        for (row, case) in baseline.cases.iter().enumerate() {
            let row = u32::try_from(row).expect("fewer than 2^32 cases");
            rows.push((CaseIdDigest::of(&case.case_id), row));
            let case_scores = case_scores(&case, baseline.criteria.len());
            scores.extend(column.iter().map(|j| {
                j.and_then(|j| case_scores.as_ref().map(|s| s[j]))
                    .unwrap_or(f64::NAN)
            }));
        }
        // Stable: the first row of an id stays first among its copies.
        rows.sort_by_key(|(id, _)| *id);
        rows.dedup_by_key(|(id, _)| *id);
        Self {
            rows,
            scores,
            criteria,
        }
    }

    /// A head case's deltas per head criterion; `None` where either side
    /// has no score for it.
    pub fn deltas(&self, head: &CaseResult, criteria: usize) -> Vec<Option<f64>> {
        let head_scores = case_scores(head, criteria);
        let id = CaseIdDigest::of(&head.case_id);
        let row = self
            .rows
            .binary_search_by_key(&id, |(id, _)| *id)
            .ok()
            .map(|at| self.rows[at].1 as usize);
        (0..criteria)
            .map(|k| {
                let h = head_scores.as_ref()?[k];
                let b = *self
                    .scores
                    .get(row? * self.criteria + k)
                    .filter(|_| k < self.criteria)?;
                (!b.is_nan()).then_some(h - b)
            })
            .collect()
    }
}

/// The order cases are evaluated in: a shuffle seeded by `seed` (e.g. the
/// head's fingerprint), fixed before any score is seen, so stopping early
/// never depends on which cases came first. Cached cases cost nothing and
/// go first; that is still a fixed order, because whether a case is cached
/// does not depend on its score.
pub fn case_order(cases: usize, seed: &str, cached: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let key = |i: usize| {
        let mut hasher = Sha256::new();
        hasher.update(seed.as_bytes());
        hasher.update((i as u64).to_le_bytes());
        let digest = hasher.finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(bytes)
    };
    let mut order: Vec<usize> = (0..cases).collect();
    order.sort_by_key(|&i| (!cached(i), key(i)));
    order
}

/// What stopping early saved, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Savings {
    /// Cases evaluated before every criterion was decided, of the total.
    pub decided_after: usize,
    pub cases: usize,
    /// Provider calls, tokens and dollars not spent (estimated from the
    /// calls that were made).
    pub calls_saved: u64,
    pub tokens_saved: u64,
    pub cost_saved_usd: Option<f64>,
}

impl Savings {
    /// "decided after 120 of 500 cases; 1,140 calls saved".
    pub fn summary(&self) -> String {
        let mut text = format!(
            "decided after {} of {} cases; {} calls, {} tokens saved",
            self.decided_after, self.cases, self.calls_saved, self.tokens_saved
        );
        if let Some(cost) = self.cost_saved_usd {
            text.push_str(&format!(", ${cost:.4}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CallOutcome, CriterionScore, RepeatResult, Score, Usage};

    fn scored(id: &str, scores: &[f64]) -> CaseResult {
        CaseResult {
            case_id: id.to_owned(),
            vars: serde_json::Map::new(),
            repeats: vec![RepeatResult {
                call: CallOutcome {
                    result: Ok("reply".to_owned()),
                    usage: Usage::default(),
                    latency_ms: 1,
                    cost_usd: None,
                    cached: false,
                },
                scores: scores
                    .iter()
                    .map(|&value| CriterionScore {
                        score: Ok(Score {
                            value,
                            reason: String::new(),
                            display: None,
                        }),
                    })
                    .collect(),
            }],
        }
    }

    fn info(name: &str) -> CriterionInfo {
        CriterionInfo {
            name: name.to_owned(),
            kind: "string".to_owned(),
            weight: 1.0,
            threshold: None,
            binary: false,
            line: None,
        }
    }

    #[test]
    fn baseline_scores_pair_by_id_and_criterion_name_and_the_first_copy_wins() {
        // The baseline's criteria in another order, its cases in another
        // order, one id twice, and one head criterion it lacks.
        let baseline = EvalResult::of_cases(
            vec![info("b"), info("a")],
            vec![
                scored("y", &[0.25, 0.5]),
                scored("x", &[1.0, 0.75]),
                scored("y", &[0.0, 0.0]),
            ]
            .into(),
        );
        let head_criteria = [info("a"), info("b"), info("new")];
        let scores = BaselineScores::new(&baseline, &head_criteria);
        let deltas = |id: &str| scores.deltas(&scored(id, &[1.0, 1.0, 1.0]), 3);
        assert_eq!(deltas("x"), [Some(0.25), Some(0.0), None]);
        assert_eq!(deltas("y"), [Some(0.5), Some(0.75), None]);
        assert_eq!(deltas("z"), [None, None, None], "not in the baseline");
    }

    #[test]
    fn a_clear_drop_is_decided_early_and_nothing_is_decided_from_noise() {
        let mut gate = Sequential::new(1, 1, 0.02, 0.95);
        let mut after = None;
        for i in 0..500 {
            gate.observe(&[Some(if i % 3 == 0 { -0.75 } else { 0.0 })]);
            if gate.decided() {
                after = Some(i + 1);
                break;
            }
        }
        let after = after.expect("a drop of 0.25 is decided");
        assert!(after < 100, "{after}");
        assert_eq!(gate.verdicts(), vec![Verdict::Regressed]);

        // Deltas of exactly −tol: never regressed, never unchanged.
        let mut gate = Sequential::new(1, 1, 0.02, 0.95);
        for i in 0..2_000 {
            gate.observe(&[Some(if i % 2 == 0 { 0.23 } else { -0.27 })]);
            assert_eq!(gate.verdicts(), vec![Verdict::Inconclusive], "at {i}");
        }
    }

    #[test]
    fn unchanged_needs_both_bounds_and_skipped_cases_do_not_count() {
        let mut gate = Sequential::new(2, 2, 0.05, 0.95);
        for _ in 0..400 {
            gate.observe(&[Some(0.0), None]);
        }
        assert_eq!(
            gate.verdicts(),
            vec![Verdict::Unchanged, Verdict::Inconclusive]
        );
        assert!(!gate.decided());
    }

    #[test]
    fn case_order_is_seeded_and_puts_cached_cases_first() {
        let none = |_: usize| false;
        let a = case_order(50, "fp-1", &none);
        assert_eq!(a, case_order(50, "fp-1", &none));
        assert_ne!(a, case_order(50, "fp-2", &none));
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let cached = |i: usize| i >= 45;
        let b = case_order(50, "fp-1", &cached);
        assert!(b[..5].iter().all(|&i| i >= 45));
    }
}
