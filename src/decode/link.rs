//! Below IP: from a link type and a frame to the outermost IP packet and the version to expect;
//! also the Ethernet frames and PPP packets that tunnels carry.
//!
//! Strips link headers (Ethernet, Linux cooked v1/v2, BSD null/loop, PPP, PPP-in-HDLC) and the
//! encapsulations that can sit between them and IP (802.1Q/802.1ad/QinQ tags, MPLS label
//! stacks, PPPoE sessions). Knows nothing of IP beyond the version nibble under MPLS; the
//! fixed fields are read by hand at the named offsets below because each is a byte or two.

use super::ip::Version;
use super::{LinkType, UnparsedReason};

/// Ethernet II: destination MAC, source MAC, EtherType.
const ETHERNET_TYPE: usize = 12;
const ETHERNET_LEN: usize = 14;

/// 802.1Q/802.1ad tag after its TPID: TCI, then the inner EtherType.
const VLAN_TYPE: usize = 2;
const VLAN_LEN: usize = 4;
/// Stacked tags beyond this are not traffic anyone builds; stop rather than walk a long chain.
const MAX_VLAN_TAGS: usize = 8;

/// One MPLS label stack entry: label (20 bits), traffic class, bottom-of-stack bit, TTL.
const MPLS_ENTRY_LEN: usize = 4;
const MPLS_BOS_BYTE: usize = 2;
const MPLS_BOS_BIT: u8 = 0x01;
/// Deeper stacks than this are not seen in practice; stop rather than walk a long chain.
const MAX_MPLS_LABELS: usize = 16;

/// PPPoE session: version/type, code, session id, length; the PPP protocol follows.
const PPPOE_LEN: usize = 6;

/// Linux cooked v1: packet type, ARPHRD type, address length, address (8), protocol.
const SLL_PROTOCOL: usize = 14;
const SLL_LEN: usize = 16;
/// Linux cooked v2: protocol, reserved, interface index, ARPHRD type, packet type, address
/// length, address (8).
const SLL2_PROTOCOL: usize = 0;
const SLL2_LEN: usize = 20;

/// BSD null/loop: a 4-byte address family.
const NULL_LEN: usize = 4;
const AF_INET: u32 = 2;
/// AF_INET6 differs per BSD: NetBSD/OpenBSD, FreeBSD/DragonFly, macOS.
const AF_INET6: [u32; 3] = [24, 28, 30];

/// HDLC address and control bytes in front of PPP (0xff 0x03) or Cisco HDLC (0x0f/0x8f, 0x00).
const HDLC_LEN: usize = 2;
const PPP_ADDRESS: u8 = 0xff;
const PPP_CONTROL: u8 = 0x03;
const CISCO_HDLC_UNICAST: u8 = 0x0f;
const CISCO_HDLC_MULTICAST: u8 = 0x8f;

const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

/// Returns the bytes from the outermost IP header on, and which IP version the link promised.
pub(super) fn strip(link: LinkType, frame: &[u8]) -> Result<(Version, &[u8]), UnparsedReason> {
    match link {
        LinkType::ETHERNET => ethernet(frame),
        LinkType::LINUX_SLL => cooked(frame, SLL_PROTOCOL, SLL_LEN),
        LinkType::LINUX_SLL2 => cooked(frame, SLL2_PROTOCOL, SLL2_LEN),
        LinkType::RAW | LinkType::DLT_RAW | LinkType::DLT_RAW_OPENBSD => Ok((Version::Any, frame)),
        LinkType::IPV4 => Ok((Version::V4, frame)),
        LinkType::IPV6 => Ok((Version::V6, frame)),
        LinkType::NULL => null(frame, true),
        LinkType::LOOP => null(frame, false),
        LinkType::PPP => ppp(frame),
        LinkType::PPP_HDLC => ppp_hdlc(frame),
        _ => Err(UnparsedReason::UnsupportedLinkType),
    }
}

pub(super) fn ethernet(frame: &[u8]) -> Result<(Version, &[u8]), UnparsedReason> {
    let ethertype = be16(frame, ETHERNET_TYPE).ok_or(UnparsedReason::Truncated)?;
    ethertype_payload(ethertype, after(frame, ETHERNET_LEN))
}

/// Linux cooked captures carry an EtherType in their protocol field for anything IP can ride
/// on; the small values (802.3, 802.2, CAN, netlink families) are never IP.
fn cooked(
    frame: &[u8],
    protocol_at: usize,
    len: usize,
) -> Result<(Version, &[u8]), UnparsedReason> {
    if frame.len() < len {
        return Err(UnparsedReason::Truncated);
    }
    let protocol = be16(frame, protocol_at).ok_or(UnparsedReason::Truncated)?;
    ethertype_payload(protocol, after(frame, len))
}

/// The family is in the capturing host's byte order for DLT_NULL, so a small value in either
/// order counts; the two orders cannot collide because the families all fit in one byte.
fn null(frame: &[u8], any_byte_order: bool) -> Result<(Version, &[u8]), UnparsedReason> {
    let Some(&[a, b, c, d]) = frame.get(..NULL_LEN) else {
        return Err(UnparsedReason::Truncated);
    };
    let network_order = u32::from_be_bytes([a, b, c, d]);
    let swapped = u32::from_le_bytes([a, b, c, d]);
    let is = |family: u32| network_order == family || (any_byte_order && swapped == family);
    let payload = after(frame, NULL_LEN);
    if is(AF_INET) {
        Ok((Version::V4, payload))
    } else if AF_INET6.into_iter().any(is) {
        Ok((Version::V6, payload))
    } else {
        Err(UnparsedReason::NotIp)
    }
}

/// DLT_PPP frames may or may not keep the HDLC address and control bytes.
pub(super) fn ppp(frame: &[u8]) -> Result<(Version, &[u8]), UnparsedReason> {
    match frame {
        [PPP_ADDRESS] => Err(UnparsedReason::Truncated),
        [PPP_ADDRESS, PPP_CONTROL, rest @ ..] => ppp_protocol(rest),
        _ => ppp_protocol(frame),
    }
}

fn ppp_hdlc(frame: &[u8]) -> Result<(Version, &[u8]), UnparsedReason> {
    let Some(&address) = frame.first() else {
        return Err(UnparsedReason::Truncated);
    };
    let rest = frame.get(HDLC_LEN..).ok_or(UnparsedReason::Truncated)?;
    if address == CISCO_HDLC_UNICAST || address == CISCO_HDLC_MULTICAST {
        let ethertype = be16(rest, 0).ok_or(UnparsedReason::Truncated)?;
        ethertype_payload(ethertype, after(rest, 2))
    } else {
        ppp_protocol(rest)
    }
}

/// A PPP protocol field, which is one byte when protocol-field compression was negotiated (an
/// odd first byte marks the compressed form).
fn ppp_protocol(bytes: &[u8]) -> Result<(Version, &[u8]), UnparsedReason> {
    let (protocol, rest) = match bytes {
        [] => return Err(UnparsedReason::Truncated),
        [low, rest @ ..] if low & 1 == 1 => (u16::from(*low), rest),
        [_] => return Err(UnparsedReason::Truncated),
        [high, low, rest @ ..] => (u16::from_be_bytes([*high, *low]), rest),
    };
    match protocol {
        PPP_IPV4 => Ok((Version::V4, rest)),
        PPP_IPV6 => Ok((Version::V6, rest)),
        _ => Err(UnparsedReason::NotIp),
    }
}

/// Follows an EtherType through VLAN tags, MPLS and PPPoE to IP.
pub(super) fn ethertype_payload(
    ethertype: u16,
    payload: &[u8],
) -> Result<(Version, &[u8]), UnparsedReason> {
    let mut ethertype = ethertype;
    let mut payload = payload;
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_IPV4 => return Ok((Version::V4, payload)),
            ETHERTYPE_IPV6 => return Ok((Version::V6, payload)),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                ethertype = be16(payload, VLAN_TYPE).ok_or(UnparsedReason::Truncated)?;
                payload = after(payload, VLAN_LEN);
            }
            ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST => return mpls(payload),
            ETHERTYPE_PPPOE_SESSION => {
                let ppp = payload.get(PPPOE_LEN..).ok_or(UnparsedReason::Truncated)?;
                return ppp_protocol(ppp);
            }
            _ => return Err(UnparsedReason::NotIp),
        }
    }
    Err(UnparsedReason::UnsupportedEncapsulation)
}

/// MPLS does not say what it carries: after the bottom of the stack, the first nibble tells IPv4
/// and IPv6 apart; anything else (a pseudowire control word, bare Ethernet) is left alone.
fn mpls(stack: &[u8]) -> Result<(Version, &[u8]), UnparsedReason> {
    let mut rest = stack;
    for _ in 0..MAX_MPLS_LABELS {
        let bos = *rest.get(MPLS_BOS_BYTE).ok_or(UnparsedReason::Truncated)? & MPLS_BOS_BIT;
        rest = rest
            .get(MPLS_ENTRY_LEN..)
            .ok_or(UnparsedReason::Truncated)?;
        if bos != 0 {
            return match rest.first().map(|b| b >> 4) {
                None => Err(UnparsedReason::Truncated),
                Some(4) => Ok((Version::V4, rest)),
                Some(6) => Ok((Version::V6, rest)),
                Some(_) => Err(UnparsedReason::UnsupportedEncapsulation),
            };
        }
    }
    Err(UnparsedReason::UnsupportedEncapsulation)
}

pub(super) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..)? {
        [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

/// The bytes after a header already known to be complete (empty if it was not).
fn after(bytes: &[u8], len: usize) -> &[u8] {
    bytes.get(len..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPV4_START: [u8; 2] = [0x45, 0x00];
    const IPV6_START: [u8; 2] = [0x60, 0x00];

    fn frame(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn ethernet_header(ethertype: u16) -> Vec<u8> {
        frame(&[&[0xaa; 6], &[0xbb; 6], &ethertype.to_be_bytes()])
    }

    fn mpls_entry(label: u32, bottom: bool) -> [u8; 4] {
        (label << 12 | u32::from(bottom) << 8 | 64).to_be_bytes()
    }

    fn pppoe_session(ppp_protocol: u16) -> Vec<u8> {
        frame(&[
            &[0x11, 0x00, 0x12, 0x34, 0x00, 0x40],
            &ppp_protocol.to_be_bytes(),
        ])
    }

    fn assert_strips(link: LinkType, frame: &[u8], version: Version, ip_at: usize) {
        let (got_version, ip) = strip(link, frame).unwrap();
        assert_eq!(got_version, version);
        assert_eq!(ip, &frame[ip_at..]);
    }

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        let v4 = frame(&[&ethernet_header(0x0800), &IPV4_START]);
        assert_strips(LinkType::ETHERNET, &v4, Version::V4, 14);
        let v6 = frame(&[&ethernet_header(0x86dd), &IPV6_START]);
        assert_strips(LinkType::ETHERNET, &v6, Version::V6, 14);
    }

    #[test]
    fn ethernet_non_ip_and_802_3_are_not_ip() {
        for ethertype in [0x0806, 0x88cc, 0x8863, 0x0040, 0x05dc] {
            let f = frame(&[&ethernet_header(ethertype), &IPV4_START]);
            assert_eq!(strip(LinkType::ETHERNET, &f), Err(UnparsedReason::NotIp));
        }
    }

    #[test]
    fn vlan_qinq_and_old_qinq_tags_are_stripped() {
        let f = frame(&[
            &ethernet_header(0x88a8),
            &[0x00, 0x01, 0x91, 0x00],
            &[0x00, 0x02, 0x81, 0x00],
            &[0x00, 0x03, 0x08, 0x00],
            &IPV4_START,
        ]);
        assert_strips(LinkType::ETHERNET, &f, Version::V4, 14 + 12);
    }

    #[test]
    fn vlan_stack_depth_is_limited() {
        let mut parts = vec![ethernet_header(0x8100)];
        for _ in 0..MAX_VLAN_TAGS - 1 {
            parts.push(vec![0x00, 0x01, 0x81, 0x00]);
        }
        parts.push(vec![0x00, 0x01, 0x86, 0xdd]);
        parts.push(IPV6_START.to_vec());
        let deepest_allowed: Vec<u8> = parts.concat();
        assert_strips(
            LinkType::ETHERNET,
            &deepest_allowed,
            Version::V6,
            14 + 4 * MAX_VLAN_TAGS,
        );

        parts.insert(1, vec![0x00, 0x01, 0x81, 0x00]);
        assert_eq!(
            strip(LinkType::ETHERNET, &parts.concat()),
            Err(UnparsedReason::UnsupportedEncapsulation)
        );
    }

    #[test]
    fn mpls_stack_is_walked_to_the_bottom_then_ip_version_decides() {
        let v6 = frame(&[
            &ethernet_header(0x8847),
            &mpls_entry(16, false),
            &mpls_entry(17, false),
            &mpls_entry(18, true),
            &IPV6_START,
        ]);
        assert_strips(LinkType::ETHERNET, &v6, Version::V6, 14 + 12);
        let v4 = frame(&[&ethernet_header(0x8848), &mpls_entry(3, true), &IPV4_START]);
        assert_strips(LinkType::ETHERNET, &v4, Version::V4, 18);
    }

    #[test]
    fn mpls_pseudowire_is_an_unsupported_encapsulation() {
        let control_word = frame(&[
            &ethernet_header(0x8847),
            &mpls_entry(100, true),
            &[0, 0, 0, 0],
            &ethernet_header(0x0800),
        ]);
        assert_eq!(
            strip(LinkType::ETHERNET, &control_word),
            Err(UnparsedReason::UnsupportedEncapsulation)
        );
        let endless: Vec<u8> = frame(&[&ethernet_header(0x8847), &[0u8; 4 * 40]]);
        assert_eq!(
            strip(LinkType::ETHERNET, &endless),
            Err(UnparsedReason::UnsupportedEncapsulation)
        );
    }

    #[test]
    fn mpls_cut_before_the_bottom_is_truncated() {
        let f = frame(&[&ethernet_header(0x8847), &mpls_entry(16, false), &[0, 0]]);
        assert_eq!(
            strip(LinkType::ETHERNET, &f),
            Err(UnparsedReason::Truncated)
        );
        let f = frame(&[&ethernet_header(0x8847), &mpls_entry(16, true)]);
        assert_eq!(
            strip(LinkType::ETHERNET, &f),
            Err(UnparsedReason::Truncated)
        );
    }

    #[test]
    fn pppoe_session_over_vlan() {
        let f = frame(&[
            &ethernet_header(0x8100),
            &[0x00, 0x07, 0x88, 0x64],
            &pppoe_session(0x0057),
            &IPV6_START,
        ]);
        assert_strips(LinkType::ETHERNET, &f, Version::V6, 14 + 4 + 8);
        let lcp = frame(&[&ethernet_header(0x8864), &pppoe_session(0xc021)]);
        assert_eq!(strip(LinkType::ETHERNET, &lcp), Err(UnparsedReason::NotIp));
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let sll = frame(&[
            &[0, 0, 0, 1, 0, 6],
            &[1, 2, 3, 4, 5, 6, 0, 0],
            &0x0800u16.to_be_bytes(),
            &IPV4_START,
        ]);
        assert_strips(LinkType::LINUX_SLL, &sll, Version::V4, 16);
        let sll2 = frame(&[
            &0x86ddu16.to_be_bytes(),
            &[0, 0],
            &3u32.to_be_bytes(),
            &[0, 1, 4, 6],
            &[1, 2, 3, 4, 5, 6, 0, 0],
            &IPV6_START,
        ]);
        assert_strips(LinkType::LINUX_SLL2, &sll2, Version::V6, 20);
        let sll2_vlan = frame(&[&0x8100u16.to_be_bytes(), &sll2[2..20], &[0, 5, 0x08, 0x00]]);
        assert_strips(LinkType::LINUX_SLL2, &sll2_vlan, Version::V4, 24);

        let netlink = frame(&[&[0, 4, 0x03, 0x38, 0, 0], &[0; 8], &[0, 0]]);
        assert_eq!(
            strip(LinkType::LINUX_SLL, &netlink),
            Err(UnparsedReason::NotIp)
        );
        assert_eq!(
            strip(LinkType::LINUX_SLL, &sll[..15]),
            Err(UnparsedReason::Truncated)
        );
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &sll2[..19]),
            Err(UnparsedReason::Truncated)
        );
    }

    #[test]
    fn null_accepts_either_byte_order_and_every_bsd_inet6() {
        for family in [AF_INET.to_le_bytes(), AF_INET.to_be_bytes()] {
            assert_strips(
                LinkType::NULL,
                &frame(&[&family, &IPV4_START]),
                Version::V4,
                4,
            );
        }
        for af in AF_INET6 {
            for family in [af.to_le_bytes(), af.to_be_bytes()] {
                assert_strips(
                    LinkType::NULL,
                    &frame(&[&family, &IPV6_START]),
                    Version::V6,
                    4,
                );
            }
        }
        let af_unix = 1u32.to_le_bytes();
        assert_eq!(
            strip(LinkType::NULL, &frame(&[&af_unix, &IPV4_START])),
            Err(UnparsedReason::NotIp)
        );
        assert_eq!(
            strip(LinkType::NULL, &[2, 0, 0]),
            Err(UnparsedReason::Truncated)
        );
    }

    #[test]
    fn loop_is_network_order_only() {
        let be = frame(&[&AF_INET.to_be_bytes(), &IPV4_START]);
        assert_strips(LinkType::LOOP, &be, Version::V4, 4);
        let le = frame(&[&AF_INET.to_le_bytes(), &IPV4_START]);
        assert_eq!(strip(LinkType::LOOP, &le), Err(UnparsedReason::NotIp));
    }

    #[test]
    fn raw_link_types_pass_the_packet_through() {
        for (link, version) in [
            (LinkType::RAW, Version::Any),
            (LinkType::DLT_RAW, Version::Any),
            (LinkType::DLT_RAW_OPENBSD, Version::Any),
            (LinkType::IPV4, Version::V4),
            (LinkType::IPV6, Version::V6),
        ] {
            assert_strips(link, &IPV4_START, version, 0);
        }
    }

    #[test]
    fn ppp_with_and_without_hdlc_bytes_and_compressed_protocol() {
        assert_strips(
            LinkType::PPP,
            &[0xff, 0x03, 0x00, 0x21, 0x45],
            Version::V4,
            4,
        );
        assert_strips(LinkType::PPP, &[0x00, 0x57, 0x60], Version::V6, 2);
        assert_strips(LinkType::PPP, &[0x21, 0x45], Version::V4, 1);
        assert_eq!(
            strip(LinkType::PPP, &[0xc0, 0x21, 1]),
            Err(UnparsedReason::NotIp)
        );
        assert_eq!(
            strip(LinkType::PPP, &[0xff, 0x03, 0x00]),
            Err(UnparsedReason::Truncated)
        );
    }

    #[test]
    fn ppp_hdlc_and_cisco_hdlc() {
        assert_strips(
            LinkType::PPP_HDLC,
            &[0xff, 0x03, 0x00, 0x57, 0x60],
            Version::V6,
            4,
        );
        assert_strips(
            LinkType::PPP_HDLC,
            &[0x0f, 0x00, 0x08, 0x00, 0x45],
            Version::V4,
            4,
        );
        assert_strips(
            LinkType::PPP_HDLC,
            &[0x8f, 0x00, 0x86, 0xdd, 0x60],
            Version::V6,
            4,
        );
        assert_eq!(
            strip(LinkType::PPP_HDLC, &[0xff]),
            Err(UnparsedReason::Truncated)
        );
    }

    #[test]
    fn every_cut_of_a_stacked_frame_before_ip_is_truncated() {
        let f = frame(&[
            &ethernet_header(0x88a8),
            &[0x00, 0x01, 0x81, 0x00],
            &[0x00, 0x02, 0x88, 0x47],
            &mpls_entry(16, false),
            &mpls_entry(17, true),
            &IPV4_START,
        ]);
        let ip_at = f.len() - IPV4_START.len();
        assert_strips(LinkType::ETHERNET, &f, Version::V4, ip_at);
        for cut in 0..ip_at {
            assert_eq!(
                strip(LinkType::ETHERNET, &f[..cut]),
                Err(UnparsedReason::Truncated),
                "cut at {cut}"
            );
        }
    }
}
