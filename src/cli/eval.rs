//! `promptgate eval`: evaluate prompts as they are, no comparison.

use super::console::outln;
use std::path::Path;

use clap::Args;

use super::Outcome;
use super::output::{CacheArgs, Format, ReportArgs};
use crate::flows::evaluate::{RunOptions, estimate_current, evaluate_current};
use crate::pipeline::report;
use crate::pipeline::report::github::GithubEval;

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
    let report = evaluations.into_report(started.elapsed().as_millis() as u64);
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

/// `eval --estimate`: the calls a run would make and an upper bound of
/// their cost, the cached ones free.
fn estimate(repo: &Path, selectors: &[String]) -> anyhow::Result<Outcome> {
    let estimate = estimate_current(repo, selectors)?;
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
