//! The interval report: the one data model every output renders (JSON snapshots, Prometheus
//! text, the terminal table). Plain data with serde; it knows nothing of how it was computed.
//!
//! The JSON form is the snapshot contract, described by `docs/snapshot.schema.json`. Fields may
//! be added; existing ones keep their names and meaning. A snapshot loads when it has every field
//! the schema requires (all but `window` and `capture`) and names only reasons this build knows:
//! hhmon has always written those, so a file without them is damaged or not a snapshot.
//!
//! It also holds [`largest`], the one ranking rule of every top list, so that the monitor and
//! `merge` cannot order ties differently.

use crate::decode::{FlowKey, UnparsedReason};
use crate::prefix::Prefix;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::{Index, IndexMut};
use std::time::{Duration, UNIX_EPOCH};

/// Everything known about one closed interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalReport {
    /// The interval's bounds.
    pub interval: IntervalSpan,
    /// The sensor that counted it (`--sensor`, by default the host name), so that the reports
    /// of many sensors can be told apart once gathered; empty (and absent from JSON) in
    /// snapshots older than the field and in a merge of several sensors' reports.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sensor: String,
    /// Counts of this interval alone.
    pub totals: Totals,
    /// Counts since the monitor started (what Prometheus counters expose).
    pub cumulative: Totals,
    /// Estimated number of distinct source addresses in the interval (HyperLogLog).
    pub distinct_sources: u64,
    /// Estimated number of distinct destination addresses in the interval (HyperLogLog).
    pub distinct_destinations: u64,
    /// Distinct sources over the rolling window ending with this interval; only with a window
    /// configured (`--window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowCounts>,
    /// How heavy hitters were counted.
    pub counting: Counting,
    /// Top flows ranked by packets.
    pub top_flows: Vec<FlowEntry>,
    /// Top flows ranked by bytes.
    pub top_flows_by_bytes: Vec<FlowEntry>,
    /// Top source addresses ranked by packets.
    pub top_sources: Vec<AddressEntry>,
    /// Top source addresses ranked by bytes.
    pub top_sources_by_bytes: Vec<AddressEntry>,
    /// Top destination addresses ranked by packets.
    pub top_destinations: Vec<AddressEntry>,
    /// Top destination addresses ranked by bytes.
    pub top_destinations_by_bytes: Vec<AddressEntry>,
    /// Top source prefixes ranked by packets: the top entries of every configured length, one
    /// length after the other (IPv4 lengths first, shortest first), each ranked on its own.
    /// Empty in snapshots older than prefix views and with prefix views off.
    #[serde(default)]
    pub top_source_prefixes: Vec<PrefixEntry>,
    /// Top source prefixes ranked by bytes, grouped by length as `top_source_prefixes`.
    #[serde(default)]
    pub top_source_prefixes_by_bytes: Vec<PrefixEntry>,
    /// Top destination prefixes ranked by packets, grouped by length as `top_source_prefixes`.
    #[serde(default)]
    pub top_destination_prefixes: Vec<PrefixEntry>,
    /// Top destination prefixes ranked by bytes, grouped by length as `top_source_prefixes`.
    #[serde(default)]
    pub top_destination_prefixes_by_bytes: Vec<PrefixEntry>,
    /// The share of the interval's packets a prefix must carry on its own to be a
    /// hierarchical heavy hitter (`--hhh-share`), so that `hhmon merge` recomputes the lists
    /// by the same rule; [`DEFAULT_HIERARCHICAL_SHARE`] in snapshots older than the field.
    #[serde(
        default = "default_hierarchical_share",
        deserialize_with = "hierarchical_share"
    )]
    pub hierarchical_share: f64,
    /// The hierarchical heavy hitters among the source prefixes and addresses listed by
    /// packets: those whose packets, less those of their own hierarchical heavy descendants,
    /// are at least `hierarchical_share` of the interval's (see `monitor::hhh`). Longest
    /// first; a single address is a full-length prefix.
    #[serde(default)]
    pub hierarchical_source_prefixes: Vec<HierarchicalEntry>,
    /// The same for destinations.
    #[serde(default)]
    pub hierarchical_destination_prefixes: Vec<HierarchicalEntry>,
    /// The listed keys that rose most against their recent intervals, and the new talkers
    /// (see `monitor::changes`); absent in merged reports, which have no single past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// The interval's distinct-count sketches, to merge intervals and sensors later. `None`
    /// only when the library runs with distinct counting off (benchmarks price it that way);
    /// hhmon always counts distinct, so every snapshot it writes has them, and one without them
    /// does not load.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub sketches: Option<Sketches>,
    /// libpcap's statistics of a live capture; absent (`null`) for file replays.
    #[serde(default)]
    pub capture: Option<CaptureStats>,
    /// What `hhmon collect` received from its exporters since it started; absent for packet
    /// captures and replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryStats>,
}

/// Flow telemetry received since the collector started, per exporter: the busiest
/// [`TelemetryStats::LISTED`] by datagrams each with its counts (so that labels stay bounded),
/// the others summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryStats {
    /// The busiest exporters, most datagrams first (ties by address).
    pub exporters: Vec<ExporterStats>,
    /// Every other exporter, summed.
    pub other: ExporterCounts,
    /// Exporters heard from since the start, listed or not (the collector tracks at most a
    /// fixed number; those beyond count in `other` only).
    pub exporters_seen: u64,
    /// The busiest sFlow interfaces, by octets moved while the collector listened, with their
    /// agents' latest counters.
    #[serde(default)]
    pub interfaces: Vec<InterfaceStats>,
    /// sFlow interface counter records of interfaces beyond the collector's table, not kept.
    #[serde(default)]
    pub interfaces_untracked_records: u64,
    /// Datagrams the kernel dropped because a socket's receive buffer was full, since the
    /// collector started; absent when reading capture files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_drops: Option<u64>,
}

/// One interface's latest counters, as its sFlow agent polled them (running totals since the
/// agent started: octets are 64-bit, packets the sum of three 32-bit counters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStats {
    /// The agent: the address its datagrams name, or their IP source.
    pub agent: IpAddr,
    /// The interface's ifIndex.
    pub if_index: u32,
    /// ifInOctets.
    pub in_octets: u64,
    /// ifInUcastPkts + ifInMulticastPkts + ifInBroadcastPkts.
    pub in_packets: u64,
    /// ifOutOctets.
    pub out_octets: u64,
    /// ifOutUcastPkts + ifOutMulticastPkts + ifOutBroadcastPkts.
    pub out_packets: u64,
}

impl TelemetryStats {
    /// Exporters listed by name in a report.
    pub const LISTED: usize = 20;
}

/// One exporter's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExporterStats {
    /// The exporter: the IP source of its datagrams.
    pub exporter: IpAddr,
    /// Its counts since the start.
    #[serde(flatten)]
    pub counts: ExporterCounts,
}

/// What an exporter sent, and what of it could not be counted, since the start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExporterCounts {
    /// Datagrams received.
    pub datagrams: u64,
    /// Flow records (NetFlow, IPFIX) and flow samples (sFlow) counted.
    pub records: u64,
    /// Datagrams lost on the way, from sequence numbers.
    pub lost_datagrams: u64,
    /// Records or samples lost on the way or dropped by the exporter, from sequence numbers.
    pub lost_records: u64,
    /// Data sets whose template was not known.
    pub template_misses: u64,
    /// Datagrams malformed in whole or part, by reason.
    pub malformed: BTreeMap<String, u64>,
}

impl ExporterCounts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &ExporterCounts) {
        self.datagrams += other.datagrams;
        self.records += other.records;
        self.lost_datagrams += other.lost_datagrams;
        self.lost_records += other.lost_records;
        self.template_misses += other.template_misses;
        for (reason, count) in &other.malformed {
            *self.malformed.entry(reason.clone()).or_default() += count;
        }
    }
}

/// Deserializes a field that is `Option` in memory but required in snapshots: serde would
/// otherwise read a missing `Option` field as `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// How heavy hitters were counted; `"chk"` or `"exact"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counting {
    /// Estimated by Cuckoo Heavy Keeper sketches.
    Chk,
    /// Counted exactly in hash maps (`--exact`).
    Exact,
}

impl Counting {
    /// The JSON and table form.
    pub fn as_str(self) -> &'static str {
        match self {
            Counting::Chk => "chk",
            Counting::Exact => "exact",
        }
    }
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What libpcap saw and dropped on a live interface, read when the interval closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// Since the previous interval closed.
    pub interval: CaptureCounts,
    /// Since the capture opened.
    pub cumulative: CaptureCounts,
    /// The same per reader, by reader number, when `--readers` shares the interface among
    /// several captures (PACKET_FANOUT); empty (and absent from snapshots) with one. Every
    /// reader that reported since the capture opened is listed in every interval, so its
    /// counters never vanish from the metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<ReaderCapture>,
}

/// One reader's share of a capture shared among several (`--readers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderCapture {
    /// The reader's number, from 0.
    pub reader: u32,
    /// Since the previous interval closed.
    pub interval: CaptureCounts,
    /// Since the capture opened.
    pub cumulative: CaptureCounts,
}

impl CaptureStats {
    /// Whether any frame was dropped in the interval.
    pub fn dropped_in_interval(&self) -> bool {
        self.interval.dropped_kernel > 0 || self.interval.dropped_interface > 0
    }
}

/// libpcap's capture counters.
///
/// `received` counts frames that passed the filter, including those the kernel then dropped
/// (Linux); frames still in the kernel buffer when the interval closed are received but counted
/// in the next interval's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureCounts {
    /// Frames that passed the filter.
    pub received: u64,
    /// Frames dropped because the capture buffer was full (hhmon fell behind).
    pub dropped_kernel: u64,
    /// Frames dropped by the interface or its driver before the kernel saw them.
    pub dropped_interface: u64,
}

impl CaptureCounts {
    /// Adds `other`'s counts to these (saturating).
    pub fn add(&mut self, other: &CaptureCounts) {
        self.received = self.received.saturating_add(other.received);
        self.dropped_kernel = self.dropped_kernel.saturating_add(other.dropped_kernel);
        self.dropped_interface = self
            .dropped_interface
            .saturating_add(other.dropped_interface);
    }
}

/// Distinct counts over a rolling window of intervals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    /// Window length in seconds (a multiple of the interval).
    pub seconds: u64,
    /// Intervals with traffic in the window, this one included.
    pub intervals: u64,
    /// Estimated number of distinct source addresses in the window (exact union of the
    /// intervals' HyperLogLog sketches).
    pub distinct_sources: u64,
}

/// Serialized Apache DataSketches HLL sketches, standard base64. Addresses are hashed as their
/// raw network-order bytes (4 for IPv4, 16 for IPv6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketches {
    /// The interval's source addresses.
    pub sources: String,
    /// The interval's destination addresses.
    pub destinations: String,
}

/// An interval `[start, start + seconds)`, aligned to a multiple of its length since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalSpan {
    /// Start, RFC 3339 in UTC.
    pub start: String,
    /// End (exclusive), RFC 3339 in UTC.
    pub end: String,
    /// Start, seconds since the Unix epoch.
    pub start_unix: u64,
    /// Length in seconds.
    pub seconds: u64,
}

impl IntervalSpan {
    /// The span starting at `start_unix` and lasting `seconds`.
    pub fn new(start_unix: u64, seconds: u64) -> Self {
        Self {
            start: rfc3339(start_unix),
            end: rfc3339(start_unix.saturating_add(seconds)),
            start_unix,
            seconds,
        }
    }
}

fn rfc3339(unix_seconds: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(unix_seconds).min(MAX_RFC3339);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// humantime formats years up to 9999; a corrupt timestamp beyond that is clamped.
const MAX_RFC3339: Duration = Duration::from_secs(253_402_300_799);

/// Packet and byte counts, and what could not be decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Every frame read, decoded or not.
    pub packets: u64,
    /// Wire bytes of every frame read (pcap `len`).
    pub bytes: u64,
    /// Frames that produced no flow key.
    pub unparsed_packets: u64,
    /// `unparsed_packets` split by reason.
    pub unparsed_by_reason: ReasonCounts,
    /// Frames counted as flows with ports 0 because the transport header was cut short.
    pub transport_truncated: u64,
    /// With `--decap`: frames counted under the last IP header read because the tunnel it
    /// carries could not be opened, by why not (always zero without `--decap`).
    pub decap_fallback_by_reason: ReasonCounts,
}

impl Totals {
    /// Adds `other`'s counts to these (saturating), reason by reason.
    pub fn add(&mut self, other: &Totals) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.unparsed_packets = self.unparsed_packets.saturating_add(other.unparsed_packets);
        self.unparsed_by_reason.add(&other.unparsed_by_reason);
        self.transport_truncated = self
            .transport_truncated
            .saturating_add(other.transport_truncated);
        self.decap_fallback_by_reason
            .add(&other.decap_fallback_by_reason);
    }
}

/// A count per [`UnparsedReason`]. In JSON an object with every reason's name as a key, in name
/// order; loading refuses an object that lacks a reason, repeats one or names one this build
/// does not know (a fixed array cannot carry it, and dropping it would leave a split that no
/// longer adds up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonCounts([u64; UnparsedReason::COUNT]);

/// Every reason in the order of its name, the key order snapshots have always had.
const BY_NAME: [UnparsedReason; UnparsedReason::COUNT] = [
    UnparsedReason::Malformed,
    UnparsedReason::NotIp,
    UnparsedReason::Truncated,
    UnparsedReason::UnsupportedEncapsulation,
    UnparsedReason::UnsupportedLinkType,
];

impl ReasonCounts {
    /// Counts indexed by [`UnparsedReason::index`].
    pub const fn new(counts: [u64; UnparsedReason::COUNT]) -> Self {
        Self(counts)
    }

    /// Every reason with its count, in name order (as in JSON and the table).
    pub fn iter(&self) -> impl Iterator<Item = (UnparsedReason, u64)> + '_ {
        BY_NAME.iter().map(|&reason| (reason, self[reason]))
    }

    /// The sum over every reason (saturating).
    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .fold(0, |sum, &count| sum.saturating_add(count))
    }

    /// Adds `other`'s counts to these, reason by reason (saturating).
    pub fn add(&mut self, other: &ReasonCounts) {
        for (total, count) in self.0.iter_mut().zip(other.0) {
            *total = total.saturating_add(count);
        }
    }
}

impl Index<UnparsedReason> for ReasonCounts {
    type Output = u64;

    fn index(&self, reason: UnparsedReason) -> &u64 {
        &self.0[reason.index()]
    }
}

impl IndexMut<UnparsedReason> for ReasonCounts {
    fn index_mut(&mut self, reason: UnparsedReason) -> &mut u64 {
        &mut self.0[reason.index()]
    }
}

impl Serialize for ReasonCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(UnparsedReason::COUNT))?;
        for (reason, count) in self.iter() {
            map.serialize_entry(reason.as_str(), &count)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ReasonCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ReasonCountsVisitor)
    }
}

struct ReasonCountsVisitor;

impl<'de> Visitor<'de> for ReasonCountsVisitor {
    type Value = ReasonCounts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a count for every reason")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReasonCounts, A::Error> {
        let mut counts = [None; UnparsedReason::COUNT];
        while let Some(name) = map.next_key::<String>()? {
            let reason = UnparsedReason::ALL
                .into_iter()
                .find(|reason| reason.as_str() == name.as_str())
                .ok_or_else(|| {
                    let known: Vec<&str> = BY_NAME.iter().map(|r| r.as_str()).collect();
                    de::Error::custom(format_args!(
                        "unknown reason `{name}`, expected one of {}",
                        known.join(", ")
                    ))
                })?;
            let slot = &mut counts[reason.index()];
            if slot.is_some() {
                return Err(de::Error::custom(format_args!(
                    "reason `{name}` given twice"
                )));
            }
            *slot = Some(map.next_value()?);
        }
        let mut loaded = ReasonCounts::default();
        for reason in UnparsedReason::ALL {
            loaded[reason] =
                counts[reason.index()].ok_or_else(|| de::Error::missing_field(reason.as_str()))?;
        }
        Ok(loaded)
    }
}

/// The `n` largest `items` by `rank` (count, then key ascending on ties), largest first: the
/// order of every top list, whether the monitor ranks its counters or `merge` its sums. Keys
/// are unique, so the order is total and unstable selection deterministic. Holds at most
/// `2n + 1` items at a time: ranking a sketch costs no memory in proportion to its size.
pub fn largest<T, K: Ord>(
    items: impl IntoIterator<Item = T>,
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

/// The `n` keys of `counts` (packets and bytes per key) with the most packets, or bytes,
/// with both counts, ranked by [`largest`]: an exact top list.
pub fn largest_counts<K: Ord, S>(
    counts: &std::collections::HashMap<K, (u64, u64), S>,
    n: usize,
    by_bytes: bool,
) -> Vec<(&K, u64, u64)> {
    let entries = counts
        .iter()
        .map(|(key, &(packets, bytes))| (key, packets, bytes));
    largest(entries, n, |&(key, packets, bytes)| {
        (if by_bytes { bytes } else { packets }, key)
    })
}

/// Which figures of a top-list entry are lower bounds. A sketched list ranks its keys by one
/// figure (an estimate) and gives the other as counted since the key was tracked: every
/// packet or byte of it was really sent, but what came before the key was tracked is missing.
/// In JSON a list of the figures' names (`["bytes"]`), absent when neither is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Figure>", into = "Vec<Figure>")]
pub struct LowerBound {
    /// The packets figure is a lower bound.
    pub packets: bool,
    /// The bytes figure is a lower bound.
    pub bytes: bool,
}

impl LowerBound {
    /// Neither figure is a lower bound.
    pub const NONE: Self = Self {
        packets: false,
        bytes: false,
    };

    /// The bound of an entry of a list ranked by `ranked` under `counting`: the other figure
    /// is a lower bound when sketched, nothing is when exact.
    pub fn of_list(counting: Counting, ranked: Figure) -> Self {
        match counting {
            Counting::Exact => Self::NONE,
            Counting::Chk => Self {
                packets: ranked == Figure::Bytes,
                bytes: ranked == Figure::Packets,
            },
        }
    }

    /// Whether neither figure is a lower bound.
    pub fn is_none(&self) -> bool {
        !self.packets && !self.bytes
    }

    /// The bound of a sum of figures with bounds `self` and `other`: a lower bound wherever
    /// either part is one.
    pub fn or(self, other: Self) -> Self {
        Self {
            packets: self.packets || other.packets,
            bytes: self.bytes || other.bytes,
        }
    }
}

/// One of the two figures of a top-list entry; `"packets"` or `"bytes"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Figure {
    /// The packets count.
    Packets,
    /// The bytes count.
    Bytes,
}

impl From<Vec<Figure>> for LowerBound {
    fn from(figures: Vec<Figure>) -> Self {
        Self {
            packets: figures.contains(&Figure::Packets),
            bytes: figures.contains(&Figure::Bytes),
        }
    }
}

impl From<LowerBound> for Vec<Figure> {
    fn from(bound: LowerBound) -> Self {
        [
            (bound.packets, Figure::Packets),
            (bound.bytes, Figure::Bytes),
        ]
        .into_iter()
        .filter_map(|(bounded, figure)| bounded.then_some(figure))
        .collect()
    }
}

/// One flow of a top list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEntry {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (0 when the protocol has none, or on non-first fragments).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// Packets in the interval (estimated unless counting is exact).
    pub packets: u64,
    /// Wire bytes in the interval (estimated unless counting is exact).
    pub bytes: u64,
    /// Which of the two figures is a lower bound (see [`LowerBound`]).
    #[serde(default, skip_serializing_if = "LowerBound::is_none")]
    pub lower_bound: LowerBound,
}

impl FlowEntry {
    /// The entry of flow `key` with its counts.
    pub fn new(key: FlowKey, packets: u64, bytes: u64) -> Self {
        Self {
            src: key.src,
            dst: key.dst,
            src_port: key.src_port,
            dst_port: key.dst_port,
            protocol: key.protocol,
            packets,
            bytes,
            lower_bound: LowerBound::default(),
        }
    }
}

/// One address of a top list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressEntry {
    /// The address.
    pub address: IpAddr,
    /// Packets in the interval.
    pub packets: u64,
    /// Wire bytes in the interval.
    pub bytes: u64,
    /// Which of the two figures is a lower bound (see [`LowerBound`]).
    #[serde(default, skip_serializing_if = "LowerBound::is_none")]
    pub lower_bound: LowerBound,
    /// On destination entries: estimated distinct sources that sent to this address (fan-in).
    /// Absent on source entries, and when the address was not among the tracked heavy keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_sources: Option<u64>,
    /// On source entries: estimated distinct destinations this address sent to (fan-out).
    /// Absent on destination entries, and when the address was not among the tracked keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_destinations: Option<u64>,
    /// With `--fan-sketches`: the sketch of `distinct_sources` (fan-in), a serialized
    /// DataSketches HLL in standard base64, hashed as the interval sketches are, so that the
    /// fan-in of an address can be unioned across intervals and sensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_sources_sketch: Option<String>,
    /// With `--fan-sketches`: the sketch of `distinct_destinations` (fan-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_destinations_sketch: Option<String>,
}

impl AddressEntry {
    /// The entry of `address` with its counts: exact (no lower bound), no fan figure.
    pub fn new(address: IpAddr, packets: u64, bytes: u64) -> Self {
        Self {
            address,
            packets,
            bytes,
            lower_bound: LowerBound::NONE,
            distinct_sources: None,
            distinct_destinations: None,
            distinct_sources_sketch: None,
            distinct_destinations_sketch: None,
        }
    }
}

/// One prefix of a top list: a network of sources or destinations, its traffic and how many of
/// its addresses were seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixEntry {
    /// The network, in CIDR notation in JSON (`10.1.2.0/24`).
    pub prefix: Prefix,
    /// Its length in bits (the figure after the slash), to select one length's list.
    pub length: u8,
    /// Packets in the interval from (source prefixes) or to (destination prefixes) it.
    pub packets: u64,
    /// Wire bytes in the interval.
    pub bytes: u64,
    /// Which of the two figures is a lower bound (see [`LowerBound`]).
    #[serde(default, skip_serializing_if = "LowerBound::is_none")]
    pub lower_bound: LowerBound,
    /// Estimated distinct addresses of the prefix seen in the interval (as sources of source
    /// prefixes, destinations of destination prefixes): many at once in a prefix marks carpet
    /// bombing or a botnet subnet. Absent when the prefix was not among the tracked heavy keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_addresses: Option<u64>,
    /// With `--fan-sketches`: the sketch of `distinct_addresses`, a serialized DataSketches HLL
    /// in standard base64 hashed as the interval sketches are, to union across intervals and
    /// sensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_addresses_sketch: Option<String>,
}

impl PrefixEntry {
    /// The entry of `prefix` with its counts: exact (no lower bound), no distinct count.
    pub fn new(prefix: Prefix, packets: u64, bytes: u64) -> Self {
        Self {
            prefix,
            length: prefix.length(),
            packets,
            bytes,
            lower_bound: LowerBound::NONE,
            distinct_addresses: None,
            distinct_addresses_sketch: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn span_renders_rfc3339_utc_bounds() {
        let span = IntervalSpan::new(1_700_000_000, 10);
        assert_eq!(span.start, "2023-11-14T22:13:20Z");
        assert_eq!(span.end, "2023-11-14T22:13:30Z");
    }

    fn counts(pairs: &[(UnparsedReason, u64)]) -> ReasonCounts {
        let mut counts = ReasonCounts::default();
        for &(reason, count) in pairs {
            counts[reason] = count;
        }
        counts
    }

    #[test]
    fn reason_counts_serialize_as_the_map_of_every_reason_by_name() {
        let counts = counts(&[
            (UnparsedReason::NotIp, 7),
            (UnparsedReason::UnsupportedEncapsulation, 2),
        ]);
        let as_map: std::collections::BTreeMap<&str, u64> = UnparsedReason::ALL
            .iter()
            .map(|&reason| (reason.as_str(), counts[reason]))
            .collect();
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, serde_json::to_string(&as_map).unwrap());
        assert_eq!(
            json,
            r#"{"malformed":0,"not_ip":7,"truncated":0,"unsupported_encapsulation":2,"unsupported_link_type":0}"#
        );
        assert_eq!(serde_json::from_str::<ReasonCounts>(&json).unwrap(), counts);
        assert_eq!(counts.total(), 9);
    }

    #[test]
    fn by_name_is_every_reason_sorted_by_name() {
        let mut sorted = UnparsedReason::ALL;
        sorted.sort_by_key(|reason| reason.as_str());
        assert_eq!(BY_NAME, sorted);
    }

    #[test]
    fn reason_counts_add_reason_by_reason_saturating() {
        let mut sum = counts(&[(UnparsedReason::Truncated, u64::MAX - 1)]);
        sum.add(&counts(&[
            (UnparsedReason::Truncated, 5),
            (UnparsedReason::Malformed, 3),
        ]));
        assert_eq!(
            sum,
            counts(&[
                (UnparsedReason::Truncated, u64::MAX),
                (UnparsedReason::Malformed, 3),
            ])
        );
        assert_eq!(sum.total(), u64::MAX);
    }

    #[test]
    fn reason_counts_refuse_unknown_missing_and_repeated_reasons() {
        let every = r#""malformed":0,"not_ip":1,"truncated":0,"unsupported_encapsulation":0,"unsupported_link_type":0"#;
        let load = |json: String| serde_json::from_str::<ReasonCounts>(&json);
        assert!(load(format!("{{{every}}}")).is_ok());

        let unknown = load(format!(r#"{{{every},"gre_truncated":4}}"#)).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("unknown reason `gre_truncated`"),
            "{unknown}"
        );

        let missing = load(format!(
            "{{{}}}",
            every.replace(r#","unsupported_link_type":0"#, "")
        ))
        .unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("missing field `unsupported_link_type`"),
            "{missing}"
        );

        let twice = load(format!(r#"{{{every},"not_ip":2}}"#)).unwrap_err();
        assert!(
            twice.to_string().contains("`not_ip` given twice"),
            "{twice}"
        );

        assert!(load(r#"{"not_ip":-1}"#.to_owned()).is_err());
    }

    #[test]
    fn counting_is_chk_or_exact_in_json_and_text() {
        for (counting, text) in [(Counting::Chk, "chk"), (Counting::Exact, "exact")] {
            assert_eq!(
                serde_json::to_string(&counting).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<Counting>(&format!("\"{text}\"")).unwrap(),
                counting
            );
            assert_eq!(counting.to_string(), text);
        }
        assert!(serde_json::from_str::<Counting>(r#""guess""#).is_err());
    }

    fn report() -> IntervalReport {
        let totals = Totals {
            packets: 3,
            bytes: 180,
            unparsed_packets: 1,
            unparsed_by_reason: counts(&[(UnparsedReason::NotIp, 1)]),
            transport_truncated: 0,
            decap_fallback_by_reason: ReasonCounts::default(),
        };
        listless(1_700_000_000, totals)
    }

    /// A report of the 10 s interval at `start_unix` with `totals` (in both `totals` and
    /// `cumulative`), one distinct source and destination, and empty top lists.
    pub(crate) fn listless(start_unix: u64, totals: Totals) -> IntervalReport {
        IntervalReport {
            interval: IntervalSpan::new(start_unix, 10),
            sensor: String::new(),
            totals: totals.clone(),
            cumulative: totals,
            distinct_sources: 1,
            distinct_destinations: 1,
            window: None,
            counting: Counting::Chk,
            top_flows: Vec::new(),
            top_flows_by_bytes: Vec::new(),
            top_sources: Vec::new(),
            top_sources_by_bytes: Vec::new(),
            top_destinations: Vec::new(),
            top_destinations_by_bytes: Vec::new(),
            top_source_prefixes: Vec::new(),
            top_source_prefixes_by_bytes: Vec::new(),
            top_destination_prefixes: Vec::new(),
            top_destination_prefixes_by_bytes: Vec::new(),
            hierarchical_share: DEFAULT_HIERARCHICAL_SHARE,
            hierarchical_source_prefixes: Vec::new(),
            hierarchical_destination_prefixes: Vec::new(),
            changes: None,
            sketches: Some(Sketches {
                sources: "AgEHDAMIAQAAAAAA".into(),
                destinations: "AgEHDAMIAQAAAAAA".into(),
            }),
            capture: None,
            telemetry: None,
        }
    }

    #[test]
    fn snapshots_load_only_with_sketches_and_every_totals_field() {
        let report = report();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            serde_json::from_value::<IntervalReport>(json.clone()).unwrap(),
            report
        );

        let mut without = json.clone();
        without.as_object_mut().unwrap().remove("sketches");
        let error = serde_json::from_value::<IntervalReport>(without).unwrap_err();
        assert!(
            error.to_string().contains("missing field `sketches`"),
            "{error}"
        );

        let mut null = json.clone();
        null["sketches"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<IntervalReport>(null).is_err());

        for field in ["unparsed_by_reason", "decap_fallback_by_reason"] {
            let mut without = json.clone();
            without["totals"].as_object_mut().unwrap().remove(field);
            let error = serde_json::from_value::<IntervalReport>(without).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("missing field `{field}`")),
                "{error}"
            );
        }
    }

    #[test]
    fn reports_without_sketches_are_written_without_the_field() {
        let mut report = report();
        report.sketches = None;
        let json = serde_json::to_value(&report).unwrap();
        assert!(json.get("sketches").is_none(), "{json}");
    }

    #[test]
    fn the_hierarchical_share_defaults_for_older_snapshots_and_must_be_a_fraction() {
        let json = serde_json::to_value(report()).unwrap();
        let mut older = json.clone();
        older.as_object_mut().unwrap().remove("hierarchical_share");
        let loaded: IntervalReport = serde_json::from_value(older).unwrap();
        assert_eq!(loaded.hierarchical_share, DEFAULT_HIERARCHICAL_SHARE);
        for (share, loads) in [
            (serde_json::json!(1), true),
            (serde_json::json!(0.03), true),
            (serde_json::json!(0), false),
            (serde_json::json!(-0.05), false),
            (serde_json::json!(1.5), false),
            (serde_json::json!("0.05"), false),
        ] {
            let mut changed = json.clone();
            changed["hierarchical_share"] = share.clone();
            let result = serde_json::from_value::<IntervalReport>(changed);
            assert_eq!(result.is_ok(), loads, "{share}: {result:?}");
        }
        assert!(!is_hierarchical_share(f64::NAN));
    }

    #[test]
    fn largest_ranks_by_count_then_key_whatever_the_input_order() {
        // Enough items to go through the bounded selection several times.
        let items: Vec<(u32, u64)> = (0..1_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761), u64::from(i % 7)))
            .collect();
        let mut sorted = items.clone();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for n in [0, 1, 3, 10, 999, 1_000, 5_000] {
            let top = largest(items.iter().copied(), n, |(key, count)| (*count, key));
            assert_eq!(top, sorted[..n.min(sorted.len())], "n = {n}");
        }
        let reversed = largest(items.iter().rev(), 10, |item| (item.1, &item.0));
        assert_eq!(
            reversed.into_iter().copied().collect::<Vec<_>>(),
            sorted[..10]
        );
    }

    #[test]
    fn absurd_timestamps_do_not_panic() {
        let span = IntervalSpan::new(u64::MAX - 1, 10);
        assert!(span.end.starts_with("9999-"));
    }
}

/// A view the change detector follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeView {
    /// Source addresses.
    Sources,
    /// Destination addresses.
    Destinations,
    /// Source prefixes.
    SourcePrefixes,
    /// Destination prefixes.
    DestinationPrefixes,
}

impl ChangeView {
    /// Whether its keys are single addresses.
    pub fn is_address(self) -> bool {
        matches!(self, ChangeView::Sources | ChangeView::Destinations)
    }

    /// Its name, as snapshots and metric labels write it.
    pub fn name(self) -> &'static str {
        match self {
            ChangeView::Sources => "sources",
            ChangeView::Destinations => "destinations",
            ChangeView::SourcePrefixes => "source_prefixes",
            ChangeView::DestinationPrefixes => "destination_prefixes",
        }
    }
}

/// A key listed in the interval, against its recent past (see `monitor::changes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// Its view.
    pub view: ChangeView,
    /// The key: an address, or a prefix in CIDR notation.
    pub key: String,
    /// Packets in the interval.
    pub packets: u64,
    /// Wire bytes in the interval.
    pub bytes: u64,
    /// Its mean packets per interval before this one (0 for a key not seen recently).
    pub baseline_packets: u64,
    /// Its mean bytes per interval before this one.
    pub baseline_bytes: u64,
    /// The larger of its rise over the baseline in packets as a share of the interval's
    /// packets and in bytes as a share of the interval's bytes.
    pub score: f64,
    /// Whether the key was not among the tracked ones: compared with 0.
    pub new: bool,
}

/// The interval's sudden changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// Whether the baselines are still being built (the first intervals of a run): nothing is
    /// compared yet.
    pub warming_up: bool,
    /// The listed keys that rose most above their baselines, highest score first.
    pub rises: Vec<ChangeEntry>,
    /// Addresses listed this interval that were not tracked before, highest score first.
    pub new_talkers: Vec<ChangeEntry>,
}

/// The share of an interval's packets a prefix must carry on its own, beyond its heavy
/// descendants, to be a hierarchical heavy hitter, unless `--hhh-share` says otherwise.
pub const DEFAULT_HIERARCHICAL_SHARE: f64 = 0.05;

/// Whether `share` can be a hierarchical heavy hitter share: above 0 (at 0 every listed
/// prefix would be one) and at most 1 (the whole interval).
pub fn is_hierarchical_share(share: f64) -> bool {
    share > 0.0 && share <= 1.0
}

fn default_hierarchical_share() -> f64 {
    DEFAULT_HIERARCHICAL_SHARE
}

/// Deserializes `hierarchical_share`, refusing what the schema refuses, so that a damaged
/// snapshot cannot make `hhmon merge` name every listed prefix or none.
fn hierarchical_share<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let share = f64::deserialize(deserializer)?;
    if is_hierarchical_share(share) {
        Ok(share)
    } else {
        Err(de::Error::invalid_value(
            de::Unexpected::Float(share),
            &"a share above 0 and at most 1",
        ))
    }
}

/// A hierarchical heavy hitter: a prefix (or a single address) heavy on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchicalEntry {
    /// The network, in CIDR notation (`/32` or `/128` for a single address).
    pub prefix: Prefix,
    /// Its packets in the interval (as its top list has them).
    pub packets: u64,
    /// Its packets less those of its hierarchical heavy descendants: what it carries on its
    /// own.
    pub conditioned_packets: u64,
}
