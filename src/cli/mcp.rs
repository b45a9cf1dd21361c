//! `promptgate mcp`: serves this repository's tools to a local agent over
//! the Model Context Protocol on stdin/stdout (see [`crate::mcp`]).

use std::path::Path;

use clap::Args;

use super::Outcome;
use super::registry::RegistryArg;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Offer the tools that write to the registry: publish, promote, rollback.
    #[arg(long)]
    pub allow_writes: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
}

pub fn run(repo: &Path, args: McpArgs) -> anyhow::Result<Outcome> {
    let options = crate::mcp::Options {
        allow_writes: args.allow_writes,
        registry: args.registry.registry,
    };
    super::block_on(crate::mcp::serve_stdio(repo, options))?;
    Ok(Outcome::Success)
}
