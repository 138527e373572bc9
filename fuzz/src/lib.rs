//! What the fuzz targets and the seed-corpus writer share: how a fuzz input names its link
//! type. Knows nothing of how frames are decoded.

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
