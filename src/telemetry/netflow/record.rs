//! One NetFlow v9 or IPFIX data record read through its template: the fields hhmon uses,
//! gathered into a small `Copy` value on the stack (addresses, ports, counters, times,
//! sampling), then turned into a flow key or a sampling rate. Knows nothing of sets,
//! sequence numbers or where templates and rates are stored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::templates::{Field, VARIABLE_LENGTH};
use crate::decode::{FlowKey, LinkType};

/// Seconds between the NTP era (1900) and the Unix epoch.
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// The fields of one data record hhmon reads; every one optional.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fields<'a> {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    /// octetDeltaCount / IN_BYTES (1).
    pub octets_delta: Option<u64>,
    /// packetDeltaCount / IN_PKTS (2).
    pub packets_delta: Option<u64>,
    /// postOctetDeltaCount / OUT_BYTES (23).
    pub post_octets_delta: Option<u64>,
    /// postPacketDeltaCount / OUT_PKTS (24).
    pub post_packets_delta: Option<u64>,
    /// octetTotalCount (85).
    pub octets_total: Option<u64>,
    /// packetTotalCount (86).
    pub packets_total: Option<u64>,
    /// postOctetTotalCount (171).
    pub post_octets_total: Option<u64>,
    /// postPacketTotalCount (172).
    pub post_packets_total: Option<u64>,
    /// LAST_SWITCHED / flowEndSysUpTime (21), milliseconds of uptime.
    pub end_uptime_ms: Option<u32>,
    /// systemInitTimeMilliseconds (160).
    pub system_init_ms: Option<u64>,
    /// flowEnd{Seconds,Milliseconds,Microseconds,Nanoseconds} (151, 153, 155, 157), as Unix
    /// nanoseconds.
    pub end_nanos: Option<u64>,
    /// flowEndDeltaMicroseconds (159): microseconds before the export time.
    pub end_delta_us: Option<u64>,
    /// samplingInterval (34) or samplerRandomInterval (50).
    pub sampling_interval: Option<u64>,
    /// FLOW_SAMPLER_ID / samplerId (48) or selectorId (302).
    pub sampler_id: Option<u64>,
    /// samplingPacketInterval (305).
    pub packet_interval: Option<u64>,
    /// samplingPacketSpace (306).
    pub packet_space: Option<u64>,
    /// samplingSize (309).
    pub sampling_size: Option<u64>,
    /// samplingPopulation (310).
    pub sampling_population: Option<u64>,
    /// dataLinkFrameSize (312).
    pub frame_size: Option<u64>,
    /// dataLinkFrameSection (315): the first bytes of a sampled Ethernet frame.
    pub frame_section: Option<&'a [u8]>,
}

/// An unsigned big-endian integer of 1 to 8 bytes (reduced-size encoding); `None` otherwise.
fn uint(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 8 {
        return None;
    }
    Some(value.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

fn ipv4(value: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 4] = value.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

fn ipv6(value: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 16] = value.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(octets)))
}

/// The address a record states when it has both IPv4 and IPv6 fields: an unspecified
/// (all-zero) one never replaces another, as exporters fill the family a flow is not of
/// with zeros.
fn address(known: Option<IpAddr>, new: Option<IpAddr>) -> Option<IpAddr> {
    match (known, new) {
        (Some(known), Some(new)) if new.is_unspecified() => Some(known),
        (known, None) => known,
        (_, new) => new,
    }
}

/// An NTP-format timestamp (dateTimeMicroseconds / dateTimeNanoseconds, RFC 7011 6.1.9) as
/// Unix nanoseconds; `None` before 1970 or not 8 bytes.
fn ntp_nanos(value: &[u8]) -> Option<u64> {
    if value.len() != 8 {
        return None;
    }
    let raw = uint(value)?;
    let secs = (raw >> 32).checked_sub(NTP_UNIX_OFFSET_SECS)?;
    let fraction = ((raw & 0xffff_ffff) * 1_000_000_000) >> 32;
    secs.checked_mul(1_000_000_000)?.checked_add(fraction)
}

impl<'a> Fields<'a> {
    /// Takes one field's value, if hhmon reads that field. Enterprise-specific fields and
    /// v9 scope fields are ignored.
    fn take(&mut self, field: &Field, value: &'a [u8]) {
        if field.enterprise != 0 || field.v9_scope {
            return;
        }
        let n = uint(value);
        match field.id {
            1 => self.octets_delta = n,
            2 => self.packets_delta = n,
            4 => self.protocol = n.and_then(|n| u8::try_from(n).ok()),
            7 => self.src_port = n.and_then(|n| u16::try_from(n).ok()),
            8 => self.src = address(self.src, ipv4(value)),
            11 => self.dst_port = n.and_then(|n| u16::try_from(n).ok()),
            12 => self.dst = address(self.dst, ipv4(value)),
            21 => self.end_uptime_ms = n.and_then(|n| u32::try_from(n).ok()),
            23 => self.post_octets_delta = n,
            24 => self.post_packets_delta = n,
            27 => self.src = address(self.src, ipv6(value)),
            28 => self.dst = address(self.dst, ipv6(value)),
            34 | 50 => self.sampling_interval = n,
            48 | 302 => self.sampler_id = n,
            85 => self.octets_total = n,
            86 => self.packets_total = n,
            151 => self.end_nanos = n.and_then(|s| s.checked_mul(1_000_000_000)),
            153 => self.end_nanos = n.and_then(|ms| ms.checked_mul(1_000_000)),
            155 | 157 => self.end_nanos = ntp_nanos(value),
            159 => self.end_delta_us = n,
            160 => self.system_init_ms = n,
            171 => self.post_octets_total = n,
            172 => self.post_packets_total = n,
            305 => self.packet_interval = n,
            306 => self.packet_space = n,
            309 => self.sampling_size = n,
            310 => self.sampling_population = n,
            312 => self.frame_size = n,
            315 => self.frame_section = Some(value),
            _ => {}
        }
    }

    /// The sampling rate the record states itself: samplingInterval or
    /// samplerRandomInterval; (packetInterval + packetSpace) / packetInterval; population /
    /// size. `None` when it states none (or only zeros).
    pub fn stated_rate(&self) -> Option<u32> {
        let rate = if let Some(interval) = self.packet_interval.filter(|&i| i > 0) {
            interval.saturating_add(self.packet_space.unwrap_or(0)) / interval
        } else if let (Some(size), Some(population)) = (
            self.sampling_size.filter(|&s| s > 0),
            self.sampling_population,
        ) {
            population / size
        } else {
            self.sampling_interval?
        };
        (rate > 0).then(|| u32::try_from(rate).unwrap_or(u32::MAX))
    }

    /// The sampler or selector the record names; 0 names none (as exporters use it).
    pub fn sampler(&self) -> Option<u64> {
        self.sampler_id.filter(|&id| id != 0)
    }

    /// Packets and bytes, unscaled: the delta counters, else the post-delta ones, else the
    /// totals (read as if they were deltas: no per-flow state is kept to subtract the last
    /// total). `None` when the record has no counter at all (a NAT or firewall event).
    pub fn counters(&self) -> Option<(u64, u64)> {
        let packets = self
            .packets_delta
            .or(self.post_packets_delta)
            .or(self.packets_total)
            .or(self.post_packets_total);
        let octets = self
            .octets_delta
            .or(self.post_octets_delta)
            .or(self.octets_total)
            .or(self.post_octets_total);
        match (packets, octets) {
            (None, None) => None,
            (p, o) => Some((p.unwrap_or(0), o.unwrap_or(0))),
        }
    }

    /// The flow key: the address fields, or the sampled frame's own headers when the record
    /// carries a data-link frame section instead (RFC 7133). Ports are kept only for the
    /// protocols hhmon's packet path reads ports of, as [`FlowKey`] defines them.
    pub fn key(&self) -> Option<FlowKey> {
        let (src, dst) = match (self.src, self.dst) {
            (Some(src), Some(dst)) => (src, dst),
            _ => {
                let section = self.frame_section?;
                return crate::decode::decode(LinkType::ETHERNET, section)
                    .ok()
                    .map(|d| d.key);
            }
        };
        let protocol = self.protocol.unwrap_or(0);
        let (src_port, dst_port) = if has_ports(protocol) {
            (self.src_port.unwrap_or(0), self.dst_port.unwrap_or(0))
        } else {
            (0, 0)
        };
        Some(FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            protocol,
        })
    }
}

/// The protocols whose ports a [`FlowKey`] holds: TCP, UDP, DCCP, SCTP, UDP-Lite.
pub fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

/// Reads one record of `fields` from `data` at `at`; returns its fields and the offset after
/// it, or `None` when `data` ends inside it. Variable-length fields (IPFIX only) take a
/// 1-byte length, or 255 and a 2-byte length.
pub fn read<'a>(
    fields: &[Field],
    ipfix: bool,
    data: &'a [u8],
    mut at: usize,
) -> Option<(Fields<'a>, usize)> {
    let mut out = Fields::default();
    for field in fields {
        let len = if ipfix && field.length == VARIABLE_LENGTH {
            let first = *data.get(at)?;
            at += 1;
            if first == 255 {
                let b = data.get(at..at.checked_add(2)?)?;
                at += 2;
                usize::from(u16::from_be_bytes([b[0], b[1]]))
            } else {
                usize::from(first)
            }
        } else {
            usize::from(field.length)
        };
        let end = at.checked_add(len)?;
        let value = data.get(at..end)?;
        out.take(field, value);
        at = end;
    }
    Some((out, at))
}
