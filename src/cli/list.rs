//! `promptgate list`: every prompt with its model, version id, number of
//! cases and evaluators.

use super::console::outln;
use std::path::Path;

use anyhow::Context;
use clap::Args;

use super::Outcome;
use crate::edges::git::WorkingTree;
use crate::flows::listing::{Listed, list_prompts};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(repo: &Path, args: ListArgs) -> anyhow::Result<Outcome> {
    let files = WorkingTree::new(repo).with_context(|| format!("opening {}", repo.display()))?;
    let (rows, errors) = list_prompts(&files);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if !rows.is_empty() {
        print_table(&rows)?;
    } else if errors.is_empty() {
        // With errors, the prompts exist but could not be read: the errors
        // below say so, and "no prompts found" would mislead.
        outln!("no prompts found (prompt files are named *.prompt.yml)");
    }
    if !errors.is_empty() {
        for error in &errors {
            eprintln!(
                "{}\n",
                crate::edges::github::annotations::neutralise_commands(&error.to_string())
            );
        }
        anyhow::bail!(
            "{} problem{} found; run `promptgate validate` for the full list",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
    }
    Ok(Outcome::Success)
}

fn print_table(rows: &[Listed]) -> anyhow::Result<()> {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                row.model.clone(),
                row.version
                    .as_deref()
                    .map_or("?".into(), |v| crate::types::ids::short_hex(v).to_owned()),
                row.cases.map_or("?".into(), |n| n.to_string()),
                if row.evaluators.is_empty() {
                    "-".into()
                } else {
                    format!("{} ({})", row.evaluators.len(), row.evaluators.join(", "))
                },
            ]
        })
        .collect();
    let header = ["PROMPT", "MODEL", "VERSION", "CASES", "EVALUATORS"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |row: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out
    };
    outln!("{}", line(header));
    for row in &cells {
        outln!("{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    Ok(())
}
