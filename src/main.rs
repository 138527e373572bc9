//! The hhmon binary: parses the command line, sets up logging, and calls into the library.
//! Failure is one `hhmon: …` line on stderr and a non-zero exit.

use hhmon::cli::{self, Cli, Command};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("HHMON_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hhmon: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Replay(args) => {
            let summary = hhmon::replay::run(args.config())?;
            let seconds = summary.elapsed.as_secs_f64();
            eprintln!(
                "hhmon: {} packets, {} bytes in {:.3} s ({:.0} packets/s); {} intervals{}{}{}",
                summary.packets,
                summary.bytes,
                seconds,
                summary.packets as f64 / seconds.max(1e-9),
                summary.intervals,
                if summary.failed_files > 0 {
                    format!("; {} file(s) failed", summary.failed_files)
                } else {
                    String::new()
                },
                if summary.snapshot_errors > 0 {
                    format!("; {} snapshot write error(s)", summary.snapshot_errors)
                } else {
                    String::new()
                },
                if summary.interrupted {
                    "; interrupted"
                } else {
                    ""
                },
            );
            Ok(())
        }
        Command::Capture(args) => {
            let summary = hhmon::live::run(args.config())?;
            let seconds = summary.elapsed.as_secs_f64();
            let stats = summary.stats;
            eprintln!(
                "hhmon: {} packets, {} bytes in {:.3} s; {} intervals; libpcap received {}, dropped {} (kernel) + {} (interface){}",
                summary.packets,
                summary.bytes,
                seconds,
                summary.intervals,
                stats.received,
                stats.dropped_kernel,
                stats.dropped_interface,
                if summary.snapshot_errors > 0 {
                    format!("; {} snapshot write error(s)", summary.snapshot_errors)
                } else {
                    String::new()
                },
            );
            Ok(())
        }
        Command::Merge(args) => {
            let merged = hhmon::merge::run(&args.config())?;
            let text = hhmon::export::table::render(&merged, args.top);
            // A closed pipe (`hhmon merge ... | head`) just ends the output.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            Ok(())
        }
        Command::Generate(args) => {
            let started = std::time::Instant::now();
            let written =
                hhmon::synth::write_capture(&args.config(), &args.out, args.truth.as_deref())?;
            eprintln!(
                "hhmon: {} packets, {} bytes written to {} in {:.3} s",
                written.packets,
                written.file_bytes,
                args.out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
