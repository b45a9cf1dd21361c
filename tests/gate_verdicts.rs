//! The gate's decisions on hand-built results: every verdict branch, the
//! policy knobs, Holm across a check, odd inputs, and a property test.

mod gate_support;

use gate_support::{binary_criterion, case, criterion, result, scores};
use promptgate::pipeline::config::GatePolicy;
use promptgate::pipeline::gate::{
    GateInput, PromptGate, Verdict, effective_policy, gate_all, gate_one,
};
use promptgate::types::{EvalResult, FailOn, GateOverrides};
use proptest::prelude::*;

fn gate_with(head: &EvalResult, baseline: Option<&EvalResult>, policy: &GatePolicy) -> PromptGate {
    gate_one(GateInput {
        head,
        baseline,
        policy,
        overrides: &GateOverrides::default(),
        sequential: None,
    })
}

fn gate(head: &EvalResult, baseline: &EvalResult) -> PromptGate {
    gate_with(head, Some(baseline), &GatePolicy::default())
}

/// `n` baseline scores with some spread, and the head moved by `shift`
/// plus a small case-by-case wobble.
fn shifted(n: usize, shift: f64, wobble: f64) -> (EvalResult, EvalResult) {
    let base: Vec<f64> = (0..n).map(|i| 0.4 + 0.05 * (i % 5) as f64).collect();
    let head: Vec<f64> = base
        .iter()
        .enumerate()
        .map(|(i, b)| b + shift + if i % 2 == 0 { wobble } else { -wobble })
        .collect();
    (
        scores("p", "head", criterion("quality"), &head),
        scores("p", "base", criterion("quality"), &base),
    )
}

fn assert_interval_sane(g: &PromptGate) {
    for c in &g.criteria {
        if let (Some((lo, hi)), Some(d)) = (c.interval, c.delta) {
            assert!(lo <= d + 1e-12 && d <= hi + 1e-12, "{c:?}");
        }
    }
}

#[test]
fn clear_drop_is_regressed_and_fails() {
    let (head, base) = shifted(40, -0.2, 0.05);
    let g = gate(&head, &base);
    let c = &g.criteria[0];
    assert_eq!(c.verdict, Verdict::Regressed);
    assert_eq!(g.verdict, Verdict::Regressed);
    assert!(g.failed);
    let (lo, hi) = c.interval.unwrap();
    assert!(hi < -0.02 && lo <= -0.2 && -0.2 <= hi, "{lo} {hi}");
    assert!((c.delta.unwrap() + 0.2).abs() < 1e-9);
    assert_eq!(c.paired_cases, 40);
    assert!(c.method.contains("bootstrap"));
    // Each verdict is a one-sided test at 1 − confidence: the interval shown
    // is the 1 − 2α one whose bounds are those tests (TOST).
    assert!((c.interval_confidence.unwrap() - 0.90).abs() < 1e-12);
    assert!(c.p_value.unwrap() < 0.05);
    assert_eq!(c.cases_needed, None);
}

#[test]
fn clear_gain_is_improved_and_passes() {
    let (head, base) = shifted(40, 0.2, 0.05);
    let g = gate(&head, &base);
    assert_eq!(g.criteria[0].verdict, Verdict::Improved);
    assert_eq!(g.verdict, Verdict::Improved);
    assert!(!g.failed);
    assert!(g.criteria[0].interval.unwrap().0 > 0.02);
    assert!(g.criteria[0].p_value.unwrap() > 0.5);
}

#[test]
fn tiny_wobble_is_unchanged_only_when_the_whole_interval_is_inside() {
    // 300 cases: enough that a change striking 1% of them would have shown.
    let (head, base) = shifted(300, 0.0, 0.01);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Unchanged);
    let (lo, hi) = c.interval.unwrap();
    assert!(lo >= -0.02 && hi <= 0.02);

    // Same mean (zero) but large case-level swings: the interval reaches
    // past ±tolerance, so "unchanged" cannot be claimed.
    let (head, base) = shifted(100, 0.0, 0.3);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    let (lo, hi) = c.interval.unwrap();
    assert!(lo < -0.02 && hi > 0.02);
    let needed = c.cases_needed.expect("a projection for a noisy zero mean");
    assert!(needed > 0);
}

#[test]
fn drop_straddling_the_tolerance_is_inconclusive_with_an_mde() {
    // Mean −0.05, but swings of ±0.3: could be a drop, could be nothing.
    let (head, base) = shifted(20, -0.05, 0.3);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    let (lo, hi) = c.interval.unwrap();
    assert!(lo < -0.02 && hi > -0.02);
    let mde = c.min_detectable_effect.unwrap();
    assert!(mde > 0.05 && mde < 1.0, "{mde}");
    assert!(c.cases_needed.unwrap() >= 1);
    // The projection: with (n + needed) cases at this spread the interval
    // would clear −tolerance.
    let n = (20 + c.cases_needed.unwrap()) as f64;
    assert!(1.645 * 0.3 * (20f64 / 19.0).sqrt() / n.sqrt() < 0.03 + 0.005);
    // … and the unseen-change floor, 1 − 0.05^(1/n), would fit too.
    assert!(1.0 - 0.05f64.powf(1.0 / n) < 0.03);
}

#[test]
fn too_few_cases_is_inconclusive_whatever_the_drop() {
    let (head, base) = shifted(5, -0.6, 0.0);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(c.cases_needed, Some(5), "default min_cases is 10");
    assert_eq!(c.p_value, None, "not part of the Holm family");
    // The same drop with min_cases lowered by the prompt's override decides.
    let policy = GatePolicy::default();
    let overrides = GateOverrides {
        min_cases: Some(5),
        ..GateOverrides::default()
    };
    let g = gate_one(GateInput {
        head: &head,
        baseline: Some(&base),
        policy: &policy,
        overrides: &overrides,
        sequential: None,
    });
    assert_eq!(g.criteria[0].verdict, Verdict::Regressed);
    assert_eq!(g.policy.min_cases, 5);
}

#[test]
fn equal_deltas_are_floored_by_what_the_cases_could_not_see() {
    // Every case fell by 0.3: a clear regression, but the interval is not a
    // point: a change striking 1 − 0.05^(1/30) ≈ 9.5% of cases could have
    // gone unseen.
    let (head, base) = shifted(30, -0.3, 0.0);
    let c = &gate(&head, &base).criteria[0];
    let (lo, hi) = c.interval.unwrap();
    let floor = 1.0 - 0.05f64.powf(1.0 / 30.0);
    assert!(
        (lo + 0.3 + floor).abs() < 1e-9 && (hi + 0.3 - floor).abs() < 1e-9,
        "{lo} {hi}"
    );
    assert_eq!(c.verdict, Verdict::Regressed);

    // Nothing moved in 30 cases (a ceiling effect, a deterministic judge):
    // not evidence of "unchanged". The scored criterion answers like the
    // same data on a pass/fail one.
    let (head, base) = shifted(30, 0.0, 0.0);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    let (lo, hi) = c.interval.unwrap();
    assert!((hi - floor).abs() < 1e-9 && (lo + floor).abs() < 1e-9);
    // The MDE comes from the same floor, not from the zero spread.
    assert!(c.min_detectable_effect.unwrap() > 0.02 + floor);
    assert_eq!(c.cases_needed, Some(149 - 30));
    let ones = scores("p", "h", binary_criterion("json"), &[1.0; 30]);
    let ones_base = scores("p", "b", binary_criterion("json"), &[1.0; 30]);
    let binary = &gate(&ones, &ones_base).criteria[0];
    assert_eq!(binary.verdict, Verdict::Inconclusive);

    // At 10 cases, a real drop of 0.05 striking a few cases is never
    // "unchanged" (it was, 60% of the time, before the floor).
    let mut base10 = vec![0.75; 10];
    base10[0] = 1.0;
    let mut head10 = base10.clone();
    head10[0] = 0.5;
    let head10 = scores("p", "h", criterion("quality"), &head10);
    let base10 = scores("p", "b", criterion("quality"), &base10);
    assert_eq!(
        gate(&head10, &base10).criteria[0].verdict,
        Verdict::Inconclusive
    );

    // With 200 cases and nothing moved, "unchanged" is earned.
    let (head, base) = shifted(200, 0.0, 0.0);
    assert_eq!(gate(&head, &base).criteria[0].verdict, Verdict::Unchanged);
    // Exactly on the bound is not "below" it.
    let (head, base) = shifted(200, -0.02, 0.0);
    assert_ne!(gate(&head, &base).criteria[0].verdict, Verdict::Regressed);
}

#[test]
fn p_values_are_never_zero_and_tiny_suites_use_the_exact_sign_flip_test() {
    // Every case fell far: no resample reaches −tolerance, yet p > 0.
    let (head, base) = shifted(40, -0.5, 0.05);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Regressed);
    assert!(c.p_value.unwrap() > 0.0);
    assert!(c.method.contains("bootstrap"), "{}", c.method);
    // At 8 cases the smallest p the exact test can give is 2⁻⁸.
    let policy = GatePolicy {
        min_cases: 5,
        ..GatePolicy::default()
    };
    let (head, base) = shifted(8, -0.5, 0.05);
    let c = &gate_with(&head, Some(&base), &policy).criteria[0];
    assert!(c.method.contains("sign-flip"), "{}", c.method);
    assert!(c.p_value.unwrap() >= 1.0 / 256.0 - 1e-12);
    assert_eq!(c.verdict, Verdict::Regressed);
    // Twenty such criteria in one check: Holm needs p ≤ 0.05/20 = 0.0025,
    // which 8 cases (p ≥ 0.0039) can never give. Before, p = 0 rejected
    // at any family size.
    let pairs: Vec<(EvalResult, EvalResult)> = (0..20)
        .map(|k| {
            let (mut h, mut b) = shifted(8, -0.5, 0.05);
            h.prompt = format!("p{k}");
            b.prompt = format!("p{k}");
            (h, b)
        })
        .collect();
    let overrides = GateOverrides::default();
    let inputs: Vec<GateInput<'_>> = pairs
        .iter()
        .map(|(h, b)| GateInput {
            head: h,
            baseline: Some(b),
            policy: &policy,
            overrides: &overrides,
            sequential: None,
        })
        .collect();
    assert!(
        gate_all(&inputs)
            .iter()
            .all(|g| g.verdict != Verdict::Regressed)
    );
}

#[test]
fn min_cases_has_a_floor() {
    let policy = GatePolicy {
        min_cases: 0,
        ..GatePolicy::default()
    };
    assert_eq!(
        effective_policy(&policy, &GateOverrides::default()).min_cases,
        5
    );
    let path = promptgate::types::RepoPath::relative("promptgate.toml").unwrap();
    let error = promptgate::pipeline::config::parse(&path, "[gate]\nmin_cases = 2\n")
        .expect_err("min_cases below the floor is refused");
    let text = format!("{error:?}");
    assert!(
        text.contains("gate.min_cases") && text.contains("at least 5"),
        "{text}"
    );
}

#[test]
fn failed_calls_leave_their_case_out_and_fail_the_prompt() {
    // Two transient head errors in 50 cases: before, they scored 0 and
    // moved the delta by −0.028, past the tolerance.
    let base = scores("p", "b", criterion("quality"), &[0.7; 50]);
    let mut head = scores("p", "h", criterion("quality"), &[0.7; 50]);
    for i in [3, 17] {
        let repeat = &mut head.cases.make_mut()[i].repeats[0];
        repeat.call.result = Err("provider timed out".to_owned());
        repeat.scores[0].score = Err("no output".to_owned());
    }
    let g = gate(&head, &base);
    let c = &g.criteria[0];
    assert_eq!(c.paired_cases, 48);
    assert_eq!(c.delta, Some(0.0));
    assert_ne!(c.verdict, Verdict::Regressed);
    assert_eq!(c.head_errors, 0, "failed calls are not output failures");
    assert_eq!(g.calls.head_failed, 2);
    assert_eq!(g.calls.head_calls, 50);
    assert_eq!(g.calls.cases_left_out, 2);
    assert!(
        g.calls.regressed,
        "calls fail more often than on the baseline"
    );
    assert!(g.failed, "an incomplete run never passes");
    // A failed call on the baseline side leaves the pair out too, and is
    // no regression of the head.
    let g = gate(&base, &head);
    assert_eq!(g.criteria[0].paired_cases, 48);
    assert!(!g.calls.regressed);
    assert!(!g.failed);
    // fail_on = never stays report-only.
    let never = GatePolicy {
        fail_on: FailOn::Never,
        ..GatePolicy::default()
    };
    assert!(!gate_with(&head, Some(&base), &never).failed);
}

#[test]
fn grouped_cases_are_resampled_as_groups() {
    // Ten groups of five cases that move together: five groups fall by
    // 0.4, five gain 0.3. As fifty independent cases this looks decided;
    // as ten groups it is not.
    let base = scores("p", "b", criterion("quality"), &[0.5; 50]);
    let values: Vec<f64> = (0..50)
        .map(|i| if (i / 5) % 2 == 0 { 0.1 } else { 0.8 })
        .collect();
    let mut head = scores("p", "h", criterion("quality"), &values);
    let ungrouped = gate(&head, &base);
    for (i, case) in head.cases.make_mut().iter_mut().enumerate() {
        case.vars
            .insert("group".to_owned(), serde_json::json!(format!("g{}", i / 5)));
    }
    let grouped = gate(&head, &base);
    let (u, g) = (&ungrouped.criteria[0], &grouped.criteria[0]);
    assert_eq!(g.groups, Some(10));
    assert_eq!(u.groups, None);
    assert!(
        (u.delta.unwrap() - g.delta.unwrap()).abs() < 1e-12,
        "the mean is still over cases"
    );
    let width = |c: &promptgate::pipeline::gate::CriterionGate| {
        let (lo, hi) = c.interval.unwrap();
        hi - lo
    };
    assert!(
        width(g) > width(u) * 1.5,
        "{:?} vs {:?}",
        g.interval,
        u.interval
    );
}

#[test]
fn threshold_fails_the_prompt_on_its_own() {
    let (head, base) = shifted(30, 0.0, 0.0);
    let mut head = head;
    head.criteria[0].threshold = Some(0.7);
    let g = gate(&head, &base);
    let c = &g.criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(c.threshold, Some(0.7));
    assert_eq!(c.threshold_met, Some(false));
    assert!(g.failed);

    head.criteria[0].threshold = Some(0.4);
    let g = gate(&head, &base);
    assert_eq!(g.criteria[0].threshold_met, Some(true));
    assert!(!g.failed);

    // A new prompt has no baseline but is still held to its threshold.
    head.criteria[0].threshold = Some(0.9);
    let g = gate_with(&head, None, &GatePolicy::default());
    assert_eq!(g.verdict, Verdict::New);
    assert_eq!(g.criteria[0].threshold_met, Some(false));
    assert!(g.failed);
}

#[test]
fn fail_on_decides_what_fails() {
    let (drop_head, drop_base) = shifted(40, -0.2, 0.05);
    let (unsure_head, unsure_base) = shifted(20, -0.05, 0.3);
    let fails = |head: &EvalResult, base: &EvalResult, fail_on: FailOn| {
        let policy = GatePolicy {
            fail_on,
            ..GatePolicy::default()
        };
        gate_with(head, Some(base), &policy).failed
    };
    assert!(fails(&drop_head, &drop_base, FailOn::Regression));
    assert!(!fails(&unsure_head, &unsure_base, FailOn::Regression));
    assert!(fails(&drop_head, &drop_base, FailOn::Inconclusive));
    assert!(fails(&unsure_head, &unsure_base, FailOn::Inconclusive));
    assert!(!fails(&drop_head, &drop_base, FailOn::Never));
    assert!(!fails(&unsure_head, &unsure_base, FailOn::Never));

    // The prompt's own override wins over the config.
    let overrides = GateOverrides {
        fail_on: Some(FailOn::Never),
        ..GateOverrides::default()
    };
    let g = gate_one(GateInput {
        head: &drop_head,
        baseline: Some(&drop_base),
        policy: &GatePolicy::default(),
        overrides: &overrides,
        sequential: None,
    });
    assert_eq!(g.verdict, Verdict::Regressed);
    assert!(!g.failed);
}

#[test]
fn no_baseline_or_new_criterion_is_new() {
    let (head, _) = shifted(20, 0.0, 0.0);
    let g = gate_with(&head, None, &GatePolicy::default());
    assert_eq!(g.verdict, Verdict::New);
    assert!(!g.failed);
    let c = &g.criteria[0];
    assert_eq!(c.verdict, Verdict::New);
    assert_eq!((c.delta, c.interval, c.baseline_mean), (None, None, None));
    assert!(c.head_mean_all.is_some());

    // A criterion the baseline did not have is new; the rest are compared.
    let cases = (0..20)
        .map(|i| case(format!("c{i}"), vec![vec![Some(0.5), Some(1.0)]]))
        .collect();
    let head = result(
        "p",
        "head",
        vec![criterion("quality"), criterion("brevity")],
        cases,
    );
    let base = scores("p", "base", criterion("quality"), &[0.5; 20]);
    let g = gate(&head, &base);
    assert_eq!(g.criteria[0].delta, Some(0.0));
    assert_eq!(g.criteria[0].verdict, Verdict::Inconclusive);
    assert_eq!(g.criteria[1].verdict, Verdict::New);
    assert_eq!(g.verdict, Verdict::Inconclusive);
}

#[test]
fn only_cases_on_both_sides_are_paired() {
    let head_cases = (0..20)
        .map(|i| case(format!("c{i}"), vec![vec![Some(0.2)]]))
        .collect();
    let base_cases = (10..30)
        .map(|i| case(format!("c{i}"), vec![vec![Some(0.8)]]))
        .collect();
    let head = result("p", "head", vec![criterion("quality")], head_cases);
    let base = result("p", "base", vec![criterion("quality")], base_cases);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.paired_cases, 10);
    assert_eq!(c.verdict, Verdict::Regressed);
    assert!((c.delta.unwrap() + 0.6).abs() < 1e-9);

    // Criteria are matched by name, not position.
    let cases = |v: f64| {
        (0..12)
            .map(|i| case(format!("c{i}"), vec![vec![Some(v), Some(1.0 - v)]]))
            .collect()
    };
    let head = result(
        "p",
        "head",
        vec![criterion("a"), criterion("b")],
        cases(0.9),
    );
    let base = result(
        "p",
        "base",
        vec![criterion("b"), criterion("a")],
        cases(0.1),
    );
    let g = gate(&head, &base);
    // head a = 0.9 vs base a = 0.9 (second column of base); same for b.
    assert!(
        g.criteria.iter().all(|c| c.delta.unwrap().abs() < 1e-12),
        "{g:#?}"
    );

    // Nothing in common: inconclusive, and it says how many cases it needs.
    let other = scores("p", "base", criterion("quality"), &[0.5; 3]);
    let lonely = result(
        "p",
        "head",
        vec![criterion("quality")],
        vec![case("zz", vec![vec![Some(1.0)]])],
    );
    let c = &gate(&lonely, &other).criteria[0];
    assert_eq!((c.paired_cases, c.verdict), (0, Verdict::Inconclusive));
    assert_eq!(c.cases_needed, Some(10));
    assert_eq!(c.interval, None);
}

#[test]
fn repeats_are_averaged_and_errors_count_as_zero_against_their_side() {
    let head_cases = (0..12)
        .map(|i| {
            let second = if i == 0 { None } else { Some(0.0) };
            case(format!("c{i}"), vec![vec![Some(1.0)], vec![second]])
        })
        .collect();
    let head = result("p", "head", vec![criterion("quality")], head_cases);
    let base = scores("p", "base", criterion("quality"), &[0.5; 12]);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.head_errors, 1);
    assert_eq!(c.baseline_errors, 0);
    assert_eq!(c.head_mean, Some(0.5));
    assert_eq!(c.delta, Some(0.0));
    // A repeat whose scores are missing altogether is an error too.
    let mut short = head.clone();
    short.cases.make_mut()[1].repeats[1].scores.clear();
    assert_eq!(gate(&short, &base).criteria[0].head_errors, 2);
}

#[test]
fn flips_and_largest_drops_are_listed_worst_first() {
    let base: Vec<f64> = (0..15).map(|_| 0.75).collect();
    let mut head = base.clone();
    head[3] = 0.0; // pass → fail, drop 0.75
    head[7] = 0.25; // pass → fail, drop 0.5
    head[9] = 0.5; // still passes, drop 0.25
    let mut base = base;
    base[11] = 0.25; // fail → pass
    let head = scores("p", "head", criterion("quality"), &head);
    let base = scores("p", "base", criterion("quality"), &base);
    let c = &gate(&head, &base).criteria[0];
    let ids = |moves: &[promptgate::pipeline::gate::CaseMove]| {
        moves.iter().map(|m| m.case_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&c.flipped_to_fail), ["c3", "c7"]);
    assert_eq!(ids(&c.flipped_to_pass), ["c11"]);
    assert_eq!(ids(&c.largest_drops), ["c3", "c7", "c9"]);
    assert_eq!(c.largest_drops[0].baseline, 0.75);
    assert_eq!(c.largest_drops[0].head, 0.0);

    let (head, base) = shifted(40, -0.2, 0.05);
    assert_eq!(gate(&head, &base).criteria[0].largest_drops.len(), 10);
}

#[test]
fn pass_fail_criteria_use_the_exact_paired_method() {
    let base = [1.0; 30];
    let mut head = [1.0; 30];
    for h in head.iter_mut().take(12) {
        *h = 0.0;
    }
    let head = scores("p", "head", binary_criterion("json"), &head);
    let base = scores("p", "base", binary_criterion("json"), &base);
    let c = &gate(&head, &base).criteria[0];
    assert!(
        c.method.contains("Newcombe") && c.method.contains("McNemar"),
        "{}",
        c.method
    );
    assert_eq!(c.verdict, Verdict::Regressed);
    assert_eq!(c.flipped_to_fail.len(), 12);

    // One flip in thirty is not evidence of anything.
    let mut one = [1.0; 30];
    one[0] = 0.0;
    let head = scores("p", "head", binary_criterion("json"), &one);
    let c = &gate(&head, &base).criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);

    // Disagreeing repeats make per-case scores fractional: bootstrap instead.
    let cases = (0..12)
        .map(|i| case(format!("c{i}"), vec![vec![Some(1.0)], vec![Some(0.0)]]))
        .collect();
    let head = result("p", "head", vec![binary_criterion("json")], cases);
    let base = scores("p", "base", binary_criterion("json"), &[1.0; 12]);
    assert!(gate(&head, &base).criteria[0].method.contains("sign-flip"));
}

/// A drop that is significant on its own but not after Holm across ten tests.
fn marginal_drop(fingerprint: &str) -> (EvalResult, EvalResult) {
    let pattern = [-0.4, -0.3, -0.2, -0.1, -0.1, 0.0, 0.0, 0.1, 0.1, 0.0];
    let base = [0.5; 50];
    let head: Vec<f64> = (0..50).map(|i| 0.5 + pattern[i % 10]).collect();
    (
        scores(
            &format!("marginal-{fingerprint}"),
            &format!("h-{fingerprint}"),
            criterion("quality"),
            &head,
        ),
        scores(
            &format!("marginal-{fingerprint}"),
            &format!("b-{fingerprint}"),
            criterion("quality"),
            &base,
        ),
    )
}

#[test]
fn holm_adjusts_across_every_prompt_of_the_check() {
    let policy = GatePolicy::default();
    let overrides = GateOverrides::default();
    let (strong_head, strong_base) = shifted(40, -0.3, 0.05);
    let (marginal_head, marginal_base) = marginal_drop("m");
    let alone = gate_with(&marginal_head, Some(&marginal_base), &policy);
    assert_eq!(alone.criteria[0].verdict, Verdict::Regressed, "{alone:#?}");

    let quiet: Vec<(EvalResult, EvalResult)> = (0..8)
        .map(|k| {
            // Enough cases to earn "unchanged" at the Bonferroni level.
            let (h, b) = shifted(400, 0.0, 0.01);
            let rename = |mut r: EvalResult, side: &str| {
                r.prompt = format!("quiet-{k}");
                r.fingerprint.0 = format!("{side}-{k}");
                r
            };
            (rename(h, "h"), rename(b, "b"))
        })
        .collect();
    let mut inputs = vec![
        GateInput {
            head: &marginal_head,
            baseline: Some(&marginal_base),
            policy: &policy,
            overrides: &overrides,
            sequential: None,
        },
        GateInput {
            head: &strong_head,
            baseline: Some(&strong_base),
            policy: &policy,
            overrides: &overrides,
            sequential: None,
        },
    ];
    inputs.extend(quiet.iter().map(|(h, b)| GateInput {
        head: h,
        baseline: Some(b),
        policy: &policy,
        overrides: &overrides,
        sequential: None,
    }));
    let gates = gate_all(&inputs);
    assert_eq!(gates.len(), 10);
    assert_eq!(gates[1].prompt, "p");
    let (marginal, strong) = (&gates[0].criteria[0], &gates[1].criteria[0]);

    // The strongest evidence is tested first, at the Bonferroni level, and
    // still stands.
    assert_eq!(strong.verdict, Verdict::Regressed);
    assert!((strong.interval_confidence.unwrap() - (1.0 - 2.0 * 0.05 / 10.0)).abs() < 1e-12);
    // The marginal one is next in line (divisor 9) and no longer clears it;
    // its interval is widened to match, so it reaches past −tolerance.
    assert_eq!(marginal.verdict, Verdict::Inconclusive);
    assert!(marginal.interval.unwrap().1 >= -0.02);
    assert!(marginal.interval_confidence.unwrap() > 0.98);
    assert!(marginal.p_value.unwrap() > alone.criteria[0].p_value.unwrap());
    assert!(strong.p_value.unwrap() <= marginal.p_value.unwrap());
    assert!(gates[2..].iter().all(|g| g.verdict == Verdict::Unchanged));
    // Input order does not change anything but the order of the output.
    let mut reversed = inputs.clone();
    reversed.reverse();
    let mut again = gate_all(&reversed);
    again.reverse();
    assert_eq!(again, gates);
}

#[test]
fn same_inputs_same_verdicts() {
    let (head, base) = shifted(25, -0.05, 0.2);
    assert_eq!(gate(&head, &base), gate(&head, &base));
}

#[test]
fn odd_inputs_do_not_panic() {
    assert!(gate_all(&[]).is_empty());
    let empty = result("p", "h", vec![], vec![]);
    assert_eq!(
        gate_with(&empty, None, &GatePolicy::default()).verdict,
        Verdict::New
    );
    assert_eq!(gate(&empty, &empty).verdict, Verdict::Inconclusive);

    // A criterion with no cases at all cannot meet its threshold.
    let mut info = criterion("quality");
    info.threshold = Some(0.5);
    let no_cases = result("p", "h", vec![info], vec![]);
    let g = gate(&no_cases, &no_cases);
    assert_eq!(g.criteria[0].threshold_met, Some(false));
    assert_eq!(g.criteria[0].head_mean_all, None);

    // Nonsense policy values fall back to the defaults.
    let bad = GatePolicy {
        tolerance: f64::NAN,
        confidence: 7.0,
        ..GatePolicy::default()
    };
    let p = effective_policy(&bad, &GateOverrides::default());
    assert_eq!((p.tolerance, p.confidence), (0.02, 0.95));
    let (head, base) = shifted(12, -0.3, 0.0);
    assert_eq!(
        gate_with(&head, Some(&base), &bad).verdict,
        Verdict::Regressed
    );

    // One case and min_cases 1 (raised to the floor of 5): inconclusive.
    let one = GatePolicy {
        min_cases: 1,
        ..GatePolicy::default()
    };
    let (head, base) = shifted(1, -0.3, 0.0);
    let c = &gate_with(&head, Some(&base), &one).criteria[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
}

/// Any score: in range, out of range, NaN, or an error.
fn any_score() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        4 => (0.0..=1.0f64).prop_map(Some),
        1 => Just(None),
        1 => Just(Some(f64::NAN)),
        1 => (-5.0..5.0f64).prop_map(Some),
        1 => prop::sample::select(vec![0.0, 1.0]).prop_map(Some),
    ]
}

fn any_result(fingerprint: &'static str) -> impl Strategy<Value = EvalResult> {
    (
        prop::collection::vec((0u8..40, prop::collection::vec(any_score(), 0..3)), 0..25),
        any::<bool>(),
        prop::option::of(0.0..1.0f64),
    )
        .prop_map(move |(cases, binary, threshold)| {
            let mut info = if binary {
                binary_criterion("c")
            } else {
                criterion("c")
            };
            info.threshold = threshold;
            let cases = cases
                .into_iter()
                .map(|(id, repeats)| {
                    case(
                        format!("c{id}"),
                        repeats.into_iter().map(|s| vec![s]).collect(),
                    )
                })
                .collect();
            result("p", fingerprint, vec![info], cases)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_scores_never_panic_and_intervals_hold_the_delta(
        head in any_result("h"),
        base in any_result("b"),
        min_cases in 0u32..12,
        tolerance in 0.0..0.2f64,
        fail_on in prop::sample::select(vec![FailOn::Regression, FailOn::Inconclusive, FailOn::Never]),
    ) {
        let policy = GatePolicy { tolerance, min_cases, fail_on, ..GatePolicy::default() };
        let g = gate_with(&head, Some(&base), &policy);
        assert_interval_sane(&g);
        for c in &g.criteria {
            if let Some((lo, hi)) = c.interval {
                prop_assert!(lo <= hi);
                prop_assert!((-1.0..=1.0).contains(&lo) && (-1.0..=1.0).contains(&hi));
            }
            if let Some(p) = c.p_value {
                prop_assert!((0.0..=1.0).contains(&p));
            }
            prop_assert!(c.largest_drops.len() <= 10);
        }
        if fail_on == FailOn::Never {
            prop_assert!(!g.failed);
        }
        let new = gate_with(&head, None, &policy);
        prop_assert!(new.criteria.iter().all(|c| c.verdict == Verdict::New));
    }
}

/// Pairing as the gate's rules say, written plainly by id text: each
/// side's first case of an id (with repeats) claims it, a case's score is
/// its repeats' mean (clamped, an unscored repeat counting 0), and the head's
/// cases pair in head order with the baseline's of the same id.
fn paired_by_text(head: &EvalResult, base: &EvalResult) -> Vec<(String, f64, f64)> {
    let scored = |r: &EvalResult| {
        let mut firsts: Vec<(String, f64)> = Vec::new();
        for case in r.cases.iter() {
            if case.repeats.is_empty() || firsts.iter().any(|(id, _)| *id == case.case_id) {
                continue;
            }
            let sum: f64 = case
                .repeats
                .iter()
                .map(|rep| match rep.scores.first().map(|s| &s.score) {
                    Some(Ok(s)) if s.value.is_finite() => s.value.clamp(0.0, 1.0),
                    _ => 0.0,
                })
                .sum();
            firsts.push((case.case_id.clone(), sum / case.repeats.len() as f64));
        }
        firsts
    };
    let base = scored(base);
    scored(head)
        .into_iter()
        .filter_map(|(id, h)| {
            let b = base.iter().find(|(other, _)| *other == id)?.1;
            Some((id, h, b))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the ids (repeated, missing on a side, in any order) and
    /// wherever the cases are kept (in memory or in a temporary file),
    /// the gate pairs exactly the cases the plain rule pairs, with the
    /// same mean change and the same flips.
    #[test]
    fn the_gate_pairs_cases_by_id_as_the_plain_rule_does(
        head in any_result("h"),
        base in any_result("b"),
        on_disk in any::<bool>(),
    ) {
        let kept = |r: &EvalResult| {
            let mut r = r.clone();
            let spill_after = if on_disk { 0 } else { usize::MAX };
            r.cases = promptgate::types::CasesBuilder::spilling_after(spill_after)
                .collect(r.cases.to_vec())
                .unwrap();
            r
        };
        let (head, base) = (kept(&head), kept(&base));
        let policy = GatePolicy { min_cases: 5, ..GatePolicy::default() };
        let c = &gate_with(&head, Some(&base), &policy).criteria[0];
        let pairs = paired_by_text(&head, &base);
        prop_assert_eq!(c.paired_cases, pairs.len());
        if let Some(delta) = c.delta {
            let mean = pairs.iter().map(|(_, h, b)| h - b).sum::<f64>() / pairs.len() as f64;
            prop_assert!((delta - mean).abs() < 1e-9, "{} vs {}", delta, mean);
        }
        let mut to_fail: Vec<String> = pairs
            .iter()
            .filter(|(_, h, b)| *b >= 0.5 && *h < 0.5)
            .map(|(id, _, _)| id.clone())
            .collect();
        let mut listed: Vec<String> = c.flipped_to_fail.iter().map(|m| m.case_id.clone()).collect();
        to_fail.sort();
        listed.sort();
        prop_assert_eq!(listed, to_fail);
    }
}

#[test]
fn a_weight_zero_criterion_is_shown_but_never_fails_the_prompt() {
    let (mut head, base) = shifted(40, -0.2, 0.05);
    head.criteria[0].weight = 0.0;
    head.criteria[0].threshold = Some(0.9);
    let g = gate(&head, &base);
    assert_eq!(g.criteria[0].verdict, Verdict::Regressed);
    assert_eq!(g.criteria[0].threshold_met, Some(false));
    assert!(!g.failed);
    assert_ne!(g.verdict, Verdict::Regressed);
}
