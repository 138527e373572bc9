//! `hhmon collect`: flow telemetry (sFlow v5, NetFlow v5/v9, IPFIX) through the engine to the
//! sinks, received on UDP sockets around the clock, or read from capture files of export
//! datagrams. Knows nothing of the decoders, the views or how reports are rendered.

use super::{fail, Status};
use crate::capture::{wall_clock_nanos, FileSource};
use crate::decode::DecodeOptions;
use crate::engine::collect::{collect_files, collect_live, Collector, TelemetryTally};
use crate::engine::{self, Engine, Progress, SinkConfig};
use crate::monitor::MonitorConfig;
use crate::sinks::snapshot::Durability;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The default sFlow port (sflow.org).
pub const SFLOW_PORT: u16 = 6343;
/// The default NetFlow port (Cisco's custom) and IPFIX port (IANA, RFC 7011).
pub const NETFLOW_PORTS: [u16; 2] = [2055, 4739];

/// Everything a collector needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectConfig {
    /// Capture files of export datagrams, read instead of listening when there are any.
    pub files: Vec<PathBuf>,
    /// Where sFlow arrives.
    pub sflow_listen: Vec<SocketAddr>,
    /// Where NetFlow and IPFIX arrive.
    pub netflow_listen: Vec<SocketAddr>,
    /// How the packet headers in sFlow samples are decoded.
    pub decode: DecodeOptions,
    /// What to count.
    pub monitor: MonitorConfig,
    /// Where reports go.
    pub sinks: SinkConfig,
}

/// What a run of the collector did.
#[derive(Debug, Default)]
pub struct CollectSummary {
    /// Frames read from capture files (0 when listening).
    pub frames: u64,
    /// What the decoders saw.
    pub tally: TelemetryTally,
    /// Files that could not be read, in whole or part.
    pub failed_files: usize,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Intervals reported.
    pub intervals: u64,
    /// Snapshots that could not be written.
    pub snapshot_errors: u64,
    /// Export writes that failed.
    pub export_errors: u64,
}

/// Why the collector could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listening socket could not be bound.
    #[error("cannot listen on UDP {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Receiving failed for good.
    #[error("cannot receive datagrams: {0}")]
    Receive(std::io::Error),
    /// No datagram could be read from any file.
    #[error("no export datagrams could be read from {files} input file(s)")]
    NothingRead {
        /// How many inputs were tried.
        files: usize,
    },
    /// The engine's threads or sinks could not start.
    #[error(transparent)]
    Engine(#[from] engine::Error),
}

/// Collects until the files end, or until SIGINT or SIGTERM when listening, and publishes
/// every interval.
///
/// # Errors
///
/// When a socket cannot be bound, the sinks cannot be set up, receiving fails, or no datagram
/// could be read from the files.
pub fn run(config: CollectConfig) -> Result<CollectSummary, Error> {
    let live = config.files.is_empty();
    let sockets = if live {
        let addresses = config.sflow_listen.iter().chain(&config.netflow_listen);
        addresses
            .map(|&address| bind(address).map_err(|source| Error::Bind { address, source }))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let sinks = SinkConfig {
        durability: if live {
            Durability::EachSnapshot
        } else {
            Durability::AtEnd
        },
        ..config.sinks.clone()
    };
    let mut engine = Engine::serve(&sinks)?;
    let aggregator = engine
        .open_sinks(&sinks, config.monitor.clone(), 1)?
        .swap_remove(0);
    // No progress bar: a collector runs for days, and its files are read in seconds.
    let progress = Progress::new(None, true);
    let context = engine.context(config.decode, &progress);
    let mut collector = Collector::new(config.decode);
    let started = Instant::now();
    let mut summary = CollectSummary::default();
    if live {
        for socket in &sockets {
            if let Ok(address) = socket.local_addr() {
                tracing::info!(%address, "Listening for flow telemetry.");
            }
        }
        let received = collect_live(
            &sockets,
            &mut collector,
            aggregator,
            context,
            wall_clock_nanos,
        );
        if let Err(error) = received {
            engine.shutdown();
            return Err(Error::Receive(error));
        }
    } else {
        let files = config.files.iter().map(|path| FileSource::open(path));
        (summary.frames, summary.failed_files) =
            collect_files(files, &mut collector, aggregator, context);
    }
    summary.elapsed = started.elapsed();
    summary.tally = collector.tally();
    progress.finish();
    let delivered = engine.delivered();
    engine.mark_finished();
    summary.intervals = delivered.intervals;
    summary.snapshot_errors = delivered.snapshot_errors;
    summary.export_errors = delivered.export_errors;
    if !live && summary.tally.datagrams() == 0 {
        engine.shutdown();
        return Err(Error::NothingRead {
            files: config.files.len(),
        });
    }
    if !live && config.sinks.listen.is_some() && !engine.stop_requested() {
        tracing::info!("Files read; serving the final metrics until interrupted.");
        engine.wait_for_signal();
    }
    engine.shutdown();
    Ok(summary)
}

/// The receive buffer asked for each socket: exporters send their datagrams in bursts (softflowd
/// expiring a capture's flows sends thousands at once), which the default 208 KiB drops.
pub const RECEIVE_BUFFER_BYTES: usize = 32 << 20;

/// A UDP socket bound to `address` with a receive buffer of [`RECEIVE_BUFFER_BYTES`]: forced
/// past `net.core.rmem_max` when running as root, else as large as that limit allows.
fn bind(address: SocketAddr) -> std::io::Result<UdpSocket> {
    use nix::sys::socket::{setsockopt, sockopt};
    let socket = UdpSocket::bind(address)?;
    if setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_BUFFER_BYTES).is_err() {
        // Capped by the kernel's limit; a smaller buffer still works.
        let _ = setsockopt(&socket, sockopt::RcvBuf, &RECEIVE_BUFFER_BYTES);
    }
    Ok(socket)
}

/// Runs the collector and prints its summary line.
pub fn main(config: CollectConfig) -> Status {
    let summary = match run(config) {
        Ok(summary) => summary,
        Err(error) => return fail(&anyhow::Error::from(error)),
    };
    let tally = summary.tally;
    let mut line = format!(
        "hhmon: {} datagrams ({} sFlow, {} NetFlow/IPFIX), {} records in {:.3} s; {} intervals; lost {} datagrams, {} records; {} template misses; {} malformed; {} not flow telemetry",
        tally.datagrams(),
        tally.sflow_datagrams,
        tally.netflow_datagrams,
        tally.exporters.records,
        summary.elapsed.as_secs_f64(),
        summary.intervals,
        tally.exporters.lost_datagrams,
        tally.exporters.lost_records,
        tally.exporters.template_misses,
        tally.malformed(),
        tally.not_telemetry,
    );
    if let Some(drops) = tally.socket_drops {
        line += &format!("; {drops} dropped by the sockets");
    }
    for (count, what) in [
        (summary.snapshot_errors, "snapshot"),
        (summary.export_errors, "export"),
    ] {
        if count > 0 {
            line += &format!("; {count} {what} write error(s)");
        }
    }
    if summary.failed_files > 0 {
        line += &format!("; {} file(s) failed", summary.failed_files);
    }
    eprintln!("{line}");
    if summary.failed_files > 0 {
        Status::Partial
    } else {
        Status::Done
    }
}
