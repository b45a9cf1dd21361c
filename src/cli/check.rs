//! `promptgate check`: the local dry run of the pull-request gate.

use std::path::Path;

use clap::Args;

use super::Outcome;
use super::output::{CacheArgs, ReportArgs};
use crate::flows::check::{CheckRequest, run_check};
use crate::flows::evaluate::RunOptions;
use crate::types::FailOn;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Compare against this revision (default: the merge base with the default branch).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Check this revision instead of the working tree.
    #[arg(long, value_name = "REV")]
    pub head: Option<String>,
    /// Evaluate every prompt, changed or not.
    #[arg(long)]
    pub all: bool,
    /// Only prompts on this model (`publisher/model`).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Override the config's `fail_on` for this run.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOnArg>,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FailOnArg {
    Regression,
    Inconclusive,
    Never,
}

impl From<FailOnArg> for FailOn {
    fn from(value: FailOnArg) -> Self {
        match value {
            FailOnArg::Regression => FailOn::Regression,
            FailOnArg::Inconclusive => FailOn::Inconclusive,
            FailOnArg::Never => FailOn::Never,
        }
    }
}

pub fn run(repo: &Path, args: CheckArgs) -> anyhow::Result<Outcome> {
    // Refused before anything is spent.
    args.report.refuse_github_format()?;
    let request = CheckRequest {
        base: args.base,
        head: args.head,
        all: args.all,
        model: args.model,
        fail_on: args.fail_on.map(Into::into),
        run: RunOptions {
            cache: args.cache.mode(),
            ..RunOptions::default()
        },
        ..CheckRequest::default()
    };
    let run = super::block_on(async { Ok(run_check(repo, &request).await?) })?;
    args.report.emit(&run.report)?;
    Ok(if run.failed {
        Outcome::GateFailed
    } else {
        Outcome::Success
    })
}
