//! `promptgate suggest`: a verified fix for a failing prompt, printed, and
//! written into the files with `--write`.

use std::path::Path;

use clap::Args;

use super::Outcome;
use super::output::CacheArgs;
use crate::flows::check::CheckRequest;
use crate::flows::evaluate::RunOptions;
use crate::flows::suggest::{SuggestRequest, suggest_in_checkout, write_suggestion};
use crate::pipeline::suggest::{SuggestStatus, render};

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
        progress: None,
    };
    let (_, suggestions) =
        super::block_on(async { Ok(suggest_in_checkout(repo, &check, &request).await?) })?;
    if suggestions.is_empty() {
        println!("{}", render::NOTHING_FAILED);
        return Ok(Outcome::Success);
    }
    let color = super::color_enabled_stdout();
    let mut all_found = true;
    for suggestion in &suggestions {
        println!("{}", render::terminal(suggestion, color));
        match &suggestion.status {
            SuggestStatus::Found(_) if args.write => {
                for path in write_suggestion(repo, suggestion)? {
                    println!("wrote {path}");
                }
            }
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
