//! tshark as the independent reference for whole-program and decode tests: runs tshark with
//! reassembly off on a capture and keys every frame by its outermost IP five-tuple, the way
//! hhmon's flow key is defined. Knows nothing of hhmon's decoder; only its `FlowKey` type is
//! borrowed to hold the answer.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use hhmon::decode::FlowKey;

/// One packet as tshark dissected it.
#[derive(Debug)]
pub struct TsharkPacket {
    /// `frame.len`: the length on the wire.
    pub wire_len: u32,
    /// The outermost IP five-tuple; `None` when the frame has no IP layer.
    pub key: Option<FlowKey>,
}

/// The tshark fields read, in column order.
const FIELDS: &[&str] = &[
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.frag_offset",
    "ah.next_header",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.nxt",
    "ipv6.hopopts.nxt",
    "ipv6.routing.nxt",
    "ipv6.dstopts.nxt",
    "ipv6.fraghdr.nxt",
    "ipv6.fraghdr.offset",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "sctp.srcport",
    "sctp.dstport",
    "dccp.srcport",
    "dccp.dstport",
];

/// The `captures/` directory of the crate.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// Every capture file shipped in `captures/`, sorted; fails if some have gone missing.
pub fn capture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "captures/ has only {} files",
        names.len()
    );
    names
}

/// Runs tshark on `path`. Every value of a field is kept (occurrence=a), outermost first, so
/// that the IPv6 extension chain can be followed; the single-valued fields use the first.
pub fn tshark(path: &Path) -> Vec<TsharkPacket> {
    let mut command = Command::new("tshark");
    command.arg("-n").arg("-r").arg(path);
    for pref in [
        "ip.defragment:FALSE",
        "ipv6.defragment:FALSE",
        "tcp.desegment_tcp_streams:FALSE",
    ] {
        command.arg("-o").arg(pref);
    }
    command.args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]);
    command.args(["-E", "aggregator=,"]);
    for field in FIELDS {
        command.arg("-e").arg(field);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("tshark must be installed to run this test: {e}"));
    // tshark exits non-zero on a damaged file after printing what it could read; the row
    // counts are checked against libpcap's instead.
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout.lines().map(parse_tshark_row).collect()
}

fn parse_tshark_row(line: &str) -> TsharkPacket {
    let columns: Vec<&str> = line.split('\t').collect();
    assert_eq!(columns.len(), FIELDS.len(), "tshark row {line:?}");
    let all = |field: &str| -> Vec<&str> {
        let at = FIELDS.iter().position(|f| *f == field).unwrap();
        columns[at].split(',').filter(|v| !v.is_empty()).collect()
    };
    let first = |field: &str| all(field).first().copied();
    let number = |field: &str| first(field).map(|v| v.parse::<u32>().unwrap());
    TsharkPacket {
        wire_len: number("frame.len").unwrap(),
        key: tshark_key(first("frame.protocols").unwrap_or(""), &all, &first),
    }
}

/// The key of the outermost IP layer named in `frame.protocols`.
fn tshark_key<'a>(
    protocols: &str,
    all: &dyn Fn(&str) -> Vec<&'a str>,
    first: &dyn Fn(&str) -> Option<&'a str>,
) -> Option<FlowKey> {
    let layers: Vec<&str> = protocols.split(':').collect();
    let ip_at = layers.iter().position(|l| *l == "ip" || *l == "ipv6")?;
    let byte = |v: &str| v.parse::<u8>().unwrap();
    let (src, dst, protocol, later_fragment) = if layers[ip_at] == "ip" {
        let mut protocol = byte(first("ip.proto")?);
        let later_fragment = first("ip.frag_offset").is_some_and(|v| v != "0");
        if layers.get(ip_at + 1) == Some(&"ah") {
            protocol = byte(first("ah.next_header")?);
        }
        (first("ip.src")?, first("ip.dst")?, protocol, later_fragment)
    } else {
        let (protocol, later_fragment) = ipv6_protocol(all)?;
        (
            first("ipv6.src")?,
            first("ipv6.dst")?,
            protocol,
            later_fragment,
        )
    };
    // The transport is the first layer after the IP header and its extension headers; a
    // tunnel or an ICMP error quoting a packet puts other layers (and other ports) there.
    let transport = layers[ip_at + 1..]
        .iter()
        .find(|l| !l.starts_with("ipv6.") && **l != "ah");
    let port_fields = match transport {
        _ if later_fragment => None,
        Some(&"tcp") => Some(("tcp.srcport", "tcp.dstport")),
        Some(&"udp") | Some(&"udplite") => Some(("udp.srcport", "udp.dstport")),
        Some(&"sctp") => Some(("sctp.srcport", "sctp.dstport")),
        Some(&"dccp") => Some(("dccp.srcport", "dccp.dstport")),
        _ => None,
    };
    let port = |field| first(field).map_or(0, |v: &str| v.parse::<u16>().unwrap());
    let (src_port, dst_port) = port_fields.map_or((0, 0), |(s, d)| (port(s), port(d)));
    Some(FlowKey {
        src: src.parse::<IpAddr>().unwrap(),
        dst: dst.parse::<IpAddr>().unwrap(),
        src_port,
        dst_port,
        protocol,
    })
}

/// Follows the outermost IPv6 extension chain through tshark's per-header next-header fields.
/// Each field lists its occurrences outermost first, so each header type consumes its own
/// list from the front. Returns the final protocol and whether this is a later fragment.
fn ipv6_protocol<'a>(all: &dyn Fn(&str) -> Vec<&'a str>) -> Option<(u8, bool)> {
    let byte = |v: &str| v.parse::<u8>().unwrap();
    let mut next = byte(all("ipv6.nxt").first()?);
    let mut consumed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut take = |field: &'static str| {
        let at = consumed.entry(field).or_insert(0);
        *at += 1;
        all(field).get(*at - 1).copied()
    };
    loop {
        let field = match next {
            0 => "ipv6.hopopts.nxt",
            43 => "ipv6.routing.nxt",
            60 => "ipv6.dstopts.nxt",
            51 => "ah.next_header",
            44 => {
                let offset = take("ipv6.fraghdr.offset");
                let Some(after) = take("ipv6.fraghdr.nxt") else {
                    return Some((next, false));
                };
                next = byte(after);
                if offset.is_some_and(|o| o != "0") {
                    return Some((next, true));
                }
                continue;
            }
            _ => return Some((next, false)),
        };
        match take(field) {
            Some(after) => next = byte(after),
            // tshark stopped inside the chain (cut capture): the last header is the protocol.
            None => return Some((next, false)),
        }
    }
}

/// A table of (packets, wire bytes) per key.
pub type Counts<K> = BTreeMap<K, (u64, u64)>;

/// Counts one frame of `wire_len` bytes for `key`.
pub fn add<K: Ord>(counts: &mut Counts<K>, key: K, wire_len: u32) {
    let entry = counts.entry(key).or_default();
    entry.0 += 1;
    entry.1 += u64::from(wire_len);
}
