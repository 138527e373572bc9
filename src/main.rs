//! The hhmon binary: parses the command line, sets up logging, and hands the subcommand to its
//! driver in [`hhmon::app`]. Failure is one `hhmon: …` line on stderr and a non-zero exit.

use hhmon::app;
use hhmon::cli::{self, Cli, Command};
use hhmon::top::log::LogTail;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::parse_with_config(std::env::args_os()) {
        Ok(cli) => cli,
        Err(cli::Error::Command(error)) => error.exit(),
        Err(error) => {
            eprintln!("hhmon: {error}");
            // clap's exit code for a bad command line: the config file and flags that cannot
            // go together are part of it.
            return ExitCode::from(2);
        }
    };
    // The interactive view owns the terminal: a log line would tear it, so its warnings go to
    // the view's status line instead.
    let view_log = (matches!(cli.command, Command::Top(_)) && std::io::stdout().is_terminal())
        .then(LogTail::default);
    let writer = match &view_log {
        Some(tail) => BoxMakeWriter::new(tail.clone().with_max_level(tracing::Level::WARN)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(
            EnvFilter::try_from_env("HHMON_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(view_log.is_none() && std::io::stderr().is_terminal())
        .init();
    let status = match cli.command {
        Command::Replay(args) => app::replay::main(args.config()),
        Command::Capture(args) => app::capture::main(args.config()),
        Command::Collect(args) => app::collect::main(args.config()),
        Command::Merge(args) => app::merge::main(&args.config(), args.top),
        Command::Generate(args) => {
            app::generate::main(&args.config(), &args.out, args.truth.as_deref())
        }
        Command::Top(args) => app::top::main(args.config(), view_log.unwrap_or_default()),
    };
    ExitCode::from(status as u8)
}
