//! Calibration of the gate against seeded simulations: how often it cries
//! "regressed" when nothing changed, and how often it catches a real drop.
//! Deterministic (fixed seeds) and fast; run with `--nocapture` to see the
//! observed rates.

mod gate_support;

use gate_support::{Rng, binary_criterion, case, criterion, judge, result, true_grades};
use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::gate::{GateInput, Verdict, gate_all, gate_one};
use promptgate::types::{CriterionInfo, EvalResult, GateOverrides};

const TRIALS: u64 = 200;
const CASES: usize = 50;
/// The simulated judge is one rubric point off on one answer in five.
const JUDGE_NOISE: f64 = 0.2;
/// Repeats that average that noise down (the design's answer to noisy judges).
const REPEATS: usize = 3;

/// How often the simulated model's output flips a pass/fail check by chance.
const FLAKY: f64 = 0.02;

/// Per case, per repeat, one criterion's score.
type Scores = Vec<Vec<Vec<Option<f64>>>>;

fn as_result(fingerprint: String, info: CriterionInfo, per_case: Scores) -> EvalResult {
    let cases = per_case
        .into_iter()
        .enumerate()
        .map(|(i, repeats)| case(format!("case-{i}"), repeats))
        .collect();
    result("support-reply", &fingerprint, vec![info], cases)
}

/// Judges every case `repeats` times with the noisy rubric judge.
fn judged(rng: &mut Rng, grades: &[u8], noise: f64, repeats: usize) -> Scores {
    grades
        .iter()
        .map(|&g| {
            (0..repeats)
                .map(|_| vec![Some(judge(rng, g, noise))])
                .collect()
        })
        .collect()
}

/// One rubric trial: baseline and head judged independently on the same
/// suite; with `drop`, every fifth case's true grade falls by two points.
fn rubric_trial(seed: u64, drop: bool, noise: f64, repeats: usize) -> (EvalResult, EvalResult) {
    let mut rng = Rng::new(seed);
    let mut base_grades = true_grades(&mut rng, CASES);
    let mut head_grades = base_grades.clone();
    for i in (0..CASES).step_by(5) {
        // A two-point fall needs room: these cases start at 3–5.
        base_grades[i] = base_grades[i].max(3);
        head_grades[i] = if drop {
            base_grades[i] - 2
        } else {
            base_grades[i]
        };
    }
    let baseline = judged(&mut rng, &base_grades, noise, repeats);
    let head = judged(&mut rng, &head_grades, noise, repeats);
    (
        as_result(
            format!("head-{seed}-{drop}"),
            criterion("helpfulness"),
            head,
        ),
        as_result(format!("base-{seed}"), criterion("helpfulness"), baseline),
    )
}

/// One pass/fail trial: a slightly flaky model whose output passes a
/// deterministic check with probability 1 − FLAKY per case; with `drop`,
/// every fifth case now fails with that probability instead.
fn binary_trial(seed: u64, drop: bool) -> (EvalResult, EvalResult) {
    let mut rng = Rng::new(seed);
    let mut outcome =
        |pass_rate: f64| vec![vec![Some(if rng.unit() < pass_rate { 1.0 } else { 0.0 })]];
    let baseline: Scores = (0..CASES).map(|_| outcome(1.0 - FLAKY)).collect();
    let head: Scores = (0..CASES)
        .map(|i| {
            outcome(if drop && i % 5 == 0 {
                FLAKY
            } else {
                1.0 - FLAKY
            })
        })
        .collect();
    (
        as_result(
            format!("head-{seed}-{drop}"),
            binary_criterion("cites-order-number"),
            head,
        ),
        as_result(
            format!("base-{seed}"),
            binary_criterion("cites-order-number"),
            baseline,
        ),
    )
}

fn verdict_of(head: &EvalResult, baseline: &EvalResult, policy: &GatePolicy) -> Verdict {
    let gate = gate_one(GateInput {
        head,
        baseline: Some(baseline),
        policy,
        overrides: &GateOverrides::default(),
    });
    gate.criteria[0].verdict
}

/// The share of trials called regressed, printed with a label.
fn regressed_rate(
    label: &str,
    policy: &GatePolicy,
    trial: impl Fn(u64) -> (EvalResult, EvalResult),
) -> f64 {
    let regressed = (0..TRIALS)
        .filter(|&seed| {
            let (head, baseline) = trial(seed);
            verdict_of(&head, &baseline, policy) == Verdict::Regressed
        })
        .count();
    let rate = regressed as f64 / TRIALS as f64;
    println!(
        "{label}: regressed in {regressed}/{TRIALS} trials ({:.1}%)",
        rate * 100.0
    );
    rate
}

fn strict() -> GatePolicy {
    GatePolicy {
        tolerance: 0.0,
        ..GatePolicy::default()
    }
}

#[test]
fn rubric_judge_no_change_is_rarely_called_regressed() {
    let policy = GatePolicy::default();
    let rate = regressed_rate("rubric, no change, tolerance 0.02", &policy, |s| {
        rubric_trial(s, false, JUDGE_NOISE, REPEATS)
    });
    assert!(rate <= 0.05);
    let rate = regressed_rate(
        "rubric, no change, tolerance 0.02, 1 repeat",
        &policy,
        |s| rubric_trial(s + 1_000, false, JUDGE_NOISE, 1),
    );
    assert!(rate <= 0.05);
    // With no tolerance the test sits exactly on its null hypothesis, so
    // the rate should be near the nominal one-sided 2.5% and never above 5%.
    let rate = regressed_rate("rubric, no change, tolerance 0", &strict(), |s| {
        rubric_trial(s + 2_000, false, JUDGE_NOISE, 1)
    });
    assert!(rate <= 0.05);
}

#[test]
fn rubric_judge_real_drop_is_caught() {
    let policy = GatePolicy::default();
    let rate = regressed_rate(
        "rubric, a fifth of 50 cases down two points, 3 repeats",
        &policy,
        |s| rubric_trial(s + 3_000, true, JUDGE_NOISE, REPEATS),
    );
    assert!(rate >= 0.90);
    // A single repeat of the same noisy judge cannot see this drop reliably
    // at n = 50 (the gate reports an MDE above it); a quieter judge can.
    let single = regressed_rate("rubric, same drop, 1 repeat", &policy, |s| {
        rubric_trial(s + 4_000, true, JUDGE_NOISE, 1)
    });
    assert!(single < rate);
    let quiet = regressed_rate("rubric, same drop, judge without noise", &policy, |s| {
        rubric_trial(s + 5_000, true, 0.0, 1)
    });
    assert!(quiet >= 0.99);
}

#[test]
fn pass_fail_criterion_is_calibrated() {
    let policy = GatePolicy::default();
    let null = regressed_rate("pass/fail, no change", &policy, |s| {
        binary_trial(s + 6_000, false)
    });
    assert!(null <= 0.05);
    let null_strict = regressed_rate("pass/fail, no change, tolerance 0", &strict(), |s| {
        binary_trial(s + 7_000, false)
    });
    assert!(null_strict <= 0.05);
    let caught = regressed_rate(
        "pass/fail, a fifth of 50 cases 0.98 → 0.02",
        &policy,
        |s| binary_trial(s + 8_000, true),
    );
    assert!(caught >= 0.90);
    // Flakier outputs make more discordant pairs by chance; still caught
    // more often than not, but the intervals honestly widen.
    let flaky = |seed: u64| {
        let mut rng = Rng::new(seed);
        let mut outcome =
            |pass_rate: f64| vec![vec![Some(if rng.unit() < pass_rate { 1.0 } else { 0.0 })]];
        let baseline: Scores = (0..CASES).map(|_| outcome(0.9)).collect();
        let head: Scores = (0..CASES)
            .map(|i| outcome(if i % 5 == 0 { 0.1 } else { 0.9 }))
            .collect();
        (
            as_result(
                format!("head-{seed}"),
                binary_criterion("cites-order-number"),
                head,
            ),
            as_result(
                format!("base-{seed}"),
                binary_criterion("cites-order-number"),
                baseline,
            ),
        )
    };
    let flaky_rate = regressed_rate("pass/fail, same drop, 10% flaky outputs", &policy, |s| {
        flaky(s + 8_500)
    });
    assert!(flaky_rate < caught);
}

/// Many criteria in one check, none changed: Holm keeps the chance that
/// any of them is called regressed near the per-test level, where testing
/// each alone would add the rates up.
#[test]
fn many_criteria_in_one_check_keep_the_false_alarm_rate() {
    const CRITERIA: usize = 4;
    const CHECKS: u64 = 100;
    const SMALL_SUITE: usize = 30;
    let policy = strict();
    let overrides = GateOverrides::default();
    let (mut any_adjusted, mut any_alone) = (0, 0);
    for seed in 0..CHECKS {
        let pairs: Vec<(EvalResult, EvalResult)> = (0..CRITERIA as u64)
            .map(|k| {
                let mut rng = Rng::new(seed * 100 + k + 9_000);
                let grades = true_grades(&mut rng, SMALL_SUITE);
                let baseline = judged(&mut rng, &grades, JUDGE_NOISE, 1);
                let head = judged(&mut rng, &grades, JUDGE_NOISE, 1);
                (
                    as_result(format!("head-{seed}-{k}"), criterion("tone"), head),
                    as_result(format!("base-{seed}-{k}"), criterion("tone"), baseline),
                )
            })
            .collect();
        let inputs: Vec<GateInput<'_>> = pairs
            .iter()
            .map(|(head, baseline)| GateInput {
                head,
                baseline: Some(baseline),
                policy: &policy,
                overrides: &overrides,
            })
            .collect();
        if gate_all(&inputs)
            .iter()
            .any(|g| g.verdict == Verdict::Regressed)
        {
            any_adjusted += 1;
        }
        if pairs
            .iter()
            .any(|(head, baseline)| verdict_of(head, baseline, &policy) == Verdict::Regressed)
        {
            any_alone += 1;
        }
    }
    println!(
        "{CRITERIA} unchanged criteria per check, tolerance 0: some criterion regressed in \
         {any_adjusted}/{CHECKS} checks with Holm, {any_alone}/{CHECKS} gating each alone"
    );
    assert!(any_adjusted as f64 / CHECKS as f64 <= 0.05);
    assert!(any_adjusted <= any_alone);
}
