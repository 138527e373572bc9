//! Writes small synthetic pcap files for whole-program tests that need traffic with a known
//! shape (who talks how much in which second). Knows nothing of hhmon: the expected answers
//! come from the schedule the test wrote, not from hhmon's decoder.

use std::io::Write;
use std::net::Ipv4Addr;

/// One UDP/IPv4 packet in Ethernet.
#[derive(Clone, Copy, Debug)]
pub struct Udp {
    /// Capture time, microseconds since the epoch.
    pub micros: u64,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// UDP payload bytes per frame: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 58 = 100 wire bytes.
pub const PAYLOAD: usize = 58;
/// Wire length of every frame written.
pub const FRAME_LEN: u32 = 100;

/// The pcap global header: microsecond timestamps, little-endian, Ethernet.
pub fn header() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&0i32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&65_535u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes
}

/// One pcap record holding `packet`.
pub fn record(packet: &Udp) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_LEN as usize);
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(packet.src.octets(), packet.dst.octets(), 64)
        .udp(packet.src_port, packet.dst_port)
        .write(&mut frame, &[0u8; PAYLOAD])
        .unwrap();
    assert_eq!(frame.len(), FRAME_LEN as usize);
    frame_record(packet.micros, &frame)
}

/// One pcap record holding the whole Ethernet `frame`, captured at `micros` since the epoch.
pub fn frame_record(micros: u64, frame: &[u8]) -> Vec<u8> {
    let len = u32::try_from(frame.len()).unwrap();
    let mut bytes = Vec::with_capacity(16 + frame.len());
    bytes.extend_from_slice(&u32::try_from(micros / 1_000_000).unwrap().to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(micros % 1_000_000).unwrap().to_le_bytes());
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(frame);
    bytes
}

/// A whole pcap file of `packets`, in the order given.
pub fn file(packets: &[Udp]) -> Vec<u8> {
    let mut bytes = header();
    for packet in packets {
        bytes.write_all(&record(packet)).unwrap();
    }
    bytes
}
