//! The command line: clap types and the dispatch to each command. Each
//! command lives in its own file and turns its arguments into calls on the
//! library's stages.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod action;
mod app;
mod baseline;
mod check;
mod console;
mod diff;
mod eval;
mod init;
mod keys;
mod list;
mod mcp;
mod output;
mod registry;
mod review;
pub mod serve;
mod suggest;
mod validate;

/// A CI-native regression gate for LLM prompts.
///
/// Prompts live in your repository as `*.prompt.yml` files (the GitHub Models
/// format). promptgate evaluates the ones a change touches against their
/// stored baseline and fails when a change makes them worse.
#[derive(Debug, Parser)]
#[command(name = "promptgate", version, propagate_version = true)]
pub struct Cli {
    /// More log output (repeat for more). `PROMPTGATE_LOG` or `RUST_LOG` set filters.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// The repository to work in (default: the current directory).
    #[arg(
        short = 'C',
        long,
        global = true,
        value_name = "DIR",
        env = "PROMPTGATE_REPO"
    )]
    pub repo: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The local dry run of the pull-request gate: evaluate the prompts a
    /// change affects, compare with their baselines, exit 1 on regression.
    Check(check::CheckArgs),
    /// Evaluate prompts as they are and print their scores (no comparison).
    Eval(eval::EvalArgs),
    /// Evaluate the current versions and store their results, so later
    /// checks compare against them without re-running.
    Baseline(baseline::BaselineArgs),
    /// Check every prompt file, dataset and the config; list every problem.
    Validate(validate::ValidateArgs),
    /// Show what changed in one prompt between two versions (word-level).
    ///
    /// FROM and TO are git revisions or published versions (`NAME@v7`,
    /// `@v7`, `@production`); by default the merge base with the default
    /// branch and the working tree. Includes are shown resolved.
    Diff(diff::DiffArgs),
    /// Publish evaluated versions to the registry, record their results as
    /// baselines and move `latest`.
    Publish(registry::PublishArgs),
    /// Label judged outputs (pass/fail or 1-5) to check the LLM judges:
    /// a seeded sample of stored outputs, each shown before the judge's
    /// score; `--agreement` prints how often each judge agrees with
    /// reviewers.
    Review(review::ReviewArgs),
    /// Move an environment label to a version, following the promotion policy.
    Promote(registry::PromoteArgs),
    /// Move a label back to its previous version.
    Rollback(registry::RollbackArgs),
    /// A prompt's published versions and label moves, newest first.
    History(registry::HistoryArgs),
    /// Write the registry as a static JSON bundle any static host can serve.
    Export(registry::ExportArgs),
    /// Copy prompts published before namespaces (in the default namespace
    /// `_/default`) into the repository that published them: versions,
    /// results, baselines, labels and their history, audit lines.
    Adopt(registry::AdoptArgs),
    /// List every prompt: model, version id, number of cases, evaluators.
    List(list::ListArgs),
    /// Run as the GitHub Action: gate a pull request, publish on a push to
    /// the default branch, or rerun after a model change (workflow_dispatch).
    /// Reads the Actions environment (`GITHUB_*`) and the action's inputs
    /// (`PROMPTGATE_*`).
    Action(action::ActionArgs),
    /// Set up promptgate in this repository: a config, one prompt with a
    /// 14-case dataset and three evaluators, and a `.gitignore` entry for the
    /// store. Its project shows the gate catching a regression.
    Init(init::InitArgs),
    /// Run the GitHub App server: webhooks in, gate jobs out, prompts served.
    Serve(serve::ServeArgs),
    /// Internal: renders one prompt read from stdin, inside the bounds
    /// `pipeline::template::sandbox` sets.
    #[command(name = "__render-sandbox", hide = true)]
    RenderSandbox,
    /// Manage the API keys applications use to fetch prompts from `serve`.
    Keys(keys::KeysArgs),
    /// Set up the GitHub App that `serve` runs as (`app create`).
    App(app::AppArgs),
    /// Ask the `[suggest]` model for edits to a failing prompt, verify each
    /// on held-out cases with the gate, and print the best (`--write`
    /// applies it).
    Suggest(suggest::SuggestArgs),
    /// Serve this repository's tools to an agent over the Model Context
    /// Protocol (stdio): list, read, diff, validate, estimate, evaluate,
    /// check, results; publish, promote and rollback with --allow-writes.
    Mcp(mcp::McpArgs),
}

/// What a command concluded, as the process exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the gate failed.
    GateFailed,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::GateFailed => ExitCode::from(1),
        }
    }
}

/// Runs a parsed command line. Any error is bad input or an environment
/// problem and exits 2.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    if matches!(cli.command, Command::RenderSandbox) {
        crate::pipeline::template::sandbox::child_main()?;
        return Ok(Outcome::Success);
    }
    // Templates come from the repositories checked: render them in a
    // bounded copy of this binary.
    if let Ok(exe) = std::env::current_exe() {
        crate::pipeline::template::sandbox::use_executable(exe);
    }
    let repo = match cli.repo {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    match cli.command {
        Command::RenderSandbox => Ok(Outcome::Success),
        Command::Check(args) => check::run(&repo, args),
        Command::Eval(args) => eval::run(&repo, args),
        Command::Baseline(args) => baseline::run(&repo, args),
        Command::Validate(args) => validate::run(&repo, args),
        Command::Diff(args) => diff::run(&repo, args),
        Command::Publish(args) => registry::publish(&repo, args),
        Command::Review(args) => review::run(&repo, args),
        Command::Promote(args) => registry::promote(&repo, args),
        Command::Rollback(args) => registry::rollback(&repo, args),
        Command::History(args) => registry::history(&repo, args),
        Command::Export(args) => registry::export(&repo, args),
        Command::Adopt(args) => registry::adopt(&repo, args),
        Command::List(args) => list::run(&repo, args),
        Command::Init(args) => init::run(&repo, args),
        Command::Serve(args) => serve::run(args, cli.verbose),
        Command::Action(args) => action::run(&repo, args),
        Command::Keys(args) => keys::run(args),
        Command::App(args) => app::run(args),
        Command::Mcp(args) => mcp::run(&repo, args),
        Command::Suggest(args) => suggest::run(&repo, args),
    }
}

impl Cli {
    /// `serve` installs its own process-wide logger (JSON for collectors):
    /// threads that libraries spawn (SQLite's workers) only ever see the
    /// global one, and a span must be dropped by the subscriber that made it.
    pub fn logs_itself(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// Logs go to stderr; machine output to stdout.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("PROMPTGATE_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| NeutralStderr)
        .with_ansi(color_enabled_stderr())
        .try_init();
}

/// stderr for logs, whose messages quote pull requests (paths, names,
/// provider errors): each event is one write, neutralised whole.
struct NeutralStderr;

impl std::io::Write for NeutralStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let safe = crate::edges::github::annotations::neutralise_commands(&text);
        std::io::stderr().write_all(safe.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Colour only on a terminal, never with `NO_COLOR`.
pub fn color_enabled_stderr() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Colour only on a terminal, never with `NO_COLOR`.
pub fn color_enabled_stdout() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// The error and its causes, one per line. A cause whose text the message
/// already shows (errors that display their source) is not repeated.
pub fn render_error(error: &anyhow::Error) -> String {
    crate::edges::github::annotations::neutralise_commands(&error_text(error))
}

fn error_text(error: &anyhow::Error) -> String {
    // Diagnostics start with their own `file:line: error:`; a second
    // `error:` in front of them would only repeat it.
    let own_prefix = error.downcast_ref::<crate::types::Diagnostics>().is_some()
        || matches!(
            error.downcast_ref::<crate::flows::error::FlowError>(),
            Some(crate::flows::error::FlowError::Invalid(_))
        );
    let mut text = if own_prefix {
        error.to_string()
    } else {
        format!("error: {error}")
    };
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    text
}

/// Runs async work on a runtime made for one command.
pub(crate) fn block_on<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the async runtime: {e}"))?;
    runtime.block_on(work)
}
