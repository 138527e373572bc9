//! The interval aggregator: which views exist, what one packet updates, and when an interval
//! closes.
//!
//! Intervals are aligned to multiples of their length since the Unix epoch and are decided by
//! packet timestamps, so a replay gives the same reports every time. A packet past the end of
//! the current interval closes it: its counts become an [`IntervalReport`] and the sketches
//! are cleared (keeping their memory) for the next one. Intervals without packets produce no
//! report. Knows nothing of file formats, HTTP or where reports go.

use crate::decode::{Decoded, FlowKey, UnparsedReason};
use crate::report::{AddressEntry, FlowEntry, IntervalReport, IntervalSpan, Totals};
use crate::sketch::chk::CuckooHeavyKeeper;
use crate::sketch::hll::{DistinctCounter, DEFAULT_LG_K};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Default memory of each heavy-hitter sketch (six per monitor: three views, by packets and by
/// bytes; 1.5 MiB in all). 256 KiB holds about 5,000 five-tuples or 8,000 addresses in heavy
/// entries, 2.5 and 4 times the 1/phi = 2,000 items that can reach the heavy-hitter threshold;
/// on flat and flood traces its top 20 were exact and its top 100 nearly so, and larger
/// sketches spill out of the caches and slow a flood down (docs/BENCHMARKS.md).
pub const DEFAULT_SKETCH_BYTES: usize = 256 << 10;

/// What the aggregator counts and how.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Interval length in seconds (at least 1).
    pub interval_secs: u64,
    /// Entries in every top list of a report.
    pub top: usize,
    /// Count heavy hitters exactly with hash maps instead of sketches (memory grows with the
    /// number of distinct keys: a reference for small captures).
    pub exact: bool,
    /// Memory of each heavy-hitter sketch in bytes.
    pub sketch_bytes: usize,
    /// HyperLogLog precision (`2^lg_k` registers).
    pub hll_lg_k: u8,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_secs: 10,
            top: 20,
            exact: false,
            sketch_bytes: DEFAULT_SKETCH_BYTES,
            hll_lg_k: DEFAULT_LG_K,
        }
    }
}

/// Heavy hitters of one view (flows, sources or destinations), by packets and by bytes.
enum HeavyHitters<K> {
    Sketched {
        packets: CuckooHeavyKeeper<K>,
        bytes: CuckooHeavyKeeper<K>,
    },
    Exact(HashMap<K, (u64, u64), ahash::RandomState>),
}

impl<K: Hash + Eq + Clone + Ord> HeavyHitters<K> {
    fn new(config: &MonitorConfig) -> Self {
        if config.exact {
            HeavyHitters::Exact(HashMap::default())
        } else {
            // Same seed for both, so one hash of the key serves both sketches.
            HeavyHitters::Sketched {
                packets: CuckooHeavyKeeper::with_memory(config.sketch_bytes),
                bytes: CuckooHeavyKeeper::with_memory(config.sketch_bytes),
            }
        }
    }

    #[inline]
    fn add(&mut self, key: &K, wire_len: u64) {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                let hash = packets.hash_key(key);
                packets.add_hashed(key, hash, 1);
                bytes.add_hashed(key, hash, wire_len);
            }
            HeavyHitters::Exact(map) => {
                let counts = map.entry(key.clone()).or_default();
                counts.0 += 1;
                counts.1 += wire_len;
            }
        }
    }

    /// The top `n` keys with (packets, bytes), ranked by packets or by bytes; ties broken by
    /// key so that reports are stable.
    fn top(&self, n: usize, by_bytes: bool) -> Vec<(K, u64, u64)> {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                let (ranked, other) = if by_bytes {
                    (bytes, packets)
                } else {
                    (packets, bytes)
                };
                // Only the `n` kept need the other sketch's count.
                largest(ranked.entries(), n, |&(key, count)| (count, key))
                    .into_iter()
                    .map(|(key, count)| {
                        let other_count = other.count(key);
                        if by_bytes {
                            (key.clone(), other_count, count)
                        } else {
                            (key.clone(), count, other_count)
                        }
                    })
                    .collect()
            }
            HeavyHitters::Exact(map) => {
                let entries = map
                    .iter()
                    .map(|(key, &(packets, bytes))| (key, packets, bytes));
                largest(entries, n, |&(key, packets, bytes)| {
                    (if by_bytes { bytes } else { packets }, key)
                })
                .into_iter()
                .map(|(key, packets, bytes)| (key.clone(), packets, bytes))
                .collect()
            }
        }
    }

    fn clear(&mut self) {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                packets.clear();
                bytes.clear();
            }
            HeavyHitters::Exact(map) => map.clear(),
        }
    }
}

/// The `n` largest `items` by `rank` (count, then key ascending on ties), largest first. Keys
/// are unique, so the order is total and unstable selection deterministic. Holds at most
/// `2n + 1` items at a time: ranking a sketch costs no memory in proportion to its size.
fn largest<T, K: Ord>(
    items: impl Iterator<Item = T>,
    n: usize,
    rank: impl Fn(&T) -> (u64, &K),
) -> Vec<T> {
    let order = |a: &T, b: &T| {
        let ((a_count, a_key), (b_count, b_key)) = (rank(a), rank(b));
        b_count.cmp(&a_count).then_with(|| a_key.cmp(b_key))
    };
    let mut kept = Vec::new();
    for item in items {
        if kept.len() > n.saturating_mul(2) {
            kept.select_nth_unstable_by(n, order);
            kept.truncate(n);
        }
        kept.push(item);
    }
    if n < kept.len() {
        kept.select_nth_unstable_by(n, order);
        kept.truncate(n);
    }
    kept.sort_unstable_by(order);
    kept
}

/// Plain counters of an interval or of the whole run.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    packets: u64,
    bytes: u64,
    unparsed: [u64; UnparsedReason::COUNT],
    transport_truncated: u64,
}

impl Tally {
    fn to_totals(self) -> Totals {
        Totals {
            packets: self.packets,
            bytes: self.bytes,
            unparsed_packets: self.unparsed.iter().sum(),
            unparsed_by_reason: UnparsedReason::ALL
                .iter()
                .map(|r| (r.as_str().to_owned(), self.unparsed[r.index()]))
                .collect(),
            transport_truncated: self.transport_truncated,
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        for (total, add) in self.unparsed.iter_mut().zip(other.unparsed) {
            *total += add;
        }
        self.transport_truncated += other.transport_truncated;
    }
}

/// Accumulates packets into per-interval views and closes intervals on packet time.
pub struct IntervalAggregator {
    config: MonitorConfig,
    flows: HeavyHitters<FlowKey>,
    sources: HeavyHitters<IpAddr>,
    destinations: HeavyHitters<IpAddr>,
    distinct_sources: DistinctCounter,
    /// Start (Unix seconds) of the open interval; `None` before the first packet.
    interval_start: Option<u64>,
    /// End of the open interval in nanoseconds (0 when none is open): packets before it need
    /// no interval arithmetic.
    open_until_nanos: u64,
    interval: Tally,
    /// Every closed interval (the open one is added when it closes).
    closed: Tally,
}

impl IntervalAggregator {
    /// An aggregator with every sketch allocated up front (an interval length of 0 is taken
    /// as 1 second).
    pub fn new(mut config: MonitorConfig) -> Self {
        config.interval_secs = config.interval_secs.max(1);
        Self {
            flows: HeavyHitters::new(&config),
            sources: HeavyHitters::new(&config),
            destinations: HeavyHitters::new(&config),
            distinct_sources: DistinctCounter::new(config.hll_lg_k),
            interval_start: None,
            open_until_nanos: 0,
            interval: Tally::default(),
            closed: Tally::default(),
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Accounts one packet seen at `timestamp_nanos` with `wire_len` bytes on the wire and its
    /// decoding. Returns the report of the interval this packet closed, if it closed one.
    ///
    /// A packet older than the open interval (out of order, or a clock step back) is counted
    /// in the open interval rather than reopening a closed one.
    pub fn observe(
        &mut self,
        timestamp_nanos: u64,
        wire_len: u32,
        decoded: Result<Decoded, UnparsedReason>,
    ) -> Option<IntervalReport> {
        if timestamp_nanos < self.open_until_nanos {
            self.count(wire_len, decoded);
            return None;
        }
        self.observe_past_the_open_interval(timestamp_nanos, wire_len, decoded)
    }

    /// [`observe`](Self::observe) for a packet at or after the end of the open interval, or
    /// with none open. Out of line: once per interval, and its report is large to move.
    #[inline(never)]
    fn observe_past_the_open_interval(
        &mut self,
        timestamp_nanos: u64,
        wire_len: u32,
        decoded: Result<Decoded, UnparsedReason>,
    ) -> Option<IntervalReport> {
        let start = self.interval_of(timestamp_nanos);
        let closed = match self.interval_start {
            Some(open) if start > open => {
                let report = self.close();
                self.interval_start = Some(start);
                report
            }
            Some(_) => None,
            None => {
                self.interval_start = Some(start);
                None
            }
        };
        let open = self.interval_start.unwrap_or(start);
        self.open_until_nanos = open
            .saturating_add(self.config.interval_secs)
            .saturating_mul(1_000_000_000);
        self.count(wire_len, decoded);
        closed
    }

    /// Closes the open interval (end of input, shutdown, or a timer in live capture) and
    /// returns its report, or `None` when no packet arrived since the last close.
    pub fn finish(&mut self) -> Option<IntervalReport> {
        let report = self.close();
        self.interval_start = None;
        self.open_until_nanos = 0;
        report
    }

    #[inline]
    fn interval_of(&self, timestamp_nanos: u64) -> u64 {
        let seconds = timestamp_nanos / 1_000_000_000;
        seconds - seconds % self.config.interval_secs
    }

    #[inline]
    fn count(&mut self, wire_len: u32, decoded: Result<Decoded, UnparsedReason>) {
        let wire_len = u64::from(wire_len);
        self.interval.packets += 1;
        self.interval.bytes += wire_len;
        match decoded {
            Ok(decoded) => {
                let key = decoded.key;
                self.interval.transport_truncated += u64::from(decoded.transport_truncated);
                self.flows.add(&key, wire_len);
                self.sources.add(&key.src, wire_len);
                self.destinations.add(&key.dst, wire_len);
                self.distinct_sources.insert(key.src);
            }
            Err(reason) => self.interval.unparsed[reason.index()] += 1,
        }
    }

    fn close(&mut self) -> Option<IntervalReport> {
        let start = self.interval_start?;
        if self.interval.packets == 0 {
            return None;
        }
        self.closed.merge(&self.interval);
        let top = self.config.top;
        let flows = |by_bytes| {
            self.flows
                .top(top, by_bytes)
                .into_iter()
                .map(|(key, packets, bytes)| FlowEntry {
                    src: key.src,
                    dst: key.dst,
                    src_port: key.src_port,
                    dst_port: key.dst_port,
                    protocol: key.protocol,
                    packets,
                    bytes,
                })
                .collect()
        };
        let addresses = |view: &HeavyHitters<IpAddr>, by_bytes| {
            view.top(top, by_bytes)
                .into_iter()
                .map(|(address, packets, bytes)| AddressEntry {
                    address,
                    packets,
                    bytes,
                })
                .collect()
        };
        let report = IntervalReport {
            interval: IntervalSpan::new(start, self.config.interval_secs),
            totals: self.interval.to_totals(),
            cumulative: self.closed.to_totals(),
            distinct_sources: self.distinct_sources.estimate().round() as u64,
            counting: if self.config.exact { "exact" } else { "chk" }.to_owned(),
            top_flows: flows(false),
            top_flows_by_bytes: flows(true),
            top_sources: addresses(&self.sources, false),
            top_sources_by_bytes: addresses(&self.sources, true),
            top_destinations: addresses(&self.destinations, false),
            top_destinations_by_bytes: addresses(&self.destinations, true),
        };
        self.interval = Tally::default();
        self.flows.clear();
        self.sources.clear();
        self.destinations.clear();
        self.distinct_sources.reset();
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
        })
    }

    fn config(exact: bool) -> MonitorConfig {
        MonitorConfig {
            interval_secs: 10,
            top: 3,
            exact,
            sketch_bytes: 64 << 10,
            ..MonitorConfig::default()
        }
    }

    #[test]
    fn intervals_align_to_the_epoch_and_close_on_packet_time() {
        for exact in [false, true] {
            let mut monitor = IntervalAggregator::new(config(exact));
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
            assert_eq!(second.totals.unparsed_by_reason["not_ip"], 1);
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
            let mut monitor = IntervalAggregator::new(config(exact));
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
            assert_eq!(report.counting, if exact { "exact" } else { "chk" });
        }
    }

    #[test]
    fn empty_intervals_produce_no_report_and_sketches_reset() {
        let mut monitor = IntervalAggregator::new(config(false));
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
}
