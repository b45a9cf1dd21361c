//! `promptgate eval`: evaluate prompts as they are, no comparison.

use super::console::outln;
use std::path::Path;

use clap::Args;

use super::Outcome;
use super::output::{CacheArgs, Format, ReportArgs};
use crate::edges::git::WorkingTree;
use crate::flows::evaluate::{Locations, RunOptions, engine, evaluate_current, select_by_name};
use crate::pipeline::evaluation;
use crate::pipeline::report::github::GithubEval;
use crate::pipeline::report::{self, CheckReport, PromptReport, ReportMode, RunTotals};
use crate::pipeline::runner::pricing;
use crate::pipeline::spec::Workspace;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Prompts by name or path (default: every prompt).
    #[arg(value_name = "PROMPT|PATH")]
    pub prompts: Vec<String>,
    /// Print the number of calls and an upper bound of their cost, and stop
    /// before spending anything.
    #[arg(long)]
    pub estimate: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

pub fn run(repo: &Path, args: EvalArgs) -> anyhow::Result<Outcome> {
    if args.estimate {
        return estimate(repo, &args.prompts);
    }
    let options = RunOptions {
        cache: args.cache.mode(),
        ..RunOptions::default()
    };
    let started = std::time::Instant::now();
    let (_, evaluations) =
        super::block_on(async { Ok(evaluate_current(repo, &args.prompts, &options).await?) })?;
    let github = (args.report.format == Format::Github).then(|| {
        // gh runs a file without cases as 0 of 0 tests.
        let items: Vec<GithubEval<'_>> = evaluations
            .evaluated
            .iter()
            .map(|item| GithubEval {
                prompt: &item.prompt,
                result: Some(&item.result),
            })
            .chain(evaluations.skipped.iter().map(|skipped| GithubEval {
                prompt: &skipped.prompt,
                result: None,
            }))
            .collect();
        report::github::render(&items)
    });
    let mut totals = evaluations.judge_calls;
    let prompts = evaluations
        .evaluated
        .into_iter()
        .map(|item| {
            totals.add(&item.calls);
            PromptReport {
                gate: None,
                head: item.result,
                baseline: None,
                baseline_source: None,
                path: Some(item.prompt.path.to_string()),
                affected_because: Vec::new(),
                prompt_diff_markdown: None,
                prompt_diff_terminal: None,
                policy_change: None,
                calls: item.calls,
                // A GitHub-format file fails exactly when `gh models eval` would.
                cases_must_pass: item.prompt.semantics.is_github(),
                sequential: None,
            }
        })
        .collect();
    let report = CheckReport::new(
        ReportMode::Eval,
        prompts,
        RunTotals {
            calls: totals,
            prompts_unaffected: 0,
            elapsed_ms: Some(started.elapsed().as_millis() as u64),
        },
        evaluations.skipped.into_iter().map(|s| s.note).collect(),
    );
    args.report.emit_with(&report, github)?;
    // Eval mode has no baseline: a GitHub-format prompt with a failed case
    // fails it, as gh does.
    Ok(
        if report.status() == crate::pipeline::report::Status::Fail {
            Outcome::GateFailed
        } else {
            Outcome::Success
        },
    )
}

/// Cases planned at once by `eval --estimate`.
const ESTIMATE_CHUNK: usize = 1024;

/// `eval --estimate`: plans every prompt and prices the calls a run would
/// make, counting the cached ones as free.
fn estimate(repo: &Path, selectors: &[String]) -> anyhow::Result<Outcome> {
    let workspace = Workspace::load(Box::new(WorkingTree::new(repo)?))?;
    let engine = engine(
        &Locations::checkout(repo),
        &workspace.config,
        &RunOptions::default(),
    )?
    .pricing_only();
    let mut estimate = pricing::Estimate::default();
    let (prices, cache) = (engine.runner.prices(), engine.runner.cache());
    for prompt in select_by_name(&workspace, selectors)? {
        // A chunk at a time: a million cases are counted, never held.
        evaluation::plan_in_chunks(
            &prompt,
            workspace.files.as_ref(),
            &workspace.config,
            ESTIMATE_CHUNK,
            |chunk| -> anyhow::Result<()> {
                for call in engine.calls(&chunk)? {
                    estimate.add(&call, prices, Some(cache));
                }
                Ok(())
            },
        )?;
    }
    let uncached = estimate.calls - estimate.cached;
    outln!(
        "{} calls ({} cached, {uncached} to make): at most {} input and {} output tokens",
        estimate.calls,
        estimate.cached,
        estimate.input_tokens,
        estimate.output_tokens
    );
    outln!("cost: at most ${:.4}", estimate.max_cost_usd);
    if !estimate.unpriced_models.is_empty() {
        outln!(
            "no price known for {} (add them under [pricing]); their cost is not included",
            estimate.unpriced_models.join(", ")
        );
    }
    if estimate.assumed_max_tokens {
        outln!("some prompts set no maxTokens; the bound assumes a default output length");
    }
    outln!("judge calls are not included: they depend on the outputs");
    Ok(Outcome::Success)
}
