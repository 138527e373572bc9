//! Frames to flow keys: link layers, VLAN/QinQ, MPLS, PPPoE, IPv4/IPv6 and the transport ports.
//!
//! `decode` knows nothing of sketches or time: it reads one frame and returns a small `Copy`
//! value, or the reason it could not. Nothing borrowed from the frame leaves this module.
#![allow(missing_docs, unused_variables, dead_code)]

use std::net::IpAddr;

/// A directional five-tuple. Ports are 0 for protocols without ports and for non-first fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number after any IPv6 extension headers.
    pub protocol: u8,
}

/// What a frame decoded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub key: FlowKey,
    /// The IP header was complete but the transport header was cut short (ports are then 0).
    pub transport_truncated: bool,
}

/// A libpcap data-link type (DLT / LINKTYPE number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

/// Why a frame did not produce a flow key. Indexes a counter array; label values come from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnparsedReason {
    NotIp,
    UnsupportedLinkType,
    Truncated,
    Malformed,
}

impl UnparsedReason {
    pub const ALL: [UnparsedReason; 4] = [
        UnparsedReason::NotIp,
        UnparsedReason::UnsupportedLinkType,
        UnparsedReason::Truncated,
        UnparsedReason::Malformed,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnparsedReason::NotIp => "not_ip",
            UnparsedReason::UnsupportedLinkType => "unsupported_link_type",
            UnparsedReason::Truncated => "truncated",
            UnparsedReason::Malformed => "malformed",
        }
    }
}

/// Decodes one captured frame (stub: being written).
pub fn decode(link_type: LinkType, frame: &[u8]) -> Result<Decoded, UnparsedReason> {
    Err(UnparsedReason::UnsupportedLinkType)
}
