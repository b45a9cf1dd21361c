//! `promptgate diff <prompt> [FROM] [TO]`: what changed in one prompt
//! between two versions, part by part, with word-level text diffs. The
//! comparison is [`crate::flows::diff`]'s; this prints it.

use super::console::{out, outln};
use std::path::Path;

use clap::Args;

use super::registry::RegistryArg;
use super::{Outcome, block_on};
use crate::flows::diff::{DiffRequest, diff_prompt};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The prompt: its `name` or the path of its file. `NAME@vN` or
    /// `NAME@LABEL` names the prompt and, at once, the old version.
    pub prompt: String,
    /// The old version: a git revision, or a published version `@v7`,
    /// `NAME@v7`, `@production` (default: the merge base of HEAD with the
    /// default branch).
    pub from: Option<String>,
    /// The new version, in the same forms (default: the working tree).
    pub to: Option<String>,
    /// Print markdown, as for a pull-request comment.
    #[arg(long)]
    pub markdown: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
}

pub fn run(repo: &Path, args: DiffArgs) -> anyhow::Result<Outcome> {
    let request = DiffRequest {
        prompt: &args.prompt,
        from: args.from.as_deref(),
        to: args.to.as_deref(),
        registry: args.registry.registry.as_deref(),
        repository: args.registry.repository.as_deref(),
    };
    let compared = block_on(async { Ok(diff_prompt(repo, &request).await?) })?;
    let (name, old, new) = (&compared.name, &compared.old, &compared.new);
    if args.markdown {
        outln!(
            "### Prompt `{}`\n\n{} → {}\n",
            name.replace('`', "'"),
            old.place,
            new.place
        );
        if let Some(note) = &compared.only_one_side {
            outln!("{note}\n");
        }
        out!("{}", compared.diff.render_markdown());
    } else {
        outln!("prompt {name}: {} → {}", old.place, new.place);
        if let Some(note) = &compared.only_one_side {
            outln!("{note}");
        }
        out!(
            "{}",
            compared.diff.render_terminal(super::color_enabled_stdout())
        );
    }
    Ok(Outcome::Success)
}
