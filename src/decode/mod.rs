//! Frames to flow keys: link layers, VLAN/QinQ, MPLS, PPPoE, IPv4/IPv6, the transport ports,
//! and on request the tunnels in between.
//!
//! `decode` knows nothing of sketches, time or where frames come from: it reads one frame and
//! returns a small `Copy` value, or the reason it could not. Nothing borrowed from the frame
//! leaves this module, and nothing here allocates, logs or panics, because it runs once per
//! packet at millions of packets per second.
//!
//! The work is split by layer: `link` strips everything below IP and says which IP version
//! to expect, `ip` reads one IP header, walks its extension headers and reads the ports.
//! By default tunnels are not opened: the outermost IP header is the flow, as the wire carries
//! it. With decapsulation ([`DecodeOptions::decap`], [`decapsulate`]) `tunnel` turns an IP
//! layer carrying a known tunnel into the packet inside, which goes through `ip` again (and
//! through `link` first when the tunnel carries Ethernet or PPP), up to [`MAX_TUNNELS`] deep.

mod ip;
mod link;
mod tunnel;

use std::net::IpAddr;

/// A directional five-tuple. Ports are 0 for protocols without ports and for non-first fragments.
///
/// It is taken from the outermost IP header, or with decapsulation from the innermost one
/// reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP/UDP/SCTP/UDP-Lite/DCCP source port, else 0.
    pub src_port: u16,
    /// TCP/UDP/SCTP/UDP-Lite/DCCP destination port, else 0.
    pub dst_port: u16,
    /// IP protocol number after any IPv6 extension headers (and an IPv4 AH header).
    pub protocol: u8,
}

/// What a frame decoded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The flow the frame belongs to.
    pub key: FlowKey,
    /// The IP header was complete but the capture ended before the ports (inside an extension
    /// header or the first four bytes of the transport header); the ports are then 0.
    pub transport_truncated: bool,
    /// Set by decapsulation only: the IP header keyed carries a tunnel that could not be
    /// opened (see [`decapsulate`]), and this says why. The packet still counts, under that
    /// header's flow; `None` from [`decode`] and whenever every tunnel was opened.
    pub decap_fallback: Option<UnparsedReason>,
}

/// A libpcap data-link type (DLT / LINKTYPE number), as a capture file or interface reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (and 802.3, which carries no IP we decode).
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP, optionally with the HDLC address and control bytes.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP as libpcap names it on most systems (DLT_RAW).
    pub const DLT_RAW: LinkType = LinkType(12);
    /// Raw IP as OpenBSD's libpcap names it (DLT_RAW there).
    pub const DLT_RAW_OPENBSD: LinkType = LinkType(14);
    /// PPP in HDLC-like framing, or Cisco PPP with HDLC framing.
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// Raw IP as stored in capture files (LINKTYPE_RAW).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture, version 1 (`any` interface).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture, version 2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// Why a frame did not produce a flow key. Indexes a counter array; label values come from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnparsedReason {
    /// The frame carries something other than IP (ARP, LLDP, 802.3/LLC, PPP control, ...).
    NotIp,
    /// The capture's link type is not one `decode` reads.
    UnsupportedLinkType,
    /// The frame ends inside a link-layer header or the IP header.
    Truncated,
    /// A header is impossible: wrong IP version, IPv4 header length below 20 bytes, ...
    Malformed,
    /// A known encapsulation that `decode` does not see through: an MPLS payload that is not
    /// IP (pseudowire control word or bare Ethernet), or more stacked VLAN tags than the limit.
    UnsupportedEncapsulation,
}

impl UnparsedReason {
    /// Every reason, in [`UnparsedReason::index`] order.
    pub const ALL: [UnparsedReason; 5] = [
        UnparsedReason::NotIp,
        UnparsedReason::UnsupportedLinkType,
        UnparsedReason::Truncated,
        UnparsedReason::Malformed,
        UnparsedReason::UnsupportedEncapsulation,
    ];
    /// The number of reasons, for sizing counter arrays.
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index in `0..COUNT`, for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case label value used in metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            UnparsedReason::NotIp => "not_ip",
            UnparsedReason::UnsupportedLinkType => "unsupported_link_type",
            UnparsedReason::Truncated => "truncated",
            UnparsedReason::Malformed => "malformed",
            UnparsedReason::UnsupportedEncapsulation => "unsupported_encapsulation",
        }
    }
}

/// Decodes one captured frame of the given link type into the flow of its outermost IP header.
///
/// The frame is the captured bytes only; lengths claimed by headers beyond them fall back to
/// what was captured, so snaplen-cut frames still decode as far as their bytes go.
///
/// # Errors
///
/// The [`UnparsedReason`] for frames that carry no complete outermost IP header.
#[inline]
pub fn decode(link_type: LinkType, frame: &[u8]) -> Result<Decoded, UnparsedReason> {
    if link_type == LinkType::ETHERNET {
        if let Some(decoded) = plain_ethernet_ipv4(frame) {
            return Ok(decoded);
        }
    }
    let (version, packet) = link::strip(link_type, frame)?;
    ip::decode(version, packet)
}

/// [`decode`] of the commonest frame alone: Ethernet, no VLAN tag, IPv4 without options and
/// not a later fragment or AH, with room for the ports; `None` for anything else, which the
/// general path reads. The same rules as the general path (the IP total length bounds the
/// transport bytes unless it lies outside header length..captured length), read straight
/// from the bytes, so that the bulk of a link's packets skips the link-type and EtherType
/// dispatch and the header parsers: a third of the decoding's instructions.
/// `tests::the_plain_path_agrees_with_the_general_one` checks it against the general path.
#[inline]
fn plain_ethernet_ipv4(frame: &[u8]) -> Option<Decoded> {
    const IPV4_HEADER: usize = 20;
    let ip = match frame {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x08, 0x00, ip @ ..] => ip,
        _ => return None,
    };
    let [0x45, _, total_high, total_low, _, _, fragment_high, fragment_low, _, protocol, _, _, s0, s1, s2, s3, d0, d1, d2, d3, ..] =
        *ip
    else {
        return None;
    };
    if fragment_high & 0x1f != 0 || fragment_low != 0 || protocol == ip::AUTH_PROTOCOL {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([total_high, total_low]));
    let end = if (IPV4_HEADER..=ip.len()).contains(&total_len) {
        total_len
    } else {
        ip.len()
    };
    let (src_port, dst_port, transport_truncated) = if ip::has_ports(protocol) {
        match ip.get(IPV4_HEADER..end)? {
            [p0, p1, p2, p3, ..] => (
                u16::from_be_bytes([*p0, *p1]),
                u16::from_be_bytes([*p2, *p3]),
                false,
            ),
            _ => return None,
        }
    } else {
        (0, 0, false)
    };
    Some(Decoded {
        key: FlowKey {
            src: IpAddr::V4([s0, s1, s2, s3].into()),
            dst: IpAddr::V4([d0, d1, d2, d3].into()),
            src_port,
            dst_port,
            protocol,
        },
        transport_truncated,
        decap_fallback: None,
    })
}

/// How frames are read; the default is [`decode`]'s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Key packets by the innermost IP flow of the tunnels [`decapsulate`] opens instead of
    /// the outermost IP header.
    pub decap: bool,
}

/// Decodes one frame as `options` say: [`decode`], or with `decap` the flow [`decapsulate`]
/// finds. Packet loops call this with the same options for every frame, so the one branch
/// is predicted.
///
/// # Errors
///
/// The [`UnparsedReason`] for frames that carry no complete outermost IP header.
#[inline]
pub fn decode_with(
    options: DecodeOptions,
    link_type: LinkType,
    frame: &[u8],
) -> Result<Decoded, UnparsedReason> {
    if options.decap {
        decapsulate(link_type, frame).map(|d| d.decoded)
    } else {
        decode(link_type, frame)
    }
}

/// Tunnels opened at most, one inside the other. Real traffic nests two or three (an
/// IPv4-in-IPv6 transition tunnel carrying PPTP, say); deeper nesting is a loop or an attack,
/// and following it would make a packet's cost unbounded.
pub const MAX_TUNNELS: u8 = 4;

/// What [`decapsulate`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    /// The flow of the innermost IP header reached. Its [`Decoded::decap_fallback`] is set
    /// when that header carries a tunnel that could not be opened: the tunnel header or the
    /// packet inside is cut short or malformed, it carries no IP (ARP over VXLAN, a GTP-U
    /// echo, PPP control over L2TP), or it lies beyond [`MAX_TUNNELS`]
    /// (`UnsupportedEncapsulation`). The packet still counts, under the flow of the last IP
    /// header that could be read, so nothing is lost.
    pub decoded: Decoded,
    /// Tunnels opened to reach it (0 when the packet was not tunnelled).
    pub tunnels: u8,
}

/// Decodes one frame and opens the tunnels in it: IP-in-IP (IPv4 or IPv6 in IPv4 or IPv6,
/// 6in4 included), GRE (with key, sequence number, checksum and RFC 1701 routing; carrying IP,
/// MPLS, Ethernet, or PPP as PPTP does), ERSPAN types I, II and III, VXLAN (UDP 4789),
/// GENEVE (UDP 6081), GTP-U G-PDUs (UDP 2152), L2TPv2 data (UDP 1701) and Teredo (UDP 3544).
/// Ethernet inside a tunnel may carry VLAN tags, MPLS and PPPoE as on the outside.
///
/// The flow is the innermost IP header reached; ICMP errors quoting a packet are not tunnels.
/// A later fragment of a tunnel packet counts under its own (outer) header, as its bytes
/// continue a packet seen before.
///
/// # Errors
///
/// The [`UnparsedReason`] for frames that carry no complete outermost IP header. What goes
/// wrong further in is reported in [`Decoded::decap_fallback`], not as an error.
pub fn decapsulate(link_type: LinkType, frame: &[u8]) -> Result<Decapsulated, UnparsedReason> {
    let (version, packet) = link::strip(link_type, frame)?;
    let mut network = ip::network(version, packet)?;
    let mut tunnels = 0;
    let decap_fallback = loop {
        let Some(inner) = tunnel::open(&network) else {
            break None;
        };
        if tunnels == MAX_TUNNELS {
            break Some(UnparsedReason::UnsupportedEncapsulation);
        }
        match inner.and_then(|(version, packet)| ip::network(version, packet)) {
            Ok(inside) => {
                network = inside;
                tunnels += 1;
            }
            Err(reason) => break Some(reason),
        }
    };
    Ok(Decapsulated {
        decoded: Decoded {
            decap_fallback,
            ..network.decoded()
        },
        tunnels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [192, 168, 1, 2];

    fn ipv4_udp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(SRC, DST, 64)
            .udp(5353, 53)
            .write(&mut packet, b"hello")
            .unwrap();
        packet
    }

    /// The flow key of `src` to `dst` with `ports` (source, destination); shared by the
    /// decoder's test modules.
    pub(super) fn key(src: IpAddr, dst: IpAddr, ports: (u16, u16), protocol: u8) -> FlowKey {
        FlowKey {
            src,
            dst,
            src_port: ports.0,
            dst_port: ports.1,
            protocol,
        }
    }

    fn expected() -> Decoded {
        Decoded {
            key: key(SRC.into(), DST.into(), (5353, 53), 17),
            transport_truncated: false,
            decap_fallback: None,
        }
    }

    fn ethernet(ethertype: u16) -> Vec<u8> {
        [&[2u8; 6][..], &[4; 6], &ethertype.to_be_bytes()].concat()
    }

    /// The same IPv4/UDP packet behind every link type and encapsulation `decode` reads.
    fn framings() -> Vec<(&'static str, LinkType, Vec<u8>)> {
        let ip = ipv4_udp();
        let wrap = |parts: &[&[u8]]| [parts, &[&ip[..]]].concat().concat();
        let mut built = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(SRC, DST, 64)
            .udp(5353, 53)
            .write(&mut built, b"hello")
            .unwrap();
        vec![
            ("ethernet", LinkType::ETHERNET, built),
            (
                "qinq",
                LinkType::ETHERNET,
                wrap(&[&ethernet(0x88a8), &[0, 10, 0x81, 0], &[0, 20, 0x08, 0]]),
            ),
            (
                "mpls",
                LinkType::ETHERNET,
                wrap(&[&ethernet(0x8847), &[0, 1, 0, 64], &[0, 2, 1, 64]]),
            ),
            (
                "pppoe",
                LinkType::ETHERNET,
                wrap(&[&ethernet(0x8864), &[0x11, 0, 0, 1, 0, 42], &[0, 0x21]]),
            ),
            (
                "sll",
                LinkType::LINUX_SLL,
                wrap(&[&[0, 0, 0, 1, 0, 6], &[9; 8], &[0x08, 0]]),
            ),
            (
                "sll2",
                LinkType::LINUX_SLL2,
                wrap(&[&[0x08, 0, 0, 0], &[0, 0, 0, 2], &[0, 1, 0, 6], &[9; 8]]),
            ),
            ("null", LinkType::NULL, wrap(&[&2u32.to_le_bytes()])),
            ("loop", LinkType::LOOP, wrap(&[&2u32.to_be_bytes()])),
            ("ppp", LinkType::PPP, wrap(&[&[0xff, 0x03, 0x00, 0x21]])),
            (
                "ppp_hdlc",
                LinkType::PPP_HDLC,
                wrap(&[&[0xff, 0x03, 0x00, 0x21]]),
            ),
            ("raw", LinkType::RAW, ip.clone()),
            ("dlt_raw", LinkType::DLT_RAW, ip.clone()),
            ("dlt_raw_openbsd", LinkType::DLT_RAW_OPENBSD, ip.clone()),
            ("ipv4", LinkType::IPV4, ip.clone()),
        ]
    }

    #[test]
    fn reasons_have_dense_indexes_and_distinct_snake_case_labels() {
        for (position, reason) in UnparsedReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), position);
            let label = reason.as_str();
            assert!(label.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        let labels: HashSet<_> = UnparsedReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), UnparsedReason::COUNT);
    }

    #[test]
    fn every_framing_decodes_to_the_same_flow() {
        for (name, link, frame) in framings() {
            assert_eq!(decode(link, &frame), Ok(expected()), "{name}");
        }
    }

    #[test]
    fn every_cut_of_every_framing_is_truncated_or_flagged() {
        const IPV4_HEADER_LEN: usize = 20;
        const PORTS_LEN: usize = 4;
        for (name, link, frame) in framings() {
            let ip_at = frame.len() - ipv4_udp().len();
            for len in 0..frame.len() {
                let got = decode(link, &frame[..len]);
                if len < ip_at + IPV4_HEADER_LEN {
                    assert_eq!(got, Err(UnparsedReason::Truncated), "{name} cut at {len}");
                } else if len < ip_at + IPV4_HEADER_LEN + PORTS_LEN {
                    let mut key = expected().key;
                    (key.src_port, key.dst_port) = (0, 0);
                    let flagged = Decoded {
                        key,
                        transport_truncated: true,
                        decap_fallback: None,
                    };
                    assert_eq!(got, Ok(flagged), "{name} cut at {len}");
                } else {
                    assert_eq!(got, Ok(expected()), "{name} cut at {len}");
                }
            }
        }
    }

    #[test]
    fn unknown_link_types_are_reported_as_such() {
        for link in [105, 127, 147, -1, i32::MAX] {
            assert_eq!(
                decode(LinkType(link), &ipv4_udp()),
                Err(UnparsedReason::UnsupportedLinkType)
            );
        }
    }

    const ALL_LINK_TYPES: [LinkType; 12] = [
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::PPP,
        LinkType::DLT_RAW,
        LinkType::DLT_RAW_OPENBSD,
        LinkType::PPP_HDLC,
        LinkType::RAW,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::LINUX_SLL2,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(
            link in prop::sample::select(ALL_LINK_TYPES.to_vec()),
            bytes in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            agree_but_for_tunnels(link, &bytes)?;
        }

        /// Valid frames with a few bytes overwritten and a random cut reach deep into the
        /// parsers, where purely random bytes rarely get.
        #[test]
        fn damaged_valid_frames_never_panic(
            which in 0usize..14,
            edits in prop::collection::vec((0usize..80, any::<u8>()), 0..6),
            cut in 0usize..100,
        ) {
            let (_, link, mut frame) = framings().swap_remove(which);
            for (at, byte) in edits {
                if let Some(slot) = frame.get_mut(at) {
                    *slot = byte;
                }
            }
            frame.truncate(cut);
            agree_but_for_tunnels(link, &frame)?;
        }
    }

    /// `decode` of an Ethernet frame without its plain path.
    fn general(frame: &[u8]) -> Result<Decoded, UnparsedReason> {
        let (version, packet) = link::strip(LinkType::ETHERNET, frame)?;
        ip::decode(version, packet)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Every field the plain path reads, at its edges: EtherType, version and header
        /// length, total length, fragment bits, protocol, and cuts through the ports.
        #[test]
        fn the_plain_path_agrees_with_the_general_one(
            ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x8100, 0x0806]),
            first in prop::sample::select(vec![0x45u8, 0x46, 0x44, 0x55, 0x65]),
            total_len in prop::sample::select(vec![0u16, 19, 20, 23, 24, 28, 40, 60, 1500]),
            fragment in prop::sample::select(vec![0u16, 0x4000, 0x2000, 0x0001, 0x1fff, 0x2001]),
            protocol in prop::sample::select(vec![6u8, 17, 132, 136, 33, 1, 47, 51, 50]),
            rest in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut frame = vec![0x02; 12];
            frame.extend(ethertype.to_be_bytes());
            frame.extend([first, 0]);
            frame.extend(total_len.to_be_bytes());
            frame.extend([0, 1]);
            frame.extend(fragment.to_be_bytes());
            frame.extend([64, protocol, 0, 0]);
            frame.extend(SRC);
            frame.extend(DST);
            frame.extend(rest);
            for cut in 0..=frame.len() {
                let frame = &frame[..cut];
                if let Some(plain) = plain_ethernet_ipv4(frame) {
                    prop_assert_eq!(Ok(plain), general(frame));
                }
            }
        }
    }

    /// The plain path reads most frames of the shipped Ethernet captures, and each as the
    /// general path does.
    #[test]
    fn the_plain_path_agrees_with_the_general_one_on_the_shipped_captures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let (mut plain, mut frames) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(mut capture) = pcap::Capture::from_file(&path) else {
                continue;
            };
            if capture.get_datalink() != pcap::Linktype::ETHERNET {
                continue;
            }
            while let Ok(packet) = capture.next_packet() {
                frames += 1;
                if let Some(decoded) = plain_ethernet_ipv4(packet.data) {
                    assert_eq!(Ok(decoded), general(packet.data), "{}", path.display());
                    plain += 1;
                }
            }
        }
        assert!(
            plain * 2 > frames,
            "{plain} of {frames} frames on the plain path"
        );
    }

    /// Decodes `frame` both ways (neither may panic) and checks that decapsulation loses no
    /// packet: it rejects exactly what `decode` rejects, and a packet with no tunnel opened
    /// keeps `decode`'s flow (flagged only if a tunnel could not be opened).
    fn agree_but_for_tunnels(link: LinkType, frame: &[u8]) -> Result<(), TestCaseError> {
        let outer = decode(link, frame);
        let inner = decapsulate(link, frame);
        if let Ok(outer) = outer {
            prop_assert_eq!(outer.decap_fallback, None);
        }
        match (outer, inner) {
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (Ok(a), Ok(b)) if b.tunnels == 0 => prop_assert_eq!(
                a,
                Decoded {
                    decap_fallback: None,
                    ..b.decoded
                }
            ),
            (Ok(_), Ok(_)) => {}
            (a, b) => prop_assert!(false, "decode {a:?}, decapsulate {b:?}"),
        }
        prop_assert_eq!(
            decode_with(DecodeOptions { decap: true }, link, frame),
            inner.map(|d| d.decoded)
        );
        prop_assert_eq!(decode_with(DecodeOptions::default(), link, frame), outer);
        Ok(())
    }
}
