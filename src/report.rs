//! The interval report: the one data model every output renders (JSON snapshots, Prometheus
//! text, the terminal table). Plain data with serde; it knows nothing of how it was computed.
//!
//! The JSON form is the snapshot contract, described by `docs/snapshot.schema.json`. Fields may
//! be added; existing ones keep their names and meaning.

use crate::decode::FlowKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

/// Everything known about one closed interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalReport {
    /// The interval's bounds.
    pub interval: IntervalSpan,
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
    /// How heavy hitters were counted: `"chk"` (Cuckoo Heavy Keeper) or `"exact"`.
    pub counting: String,
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
    /// The interval's distinct-count sketches, to merge intervals and sensors later; absent
    /// when distinct counting is off, and in snapshots written before sketches were added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketches: Option<Sketches>,
    /// libpcap's statistics of a live capture; absent (`null`) for file replays.
    #[serde(default)]
    pub capture: Option<CaptureStats>,
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
    /// `unparsed_packets` split by reason (every reason present, zeros included).
    pub unparsed_by_reason: BTreeMap<String, u64>,
    /// Frames counted as flows with ports 0 because the transport header was cut short.
    pub transport_truncated: u64,
    /// With `--decap`: frames counted under the last IP header read because the tunnel it
    /// carries could not be opened, by why not (every reason present, zeros included; always
    /// zero without `--decap`). Empty in snapshots written before it existed.
    #[serde(default)]
    pub decap_fallback_by_reason: BTreeMap<String, u64>,
}

impl Totals {
    /// Adds `other`'s counts to these (saturating), reason by reason.
    pub fn add(&mut self, other: &Totals) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.unparsed_packets = self.unparsed_packets.saturating_add(other.unparsed_packets);
        add_by_reason(&mut self.unparsed_by_reason, &other.unparsed_by_reason);
        self.transport_truncated = self
            .transport_truncated
            .saturating_add(other.transport_truncated);
        add_by_reason(
            &mut self.decap_fallback_by_reason,
            &other.decap_fallback_by_reason,
        );
    }
}

fn add_by_reason(into: &mut BTreeMap<String, u64>, other: &BTreeMap<String, u64>) {
    for (reason, count) in other {
        let total = into.entry(reason.clone()).or_default();
        *total = total.saturating_add(*count);
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
    /// On destination entries: estimated distinct sources that sent to this address (fan-in).
    /// Absent on source entries, and when the address was not among the tracked heavy keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_sources: Option<u64>,
    /// On source entries: estimated distinct destinations this address sent to (fan-out).
    /// Absent on destination entries, and when the address was not among the tracked keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_destinations: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_renders_rfc3339_utc_bounds() {
        let span = IntervalSpan::new(1_700_000_000, 10);
        assert_eq!(span.start, "2023-11-14T22:13:20Z");
        assert_eq!(span.end, "2023-11-14T22:13:30Z");
    }

    #[test]
    fn totals_written_before_decap_fallback_existed_still_load() {
        let old = r#"{"packets":3,"bytes":180,"unparsed_packets":0,
            "unparsed_by_reason":{"not_ip":0},"transport_truncated":1}"#;
        let totals: Totals = serde_json::from_str(old).unwrap();
        assert_eq!(totals.transport_truncated, 1);
        assert!(totals.decap_fallback_by_reason.is_empty());
    }

    #[test]
    fn absurd_timestamps_do_not_panic() {
        let span = IntervalSpan::new(u64::MAX - 1, 10);
        assert!(span.end.starts_with("9999-"));
    }
}
