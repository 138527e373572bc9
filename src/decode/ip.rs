//! One IP header to a flow key: addresses, the protocol after extension headers, and the ports
//! of the first fragment; and, for decapsulation, the bytes that header carries.
//!
//! Knows nothing of link layers or tunnels; it is handed the bytes from the IP header on. The
//! fixed headers are read through etherparse's slices. The extension-header walk is our own
//! because etherparse keeps walking past the fragment header of a later fragment (whose payload
//! is not a header) and does not read the ports of a first fragment.

use std::net::IpAddr;

use etherparse::{
    err, ip_number, IpAuthHeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice,
    Ipv6HeaderSlice, Ipv6RawExtHeaderSlice,
};

use super::{Decoded, FlowKey, UnparsedReason};

/// Which IP version the layer below promised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    V4,
    V6,
    /// Raw IP and MPLS: the version nibble decides.
    Any,
}

const IPV6_HEADER_LEN: usize = 40;
/// Every extension header is at least 8 bytes, so the walk ends anyway; the cap bounds its cost.
const MAX_IPV6_EXTENSION_HEADERS: usize = 16;

/// What follows the IP headers, as far as the flow key cares.
#[derive(Clone, Copy)]
enum Payload<'a> {
    /// Unfragmented packet or first fragment: the transport header starts here, maybe cut.
    Transport(&'a [u8]),
    /// A later fragment: the bytes continue someone else's transport header.
    LaterFragment,
    /// The capture ended inside an extension header; the protocol is that header's number.
    ExtensionCut,
}

/// Decodes the IP packet at the start of `packet` into its flow.
pub(super) fn decode(version: Version, packet: &[u8]) -> Result<Decoded, UnparsedReason> {
    network(version, packet).map(|network| network.decoded())
}

/// Reads the IP header (and IPv6 extension headers) at the start of `packet`.
#[inline]
pub(super) fn network(version: Version, packet: &[u8]) -> Result<Network<'_>, UnparsedReason> {
    let nibble = packet.first().ok_or(UnparsedReason::Truncated)? >> 4;
    match (nibble, version) {
        (4, Version::V4 | Version::Any) => ipv4(packet),
        (6, Version::V6 | Version::Any) => ipv6(packet),
        _ => Err(UnparsedReason::Malformed),
    }
}

/// One IP layer read: what the key takes from it, and what it carries.
pub(super) struct Network<'a> {
    src: IpAddr,
    dst: IpAddr,
    /// The protocol after the extension headers.
    protocol: IpNumber,
    payload: Payload<'a>,
}

impl<'a> Network<'a> {
    /// The flow of this layer, with the ports read from its transport header.
    #[inline]
    pub(super) fn decoded(&self) -> Decoded {
        let (src_port, dst_port, transport_truncated) = ports(self.protocol, self.payload);
        Decoded {
            key: FlowKey {
                src: self.src,
                dst: self.dst,
                src_port,
                dst_port,
                protocol: self.protocol.0,
            },
            transport_truncated,
            decap_fallback: None,
        }
    }

    /// The protocol after the extension headers.
    pub(super) fn protocol(&self) -> IpNumber {
        self.protocol
    }

    /// The bytes from the transport header on, bounded by the IP length; `None` for a later
    /// fragment (its bytes continue another packet) or a capture cut inside the extension
    /// headers.
    pub(super) fn transport(&self) -> Option<&'a [u8]> {
        match self.payload {
            Payload::Transport(bytes) => Some(bytes),
            Payload::LaterFragment | Payload::ExtensionCut => None,
        }
    }
}

fn ipv4(packet: &[u8]) -> Result<Network<'_>, UnparsedReason> {
    let header = Ipv4HeaderSlice::from_slice(packet).map_err(|e| match e {
        err::ipv4::HeaderSliceError::Len(_) => UnparsedReason::Truncated,
        err::ipv4::HeaderSliceError::Content(_) => UnparsedReason::Malformed,
    })?;
    let network = |protocol, payload| Network {
        src: IpAddr::V4(header.source_addr()),
        dst: IpAddr::V4(header.destination_addr()),
        protocol,
        payload,
    };
    let protocol = header.protocol();
    if header.fragments_offset().value() != 0 {
        return Ok(network(protocol, Payload::LaterFragment));
    }
    // A total length below the header length is what checksum/segmentation offload leaves
    // (often 0); like one beyond the capture, it falls back to the captured length.
    let header_len = header.slice().len();
    let total_len = usize::from(header.total_len());
    let end = if (header_len..=packet.len()).contains(&total_len) {
        total_len
    } else {
        packet.len()
    };
    let payload = packet.get(header_len..end).unwrap_or_default();
    // AH sits between IPv4 and the transport as it does in IPv6: see through it the same way.
    if protocol == ip_number::AUTH {
        return match IpAuthHeaderSlice::from_slice(payload) {
            Ok(auth) => Ok(network(
                auth.next_header(),
                Payload::Transport(after(payload, auth.slice().len())),
            )),
            Err(err::ip_auth::HeaderSliceError::Len(_)) => {
                Ok(network(protocol, Payload::ExtensionCut))
            }
            Err(err::ip_auth::HeaderSliceError::Content(_)) => Err(UnparsedReason::Malformed),
        };
    }
    Ok(network(protocol, Payload::Transport(payload)))
}

fn ipv6(packet: &[u8]) -> Result<Network<'_>, UnparsedReason> {
    let header = Ipv6HeaderSlice::from_slice(packet).map_err(|e| match e {
        err::ipv6::HeaderSliceError::Len(_) => UnparsedReason::Truncated,
        err::ipv6::HeaderSliceError::Content(_) => UnparsedReason::Malformed,
    })?;
    let network = |protocol, payload| Network {
        src: IpAddr::V6(header.source_addr()),
        dst: IpAddr::V6(header.destination_addr()),
        protocol,
        payload,
    };
    // A payload length of 0 is a jumbogram or offload; like one beyond the capture, it falls
    // back to the captured length.
    let claimed_end = IPV6_HEADER_LEN + usize::from(header.payload_length());
    let end = if header.payload_length() == 0 || claimed_end > packet.len() {
        packet.len()
    } else {
        claimed_end
    };
    let mut rest = packet.get(IPV6_HEADER_LEN..end).unwrap_or_default();
    let mut next = header.next_header();
    for _ in 0..MAX_IPV6_EXTENSION_HEADERS {
        let len = match next {
            ip_number::IPV6_HOP_BY_HOP | ip_number::IPV6_ROUTE | ip_number::IPV6_DEST_OPTIONS => {
                let Ok(ext) = Ipv6RawExtHeaderSlice::from_slice(rest) else {
                    return Ok(network(next, Payload::ExtensionCut));
                };
                next = ext.next_header();
                ext.slice().len()
            }
            ip_number::IPV6_FRAG => {
                let Ok(fragment) = Ipv6FragmentHeaderSlice::from_slice(rest) else {
                    return Ok(network(next, Payload::ExtensionCut));
                };
                next = fragment.next_header();
                if fragment.fragment_offset().value() != 0 {
                    return Ok(network(next, Payload::LaterFragment));
                }
                fragment.slice().len()
            }
            ip_number::AUTH => match IpAuthHeaderSlice::from_slice(rest) {
                Ok(auth) => {
                    next = auth.next_header();
                    auth.slice().len()
                }
                Err(err::ip_auth::HeaderSliceError::Len(_)) => {
                    return Ok(network(next, Payload::ExtensionCut))
                }
                Err(err::ip_auth::HeaderSliceError::Content(_)) => {
                    return Err(UnparsedReason::Malformed)
                }
            },
            _ => return Ok(network(next, Payload::Transport(rest))),
        };
        rest = after(rest, len);
    }
    Err(UnparsedReason::Malformed)
}

/// Source port, destination port, and whether the capture ended before them. Every protocol
/// with ports opens its header with the two of them, so four bytes are all that is needed.
/// Whether the transport header of IP protocol `protocol` starts with the two ports.
#[inline]
pub(super) fn has_ports(protocol: u8) -> bool {
    matches!(
        IpNumber(protocol),
        IpNumber::TCP | IpNumber::UDP | IpNumber::SCTP | IpNumber::UDP_LITE | IpNumber::DCCP
    )
}

/// IP protocol number of the Authentication Header, which sits between IP and the transport.
pub(super) const AUTH_PROTOCOL: u8 = ip_number::AUTH.0;

fn ports(protocol: IpNumber, payload: Payload<'_>) -> (u16, u16, bool) {
    let has_ports = has_ports(protocol.0);
    match payload {
        Payload::Transport(_) if !has_ports => (0, 0, false),
        Payload::Transport(&[s0, s1, d0, d1, ..]) => (
            u16::from_be_bytes([s0, s1]),
            u16::from_be_bytes([d0, d1]),
            false,
        ),
        Payload::Transport(_) => (0, 0, true),
        Payload::LaterFragment => (0, 0, false),
        Payload::ExtensionCut => (0, 0, true),
    }
}

fn after(bytes: &[u8], len: usize) -> &[u8] {
    bytes.get(len..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::key;
    use etherparse::PacketBuilder;

    const V4_SRC: [u8; 4] = [10, 1, 2, 3];
    const V4_DST: [u8; 4] = [172, 16, 0, 9];
    const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const V6_DST: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const IPV4_FLAGS_FRAGMENT: usize = 6;
    const IPV4_TOTAL_LEN: usize = 2;
    const IPV4_PROTOCOL: usize = 9;
    const IPV6_NEXT_HEADER: usize = 6;
    const IPV6_PAYLOAD_LEN: usize = 4;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
            .udp(40000, 53)
            .write(&mut packet, payload)
            .unwrap();
        packet
    }

    fn ipv6_udp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv6(V6_SRC, V6_DST, 64)
            .udp(546, 547)
            .write(&mut packet, b"dhcpv6")
            .unwrap();
        packet
    }

    fn v4_key(ports: (u16, u16), protocol: u8) -> FlowKey {
        key(V4_SRC.into(), V4_DST.into(), ports, protocol)
    }

    fn v6_key(ports: (u16, u16), protocol: u8) -> FlowKey {
        key(V6_SRC.into(), V6_DST.into(), ports, protocol)
    }

    fn whole(key: FlowKey) -> Result<Decoded, UnparsedReason> {
        Ok(Decoded {
            key,
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    fn cut(key: FlowKey) -> Result<Decoded, UnparsedReason> {
        Ok(Decoded {
            key,
            transport_truncated: true,
            decap_fallback: None,
        })
    }

    /// Sets the IPv4 fragment offset (in 8-byte units) and the more-fragments flag.
    fn fragment_v4(packet: &mut [u8], offset: u16, more: bool) {
        let field = offset | if more { 0x2000 } else { 0 };
        packet[IPV4_FLAGS_FRAGMENT..IPV4_FLAGS_FRAGMENT + 2].copy_from_slice(&field.to_be_bytes());
    }

    #[derive(Clone, Copy)]
    enum Ext {
        /// Hop-by-hop (0), routing (43) or destination options (60), 8 bytes.
        Options(u8),
        Fragment {
            offset: u16,
            more: bool,
        },
        /// 24 bytes: payload length field 4 means (4 + 2) * 4.
        Auth,
    }

    impl Ext {
        fn number(self) -> u8 {
            match self {
                Ext::Options(n) => n,
                Ext::Fragment { .. } => 44,
                Ext::Auth => 51,
            }
        }

        fn bytes(self) -> Vec<u8> {
            match self {
                Ext::Options(_) => vec![0, 0, 1, 4, 0, 0, 0, 0],
                Ext::Fragment { offset, more } => {
                    let field = offset << 3 | u16::from(more);
                    let mut bytes = vec![0, 0];
                    bytes.extend(field.to_be_bytes());
                    bytes.extend([0, 0, 0x12, 0x34]);
                    bytes
                }
                Ext::Auth => {
                    let mut bytes = vec![0, 4, 0, 0];
                    bytes.extend([0xab; 20]);
                    bytes
                }
            }
        }
    }

    /// `transport` (with `protocol`) behind the given chain of extension headers.
    fn ipv6_with(exts: &[Ext], protocol: u8, transport: &[u8]) -> Vec<u8> {
        let mut packet = ipv6_udp()[..IPV6_HEADER_LEN].to_vec();
        let mut next_slot = IPV6_NEXT_HEADER;
        for ext in exts {
            packet[next_slot] = ext.number();
            next_slot = packet.len();
            packet.extend(ext.bytes());
        }
        packet[next_slot] = protocol;
        packet.extend(transport);
        let payload_len = u16::try_from(packet.len() - IPV6_HEADER_LEN).unwrap();
        packet[IPV6_PAYLOAD_LEN..IPV6_PAYLOAD_LEN + 2].copy_from_slice(&payload_len.to_be_bytes());
        packet
    }

    fn udp_header_of(packet: &[u8], ip_header_len: usize) -> Vec<u8> {
        packet[ip_header_len..].to_vec()
    }

    #[test]
    fn ipv4_transports_with_and_without_ports() {
        assert_eq!(
            decode(Version::V4, &ipv4_udp(b"q")),
            whole(v4_key((40000, 53), 17))
        );

        let mut tcp = Vec::new();
        PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
            .tcp(443, 51000, 1, 1000)
            .write(&mut tcp, &[])
            .unwrap();
        assert_eq!(decode(Version::Any, &tcp), whole(v4_key((443, 51000), 6)));

        let mut icmp = Vec::new();
        PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
            .icmpv4_echo_request(7, 1)
            .write(&mut icmp, &[])
            .unwrap();
        assert_eq!(decode(Version::V4, &icmp), whole(v4_key((0, 0), 1)));

        // SCTP, UDP-Lite and DCCP keep their ports in the same place as UDP.
        for protocol in [132, 136, 33] {
            let mut packet = ipv4_udp(b"x");
            packet[IPV4_PROTOCOL] = protocol;
            assert_eq!(
                decode(Version::V4, &packet),
                whole(v4_key((40000, 53), protocol))
            );
        }
        // GRE is a tunnel: the outer header is the flow, with no ports.
        let mut gre = ipv4_udp(b"x");
        gre[IPV4_PROTOCOL] = 47;
        assert_eq!(decode(Version::V4, &gre), whole(v4_key((0, 0), 47)));
    }

    #[test]
    fn ipv4_first_fragment_has_ports_and_later_fragments_do_not() {
        let mut first = ipv4_udp(&[0; 40]);
        fragment_v4(&mut first, 0, true);
        assert_eq!(decode(Version::V4, &first), whole(v4_key((40000, 53), 17)));

        let mut later = ipv4_udp(&[0; 40]);
        fragment_v4(&mut later, 6, true);
        assert_eq!(decode(Version::V4, &later), whole(v4_key((0, 0), 17)));

        let mut last = ipv4_udp(&[0; 40]);
        fragment_v4(&mut last, 185, false);
        assert_eq!(decode(Version::V4, &last), whole(v4_key((0, 0), 17)));
    }

    #[test]
    fn ipv4_total_length_beyond_capture_or_zero_falls_back_to_capture() {
        let mut snapped = ipv4_udp(&[0; 1000]);
        snapped.truncate(20 + 8);
        assert_eq!(
            decode(Version::V4, &snapped),
            whole(v4_key((40000, 53), 17))
        );

        let mut offloaded = ipv4_udp(b"x");
        offloaded[IPV4_TOTAL_LEN..IPV4_TOTAL_LEN + 2].copy_from_slice(&[0, 0]);
        assert_eq!(
            decode(Version::V4, &offloaded),
            whole(v4_key((40000, 53), 17))
        );
    }

    #[test]
    fn ipv4_ports_are_not_read_from_ethernet_padding() {
        let mut packet = ipv4_udp(b"");
        packet.truncate(20 + 2);
        packet[IPV4_TOTAL_LEN..IPV4_TOTAL_LEN + 2].copy_from_slice(&22u16.to_be_bytes());
        packet.extend([0xee; 24]);
        assert_eq!(decode(Version::V4, &packet), cut(v4_key((0, 0), 17)));
    }

    #[test]
    fn ipv4_malformed_headers() {
        let mut bad_ihl = ipv4_udp(b"x");
        bad_ihl[0] = 0x44;
        assert_eq!(
            decode(Version::V4, &bad_ihl),
            Err(UnparsedReason::Malformed)
        );
        let mut bad_version = ipv4_udp(b"x");
        bad_version[0] = 0x55;
        assert_eq!(
            decode(Version::Any, &bad_version),
            Err(UnparsedReason::Malformed)
        );
        // The link said IPv6 but the packet is IPv4.
        assert_eq!(
            decode(Version::V6, &ipv4_udp(b"x")),
            Err(UnparsedReason::Malformed)
        );
        assert_eq!(
            decode(Version::V4, &ipv6_udp()),
            Err(UnparsedReason::Malformed)
        );
        assert_eq!(decode(Version::Any, &[]), Err(UnparsedReason::Truncated));
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let plain = ipv4_udp(b"x");
        let mut with_options = plain[..20].to_vec();
        with_options[0] = 0x46;
        with_options[IPV4_TOTAL_LEN..IPV4_TOTAL_LEN + 2]
            .copy_from_slice(&u16::try_from(plain.len() + 4).unwrap().to_be_bytes());
        with_options.extend([1, 1, 1, 0]);
        with_options.extend(udp_header_of(&plain, 20));
        assert_eq!(
            decode(Version::V4, &with_options),
            whole(v4_key((40000, 53), 17))
        );
    }

    #[test]
    fn ipv4_authentication_header_is_seen_through() {
        let plain = ipv4_udp(b"x");
        let mut packet = plain[..20].to_vec();
        packet[IPV4_PROTOCOL] = 51;
        packet[IPV4_TOTAL_LEN..IPV4_TOTAL_LEN + 2]
            .copy_from_slice(&u16::try_from(plain.len() + 24).unwrap().to_be_bytes());
        let mut auth = Ext::Auth.bytes();
        auth[0] = 17;
        packet.extend(&auth);
        packet.extend(udp_header_of(&plain, 20));
        assert_eq!(decode(Version::V4, &packet), whole(v4_key((40000, 53), 17)));

        packet.truncate(20 + 10);
        assert_eq!(decode(Version::V4, &packet), cut(v4_key((0, 0), 51)));
    }

    #[test]
    fn ipv6_plain_and_behind_every_extension_header() {
        assert_eq!(
            decode(Version::V6, &ipv6_udp()),
            whole(v6_key((546, 547), 17))
        );
        let udp = udp_header_of(&ipv6_udp(), IPV6_HEADER_LEN);
        let chain = [
            Ext::Options(0),
            Ext::Options(60),
            Ext::Options(43),
            Ext::Fragment {
                offset: 0,
                more: true,
            },
            Ext::Auth,
            Ext::Options(60),
        ];
        let packet = ipv6_with(&chain, 17, &udp);
        assert_eq!(decode(Version::Any, &packet), whole(v6_key((546, 547), 17)));
    }

    #[test]
    fn ipv6_later_fragment_takes_the_protocol_from_the_fragment_header() {
        // The bytes after a later fragment's header look like a destination options header
        // here; they are payload and must not be walked.
        let later = ipv6_with(
            &[
                Ext::Options(0),
                Ext::Fragment {
                    offset: 150,
                    more: false,
                },
            ],
            6,
            &[60, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        );
        assert_eq!(decode(Version::V6, &later), whole(v6_key((0, 0), 6)));
    }

    #[test]
    fn ipv6_esp_and_no_next_header_end_the_walk() {
        let esp = ipv6_with(&[Ext::Options(0)], 50, &[0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(decode(Version::V6, &esp), whole(v6_key((0, 0), 50)));
        let none = ipv6_with(&[Ext::Options(60)], 59, &[]);
        assert_eq!(decode(Version::V6, &none), whole(v6_key((0, 0), 59)));
    }

    #[test]
    fn ipv6_payload_length_zero_or_beyond_capture_falls_back_to_capture() {
        let mut jumbo = ipv6_udp();
        jumbo[IPV6_PAYLOAD_LEN..IPV6_PAYLOAD_LEN + 2].copy_from_slice(&[0, 0]);
        assert_eq!(decode(Version::V6, &jumbo), whole(v6_key((546, 547), 17)));
        let mut claims_more = ipv6_udp();
        claims_more[IPV6_PAYLOAD_LEN..IPV6_PAYLOAD_LEN + 2].copy_from_slice(&[0x10, 0]);
        assert_eq!(
            decode(Version::V6, &claims_more),
            whole(v6_key((546, 547), 17))
        );
    }

    #[test]
    fn ipv6_too_many_extension_headers_is_malformed() {
        let chain = [Ext::Options(60); MAX_IPV6_EXTENSION_HEADERS + 1];
        let udp = udp_header_of(&ipv6_udp(), IPV6_HEADER_LEN);
        assert_eq!(
            decode(Version::V6, &ipv6_with(&chain, 17, &udp)),
            Err(UnparsedReason::Malformed)
        );
        let allowed = &chain[..MAX_IPV6_EXTENSION_HEADERS - 1];
        assert_eq!(
            decode(Version::V6, &ipv6_with(allowed, 17, &udp)),
            whole(v6_key((546, 547), 17))
        );
    }

    #[test]
    fn ipv6_zero_length_authentication_header_is_malformed() {
        let mut packet = ipv6_with(&[Ext::Auth], 17, &[0; 8]);
        packet[IPV6_HEADER_LEN + 1] = 0;
        assert_eq!(decode(Version::V6, &packet), Err(UnparsedReason::Malformed));
    }

    #[test]
    fn every_cut_of_an_ipv4_packet_gives_the_right_answer() {
        let packet = ipv4_udp(b"payload");
        for len in 0..=packet.len() {
            let expected = match len {
                0..20 => Err(UnparsedReason::Truncated),
                20..24 => cut(v4_key((0, 0), 17)),
                _ => whole(v4_key((40000, 53), 17)),
            };
            assert_eq!(
                decode(Version::V4, &packet[..len]),
                expected,
                "cut at {len}"
            );
        }
    }

    #[test]
    fn every_cut_of_an_ipv6_packet_with_extensions_gives_the_right_answer() {
        let udp = udp_header_of(&ipv6_udp(), IPV6_HEADER_LEN);
        let chain = [
            Ext::Options(0),
            Ext::Fragment {
                offset: 0,
                more: true,
            },
        ];
        let packet = ipv6_with(&chain, 17, &udp);
        for len in 0..=packet.len() {
            let expected = match len {
                0..40 => Err(UnparsedReason::Truncated),
                40..48 => cut(v6_key((0, 0), 0)),
                48..56 => cut(v6_key((0, 0), 44)),
                56..60 => cut(v6_key((0, 0), 17)),
                _ => whole(v6_key((546, 547), 17)),
            };
            assert_eq!(
                decode(Version::V6, &packet[..len]),
                expected,
                "cut at {len}"
            );
        }
    }
}
