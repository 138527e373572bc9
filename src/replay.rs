//! `hhmon replay`: capture files through decode and the interval aggregator to the sinks.
//!
//! The packet loop runs on the calling thread and touches only the source, the decoder and
//! the aggregator. Closed reports go over a channel to a sink thread (snapshots, the stdout
//! table, the metrics text); a small tokio runtime on a third thread serves HTTP and turns
//! SIGINT/SIGTERM into a stop request. A slow disk or a flood of scrapes never blocks the loop.

use crate::capture::{self, FileSource, Paced, PacketSource};
use crate::decode::{decode_with, DecodeOptions};
use crate::export::http::{self, MetricsState};
use crate::export::snapshot::{self, SnapshotWriter};
use crate::export::{prometheus, table};
use crate::monitor::{IntervalAggregator, MonitorConfig};
use crate::report::IntervalReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// Where reports go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkConfig {
    /// Write one JSON snapshot per closed interval here.
    pub snapshot_dir: Option<PathBuf>,
    /// Keep only this many snapshots.
    pub keep: Option<usize>,
    /// Serve `/metrics` and `/healthz` on this address.
    pub listen: Option<SocketAddr>,
    /// Do not print the per-interval table.
    pub quiet: bool,
    /// Top entries that carry address labels in the metrics.
    pub prom_top: usize,
}

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
    /// The metrics address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The snapshot directory is unusable.
    #[error(transparent)]
    Snapshot(#[from] snapshot::Error),
    /// A replay speed that is not a positive number.
    #[error(transparent)]
    Capture(#[from] capture::Error),
    /// The runtime for HTTP and signals could not start.
    #[error("cannot start the service thread: {0}")]
    Runtime(std::io::Error),
}

/// Replays `config.files` and publishes every interval; returns when the input is exhausted
/// (or a signal arrives), after the last interval has reached every sink. With a listen
/// address it then keeps serving the final metrics until SIGINT or SIGTERM.
///
/// # Errors
/// When the sinks cannot be set up, or when no packet at all could be read.
pub fn run(config: ReplayConfig) -> Result<ReplaySummary, Error> {
    if let Some(speed) = config.speed {
        // Validate before any thread starts; `Paced::new` rejects the same values.
        if !(speed.is_finite() && speed > 0.0) {
            return Err(capture::Error::InvalidSpeed { speed }.into());
        }
    }
    let metrics = MetricsState::new();
    let service = Service::start(config.sinks.listen, metrics.clone())?;
    let (reports, sink) = Sink::start(&config.sinks, metrics.clone())?;

    let mut aggregator = IntervalAggregator::new(config.monitor.clone());
    let progress = Progress::new(&config.files, config.sinks.quiet);
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
        let outcome = match config.speed {
            Some(speed) => pump(
                Paced::new(source, speed)?,
                config.decode,
                &mut aggregator,
                &reports,
                &service.stop,
                &progress,
            ),
            None => pump(
                source,
                config.decode,
                &mut aggregator,
                &reports,
                &service.stop,
                &progress,
            ),
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
    drop(reports);
    let sunk = sink.join().unwrap_or_default();
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
/// packet; closed intervals (one per interval) go to the sink thread.
fn pump<S: PacketSource>(
    mut source: S,
    options: DecodeOptions,
    aggregator: &mut IntervalAggregator,
    reports: &mpsc::Sender<IntervalReport>,
    stop: &AtomicBool,
    progress: &Progress,
) -> Pumped {
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
                let decoded = decode_with(options, link_type, packet.data);
                if let Some(report) =
                    aggregator.observe(packet.timestamp_nanos, packet.wire_len, decoded)
                {
                    let _ = reports.send(report);
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

/// What the sink thread did.
#[derive(Default)]
struct Sunk {
    intervals: u64,
    snapshot_errors: u64,
}

/// The sink thread: snapshots, the table, the metrics text, in that order for every report.
struct Sink;

impl Sink {
    fn start(
        config: &SinkConfig,
        metrics: MetricsState,
    ) -> Result<(mpsc::Sender<IntervalReport>, thread::JoinHandle<Sunk>), Error> {
        let mut writer = match &config.snapshot_dir {
            Some(dir) => Some(SnapshotWriter::new(dir, config.keep)?),
            None => None,
        };
        let (sender, receiver) = mpsc::channel::<IntervalReport>();
        let quiet = config.quiet;
        let prom_top = config.prom_top;
        let handle = thread::Builder::new()
            .name("hhmon-sinks".into())
            .spawn(move || {
                let mut sunk = Sunk::default();
                let mut stdout_open = !quiet;
                for report in receiver {
                    sunk.intervals += 1;
                    if let Some(writer) = writer.as_mut() {
                        if let Err(error) = writer.write(&report) {
                            sunk.snapshot_errors += 1;
                            tracing::error!(error = %error, "Cannot write snapshot; capture goes on.");
                        }
                    }
                    if stdout_open {
                        let text = table::render(&report, report.top_flows.len().max(report.top_sources.len()));
                        let mut out = std::io::stdout().lock();
                        // A closed pipe (`hhmon replay x | head`) just ends the table output.
                        stdout_open = writeln!(out, "{text}").and_then(|_| out.flush()).is_ok();
                    }
                    metrics.publish(prometheus::render(&report, prom_top));
                }
                sunk
            })
            .map_err(Error::Runtime)?;
        Ok((sender, handle))
    }
}

/// The service thread: a current-thread tokio runtime for HTTP and signals.
struct Service {
    stop: Arc<AtomicBool>,
    signalled: mpsc::Receiver<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Service {
    fn start(listen: Option<SocketAddr>, metrics: MetricsState) -> Result<Self, Error> {
        let listener = match listen {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .map_err(|source| Error::Listen { addr, source })?;
                listener
                    .set_nonblocking(true)
                    .map_err(|source| Error::Listen { addr, source })?;
                tracing::info!(address = %listener.local_addr().unwrap_or(addr), "Serving metrics.");
                Some(listener)
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (signal_tx, signalled) = mpsc::channel();
        let (shutdown, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_flag = stop.clone();
        let handle = thread::Builder::new()
            .name("hhmon-service".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // The server (if any) and the sender that stops it.
                    let server = match listener.map(tokio::net::TcpListener::from_std) {
                        Some(Ok(listener)) => {
                            let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
                            let serving = tokio::spawn(http::serve(listener, metrics, async {
                                let _ = stopped.await;
                            }));
                            Some((serving, stop_server))
                        }
                        Some(Err(error)) => {
                            tracing::error!(error = %error, "Cannot serve metrics.");
                            None
                        }
                        None => None,
                    };
                    let signalled = tokio::select! {
                        _ = termination() => true,
                        _ = &mut shutdown_rx => false,
                    };
                    if signalled {
                        tracing::info!("Signal received; closing the current interval.");
                        stop_flag.store(true, Ordering::Relaxed);
                        let _ = signal_tx.send(());
                        let _ = shutdown_rx.await;
                    }
                    if let Some((serving, stop_server)) = server {
                        let _ = stop_server.send(());
                        let _ = serving.await;
                    }
                });
            })
            .map_err(Error::Runtime)?;
        Ok(Self {
            stop,
            signalled,
            shutdown: Some(shutdown),
            handle: Some(handle),
        })
    }

    fn wait_for_signal(&self) {
        let _ = self.signalled.recv();
    }

    fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Resolves on SIGINT or SIGTERM (or never, where they cannot be watched).
async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("Cannot watch SIGINT/SIGTERM; stop with SIGKILL.");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// The progress bar on stderr: only on a terminal, only when not quiet.
struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    fn new(files: &[PathBuf], quiet: bool) -> Self {
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        };
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}") {
            bar.set_style(style);
        }
        Self {
            bar,
            started: Instant::now(),
        }
    }

    fn position(&self) -> u64 {
        self.bar.position()
    }

    fn update(&self, position: u64, packets: u64) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(position);
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar
            .set_message(format!("{:.0} packets/s", packets as f64 / seconds));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
