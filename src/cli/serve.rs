//! `promptgate serve`: the GitHub App server. The flags, then
//! [`crate::server::start::run`] (settings from [`crate::server::settings`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::Outcome;
use crate::server::settings::ServeSettings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(
        long,
        value_name = "ADDR",
        env = "PROMPTGATE_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// The server configuration file (TOML). Environment variables override it.
    #[arg(long, value_name = "FILE", env = "PROMPTGATE_SERVER_CONFIG")]
    pub config: Option<PathBuf>,
}

pub fn run(args: ServeArgs, verbose: u8) -> anyhow::Result<Outcome> {
    let settings = ServeSettings::load(args.config.as_deref(), &|name| std::env::var(name).ok())?;
    // The one global logger of this process (see `Cli::logs_itself`).
    let _ = tracing::dispatcher::set_global_default(log_dispatch(verbose));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let grace = settings.worker.shutdown_grace;
    let served = runtime.block_on(crate::server::start::run(args.listen, settings));
    // Work still running on blocking threads (a render, a provider call)
    // must not hold the exit past the grace the operator set.
    runtime.shutdown_timeout(grace);
    served?;
    Ok(Outcome::Success)
}

/// Server logs: JSON lines when stderr is not a terminal (log collectors),
/// human text on a terminal. `PROMPTGATE_LOG`, then `RUST_LOG`, filter them;
/// the default is `info`.
fn log_dispatch(verbose: u8) -> tracing::Dispatch {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = || {
        std::env::var("PROMPTGATE_LOG")
            .ok()
            .and_then(|spec| EnvFilter::try_new(spec).ok())
            .or_else(|| EnvFilter::try_from_default_env().ok())
            .unwrap_or_else(|| EnvFilter::new(default))
    };
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        tracing::Dispatch::new(
            builder
                .with_env_filter(filter())
                .with_ansi(super::color_enabled_stderr())
                .finish(),
        )
    } else {
        tracing::Dispatch::new(builder.json().with_env_filter(filter()).finish())
    }
}
