//! The packet loop, and the two ways the modes run it: sources one after another on the
//! calling thread ([`read_in_turn`], a replay) or one thread per source ([`read_in_parallel`], a
//! live capture's readers).
//!
//! The loop reads, decodes and aggregates; it never allocates, locks or logs per packet. It
//! beats the health clock and moves the progress display every 8192 packets (every packet for
//! a paced source, which may wait up to a second per packet). A source that waits for frames
//! (a live interface) comes back idle at least every wake interval: the loop then beats, and
//! with a clock closes the interval the clock has left even without a packet. Capture
//! statistics are read when an interval closes, and the aggregator puts them in its report.
//! Knows nothing of file formats, sketches or sinks: sources, the decoder and the aggregator
//! are all it touches.

use super::LoopContext;
use crate::capture::{self, Next, PacketSource, Stats};
use crate::decode::decode_with;
use crate::monitor::IntervalAggregator;
use crate::report::{CaptureCounts, CaptureStats, ReaderCapture};
use std::sync::atomic::Ordering;
use std::thread;

/// Packets between two heartbeats and progress updates of a loop running flat out.
const BEAT_EVERY: u64 = 8192;

/// Frames between two reads of the capture statistics under load, so libpcap's 32-bit counters
/// are extended long before they can wrap (2^32 frames).
const STATS_EVERY: u64 = 1 << 20;

/// What a loop read, and the error that ended it, if any.
#[derive(Debug, Default)]
pub(crate) struct Pumped {
    /// Frames read.
    pub(crate) packets: u64,
    /// Wire bytes of those frames.
    pub(crate) bytes: u64,
    /// Why the source stopped early.
    pub(crate) error: Option<capture::Error>,
}

/// The capture statistics of one source for each closed interval: the counts since the
/// previous interval and since the start, and this reader's share when several read one
/// interface.
struct StatsReader {
    /// This reader's number when the interface is shared among several.
    reader: Option<u32>,
    /// The statistics given with the previous interval.
    previous: Stats,
}

impl StatsReader {
    /// A reader of statistics from the start of a capture, of reader number `reader` when
    /// several share the interface.
    fn new(reader: Option<u32>) -> Self {
        Self {
            reader,
            previous: Stats::default(),
        }
    }

    /// Reads the source's statistics (one system call per interval for a live capture; none
    /// for a file, which has no statistics).
    fn read(&mut self, source: &mut impl PacketSource) -> Option<CaptureStats> {
        match source.stats() {
            Ok(Some(now)) => {
                let (interval, cumulative) =
                    (counts(now, self.previous), counts(now, Stats::default()));
                self.previous = now;
                Some(CaptureStats {
                    interval,
                    cumulative,
                    readers: self
                        .reader
                        .map(|reader| ReaderCapture {
                            reader,
                            interval,
                            cumulative,
                        })
                        .into_iter()
                        .collect(),
                })
            }
            Ok(None) => None,
            // The report still goes out, without statistics; a failing capture ends the loop
            // through its next read anyway.
            Err(error) => {
                tracing::warn!(error = %error, "Cannot read capture statistics.");
                None
            }
        }
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

/// The per-packet loop over `source` until a stop request, the end of the source or an error.
/// With a `clock` (wall-clock nanoseconds) the source is polled: the interval of the clock's
/// first reading opens at once, and idle wake-ups close intervals on it. Without one the source
/// is read straight through, which spares a sum type per packet. `paced`: the source waits
/// between packets, so every packet beats the health clock.
fn pump<S: PacketSource>(
    source: &mut S,
    aggregator: &mut IntervalAggregator,
    stats: &mut StatsReader,
    context: LoopContext,
    paced: bool,
    clock: Option<&mut dyn FnMut() -> u64>,
) -> Pumped {
    let mut pumped = Pumped::default();
    let mut shown = Shown {
        packets: 0,
        bytes: source.progress().bytes_read,
    };
    let link_type = source.link_type();
    let decode = context.decode;
    let stop = context.stop;
    match clock {
        None => {
            while !stop.load(Ordering::Relaxed) {
                let (timestamp_nanos, wire_len, decoded) = match source.next_packet() {
                    Ok(Some(packet)) => (
                        packet.timestamp_nanos,
                        packet.wire_len,
                        decode_with(decode, link_type, packet.data),
                    ),
                    Ok(None) => break,
                    Err(error) => {
                        pumped.error = Some(error);
                        break;
                    }
                };
                aggregator.observe(timestamp_nanos, wire_len, decoded, || stats.read(source));
                after_packet(source, &mut pumped, wire_len, &mut shown, context, paced);
            }
        }
        Some(clock) => {
            // Opens the current interval now, so an interface that stays quiet still reports.
            aggregator.tick(clock(), || stats.read(source));
            while !stop.load(Ordering::Relaxed) {
                let (timestamp_nanos, wire_len, decoded) = match source.poll_packet() {
                    Ok(Next::Packet(packet)) => (
                        packet.timestamp_nanos,
                        packet.wire_len,
                        decode_with(decode, link_type, packet.data),
                    ),
                    // Caught up with the interface: the clock stands in for packet time.
                    Ok(Next::Idle) => {
                        context.health.heartbeat();
                        shown.show(source, pumped.packets, context);
                        aggregator.tick(clock(), || stats.read(source));
                        continue;
                    }
                    Ok(Next::End) => break,
                    Err(error) => {
                        pumped.error = Some(error);
                        break;
                    }
                };
                aggregator.observe(timestamp_nanos, wire_len, decoded, || stats.read(source));
                after_packet(source, &mut pumped, wire_len, &mut shown, context, paced);
            }
        }
    }
    shown.show(source, pumped.packets, context);
    pumped
}

/// What the progress display has been given of one source.
struct Shown {
    packets: u64,
    bytes: u64,
}

impl Shown {
    /// Gives the display what was read since the last call: `packets` in all so far, and the
    /// source's input bytes.
    fn show(&mut self, source: &impl PacketSource, packets: u64, context: LoopContext) {
        let bytes = source.progress().bytes_read;
        context
            .progress
            .add(packets - self.packets, bytes.saturating_sub(self.bytes));
        (self.packets, self.bytes) = (packets, bytes);
    }
}

/// The loop's bookkeeping after a packet of `wire_len` bytes: its counts, and every so many
/// packets the heartbeat, the progress display and the capture statistics.
#[inline(always)]
fn after_packet(
    source: &mut impl PacketSource,
    pumped: &mut Pumped,
    wire_len: u32,
    shown: &mut Shown,
    context: LoopContext,
    paced: bool,
) {
    pumped.packets += 1;
    pumped.bytes += u64::from(wire_len);
    if paced || pumped.packets % BEAT_EVERY == 0 {
        context.health.heartbeat();
    }
    if pumped.packets % BEAT_EVERY == 0 {
        shown.show(source, pumped.packets, context);
    }
    if pumped.packets % STATS_EVERY == 0 {
        let _ = source.stats();
    }
}

/// What reading sources in turn gave.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    /// Frames read from every source.
    pub(crate) packets: u64,
    /// Their wire bytes.
    pub(crate) bytes: u64,
    /// Sources that could not be opened or that failed part-way (each logged).
    pub(crate) failed: usize,
}

/// Reads `sources` one after another into `aggregator` until they are exhausted or a stop is
/// requested, then closes the last interval. A source that cannot be opened, or fails
/// part-way, is logged and counted, and the next one is read (its packets up to the failure
/// count). `paced`: the sources wait between packets.
pub(crate) fn read_in_turn<S: PacketSource>(
    sources: impl IntoIterator<Item = Result<S, capture::Error>>,
    mut aggregator: IntervalAggregator,
    context: LoopContext,
    paced: bool,
) -> Turns {
    let mut turns = Turns::default();
    let mut stats = StatsReader::new(None);
    let unopened = each_source(sources, context, |mut source| {
        let pumped = pump(
            &mut source,
            &mut aggregator,
            &mut stats,
            context,
            paced,
            None,
        );
        turns.packets += pumped.packets;
        turns.bytes += pumped.bytes;
        if let Some(error) = pumped.error {
            tracing::error!(packets_read = pumped.packets, error = %error, "Capture file ended with an error; its packets up to it are counted.");
            turns.failed += 1;
        }
    });
    turns.failed += unopened;
    aggregator.finish(|| None);
    turns
}

/// Hands `read` each of `sources` that opens, one after another, until a stop is requested;
/// logs those that cannot be opened and returns how many.
pub(crate) fn each_source<S>(
    sources: impl IntoIterator<Item = Result<S, capture::Error>>,
    context: LoopContext,
    mut read: impl FnMut(S),
) -> usize {
    let mut failed = 0;
    for source in sources {
        if context.stop.load(Ordering::Relaxed) {
            break;
        }
        match source {
            Ok(source) => read(source),
            Err(error) => {
                tracing::error!(error = %error, "Cannot read capture file.");
                failed += 1;
            }
        }
    }
    failed
}

/// What one reader did.
#[derive(Debug, Default)]
pub(crate) struct Read {
    /// What its loop read.
    pub(crate) pumped: Pumped,
    /// libpcap's statistics at its end.
    pub(crate) stats: Stats,
}

/// Reads every source on a thread of its own, each into its aggregator with the wall `clock`,
/// until a stop request or a failing source (which stops the others too: their share of the
/// frames is still theirs, but the failed one's would go uncounted). Each closes its last
/// interval with its final statistics. Readers are numbered in the statistics when there are
/// several.
///
/// # Errors
///
/// When a reader thread cannot start (the others are stopped first).
pub(crate) fn read_in_parallel<S: PacketSource + Send>(
    sources: &mut [S],
    aggregators: Vec<IntervalAggregator>,
    context: LoopContext,
    clock: fn() -> u64,
) -> std::io::Result<Vec<Read>> {
    let shared = sources.len() > 1;
    thread::scope(|scope| {
        let mut readers = Vec::with_capacity(sources.len());
        for (index, (source, mut aggregator)) in sources.iter_mut().zip(aggregators).enumerate() {
            let mut stats =
                StatsReader::new(shared.then(|| u32::try_from(index).unwrap_or(u32::MAX)));
            let started = thread::Builder::new()
                .name(format!("hhmon-reader-{index}"))
                .spawn_scoped(scope, move || {
                    let mut clock = clock;
                    let pumped = pump(
                        source,
                        &mut aggregator,
                        &mut stats,
                        context,
                        false,
                        Some(&mut clock),
                    );
                    if pumped.error.is_some() {
                        context.stop.store(true, Ordering::Relaxed);
                    }
                    aggregator.finish(|| stats.read(source));
                    let final_stats = source.stats().ok().flatten().unwrap_or(stats.previous);
                    Read {
                        pumped,
                        stats: final_stats,
                    }
                });
            match started {
                Ok(reader) => readers.push(reader),
                Err(error) => {
                    context.stop.store(true, Ordering::Relaxed);
                    return Err(error);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Error as CaptureError, FakeSource, Packet};
    use crate::decode::{DecodeOptions, LinkType};
    use crate::engine::http::EndpointState;
    use crate::engine::Progress;
    use crate::monitor::MonitorConfig;
    use crate::report::IntervalReport;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;

    const SECOND: u64 = 1_000_000_000;

    /// What the scripted source does at each read.
    #[derive(Clone)]
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

    fn exact_config() -> MonitorConfig {
        MonitorConfig {
            interval_secs: 10,
            exact: true,
            ..MonitorConfig::default()
        }
    }

    /// Runs `with` on a loop context that never stops and shows nothing.
    fn with_context<T>(stop: bool, with: impl FnOnce(LoopContext) -> T) -> T {
        let (stop, progress, health) = (
            AtomicBool::new(stop),
            Progress::new(None, true),
            EndpointState::new(),
        );
        with(LoopContext {
            decode: DecodeOptions::default(),
            stop: &stop,
            progress: &progress,
            health: &health,
        })
    }

    /// Runs the loop over `source` with the wall clock read from `clock` in turn (the first
    /// value opens the interval; each idle wake-up takes the next), then closes the last
    /// interval as a reader does, returning the reports.
    fn run(source: &mut impl PacketSource, clock: &[u64]) -> (Pumped, Vec<IntervalReport>) {
        let (reports, received) = mpsc::channel();
        let mut aggregator = IntervalAggregator::new(exact_config(), reports);
        let mut stats = StatsReader::new(None);
        let mut times = clock.iter().copied();
        let mut clock = || {
            times
                .next()
                .expect("the test scripted enough clock readings")
        };
        let pumped = with_context(false, |context| {
            pump(
                source,
                &mut aggregator,
                &mut stats,
                context,
                false,
                Some(&mut clock),
            )
        });
        aggregator.finish(|| stats.read(source));
        drop(aggregator);
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
        let mut aggregator = IntervalAggregator::new(MonitorConfig::default(), mpsc::channel().0);
        let mut stats = StatsReader::new(None);
        let pumped = with_context(true, |context| {
            pump(
                &mut source,
                &mut aggregator,
                &mut stats,
                context,
                false,
                None,
            )
        });
        assert_eq!(pumped.packets, 0);
        assert_eq!(source.steps.len(), 1);
    }

    /// A frame of the scripted sources at `second`.
    fn frame(second: u64) -> (u64, u32, Vec<u8>) {
        (
            second * SECOND,
            100,
            Scripted::new(Vec::new(), (0, 0)).frame,
        )
    }

    #[test]
    fn sources_in_turn_count_into_one_run_and_a_failing_one_is_counted_and_passed() {
        let sources = vec![
            Ok(FakeSource::new(LinkType(1), vec![frame(101), frame(102)])),
            Err(CaptureError::Open {
                path: "missing.pcap".into(),
                reason: "No such file".into(),
            }),
            Ok(FakeSource::new(LinkType(1), vec![frame(103), frame(111)]).then_fail("truncated")),
            Ok(FakeSource::new(LinkType(1), vec![frame(125)])),
        ];
        let (reports, received) = mpsc::channel();
        let aggregator = IntervalAggregator::new(exact_config(), reports);
        let turns = with_context(false, |context| {
            read_in_turn(sources, aggregator, context, false)
        });
        assert_eq!((turns.packets, turns.bytes, turns.failed), (5, 500, 2));
        let reports: Vec<IntervalReport> = received.iter().collect();
        let intervals: Vec<(u64, u64)> = reports
            .iter()
            .map(|r| (r.interval.start_unix, r.totals.packets))
            .collect();
        // Intervals run on across the sources; files have no capture statistics.
        assert_eq!(intervals, [(100, 3), (110, 1), (120, 1)]);
        assert!(reports.iter().all(|r| r.capture.is_none()));
    }

    #[test]
    fn sources_in_turn_stop_at_a_stop_request_and_still_close_the_interval() {
        let sources = vec![Ok(FakeSource::new(LinkType(1), vec![frame(101)]))];
        let (reports, received) = mpsc::channel();
        let aggregator = IntervalAggregator::new(exact_config(), reports);
        let turns = with_context(true, |context| {
            read_in_turn(sources, aggregator, context, false)
        });
        assert_eq!((turns.packets, turns.failed), (0, 0));
        assert_eq!(received.iter().count(), 0, "nothing was open to close");
    }

    #[test]
    fn readers_in_parallel_each_report_their_share_of_the_statistics() {
        let mut sources = vec![
            Scripted::new(vec![Step::Frame(101 * SECOND)], (5, 1)),
            Scripted::new(vec![Step::Frame(102 * SECOND); 3], (7, 0)),
        ];
        let config = MonitorConfig {
            workers: 1,
            ..exact_config()
        };
        let (reports, received) = mpsc::channel();
        let aggregators = IntervalAggregator::start(config, 2, reports).unwrap();
        let reads = with_context(false, |context| {
            read_in_parallel(&mut sources, aggregators, context, || 100 * SECOND)
        })
        .unwrap();
        let packets: Vec<u64> = reads.iter().map(|read| read.pumped.packets).collect();
        assert_eq!(packets, [1, 3]);
        let reports: Vec<IntervalReport> = received.iter().collect();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].totals.packets, 4);
        let capture = reports[0]
            .capture
            .as_ref()
            .expect("readers give statistics");
        let shares: Vec<(u32, u64)> = capture
            .readers
            .iter()
            .map(|reader| (reader.reader, reader.interval.received))
            .collect();
        // Each reader read its statistics once, when it closed the interval at its end.
        assert_eq!(shares, [(0, 5), (1, 7)]);
        assert_eq!(capture.interval.received, 12);
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
