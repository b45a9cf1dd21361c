//! `promptgate validate`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::Outcome;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Prompt files or folders to check (default: every prompt the config finds).
    pub paths: Vec<PathBuf>,
}

pub fn run(_repo: &Path, _args: ValidateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("validate is being built")
}
