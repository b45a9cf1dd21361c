//! Report flags shared by every command that evaluates.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::console;
use crate::edges::github::annotations::NeutralisingWriter;
use crate::pipeline::report::{self, CheckReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
    /// What `gh models eval --json` prints (`promptgate eval` only).
    Github,
}

const GITHUB_ONLY_IN_EVAL: &str = "`--format github` prints what `gh models eval --json` prints, so only `promptgate eval` has it; use `--format json` here";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "PATH", env = "PROMPTGATE_JUNIT")]
    pub junit: Option<PathBuf>,
    /// Also write the markdown report (the pull-request comment body) here.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Also write the JSON report (schemas/report.schema.json) here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Also write a self-contained HTML report here (no network needed to view it).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

impl ReportArgs {
    /// Prints the report on stdout and writes every requested file.
    pub fn emit(&self, report: &CheckReport) -> anyhow::Result<()> {
        self.emit_with(report, None)
    }

    /// Fails for `--format github`, which only `eval` prints.
    pub fn refuse_github_format(&self) -> anyhow::Result<()> {
        if self.format == Format::Github {
            anyhow::bail!(GITHUB_ONLY_IN_EVAL);
        }
        Ok(())
    }

    /// As [`emit`](Self::emit), printing `github` (gh's JSON, which only
    /// `eval` can make) for `--format github`.
    pub fn emit_with(&self, report: &CheckReport, github: Option<String>) -> anyhow::Result<()> {
        // Model output and names from the pull request: no workflow commands.
        let mut stdout = NeutralisingWriter::new(std::io::BufWriter::new(console::Stdout));
        match self.format {
            Format::Table => {
                let text = report::terminal::render(report, super::color_enabled_stdout());
                writeln!(stdout, "{text}")?;
            }
            Format::Markdown => {
                writeln!(stdout, "{}", report::markdown::render_step_summary(report)?)?
            }
            // Streamed: a report of every case is never held whole.
            Format::Json => report::json::write(report, &mut stdout)?,
            Format::Github => match github {
                // gh's JSON ends in its own newline.
                Some(text) => writeln!(stdout, "{}", text.trim_end())?,
                None => anyhow::bail!(GITHUB_ONLY_IN_EVAL),
            },
        }
        stdout.finish()?;
        if let Some(path) = &self.junit {
            report::write_file(path, &report::junit::render(report)?)?;
        }
        if let Some(path) = &self.markdown {
            report::write_file(path, &report::markdown::render_comment(report)?)?;
        }
        if let Some(path) = &self.json {
            report::write_file_with(path, |file| report::json::write(report, file))?;
        }
        if let Some(path) = &self.html {
            report::write_file(path, &report::html::render(report)?)?;
        }
        Ok(())
    }
}

/// Response-cache flags.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Neither read nor write the response cache.
    #[arg(long, conflicts_with = "refresh")]
    pub no_cache: bool,
    /// Ignore cached responses, and replace them with fresh ones.
    #[arg(long)]
    pub refresh: bool,
}

impl CacheArgs {
    pub fn mode(&self) -> crate::pipeline::runner::cache::CacheMode {
        crate::pipeline::runner::cache::CacheMode::from_flags(self.no_cache, self.refresh)
    }
}
