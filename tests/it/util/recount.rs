//! Every packet of a generated capture as its source, destination and wire length, read with
//! libpcap and dissected with etherparse (not hhmon's decoder), for tests that count a trace
//! independently of hhmon.

use std::net::IpAddr;
use std::path::Path;

use etherparse::{LaxNetSlice, LaxSlicedPacket};

/// Source, destination and wire length of each packet of the Ethernet capture at `pcap`, in
/// order; fails the test on a frame without IP (generated traces have none).
pub fn ip_packets(pcap: &Path) -> Vec<(IpAddr, IpAddr, u64)> {
    let mut capture = pcap::Capture::from_file_with_precision(pcap, pcap::Precision::Nano).unwrap();
    let mut packets = Vec::new();
    while let Ok(packet) = capture.next_packet() {
        let sliced = LaxSlicedPacket::from_ethernet(packet.data).unwrap();
        let (src, dst): (IpAddr, IpAddr) = match sliced.net.unwrap() {
            LaxNetSlice::Ipv4(ip) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            LaxNetSlice::Ipv6(ip) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            LaxNetSlice::Arp(_) => panic!("ARP in a generated trace"),
        };
        packets.push((src, dst, u64::from(packet.header.len)));
    }
    packets
}
