//! Sequential execution: a plan's cases in a seeded order, in batches,
//! until the gate's anytime-valid tests have settled the prompt against its
//! baseline ([`crate::pipeline::gate::sequential`] decides; this only runs
//! batches and asks it "stop?"). The engine runs each batch as it runs any
//! plan, so caching, limits and retries are unchanged.

use super::engine::{Engine, ExecuteError, spill_error};
use super::filed::PlanBatches;
use crate::pipeline::config::GatePolicy;
use crate::pipeline::gate::sequential::{
    BaselineScores, Savings, Sequential, SequentialOutcome, case_order,
};

use crate::types::{CallStats, Cases, CasesBuilder, EvalResult, FailOn, PromptSpec};

/// The baseline side of a sequential run.
pub enum BaselineSide<'a> {
    /// Already measured (stored, or published in the registry).
    Known(&'a EvalResult),
    /// Not measured yet: each batch evaluates the base version on the same
    /// cases as the head, so stopping early saves on both sides.
    Evaluate(&'a dyn PlanBatches),
}

/// How to run sequentially.
pub struct SequentialOptions<'a> {
    /// Cases per batch (cached cases, which are free, are looked at first,
    /// all at once).
    pub batch: usize,
    /// Per case of the plan: whether its calls are all in the response
    /// cache (on every side that is evaluated); missing entries are not.
    pub cached: &'a [bool],
    /// Criteria in the whole check (the tests' Bonferroni family).
    pub family: usize,
}

/// A sequential run: the cases evaluated (in the plan's order), their
/// calls, and how the tests ended.
pub struct SequentialRun {
    /// Only the cases evaluated when the run stopped early: an incomplete
    /// result, never to be stored as the fingerprint's result or used as a
    /// baseline.
    pub head: EvalResult,
    pub head_calls: CallStats,
    /// The baseline measured alongside ([`BaselineSide::Evaluate`]), on
    /// the same cases as `head`.
    pub baseline: Option<(EvalResult, CallStats)>,
    pub outcome: SequentialOutcome,
}

impl SequentialRun {
    /// Whether every case ran: the results are complete evaluations.
    pub fn complete(&self) -> bool {
        self.outcome.stopped.is_none()
    }
}

/// Executes `plan` batch by batch until the prompt is settled against the
/// baseline under `policy` (the prompt's effective policy).
pub async fn execute_sequential(
    engine: &Engine,
    plan: &dyn PlanBatches,
    baseline: BaselineSide<'_>,
    policy: &GatePolicy,
    options: &SequentialOptions<'_>,
) -> Result<SequentialRun, ExecuteError> {
    let total = plan.len();
    let header = plan.header();
    let spill = |source: std::io::Error| spill_error(&header.prompt, source);
    let cached = |i: usize| options.cached.get(i).copied().unwrap_or(false);
    let order = case_order(total, &header.fingerprint.0, &cached);
    let cached_first = order.iter().take_while(|&&i| cached(i)).count();
    let criteria: Vec<_> = header
        .prompt
        .evaluators
        .iter()
        .map(crate::pipeline::eval::criterion_info)
        .collect();
    // A regression of a criterion that counts settles the prompt when the
    // policy fails on regressions: the rest cannot make it pass.
    let fails_when_regressed: Vec<bool> = criteria
        .iter()
        .map(|c| c.weight > 0.0 && policy.fail_on != FailOn::Never)
        .collect();
    // The baseline's per-case scores: all of them when known, else the
    // current batch's as each is measured.
    let mut scores = match &baseline {
        BaselineSide::Known(result) => BaselineScores::new(result, &criteria),
        BaselineSide::Evaluate(_) => BaselineScores::default(),
    };
    let mut gate = Sequential::new(
        criteria.len(),
        options.family,
        policy.tolerance,
        policy.confidence,
    );

    let mut head = Side::default();
    let mut base = Side::default();
    let mut next = 0;
    while next < total && !gate.settled(&fails_when_regressed) {
        // Cached cases are free: they make the first look on their own.
        let end = if next < cached_first {
            cached_first
        } else {
            (next + options.batch.max(1)).min(total)
        };
        let batch = &order[next..end];
        let head_part = head.run(engine, plan, batch).await?;
        if let BaselineSide::Evaluate(base_plan) = &baseline {
            let part = base.run(engine, *base_plan, batch).await?;
            scores = BaselineScores::new(&part, &criteria);
            base.keep(batch, part).map_err(&spill)?;
        }
        for case in &head_part.cases {
            gate.observe(&scores.deltas(&case, criteria.len()));
        }
        head.keep(batch, head_part).map_err(&spill)?;
        next = end;
    }

    let evaluated = head.order.len();
    let stopped = (evaluated < total).then(|| {
        let mut calls = head.stats.clone();
        calls.add(&base.stats);
        let sides = if base.first.is_some() { 2 } else { 1 };
        savings(&header.prompt, total, evaluated, &calls, sides)
    });
    let head_stats = head.stats.clone();
    let head_result = head.finish(engine, plan).await?;
    let baseline = match baseline {
        BaselineSide::Evaluate(base_plan) => {
            let stats = base.stats.clone();
            Some((base.finish(engine, base_plan).await?, stats))
        }
        BaselineSide::Known(_) => None,
    };
    Ok(SequentialRun {
        head: head_result,
        head_calls: head_stats,
        baseline,
        outcome: SequentialOutcome {
            verdicts: gate.verdicts(),
            stopped,
        },
    })
}

/// One side's batches as they come back.
#[derive(Default)]
struct Side {
    /// The first batch's result: its header (version, fingerprint,
    /// criteria) is the whole run's.
    first: Option<EvalResult>,
    /// The cases run, as they came back (to a temporary file past a few
    /// thousand), and each one's index in the plan.
    cases: Option<CasesBuilder>,
    order: Vec<usize>,
    stats: CallStats,
}

impl Side {
    /// Evaluates the plan's cases at `batch` (indexes into the plan).
    async fn run(
        &mut self,
        engine: &Engine,
        plan: &dyn PlanBatches,
        batch: &[usize],
    ) -> Result<EvalResult, ExecuteError> {
        let (part, stats) = engine.execute(&plan.batch(batch)?).await?;
        self.stats.add(&stats);
        Ok(part)
    }

    /// Keeps a batch's cases (`batch`: their indexes in the plan). Fails
    /// only when the temporary file cannot be written.
    fn keep(&mut self, batch: &[usize], mut part: EvalResult) -> std::io::Result<()> {
        let cases = std::mem::take(&mut part.cases);
        let kept = self.cases.get_or_insert_with(CasesBuilder::default);
        for case in cases.iter() {
            kept.push(case.into_owned())?;
        }
        self.order.extend_from_slice(batch);
        self.first.get_or_insert(part);
        Ok(())
    }

    /// The cases run, in the plan's order, under the plan's header.
    async fn finish(
        self,
        engine: &Engine,
        plan: &dyn PlanBatches,
    ) -> Result<EvalResult, ExecuteError> {
        let header = plan.header();
        let spill = |source| spill_error(&header.prompt, source);
        let mut result = match self.first {
            Some(result) => result,
            None => engine.execute(&header).await?.0,
        };
        let run = match self.cases {
            Some(cases) => cases.finish().map_err(spill)?,
            None => Cases::default(),
        };
        // The order the cases ran in, sorted back into the plan's.
        let mut in_plan_order: Vec<usize> = (0..self.order.len()).collect();
        in_plan_order.sort_by_key(|&at| self.order[at]);
        let mut cases = CasesBuilder::default();
        for at in in_plan_order {
            let case = run.get(at).expect("one result per case run");
            cases.push(case.into_owned()).map_err(spill)?;
        }
        result.cases = cases.finish().map_err(spill)?;
        Ok(result)
    }
}

/// What the `total − evaluated` cases not run would have cost on `sides`
/// sides, at the average of the calls that were made.
fn savings(
    prompt: &PromptSpec,
    total: usize,
    evaluated: usize,
    stats: &CallStats,
    sides: u64,
) -> Savings {
    let repeats = u64::from(prompt.repeats.max(1));
    let skipped = (total - evaluated) as u64 * repeats * sides;
    let made = stats.made.max(1) as f64;
    let per_call_tokens = (stats.input_tokens + stats.output_tokens) as f64 / made;
    Savings {
        decided_after: evaluated,
        cases: total,
        calls_saved: skipped,
        tokens_saved: (per_call_tokens * skipped as f64).round() as u64,
        cost_saved_usd: (stats.unpriced == 0 && stats.made > 0)
            .then(|| stats.cost_usd / made * skipped as f64),
    }
}
