//! `hhmon replay`: capture files, in order, through the engine to the sinks.
//!
//! Sets up the engine, reads the files in turn (paced by their timestamps with `--speed`),
//! waits for the last interval to reach every sink, and with a listen address keeps serving
//! the final metrics until SIGINT or SIGTERM. Snapshots are made durable once, at the end (and
//! at a signal), rather than after every interval: a replay can be run again. Knows nothing of
//! the packet loop, the views or how reports are rendered.

use super::{fail, Status};
use crate::capture::{FileSource, Paced};
use crate::decode::DecodeOptions;
use crate::engine::{self, read_in_turn, Engine, Progress, SinkConfig, Turns};
use crate::monitor::MonitorConfig;
use crate::sinks::snapshot::Durability;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Everything a replay needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// Capture files in the order to read them (`-` is standard input).
    pub files: Vec<PathBuf>,
    /// Replay at this multiple of the original speed; `None` reads as fast as possible.
    pub speed: Option<f64>,
    /// How frames are decoded (outermost or innermost IP flow).
    pub decode: DecodeOptions,
    /// What to count.
    pub monitor: MonitorConfig,
    /// Where reports go.
    pub sinks: SinkConfig,
}

/// What a replay did, for the closing summary line and the exit status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    /// Frames read from all files.
    pub packets: u64,
    /// Wire bytes of those frames.
    pub bytes: u64,
    /// Wall-clock time of the packet loop.
    pub elapsed: Duration,
    /// Files that could not be opened or that failed part-way.
    pub failed_files: usize,
    /// Intervals reported.
    pub intervals: u64,
    /// Snapshots that could not be written.
    pub snapshot_errors: u64,
    /// Export writes that failed (intervals not staged, periods not published).
    pub export_errors: u64,
    /// Whether a signal cut the replay short.
    pub interrupted: bool,
}

/// Why a replay could not run or produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No packet could be read from any input.
    #[error("no packets could be read from {files} input file(s)")]
    NothingRead {
        /// How many inputs were tried.
        files: usize,
    },
    /// The engine's threads or sinks could not start.
    #[error(transparent)]
    Engine(#[from] engine::Error),
}

/// Replays `config.files` and publishes every interval; returns when the input is exhausted
/// (or a signal arrives), after the last interval has reached every sink. With a listen
/// address it then keeps serving the final metrics until SIGINT or SIGTERM.
///
/// The configuration is taken as checked ([`crate::cli::Cli::validate`] runs before any
/// driver).
///
/// # Errors
///
/// When the sinks cannot be set up, or when no packet at all could be read.
pub fn run(config: ReplayConfig) -> Result<ReplaySummary, Error> {
    let sinks = SinkConfig {
        durability: Durability::AtEnd,
        ..config.sinks.clone()
    };
    let mut engine = Engine::serve(&sinks)?;
    // One producer: `open_sinks` returns exactly one aggregator.
    let aggregator = engine
        .open_sinks(&sinks, config.monitor.clone(), 1)?
        .swap_remove(0);
    let total_bytes = config
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = Progress::new(Some(total_bytes), config.sinks.quiet);
    let context = engine.context(config.decode, &progress);
    let started = Instant::now();
    let files = config.files.iter().map(|path| FileSource::open(path));
    let turns: Turns = match config.speed {
        Some(speed) => read_in_turn(
            files.map(|source| source.and_then(|source| Paced::new(source, speed))),
            aggregator,
            context,
            true,
        ),
        None => read_in_turn(files, aggregator, context, false),
    };
    let elapsed = started.elapsed();
    let interrupted = engine.stop_requested();
    progress.finish();
    let delivered = engine.delivered();
    // After the sink has published the last report: `/healthz` says "finished, serving the
    // final values", which must not be answered while `/metrics` still shows older ones.
    engine.mark_finished();
    let summary = ReplaySummary {
        packets: turns.packets,
        bytes: turns.bytes,
        elapsed,
        failed_files: turns.failed,
        intervals: delivered.intervals,
        snapshot_errors: delivered.snapshot_errors,
        export_errors: delivered.export_errors,
        interrupted,
    };
    if summary.packets == 0 {
        engine.shutdown();
        return Err(Error::NothingRead {
            files: config.files.len(),
        });
    }
    if config.sinks.listen.is_some() && !summary.interrupted {
        tracing::info!("Replay finished; serving the final metrics until interrupted.");
        engine.wait_for_signal();
    }
    engine.shutdown();
    Ok(summary)
}

/// Runs the replay and prints its summary line. [`Status::Done`] when every file was read,
/// [`Status::Partial`] when some could not be (each was reported), [`Status::Failed`] when no
/// packet could be read or the replay could not start.
pub fn main(config: ReplayConfig) -> Status {
    let summary = match run(config) {
        Ok(summary) => summary,
        Err(error) => return fail(&anyhow::Error::from(error)),
    };
    let seconds = summary.elapsed.as_secs_f64();
    let mut line = format!(
        "hhmon: {} packets, {} bytes in {seconds:.3} s ({:.0} packets/s); {} intervals",
        summary.packets,
        summary.bytes,
        summary.packets as f64 / seconds.max(1e-9),
        summary.intervals,
    );
    if summary.failed_files > 0 {
        line += &format!("; {} file(s) failed", summary.failed_files);
    }
    if summary.snapshot_errors > 0 {
        line += &format!("; {} snapshot write error(s)", summary.snapshot_errors);
    }
    if summary.export_errors > 0 {
        line += &format!("; {} export write error(s)", summary.export_errors);
    }
    if summary.interrupted {
        line += "; interrupted";
    }
    eprintln!("{line}");
    if summary.failed_files > 0 {
        Status::Partial
    } else {
        Status::Done
    }
}
