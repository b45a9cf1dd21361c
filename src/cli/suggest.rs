//! `promptgate suggest`: a verified fix for a failing prompt, printed, and
//! written into the files with `--write`.

use std::path::Path;

use anyhow::Context;
use clap::Args;

use super::Outcome;
use super::output::CacheArgs;
use crate::flows::check::CheckRequest;
use crate::flows::evaluate::RunOptions;
use crate::flows::suggest::{SuggestRequest, suggest_in_checkout};
use crate::pipeline::suggest::{PromptSuggestion, SuggestStatus, render};

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// Prompts to fix, by name or path (default: every prompt the change
    /// affects whose gate failed).
    #[arg(value_name = "PROMPT")]
    pub prompts: Vec<String>,
    /// The criterion to fix (default: the first that regressed, else the
    /// first below its threshold).
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    /// How many candidate edits to ask for (default: `[suggest] candidates`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub candidates: Option<u32>,
    /// Apply the verified suggestion to the files (only the changed message
    /// or snippet lines change).
    #[arg(long)]
    pub write: bool,
    /// Compare against this revision (default: the merge base with the default branch).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Exit 0 when every prompt asked about has a verified suggestion (or
/// nothing to fix), 1 when one has none.
pub fn run(repo: &Path, args: SuggestArgs) -> anyhow::Result<Outcome> {
    let check = CheckRequest {
        base: args.base,
        run: RunOptions {
            cache: args.cache.mode(),
            ..RunOptions::default()
        },
        ..CheckRequest::default()
    };
    let request = SuggestRequest {
        prompts: args.prompts,
        criterion: args.criterion,
        candidates: args.candidates,
    };
    let (_, suggestions) =
        super::block_on(async { Ok(suggest_in_checkout(repo, &check, &request).await?) })?;
    if suggestions.is_empty() {
        println!(
            "Nothing to suggest: no prompt failed its gate (name one, with --criterion, to improve it anyway)."
        );
        return Ok(Outcome::Success);
    }
    let color = super::color_enabled_stdout();
    let mut all_found = true;
    for suggestion in &suggestions {
        println!("{}", render::terminal(suggestion, color));
        match &suggestion.status {
            SuggestStatus::Found(_) if args.write => write_files(repo, suggestion)?,
            SuggestStatus::Found(_) | SuggestStatus::NothingToFix => {}
            _ => all_found = false,
        }
    }
    Ok(if all_found {
        Outcome::Success
    } else {
        Outcome::GateFailed
    })
}

/// Writes a verified suggestion's files, refusing any file that changed
/// since it was measured.
fn write_files(repo: &Path, suggestion: &PromptSuggestion) -> anyhow::Result<()> {
    let Some(verified) = suggestion.verified() else {
        return Ok(());
    };
    for file in &verified.files {
        let path = repo.join(&file.path.0);
        let now =
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", file.path))?;
        if now != file.old {
            anyhow::bail!(
                "{} changed while the suggestion was measured; run `promptgate suggest` again",
                file.path
            );
        }
        std::fs::write(&path, &file.new).with_context(|| format!("writing {}", file.path))?;
        println!("wrote {}", file.path);
    }
    Ok(())
}
