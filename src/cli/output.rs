//! Report flags shared by every command that evaluates.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::pipeline::report::{self, CheckReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

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
}

impl ReportArgs {
    /// Prints the report on stdout and writes every requested file.
    pub fn emit(&self, report: &CheckReport) -> anyhow::Result<()> {
        let stdout = match self.format {
            Format::Table => report::terminal::render(report, super::color_enabled_stdout()),
            Format::Markdown => report::markdown::render_step_summary(report)?,
            Format::Json => report::json::render(report)?,
        };
        println!("{stdout}");
        if let Some(path) = &self.junit {
            report::write_file(path, &report::junit::render(report)?)?;
        }
        if let Some(path) = &self.markdown {
            report::write_file(path, &report::markdown::render_comment(report)?)?;
        }
        if let Some(path) = &self.json {
            report::write_file(path, &report::json::render(report)?)?;
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
