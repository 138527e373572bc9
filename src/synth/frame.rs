//! Frame building: Ethernet, IPv4 or IPv6, and TCP or UDP headers for a five-tuple, written
//! from the header layouts themselves. Knows nothing of which flows are drawn, of pcap files or
//! of how hhmon decodes frames, so that decoding these frames does not test hhmon against
//! itself.

use super::MIN_SNAPLEN;
use crate::decode::FlowKey;
use std::net::IpAddr;

/// Ethernet frames shorter than this (without FCS) are padded on the wire.
pub(super) const MIN_FRAME: u32 = 60;
pub(super) const ETHERNET_HEADER: usize = 14;
const MAX_HEADERS: usize = MIN_SNAPLEN as usize;
pub(super) const TCP: u8 = 6;
pub(super) const UDP: u8 = 17;
pub(super) const TCP_SYN: u8 = 0x02;
pub(super) const TCP_PSH_ACK: u8 = 0x18;

/// The smallest IP packet that holds the key's IP and transport headers.
pub(super) fn min_ip_len(key: &FlowKey) -> u16 {
    let ip = if key.src.is_ipv6() { 40 } else { 20 };
    let transport = if key.protocol == UDP { 8 } else { 20 };
    ip + transport
}

/// Writes Ethernet, IP and TCP/UDP headers for `key` into the start of `frame` (at least
/// [`MIN_SNAPLEN`] long) and zeroes the rest of the header area. Payload bytes stay zero.
pub(super) fn write_headers(
    frame: &mut [u8],
    key: &FlowKey,
    ip_len: u16,
    tcp_flags: u8,
    index: u64,
) {
    let frame = &mut frame[..MAX_HEADERS];
    frame.fill(0);
    frame[..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]);
    let transport_len = match (key.src, key.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = &mut frame[ETHERNET_HEADER..ETHERNET_HEADER + 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
            ip[4..6].copy_from_slice(&(index as u16).to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = key.protocol;
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let checksum = ipv4_checksum(ip);
            ip[10..12].copy_from_slice(&checksum.to_be_bytes());
            ip_len - 20
        }
        (src, dst) => {
            frame[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            let ip = &mut frame[ETHERNET_HEADER..ETHERNET_HEADER + 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(ip_len - 40).to_be_bytes());
            ip[6] = key.protocol;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&ipv6_octets(src));
            ip[24..40].copy_from_slice(&ipv6_octets(dst));
            ip_len - 40
        }
    };
    let at = ETHERNET_HEADER + if key.src.is_ipv6() { 40 } else { 20 };
    let transport = &mut frame[at..];
    transport[0..2].copy_from_slice(&key.src_port.to_be_bytes());
    transport[2..4].copy_from_slice(&key.dst_port.to_be_bytes());
    if key.protocol == UDP {
        transport[4..6].copy_from_slice(&transport_len.to_be_bytes());
    } else {
        transport[4..8].copy_from_slice(&(index as u32).to_be_bytes());
        transport[12] = 0x50; // data offset: 5 words
        transport[13] = tcp_flags;
        transport[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    }
}

fn ipv6_octets(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
    }
}

/// The IPv4 header checksum (RFC 791) of a header whose checksum field is zero.
pub(super) fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks_exact(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
