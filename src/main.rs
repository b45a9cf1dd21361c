use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = promptgate::cli::Cli::parse();
    if !cli.logs_itself() {
        promptgate::cli::init_tracing(cli.verbose);
    }
    match promptgate::cli::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("{}", promptgate::cli::render_error(&error));
            ExitCode::from(2)
        }
    }
}
