//! `promptgate validate`: every prompt file, its cases and the config,
//! checked without calling any model. Exit 0, or 2 with every problem
//! listed as `file:line:col: message` and the offending line.

use super::console::outln;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::Outcome;
use crate::edges::git::WorkingTree;
use crate::edges::github::annotations::neutralise_commands;
use crate::flows::validate::validate;
use crate::types::Severity;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Prompt files or folders to check (default: every prompt the config finds).
    pub paths: Vec<PathBuf>,
}

pub fn run(repo: &Path, args: ValidateArgs) -> anyhow::Result<Outcome> {
    let files = WorkingTree::new(repo).with_context(|| format!("opening {}", repo.display()))?;
    let only = args
        .paths
        .iter()
        .map(|path| repo_relative(repo, path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let validation = validate(&files, &only);
    for diagnostic in &validation.diagnostics.0 {
        eprintln!("{}\n", neutralise_commands(&diagnostic.to_string()));
    }
    for note in &validation.notes {
        outln!("note: {}", neutralise_commands(note));
    }
    let count = |severity| {
        validation
            .diagnostics
            .0
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if errors > 0 {
        let warnings = if warnings > 0 {
            format!(" and {warnings} warning{}", plural(warnings))
        } else {
            String::new()
        };
        anyhow::bail!(
            "{errors} error{}{warnings}; fix the errors above and run `promptgate validate` again",
            plural(errors),
        );
    }
    outln!(
        "ok: {} prompt{}, {} case{}{}",
        validation.prompts,
        plural(validation.prompts),
        validation.cases,
        plural(validation.cases),
        if warnings > 0 {
            format!(", {warnings} warning{}", plural(warnings))
        } else {
            String::new()
        }
    );
    Ok(Outcome::Success)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A command-line path as a path inside the repository.
fn repo_relative(repo: &Path, path: &Path) -> anyhow::Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let real = absolute
        .canonicalize()
        .with_context(|| format!("{}: no such file or folder", path.display()))?;
    let root = repo.canonicalize()?;
    let inside = real.strip_prefix(&root).map_err(|_| {
        anyhow::anyhow!(
            "{} is outside the repository {}",
            path.display(),
            root.display()
        )
    })?;
    Ok(inside.to_path_buf())
}
