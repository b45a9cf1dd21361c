//! Calibration of the gate against seeded simulations, at the places real
//! suites live: 5 to 200 cases, pass/fail and 1–5 rubrics, sparse skewed
//! changes, ceiling effects, repeats, grouped cases, and the true change
//! placed exactly at the tolerance as well as at zero.
//!
//! Each claim the docs make is checked as a rate with an exact binomial
//! (Clopper–Pearson) bound, not as a raw rate: "at most 5%" passes only when
//! the one-sided 95% upper bound of the observed rate stays below
//! [`ALARM_BOUND`], so a gate whose true rate is 7% fails with probability
//! ≥ 95%. Power claims use the lower bound the same way.
//!
//! The calibration must be able to fail: three known broken gates (a plain
//! normal interval, the old two-sided 95% design, calls instead of cases as
//! the unit) run through the same claims and each must break at least one.
//!
//! Judged criteria corrected by reviewers' labels have their own claims at
//! the end: a simulated judge of known sensitivity and specificity, and two
//! mutants (no correction; a correction that takes the labels as exact).
//!
//! Deterministic (fixed seeds) and a few seconds. The long sweep (every
//! scenario, 2,000 trials each) runs with `PROMPTGATE_CALIBRATION_SWEEP=1`
//! and `--nocapture`; its table is in docs/gate.md.

mod gate_support;

use gate_support::{Rng, binary_criterion, case, criterion, result, sequential_check};
use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::gate::{GateInput, Verdict, gate_all, gate_all_reviewed};
use promptgate::pipeline::review::{ConfusionTable, ReviewedJudges};
use promptgate::types::{EvalResult, GateOverrides};

const TOLERANCE: f64 = 0.02;
/// A "≤ 5%" claim fails when the 95% upper bound of its rate reaches this:
/// a true rate of 7% then fails with probability ≥ 95%.
const ALARM_BOUND: f64 = 0.07;

/// What the simulated cases look like.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// 1–5 rubric (0.5 or 0.75 on the 0–1 scale), judge one point off on
    /// one repeat in five; the change: a few cases fall (or gain) a point.
    SparseRubric,
    /// Every baseline case at the top of the scale and a deterministic
    /// judge: only the few cases that change move at all.
    Ceiling,
    /// Half the changed cases rise, half fall by the same amount (mean
    /// zero at the case level), on top of the true change.
    CaseLevelSwings,
    /// Pass/fail outputs, mostly passing; a few flip either way.
    PassFail,
    /// Groups of five cases that share a source and change together.
    Grouped,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    shape: Shape,
    cases: usize,
    repeats: usize,
    /// Criteria per check, all with the same true change.
    criteria: usize,
    /// The true mean change, in units of the tolerance (−1 = a drop of
    /// exactly the tolerance).
    change: f64,
}

impl Scenario {
    fn name(&self) -> String {
        format!(
            "{:?} n={} r={} k={} change={:+}×tol",
            self.shape, self.cases, self.repeats, self.criteria, self.change
        )
    }
}

/// One criterion's per-case, per-repeat scores on both sides, with the
/// true mean change `delta`; `groups` when the cases are grouped.
fn simulate(rng: &mut Rng, s: &Scenario) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let delta = s.change * TOLERANCE;
    let step = 0.25;
    // The share of units that change by one step, so the mean is `delta`.
    let share = (delta.abs() / step).min(1.0);
    let sign = if delta < 0.0 { -1.0 } else { 1.0 };
    let noise = |rng: &mut Rng, score: f64| -> f64 {
        match s.shape {
            Shape::Ceiling | Shape::PassFail => score,
            _ if rng.unit() < 0.2 => score + if rng.unit() < 0.5 { -step } else { step },
            _ => score,
        }
    };
    let mut base = Vec::with_capacity(s.cases);
    let mut head = Vec::with_capacity(s.cases);
    let mut group_change = 0.0;
    for i in 0..s.cases {
        let (b, h) = match s.shape {
            Shape::PassFail => {
                // P(lost) − P(gained) = −delta, around 1% flaky flips.
                let u = rng.unit();
                let lost = 0.01 + if delta < 0.0 { -delta } else { 0.0 };
                let gained = 0.01 + if delta > 0.0 { delta } else { 0.0 };
                if u < lost {
                    (1.0, 0.0)
                } else if u < lost + gained {
                    (0.0, 1.0)
                } else if u < 0.9 {
                    (1.0, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Shape::Ceiling => {
                let h = if rng.unit() < share / 2.0 {
                    1.0 - 2.0 * step
                } else {
                    1.0
                };
                (1.0, h)
            }
            Shape::SparseRubric => {
                let b = if rng.unit() < 0.5 { 0.5 } else { 0.75 };
                let moved = rng.unit() < share;
                (b, if moved { b + sign * step } else { b })
            }
            Shape::CaseLevelSwings => {
                let b = if rng.unit() < 0.5 { 0.5 } else { 0.75 };
                let u = rng.unit();
                let h = if u < share {
                    b + sign * step
                } else if u < share + 0.15 {
                    b + step
                } else if u < share + 0.3 {
                    b - step
                } else {
                    b
                };
                (b, h)
            }
            Shape::Grouped => {
                if i % 5 == 0 {
                    // The whole group moves, and its five cases also share
                    // a group-wide swing of mean zero.
                    let moved = if rng.unit() < share { sign * step } else { 0.0 };
                    let swing = match rng.unit() {
                        u if u < 0.25 => step,
                        u if u < 0.5 => -step,
                        _ => 0.0,
                    };
                    group_change = moved + swing;
                }
                (0.5, 0.5 + group_change)
            }
        };
        base.push((0..s.repeats).map(|_| noise(rng, b)).collect());
        head.push((0..s.repeats).map(|_| noise(rng, h)).collect());
    }
    (head, base)
}

/// One trial: `criteria` criteria of one prompt, head and baseline.
fn trial(s: &Scenario, seed: u64) -> (EvalResult, EvalResult) {
    let mut rng = Rng::new(seed);
    let per_criterion: Vec<_> = (0..s.criteria).map(|_| simulate(&mut rng, s)).collect();
    let build = |side: usize, fingerprint: String| {
        let info = |k: usize| {
            if s.shape == Shape::PassFail {
                binary_criterion(&format!("check-{k}"))
            } else {
                criterion(&format!("rubric-{k}"))
            }
        };
        let cases = (0..s.cases)
            .map(|i| {
                let repeats = (0..s.repeats)
                    .map(|r| {
                        per_criterion
                            .iter()
                            .map(|(head, base)| {
                                Some(if side == 0 { head[i][r] } else { base[i][r] })
                            })
                            .collect()
                    })
                    .collect();
                let mut c = case(format!("case-{i}"), repeats);
                if s.shape == Shape::Grouped {
                    c.group = Some(format!("g{}", i / 5));
                }
                c
            })
            .collect();
        result(
            "calibrated",
            &fingerprint,
            (0..s.criteria).map(info).collect(),
            cases,
        )
    };
    (
        build(0, format!("head-{seed}")),
        build(1, format!("base-{seed}")),
    )
}

/// A gate under test: the verdicts of one check's criteria.
type Gate = dyn Fn(&EvalResult, &EvalResult) -> Vec<Verdict>;

fn real_gate(policy: GatePolicy) -> impl Fn(&EvalResult, &EvalResult) -> Vec<Verdict> {
    move |head, baseline| {
        let overrides = GateOverrides::default();
        let gates = gate_all(&[GateInput {
            head,
            baseline: Some(baseline),
            policy: &policy,
            overrides: &overrides,
            sequential: None,
        }]);
        gates[0].criteria.iter().map(|c| c.verdict).collect()
    }
}

/// Mutant 1: mean ± z·sd/√n per criterion, no correction across criteria.
fn normal_interval_gate(head: &EvalResult, baseline: &EvalResult) -> Vec<Verdict> {
    let z = 1.644_853_6;
    (0..head.criteria.len())
        .map(|k| {
            let per_case = |r: &EvalResult| -> Vec<f64> {
                r.cases
                    .iter()
                    .map(|c| {
                        let sum: f64 = c
                            .repeats
                            .iter()
                            .map(|rep| rep.scores[k].score.as_ref().map_or(0.0, |s| s.value))
                            .sum();
                        sum / c.repeats.len() as f64
                    })
                    .collect()
            };
            let deltas: Vec<f64> = per_case(head)
                .iter()
                .zip(per_case(baseline))
                .map(|(h, b)| h - b)
                .collect();
            let n = deltas.len() as f64;
            let mean = deltas.iter().sum::<f64>() / n;
            let var = deltas.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let half = z * (var / n).sqrt();
            let (lo, hi) = (mean - half, mean + half);
            if hi < -TOLERANCE - 1e-9 {
                Verdict::Regressed
            } else if lo > TOLERANCE + 1e-9 {
                Verdict::Improved
            } else if lo >= -TOLERANCE - 1e-9 && hi <= TOLERANCE + 1e-9 {
                Verdict::Unchanged
            } else {
                Verdict::Inconclusive
            }
        })
        .collect()
}

/// Mutant 3: every call its own case (repeats counted as independent).
fn calls_as_cases(r: &EvalResult) -> EvalResult {
    let mut out = r.clone();
    out.cases = r
        .cases
        .iter()
        .flat_map(|c| {
            let c = c.into_owned();
            (0..c.repeats.len()).map(move |k| {
                let rep = &c.repeats[k];
                let mut one = c.clone();
                one.case_id = format!("{}#{k}", c.case_id);
                one.repeats = vec![rep.clone()];
                one
            })
        })
        .collect();
    out
}

/// Observed counts of one scenario.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Checks in which some criterion got this verdict.
    regressed: u64,
    improved: u64,
    unchanged: u64,
}

fn run(gate: &Gate, s: &Scenario, trials: u64, seed: u64) -> Counts {
    let mut counts = Counts::default();
    for t in 0..trials {
        let (head, baseline) = trial(s, seed.wrapping_mul(1_000_003).wrapping_add(t));
        let verdicts = gate(&head, &baseline);
        let any = |v: Verdict| verdicts.contains(&v) as u64;
        counts.regressed += any(Verdict::Regressed);
        counts.improved += any(Verdict::Improved);
        counts.unchanged += any(Verdict::Unchanged);
    }
    counts
}

/// P(X ≥ k) for X ~ Binomial(n, p), summed in logs (n ≤ a few thousand).
fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let ln_choose = |i: u64| -> f64 { (1..=i).map(|j| ((n - i + j) as f64 / j as f64).ln()).sum() };
    (k..=n)
        .map(|i| (ln_choose(i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp())
        .sum::<f64>()
        .min(1.0)
}

/// The exact one-sided 95% upper confidence bound of a rate (Clopper–Pearson).
fn upper_bound(k: u64, n: u64) -> f64 {
    if k == n {
        return 1.0;
    }
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        // P(X ≤ k | mid) > 5% → mid is still plausible.
        if 1.0 - binomial_upper_tail(k + 1, n, mid) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The exact one-sided 95% lower confidence bound of a rate.
fn lower_bound(k: u64, n: u64) -> f64 {
    1.0 - upper_bound(n - k, n)
}

/// A documented claim about one scenario.
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// At most 5% of checks get this verdict (false alarms, false "unchanged").
    AtMost5(Verdict),
    /// At least this share of checks are called regressed (power).
    PowerAtLeast(f64),
}

struct Row {
    scenario: Scenario,
    claim: Claim,
}

fn rows(sweep: bool) -> Vec<Row> {
    use Claim::*;
    use Shape::*;
    use Verdict::*;
    let mut rows = Vec::new();
    let mut add = |shape, cases, repeats, criteria, change, claims: &[Claim]| {
        for &claim in claims {
            rows.push(Row {
                scenario: Scenario {
                    shape,
                    cases,
                    repeats,
                    criteria,
                    change,
                },
                claim,
            });
        }
    };
    let at_drop = [AtMost5(Regressed), AtMost5(Unchanged)];
    let at_zero = [AtMost5(Regressed), AtMost5(Improved)];
    // Small suites, where the old gate broke worst.
    add(SparseRubric, 5, 1, 1, -1.0, &at_drop);
    add(SparseRubric, 12, 1, 1, -1.0, &at_drop);
    add(SparseRubric, 10, 1, 5, 0.0, &at_zero);
    // Repeats must not count as cases.
    add(CaseLevelSwings, 50, 3, 1, -1.0, &at_drop);
    add(Grouped, 50, 1, 1, -1.0, &at_drop);
    // Power: the share of drops caught, at 1×, 2× and 5× the tolerance.
    // The floors are what a one-sided 5% test of this design reaches
    // (normal approximation: 73% at 2.5×, minus a margin); a gate spending
    // half its error budget (the old two-sided design, 62%) falls below.
    add(SparseRubric, 200, 1, 1, -2.5, &[PowerAtLeast(0.65)]);
    add(SparseRubric, 50, 1, 1, -1.0, &[PowerAtLeast(0.0)]);
    add(SparseRubric, 50, 1, 1, -2.0, &[PowerAtLeast(0.0)]);
    add(SparseRubric, 50, 1, 1, -5.0, &[PowerAtLeast(0.60)]);
    let sizes: &[usize] = if sweep {
        &[5, 10, 20, 50, 200]
    } else {
        &[10, 50]
    };
    for &n in sizes {
        add(SparseRubric, n, 1, 1, -1.0, &at_drop);
        add(Ceiling, n, 1, 1, -1.0, &at_drop);
        add(PassFail, n, 1, 1, -1.0, &at_drop);
        if sweep {
            add(SparseRubric, n, 1, 1, 0.0, &at_zero);
            add(SparseRubric, n, 3, 1, -1.0, &at_drop);
            add(SparseRubric, n, 1, 5, 0.0, &at_zero);
            add(CaseLevelSwings, n, 1, 1, 0.0, &at_zero);
            add(PassFail, n, 1, 1, 0.0, &at_zero);
            add(Grouped, n, 1, 1, -1.0, &at_drop);
            add(Ceiling, n, 1, 1, 0.0, &at_zero);
        }
    }
    if sweep {
        for &n in &[20, 50, 200] {
            for change in [-1.0, -2.0, -5.0] {
                add(SparseRubric, n, 1, 1, change, &[PowerAtLeast(0.0)]);
                add(SparseRubric, n, 3, 1, change, &[PowerAtLeast(0.0)]);
            }
        }
    }
    rows
}

/// Runs every claim against `gate`; returns the broken ones. A mutant
/// (`print` false) stops at its first broken claim.
fn calibrate(gate: &Gate, trials: u64, sweep: bool, print: bool) -> Vec<String> {
    check_claims(gate, rows(sweep), trials, print)
}

/// [`calibrate`] on any list of claims.
fn check_claims(gate: &Gate, rows: Vec<Row>, trials: u64, print: bool) -> Vec<String> {
    let mut broken = Vec::new();
    // One simulation per scenario, however many claims it checks.
    let mut seen: Vec<(String, Counts)> = Vec::new();
    for row in rows {
        let name = row.scenario.name();
        let counts = match seen.iter().find(|(n, _)| *n == name) {
            Some((_, counts)) => *counts,
            None => {
                let seed = 7_000 + seen.len() as u64;
                let counts = run(gate, &row.scenario, trials, seed);
                seen.push((name.clone(), counts));
                counts
            }
        };
        let (label, k, ok) = match row.claim {
            Claim::AtMost5(v) => {
                let k = match v {
                    Verdict::Regressed => counts.regressed,
                    Verdict::Improved => counts.improved,
                    _ => counts.unchanged,
                };
                let bound = upper_bound(k, trials);
                (
                    format!("false {v:?} (95% upper bound {:.1}%)", bound * 100.0),
                    k,
                    bound < ALARM_BOUND,
                )
            }
            Claim::PowerAtLeast(floor) => {
                let k = counts.regressed;
                let bound = lower_bound(k, trials);
                (
                    format!(
                        "power (95% lower bound {:.1}%, floor {:.0}%)",
                        bound * 100.0,
                        floor * 100.0
                    ),
                    k,
                    bound >= floor,
                )
            }
        };
        let line = format!(
            "{name} | {label}: {k}/{trials} = {:.1}%",
            100.0 * k as f64 / trials as f64
        );
        if print {
            println!("{}{line}", if ok { "  " } else { "✗ " });
        }
        if !ok {
            broken.push(line);
            if !print {
                break;
            }
        }
    }
    broken
}

fn sweep() -> bool {
    std::env::var_os("PROMPTGATE_CALIBRATION_SWEEP").is_some()
}

const TRIALS: u64 = 300;

#[test]
fn the_gate_keeps_every_documented_rate() {
    let (trials, sweep) = if sweep() {
        (2_000, true)
    } else {
        (TRIALS, false)
    };
    let gate = real_gate(GatePolicy::default());
    let broken = calibrate(&gate, trials, sweep, true);
    assert!(
        broken.is_empty(),
        "the gate broke its claims:\n{}",
        broken.join("\n")
    );
}

#[test]
fn a_plain_normal_interval_fails_the_calibration() {
    let broken = calibrate(&normal_interval_gate, TRIALS, false, false);
    println!("normal interval mutant broke:\n{}", broken.join("\n"));
    assert!(!broken.is_empty());
}

#[test]
fn the_old_two_sided_design_fails_the_calibration() {
    // Each side tested at 2.5%: the 95% two-sided interval read as if it
    // were the verdict's one-sided 95%.
    let gate = real_gate(GatePolicy {
        confidence: 0.975,
        ..GatePolicy::default()
    });
    let broken = calibrate(&gate, TRIALS, false, false);
    println!("two-sided mutant broke:\n{}", broken.join("\n"));
    assert!(!broken.is_empty());
}

#[test]
fn calls_as_the_unit_fails_the_calibration() {
    let real = real_gate(GatePolicy::default());
    let gate = move |head: &EvalResult, baseline: &EvalResult| {
        real(&calls_as_cases(head), &calls_as_cases(baseline))
    };
    let broken = calibrate(&gate, TRIALS, false, false);
    println!("calls-as-cases mutant broke:\n{}", broken.join("\n"));
    assert!(!broken.is_empty());
}

/// Suites big enough for a check to stop early (batches of 20), with the
/// same claims as at fixed n: they must hold under optional stopping.
fn sequential_rows() -> Vec<Row> {
    use Claim::*;
    use Shape::*;
    use Verdict::*;
    let scenario = |shape, change| Scenario {
        shape,
        cases: SEQUENTIAL_CASES,
        repeats: 1,
        criteria: 1,
        change,
    };
    // The claim the peeking mutant breaks comes first: a mutant stops at
    // its first broken claim.
    let claims = [
        (SparseRubric, -1.0, AtMost5(Regressed)),
        (PassFail, -1.0, AtMost5(Regressed)),
        (PassFail, -1.0, AtMost5(Unchanged)),
        (PassFail, 1.0, AtMost5(Unchanged)),
        (PassFail, 0.0, AtMost5(Regressed)),
        (SparseRubric, -1.0, AtMost5(Unchanged)),
        (Ceiling, -1.0, AtMost5(Unchanged)),
        (SparseRubric, -5.0, PowerAtLeast(0.60)),
    ];
    claims
        .into_iter()
        .map(|(shape, change, claim)| Row {
            scenario: scenario(shape, change),
            claim,
        })
        .collect()
}

const SEQUENTIAL_CASES: usize = 200;
const SEQUENTIAL_BATCH: usize = 20;

#[test]
fn sequential_checks_keep_every_documented_rate() {
    let policy = GatePolicy::default();
    let gate = move |head: &EvalResult, baseline: &EvalResult| {
        sequential_check(head, baseline, &policy, SEQUENTIAL_BATCH).0
    };
    let broken = check_claims(&gate, sequential_rows(), TRIALS, true);
    assert!(
        broken.is_empty(),
        "sequential checks broke their claims:\n{}",
        broken.join("\n")
    );
}

#[test]
fn peeking_at_the_fixed_gate_after_every_batch_fails_the_calibration() {
    // The mutant a naive early stop would be: the fixed-n gate read after
    // every batch, stopping at the first verdict that is not inconclusive.
    let real = real_gate(GatePolicy::default());
    let gate = move |head: &EvalResult, baseline: &EvalResult| {
        let mut seen = head.clone();
        let head_cases = head.cases.to_vec();
        let mut verdicts = Vec::new();
        for end in (SEQUENTIAL_BATCH..=head.cases.len()).step_by(SEQUENTIAL_BATCH) {
            seen.cases = head_cases[..end].to_vec().into();
            verdicts = real(&seen, baseline);
            if verdicts.iter().all(|v| *v != Verdict::Inconclusive) {
                break;
            }
        }
        verdicts
    };
    let broken = check_claims(&gate, sequential_rows(), TRIALS, false);
    println!("peeking mutant broke:\n{}", broken.join("\n"));
    assert!(!broken.is_empty());
}

#[test]
fn the_rate_bounds_are_exact() {
    // 7 of 100: Clopper–Pearson one-sided 95% bounds 3.3% and 12.8%.
    assert!(
        (upper_bound(7, 100) - 0.1280).abs() < 2e-3,
        "{}",
        upper_bound(7, 100)
    );
    assert!(
        (lower_bound(7, 100) - 0.0333).abs() < 2e-3,
        "{}",
        lower_bound(7, 100)
    );
    assert!((upper_bound(0, 300) - (1.0 - 0.05f64.powf(1.0 / 300.0))).abs() < 1e-6);
    // A true 7% rate at 300 trials: 21 expected; the bound clears 7%.
    assert!(upper_bound(21, 300) >= ALARM_BOUND);
}

// ---------------------------------------------------------------------
// Judged criteria corrected by reviewers' labels (docs/review.md).
//
// A simulated judge with known error rates scores pass/fail outputs whose
// true pass rate drops by exactly the tolerance. Uncorrected, the judge
// shrinks the drop by its Youden J and the gate calls a real regression
// "unchanged"; corrected by the labels, the gate keeps its documented
// rates. A correction that takes the labels' estimate of J as exact (no
// uncertainty) breaks them again.

/// The simulated judge: sensitivity 0.85, specificity 0.75 (J = 0.6).
const JUDGE_SENSITIVITY: f64 = 0.85;
const JUDGE_SPECIFICITY: f64 = 0.75;
/// The true pass rate of the baseline's outputs (and of the outputs
/// reviewers label).
const TRUE_PASS_RATE: f64 = 0.8;
const JUDGED_TOLERANCE: f64 = 0.10;

#[derive(Debug, Clone, Copy)]
struct JudgedScenario {
    cases: usize,
    labels: usize,
    /// The true change of the pass rate, in tolerances.
    change: f64,
}

fn judge_says(rng: &mut Rng, truly_passes: bool) -> bool {
    if truly_passes {
        rng.unit() < JUDGE_SENSITIVITY
    } else {
        rng.unit() >= JUDGE_SPECIFICITY
    }
}

/// One check: the judged head and baseline, and the reviewers' table
/// (labels on other outputs of the same judge).
fn judged_trial(s: &JudgedScenario, seed: u64) -> (EvalResult, EvalResult, ConfusionTable) {
    let mut rng = Rng::new(seed);
    // P(a passing baseline case fails at the head) so that the true pass
    // rate falls by `drop`.
    let drop = -s.change * JUDGED_TOLERANCE;
    let lose = drop / TRUE_PASS_RATE;
    let mut head = Vec::with_capacity(s.cases);
    let mut base = Vec::with_capacity(s.cases);
    for i in 0..s.cases {
        let truly_base = rng.unit() < TRUE_PASS_RATE;
        let truly_head = truly_base && rng.unit() >= lose;
        let score = |rng: &mut Rng, pass: bool| Some(if judge_says(rng, pass) { 1.0 } else { 0.0 });
        base.push(case(
            format!("case-{i}"),
            vec![vec![score(&mut rng, truly_base)]],
        ));
        head.push(case(
            format!("case-{i}"),
            vec![vec![score(&mut rng, truly_head)]],
        ));
    }
    let mut table = ConfusionTable::default();
    for _ in 0..s.labels {
        let truly = rng.unit() < TRUE_PASS_RATE;
        match (truly, judge_says(&mut rng, truly)) {
            (true, true) => table.both_pass += 1,
            (true, false) => table.judge_failed_a_pass += 1,
            (false, true) => table.judge_passed_a_fail += 1,
            (false, false) => table.both_fail += 1,
        }
    }
    // A pass/fail judge: its scores are 0 or 1 by construction.
    let judged = promptgate::types::CriterionInfo {
        binary: true,
        ..criterion("helpful")
    };
    (
        result(
            "judged",
            &format!("head-{seed}"),
            vec![judged.clone()],
            head,
        ),
        result("judged", &format!("base-{seed}"), vec![judged], base),
        table,
    )
}

/// A gate of judged checks: the verdict from head, baseline and labels.
type JudgedGate = dyn Fn(&EvalResult, &EvalResult, ConfusionTable) -> Verdict;

fn judged_gate(correct: bool) -> impl Fn(&EvalResult, &EvalResult, ConfusionTable) -> Verdict {
    move |head, baseline, table| {
        let policy = GatePolicy {
            tolerance: JUDGED_TOLERANCE,
            ..GatePolicy::default()
        };
        let overrides = GateOverrides::default();
        let mut judges = ReviewedJudges::default();
        if correct {
            judges.insert(&head.prompt, &head.criteria[0].name, table);
        }
        let input = GateInput {
            head,
            baseline: Some(baseline),
            policy: &policy,
            overrides: &overrides,
            sequential: None,
        };
        gate_all_reviewed(&[input], &judges)[0].criteria[0].verdict
    }
}

/// Mutant: the labels' estimate of the judge's error rates taken as exact
/// (the table scaled up ten-thousandfold: the same rates, no uncertainty).
fn labels_as_exact(table: ConfusionTable) -> ConfusionTable {
    const SCALE: u64 = 10_000;
    ConfusionTable {
        both_pass: table.both_pass * SCALE,
        judge_failed_a_pass: table.judge_failed_a_pass * SCALE,
        judge_passed_a_fail: table.judge_passed_a_fail * SCALE,
        both_fail: table.both_fail * SCALE,
    }
}

/// Trials per judged scenario: fewer than the fixed-n claims', as each
/// trial gates thousands of cases (still 0 of 200 bounds a rate at 1.5%).
const JUDGED_TRIALS: u64 = 200;

/// Checks each claim on its scenario (each scenario simulated once);
/// returns the broken ones.
fn check_judged(gate: &JudgedGate, claims: &[(JudgedScenario, Claim)], print: bool) -> Vec<String> {
    let mut broken = Vec::new();
    let mut seen: Vec<(String, Counts)> = Vec::new();
    for (scenario, claim) in claims {
        let name = format!("{scenario:?}");
        let counts = match seen.iter().find(|(n, _)| *n == name) {
            Some((_, counts)) => *counts,
            None => {
                let mut counts = Counts::default();
                let seed = 91_000 + 1_000 * seen.len() as u64;
                for t in 0..JUDGED_TRIALS {
                    let (head, baseline, table) = judged_trial(scenario, seed + t);
                    match gate(&head, &baseline, table) {
                        Verdict::Regressed => counts.regressed += 1,
                        Verdict::Improved => counts.improved += 1,
                        Verdict::Unchanged => counts.unchanged += 1,
                        _ => {}
                    }
                }
                seen.push((name, counts));
                counts
            }
        };
        let (label, hits, ok) = match *claim {
            Claim::AtMost5(v) => {
                let hits = match v {
                    Verdict::Regressed => counts.regressed,
                    Verdict::Improved => counts.improved,
                    _ => counts.unchanged,
                };
                let bound = upper_bound(hits, JUDGED_TRIALS);
                (
                    format!("false {v:?} (95% upper bound {:.1}%)", bound * 100.0),
                    hits,
                    bound < ALARM_BOUND,
                )
            }
            Claim::PowerAtLeast(floor) => {
                let bound = lower_bound(counts.regressed, JUDGED_TRIALS);
                (
                    format!("power (95% lower bound {:.1}%)", bound * 100.0),
                    counts.regressed,
                    bound >= floor,
                )
            }
        };
        let line = format!(
            "judge Se {JUDGE_SENSITIVITY} Sp {JUDGE_SPECIFICITY}, {scenario:?} | {label}: {hits}/{JUDGED_TRIALS}"
        );
        if print {
            println!("{}{line}", if ok { "  " } else { "✗ " });
        }
        if !ok {
            broken.push(line);
        }
    }
    broken
}

fn judged_claims() -> Vec<(JudgedScenario, Claim)> {
    use Claim::*;
    use Verdict::*;
    let at_tolerance = |cases, labels| JudgedScenario {
        cases,
        labels,
        change: -1.0,
    };
    vec![
        // Many cases, few labels: the labels' uncertainty dominates.
        (at_tolerance(3_000, 40), AtMost5(Unchanged)),
        (at_tolerance(3_000, 40), AtMost5(Regressed)),
        // Enough labels to decide.
        (at_tolerance(1_000, 400), AtMost5(Unchanged)),
        (at_tolerance(1_000, 400), AtMost5(Regressed)),
        (
            JudgedScenario {
                cases: 1_000,
                labels: 400,
                change: -3.0,
            },
            PowerAtLeast(0.80),
        ),
    ]
}

#[test]
fn a_biased_judge_corrected_by_labels_keeps_the_documented_rates() {
    let broken = check_judged(&judged_gate(true), &judged_claims(), true);
    assert!(
        broken.is_empty(),
        "the corrected gate broke its claims:\n{}",
        broken.join("\n")
    );
}

#[test]
fn an_uncorrected_biased_judge_fails_the_calibration() {
    let broken = check_judged(&judged_gate(false), &judged_claims(), false);
    println!("uncorrected judge broke:\n{}", broken.join("\n"));
    assert!(!broken.is_empty());
}

#[test]
fn a_correction_that_ignores_the_labels_uncertainty_fails_the_calibration() {
    let corrected = judged_gate(true);
    let gate = move |head: &EvalResult, baseline: &EvalResult, table: ConfusionTable| {
        corrected(head, baseline, labels_as_exact(table))
    };
    let broken = check_judged(&gate, &judged_claims(), false);
    println!("labels-as-exact mutant broke:\n{}", broken.join("\n"));
    assert!(!broken.is_empty());
}
