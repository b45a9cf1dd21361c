//! The rule a candidate must pass to be suggested, decided by the gate's
//! own statistics (no second test): measured against the current version,
//! the target criterion must be *improved* on the held-out cases (which
//! the model never saw), and no criterion may be *regressed* — neither on
//! the held-out cases nor on all cases — and no call may fail.

use std::borrow::Cow;

use crate::pipeline::config::GatePolicy;
use crate::pipeline::gate::{self, CriterionGate, GateInput, PromptGate, Verdict};
use crate::types::{EvalResult, GateOverrides};

/// A candidate measured: its gates against the current version, and
/// whether it survived (else why not).
#[derive(Debug, Clone)]
pub struct Judged {
    pub held_out: PromptGate,
    pub all: PromptGate,
    /// `None` when the candidate survived.
    pub rejected: Option<String>,
}

impl Judged {
    pub fn survived(&self) -> bool {
        self.rejected.is_none()
    }

    /// The target criterion's gate on the held-out cases.
    pub fn target_held_out<'a>(&'a self, target: &str) -> Option<&'a CriterionGate> {
        self.held_out
            .criteria
            .iter()
            .find(|c| c.criterion == target)
    }

    pub fn target_all<'a>(&'a self, target: &str) -> Option<&'a CriterionGate> {
        self.all.criteria.iter().find(|c| c.criterion == target)
    }
}

/// `result` with only the cases named in `ids`.
pub fn only_cases(result: &EvalResult, ids: &[String]) -> EvalResult {
    EvalResult {
        cases: result
            .cases
            .iter()
            .filter(|c| ids.contains(&c.case_id))
            .map(Cow::into_owned)
            .collect::<Vec<_>>()
            .into(),
        ..result.clone()
    }
}

/// Gates `candidate` against `current` (the version that failed) under
/// `policy`, on the held-out cases and on all of them, and applies the rule.
pub fn judge(
    current: &EvalResult,
    candidate: &EvalResult,
    held_out: &[String],
    target: &str,
    policy: &GatePolicy,
) -> Judged {
    let overrides = GateOverrides::default();
    let gate_on = |head: &EvalResult, baseline: &EvalResult| {
        gate::gate_one(GateInput {
            head,
            baseline: Some(baseline),
            policy,
            overrides: &overrides,
            sequential: None,
        })
    };
    let held_out_gate = gate_on(
        &only_cases(candidate, held_out),
        &only_cases(current, held_out),
    );
    let all_gate = gate_on(candidate, current);
    let rejected = rejection(&held_out_gate, &all_gate, target);
    Judged {
        held_out: held_out_gate,
        all: all_gate,
        rejected,
    }
}

fn rejection(held_out: &PromptGate, all: &PromptGate, target: &str) -> Option<String> {
    if all.calls.head_failed > 0 {
        return Some(format!(
            "{} of its calls failed, so it was not measured in full",
            all.calls.head_failed
        ));
    }
    let regressed = |gate: &PromptGate| {
        gate.criteria
            .iter()
            .find(|c| c.verdict == Verdict::Regressed)
            .map(|c| c.criterion.clone())
    };
    if let Some(name) = regressed(all) {
        return Some(format!("`{name}` regressed on all cases"));
    }
    if let Some(name) = regressed(held_out) {
        return Some(format!("`{name}` regressed on the held-out cases"));
    }
    let Some(gate) = held_out.criteria.iter().find(|c| c.criterion == target) else {
        return Some(format!("the prompt has no criterion `{target}`"));
    };
    if gate.verdict != Verdict::Improved {
        let fit_only = all
            .criteria
            .iter()
            .find(|c| c.criterion == target)
            .is_some_and(|c| c.delta.unwrap_or(0.0) > 0.0);
        let why = if fit_only {
            "it improves the cases the model was shown, not the held-out ones"
        } else {
            "it does not improve it"
        };
        return Some(format!(
            "`{target}` is {} on the held-out cases (delta {}): {why}",
            verdict_word(gate.verdict),
            gate.delta.map_or("n/a".into(), |d| format!("{d:+.2}"))
        ));
    }
    None
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
        Verdict::Regressed => "regressed",
        Verdict::Inconclusive => "inconclusive",
        Verdict::New => "new",
    }
}

/// Orders survivors best first: the larger held-out gain on the target,
/// then the larger gain over all cases.
pub fn best_first(a: &Judged, b: &Judged, target: &str) -> std::cmp::Ordering {
    let gain = |j: &Judged, held: bool| {
        let gate = if held {
            j.target_held_out(target)
        } else {
            j.target_all(target)
        };
        gate.and_then(|c| c.delta).unwrap_or(f64::NEG_INFINITY)
    };
    gain(b, true)
        .total_cmp(&gain(a, true))
        .then(gain(b, false).total_cmp(&gain(a, false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{
        CallOutcome, CaseResult, CriterionInfo, CriterionScore, Fingerprint, RepeatResult, Score,
        Usage, VersionId,
    };

    const TARGET: &str = "no refund promises";
    const OTHER: &str = "signs off";

    /// 15 cases scored on both criteria by `score(case index) -> (target, other)`.
    fn result(version: &str, score: impl Fn(usize) -> (f64, f64)) -> EvalResult {
        let criterion = |name: &str| CriterionInfo {
            name: name.into(),
            kind: "regex".into(),
            weight: 1.0,
            threshold: None,
            binary: true,
            line: None,
        };
        EvalResult {
            prompt: "support-bot".into(),
            version: VersionId(version.into()),
            fingerprint: Fingerprint(format!("fp-{version}")),
            model: "openai/gpt-4o-mini".into(),
            from_model: true,
            criteria: vec![criterion(TARGET), criterion(OTHER)],
            cases: (0..15)
                .map(|i| {
                    let (target, other) = score(i);
                    let scored = |v: f64| CriterionScore {
                        score: Ok(Score {
                            value: v,
                            reason: String::new(),
                            display: None,
                        }),
                    };
                    CaseResult {
                        case_id: format!("case-{i}"),
                        vars: Default::default(),
                        repeats: vec![RepeatResult {
                            call: CallOutcome {
                                result: Ok("answer".into()),
                                usage: Usage::default(),
                                latency_ms: 1,
                                cost_usd: None,
                                cached: false,
                            },
                            scores: vec![scored(target), scored(other)],
                        }],
                    }
                })
                .collect(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// Cases 0–4 were shown to the model; 5–14 are held out.
    fn held_out() -> Vec<String> {
        (5..15).map(|i| format!("case-{i}")).collect()
    }

    fn current() -> EvalResult {
        result("current", |_| (0.0, 1.0))
    }

    #[test]
    fn a_real_fix_survives() {
        let fix = result("fix", |_| (1.0, 1.0));
        let judged = judge(
            &current(),
            &fix,
            &held_out(),
            TARGET,
            &GatePolicy::default(),
        );
        assert_eq!(judged.rejected, None);
        assert_eq!(judged.target_held_out(TARGET).unwrap().paired_cases, 10);
        assert_eq!(judged.target_all(TARGET).unwrap().paired_cases, 15);
    }

    #[test]
    fn a_fix_that_breaks_another_criterion_is_rejected() {
        let breaks = result("breaks", |_| (1.0, 0.0));
        let judged = judge(
            &current(),
            &breaks,
            &held_out(),
            TARGET,
            &GatePolicy::default(),
        );
        assert_eq!(
            judged.rejected.as_deref(),
            Some("`signs off` regressed on all cases")
        );
    }

    #[test]
    fn a_fix_of_the_shown_cases_only_is_caught_by_the_held_out_cases() {
        let fit_only = result("fit-only", |i| (if i < 5 { 1.0 } else { 0.0 }, 1.0));
        let judged = judge(
            &current(),
            &fit_only,
            &held_out(),
            TARGET,
            &GatePolicy::default(),
        );
        let why = judged.rejected.expect("rejected");
        assert!(
            why.contains("it improves the cases the model was shown, not the held-out ones"),
            "{why}"
        );
    }

    /// The mutant: verifying on every case (no held-out part) lets an edit
    /// that fixes 14 of 15 shown cases through although it fixes nothing
    /// the model did not see. The held-out rule is what stops it.
    #[test]
    fn without_the_held_out_part_an_overfit_edit_would_pass() {
        let shown: Vec<String> = (0..14).map(|i| format!("case-{i}")).collect();
        let overfit = result("overfit", |i| (if i < 14 { 1.0 } else { 0.0 }, 1.0));
        let everything: Vec<String> = (0..15).map(|i| format!("case-{i}")).collect();
        let mutant = judge(
            &current(),
            &overfit,
            &everything,
            TARGET,
            &GatePolicy::default(),
        );
        assert_eq!(mutant.rejected, None, "the mutant is fooled");
        let held: Vec<String> = everything
            .iter()
            .filter(|id| !shown.contains(id))
            .cloned()
            .collect();
        let judged = judge(&current(), &overfit, &held, TARGET, &GatePolicy::default());
        assert!(judged.rejected.is_some(), "the rule is not");
    }

    #[test]
    fn failed_calls_are_never_suggested() {
        let mut fix = result("fix", |_| (1.0, 1.0));
        fix.cases.make_mut()[7].repeats[0].call.result = Err("timeout".into());
        let judged = judge(
            &current(),
            &fix,
            &held_out(),
            TARGET,
            &GatePolicy::default(),
        );
        assert!(judged.rejected.unwrap().contains("calls failed"));
    }
}
