//! `promptgate diff <prompt> [FROM] [TO]`: what changed in one prompt
//! between two versions, part by part, with word-level text diffs.
//!
//! Prompt files are read as the GitHub Models shape directly (messages,
//! model, modelParameters, responseFormat); message contents are compared
//! as written, includes unresolved.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

use super::Outcome;
use crate::repo::{self, GitRevision, RepoFiles, WorkingTree};
use crate::spec::RepoPath;
use crate::textdiff;

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The prompt: its `name`, or the path of its file.
    pub prompt: String,
    /// The old version: a git revision (default: the merge base of HEAD with
    /// the default branch).
    pub from: Option<String>,
    /// The new version: a git revision (default: the working tree).
    pub to: Option<String>,
    /// Print markdown, as for a pull-request comment.
    #[arg(long)]
    pub markdown: bool,
}

/// One prompt file found at one version.
struct Found {
    path: RepoPath,
    name: String,
    value: Value,
}

pub fn run(repo: &Path, args: DiffArgs) -> anyhow::Result<Outcome> {
    let from = match &args.from {
        Some(rev) => rev.clone(),
        None => {
            let branch = repo::default_branch(repo)?;
            repo::merge_base(repo, "HEAD", &branch)
                .with_context(|| format!("finding the merge base of HEAD and {branch}"))?
        }
    };
    let old_files = GitRevision::new(repo, &from)?;
    let new_files: Box<dyn RepoFiles> = match &args.to {
        Some(rev) => Box::new(GitRevision::new(repo, rev)?),
        None => Box::new(WorkingTree::new(repo)?),
    };

    // Find the prompt where it is named, then its other version by name, so
    // a renamed file is followed.
    let new = find_prompt(new_files.as_ref(), &args.prompt)?;
    let old = match &new {
        Some(found) => find_prompt(&old_files, &found.name)?,
        None => find_prompt(&old_files, &args.prompt)?,
    };
    let new = match (&new, &old) {
        (None, Some(found)) => find_prompt(new_files.as_ref(), &found.name)?,
        _ => new,
    };
    let Some(named) = new.as_ref().or(old.as_ref()) else {
        bail!(
            "no prompt named or at `{}` in the {} or the {}; give a prompt's `name` or the path \
             of its .prompt.yml file",
            args.prompt,
            old_files.describe(),
            new_files.describe()
        );
    };

    let value = |found: &Option<Found>| found.as_ref().map_or(Value::Null, |f| f.value.clone());
    let diff = textdiff::diff_prompt_values(&value(&old), &value(&new));
    let side = |found: &Option<Found>, files: &dyn RepoFiles| match found {
        Some(found) => format!("{} ({})", found.path, files.describe()),
        None => format!("absent ({})", files.describe()),
    };
    let (old_side, new_side) = (side(&old, &old_files), side(&new, new_files.as_ref()));
    if args.markdown {
        println!(
            "### Prompt `{}`\n\n{old_side} → {new_side}\n\n{}",
            named.name.replace('`', "'"),
            diff.render_markdown()
        );
    } else {
        let color = super::color_enabled_stdout();
        println!("prompt {}: {old_side} → {new_side}", named.name);
        print!("{}", diff.render_terminal(color));
    }
    Ok(Outcome::Success)
}

fn is_prompt_file(path: &RepoPath) -> bool {
    path.0.ends_with(".prompt.yml") || path.0.ends_with(".prompt.yaml")
}

/// The prompt whose file is at `query`, or whose name is `query`.
fn find_prompt(files: &dyn RepoFiles, query: &str) -> anyhow::Result<Option<Found>> {
    if let Ok(path) = repo::normalize(query)
        && is_prompt_file(&path)
        && let Some(found) = read_prompt(files, &path)?
    {
        return Ok(Some(found));
    }
    for path in files.list()?.into_iter().filter(is_prompt_file) {
        // A file that does not parse cannot be the one asked for by name;
        // `validate` reports it.
        if let Ok(Some(found)) = read_prompt(files, &path)
            && found.name == query
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn read_prompt(files: &dyn RepoFiles, path: &RepoPath) -> anyhow::Result<Option<Found>> {
    let Some(bytes) = files.read(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).with_context(|| format!("{path}: not valid UTF-8"))?;
    let value = crate::dataset::yaml_text_to_json(&text)
        .map_err(|problem| anyhow::anyhow!("{path}: {problem}"))?;
    // GitHub Models files without a `name` are known by their file name.
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let file = path.0.rsplit('/').next().unwrap_or(&path.0);
            file.trim_end_matches(".yml")
                .trim_end_matches(".yaml")
                .trim_end_matches(".prompt")
                .to_owned()
        });
    Ok(Some(Found {
        path: path.clone(),
        name,
        value,
    }))
}
