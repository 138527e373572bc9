//! Flow telemetry: the export datagrams routers and switches send (sFlow v5, NetFlow v5/v9,
//! IPFIX) turned into weighted flow records for the same views the packet path feeds.
//!
//! Each decoder takes one datagram's UDP payload, the exporter's address and the time it
//! arrived, and hands every flow it finds to a callback as a [`FlowRecord`]. What it could not
//! count goes into the [`DatagramSummary`] it returns, by reason, for the per-exporter
//! accounting. Decoders keep per-exporter state (sequence numbers, templates) in tables with a
//! fixed cap, so a hostile exporter cannot grow memory; they never panic, log or allocate per
//! record. They know nothing of sockets, capture files, intervals or sketches.

pub mod interfaces;
pub mod netflow;
pub mod sflow;

use crate::decode::FlowKey;
use std::net::IpAddr;

/// One weighted observation of a flow, as an exporter reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// The flow.
    pub key: FlowKey,
    /// Packets, already multiplied by the sampling rate (an estimate when sampled).
    pub packets: u64,
    /// Bytes on the wire, already multiplied by the sampling rate.
    pub bytes: u64,
    /// The sampling rate applied: 1 when the exporter counted every packet.
    pub sampling_rate: u32,
    /// When the flow ended, Unix nanoseconds: the record's flow end time for NetFlow and IPFIX
    /// (the export time when a record has none), the datagram's arrival for sFlow.
    pub time_nanos: u64,
}

/// Interface counters from an sFlow counter sample (generic interface counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// The agent that sent them.
    pub agent: Option<IpAddr>,
    /// The interface's ifIndex.
    pub if_index: u32,
    /// ifInOctets (64-bit as sFlow carries it).
    pub in_octets: u64,
    /// ifInUcastPkts + ifInMulticastPkts + ifInBroadcastPkts.
    pub in_packets: u64,
    /// ifOutOctets.
    pub out_octets: u64,
    /// ifOutUcastPkts + ifOutMulticastPkts + ifOutBroadcastPkts.
    pub out_packets: u64,
}

/// What one datagram gave, beyond its records: the per-exporter accounting adds these up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramSummary {
    /// Flow records (NetFlow, IPFIX) or flow samples (sFlow) counted.
    pub records: u64,
    /// Datagrams the exporter sent that never arrived, from sequence-number gaps.
    pub lost_datagrams: u64,
    /// Records or samples the exporter made that never arrived (or that it dropped itself, as
    /// sFlow's `drops` field says), from sequence-number gaps.
    pub lost_records: u64,
    /// Data records that could not be read because their template is not known (yet).
    pub template_misses: u64,
    /// Why the datagram, or a part of it, could not be read: a short snake_case label from a
    /// fixed set (`truncated`, `bad_version`, ...), so it can be a metric label. The records
    /// read before the fault still count.
    pub malformed: Option<&'static str>,
}

/// Where a datagram arrived from in a capture file: the UDP payload of an IPv4 or IPv6 frame
/// and its IP source, which is the exporter. `None` for anything else (not UDP, a fragment,
/// a link type without IP).
#[must_use]
pub fn udp_payload(link_type: crate::decode::LinkType, frame: &[u8]) -> Option<(IpAddr, &[u8])> {
    use crate::decode::LinkType;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let sliced = match link_type {
        LinkType::ETHERNET => SlicedPacket::from_ethernet(frame).ok()?,
        LinkType::LINUX_SLL => SlicedPacket::from_linux_sll(frame).ok()?,
        LinkType::RAW | LinkType::DLT_RAW | LinkType::IPV4 | LinkType::IPV6 => {
            SlicedPacket::from_ip(frame).ok()?
        }
        _ => return None,
    };
    let source = match sliced.net? {
        NetSlice::Ipv4(ip) if !ip.is_payload_fragmented() => IpAddr::V4(ip.header().source_addr()),
        NetSlice::Ipv6(ip) if !ip.is_payload_fragmented() => IpAddr::V6(ip.header().source_addr()),
        _ => return None,
    };
    match sliced.transport? {
        TransportSlice::Udp(udp) => Some((source, udp.payload())),
        _ => None,
    }
}
