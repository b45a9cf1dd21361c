//! The command line: clap types and the dispatch to each command. Each
//! command lives in its own file and turns its arguments into calls on the
//! library's stages.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod serve;
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
    /// Check every prompt file, dataset and the config; list every problem.
    Validate(validate::ValidateArgs),
    /// Run the GitHub App server: webhooks in, gate jobs out, prompts served.
    Serve(serve::ServeArgs),
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
    let repo = match cli.repo {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    match cli.command {
        Command::Validate(args) => validate::run(&repo, args),
        Command::Serve(args) => serve::run(args, cli.verbose),
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
        .with_writer(std::io::stderr)
        .with_ansi(color_enabled_stderr())
        .try_init();
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

/// The error and its causes, one per line.
pub fn render_error(error: &anyhow::Error) -> String {
    let mut text = format!("error: {error}");
    for cause in error.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    text
}
