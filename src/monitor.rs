//! The interval aggregator: which views exist, what one packet updates, and when an interval
//! closes.
//!
//! Intervals are aligned to multiples of their length since the Unix epoch and are decided by
//! packet timestamps, so a replay gives the same reports every time. A packet past the end of
//! the current interval closes it: its counts become an [`IntervalReport`] and the sketches
//! are cleared (keeping their memory) for the next one. Intervals without packets produce no
//! report, except in live capture, where the wall clock also closes intervals
//! ([`IntervalAggregator::tick`]). Knows nothing of file formats, HTTP or where reports go.
//!
//! Packets reach the views through a flow cache ([`flow_cache`]): a packet thread sums the
//! packets and bytes of recent flows and hands each flow's sums on as one weighted update (at
//! most 16 packets, at the latest when the interval closes), so the views' work is paid per
//! chunk of a busy flow rather than per packet. The cache hashes the flow to find its slot; the
//! views hash the flow's keys when its sums arrive.
//!
//! Distinct counts: every address is hashed once into an HLL coupon, which feeds the interval's
//! distinct sources or destinations and the fan-in or fan-out counter of its peer; the
//! heavy-hitter hash of an address, computed once for its two sketches, also places it in the
//! table of tracked keys ([`KeyedDistinct`]). Only the heaviest addresses have fan-in and
//! fan-out counters: at most `max(256, 8 * top)` of each kind, `lg_k` at most 14
//! ([`tracked_keys`], [`fan_lg_k`]), so at most 8.5 MB with the defaults, reached only when
//! every tracked address has over 1 500 distinct peers. `--exact` changes the heavy-hitter
//! counting only; distinct counts are HyperLogLog in both modes, so every snapshot carries
//! mergeable sketches.
//!
//! With more than one worker ([`MonitorConfig::workers`]), or more than one packet thread, the
//! views are counted by owner threads and reports finished by a combiner thread ([`parallel`],
//! [`IntervalAggregator::start`]); each packet thread keeps its intervals and totals here, and
//! the reports it gets back are its part of the interval's report, for the combiner.

mod flow_cache;
mod parallel;

pub use flow_cache::MEMORY_BYTES as FLOW_CACHE_BYTES;
pub use parallel::MAX_WORKERS;

use flow_cache::{FlowCache, FlowCount};

use crate::decode::{Decoded, FlowKey, UnparsedReason};
use crate::report::{
    largest, AddressEntry, Counting, FlowEntry, IntervalReport, IntervalSpan, ReasonCounts,
    Sketches, Totals, WindowCounts,
};
use crate::sketch::chk::CuckooHeavyKeeper;
use crate::sketch::hll::{coupon_of_bytes, Coupon, DistinctCounter, DEFAULT_LG_K};
use crate::sketch::keyed::KeyedDistinct;
use crate::window::SlidingDistinct;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::mpsc::Sender;

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
    /// Report distinct sources over a rolling window of this many seconds (a multiple of
    /// `interval_secs`) besides the interval's own.
    pub window_secs: Option<u64>,
    /// Count distinct sources and destinations, fan-in and fan-out. Always on in the hhmon
    /// binary; off, the distinct counts are 0 and reports carry no sketches, which the
    /// benchmarks use to price distinct counting.
    pub distinct: bool,
    /// Threads that count the views, each owning the keys that hash to it (1: the packet
    /// thread counts everything itself; at most [`MAX_WORKERS`]). Honoured by
    /// [`IntervalAggregator::start`]; [`IntervalAggregator::new`] always counts on its caller's
    /// thread.
    pub workers: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_secs: 10,
            top: 20,
            exact: false,
            sketch_bytes: DEFAULT_SKETCH_BYTES,
            hll_lg_k: DEFAULT_LG_K,
            window_secs: None,
            distinct: true,
            workers: 1,
        }
    }
}

/// Most memory the sketches of one rolling window may hold (`window / interval` sketches of
/// `2^lg_k` bytes each).
pub const MAX_WINDOW_BYTES: u64 = 256 << 20;

/// A configuration the aggregator cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The rolling window does not cover a whole number of intervals.
    #[error(
        "the window ({window_secs} s) must be a whole multiple of the interval ({interval_secs} s)"
    )]
    WindowNotMultiple {
        /// Window length in seconds.
        window_secs: u64,
        /// Interval length in seconds.
        interval_secs: u64,
    },
    /// The rolling window would keep too many interval sketches.
    #[error(
        "the window spans {intervals} intervals, whose sketches would take up to {bytes} bytes \
         (limit {MAX_WINDOW_BYTES}); use a longer interval, a shorter window or a lower --hll-lg-k"
    )]
    WindowTooLarge {
        /// Intervals in the window.
        intervals: u64,
        /// Bytes their sketches may take.
        bytes: u64,
    },
}

impl MonitorConfig {
    /// The configuration as the aggregator uses it: an interval of 0 seconds is 1.
    fn normalized(mut self) -> Self {
        self.interval_secs = self.interval_secs.max(1);
        self
    }

    /// Checks what the types cannot: that the window is a whole number of intervals, and that
    /// its sketches fit in [`MAX_WINDOW_BYTES`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::WindowNotMultiple`], [`ConfigError::WindowTooLarge`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Some(window_secs) = self.window_secs else {
            return Ok(());
        };
        let interval_secs = self.interval_secs.max(1);
        if window_secs == 0 || window_secs % interval_secs != 0 {
            return Err(ConfigError::WindowNotMultiple {
                window_secs,
                interval_secs,
            });
        }
        let intervals = window_secs / interval_secs;
        let bytes = intervals.saturating_mul(1 << self.hll_lg_k.min(63));
        if bytes > MAX_WINDOW_BYTES {
            return Err(ConfigError::WindowTooLarge { intervals, bytes });
        }
        Ok(())
    }
}

/// Addresses of each kind (sources, destinations) whose fan-out or fan-in is counted at once:
/// eight per top-list entry, at least 256, so that the top lists by packets and by bytes fit
/// with room for the churn of keys competing for a bucket.
pub fn tracked_keys(top: usize) -> usize {
    top.saturating_mul(8).max(256)
}

/// Precision of each fan-in and fan-out counter: two more than the interval's (half its
/// standard error), at most 14. The fan-in of one address is the figure an alert compares with
/// a threshold: at 14 (16 KiB of registers once an address has more than about 1 500 peers) its
/// standard error is 0.65%, so a 3% miss is a 4.6-sigma event, where at 12 it is a 2.3-sigma one
/// (on the shipped SYN flood the interval's count at 12 is 3.5% low, the victim's fan-in at 14
/// 1.3% low). The cap bounds the per-key memory whatever `--hll-lg-k` is.
pub fn fan_lg_k(hll_lg_k: u8) -> u8 {
    hll_lg_k.saturating_add(2).min(14)
}

/// Heavy hitters of one view (flows, sources or destinations), by packets and by bytes.
enum HeavyHitters<K> {
    Sketched {
        packets: CuckooHeavyKeeper<K>,
        bytes: CuckooHeavyKeeper<K>,
    },
    Exact {
        counts: HashMap<K, (u64, u64), ahash::RandomState>,
        /// The key hash of [`HeavyHitters::hash`]: seeded, unlike the map's, so that
        /// tracked-key placement (and with it every report) is the same on every run.
        hasher: ahash::RandomState,
    },
}

/// Seeds of the exact-mode key hash.
const EXACT_HASH_SEEDS: [u64; 4] = [0x6868, 0x6d6f, 0x6e5f, 0x6578];

/// A key of a view, with the hash its sketches place it by.
///
/// The sketches take the fingerprint from the low 16 bits and the buckets from the high 32
/// bits, and the worker threads the owner from bits 16 to 32, so every bit must depend on
/// every bit of the key. `#[derive(Hash)]` through a general hasher gets there in about nine
/// rounds for a five-tuple (the address enums write their discriminants, the ports and the
/// protocol one write each); these hashes read each key as one or two whole words instead, and
/// the five-tuple's folds in the hashes of its two addresses, which the address views compute
/// for the same packet anyway ([`HeavyHitters::flow_hash`]).
trait ViewKey: Hash + Eq + Clone + Ord {
    /// The key's hash: the same on every run, and across the views' sketches.
    fn view_hash(&self) -> u64;
}

/// Keys of the view hashes (digits of pi, as any fixed odd constants would do): fixed, so that
/// a replay gives the same reports every time.
const VIEW_HASH_KEYS: [u64; 5] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
];

/// The 128-bit product of `a` and `b` folded to 64 bits: every output bit depends on every
/// input bit of both (the mixing step of ahash's fallback hasher and of folded-multiply
/// hashes in general).
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl ViewKey for IpAddr {
    /// An IPv4 address is one word and an IPv6 address two, each folded with its own keys, so
    /// an IPv4 address and the IPv6 address with the same low bytes hash apart.
    #[inline]
    fn view_hash(&self) -> u64 {
        let [k0, k1, k2, k3, _] = VIEW_HASH_KEYS;
        let mixed = match self {
            IpAddr::V4(v4) => folded_multiply(u64::from(v4.to_bits()) ^ k0, k1),
            IpAddr::V6(v6) => {
                let bits = v6.to_bits();
                folded_multiply((bits as u64) ^ k2, ((bits >> 64) as u64) ^ k3)
            }
        };
        folded_multiply(mixed, k1)
    }
}

impl ViewKey for FlowKey {
    #[inline]
    fn view_hash(&self) -> u64 {
        flow_view_hash(self, self.src.view_hash(), self.dst.view_hash())
    }
}

/// The view hash of `key`, given those of its addresses: theirs with the ports and the protocol
/// folded into them.
#[inline]
fn flow_view_hash(key: &FlowKey, src_hash: u64, dst_hash: u64) -> u64 {
    let [k0, .., k4] = VIEW_HASH_KEYS;
    let ports =
        u64::from(key.src_port) << 24 | u64::from(key.dst_port) << 8 | u64::from(key.protocol);
    folded_multiply(folded_multiply(src_hash ^ ports, dst_hash ^ k4), k0)
}

impl<K: ViewKey> HeavyHitters<K> {
    fn new(config: &MonitorConfig) -> Self {
        if config.exact {
            let [a, b, c, d] = EXACT_HASH_SEEDS;
            HeavyHitters::Exact {
                counts: HashMap::default(),
                hasher: ahash::RandomState::with_seeds(a, b, c, d),
            }
        } else {
            // Both fed the key's view hash, so one hash serves both sketches.
            HeavyHitters::Sketched {
                packets: CuckooHeavyKeeper::with_memory(config.sketch_bytes),
                bytes: CuckooHeavyKeeper::with_memory(config.sketch_bytes),
            }
        }
    }

    /// Counts `packets` packets of `bytes` bytes in all for `key`, of [`hash`](Self::hash)
    /// `hash`; returns the key's packet count with them (estimated when sketched: the packets
    /// sketch's count after the insert), what a fan table needs to consider admitting the key.
    #[inline(always)]
    fn add(&mut self, key: &K, hash: u64, packets: u64, bytes: u64) -> u64 {
        match self {
            HeavyHitters::Sketched {
                packets: packet_sketch,
                bytes: byte_sketch,
            } => {
                let count = packet_sketch.add_hashed(key, hash, packets);
                byte_sketch.add_hashed(key, hash, bytes);
                count
            }
            HeavyHitters::Exact { counts, .. } => {
                let entry = counts.entry(key.clone()).or_default();
                entry.0 += packets;
                entry.1 += bytes;
                entry.0
            }
        }
    }

    /// Reads what [`add`](Self::add) of a key of hash `hash` reads first and returns a word of
    /// it (see [`CuckooHeavyKeeper::prefetch`]).
    #[inline]
    fn prefetch(&self, hash: u64) -> u16 {
        match self {
            HeavyHitters::Sketched { packets, bytes } => {
                packets.prefetch(hash) ^ bytes.prefetch(hash)
            }
            HeavyHitters::Exact { .. } => 0,
        }
    }

    /// The hash of `key` that [`add`](Self::add) and the fan tables take.
    fn hash(&self, key: &K) -> u64 {
        match self {
            HeavyHitters::Sketched { .. } => key.view_hash(),
            HeavyHitters::Exact { hasher, .. } => hasher.hash_one(key),
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
                        let other_count = other.count_hashed(key, key.view_hash());
                        if by_bytes {
                            (key.clone(), other_count, count)
                        } else {
                            (key.clone(), count, other_count)
                        }
                    })
                    .collect()
            }
            HeavyHitters::Exact { counts, .. } => {
                let entries = counts
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
            HeavyHitters::Exact { counts, .. } => counts.clear(),
        }
    }
}

impl HeavyHitters<FlowKey> {
    /// [`hash`](Self::hash) of `key`, given the hashes of its addresses by address views of
    /// the same mode (which sketched views fold into it instead of hashing them again).
    #[inline]
    fn flow_hash(&self, key: &FlowKey, src_hash: u64, dst_hash: u64) -> u64 {
        match self {
            HeavyHitters::Sketched { .. } => flow_view_hash(key, src_hash, dst_hash),
            HeavyHitters::Exact { hasher, .. } => hasher.hash_one(key),
        }
    }
}

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

    fn merge(&mut self, other: &Tally) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        for (total, add) in self.unparsed.iter_mut().zip(other.unparsed) {
            *total += add;
        }
        self.transport_truncated += other.transport_truncated;
        for (total, add) in self.decap_fallback.iter_mut().zip(other.decap_fallback) {
            *total += add;
        }
    }
}

/// The distinct counts of an interval: addresses overall, and the peers of the heavy ones.
struct DistinctViews {
    sources: DistinctCounter,
    destinations: DistinctCounter,
    /// Per tracked destination, its distinct sources.
    fan_in: KeyedDistinct<IpAddr>,
    /// Per tracked source, its distinct destinations.
    fan_out: KeyedDistinct<IpAddr>,
    /// Distinct sources of the last closed intervals, when a window is configured.
    window: Option<SlidingDistinct>,
}

impl DistinctViews {
    fn new(config: &MonitorConfig) -> Self {
        let tracked = tracked_keys(config.top);
        let fan_lg_k = fan_lg_k(config.hll_lg_k);
        Self {
            sources: DistinctCounter::new(config.hll_lg_k),
            destinations: DistinctCounter::new(config.hll_lg_k),
            fan_in: KeyedDistinct::new(tracked, fan_lg_k),
            fan_out: KeyedDistinct::new(tracked, fan_lg_k),
            window: config
                .window_secs
                .map(|window| SlidingDistinct::new(window, config.interval_secs, config.hll_lg_k)),
        }
    }

    /// Counts `packets` decoded packets of flow `key`. The source and the destination come
    /// with their heavy-hitter hashes, their packet counts (these packets included, as
    /// [`HeavyHitters::add`] returned them: a fan table considering an address for admission
    /// needs its count) and their coupons ([`address_coupon`]).
    #[inline]
    fn observe(
        &mut self,
        key: &FlowKey,
        packets: u64,
        (src_hash, src_packets, src): (u64, u64, Coupon),
        (dst_hash, dst_packets, dst): (u64, u64, Coupon),
    ) {
        self.sources.insert_coupon(src);
        self.destinations.insert_coupon(dst);
        self.fan_in
            .insert(&key.dst, dst_hash, src, packets, || dst_packets);
        self.fan_out
            .insert(&key.src, src_hash, dst, packets, || src_packets);
    }

    /// Fills the distinct fields of `report` (whose top lists are already set) and resets the
    /// views for the next interval.
    fn close(
        &mut self,
        report: &mut IntervalReport,
        sources: &HeavyHitters<IpAddr>,
        destinations: &HeavyHitters<IpAddr>,
    ) {
        report.distinct_sources = rounded(self.sources.estimate());
        report.distinct_destinations = rounded(self.destinations.estimate());
        report.sketches = Some(Sketches {
            sources: self.sources.to_base64(),
            destinations: self.destinations.to_base64(),
        });
        for entry in report
            .top_destinations
            .iter_mut()
            .chain(&mut report.top_destinations_by_bytes)
        {
            let hash = destinations.hash(&entry.address);
            entry.distinct_sources = self.fan_in.estimate(&entry.address, hash).map(rounded);
        }
        for entry in report
            .top_sources
            .iter_mut()
            .chain(&mut report.top_sources_by_bytes)
        {
            let hash = sources.hash(&entry.address);
            entry.distinct_destinations = self.fan_out.estimate(&entry.address, hash).map(rounded);
        }
        let lg_k = self.sources.lg_k();
        let mut interval_sources = std::mem::replace(&mut self.sources, DistinctCounter::new(lg_k));
        if let Some(window) = &mut self.window {
            interval_sources.shrink();
            let count = window.push(report.interval.start_unix, interval_sources);
            report.window = Some(WindowCounts {
                seconds: window.window_secs(),
                intervals: count.intervals as u64,
                distinct_sources: rounded(count.estimate),
            });
        }
        self.destinations.reset();
        self.fan_in.clear();
        self.fan_out.clear();
    }
}

/// An address's HLL coupon: its raw network-order bytes, as DataSketches hashes a byte array.
#[inline]
fn address_coupon(address: &IpAddr) -> Coupon {
    match address {
        IpAddr::V4(v4) => coupon_of_bytes(&v4.octets()),
        IpAddr::V6(v6) => coupon_of_bytes(&v6.octets()),
    }
}

/// A distinct-count estimate as a whole count.
fn rounded(estimate: f64) -> u64 {
    // A float-to-int `as` saturates and maps NaN to 0; estimates are finite and non-negative.
    estimate.round() as u64
}

/// The views a packet thread counts into: its own, or the owner threads'.
struct Views {
    flows: HeavyHitters<FlowKey>,
    sources: HeavyHitters<IpAddr>,
    destinations: HeavyHitters<IpAddr>,
    /// `None` when distinct counting is off, or when workers count.
    distinct: Option<DistinctViews>,
    /// This packet thread's end of the owner threads and the combiner, when workers count; the
    /// views above then only hash keys (their sketches have one bucket).
    workers: Option<parallel::Producer>,
}

impl Views {
    /// Counts a flow's packets that waited in the flow cache into every view.
    #[inline]
    fn count(
        &mut self,
        FlowCount {
            key,
            packets,
            bytes,
        }: FlowCount,
    ) {
        let src_hash = self.sources.hash(&key.src);
        let dst_hash = self.destinations.hash(&key.dst);
        let flow_hash = self.flows.flow_hash(&key, src_hash, dst_hash);
        if let Some(workers) = &mut self.workers {
            workers.dispatch(&key, packets, bytes, (flow_hash, src_hash, dst_hash));
            return;
        }
        // The six sketches' buckets are loaded together, so that their cache misses overlap,
        // and while they load the coupons are computed.
        std::hint::black_box(
            self.flows.prefetch(flow_hash)
                ^ self.sources.prefetch(src_hash)
                ^ self.destinations.prefetch(dst_hash),
        );
        let coupons = self
            .distinct
            .as_ref()
            .map(|_| (address_coupon(&key.src), address_coupon(&key.dst)));
        self.flows.add(&key, flow_hash, packets, bytes);
        let src_packets = self.sources.add(&key.src, src_hash, packets, bytes);
        let dst_packets = self.destinations.add(&key.dst, dst_hash, packets, bytes);
        if let (Some(distinct), Some((src, dst))) = (&mut self.distinct, coupons) {
            distinct.observe(
                &key,
                packets,
                (src_hash, src_packets, src),
                (dst_hash, dst_packets, dst),
            );
        }
    }
}

/// Accumulates packets into per-interval views and closes intervals on packet time.
pub struct IntervalAggregator {
    config: MonitorConfig,
    views: Views,
    /// The open interval's packets that have yet to reach the views.
    cache: FlowCache,
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
    /// An aggregator that counts on the calling thread (whatever `config.workers` says), with
    /// every sketch allocated up front (an interval length of 0 is taken as 1 second). Check
    /// the configuration with [`MonitorConfig::validate`] first: a window that is not a
    /// multiple of the interval is used as given, so its edge falls inside an interval, which
    /// counts whole.
    pub fn new(config: MonitorConfig) -> Self {
        Self::with_producer(config.normalized(), None)
    }

    /// The aggregator of one packet thread that sends its reports to `reports`, and the sender
    /// it must send the reports it returns to instead. With `config.workers` at 1 that is
    /// `reports` itself and the aggregator is [`new`](Self::new)'s; above 1 it starts that
    /// many owner threads and a combiner (`monitor/parallel.rs`): the aggregator's reports
    /// then carry only its interval and totals, and the combiner completes them and sends them
    /// on to `reports`, in interval order. The threads end once the aggregator and the returned
    /// sender are dropped, after the last report is sent; until then whoever waits for
    /// `reports` to close waits too.
    ///
    /// # Errors
    ///
    /// When the system refuses a thread.
    pub fn start(
        config: MonitorConfig,
        reports: Sender<IntervalReport>,
    ) -> std::io::Result<(Self, Sender<IntervalReport>)> {
        if config.workers <= 1 {
            return Ok((Self::new(config), reports));
        }
        let config = config.normalized();
        let (producers, parts) = parallel::start(&config, 1, reports)?;
        let producer = producers.into_iter().next();
        Ok((Self::with_producer(config, producer), parts))
    }

    /// [`start`](Self::start) for `producers` packet threads (live capture's readers) that
    /// share the owner threads (at least one, even when `config.workers` is 1): one aggregator
    /// for each, each keeping its own intervals and totals. The combiner sums the parts of the
    /// readers that report an interval and reports it once every reader has closed it; every
    /// reader must send the reports its aggregator returns to the returned sender.
    ///
    /// # Errors
    ///
    /// When the system refuses a thread.
    pub fn start_producers(
        config: MonitorConfig,
        producers: usize,
        reports: Sender<IntervalReport>,
    ) -> std::io::Result<(Vec<Self>, Sender<IntervalReport>)> {
        if producers <= 1 {
            let (aggregator, parts) = Self::start(config, reports)?;
            return Ok((vec![aggregator], parts));
        }
        let config = config.normalized();
        let (producers, parts) = parallel::start(&config, producers, reports)?;
        let aggregators = producers
            .into_iter()
            .map(|producer| Self::with_producer(config.clone(), Some(producer)))
            .collect();
        Ok((aggregators, parts))
    }

    /// An aggregator of a [normalized](MonitorConfig::normalized) configuration.
    fn with_producer(config: MonitorConfig, workers: Option<parallel::Producer>) -> Self {
        let local = MonitorConfig {
            sketch_bytes: if workers.is_some() {
                0
            } else {
                config.sketch_bytes
            },
            ..config.clone()
        };
        Self {
            views: Views {
                flows: HeavyHitters::new(&local),
                sources: HeavyHitters::new(&local),
                destinations: HeavyHitters::new(&local),
                distinct: (config.distinct && workers.is_none())
                    .then(|| DistinctViews::new(&config)),
                workers,
            },
            cache: FlowCache::new(),
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
                let report = self.close(false);
                self.open(start);
                report
            }
            Some(_) => None,
            None => {
                self.open(start);
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

    /// Closes the open interval (end of input, shutdown) and returns its report, or `None`
    /// when no packet arrived since the last close.
    pub fn finish(&mut self) -> Option<IntervalReport> {
        let report = self.close(false);
        self.interval_start = None;
        self.open_until_nanos = 0;
        if let Some(workers) = &mut self.views.workers {
            workers.finish();
        }
        report
    }

    /// Live capture's clock: at wall-clock time `now_nanos`, closes the open interval if `now`
    /// lies past its end, even when it saw no packet (a quiet link is news on a live monitor,
    /// and its capture statistics still need a report), and opens the interval of `now`, so
    /// packets read late still count in an open interval. Before anything is open it just
    /// opens the interval of `now`. Returns the closed interval's report.
    pub fn tick(&mut self, now_nanos: u64) -> Option<IntervalReport> {
        let now = self.interval_of(now_nanos);
        match self.interval_start {
            Some(open) if now > open => {
                let report = self.close(true);
                self.open(now);
                report
            }
            Some(_) => None,
            None => {
                self.open(now);
                None
            }
        }
    }

    /// Opens the interval starting at `start` (Unix seconds), telling the owner threads.
    fn open(&mut self, start: u64) {
        self.interval_start = Some(start);
        if let Some(workers) = &mut self.views.workers {
            workers.open(start);
        }
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
                if let Some(reason) = decoded.decap_fallback {
                    self.interval.decap_fallback[reason.index()] += 1;
                }
                let views = &mut self.views;
                self.cache.add(&key, wire_len, |flow| views.count(flow));
            }
            Err(reason) => self.interval.unparsed[reason.index()] += 1,
        }
    }

    /// The open interval's report, then a reset; `None` when nothing is open, or when it saw
    /// no packet unless `keep_empty`.
    fn close(&mut self, keep_empty: bool) -> Option<IntervalReport> {
        let start = self.interval_start?;
        let views = &mut self.views;
        self.cache.drain(|flow| views.count(flow));
        let reported = self.interval.packets > 0 || keep_empty;
        if let Some(workers) = &mut self.views.workers {
            workers.closed(start, reported);
        }
        if !reported {
            return None;
        }
        self.closed.merge(&self.interval);
        let top = self.config.top;
        let flows = |by_bytes| {
            self.views
                .flows
                .top(top, by_bytes)
                .into_iter()
                .map(|(key, packets, bytes)| FlowEntry::new(key, packets, bytes))
                .collect()
        };
        let addresses = |view: &HeavyHitters<IpAddr>, by_bytes| {
            view.top(top, by_bytes)
                .into_iter()
                .map(|(address, packets, bytes)| AddressEntry {
                    address,
                    packets,
                    bytes,
                    distinct_sources: None,
                    distinct_destinations: None,
                })
                .collect()
        };
        let mut report = IntervalReport {
            interval: IntervalSpan::new(start, self.config.interval_secs),
            totals: self.interval.to_totals(),
            cumulative: self.closed.to_totals(),
            distinct_sources: 0,
            distinct_destinations: 0,
            window: None,
            counting: if self.config.exact {
                Counting::Exact
            } else {
                Counting::Chk
            },
            top_flows: flows(false),
            top_flows_by_bytes: flows(true),
            top_sources: addresses(&self.views.sources, false),
            top_sources_by_bytes: addresses(&self.views.sources, true),
            top_destinations: addresses(&self.views.destinations, false),
            top_destinations_by_bytes: addresses(&self.views.destinations, true),
            capture: None,
            sketches: None,
        };
        if let Some(distinct) = &mut self.views.distinct {
            distinct.close(&mut report, &self.views.sources, &self.views.destinations);
        }
        self.interval = Tally::default();
        self.views.flows.clear();
        self.views.sources.clear();
        self.views.destinations.clear();
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
            decap_fallback: None,
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
        let mut monitor = IntervalAggregator::new(config(false));
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

    #[test]
    fn decap_fallbacks_count_by_reason_and_still_count_as_flows() {
        let fell_back = |src, reason| {
            flow(src, 1, 1).map(|decoded| Decoded {
                decap_fallback: Some(reason),
                ..decoded
            })
        };
        let mut monitor = IntervalAggregator::new(config(true));
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
            let mut monitor = IntervalAggregator::new(config(exact));
            // The scanner probes 200 addresses once; 150 sources hit the victim twice each;
            // 50 quiet pairs exchange one packet each. Below a few hundred values the sketches
            // keep exact coupons, so every count below is exact. The 201 sources fit the 256
            // tracked sources, so each is tracked from its first packet whatever order the
            // flow cache hands them on in (`tests/distinct.rs` measures what a newcomer to a
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
        let mut monitor = IntervalAggregator::new(config(false));
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
        let mut monitor = IntervalAggregator::new(MonitorConfig {
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
        let mut monitor = IntervalAggregator::new(MonitorConfig {
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

    #[test]
    fn a_window_must_be_a_whole_number_of_intervals_of_bounded_size() {
        let with = |window_secs, hll_lg_k| MonitorConfig {
            window_secs,
            hll_lg_k,
            ..config(false)
        };
        assert_eq!(with(None, 12).validate(), Ok(()));
        assert_eq!(with(Some(10), 12).validate(), Ok(()));
        assert_eq!(with(Some(3_600), 12).validate(), Ok(()));
        assert_eq!(
            with(Some(25), 12).validate(),
            Err(ConfigError::WindowNotMultiple {
                window_secs: 25,
                interval_secs: 10
            })
        );
        assert!(matches!(
            with(Some(5), 12).validate(),
            Err(ConfigError::WindowNotMultiple { .. })
        ));
        // A day of 10 s intervals: 8 640 sketches, 35 MB at lg_k 12, 2.3 GB at lg_k 18.
        assert_eq!(with(Some(86_400), 12).validate(), Ok(()));
        let error = with(Some(86_400), 18).validate().unwrap_err();
        assert_eq!(
            error,
            ConfigError::WindowTooLarge {
                intervals: 8_640,
                bytes: 8_640 << 18
            }
        );
        assert!(error.to_string().contains("8640 intervals"), "{error}");
    }

    #[test]
    fn view_hashes_agree_with_equality_and_tell_v4_from_v6() {
        let v4 = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(
            v4.view_hash(),
            "1.2.3.4".parse::<IpAddr>().unwrap().view_hash()
        );
        for v6 in ["::1.2.3.4", "::ffff:1.2.3.4", "102:304::"] {
            let v6: IpAddr = v6.parse().unwrap();
            assert_ne!(v4.view_hash(), v6.view_hash(), "{v6}");
        }
        let key = between(1, 2).unwrap().key;
        assert_eq!(key.view_hash(), between(1, 2).unwrap().key.view_hash());
        let others = [
            between(2, 1).unwrap().key,
            FlowKey {
                protocol: 17,
                ..key
            },
            FlowKey {
                src_port: key.dst_port,
                dst_port: key.src_port,
                ..key
            },
            FlowKey {
                src: "::10.0.0.1".parse().unwrap(),
                ..key
            },
        ];
        for other in others {
            assert_ne!(key.view_hash(), other.view_hash(), "{other:?}");
        }
    }

    #[test]
    fn a_flow_hash_from_its_address_hashes_is_the_flow_hash() {
        for exact in [false, true] {
            let config = config(exact);
            let flows = HeavyHitters::<FlowKey>::new(&config);
            let addresses = HeavyHitters::<IpAddr>::new(&config);
            for key in [
                between(1, 2).unwrap().key,
                FlowKey {
                    dst: "2001:db8::1".parse().unwrap(),
                    ..between(3, 4).unwrap().key
                },
            ] {
                let (src, dst) = (addresses.hash(&key.src), addresses.hash(&key.dst));
                assert_eq!(flows.flow_hash(&key, src, dst), flows.hash(&key), "{exact}");
            }
        }
    }

    /// Keys that differ in a few low bits (consecutive addresses, the ports of one host pair)
    /// must spread like random values over every bit range a consumer uses: the fingerprint
    /// (low 16 bits), the sketch and fan-table buckets (high 32) and the worker (bits 16..32).
    #[test]
    fn view_hashes_spread_similar_keys_like_random_values() {
        const N: u32 = 1 << 16;
        const BINS: u64 = 1024;
        let host = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let sets: [(&str, Vec<u64>); 3] = [
            ("IPv4", (0..N).map(|i| host(i).view_hash()).collect()),
            (
                "IPv6",
                (0..N)
                    .map(|i| IpAddr::V6((0x2001_0db8_u128 << 96 | u128::from(i)).into()))
                    .map(|a| a.view_hash())
                    .collect(),
            ),
            (
                "ports",
                (0..N)
                    .map(|i| FlowKey {
                        src_port: i as u16,
                        ..between(1, 2).unwrap().key
                    })
                    .map(|k| k.view_hash())
                    .collect(),
            ),
        ];
        for (name, hashes) in sets {
            // N random 16-bit fingerprints take N (1 - 1/e) = 41 427 values, sd about 110.
            let fingerprints: std::collections::HashSet<u16> =
                hashes.iter().map(|&h| h as u16).collect();
            assert!(
                fingerprints.len().abs_diff(41_427) < 1_000,
                "{name}: {} fingerprints",
                fingerprints.len()
            );
            // Chi-square over 1024 bins: 1023 degrees of freedom, mean 1023, sd 45.
            for (range, bin) in [
                (
                    "high 32 bits",
                    (|h: u64| ((h >> 32) * BINS) >> 32) as fn(u64) -> u64,
                ),
                ("bits 16..32", |h: u64| (((h >> 16) & 0xffff) * BINS) >> 16),
            ] {
                let mut counts = vec![0u64; BINS as usize];
                for &h in &hashes {
                    counts[bin(h) as usize] += 1;
                }
                let expected = f64::from(N) / BINS as f64;
                let chi2: f64 = counts
                    .iter()
                    .map(|&c| (c as f64 - expected).powi(2) / expected)
                    .sum();
                assert!(chi2 < 1_300.0, "{name}, {range}: chi-square {chi2:.0}");
            }
        }
    }

    #[test]
    fn tracked_key_bounds_follow_top() {
        assert_eq!(tracked_keys(20), 256);
        assert_eq!(tracked_keys(100), 800);
        assert_eq!(fan_lg_k(12), 14);
        assert_eq!(fan_lg_k(16), 14);
        assert_eq!(fan_lg_k(8), 10);
    }
}
