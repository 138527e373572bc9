//! `hhmon replay`: capture files through decode and the interval aggregator to the sinks.
//!
//! Only the packet loop lives here; the sink and service threads beside it are
//! [`crate::pipeline`]'s. The loop runs on the calling thread and touches only the source, the
//! decoder and the aggregator.

use crate::capture::{self, FileSource, Paced, PacketSource};
use crate::decode::{decode_with, DecodeOptions};
use crate::monitor::{ConfigError, IntervalAggregator, MonitorConfig};
use crate::pipeline::{self, LoopContext, Progress, Service, Sink, SinkConfig};
use crate::report::IntervalReport;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
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

/// What a replay did, for the closing summary line.
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
    /// The sinks or the service thread could not start.
    #[error(transparent)]
    Pipeline(#[from] pipeline::Error),
    /// A replay speed that is not a positive number.
    #[error(transparent)]
    Capture(#[from] capture::Error),
    /// The monitor configuration is inconsistent (e.g. a window that is not a multiple of the
    /// interval).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The worker threads could not start.
    #[error("cannot start the worker threads: {0}")]
    Threads(std::io::Error),
}

/// Replays `config.files` and publishes every interval; returns when the input is exhausted
/// (or a signal arrives), after the last interval has reached every sink. With a listen
/// address it then keeps serving the final metrics until SIGINT or SIGTERM.
///
/// # Errors
/// When the monitor configuration is invalid ([`MonitorConfig::validate`]), when the sinks
/// cannot be set up, or when no packet at all could be read.
pub fn run(config: ReplayConfig) -> Result<ReplaySummary, Error> {
    config.monitor.validate()?;
    if let Some(speed) = config.speed {
        // Validate before any thread starts; `Paced::new` rejects the same values.
        if !(speed.is_finite() && speed > 0.0) {
            return Err(capture::Error::InvalidSpeed { speed }.into());
        }
    }
    let metrics = config.sinks.metrics_state();
    let service = Service::start(config.sinks.listen, metrics.clone())?;
    let (reports, sink) = Sink::start(&config.sinks, metrics.clone())?;
    // With workers, `reports` leads to the combiner, which sends on to the sinks.
    let (mut aggregator, reports) =
        IntervalAggregator::start(config.monitor.clone(), reports).map_err(Error::Threads)?;
    let total_bytes = config
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = Progress::new(Some(total_bytes), config.sinks.quiet);
    let started = Instant::now();
    let mut summary = ReplaySummary::default();
    for path in &config.files {
        if service.stop.load(Ordering::Relaxed) {
            break;
        }
        let source = match FileSource::open(path) {
            Ok(source) => source,
            Err(error) => {
                tracing::error!(path = %path.display(), error = %error, "Cannot read capture file.");
                summary.failed_files += 1;
                continue;
            }
        };
        let context = LoopContext {
            decode: config.decode,
            stop: &service.stop,
            progress: &progress,
            health: &metrics,
        };
        let outcome = match config.speed {
            Some(speed) => pump(
                Paced::new(source, speed)?,
                &mut aggregator,
                &reports,
                &context,
                true,
            ),
            None => pump(source, &mut aggregator, &reports, &context, false),
        };
        summary.packets += outcome.packets;
        summary.bytes += outcome.bytes;
        if let Some(error) = outcome.error {
            tracing::error!(path = %path.display(), packets_read = outcome.packets, error = %error, "Capture file ended with an error; its packets up to it are counted.");
            summary.failed_files += 1;
        }
    }
    if let Some(report) = aggregator.finish() {
        // The sink thread outlives the loop, so the send cannot fail.
        let _ = reports.send(report);
    }
    summary.elapsed = started.elapsed();
    summary.interrupted = service.stop.load(Ordering::Relaxed);
    progress.finish();
    // The combiner, if any, sends the last report and ends once both are gone.
    drop(aggregator);
    drop(reports);
    let sunk = sink.join().unwrap_or_default();
    // After the sink has published the last report: `/healthz` says "finished, serving the
    // final values", which must not be answered while `/metrics` still shows older ones.
    metrics.finish();
    summary.intervals = sunk.intervals;
    summary.snapshot_errors = sunk.snapshot_errors;

    if summary.packets == 0 {
        service.shutdown();
        return Err(Error::NothingRead {
            files: config.files.len(),
        });
    }
    if config.sinks.listen.is_some() && !summary.interrupted {
        tracing::info!("Replay finished; serving the final metrics until interrupted.");
        service.wait_for_signal();
    }
    service.shutdown();
    Ok(summary)
}

/// What reading one source gave.
struct Pumped {
    packets: u64,
    bytes: u64,
    error: Option<capture::Error>,
}

/// The per-packet loop: read, decode, aggregate. Nothing here allocates, locks or logs per
/// packet; closed intervals (one per interval) go to the sink thread. A paced source may wait
/// up to a second per packet, so it beats the health clock on every packet, not every 8192.
fn pump<S: PacketSource>(
    mut source: S,
    aggregator: &mut IntervalAggregator,
    reports: &mpsc::Sender<IntervalReport>,
    context: &LoopContext,
    paced: bool,
) -> Pumped {
    let LoopContext {
        decode,
        stop,
        progress,
        health,
    } = *context;
    let link_type = source.link_type();
    let mut pumped = Pumped {
        packets: 0,
        bytes: 0,
        error: None,
    };
    let base = progress.position();
    loop {
        match source.next_packet() {
            Ok(Some(packet)) => {
                pumped.packets += 1;
                pumped.bytes += u64::from(packet.wire_len);
                let decoded = decode_with(decode, link_type, packet.data);
                if let Some(report) =
                    aggregator.observe(packet.timestamp_nanos, packet.wire_len, decoded)
                {
                    let _ = reports.send(report);
                }
                if paced || pumped.packets % 8192 == 0 {
                    health.heartbeat();
                }
                if pumped.packets % 8192 == 0 {
                    progress.update(base + source.progress().bytes_read, pumped.packets);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                pumped.error = Some(error);
                break;
            }
        }
    }
    progress.update(base + source.progress().bytes_read, pumped.packets);
    pumped
}
