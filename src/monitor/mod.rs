//! The interval aggregator of one packet thread: when an interval opens and closes, what one
//! packet updates, and where a closed interval goes. Knows nothing of file formats, threads
//! beyond its workers', HTTP or how reports are rendered.
//!
//! Intervals are aligned to multiples of their length since the Unix epoch and are decided by
//! packet timestamps, so a replay gives the same reports every time. A packet past the end of
//! the current interval closes it: its counts become an [`IntervalReport`] and the views are
//! cleared (keeping their memory) for the next one. Intervals without packets produce no
//! report, except in live capture, where the wall clock also closes intervals
//! ([`IntervalAggregator::tick`]).
//!
//! Packets reach the views through a flow cache (`flow_cache`): a packet thread sums the
//! packets and bytes of recent flows and hands each flow's sums on as one weighted update (at
//! most 16 packets, at the latest when the interval closes), so the views' work is paid per
//! chunk of a busy flow rather than per packet. The cache hashes the flow to find its slot; the
//! views hash the flow's keys when its sums arrive.
//!
//! The rooms: `config` (what to count), `hash` (the keys' hashes), `heavy` (one view's heavy
//! hitters), `views` (one set of views: heavy hitters, distinct counts, fan-in and fan-out),
//! `assemble` (the one report assembly), `flow_cache`, and `parallel` (owner threads and their
//! combiner). On one thread an aggregator counts into its own view set and assembles its
//! reports itself; with more than one worker ([`MonitorConfig::workers`]) or more than one
//! packet thread, owner threads count the views and a combiner assembles the reports
//! ([`IntervalAggregator::start`]), and each aggregator keeps only its intervals and totals.

mod assemble;
pub mod changes;
mod config;
mod flow_cache;
mod hash;
mod heavy;
pub mod hhh;
mod parallel;
mod prefix;
#[cfg(test)]
pub(crate) mod testing;
mod views;

pub use config::{
    fan_lg_k, prefix_lg_k, tracked_keys, ConfigError, MonitorConfig, DEFAULT_SKETCH_BYTES,
    MAX_WINDOW_BYTES,
};
pub use flow_cache::MEMORY_BYTES as FLOW_CACHE_BYTES;
pub use parallel::MAX_WORKERS;
pub use prefix::{
    PrefixLengths, PrefixLengthsError, CACHE_BYTES as PREFIX_CACHE_BYTES, MAX_PREFIX_LENGTHS,
};

use assemble::{Assembler, IntervalPart};
use flow_cache::{FlowCache, FlowCount};
use views::ViewSet;

use crate::decode::{Decoded, FlowKey, UnparsedReason};
use crate::report::{CaptureStats, IntervalReport, ReasonCounts, TelemetryStats, Totals};
use std::sync::mpsc::Sender;

/// Plain counters of an interval or of the whole run.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    packets: u64,
    bytes: u64,
    unparsed: [u64; UnparsedReason::COUNT],
    transport_truncated: u64,
    decap_fallback: [u64; UnparsedReason::COUNT],
}

impl Tally {
    fn to_totals(self) -> Totals {
        Totals {
            packets: self.packets,
            bytes: self.bytes,
            unparsed_packets: self.unparsed.iter().sum(),
            unparsed_by_reason: ReasonCounts::new(self.unparsed),
            transport_truncated: self.transport_truncated,
            decap_fallback_by_reason: ReasonCounts::new(self.decap_fallback),
        }
    }
}

/// Where an aggregator's closed intervals go.
enum Outlet {
    /// It counts into its own views and assembles its reports for the sinks.
    Here {
        assembler: Box<Assembler>,
        reports: Sender<IntervalReport>,
    },
    /// Owner threads count its keys; the combiner assembles the reports from its parts.
    Owners(parallel::Producer),
}

/// Accumulates packets into per-interval views and closes intervals on packet time.
pub struct IntervalAggregator {
    config: MonitorConfig,
    /// The views counted on this thread, or with workers, views whose sketches only hash keys
    /// (one bucket each) for the owners.
    views: ViewSet,
    outlet: Outlet,
    /// The open interval's packets that have yet to reach the views.
    cache: FlowCache,
    /// Start (Unix seconds) of the open interval; `None` before the first packet.
    interval_start: Option<u64>,
    /// End of the open interval in nanoseconds (0 when none is open): packets before it need
    /// no interval arithmetic.
    open_until_nanos: u64,
    interval: Tally,
    /// A collector's counts for the report of the next interval to close.
    telemetry: Option<TelemetryStats>,
}

impl IntervalAggregator {
    /// An aggregator that counts on the calling thread (whatever `config.workers` says) and
    /// sends every closed interval's report to `reports`, with every sketch allocated up front
    /// (an interval length of 0 is taken as 1 second). Check the configuration with
    /// [`MonitorConfig::validate`] first: a window that is not a multiple of the interval is
    /// used as given, so its edge falls inside an interval, which counts whole.
    pub fn new(config: MonitorConfig, reports: Sender<IntervalReport>) -> Self {
        let config = config.normalized();
        let outlet = Outlet::Here {
            assembler: Box::new(Assembler::new(&config)),
            reports,
        };
        Self::with_outlet(config, outlet)
    }

    /// The aggregators of `producers` packet threads (a replay's one, or a live capture's
    /// readers), whose reports reach `reports` in interval order. With one producer and
    /// `config.workers` at 1 that is [`new`](Self::new)'s aggregator. Otherwise it starts
    /// `config.workers` owner threads (at least one) and a combiner (`monitor/parallel/`):
    /// each aggregator keeps its own intervals and totals and hands its part of every interval
    /// to the combiner, which completes the report once every producer has closed the interval.
    /// The threads end once every aggregator is dropped, after the last report is sent; until
    /// then whoever waits for `reports` to close waits too.
    ///
    /// # Errors
    ///
    /// When the system refuses a thread.
    pub fn start(
        config: MonitorConfig,
        producers: usize,
        reports: Sender<IntervalReport>,
    ) -> std::io::Result<Vec<Self>> {
        if producers <= 1 && config.workers <= 1 {
            return Ok(vec![Self::new(config, reports)]);
        }
        let config = config.normalized();
        Ok(parallel::start(&config, producers, reports)?
            .into_iter()
            .map(|producer| Self::with_outlet(config.clone(), Outlet::Owners(producer)))
            .collect())
    }

    /// An aggregator of a [normalized](MonitorConfig::normalized) configuration.
    fn with_outlet(config: MonitorConfig, outlet: Outlet) -> Self {
        let here = matches!(outlet, Outlet::Here { .. });
        let sketch_bytes = if here { config.sketch_bytes } else { 0 };
        Self {
            // With owners too: a producer sends its cache's sums on, not every chunk.
            views: ViewSet::new(&config, sketch_bytes, here).with_prefix_cache(),
            outlet,
            cache: FlowCache::new(),
            interval_start: None,
            open_until_nanos: 0,
            interval: Tally::default(),
            telemetry: None,
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Accounts one packet seen at `timestamp_nanos` with `wire_len` bytes on the wire and its
    /// decoding. When the packet closes the open interval, its report goes out with the capture
    /// statistics `capture` gives (called only then: reading them may be a system call).
    ///
    /// A packet older than the open interval (out of order, or a clock step back) is counted
    /// in the open interval rather than reopening a closed one.
    #[inline]
    pub fn observe(
        &mut self,
        timestamp_nanos: u64,
        wire_len: u32,
        decoded: Result<Decoded, UnparsedReason>,
        capture: impl FnOnce() -> Option<CaptureStats>,
    ) {
        if timestamp_nanos >= self.open_until_nanos {
            self.advance_to(timestamp_nanos, capture);
        }
        self.count(wire_len, decoded);
    }

    /// Accounts `packets` packets and `bytes` bytes of flow `key` that an exporter reported
    /// (a NetFlow or IPFIX record, a sampled sFlow packet scaled by its rate) at
    /// `timestamp_nanos`, in the interval of that time as [`observe`](Self::observe) would.
    /// They go to the views as one update, past the flow cache: an exporter's record is
    /// already one flow's sum.
    pub fn observe_flow(
        &mut self,
        timestamp_nanos: u64,
        key: FlowKey,
        packets: u64,
        bytes: u64,
        capture: impl FnOnce() -> Option<CaptureStats>,
    ) {
        if packets == 0 {
            return;
        }
        if timestamp_nanos >= self.open_until_nanos {
            self.advance_to(timestamp_nanos, capture);
        }
        self.interval.packets = self.interval.packets.saturating_add(packets);
        self.interval.bytes = self.interval.bytes.saturating_add(bytes);
        let flow = FlowCount {
            key,
            packets,
            bytes,
        };
        count_flow(&mut self.views, &mut self.outlet, flow);
    }

    /// Whether a flow observed at `timestamp_nanos` would close the open interval (or open the
    /// first one): a collector then gives its counts first, with
    /// [`set_telemetry`](Self::set_telemetry).
    pub fn closes_at(&self, timestamp_nanos: u64) -> bool {
        timestamp_nanos >= self.open_until_nanos
    }

    /// What a flow-telemetry collector received so far: the report of the next interval to
    /// close carries it.
    pub fn set_telemetry(&mut self, telemetry: TelemetryStats) {
        self.telemetry = Some(telemetry);
    }

    /// Makes the interval of `timestamp_nanos`, at or after the end of the open one (or with
    /// none open), the open interval, closing the open one. Out of line: once per interval,
    /// and its report is large to move.
    #[inline(never)]
    fn advance_to(&mut self, timestamp_nanos: u64, capture: impl FnOnce() -> Option<CaptureStats>) {
        let start = self.interval_of(timestamp_nanos);
        match self.interval_start {
            Some(open) if start > open => {
                self.close(false, capture);
                self.open(start);
            }
            Some(_) => {}
            None => self.open(start),
        }
        let open = self.interval_start.unwrap_or(start);
        self.open_until_nanos = open
            .saturating_add(self.config.interval_secs)
            .saturating_mul(1_000_000_000);
    }

    /// Closes the open interval (end of input, shutdown) and sends its report with the capture
    /// statistics `capture` gives, unless no packet arrived since the last close.
    pub fn finish(&mut self, capture: impl FnOnce() -> Option<CaptureStats>) {
        self.close(false, capture);
        self.interval_start = None;
        self.open_until_nanos = 0;
        if let Outlet::Owners(producer) = &mut self.outlet {
            producer.finish();
        }
    }

    /// Live capture's clock: at wall-clock time `now_nanos`, closes the open interval if `now`
    /// lies past its end, even when it saw no packet (a quiet link is news on a live monitor,
    /// and its capture statistics still need a report), and opens the interval of `now`, so
    /// packets read late still count in an open interval. Before anything is open it just
    /// opens the interval of `now`. The closed interval's report goes out with the capture
    /// statistics `capture` gives.
    pub fn tick(&mut self, now_nanos: u64, capture: impl FnOnce() -> Option<CaptureStats>) {
        let now = self.interval_of(now_nanos);
        match self.interval_start {
            Some(open) if now > open => {
                self.close(true, capture);
                self.open(now);
            }
            Some(_) => {}
            None => self.open(now),
        }
    }

    /// Opens the interval starting at `start` (Unix seconds), telling the owner threads.
    fn open(&mut self, start: u64) {
        self.interval_start = Some(start);
        if let Outlet::Owners(producer) = &mut self.outlet {
            producer.open(start);
        }
    }

    #[inline]
    fn interval_of(&self, timestamp_nanos: u64) -> u64 {
        let seconds = timestamp_nanos / 1_000_000_000;
        seconds - seconds % self.config.interval_secs
    }

    #[inline(always)]
    fn count(&mut self, wire_len: u32, decoded: Result<Decoded, UnparsedReason>) {
        let wire_len = u64::from(wire_len);
        self.interval.packets += 1;
        self.interval.bytes += wire_len;
        match decoded {
            Ok(decoded) => {
                let key = decoded.key;
                self.interval.transport_truncated += u64::from(decoded.transport_truncated);
                if let Some(reason) = decoded.decap_fallback {
                    self.interval.decap_fallback[reason.index()] += 1;
                }
                let (views, outlet) = (&mut self.views, &mut self.outlet);
                self.cache
                    .add(&key, wire_len, |flow| count_flow(views, outlet, flow));
            }
            Err(reason) => self.interval.unparsed[reason.index()] += 1,
        }
    }

    /// Closes the open interval, if any: sends its report (or, with workers, its part of it)
    /// with the capture statistics `capture` gives, unless it saw no packet and not
    /// `keep_empty`, and resets.
    fn close(&mut self, keep_empty: bool, capture: impl FnOnce() -> Option<CaptureStats>) {
        let Some(start) = self.interval_start else {
            return;
        };
        let (views, outlet) = (&mut self.views, &mut self.outlet);
        self.cache.drain(|flow| count_flow(views, outlet, flow));
        // The owners must have every update of the interval before they hear it closed.
        if let (Outlet::Owners(producer), Some(prefixes)) = (outlet, views.prefixes.as_mut()) {
            prefixes.take_all(|lengths, sketches, handed| {
                producer.dispatch_prefixes(lengths, sketches, &handed)
            });
        }
        let reported = self.interval.packets > 0 || keep_empty;
        let telemetry = self.telemetry.take();
        let part = reported.then(|| IntervalPart {
            totals: self.interval.to_totals(),
            capture: capture(),
            telemetry,
        });
        self.interval = Tally::default();
        match &mut self.outlet {
            Outlet::Owners(producer) => producer.closed(start, part),
            Outlet::Here { assembler, reports } => {
                if let Some(part) = part {
                    self.views.settle();
                    let lists = [self.views.top_lists(self.config.top)];
                    let distinct = self.views.interval_distinct(assembler.keeps_window());
                    if let Some(report) = assembler.report(start, [part], &lists, distinct) {
                        // The sinks outlive every aggregator.
                        let _ = reports.send(report);
                    }
                }
                self.views.clear();
            }
        }
    }
}

/// Counts a flow's packets that waited in the flow cache: into `views`, or through `outlet` to
/// the owners of its keys.
#[inline(never)]
fn count_flow(
    views: &mut ViewSet,
    outlet: &mut Outlet,
    FlowCount {
        key,
        packets,
        bytes,
    }: FlowCount,
) {
    let hashes = views.hashes(&key);
    match outlet {
        Outlet::Owners(producer) => {
            producer.dispatch(&key, packets, bytes, hashes, views.prefixes.as_mut())
        }
        Outlet::Here { .. } => views.count(&key, packets, bytes, hashes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::testing::{small_config as config, Collecting};
    use crate::report::Counting;
    use crate::sketch::hll::{DistinctCounter, DEFAULT_LG_K};
    use std::net::{IpAddr, Ipv4Addr};
    use views::rounded;

    const SECOND: u64 = 1_000_000_000;

    fn flow(src: u8, dst: u8, src_port: u16) -> Result<Decoded, UnparsedReason> {
        Ok(Decoded {
            key: FlowKey {
                src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src)),
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, dst)),
                src_port,
                dst_port: 80,
                protocol: 6,
            },
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    #[test]
    fn intervals_align_to_the_epoch_and_close_on_packet_time() {
        for exact in [false, true] {
            let mut monitor = Collecting::new(config(exact));
            // 1_000_000_003 s lies in [1_000_000_000, 1_000_000_010).
            assert!(monitor
                .observe(1_000_000_003 * SECOND, 100, flow(1, 1, 1))
                .is_none());
            assert!(monitor
                .observe(1_000_000_009 * SECOND, 100, flow(1, 1, 1))
                .is_none());
            let first = monitor
                .observe(1_000_000_010 * SECOND, 60, flow(2, 1, 1))
                .expect("crossing the boundary closes the interval");
            assert_eq!(first.interval.start_unix, 1_000_000_000);
            assert_eq!(first.interval.seconds, 10);
            assert_eq!(first.totals.packets, 2);
            assert_eq!(first.totals.bytes, 200);
            assert_eq!(first.top_flows.len(), 1);
            assert_eq!(first.top_flows[0].packets, 2);
            assert_eq!(first.top_flows[0].bytes, 200);
            // A late packet from the closed interval counts in the open one.
            assert!(monitor
                .observe(1_000_000_005 * SECOND, 40, Err(UnparsedReason::NotIp))
                .is_none());
            let second = monitor.finish().expect("the open interval has packets");
            assert_eq!(second.interval.start_unix, 1_000_000_010);
            assert_eq!(second.totals.packets, 2);
            assert_eq!(second.totals.unparsed_packets, 1);
            assert_eq!(second.totals.unparsed_by_reason[UnparsedReason::NotIp], 1);
            assert_eq!(second.cumulative.packets, 4);
            assert_eq!(second.cumulative.bytes, 300);
            assert_eq!(
                second.distinct_sources, 1,
                "sources are counted per interval"
            );
            assert!(monitor.finish().is_none());
        }
    }

    #[test]
    fn top_lists_rank_by_packets_and_by_bytes_and_respect_top() {
        for exact in [false, true] {
            let mut monitor = Collecting::new(config(exact));
            let at = 50 * SECOND;
            // Flow a: 5 small packets; flow b: 2 big ones; flows c, d: 1 packet each.
            for _ in 0..5 {
                monitor.observe(at, 60, flow(1, 1, 1000));
            }
            for _ in 0..2 {
                monitor.observe(at, 1500, flow(2, 1, 2000));
            }
            monitor.observe(at, 100, flow(3, 2, 3000));
            monitor.observe(at, 90, flow(4, 2, 4000));
            let report = monitor.finish().expect("packets were seen");
            let ports: Vec<u16> = report.top_flows.iter().map(|f| f.src_port).collect();
            assert_eq!(ports, [1000, 2000, 3000], "{exact}: ties broken by key");
            let by_bytes: Vec<(u16, u64, u64)> = report
                .top_flows_by_bytes
                .iter()
                .map(|f| (f.src_port, f.packets, f.bytes))
                .collect();
            assert_eq!(by_bytes, [(2000, 2, 3000), (1000, 5, 300), (3000, 1, 100)]);
            assert_eq!(report.top_destinations[0].packets, 7);
            assert_eq!(report.top_destinations[0].bytes, 3300);
            assert_eq!(
                report.top_sources_by_bytes[0].address.to_string(),
                "10.0.0.2"
            );
            assert_eq!(report.distinct_sources, 4);
            let counting = if exact {
                Counting::Exact
            } else {
                Counting::Chk
            };
            assert_eq!(report.counting, counting);
        }
    }

    #[test]
    fn the_clock_closes_intervals_without_waiting_for_a_packet() {
        let mut monitor = Collecting::new(config(false));
        // Opens [100, 110) without a packet; nothing to close within it.
        assert!(monitor.tick(105 * SECOND).is_none());
        monitor.observe(106 * SECOND, 60, flow(1, 1, 1));
        assert!(monitor.tick(109 * SECOND + SECOND / 2).is_none());
        let closed = monitor
            .tick(110 * SECOND)
            .expect("the clock passed the end");
        assert_eq!(closed.interval.start_unix, 100);
        assert_eq!(closed.totals.packets, 1);
        // A packet stamped before the close, read after it, counts in the open interval.
        monitor.observe(109 * SECOND, 40, flow(2, 1, 1));
        // An interval without packets is still reported when the clock closes it...
        let quiet = monitor.tick(121 * SECOND).expect("closes [110, 120)");
        assert_eq!(quiet.interval.start_unix, 110);
        assert_eq!(quiet.totals.packets, 1);
        let empty = monitor
            .tick(130 * SECOND)
            .expect("closes the empty [120, 130)");
        assert_eq!(empty.interval.start_unix, 120);
        assert_eq!(empty.totals.packets, 0);
        assert!(empty.top_flows.is_empty());
        assert_eq!(empty.cumulative.packets, 2);
        // ...but a clock that jumps ahead reports the open interval once, not every one skipped.
        let jumped = monitor.tick(10_000 * SECOND).expect("closes [130, 140)");
        assert_eq!(jumped.interval.start_unix, 130);
        assert!(monitor.tick(10_005 * SECOND).is_none());
        // A packet closes the clock's empty interval the way it always has: without a report.
        assert!(monitor
            .observe(10_010 * SECOND, 60, flow(3, 1, 1))
            .is_none());
        let last = monitor.finish().expect("one packet");
        assert_eq!(last.interval.start_unix, 10_010);
    }

    #[test]
    fn empty_intervals_produce_no_report_and_sketches_reset() {
        let mut monitor = Collecting::new(config(false));
        monitor.observe(0, 60, flow(1, 1, 1));
        // Skips many empty intervals: one report, for the interval that had packets.
        let report = monitor
            .observe(3_600 * SECOND, 60, flow(2, 2, 2))
            .expect("closes");
        assert_eq!(report.interval.start_unix, 0);
        let next = monitor.finish().expect("second interval");
        assert_eq!(next.interval.start_unix, 3_600);
        assert_eq!(next.top_flows.len(), 1);
        assert_eq!(
            next.top_flows[0].src_port, 2,
            "the first interval's flow was cleared"
        );
    }

    #[test]
    fn decap_fallbacks_count_by_reason_and_still_count_as_flows() {
        let fell_back = |src, reason| {
            flow(src, 1, 1).map(|decoded| Decoded {
                decap_fallback: Some(reason),
                ..decoded
            })
        };
        let mut monitor = Collecting::new(config(true));
        monitor.observe(0, 100, fell_back(1, UnparsedReason::NotIp));
        monitor.observe(SECOND, 100, fell_back(1, UnparsedReason::NotIp));
        monitor.observe(SECOND, 100, fell_back(2, UnparsedReason::Truncated));
        monitor.observe(SECOND, 100, flow(3, 1, 1));
        let first = monitor
            .observe(10 * SECOND, 100, fell_back(2, UnparsedReason::Malformed))
            .expect("closes [0, 10)");
        let expected = |not_ip, truncated, malformed| {
            let mut counts = ReasonCounts::default();
            counts[UnparsedReason::NotIp] = not_ip;
            counts[UnparsedReason::Truncated] = truncated;
            counts[UnparsedReason::Malformed] = malformed;
            counts
        };
        assert_eq!(first.totals.decap_fallback_by_reason, expected(2, 1, 0));
        // They are flows, not unparsed packets: the outer flow holds them.
        assert_eq!(first.totals.unparsed_packets, 0);
        assert_eq!(
            first.top_flows[0].src,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(first.top_flows[0].packets, 2);
        assert_eq!(first.top_flows.len(), 3);

        let second = monitor.finish().expect("one packet");
        assert_eq!(second.totals.decap_fallback_by_reason, expected(0, 0, 1));
        assert_eq!(
            second.cumulative.decap_fallback_by_reason,
            expected(2, 1, 1)
        );
    }

    /// A TCP packet from `src` to `dst`, addresses given as integers.
    fn between(src: u32, dst: u32) -> Result<Decoded, UnparsedReason> {
        Ok(Decoded {
            key: FlowKey {
                src: IpAddr::V4(Ipv4Addr::from(src)),
                dst: IpAddr::V4(Ipv4Addr::from(dst)),
                src_port: 1234,
                dst_port: 80,
                protocol: 6,
            },
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    const VICTIM: u32 = 0xc633_6407; // 198.51.100.7
    const SCANNER: u32 = 0xcb00_7109; // 203.0.113.9

    #[test]
    fn fan_in_and_fan_out_count_the_peers_of_top_addresses() {
        for exact in [false, true] {
            let mut monitor = Collecting::new(config(exact));
            // The scanner probes 200 addresses once; 150 sources hit the victim twice each;
            // 50 quiet pairs exchange one packet each. Below a few hundred values the sketches
            // keep exact coupons, so every count below is exact. The 201 sources fit the 256
            // tracked sources, so each is tracked from its first packet whatever order the
            // flow cache hands them on in (`tests/it/distinct.rs` measures what a newcomer to a
            // full table misses).
            for target in 0..200 {
                monitor.observe(0, 60, between(SCANNER, 0xac10_0000 + target));
            }
            for _ in 0..2 {
                for source in 0..150 {
                    monitor.observe(0, 60, between(0x0a00_0000 + source, VICTIM));
                }
            }
            for pair in 0..50 {
                monitor.observe(0, 60, between(0x0b00_0000 + pair, 0x0c00_0000 + pair));
            }
            let report = monitor.finish().unwrap();
            assert_eq!(report.distinct_sources, 150 + 1 + 50, "{exact}");
            assert_eq!(report.distinct_destinations, 1 + 200 + 50, "{exact}");
            let victim = &report.top_destinations[0];
            assert_eq!(victim.address, IpAddr::V4(VICTIM.into()));
            assert_eq!(victim.distinct_sources, Some(150), "{exact}");
            assert_eq!(victim.distinct_destinations, None);
            assert_eq!(report.top_destinations_by_bytes[0], *victim);
            let scanner = &report.top_sources[0];
            assert_eq!(scanner.address, IpAddr::V4(SCANNER.into()));
            assert_eq!(scanner.distinct_destinations, Some(200), "{exact}");
            assert_eq!(scanner.distinct_sources, None);
            // The next sources (the flood's) have 1 peer each.
            for entry in &report.top_sources[1..] {
                assert_eq!(entry.distinct_destinations, Some(1), "{exact} {entry:?}");
            }
        }
    }

    #[test]
    fn reports_carry_the_sketches_of_their_interval_only() {
        let mut monitor = Collecting::new(config(false));
        for source in 0..5_000 {
            monitor.observe(0, 60, between(source, VICTIM - source % 3));
        }
        let first = monitor.observe(10 * SECOND, 60, between(1, 2)).unwrap();
        let second = monitor.finish().unwrap();
        let sketches = first.sketches.as_ref().unwrap();
        let sources = DistinctCounter::from_base64(&sketches.sources).unwrap();
        let destinations = DistinctCounter::from_base64(&sketches.destinations).unwrap();
        assert_eq!(rounded(sources.estimate()), first.distinct_sources);
        assert!(first.distinct_sources.abs_diff(5_000) < 150, "{first:?}");
        assert_eq!(rounded(destinations.estimate()), 3);
        assert_eq!(first.distinct_destinations, 3);
        assert_eq!(sources.lg_k(), DEFAULT_LG_K);
        let sketches = second.sketches.unwrap();
        let sources = DistinctCounter::from_base64(&sketches.sources).unwrap();
        assert_eq!(rounded(sources.estimate()), 1);
        assert_eq!(first.window, None);
    }

    #[test]
    fn the_window_counts_the_union_of_its_intervals() {
        let mut monitor = Collecting::new(MonitorConfig {
            window_secs: Some(30),
            ..config(false)
        });
        // Interval i (10 s each) has sources 100 i .. 100 i + 150: consecutive intervals share
        // 50 sources. Interval 4 is empty, so the window ending with interval 5 holds 3 and 5.
        let mut reports = Vec::new();
        for interval in [0u32, 1, 2, 3, 5] {
            for source in 100 * interval..100 * interval + 150 {
                let at = u64::from(interval) * 10 * SECOND;
                reports.extend(monitor.observe(at, 60, between(source, VICTIM)));
            }
        }
        reports.extend(monitor.finish());
        let windows: Vec<(u64, u64, u64)> = reports
            .iter()
            .map(|r| {
                let window = r.window.as_ref().unwrap();
                (window.seconds, window.intervals, window.distinct_sources)
            })
            .collect();
        // Exact below a few hundred values: [0, 150), [0, 250), [0, 350), [100, 450), then
        // intervals 3 and 5: [300, 450) and [500, 650).
        assert_eq!(
            windows,
            [
                (30, 1, 150),
                (30, 2, 250),
                (30, 3, 350),
                (30, 3, 350),
                (30, 2, 300)
            ]
        );
        assert!(reports.iter().all(|r| r.distinct_sources == 150));
    }

    #[test]
    fn distinct_counting_off_leaves_zeros_and_no_sketches() {
        let mut monitor = Collecting::new(MonitorConfig {
            distinct: false,
            window_secs: Some(60),
            ..config(false)
        });
        monitor.observe(0, 60, between(1, 2));
        let report = monitor.finish().unwrap();
        assert_eq!(report.totals.packets, 1);
        assert_eq!(
            (report.distinct_sources, report.distinct_destinations),
            (0, 0)
        );
        assert_eq!(report.sketches, None);
        assert_eq!(report.window, None);
        assert_eq!(report.top_sources[0].distinct_destinations, None);
    }
}
