//! What the fuzz targets and the seed-corpus writer share: how a `decode` input names its link
//! type, and how a `pcap_file` input names its file header. Knows nothing of how frames are
//! decoded or records read.

use hhmon::decode::LinkType;

/// The link types `hhmon::decode` reads; the first byte of an input picks one of them, or
/// (for the values past them) a link type it does not read.
pub const LINK_TYPES: [LinkType; 12] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::RAW,
    LinkType::DLT_RAW,
    LinkType::DLT_RAW_OPENBSD,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::PPP,
    LinkType::PPP_HDLC,
];

/// A link type `decode` does not read (802.11 with radiotap).
const UNSUPPORTED: LinkType = LinkType(127);

/// Splits a fuzz input into its link type (from the first byte) and the frame (the rest).
pub fn split(input: &[u8]) -> (LinkType, &[u8]) {
    match input.split_first() {
        Some((&selector, frame)) => {
            let link = LINK_TYPES
                .get(usize::from(selector) % (LINK_TYPES.len() + 1))
                .copied()
                .unwrap_or(UNSUPPORTED);
            (link, frame)
        }
        None => (UNSUPPORTED, input),
    }
}

/// The first byte that makes [`split`] pick `link`, if it is one `decode` reads.
pub fn selector(link: LinkType) -> Option<u8> {
    let at = LINK_TYPES.iter().position(|l| *l == link)?;
    u8::try_from(at).ok()
}

/// Bytes of a classic pcap file header.
pub const PCAP_HEADER_BYTES: usize = 24;

/// Snapshot lengths a `pcap_file` input can pick: tcpdump's old default, libpcap's maximum,
/// 0 (which libpcap reads as the maximum) and a short one that cuts most records.
pub const SNAPLENS: [u32; 4] = [65_535, 262_144, 0, 64];

/// LINKTYPE values a `pcap_file` input can pick: Ethernet and RAW.
pub const PCAP_LINK_TYPES: [u32; 2] = [1, 101];

/// The classic pcap file header (version 2.4) that the selector byte of a `pcap_file` input
/// picks. Its low five bits choose: bit 0 big-endian, bit 1 nanosecond magic, bit 2 the link
/// type in [`PCAP_LINK_TYPES`], bits 3-4 the snapshot length in [`SNAPLENS`].
pub fn pcap_header(selector: u8) -> [u8; PCAP_HEADER_BYTES] {
    let big_endian = selector & 1 != 0;
    let magic: u32 = if selector & 2 != 0 {
        0xa1b2_3c4d
    } else {
        0xa1b2_c3d4
    };
    let link = PCAP_LINK_TYPES[usize::from(selector >> 2) & 1];
    let snaplen = SNAPLENS[usize::from(selector >> 3) & 3];
    let word = |value: u32| {
        if big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    };
    let half = |value: u16| {
        if big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    };
    let mut header = [0; PCAP_HEADER_BYTES];
    let fields = [
        &word(magic)[..],
        &half(2),
        &half(4),
        &word(0), // time zone
        &word(0), // significant figures
        &word(snaplen),
        &word(link),
    ];
    let mut at = 0;
    for field in fields {
        header[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    header
}

/// The selector byte whose [`pcap_header`] has this byte order, precision, snapshot length and
/// link type; `None` when the snapshot length or link type is not one the table holds.
pub fn pcap_selector(big_endian: bool, nanosecond: bool, snaplen: u32, link: u32) -> Option<u8> {
    let snaplen = u8::try_from(SNAPLENS.iter().position(|s| *s == snaplen)?).ok()?;
    let link = u8::try_from(PCAP_LINK_TYPES.iter().position(|l| *l == link)?).ok()?;
    Some(u8::from(big_endian) | u8::from(nanosecond) << 1 | link << 2 | snaplen << 3)
}
