//! `promptgate eval`: evaluate prompts as they are, no comparison.

use std::path::Path;

use clap::Args;

use super::Outcome;
use super::output::{CacheArgs, ReportArgs};
use crate::check::{CheckRequest, evaluate_current};
use crate::report::{CheckReport, PromptReport, ReportMode, RunTotals};

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
        return super::estimate::run(repo, &args.prompts);
    }
    let request = CheckRequest {
        cache: args.cache.mode(),
        ..CheckRequest::default()
    };
    let started = std::time::Instant::now();
    let (_, evaluated, judge_calls) =
        super::block_on(evaluate_current(repo, &args.prompts, &request))?;
    let mut totals = judge_calls;
    let prompts = evaluated
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
            }
        })
        .collect();
    let report = CheckReport {
        mode: ReportMode::Eval,
        prompts,
        totals: RunTotals {
            calls: totals,
            prompts_unaffected: 0,
            elapsed_ms: Some(started.elapsed().as_millis() as u64),
        },
        notes: Vec::new(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: crate::evaluation::now_rfc3339(),
    };
    args.report.emit(&report)?;
    // Eval mode has no baseline; only missed absolute thresholds fail it.
    Ok(if report.status() == crate::report::Status::Fail {
        Outcome::GateFailed
    } else {
        Outcome::Success
    })
}

