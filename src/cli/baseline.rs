//! `promptgate baseline`: evaluate the current versions and store their
//! results, so later checks compare against them without re-running.

use super::console::outln;
use std::path::Path;

use clap::Args;

use super::Outcome;
use super::output::CacheArgs;
use crate::flows::evaluate::{RunOptions, evaluate_current};

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Prompts by name or path (default: every prompt).
    #[arg(value_name = "PROMPT|PATH")]
    pub prompts: Vec<String>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

pub fn run(repo: &Path, args: BaselineArgs) -> anyhow::Result<Outcome> {
    let options = RunOptions {
        cache: args.cache.mode(),
        ..RunOptions::default()
    };
    let (_, evaluations) =
        super::block_on(async { Ok(evaluate_current(repo, &args.prompts, &options).await?) })?;
    for skipped in &evaluations.skipped {
        outln!("{}", skipped.note);
    }
    for item in &evaluations.evaluated {
        outln!(
            "{}  version {}  fingerprint {}  {} cases{}",
            item.prompt.name,
            item.result.version.short(),
            item.result.fingerprint.short(),
            item.result.cases.len(),
            if item.from_store {
                "  (already stored)"
            } else {
                "  stored"
            }
        );
    }
    Ok(Outcome::Success)
}
