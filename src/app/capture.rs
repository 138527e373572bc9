//! `hhmon capture`: a live interface through the engine to the sinks, around the clock.
//!
//! The set-up runs in the order least privilege needs: open the capture, bind the metrics
//! listener, prepare the snapshot directory, then (with `--user`) give up root before reading a
//! packet. The engine's loop closes intervals on packet time and, whenever the interface is
//! idle for [`WAKE_INTERVAL`](crate::capture::WAKE_INTERVAL), on the wall clock; each closed
//! interval carries libpcap's statistics, read once per interval.
//!
//! With `--readers N` the interface's frames are shared by flow among N captures
//! ([`LiveSource::open_readers`], PACKET_FANOUT), each read by a thread of its own with an
//! aggregator of its own; they count on shared owner threads, whose combiner sums the readers'
//! totals and statistics into one report per interval. Knows nothing of the packet loop, the
//! views or how reports are rendered.

use super::{fail, Status};
use crate::capture::{self, wall_clock_nanos, LiveConfig, LiveSource, Stats};
use crate::decode::DecodeOptions;
use crate::engine::{self, read_in_parallel, Engine, Progress, SinkConfig};
use crate::monitor::MonitorConfig;
use crate::privilege::{self, Account};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything a live capture needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureConfig {
    /// The interface and how to open it.
    pub capture: LiveConfig,
    /// Captures sharing the interface's frames by flow, each read by a thread of its own (at
    /// most [`capture::MAX_READERS`]); 1 reads with one.
    pub readers: usize,
    /// Become this user once the capture is open (hhmon must start as root).
    pub user: Option<String>,
    /// How frames are decoded (outermost or innermost IP flow).
    pub decode: DecodeOptions,
    /// What to count.
    pub monitor: MonitorConfig,
    /// Where reports go.
    pub sinks: SinkConfig,
}

/// What a capture did, for the closing summary line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureSummary {
    /// Frames read.
    pub packets: u64,
    /// Wire bytes of those frames.
    pub bytes: u64,
    /// How long the capture ran.
    pub elapsed: Duration,
    /// Intervals reported.
    pub intervals: u64,
    /// Snapshots that could not be written.
    pub snapshot_errors: u64,
    /// Export writes that failed (intervals not staged, periods not published).
    pub export_errors: u64,
    /// libpcap's statistics at the end, summed over the readers.
    pub stats: Stats,
}

/// Why a capture could not start, or stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The capture could not be opened, or failed while running (the interface went away).
    #[error(transparent)]
    Capture(#[from] capture::Error),
    /// The engine's threads or sinks could not start.
    #[error(transparent)]
    Engine(#[from] engine::Error),
    /// `--user` could not be honoured.
    #[error(transparent)]
    Privilege(#[from] privilege::Error),
    /// The reader threads could not start.
    #[error("cannot start the reader threads: {0}")]
    Threads(std::io::Error),
    /// The snapshot directory cannot be created for, or written by, the user hhmon runs as.
    #[error("snapshot directory {path} is not usable by user {user}: {source}")]
    SnapshotDirectory {
        /// The directory.
        path: PathBuf,
        /// The user hhmon runs as.
        user: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Captures on `config.capture.interface` and publishes every interval until SIGINT or SIGTERM
/// (then closes and publishes the current interval and returns its summary) or until the
/// capture fails (then does the same and returns the error).
///
/// # Errors
///
/// When the capture, the sinks or the privilege drop cannot be set up, or when the capture
/// fails while running ([`capture::Error::InterfaceGone`] when the interface goes away).
pub fn run(config: CaptureConfig) -> Result<CaptureSummary, Error> {
    let account = config.user.as_deref().map(Account::lookup).transpose()?;
    let readers = LiveSource::open_readers(&config.capture, config.readers)?;
    if let Some(error) = &readers.refused {
        tracing::warn!(
            interface = config.capture.interface,
            readers = config.readers,
            error = %error,
            "The kernel cannot share the interface among readers (PACKET_FANOUT); reading with one."
        );
    }
    let mut sources = readers.sources;
    let mut engine = Engine::serve(&config.sinks)?;
    if let Some(account) = &account {
        if let Some(dir) = &config.sinks.snapshot_dir {
            create_owned_by(dir, account)?;
        }
        account.become_user()?;
        tracing::info!(user = account.name(), uid = account.uid(), "Dropped root.");
    }
    let aggregators = engine.open_sinks(&config.sinks, config.monitor.clone(), sources.len())?;
    if let (Some(account), Some(dir)) = (&account, &config.sinks.snapshot_dir) {
        check_writable(dir, account.name())?;
    }

    tracing::info!(
        interface = config.capture.interface,
        filter = config.capture.filter.as_deref().unwrap_or(""),
        snaplen = config.capture.snaplen,
        promiscuous = config.capture.promiscuous,
        readers = sources.len(),
        "Capturing."
    );
    let progress = Progress::new(None, config.sinks.quiet);
    let started = Instant::now();
    let context = engine.context(config.decode, &progress);
    let reads = read_in_parallel(&mut sources, aggregators, context, wall_clock_nanos);
    progress.finish();
    let delivered = engine.delivered();
    engine.shutdown();
    let mut summary = CaptureSummary {
        elapsed: started.elapsed(),
        intervals: delivered.intervals,
        snapshot_errors: delivered.snapshot_errors,
        export_errors: delivered.export_errors,
        ..CaptureSummary::default()
    };
    let mut failure = None;
    for (index, read) in reads.map_err(Error::Threads)?.into_iter().enumerate() {
        summary.packets += read.pumped.packets;
        summary.bytes += read.pumped.bytes;
        summary.stats.received += read.stats.received;
        summary.stats.dropped_kernel += read.stats.dropped_kernel;
        summary.stats.dropped_interface += read.stats.dropped_interface;
        if sources.len() > 1 {
            tracing::info!(
                reader = index,
                packets = read.pumped.packets,
                received = read.stats.received,
                dropped_kernel = read.stats.dropped_kernel,
                skipped_before_start = sources[index].skipped(),
                "Reader stopped."
            );
        }
        failure = failure.or(read.pumped.error);
    }
    match failure {
        None => Ok(summary),
        Some(error) => {
            tracing::error!(
                error = %error,
                packets = summary.packets,
                intervals = summary.intervals,
                "Capture failed; the current interval was closed and published."
            );
            Err(error.into())
        }
    }
}

/// A snapshot directory that does not exist yet is created while still root and given to the
/// user, so the usual `--snapshot-dir /var/lib/hhmon --user hhmon` works. An existing one is
/// left alone: the operator chose its owner.
fn create_owned_by(dir: &Path, account: &Account) -> Result<(), Error> {
    if dir.exists() {
        return Ok(());
    }
    let unusable = |source| Error::SnapshotDirectory {
        path: dir.to_path_buf(),
        user: account.name().to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(unusable)?;
    std::os::unix::fs::chown(dir, Some(account.uid()), Some(account.gid())).map_err(unusable)
}

/// Fails now rather than at the first interval's end when the user cannot write the snapshots.
fn check_writable(dir: &Path, user: &str) -> Result<(), Error> {
    let probe = dir.join(format!(".hhmon-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|source| Error::SnapshotDirectory {
            path: dir.to_path_buf(),
            user: user.to_owned(),
            source,
        })
}

/// `; N what write error(s)`, or nothing when there were none.
fn errors(count: u64, what: &str) -> String {
    if count > 0 {
        format!("; {count} {what} write error(s)")
    } else {
        String::new()
    }
}

/// Runs the capture and prints its summary line: [`Status::Done`] after a stop by signal,
/// [`Status::Failed`] when it could not start or the capture failed.
pub fn main(config: CaptureConfig) -> Status {
    let summary = match run(config) {
        Ok(summary) => summary,
        Err(error) => return fail(&anyhow::Error::from(error)),
    };
    let stats = summary.stats;
    eprintln!(
        "hhmon: {} packets, {} bytes in {:.3} s; {} intervals; libpcap received {}, dropped {} (kernel) + {} (interface){}{}",
        summary.packets,
        summary.bytes,
        summary.elapsed.as_secs_f64(),
        summary.intervals,
        stats.received,
        stats.dropped_kernel,
        stats.dropped_interface,
        errors(summary.snapshot_errors, "snapshot"),
        errors(summary.export_errors, "export"),
    );
    Status::Done
}
