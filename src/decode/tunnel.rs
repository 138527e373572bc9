//! Tunnels, for `--decap`: from an IP layer whose payload is a known tunnel to the packet it
//! carries and the IP version to expect there.
//!
//! Reads the tunnel headers only: IP-in-IP (IPv4 or IPv6 in IPv4 or IPv6), GRE (RFC 2784/2890,
//! RFC 1701 routing, PPTP's enhanced GRE), ERSPAN types I to III, VXLAN, GENEVE, GTP-U, L2TPv2
//! and Teredo. Knows nothing of how deep to go or what to do when the inside cannot be read
//! (that is `decode`'s business), nor of the Ethernet, PPP and EtherType chains inside (that is
//! `link`'s). UDP tunnels are recognised by their IANA destination port (Teredo by either port,
//! since its servers answer from 3544), the way the receiving endpoint does.

use etherparse::IpNumber;

use super::ip::{Network, Version};
use super::link::{self, be16};
use super::UnparsedReason;

/// What a tunnel carries: the next IP packet and its version, or why it cannot be reached.
pub(super) type Inner<'a> = Result<(Version, &'a [u8]), UnparsedReason>;

/// UDP: source port, destination port, length, checksum.
const UDP_DST_PORT: usize = 2;
const UDP_LEN: usize = 8;
const PORT_VXLAN: u16 = 4789;
const PORT_GENEVE: u16 = 6081;
const PORT_GTP_U: u16 = 2152;
const PORT_L2TP: u16 = 1701;
const PORT_TEREDO: u16 = 3544;

/// EtherTypes a tunnel may name for what it carries (the others go to `link`).
const ETHERTYPE_TRANSPARENT_BRIDGING: u16 = 0x6558;
const ETHERTYPE_ERSPAN_I_II: u16 = 0x88be;
const ETHERTYPE_ERSPAN_III: u16 = 0x22eb;
const ETHERTYPE_PPP: u16 = 0x880b;

/// The packet inside `network`'s payload when that payload is a tunnel; `None` when it is not
/// one (or when it is a later fragment, whose bytes continue a packet seen before).
#[inline]
pub(super) fn open<'a>(network: &Network<'a>) -> Option<Inner<'a>> {
    let payload = network.transport()?;
    match network.protocol() {
        IpNumber::IPV4 => Some(Ok((Version::V4, payload))),
        IpNumber::IPV6 => Some(Ok((Version::V6, payload))),
        IpNumber::GRE => Some(gre::inner(payload)),
        IpNumber::UDP => udp(payload),
        _ => None,
    }
}

/// UDP tunnels, by port. A UDP header cut before its destination port cannot be recognised.
fn udp(datagram: &[u8]) -> Option<Inner<'_>> {
    let src_port = be16(datagram, 0)?;
    let dst_port = be16(datagram, UDP_DST_PORT)?;
    // A datagram cut inside its header leaves an empty payload: every tunnel reads it as
    // truncated.
    let payload = datagram.get(UDP_LEN..).unwrap_or_default();
    match dst_port {
        PORT_VXLAN => Some(vxlan(payload)),
        PORT_GENEVE => Some(geneve(payload)),
        PORT_GTP_U => Some(gtp_u(payload)),
        PORT_L2TP => Some(l2tp(payload)),
        PORT_TEREDO => Some(teredo(payload)),
        _ if src_port == PORT_TEREDO => Some(teredo(payload)),
        _ => None,
    }
}

/// GRE and what rides on it.
mod gre {
    use super::*;

    /// Flags and version (2 bytes), then the protocol type (an EtherType).
    const PROTOCOL: usize = 2;
    const BASE_LEN: usize = 4;
    /// Each optional field (checksum and offset, key, sequence number, acknowledgment) is 4
    /// bytes.
    const FIELD_LEN: usize = 4;
    const CHECKSUM: u8 = 0x80;
    const ROUTING: u8 = 0x40;
    const KEY: u8 = 0x20;
    const SEQUENCE: u8 = 0x10;
    /// Second byte: the acknowledgment flag of enhanced GRE and the version.
    const ACK: u8 = 0x80;
    const VERSION_MASK: u8 = 0x07;
    const VERSION_GRE: u8 = 0;
    /// PPTP's enhanced GRE (RFC 2637): a key whose first half is the payload length.
    const VERSION_ENHANCED: u8 = 1;
    /// RFC 1701 source route entry: address family (2), SRE offset (1), SRE length (1), then
    /// that many bytes; an entry with family 0 and length 0 ends the list.
    const SRE_HEADER_LEN: usize = 4;
    const SRE_LENGTH: usize = 3;
    /// Routing lists are a few entries at most; a longer chain is treated as malformed.
    const MAX_SRES: usize = 16;

    pub(super) fn inner(gre: &[u8]) -> Inner<'_> {
        let (Some(&flags), Some(&version_byte), Some(protocol)) =
            (gre.first(), gre.get(1), be16(gre, PROTOCOL))
        else {
            return Err(UnparsedReason::Truncated);
        };
        let version = version_byte & VERSION_MASK;
        if version != VERSION_GRE && version != VERSION_ENHANCED {
            return Err(UnparsedReason::UnsupportedEncapsulation);
        }
        let mut at = BASE_LEN;
        if flags & (CHECKSUM | ROUTING) != 0 {
            at += FIELD_LEN;
        }
        let key_at = at;
        if flags & KEY != 0 {
            at += FIELD_LEN;
        }
        if flags & SEQUENCE != 0 {
            at += FIELD_LEN;
        }
        if version == VERSION_ENHANCED {
            if version_byte & ACK != 0 {
                at += FIELD_LEN;
            }
            if protocol != ETHERTYPE_PPP {
                return Err(UnparsedReason::UnsupportedEncapsulation);
            }
            // An acknowledgment alone carries nothing: the length half of its key is 0.
            if flags & KEY != 0 && be16(gre, key_at) == Some(0) {
                return Err(UnparsedReason::NotIp);
            }
            return link::ppp(gre.get(at..).ok_or(UnparsedReason::Truncated)?);
        }
        if flags & ROUTING != 0 {
            at = routing_end(gre, at)?;
        }
        let payload = gre.get(at..).ok_or(UnparsedReason::Truncated)?;
        match protocol {
            ETHERTYPE_TRANSPARENT_BRIDGING => link::ethernet(payload),
            ETHERTYPE_ERSPAN_I_II if flags & SEQUENCE == 0 => link::ethernet(payload),
            ETHERTYPE_ERSPAN_I_II | ETHERTYPE_ERSPAN_III => erspan(payload),
            ETHERTYPE_PPP => link::ppp(payload),
            _ => link::ethertype_payload(protocol, payload),
        }
    }

    /// Where the RFC 1701 source route entries starting at `at` end.
    fn routing_end(gre: &[u8], mut at: usize) -> Result<usize, UnparsedReason> {
        for _ in 0..MAX_SRES {
            let family = be16(gre, at).ok_or(UnparsedReason::Truncated)?;
            let len = *gre.get(at + SRE_LENGTH).ok_or(UnparsedReason::Truncated)?;
            at += SRE_HEADER_LEN + usize::from(len);
            if family == 0 && len == 0 {
                return Ok(at);
            }
        }
        Err(UnparsedReason::Malformed)
    }

    /// ERSPAN type II (version 1) and type III (version 2) headers; type I has none and was
    /// handled by the caller, since only the GRE sequence flag tells it from type II.
    fn erspan(header: &[u8]) -> Inner<'_> {
        /// The version is the first nibble.
        const VERSION_II: u8 = 1;
        const VERSION_III: u8 = 2;
        const LEN_II: usize = 8;
        const LEN_III: usize = 12;
        /// Type III: frame type (5 bits) in byte 10, the optional-subheader flag in byte 11.
        const FRAME_TYPE: usize = 10;
        const FRAME_TYPE_SHIFT: u8 = 2;
        const FRAME_TYPE_MASK: u8 = 0x1f;
        const FRAME_ETHERNET: u8 = 0;
        const FRAME_IP: u8 = 2;
        const OPTIONAL: usize = 11;
        const OPTIONAL_FLAG: u8 = 0x01;
        const OPTIONAL_LEN: usize = 8;

        let version = header.first().ok_or(UnparsedReason::Truncated)? >> 4;
        match version {
            VERSION_II => link::ethernet(header.get(LEN_II..).ok_or(UnparsedReason::Truncated)?),
            VERSION_III => {
                let (Some(&frame_byte), Some(&optional)) =
                    (header.get(FRAME_TYPE), header.get(OPTIONAL))
                else {
                    return Err(UnparsedReason::Truncated);
                };
                let len = if optional & OPTIONAL_FLAG != 0 {
                    LEN_III + OPTIONAL_LEN
                } else {
                    LEN_III
                };
                let frame = header.get(len..).ok_or(UnparsedReason::Truncated)?;
                match frame_byte >> FRAME_TYPE_SHIFT & FRAME_TYPE_MASK {
                    FRAME_ETHERNET => link::ethernet(frame),
                    FRAME_IP => Ok((Version::Any, frame)),
                    _ => Err(UnparsedReason::UnsupportedEncapsulation),
                }
            }
            _ => Err(UnparsedReason::UnsupportedEncapsulation),
        }
    }
}

/// VXLAN (RFC 7348): flags, reserved, VNI, reserved; an Ethernet frame follows. The flags are
/// not checked, as receivers commonly do not.
fn vxlan(header: &[u8]) -> Inner<'_> {
    const LEN: usize = 8;
    link::ethernet(header.get(LEN..).ok_or(UnparsedReason::Truncated)?)
}

/// GENEVE (RFC 8926): version and options length, flags, protocol type, VNI, then options.
fn geneve(header: &[u8]) -> Inner<'_> {
    const LEN: usize = 8;
    const VERSION_SHIFT: u8 = 6;
    const OPTIONS_LEN_MASK: u8 = 0x3f;
    /// The options length counts 4-byte words.
    const OPTIONS_UNIT: usize = 4;
    const PROTOCOL: usize = 2;

    let first = *header.first().ok_or(UnparsedReason::Truncated)?;
    let protocol = be16(header, PROTOCOL).ok_or(UnparsedReason::Truncated)?;
    if first >> VERSION_SHIFT != 0 {
        return Err(UnparsedReason::UnsupportedEncapsulation);
    }
    let len = LEN + usize::from(first & OPTIONS_LEN_MASK) * OPTIONS_UNIT;
    let payload = header.get(len..).ok_or(UnparsedReason::Truncated)?;
    match protocol {
        ETHERTYPE_TRANSPARENT_BRIDGING => link::ethernet(payload),
        _ => link::ethertype_payload(protocol, payload),
    }
}

/// GTP-U (3GPP TS 29.281): only G-PDU messages carry user packets. The sequence number,
/// N-PDU number and next-extension type are present when any of their flags is set, and the
/// extension headers chain from there, each giving its length in 4-byte units and ending with
/// the next type.
fn gtp_u(header: &[u8]) -> Inner<'_> {
    const FLAGS: usize = 0;
    const MESSAGE_TYPE: usize = 1;
    const LEN: usize = 8;
    const OPTIONAL_LEN: usize = 4;
    const NEXT_EXTENSION: usize = 11;
    const VERSION_SHIFT: u8 = 5;
    const VERSION_1: u8 = 1;
    const PROTOCOL_TYPE_GTP: u8 = 0x10;
    const EXTENSION: u8 = 0x04;
    const ANY_OPTIONAL: u8 = 0x07;
    const G_PDU: u8 = 255;
    const EXTENSION_UNIT: usize = 4;
    /// Real chains hold one or two extensions; a longer one is treated as malformed.
    const MAX_EXTENSIONS: usize = 16;

    let (Some(&flags), Some(&message_type)) = (header.get(FLAGS), header.get(MESSAGE_TYPE)) else {
        return Err(UnparsedReason::Truncated);
    };
    if flags >> VERSION_SHIFT != VERSION_1 || flags & PROTOCOL_TYPE_GTP == 0 {
        return Err(UnparsedReason::UnsupportedEncapsulation);
    }
    if message_type != G_PDU {
        // Echo, error indication, end marker: signalling about the tunnel, no user packet.
        return Err(UnparsedReason::NotIp);
    }
    if flags & ANY_OPTIONAL == 0 {
        return ip(header.get(LEN..).ok_or(UnparsedReason::Truncated)?);
    }
    let mut at = LEN + OPTIONAL_LEN;
    let mut next = *header
        .get(NEXT_EXTENSION)
        .ok_or(UnparsedReason::Truncated)?;
    if flags & EXTENSION != 0 {
        for _ in 0..MAX_EXTENSIONS {
            if next == 0 {
                break;
            }
            let units = *header.get(at).ok_or(UnparsedReason::Truncated)?;
            if units == 0 {
                return Err(UnparsedReason::Malformed);
            }
            at += usize::from(units) * EXTENSION_UNIT;
            next = *header.get(at - 1).ok_or(UnparsedReason::Truncated)?;
        }
        if next != 0 {
            return Err(UnparsedReason::Malformed);
        }
    }
    ip(header.get(at..).ok_or(UnparsedReason::Truncated)?)
}

/// L2TP version 2 (RFC 2661) data messages carry PPP; control messages carry none. The
/// length, sequence numbers and offset are present when their flags say so.
fn l2tp(header: &[u8]) -> Inner<'_> {
    const CONTROL: u8 = 0x80;
    const LENGTH: u8 = 0x40;
    const SEQUENCE: u8 = 0x08;
    const OFFSET: u8 = 0x02;
    const VERSION_MASK: u8 = 0x0f;
    const VERSION_2: u8 = 2;
    /// Flags and version, then tunnel and session ids.
    const BASE_LEN: usize = 6;
    const LENGTH_LEN: usize = 2;
    const SEQUENCE_LEN: usize = 4;
    const OFFSET_SIZE_LEN: usize = 2;

    let (Some(&flags), Some(&version)) = (header.first(), header.get(1)) else {
        return Err(UnparsedReason::Truncated);
    };
    if version & VERSION_MASK != VERSION_2 {
        return Err(UnparsedReason::UnsupportedEncapsulation);
    }
    if flags & CONTROL != 0 {
        return Err(UnparsedReason::NotIp);
    }
    let mut at = BASE_LEN;
    if flags & LENGTH != 0 {
        at += LENGTH_LEN;
    }
    if flags & SEQUENCE != 0 {
        at += SEQUENCE_LEN;
    }
    if flags & OFFSET != 0 {
        let padding = be16(header, at).ok_or(UnparsedReason::Truncated)?;
        at += OFFSET_SIZE_LEN + usize::from(padding);
    }
    link::ppp(header.get(at..).ok_or(UnparsedReason::Truncated)?)
}

/// Teredo (RFC 4380): IPv6 in UDP, optionally behind an authentication indicator and an
/// origin indicator, both of which start with a zero byte where IPv6 starts with 0x6.
fn teredo(payload: &[u8]) -> Inner<'_> {
    const AUTHENTICATION: [u8; 2] = [0, 1];
    /// Indicator type, client id length, authentication value length; then the id and value,
    /// an 8-byte nonce and a confirmation byte.
    const AUTHENTICATION_FIXED_LEN: usize = 4 + 8 + 1;
    const ORIGIN: [u8; 2] = [0, 0];
    const ORIGIN_LEN: usize = 8;

    let mut rest = payload;
    if rest.starts_with(&AUTHENTICATION) {
        let (Some(&id_len), Some(&value_len)) = (rest.get(2), rest.get(3)) else {
            return Err(UnparsedReason::Truncated);
        };
        let len = AUTHENTICATION_FIXED_LEN + usize::from(id_len) + usize::from(value_len);
        rest = rest.get(len..).ok_or(UnparsedReason::Truncated)?;
    }
    if rest.starts_with(&ORIGIN) {
        rest = rest.get(ORIGIN_LEN..).ok_or(UnparsedReason::Truncated)?;
    }
    match rest {
        // Nothing, or the first byte of an indicator.
        [] | [0] => Err(UnparsedReason::Truncated),
        [first, ..] if first >> 4 == 6 => Ok((Version::V6, rest)),
        _ => Err(UnparsedReason::NotIp),
    }
}

/// A tunnel payload that says nothing of its type: the version nibble decides.
fn ip(packet: &[u8]) -> Inner<'_> {
    match packet.first().map(|b| b >> 4) {
        None => Err(UnparsedReason::Truncated),
        Some(4 | 6) => Ok((Version::Any, packet)),
        Some(_) => Err(UnparsedReason::NotIp),
    }
}

#[cfg(test)]
mod tests {
    use crate::decode::tests::key;
    use crate::decode::{
        decapsulate, decode, decode_with, Decapsulated, DecodeOptions, Decoded, FlowKey, LinkType,
        UnparsedReason, MAX_TUNNELS,
    };
    use etherparse::{IpNumber, PacketBuilder};
    use proptest::prelude::*;

    const OUTER_SRC: [u8; 4] = [192, 0, 2, 1];
    const OUTER_DST: [u8; 4] = [192, 0, 2, 2];
    const OUTER6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const OUTER6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const INNER_SRC: [u8; 4] = [10, 7, 0, 1];
    const INNER_DST: [u8; 4] = [10, 7, 0, 2];
    const INNER6_SRC: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa];
    const INNER6_DST: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb];
    const IPV4_HEADER_LEN: usize = 20;
    const IPV6_HEADER_LEN: usize = 40;
    const PORTS_LEN: usize = 4;
    /// The outer UDP source port of the UDP tunnels built here.
    const EPHEMERAL: u16 = 50000;

    const GRE_CHECKSUM: u8 = 0x80;
    const GRE_ROUTING: u8 = 0x40;
    const GRE_KEY: u8 = 0x20;
    const GRE_SEQUENCE: u8 = 0x10;

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// The innermost packets: IPv4/UDP and IPv6/TCP.
    fn inner_v4() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(INNER_SRC, INNER_DST, 64)
            .udp(1111, 2222)
            .write(&mut packet, b"inner payload")
            .unwrap();
        packet
    }

    fn inner_v6() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv6(INNER6_SRC, INNER6_DST, 64)
            .tcp(3333, 443, 1, 1000)
            .write(&mut packet, b"inner payload")
            .unwrap();
        packet
    }

    fn inner_v4_key() -> FlowKey {
        key(INNER_SRC.into(), INNER_DST.into(), (1111, 2222), 17)
    }

    fn inner_v6_key() -> FlowKey {
        key(INNER6_SRC.into(), INNER6_DST.into(), (3333, 443), 6)
    }

    fn outer_key(ports: (u16, u16), protocol: u8) -> FlowKey {
        key(OUTER_SRC.into(), OUTER_DST.into(), ports, protocol)
    }

    fn outer6_key(protocol: u8) -> FlowKey {
        key(OUTER6_SRC.into(), OUTER6_DST.into(), (0, 0), protocol)
    }

    fn ethernet(ethertype: u16) -> Vec<u8> {
        cat(&[
            &[2, 0, 0, 0, 0, 1],
            &[2, 0, 0, 0, 0, 2],
            &ethertype.to_be_bytes(),
        ])
    }

    /// An IPv4 packet of `protocol` carrying `payload`, in an Ethernet frame.
    fn outer_v4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(OUTER_SRC, OUTER_DST, 64)
            .write(&mut frame, IpNumber(protocol), payload)
            .unwrap();
        frame
    }

    fn outer_v6(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv6(OUTER6_SRC, OUTER6_DST, 64)
            .write(&mut frame, IpNumber(protocol), payload)
            .unwrap();
        frame
    }

    fn outer_udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(OUTER_SRC, OUTER_DST, 64)
            .udp(src_port, dst_port)
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    /// GRE: flags, version, protocol type, then the optional fields as given (their presence
    /// is what the flags say; the caller keeps the two in step).
    fn gre(flags: u8, version: u8, protocol: u16, optional: &[u8]) -> Vec<u8> {
        cat(&[&[flags, version], &protocol.to_be_bytes(), optional])
    }

    /// VXLAN with the I flag and a VNI.
    fn vxlan(vni: u32) -> Vec<u8> {
        let [_, a, b, c] = vni.to_be_bytes();
        vec![0x08, 0, 0, 0, a, b, c, 0]
    }

    /// GENEVE with `options` (a multiple of 4 bytes) and a protocol type.
    fn geneve(protocol: u16, options: &[u8]) -> Vec<u8> {
        let words = u8::try_from(options.len() / 4).unwrap();
        cat(&[
            &[words, 0],
            &protocol.to_be_bytes(),
            &[0, 0, 42, 0],
            options,
        ])
    }

    /// A GTP-U header: flags (version 1, protocol type GTP, plus `extra`), message type,
    /// length of what follows the first 8 bytes, TEID; then `optional`.
    fn gtp_u(extra: u8, message_type: u8, optional: &[u8], rest: &[u8]) -> Vec<u8> {
        let len = u16::try_from(optional.len() + rest.len()).unwrap();
        cat(&[
            &[0x30 | extra, message_type],
            &len.to_be_bytes(),
            &[0, 0, 0x12, 0x34],
            optional,
        ])
    }

    /// PPP in HDLC-like framing, protocol IPv4 or IPv6.
    fn ppp(protocol: u16) -> Vec<u8> {
        cat(&[&[0xff, 0x03], &protocol.to_be_bytes()])
    }

    /// One frame that carries a tunnel, and what decapsulating it must give.
    struct Case {
        name: &'static str,
        frame: Vec<u8>,
        /// What the outermost IP header keys to (the default mode's flow).
        outer: FlowKey,
        inner: FlowKey,
        /// Where the innermost IP packet starts; it runs to the end of the frame.
        inner_at: usize,
        /// Where the first tunnel header starts (the inner packet, for IP-in-IP).
        tunnel_at: usize,
        tunnels: u8,
    }

    fn case(
        name: &'static str,
        frame: Vec<u8>,
        outer: FlowKey,
        inner: &[u8],
        tunnel_header_len: usize,
        tunnels: u8,
    ) -> Case {
        let inner_at = frame.len() - inner.len();
        assert_eq!(
            &frame[inner_at..],
            inner,
            "{name}: the inner packet ends the frame"
        );
        let inner_key = if inner[0] >> 4 == 4 {
            inner_v4_key()
        } else {
            inner_v6_key()
        };
        Case {
            name,
            frame,
            outer,
            inner: inner_key,
            inner_at,
            tunnel_at: inner_at - tunnel_header_len,
            tunnels,
        }
    }

    /// Every tunnel `decapsulate` opens, once each, with hand-laid headers.
    fn cases() -> Vec<Case> {
        let v4 = inner_v4();
        let v6 = inner_v6();
        let gre_key = outer_key((0, 0), 47);
        let udp_key = |port| outer_key((EPHEMERAL, port), 17);
        let mut cases = vec![
            case("ipip", outer_v4(4, &v4), outer_key((0, 0), 4), &v4, 0, 1),
            case("6in4", outer_v4(41, &v6), outer_key((0, 0), 41), &v6, 0, 1),
            case("6in6", outer_v6(41, &v6), outer6_key(41), &v6, 0, 1),
            case("4in6", outer_v6(4, &v4), outer6_key(4), &v4, 0, 1),
        ];
        let gre_cases: Vec<(&str, Vec<u8>, &[u8])> = vec![
            ("gre", gre(0, 0, 0x0800, &[]), &v4),
            (
                // Checksum and reserved, key, sequence number (RFC 2784/2890).
                "gre_checksum_key_sequence",
                gre(
                    GRE_CHECKSUM | GRE_KEY | GRE_SEQUENCE,
                    0,
                    0x86dd,
                    &[0xab, 0xcd, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1],
                ),
                &v6,
            ),
            (
                // RFC 1701 routing: checksum and offset, one 8-byte SRE, the NULL SRE.
                "gre_routing",
                gre(
                    GRE_ROUTING,
                    0,
                    0x0800,
                    &cat(&[&[0, 0, 0, 0], &[0x08, 0x00, 0, 8], &[1; 8], &[0, 0, 0, 0]]),
                ),
                &v4,
            ),
            (
                "gre_transparent_bridging_vlan",
                cat(&[
                    &gre(GRE_KEY, 0, 0x6558, &[0, 0, 0, 9]),
                    &ethernet(0x8100),
                    &[0, 100, 0x08, 0x00],
                ]),
                &v4,
            ),
            (
                "gre_mpls",
                cat(&[&gre(0, 0, 0x8847, &[]), &[0, 0x10, 0x01, 64]]),
                &v4,
            ),
            (
                // PPTP: key (payload length, call id), sequence and acknowledgment numbers.
                "pptp",
                cat(&[
                    &gre(
                        GRE_KEY | GRE_SEQUENCE,
                        0x81,
                        0x880b,
                        &[0, 60, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2],
                    ),
                    &ppp(0x0021),
                ]),
                &v4,
            ),
            (
                "erspan_type_1",
                cat(&[&gre(0, 0, 0x88be, &[]), &ethernet(0x0800)]),
                &v4,
            ),
            (
                // Version 1, VLAN 5 | COS, encapsulation, session 7 | index.
                "erspan_type_2",
                cat(&[
                    &gre(GRE_SEQUENCE, 0, 0x88be, &[0, 0, 0, 1]),
                    &[0x10, 0x05, 0x00, 0x07, 0, 0, 0, 1],
                    &ethernet(0x86dd),
                ]),
                &v6,
            ),
            (
                // Version 2, frame type Ethernet, optional 8-byte platform subheader.
                "erspan_type_3",
                cat(&[
                    &gre(GRE_SEQUENCE, 0, 0x22eb, &[0, 0, 0, 1]),
                    &[0x20, 0x05, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0x00, 0x01],
                    &[0xee; 8],
                    &ethernet(0x0800),
                ]),
                &v4,
            ),
            (
                // Version 2, frame type IP (2 << 2), no subheader.
                "erspan_type_3_ip",
                cat(&[
                    &gre(GRE_SEQUENCE, 0, 0x22eb, &[0, 0, 0, 1]),
                    &[0x20, 0x05, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0x08, 0x00],
                ]),
                &v6,
            ),
        ];
        for (name, header, inner) in gre_cases {
            let frame = outer_v4(47, &cat(&[&header, inner]));
            cases.push(case(name, frame, gre_key, inner, header.len(), 1));
        }
        let udp_cases: Vec<(&str, u16, Vec<u8>, &[u8])> = vec![
            ("vxlan", 4789, cat(&[&vxlan(77), &ethernet(0x0800)]), &v4),
            (
                "vxlan_qinq",
                4789,
                cat(&[
                    &vxlan(77),
                    &ethernet(0x88a8),
                    &[0, 1, 0x81, 0],
                    &[0, 2, 0x86, 0xdd],
                ]),
                &v6,
            ),
            (
                "geneve",
                6081,
                cat(&[
                    &geneve(0x6558, &[0, 0x80, 1, 1, 0, 0, 0, 5]),
                    &ethernet(0x86dd),
                ]),
                &v6,
            ),
            ("geneve_ip", 6081, geneve(0x0800, &[]), &v4),
            ("gtp_u", 2152, gtp_u(0, 255, &[], &v4), &v4),
            (
                // Sequence number and a PDU session container extension (type 0x85).
                "gtp_u_extensions",
                2152,
                gtp_u(0x06, 255, &[0, 9, 0, 0x85, 1, 0x00, 0x09, 0], &v6),
                &v6,
            ),
            (
                // Length (its value is not read), sequence numbers and a 2-byte offset pad.
                "l2tp",
                1701,
                cat(&[
                    &[0x4a, 0x02, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 2, 0xee, 0xee],
                    &ppp(0x0057),
                ]),
                &v6,
            ),
            (
                // Authentication indicator (id 2 bytes, value 3), origin indicator.
                "teredo",
                3544,
                cat(&[
                    &[0, 1, 2, 3, 0xa, 0xb, 1, 2, 3],
                    &[0; 8],
                    &[0],
                    &[0, 0, 0x12, 0x34, 1, 2, 3, 4],
                ]),
                &v6,
            ),
        ];
        for (name, port, header, inner) in udp_cases {
            let frame = outer_udp(EPHEMERAL, port, &cat(&[&header, inner]));
            cases.push(case(name, frame, udp_key(port), inner, header.len(), 1));
        }
        cases.push(case(
            "teredo_from_server",
            outer_udp(3544, EPHEMERAL, &v6),
            outer_key((3544, EPHEMERAL), 17),
            &v6,
            0,
            1,
        ));
        // IPv4 in IPv6 carrying PPTP, as a transition tunnel does.
        let mut pptp_in_v4 = Vec::new();
        PacketBuilder::ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
            .write(
                &mut pptp_in_v4,
                IpNumber::GRE,
                &cat(&[
                    &gre(GRE_KEY, 0x01, 0x880b, &[0, 60, 0, 5]),
                    &ppp(0x0021),
                    &v4,
                ]),
            )
            .unwrap();
        let frame = outer_v6(4, &pptp_in_v4);
        cases.push(case("4in6_pptp", frame, outer6_key(4), &v4, 0, 2));
        cases
    }

    fn decapsulated(
        decoded: Decoded,
        tunnels: u8,
        decap_fallback: Option<UnparsedReason>,
    ) -> Decapsulated {
        Decapsulated {
            decoded: Decoded {
                decap_fallback,
                ..decoded
            },
            tunnels,
        }
    }

    fn whole(key: FlowKey) -> Decoded {
        Decoded {
            key,
            transport_truncated: false,
            decap_fallback: None,
        }
    }

    #[test]
    fn every_tunnel_is_opened_to_the_innermost_flow() {
        for case in cases() {
            assert_eq!(
                decapsulate(LinkType::ETHERNET, &case.frame),
                Ok(decapsulated(whole(case.inner), case.tunnels, None)),
                "{}",
                case.name
            );
            let with_decap = DecodeOptions { decap: true };
            assert_eq!(
                decode_with(with_decap, LinkType::ETHERNET, &case.frame),
                Ok(whole(case.inner)),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn without_decap_every_tunnel_is_its_outer_flow() {
        for case in cases() {
            assert_eq!(
                decode(LinkType::ETHERNET, &case.frame),
                Ok(whole(case.outer)),
                "{}",
                case.name
            );
            assert_eq!(
                decode_with(DecodeOptions::default(), LinkType::ETHERNET, &case.frame),
                Ok(whole(case.outer)),
                "{}",
                case.name
            );
        }
    }

    /// A capture cut inside a tunnel header or the inner IP header keeps the packet under its
    /// outer flow and says so; a cut inside the inner ports keys the inner flow without ports.
    #[test]
    fn every_cut_of_a_single_tunnel_falls_back_or_flags() {
        for case in cases().into_iter().filter(|c| c.tunnels == 1) {
            let inner_header_len = if case.inner.src.is_ipv4() {
                IPV4_HEADER_LEN
            } else {
                IPV6_HEADER_LEN
            };
            let ports_at = case.inner_at + inner_header_len;
            for len in case.tunnel_at..case.frame.len() {
                let expected = if len < ports_at {
                    decapsulated(whole(case.outer), 0, Some(UnparsedReason::Truncated))
                } else if len < ports_at + PORTS_LEN {
                    let mut key = case.inner;
                    (key.src_port, key.dst_port) = (0, 0);
                    let flagged = Decoded {
                        key,
                        transport_truncated: true,
                        decap_fallback: None,
                    };
                    decapsulated(flagged, 1, None)
                } else {
                    decapsulated(whole(case.inner), 1, None)
                };
                assert_eq!(
                    decapsulate(LinkType::ETHERNET, &case.frame[..len]),
                    Ok(expected),
                    "{} cut at {len}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn tunnels_without_ip_inside_count_under_the_outer_flow() {
        let v4 = inner_v4();
        let arp = cat(&[&ethernet(0x0806), &[0, 1, 8, 0, 6, 4, 0, 1], &[0; 20]]);
        let gre_v4 = |header: &[u8]| outer_v4(47, &cat(&[header, &v4]));
        let gre_key = outer_key((0, 0), 47);
        let udp = |port, payload: &[u8]| outer_udp(EPHEMERAL, port, payload);
        let udp_key = |port| outer_key((EPHEMERAL, port), 17);
        let mut bad_inner = v4.clone();
        bad_inner[0] = 0x44;
        let mut no_terminating_sre = vec![0, 0, 0, 0];
        for _ in 0..20 {
            no_terminating_sre.extend([0x08, 0x00, 0, 4, 1, 1, 1, 1]);
        }
        let cases: Vec<(&str, Vec<u8>, FlowKey, UnparsedReason)> = vec![
            (
                "vxlan_arp",
                udp(4789, &cat(&[&vxlan(1), &arp])),
                udp_key(4789),
                UnparsedReason::NotIp,
            ),
            (
                "gre_keepalive_arp",
                outer_v4(47, &cat(&[&gre(0, 0, 0x6558, &[]), &arp])),
                gre_key,
                UnparsedReason::NotIp,
            ),
            (
                "gtp_u_echo",
                udp(2152, &gtp_u(0x02, 1, &[0, 1, 0, 0], &[])),
                udp_key(2152),
                UnparsedReason::NotIp,
            ),
            (
                "gtp_u_not_ip",
                udp(2152, &cat(&[&gtp_u(0, 255, &[], &[0x11; 4]), &[0x11; 4]])),
                udp_key(2152),
                UnparsedReason::NotIp,
            ),
            (
                "l2tp_control",
                udp(1701, &[0xc8, 0x02, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0]),
                udp_key(1701),
                UnparsedReason::NotIp,
            ),
            (
                "l2tp_lcp",
                udp(
                    1701,
                    &cat(&[&[0x00, 0x02, 0, 1, 0, 2], &ppp(0xc021), &[1, 1, 0, 4]]),
                ),
                udp_key(1701),
                UnparsedReason::NotIp,
            ),
            (
                "pptp_acknowledgment_only",
                outer_v4(47, &gre(GRE_KEY, 0x81, 0x880b, &[0, 0, 0, 5, 0, 0, 0, 9])),
                gre_key,
                UnparsedReason::NotIp,
            ),
            (
                "teredo_not_ipv6",
                udp(3544, &v4),
                udp_key(3544),
                UnparsedReason::NotIp,
            ),
            (
                "gre_version_2",
                gre_v4(&gre(0, 2, 0x0800, &[])),
                gre_key,
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "pptp_not_ppp",
                gre_v4(&gre(GRE_KEY, 0x01, 0x0800, &[0, 60, 0, 5])),
                gre_key,
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "erspan_unknown_version",
                gre_v4(&cat(&[
                    &gre(GRE_SEQUENCE, 0, 0x88be, &[0, 0, 0, 1]),
                    &[0x30; 12],
                ])),
                gre_key,
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "erspan_type_3_unknown_frame_type",
                gre_v4(&cat(&[
                    &gre(GRE_SEQUENCE, 0, 0x22eb, &[0, 0, 0, 1]),
                    &[0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x00],
                ])),
                gre_key,
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "geneve_version_1",
                udp(6081, &cat(&[&[0x40, 0, 0x08, 0x00, 0, 0, 1, 0], &v4])),
                udp_key(6081),
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "gtp_version_2",
                udp(2152, &cat(&[&[0x48, 255, 0, 0, 0, 0, 0, 0], &v4])),
                udp_key(2152),
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "l2tp_version_3",
                udp(1701, &cat(&[&[0x00, 0x03, 0, 0, 0, 0], &v4])),
                udp_key(1701),
                UnparsedReason::UnsupportedEncapsulation,
            ),
            (
                "gre_endless_routing",
                gre_v4(&gre(GRE_ROUTING, 0, 0x0800, &no_terminating_sre)),
                gre_key,
                UnparsedReason::Malformed,
            ),
            (
                "gtp_u_zero_length_extension",
                udp(
                    2152,
                    &cat(&[&gtp_u(0x04, 255, &[0, 0, 0, 0x85, 0, 0, 0, 0], &v4), &v4]),
                ),
                udp_key(2152),
                UnparsedReason::Malformed,
            ),
            (
                "ipip_bad_inner_header",
                outer_v4(4, &bad_inner),
                outer_key((0, 0), 4),
                UnparsedReason::Malformed,
            ),
            // Protocol 41 promises IPv6; an IPv4 packet there is malformed.
            (
                "6in4_carrying_ipv4",
                outer_v4(41, &v4),
                outer_key((0, 0), 41),
                UnparsedReason::Malformed,
            ),
        ];
        for (name, frame, outer, reason) in cases {
            assert_eq!(
                decapsulate(LinkType::ETHERNET, &frame),
                Ok(decapsulated(whole(outer), 0, Some(reason))),
                "{name}"
            );
            // What the packet loops count: the fallback with decapsulation, nothing without.
            let with_decap = DecodeOptions { decap: true };
            let fallback = |options| {
                decode_with(options, LinkType::ETHERNET, &frame).map(|d| d.decap_fallback)
            };
            assert_eq!(fallback(with_decap), Ok(Some(reason)), "{name}");
            assert_eq!(fallback(DecodeOptions::default()), Ok(None), "{name}");
        }
    }

    /// `depth` IPv4-in-IPv4 headers around the inner packet, the outermost numbered 1.
    fn nested_ipip(depth: u8) -> Vec<u8> {
        let mut packet = inner_v4();
        for level in (1..=depth).rev() {
            let mut outer = Vec::new();
            PacketBuilder::ipv4([10, 0, level, 1], [10, 0, level, 2], 64)
                .write(&mut outer, IpNumber::IPV4, &packet)
                .unwrap();
            packet = outer;
        }
        cat(&[&ethernet(0x0800), &packet])
    }

    #[test]
    fn tunnels_are_opened_up_to_the_depth_limit() {
        assert_eq!(
            decapsulate(LinkType::ETHERNET, &nested_ipip(MAX_TUNNELS)),
            Ok(decapsulated(whole(inner_v4_key()), MAX_TUNNELS, None))
        );
        // One more level: the packet stays under the deepest header reached, which still
        // carries a tunnel.
        let deepest = key(
            [10, 0, MAX_TUNNELS + 1, 1].into(),
            [10, 0, MAX_TUNNELS + 1, 2].into(),
            (0, 0),
            4,
        );
        assert_eq!(
            decapsulate(LinkType::ETHERNET, &nested_ipip(MAX_TUNNELS + 1)),
            Ok(decapsulated(
                whole(deepest),
                MAX_TUNNELS,
                Some(UnparsedReason::UnsupportedEncapsulation)
            ))
        );
    }

    #[test]
    fn later_fragments_icmp_errors_and_other_ports_are_not_opened() {
        const IPV4_FRAGMENT: usize = 14 + 6;
        let mut later = outer_v4(47, &cat(&[&gre(0, 0, 0x0800, &[]), &inner_v4()]));
        later[IPV4_FRAGMENT..IPV4_FRAGMENT + 2].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            decapsulate(LinkType::ETHERNET, &later),
            Ok(decapsulated(whole(outer_key((0, 0), 47)), 0, None))
        );

        // Destination unreachable quoting the inner packet: the error is the flow.
        let icmp_error = outer_v4(1, &cat(&[&[3, 1, 0, 0, 0, 0, 0, 0], &inner_v4()]));
        assert_eq!(
            decapsulate(LinkType::ETHERNET, &icmp_error),
            Ok(decapsulated(whole(outer_key((0, 0), 1)), 0, None))
        );

        // VXLAN's port as a source port is an ordinary datagram.
        let reply = outer_udp(
            4789,
            EPHEMERAL,
            &cat(&[&vxlan(1), &ethernet(0x0800), &inner_v4()]),
        );
        assert_eq!(
            decapsulate(LinkType::ETHERNET, &reply),
            Ok(decapsulated(
                whole(outer_key((4789, EPHEMERAL), 17)),
                0,
                None
            ))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Tunnel frames with a few bytes overwritten and a random cut reach every branch of
        /// the tunnel parsers. None may panic, and decapsulation must lose no packet: it
        /// rejects exactly the frames `decode` rejects, and keeps `decode`'s flow when it
        /// opens no tunnel.
        #[test]
        fn damaged_tunnel_frames_never_panic_or_get_lost(
            which in 0usize..64,
            edits in prop::collection::vec((0usize..160, any::<u8>()), 0..8),
            cut in 0usize..200,
        ) {
            let mut all = cases();
            let case = all.swap_remove(which % all.len());
            let mut frame = case.frame;
            for (at, byte) in edits {
                if let Some(slot) = frame.get_mut(at) {
                    *slot = byte;
                }
            }
            frame.truncate(cut);
            let outer = decode(LinkType::ETHERNET, &frame);
            match decapsulate(LinkType::ETHERNET, &frame) {
                Ok(inner) if inner.tunnels == 0 => prop_assert_eq!(
                    outer,
                    Ok(Decoded { decap_fallback: None, ..inner.decoded })
                ),
                Ok(_) => prop_assert!(outer.is_ok()),
                Err(reason) => prop_assert_eq!(outer, Err(reason)),
            }
        }
    }
}
