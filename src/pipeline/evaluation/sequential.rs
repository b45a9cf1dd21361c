//! Sequential execution: a plan's cases in a seeded order, in batches,
//! until the gate's anytime-valid tests have decided every criterion
//! against the baseline ([`crate::pipeline::gate::sequential`] decides; this
//! only runs batches and asks it "stop?"). The engine runs each batch as it
//! runs any plan, so caching, limits and retries are unchanged.

use super::engine::{Engine, ExecuteError};
use super::plan::EvaluationPlan;
use crate::pipeline::config::GatePolicy;
use crate::pipeline::gate::sequential::{BaselineScores, Savings, Sequential, case_order};
use crate::types::{CallStats, EvalResult};

/// How to run sequentially.
pub struct SequentialOptions<'a> {
    /// Cases per batch after the first (the first also takes every cached
    /// case: they are free).
    pub batch: usize,
    /// Whether a case's calls are all in the response cache.
    pub cached: &'a dyn Fn(usize) -> bool,
}

/// A sequential run: the cases evaluated (in the plan's order), their
/// calls, and, when it stopped early, what that saved.
pub struct SequentialRun {
    /// Only the cases evaluated: an incomplete result, never to be stored
    /// as the fingerprint's result or used as a baseline.
    pub result: EvalResult,
    pub stats: CallStats,
    /// `None` when every case ran.
    pub savings: Option<Savings>,
}

/// Executes `plan` batch by batch until every criterion is decided against
/// `baseline` under `policy` (already the prompt's effective policy).
pub async fn execute_sequential(
    engine: &Engine,
    plan: &EvaluationPlan,
    baseline: &EvalResult,
    policy: &GatePolicy,
    options: &SequentialOptions<'_>,
) -> Result<SequentialRun, ExecuteError> {
    let total = plan.cases.len();
    let order = case_order(total, &plan.fingerprint.0, options.cached);
    let cached_first = order.iter().take_while(|&&i| (options.cached)(i)).count();
    let criteria: Vec<_> = plan
        .prompt
        .evaluators
        .iter()
        .map(crate::pipeline::eval::criterion_info)
        .collect();
    let base = BaselineScores::new(baseline, &criteria);
    let mut gate = Sequential::new(criteria.len(), policy.tolerance, policy.confidence);

    let mut done: Vec<(usize, crate::types::CaseResult)> = Vec::with_capacity(total);
    let mut stats = CallStats::default();
    let mut result: Option<EvalResult> = None;
    let mut next = 0;
    while next < total && !gate.decided() {
        let end = (next.max(cached_first) + options.batch.max(1)).min(total);
        let batch: Vec<usize> = order[next..end].to_vec();
        let sub = EvaluationPlan {
            cases: batch.iter().map(|&i| plan.cases[i].clone()).collect(),
            ..plan.clone()
        };
        let (mut part, part_stats) = engine.execute(&sub).await?;
        stats.add(&part_stats);
        for (&index, case) in batch.iter().zip(std::mem::take(&mut part.cases)) {
            gate.observe(&base.deltas(&case, criteria.len()));
            done.push((index, case));
        }
        result.get_or_insert(part);
        next = end;
    }
    done.sort_by_key(|(i, _)| *i);
    let evaluated = done.len();
    let mut result = match result {
        Some(r) => r,
        None => engine.execute(&plan_without_cases(plan)).await?.0,
    };
    result.cases = done.into_iter().map(|(_, c)| c).collect();
    let savings = (evaluated < total).then(|| savings(plan, evaluated, &stats));
    Ok(SequentialRun {
        result,
        stats,
        savings,
    })
}

fn plan_without_cases(plan: &EvaluationPlan) -> EvaluationPlan {
    EvaluationPlan {
        cases: Vec::new(),
        ..plan.clone()
    }
}

/// What the cases not run would have cost, at the average of those run.
fn savings(plan: &EvaluationPlan, evaluated: usize, stats: &CallStats) -> Savings {
    let repeats = u64::from(plan.prompt.repeats.max(1));
    let skipped = (plan.cases.len() - evaluated) as u64 * repeats;
    let made = stats.made.max(1) as f64;
    let per_call_tokens = (stats.input_tokens + stats.output_tokens) as f64 / made;
    Savings {
        decided_after: evaluated,
        cases: plan.cases.len(),
        calls_saved: skipped,
        tokens_saved: (per_call_tokens * skipped as f64).round() as u64,
        cost_saved_usd: (stats.unpriced == 0 && stats.made > 0)
            .then(|| stats.cost_usd / made * skipped as f64),
    }
}
