//! The packet engine: what carries frames from any [`PacketSource`](crate::capture::PacketSource)
//! through decode and the interval aggregator, and every closed interval to the sinks, whatever
//! the mode.
//!
//! - `pump`: the one packet loop (read, decode, aggregate), with pacing, capture statistics
//!   and clock ticks as options, and the two ways of running it: sources in turn (a replay)
//!   or one thread per source (a live capture's readers).
//! - `sink`: the sink thread (snapshots, the stdout table, the metrics text and report JSON the
//!   endpoint serves, and a copy of every report for an in-process viewer).
//! - `service`: the service thread (HTTP and SIGINT/SIGTERM), serving [`http`]'s state.
//! - `progress`: the progress display.
//!
//! `Engine` sets these up in the order least privilege needs (listener first, sinks after a
//! possible privilege drop) and takes them down so that the last report reaches every sink.
//! The packet loop runs on the calling thread (or the reader threads) and touches only the
//! source, the decoder and the aggregator; closed reports reach the sink thread over a channel
//! (with worker threads, through their combiner). A slow disk or a flood of scrapes never
//! blocks a loop. Knows nothing of file formats, sketches or how reports are rendered.

pub mod collect;
pub mod http;
mod progress;
mod pump;
mod service;
mod sink;

pub(crate) use progress::Progress;
pub(crate) use pump::{read_in_parallel, read_in_turn, Turns};
pub use sink::{ReportTap, SinkConfig};

use crate::decode::DecodeOptions;
use crate::monitor::{IntervalAggregator, MonitorConfig};
use crate::sinks::snapshot;
use http::EndpointState;
use service::Service;
use sink::Sink;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Why the sink or the service thread could not start.
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
    /// The export tree is unusable.
    #[error(transparent)]
    Export(#[from] crate::sinks::export::Error),
    /// The runtime for HTTP and signals, the sink thread, or the worker threads could not
    /// start.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// What a packet loop consults besides its source and aggregator: how to decode, when to stop,
/// and where to show that it is alive.
#[derive(Clone, Copy)]
pub(crate) struct LoopContext<'a> {
    /// Outermost or innermost IP flow.
    pub(crate) decode: DecodeOptions,
    /// Set by the service thread on SIGINT/SIGTERM.
    pub(crate) stop: &'a AtomicBool,
    /// The progress display.
    pub(crate) progress: &'a Progress,
    /// The health clock behind `/healthz`.
    pub(crate) health: &'a EndpointState,
}

/// The threads around the packet loops: the service thread from [`serve`](Self::serve) on,
/// the sink thread from [`open_sinks`](Self::open_sinks) on.
pub(crate) struct Engine {
    metrics: EndpointState,
    service: Service,
    sink: Option<JoinHandle<Delivered>>,
}

/// What the sink thread did, once it has ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Intervals reported.
    pub intervals: u64,
    /// Snapshots that could not be written (or made durable).
    pub snapshot_errors: u64,
    /// Intervals that could not be staged, or staged periods that could not be published, in
    /// the export tree.
    pub export_errors: u64,
}

impl Engine {
    /// Binds the metrics listener of `sinks` (if any) on the calling thread, so a privileged
    /// port is bound before privileges are dropped, and starts the service thread.
    pub(crate) fn serve(sinks: &SinkConfig) -> Result<Self, Error> {
        let metrics = sinks.endpoint_state();
        let service = Service::start(sinks.listen, metrics.clone())?;
        Ok(Self {
            metrics,
            service,
            sink: None,
        })
    }

    /// Opens the snapshot directory, starts the sink thread, and returns the aggregators of
    /// `producers` packet threads (at least one), whose reports reach it: the sinks' only way
    /// in. Once every aggregator is dropped, [`delivered`](Self::delivered) can wait for the
    /// last report.
    pub(crate) fn open_sinks(
        &mut self,
        sinks: &SinkConfig,
        monitor: MonitorConfig,
        producers: usize,
    ) -> Result<Vec<IntervalAggregator>, Error> {
        let (reports, sink) = Sink::start(sinks, self.metrics.clone())?;
        self.sink = Some(sink);
        IntervalAggregator::start(monitor, producers, reports).map_err(Error::Thread)
    }

    /// The context of the packet loops.
    pub(crate) fn context<'a>(
        &'a self,
        decode: DecodeOptions,
        progress: &'a Progress,
    ) -> LoopContext<'a> {
        LoopContext {
            decode,
            stop: &self.service.stop,
            progress,
            health: &self.metrics,
        }
    }

    /// Whether SIGINT or SIGTERM asked to stop.
    pub(crate) fn stop_requested(&self) -> bool {
        self.service.stop.load(Ordering::Relaxed)
    }

    /// Waits until the sink thread has taken the last report (every aggregator must be gone)
    /// and says what it did.
    pub(crate) fn delivered(&mut self) -> Delivered {
        // A sink thread that panicked lost its counts; the panic message says why.
        self.sink
            .take()
            .and_then(|sink| sink.join().ok())
            .unwrap_or_default()
    }

    /// Marks the final metrics as complete: `/healthz` says "finished, serving the final
    /// values" from now on. Call only once the last report was [`delivered`](Self::delivered).
    pub(crate) fn mark_finished(&self) {
        self.metrics.finish();
    }

    /// Blocks until SIGINT or SIGTERM.
    pub(crate) fn wait_for_signal(&self) {
        self.service.wait_for_signal();
    }

    /// Stops the HTTP server, letting requests in flight finish, and ends the service thread.
    pub(crate) fn shutdown(self) {
        self.service.shutdown();
    }
}
