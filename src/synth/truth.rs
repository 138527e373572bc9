//! The exact counts of a generated trace: totals, distinct counts and the top entries of every
//! view, counted packet by packet as the trace is written. Knows nothing of how packets are
//! drawn or built, nor of file formats; it shares only the report's entry types so that a truth
//! reads like a report.

use super::generator::{SynthPacket, Traffic};
use super::SynthConfig;
use crate::decode::FlowKey;
use crate::report::{largest_counts, AddressEntry, FlowEntry};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

/// Exact counts of a generated trace: totals, distinct counts, and the top entries of every
/// view by packets and by bytes (ties broken by ascending key, as hhmon's reports do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The configuration that generated the trace.
    pub config: SynthConfig,
    /// Frames.
    pub packets: u64,
    /// Wire bytes of all frames.
    pub bytes: u64,
    /// Frames carrying IPv6.
    pub ipv6_packets: u64,
    /// Frames of the fan-in attack.
    pub attack_packets: u64,
    /// Frames of the scanner.
    pub scan_packets: u64,
    /// Frames of the carpet bombing.
    #[serde(default)]
    pub carpet_packets: u64,
    /// Frames of the botnet.
    #[serde(default)]
    pub botnet_packets: u64,
    /// Timestamp of the first frame (0 for an empty trace).
    pub first_timestamp_nanos: u64,
    /// Timestamp of the last frame (0 for an empty trace).
    pub last_timestamp_nanos: u64,
    /// Distinct five-tuples.
    pub distinct_flows: u64,
    /// Distinct source addresses.
    pub distinct_sources: u64,
    /// Distinct destination addresses.
    pub distinct_destinations: u64,
    /// Top flows by packets.
    pub top_flows: Vec<FlowEntry>,
    /// Top flows by bytes.
    pub top_flows_by_bytes: Vec<FlowEntry>,
    /// Top sources by packets.
    pub top_sources: Vec<AddressEntry>,
    /// Top sources by bytes.
    pub top_sources_by_bytes: Vec<AddressEntry>,
    /// Top destinations by packets.
    pub top_destinations: Vec<AddressEntry>,
    /// Top destinations by bytes.
    pub top_destinations_by_bytes: Vec<AddressEntry>,
}

type Counts<K> = HashMap<K, (u64, u64), ahash::RandomState>;

/// Accumulates the [`Truth`] of packets as they are generated. Its memory grows with the
/// number of distinct flows and addresses.
#[derive(Default)]
pub struct TruthCounter {
    packets: u64,
    bytes: u64,
    ipv6_packets: u64,
    attack_packets: u64,
    scan_packets: u64,
    carpet_packets: u64,
    botnet_packets: u64,
    first_timestamp_nanos: Option<u64>,
    last_timestamp_nanos: u64,
    flows: Counts<FlowKey>,
    sources: Counts<IpAddr>,
    destinations: Counts<IpAddr>,
}

impl TruthCounter {
    /// Counts one packet.
    pub fn add(&mut self, packet: &SynthPacket<'_>) {
        let bytes = u64::from(packet.wire_len);
        self.packets += 1;
        self.bytes += bytes;
        self.ipv6_packets += u64::from(packet.key.src.is_ipv6());
        match packet.traffic {
            Traffic::Flow => {}
            Traffic::Attack => self.attack_packets += 1,
            Traffic::Scan => self.scan_packets += 1,
            Traffic::Carpet => self.carpet_packets += 1,
            Traffic::Botnet => self.botnet_packets += 1,
        }
        self.first_timestamp_nanos
            .get_or_insert(packet.timestamp_nanos);
        self.last_timestamp_nanos = packet.timestamp_nanos;
        for (map, key) in [
            (&mut self.sources, packet.key.src),
            (&mut self.destinations, packet.key.dst),
        ] {
            let counts = map.entry(key).or_default();
            counts.0 += 1;
            counts.1 += bytes;
        }
        let counts = self.flows.entry(packet.key).or_default();
        counts.0 += 1;
        counts.1 += bytes;
    }

    /// The truth of everything counted, with `config.top` entries per list.
    pub fn finish(self, config: &SynthConfig) -> Truth {
        let top = config.top;
        let flows = |by_bytes| {
            largest_counts(&self.flows, top, by_bytes)
                .into_iter()
                .map(|(&key, packets, bytes)| FlowEntry::new(key, packets, bytes))
                .collect()
        };
        // The truth holds no per-address distinct counts.
        let addresses = |counts: &Counts<IpAddr>, by_bytes| {
            largest_counts(counts, top, by_bytes)
                .into_iter()
                .map(|(&address, packets, bytes)| AddressEntry::new(address, packets, bytes))
                .collect()
        };
        Truth {
            config: config.clone(),
            packets: self.packets,
            bytes: self.bytes,
            ipv6_packets: self.ipv6_packets,
            attack_packets: self.attack_packets,
            scan_packets: self.scan_packets,
            carpet_packets: self.carpet_packets,
            botnet_packets: self.botnet_packets,
            first_timestamp_nanos: self.first_timestamp_nanos.unwrap_or(0),
            last_timestamp_nanos: self.last_timestamp_nanos,
            distinct_flows: self.flows.len() as u64,
            distinct_sources: self.sources.len() as u64,
            distinct_destinations: self.destinations.len() as u64,
            top_flows: flows(false),
            top_flows_by_bytes: flows(true),
            top_sources: addresses(&self.sources, false),
            top_sources_by_bytes: addresses(&self.sources, true),
            top_destinations: addresses(&self.destinations, false),
            top_destinations_by_bytes: addresses(&self.destinations, true),
        }
    }
}
