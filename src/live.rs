//! `hhmon capture`: a live interface through decode and the interval aggregator to the sinks,
//! around the clock.
//!
//! Only the packet loop and its set-up live here; the sink and service threads beside it are
//! [`crate::pipeline`]'s. The set-up runs in the order least privilege needs: open the capture,
//! bind the metrics listener, prepare the snapshot directory, then (with `--user`) give up root
//! before reading a packet. The loop closes intervals on packet time and, whenever the
//! interface is idle for [`WAKE_INTERVAL`](crate::capture::WAKE_INTERVAL), on the wall clock;
//! each closed interval carries libpcap's statistics, read once per interval.
//!
//! With `--readers N` the interface's frames are shared by flow among N captures
//! ([`LiveSource::open_readers`], PACKET_FANOUT), each read by a thread of its own running the
//! same loop with an aggregator of its own; they count on shared owner threads
//! ([`IntervalAggregator::start_producers`]), whose combiner sums the readers' totals and
//! statistics into one report per interval.

use crate::capture::{self, wall_clock_nanos, LiveConfig, LiveSource, Next, PacketSource, Stats};
use crate::decode::{decode_with, DecodeOptions};
use crate::monitor::{ConfigError, IntervalAggregator, MonitorConfig};
use crate::pipeline::{self, LoopContext, Progress, Service, Sink, SinkConfig};
use crate::privilege::{self, Account};
use crate::report::{CaptureCounts, CaptureStats, IntervalReport, ReaderCapture};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
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
    /// libpcap's statistics at the end, summed over the readers.
    pub stats: Stats,
}

/// Why a capture could not start, or stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The capture could not be opened, or failed while running (the interface went away).
    #[error(transparent)]
    Capture(#[from] capture::Error),
    /// The sinks or the service thread could not start.
    #[error(transparent)]
    Pipeline(#[from] pipeline::Error),
    /// `--user` could not be honoured.
    #[error(transparent)]
    Privilege(#[from] privilege::Error),
    /// The monitor configuration is inconsistent (e.g. a window that is not a multiple of the
    /// interval).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The reader or worker threads could not start.
    #[error("cannot start the reader or worker threads: {0}")]
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
    config.monitor.validate()?;
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
    let metrics = config.sinks.metrics_state();
    let service = Service::start(config.sinks.listen, metrics.clone())?;
    if let Some(account) = &account {
        if let Some(dir) = &config.sinks.snapshot_dir {
            create_owned_by(dir, account)?;
        }
        account.become_user()?;
        tracing::info!(user = account.name(), uid = account.uid(), "Dropped root.");
    }
    let (reports, sink) = Sink::start(&config.sinks, metrics.clone())?;
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
    // With workers or readers, `reports` leads to the combiner, which sends on to the sinks.
    let (aggregators, reports) =
        IntervalAggregator::start_producers(config.monitor.clone(), sources.len(), reports)
            .map_err(Error::Threads)?;
    let context = LoopContext {
        decode: config.decode,
        stop: &service.stop,
        progress: &progress,
        health: &metrics,
    };
    let reads = read_all(&mut sources, aggregators, &reports, &context);
    progress.finish();
    // The combiner, if any, sends the last report and ends once the readers' ends are gone.
    drop(reports);
    let sunk = sink.join().unwrap_or_default();
    service.shutdown();
    let mut summary = CaptureSummary {
        elapsed: started.elapsed(),
        intervals: sunk.intervals,
        snapshot_errors: sunk.snapshot_errors,
        ..CaptureSummary::default()
    };
    let mut failure = None;
    for (index, read) in reads?.into_iter().enumerate() {
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
                skipped_before_start = read.skipped,
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

/// What one reader did.
#[derive(Default)]
struct Read {
    pumped: Pumped,
    /// libpcap's statistics at its end.
    stats: Stats,
    /// Frames skipped before every reader had joined the fanout group.
    skipped: u64,
}

/// Runs one reader thread per source, each with its aggregator, until a stop request or a
/// failing capture (which stops the others too).
///
/// # Errors
///
/// [`Error::Threads`] when a reader thread cannot start (the others are stopped first).
fn read_all(
    sources: &mut [LiveSource],
    aggregators: Vec<IntervalAggregator>,
    reports: &mpsc::Sender<IntervalReport>,
    context: &LoopContext,
) -> Result<Vec<Read>, Error> {
    thread::scope(|scope| {
        let mut readers = Vec::with_capacity(sources.len());
        let shared = sources.len() > 1;
        for (index, (source, aggregator)) in sources.iter_mut().zip(aggregators).enumerate() {
            let reports = reports.clone();
            let reader = shared.then(|| u32::try_from(index).unwrap_or(u32::MAX));
            let started = thread::Builder::new()
                .name(format!("hhmon-reader-{index}"))
                .spawn_scoped(scope, move || {
                    read(source, aggregator, reports, reader, context)
                });
            match started {
                Ok(reader) => readers.push(reader),
                Err(error) => {
                    context.stop.store(true, Ordering::Relaxed);
                    return Err(Error::Threads(error));
                }
            }
        }
        // A reader that panicked lost its counts; the panic message says why.
        Ok(readers
            .into_iter()
            .map(|reader| reader.join().unwrap_or_default())
            .collect())
    })
}

/// One reader (numbered `reader` when it shares the interface): the loop, then the last
/// interval and the statistics at the end. The aggregator and the sender are dropped on return,
/// so a combiner can end.
fn read(
    source: &mut LiveSource,
    mut aggregator: IntervalAggregator,
    reports: mpsc::Sender<IntervalReport>,
    reader: Option<u32>,
    context: &LoopContext,
) -> Read {
    let mut publisher = Publisher {
        reports,
        reader,
        previous: Stats::default(),
    };
    let pumped = pump(
        source,
        &mut aggregator,
        &mut publisher,
        context,
        wall_clock_nanos,
    );
    if pumped.error.is_some() {
        // The other readers stop too: their sockets' share of the frames is still theirs,
        // but this one's would go uncounted.
        context.stop.store(true, Ordering::Relaxed);
    }
    if let Some(report) = aggregator.finish() {
        publisher.send(source, report);
    }
    let stats = source.stats().ok().flatten().unwrap_or(publisher.previous);
    Read {
        pumped,
        stats,
        skipped: source.skipped(),
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

/// Sends closed reports to the sink thread with the capture statistics of their interval.
struct Publisher {
    reports: mpsc::Sender<IntervalReport>,
    /// This reader's number when the interface is shared among several, for the per-reader
    /// statistics.
    reader: Option<u32>,
    /// The statistics attached to the previous report.
    previous: Stats,
}

impl Publisher {
    /// Reads the statistics (one system call per interval) and sends `report`.
    fn send(&mut self, source: &mut impl PacketSource, mut report: IntervalReport) {
        match source.stats() {
            Ok(Some(now)) => {
                let (interval, cumulative) =
                    (counts(now, self.previous), counts(now, Stats::default()));
                let readers = self.reader.map(|reader| ReaderCapture {
                    reader,
                    interval,
                    cumulative,
                });
                report.capture = Some(CaptureStats {
                    interval,
                    cumulative,
                    readers: readers.into_iter().collect(),
                });
                self.previous = now;
            }
            Ok(None) => {}
            // The report still goes out, without statistics; a failing capture ends the loop
            // through its next read anyway.
            Err(error) => tracing::warn!(error = %error, "Cannot read capture statistics."),
        }
        // The sink thread outlives the loop, so the send cannot fail.
        let _ = self.reports.send(report);
    }
}

fn counts(now: Stats, before: Stats) -> CaptureCounts {
    CaptureCounts {
        received: now.received.saturating_sub(before.received),
        dropped_kernel: now.dropped_kernel.saturating_sub(before.dropped_kernel),
        dropped_interface: now
            .dropped_interface
            .saturating_sub(before.dropped_interface),
    }
}

/// What the loop read, and the error that ended it, if any.
#[derive(Default)]
struct Pumped {
    packets: u64,
    bytes: u64,
    error: Option<capture::Error>,
}

/// Frames between two reads of the capture statistics under load, so libpcap's 32-bit counters
/// are extended long before they can wrap (2^32 frames).
const STATS_EVERY: u64 = 1 << 20;

/// The per-packet loop: read, decode, aggregate; on an idle wake-up, close the interval if the
/// clock says so. Nothing here allocates, locks or logs per packet. Returns at a stop request,
/// the end of the source, or a capture error.
fn pump<S: PacketSource>(
    source: &mut S,
    aggregator: &mut IntervalAggregator,
    publisher: &mut Publisher,
    context: &LoopContext,
    mut clock: impl FnMut() -> u64,
) -> Pumped {
    let LoopContext {
        decode,
        stop,
        progress,
        health,
    } = *context;
    let link_type = source.link_type();
    let mut pumped = Pumped::default();
    // Packets added to the progress display, which other readers may share.
    let mut shown = 0;
    // Open the current interval now, so an interface that stays quiet still reports.
    if let Some(report) = aggregator.tick(clock()) {
        publisher.send(source, report);
    }
    while !stop.load(Ordering::Relaxed) {
        let closed = match source.poll_packet() {
            Ok(Next::Packet(packet)) => {
                pumped.packets += 1;
                pumped.bytes += u64::from(packet.wire_len);
                let decoded = decode_with(decode, link_type, packet.data);
                let closed = aggregator.observe(packet.timestamp_nanos, packet.wire_len, decoded);
                if pumped.packets % 8192 == 0 {
                    health.heartbeat();
                    progress.add(pumped.packets - shown);
                    shown = pumped.packets;
                }
                if pumped.packets % STATS_EVERY == 0 {
                    let _ = source.stats();
                }
                closed
            }
            // Caught up with the interface: the clock stands in for packet time.
            Ok(Next::Idle) => {
                health.heartbeat();
                progress.add(pumped.packets - shown);
                shown = pumped.packets;
                aggregator.tick(clock())
            }
            Ok(Next::End) => break,
            Err(error) => {
                pumped.error = Some(error);
                break;
            }
        };
        if let Some(report) = closed {
            publisher.send(source, report);
        }
    }
    pumped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Error as CaptureError, Packet};
    use crate::decode::LinkType;
    use crate::export::http::MetricsState;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicBool;

    const SECOND: u64 = 1_000_000_000;

    /// What the scripted source does at each read.
    enum Step {
        Frame(u64),
        Idle,
        Fail,
    }

    /// A live source in miniature: frames, idle wake-ups, a failure, and statistics that grow
    /// by a fixed step (received, dropped) at every read of them.
    struct Scripted {
        steps: VecDeque<Step>,
        frame: Vec<u8>,
        stats: Stats,
        per_read: (u64, u64),
    }

    impl Scripted {
        fn new(steps: Vec<Step>, per_read: (u64, u64)) -> Self {
            // An Ethernet frame with a minimal IPv4 header (UDP, no ports needed).
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0]);
            frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            Self {
                steps: steps.into(),
                frame,
                stats: Stats::default(),
                per_read,
            }
        }
    }

    impl PacketSource for Scripted {
        fn link_type(&self) -> LinkType {
            LinkType(1)
        }

        fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
            unreachable!("the live loop polls")
        }

        fn poll_packet(&mut self) -> Result<Next<'_>, CaptureError> {
            Ok(match self.steps.pop_front() {
                Some(Step::Frame(timestamp_nanos)) => Next::Packet(Packet {
                    timestamp_nanos,
                    wire_len: 100,
                    data: &self.frame,
                }),
                Some(Step::Idle) => Next::Idle,
                Some(Step::Fail) => {
                    return Err(CaptureError::InterfaceGone {
                        interface: "veth0".into(),
                        reason: "The interface disappeared".into(),
                    })
                }
                None => Next::End,
            })
        }

        fn stats(&mut self) -> Result<Option<Stats>, CaptureError> {
            self.stats.received += self.per_read.0;
            self.stats.dropped_kernel += self.per_read.1;
            Ok(Some(self.stats))
        }
    }

    /// Runs the loop over `source` with the wall clock read from `clock` in turn (the first
    /// value opens the interval; each idle wake-up takes the next), returning the reports.
    fn run(source: &mut impl PacketSource, clock: &[u64]) -> (Pumped, Vec<IntervalReport>) {
        let (reports, received) = mpsc::channel();
        let mut publisher = Publisher {
            reader: None,
            reports,
            previous: Stats::default(),
        };
        let mut aggregator = IntervalAggregator::new(MonitorConfig {
            interval_secs: 10,
            exact: true,
            ..MonitorConfig::default()
        });
        let mut times = clock.iter().copied();
        let pumped = pump(
            source,
            &mut aggregator,
            &mut publisher,
            &LoopContext {
                decode: DecodeOptions::default(),
                stop: &AtomicBool::new(false),
                progress: &Progress::new(None, true),
                health: &MetricsState::new(),
            },
            || {
                times
                    .next()
                    .expect("the test scripted enough clock readings")
            },
        );
        if let Some(report) = aggregator.finish() {
            publisher.send(source, report);
        }
        drop(publisher);
        (pumped, received.iter().collect())
    }

    #[test]
    fn idle_wake_ups_close_intervals_on_the_clock_with_their_statistics() {
        let mut source = Scripted::new(
            vec![
                Step::Frame(101 * SECOND),
                Step::Frame(102 * SECOND),
                Step::Idle, // 105 s: nothing to close
                Step::Idle, // 110.2 s: closes [100, 110) without another packet
                Step::Idle, // 120.1 s: closes the empty [110, 120)
                Step::Frame(121 * SECOND),
            ],
            (7, 1),
        );
        let clock = [
            100 * SECOND,
            105 * SECOND,
            110 * SECOND + SECOND / 5,
            120 * SECOND + SECOND / 10,
        ];
        let (pumped, reports) = run(&mut source, &clock);
        assert!(pumped.error.is_none());
        assert_eq!((pumped.packets, pumped.bytes), (3, 300));
        let starts: Vec<u64> = reports.iter().map(|r| r.interval.start_unix).collect();
        assert_eq!(starts, [100, 110, 120]);
        let packets: Vec<u64> = reports.iter().map(|r| r.totals.packets).collect();
        assert_eq!(packets, [2, 0, 1]);
        // Each report read the statistics once: 7 received and 1 dropped per read.
        for (index, report) in reports.iter().enumerate() {
            let capture = report
                .capture
                .as_ref()
                .expect("live reports carry statistics");
            let reads = index as u64 + 1;
            assert_eq!(capture.interval.received, 7);
            assert_eq!(capture.interval.dropped_kernel, 1);
            assert_eq!(capture.cumulative.received, 7 * reads);
            assert_eq!(capture.cumulative.dropped_kernel, reads);
            assert!(capture.dropped_in_interval());
        }
    }

    #[test]
    fn a_failing_capture_ends_the_loop_and_keeps_the_open_interval() {
        let mut source = Scripted::new(
            vec![
                Step::Frame(101 * SECOND),
                Step::Fail,
                Step::Frame(102 * SECOND),
            ],
            (1, 0),
        );
        let (pumped, reports) = run(&mut source, &[100 * SECOND]);
        assert!(matches!(
            pumped.error,
            Some(CaptureError::InterfaceGone { .. })
        ));
        assert_eq!(pumped.packets, 1);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].totals.packets, 1);
        assert!(!reports[0].capture.as_ref().unwrap().dropped_in_interval());
    }

    #[test]
    fn a_stop_request_ends_the_loop_before_the_next_read() {
        let mut source = Scripted::new(vec![Step::Frame(101 * SECOND)], (0, 0));
        let (reports, _received) = mpsc::channel();
        let mut publisher = Publisher {
            reader: None,
            reports,
            previous: Stats::default(),
        };
        let mut aggregator = IntervalAggregator::new(MonitorConfig::default());
        let pumped = pump(
            &mut source,
            &mut aggregator,
            &mut publisher,
            &LoopContext {
                decode: DecodeOptions::default(),
                stop: &AtomicBool::new(true),
                progress: &Progress::new(None, true),
                health: &MetricsState::new(),
            },
            || 100 * SECOND,
        );
        assert_eq!(pumped.packets, 0);
        assert_eq!(source.steps.len(), 1);
    }

    #[test]
    fn counts_between_two_readings_never_go_negative() {
        let later = Stats {
            received: 10,
            dropped_kernel: 3,
            dropped_interface: 1,
        };
        let earlier = Stats {
            received: 4,
            dropped_kernel: 3,
            dropped_interface: 2,
        };
        let between = counts(later, earlier);
        assert_eq!(
            (
                between.received,
                between.dropped_kernel,
                between.dropped_interface
            ),
            (6, 0, 0)
        );
    }
}
