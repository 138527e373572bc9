//! What every mode runs beside its packet loop: the sink thread (snapshots, the stdout table,
//! the metrics text), the service thread (HTTP and SIGINT/SIGTERM) and the progress display.
//! `replay` and `capture` each keep only their loop.
//!
//! The packet loop runs on the calling thread and touches only the source, the decoder and
//! the aggregator. Closed reports go over a channel to the sink thread (with worker threads,
//! through their combiner, which completes them and holds a sender of its own); a small tokio
//! runtime on a third thread serves HTTP and turns SIGINT/SIGTERM into a stop request. A slow
//! disk or a flood of scrapes never blocks the loop. Knows nothing of packets or sketches.

use crate::decode::DecodeOptions;
use crate::export::http::{self, MetricsState};
use crate::export::snapshot::{self, Retention, SnapshotWriter};
use crate::export::{prometheus, table};
use crate::report::{CaptureStats, IntervalReport};
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
    /// Remove snapshots of intervals older than this (packet time) behind the newest.
    pub keep_age: Option<Duration>,
    /// Serve `/metrics` and `/healthz` on this address.
    pub listen: Option<SocketAddr>,
    /// Do not print the per-interval table.
    pub quiet: bool,
    /// Top entries that carry address labels in the metrics.
    pub prom_top: usize,
    /// `/healthz` fails after this long without progress; `None`: [`http::DEFAULT_STALL_TIMEOUT`].
    pub stall_timeout: Option<Duration>,
}

impl SinkConfig {
    /// The state the endpoint serves, with this configuration's stall timeout.
    pub(crate) fn metrics_state(&self) -> MetricsState {
        MetricsState::with_stall_timeout(self.stall_timeout.unwrap_or(http::DEFAULT_STALL_TIMEOUT))
    }
}

/// Why the sinks or the service thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// The runtime for HTTP and signals could not start.
    #[error("cannot start the service thread: {0}")]
    Runtime(std::io::Error),
}

/// What a packet loop consults besides its source and aggregator: how to decode, when to stop,
/// and where to show that it is alive.
pub(crate) struct LoopContext<'a> {
    /// Outermost or innermost IP flow.
    pub(crate) decode: DecodeOptions,
    /// Set by the service thread on SIGINT/SIGTERM.
    pub(crate) stop: &'a AtomicBool,
    /// The progress display.
    pub(crate) progress: &'a Progress,
    /// The health clock behind `/healthz`.
    pub(crate) health: &'a MetricsState,
}

/// What the sink thread did.
#[derive(Default)]
pub(crate) struct Sunk {
    /// Reports received.
    pub(crate) intervals: u64,
    /// Snapshots that could not be written.
    pub(crate) snapshot_errors: u64,
}

/// The sink thread: snapshots, the table, the metrics text, in that order for every report.
pub(crate) struct Sink;

impl Sink {
    /// Opens the snapshot directory and starts the thread; it ends once every sender is dropped
    /// and the reports sent before have reached every sink.
    pub(crate) fn start(
        config: &SinkConfig,
        metrics: MetricsState,
    ) -> Result<(mpsc::Sender<IntervalReport>, thread::JoinHandle<Sunk>), Error> {
        let mut writer = match &config.snapshot_dir {
            Some(dir) => Some(SnapshotWriter::new(
                dir,
                Retention {
                    count: config.keep,
                    age: config.keep_age,
                },
            )?),
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
                    // Once per interval, here rather than in the capture thread, which must
                    // never wait on a log pipe.
                    if let Some(capture) = report.capture.as_ref().filter(|c| c.dropped_in_interval()) {
                        warn_of_drops(&report, capture);
                    }
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
                    let process = prometheus::ProcessCounters { snapshot_write_errors: sunk.snapshot_errors };
                    metrics.publish(prometheus::render(&report, &process, prom_top));
                }
                sunk
            })
            .map_err(Error::Runtime)?;
        Ok((sender, handle))
    }
}

fn warn_of_drops(report: &IntervalReport, capture: &CaptureStats) {
    tracing::warn!(
        interval_start = %report.interval.start,
        dropped_kernel = capture.interval.dropped_kernel,
        dropped_interface = capture.interval.dropped_interface,
        received = capture.interval.received,
        "Packets were dropped before hhmon could count them; this interval's counts are short."
    );
}

/// The service thread: a current-thread tokio runtime for HTTP and signals.
pub(crate) struct Service {
    /// Set once SIGINT or SIGTERM arrives; packet loops poll it.
    pub(crate) stop: Arc<AtomicBool>,
    signalled: mpsc::Receiver<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Service {
    /// Binds `listen` (if any) on the calling thread, so a privileged port is bound before any
    /// privileges are dropped, then starts serving `metrics` and watching for signals.
    pub(crate) fn start(listen: Option<SocketAddr>, metrics: MetricsState) -> Result<Self, Error> {
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

    /// Blocks until SIGINT or SIGTERM.
    pub(crate) fn wait_for_signal(&self) {
        let _ = self.signalled.recv();
    }

    /// Stops the HTTP server, letting requests in flight finish, and ends the thread.
    pub(crate) fn shutdown(mut self) {
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

/// The progress display on stderr: only on a terminal, only when not quiet. A bar over the
/// input's bytes when their total is known (files), else a spinner (a live interface).
pub(crate) struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A bar towards `total_bytes`, or a spinner when there is no total.
    pub(crate) fn new(total_bytes: Option<u64>, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr())
        };
        let template = match total_bytes {
            Some(_) => "{bar:40} {bytes}/{total_bytes} {msg}",
            None => "{spinner} {human_pos} packets {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Self {
            bar,
            started: Instant::now(),
        }
    }

    /// Where the bar stands (bytes, or packets for a spinner).
    pub(crate) fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Moves the bar to `position` and shows the average packet rate.
    pub(crate) fn update(&self, position: u64, packets: u64) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(position);
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar
            .set_message(format!("{:.0} packets/s", packets as f64 / seconds));
    }

    /// Adds `packets` to a spinner's count, which several reading threads may share, and
    /// shows the average packet rate.
    pub(crate) fn add(&self, packets: u64) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.inc(packets);
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_message(format!(
            "{:.0} packets/s",
            self.bar.position() as f64 / seconds
        ));
    }

    /// Removes the display.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
