//! tshark as the independent reference for whole-program and decode tests: runs tshark with
//! reassembly off on a capture and keys every frame by its outermost IP five-tuple, the way
//! hhmon's flow key is defined, and by the innermost one tshark's own dissectors reach through
//! tunnels (hhmon's `--decap`). Knows nothing of hhmon's decoder; only its `FlowKey` type is
//! borrowed to hold the answer.
//!
//! Included with `mod support_tshark;` from several tests; each uses a different subset (the
//! innermost key only where `--decap` is tested), hence the `dead_code` allowance.
#![allow(dead_code)]

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
    /// `frame.protocols`: the layers tshark dissected, outermost first, `:`-separated.
    pub protocols: String,
    /// The outermost IP five-tuple; `None` when the frame has no IP layer.
    pub key: Option<FlowKey>,
    /// The innermost IP five-tuple: the last IP layer tshark dissected before any ICMP layer
    /// (an ICMP error quotes a packet, it does not carry one), stopping at the first whose
    /// addresses it could not read; `None` when the outermost IP layer is missing or unread.
    pub inner_key: Option<FlowKey>,
    /// The IP layer of `inner_key` carries a tunnel whose packet tshark could not key: a
    /// tunnel layer (`TUNNEL_LAYERS`) follows it, before any ICMP layer, with no IP layer
    /// keyed behind it (ARP over VXLAN, L2TP control, a cut inner header). hhmon's `--decap`
    /// counts these packets as decapsulation fallbacks.
    pub tunnel_unopened: bool,
}

/// The layers tshark names for the tunnels `--decap` opens (IP in IP is an IP layer directly
/// inside another; ERSPAN, PPTP and MPLS ride on GRE).
const TUNNEL_LAYERS: &[&str] = &[
    "ip", "ipv6", "gre", "vxlan", "geneve", "gtp", "l2tp", "teredo",
];

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
    let protocols = all("frame.protocols").first().copied().unwrap_or("");
    let layers: Vec<&str> = protocols.split(':').collect();
    let ip_layers: Vec<usize> = layers
        .iter()
        .take_while(|layer| !layer.starts_with("icmp"))
        .enumerate()
        .filter(|(_, layer)| **layer == "ip" || **layer == "ipv6")
        .map(|(at, _)| at)
        .collect();
    let fields = Fields {
        layers: &layers,
        all: &all,
    };
    let innermost = ip_layers
        .iter()
        .map_while(|&at| fields.key(at).map(|key| (at, key)))
        .last();
    let tunnel_unopened = innermost.is_some_and(|(at, _)| {
        layers[at + 1..]
            .iter()
            .take_while(|layer| !layer.starts_with("icmp"))
            .any(|layer| TUNNEL_LAYERS.contains(layer))
    });
    TsharkPacket {
        wire_len: all("frame.len")[0].parse().unwrap(),
        protocols: protocols.to_owned(),
        key: ip_layers.first().and_then(|&at| fields.key(at)),
        inner_key: innermost.map(|(_, key)| key),
        tunnel_unopened,
    }
}

/// One tshark row: its layers (`frame.protocols`) and every occurrence of every field.
/// Occurrences come in dissection order, so the n-th occurrence of a field belongs to the
/// n-th layer that carries it.
struct Fields<'r, 'a> {
    layers: &'r [&'a str],
    all: &'r dyn Fn(&str) -> Vec<&'a str>,
}

impl<'a> Fields<'_, 'a> {
    /// Occurrences of `field` from the one the layer at `at` owns on, given the names of the
    /// layers that carry the field.
    fn from(&self, field: &str, carriers: &[&str], at: usize) -> Vec<&'a str> {
        let before = self.layers[..at]
            .iter()
            .filter(|l| carriers.contains(l))
            .count();
        (self.all)(field).into_iter().skip(before).collect()
    }

    fn nth(&self, field: &str, carriers: &[&str], at: usize) -> Option<&'a str> {
        self.from(field, carriers, at).first().copied()
    }

    /// The five-tuple of the IP layer at index `at` of `frame.protocols`.
    fn key(&self, at: usize) -> Option<FlowKey> {
        let byte = |v: &str| v.parse::<u8>().unwrap();
        let (src, dst, protocol, later_fragment) = if self.layers[at] == "ip" {
            let ip = |field| self.nth(field, &["ip"], at);
            let mut protocol = byte(ip("ip.proto")?);
            let later_fragment = ip("ip.frag_offset").is_some_and(|v| v != "0");
            if self.layers.get(at + 1) == Some(&"ah") {
                protocol = byte(self.nth("ah.next_header", &["ah"], at + 1)?);
            }
            (ip("ip.src")?, ip("ip.dst")?, protocol, later_fragment)
        } else {
            let (protocol, later_fragment) = self.ipv6_protocol(at)?;
            let ip = |field| self.nth(field, &["ipv6"], at);
            (ip("ipv6.src")?, ip("ipv6.dst")?, protocol, later_fragment)
        };
        // The transport is the first layer after the IP header and its extension headers; a
        // tunnel or an ICMP error quoting a packet puts other layers (and other ports) there.
        let transport = (at + 1..self.layers.len())
            .find(|&t| !self.layers[t].starts_with("ipv6.") && self.layers[t] != "ah");
        let port_fields = match transport.map(|t| (t, self.layers[t])) {
            _ if later_fragment => None,
            Some((t, "tcp")) => Some((t, "tcp.srcport", "tcp.dstport", &["tcp"][..])),
            Some((t, "udp" | "udplite")) => {
                Some((t, "udp.srcport", "udp.dstport", &["udp", "udplite"][..]))
            }
            Some((t, "sctp")) => Some((t, "sctp.srcport", "sctp.dstport", &["sctp"][..])),
            Some((t, "dccp")) => Some((t, "dccp.srcport", "dccp.dstport", &["dccp"][..])),
            _ => None,
        };
        let (src_port, dst_port) = port_fields.map_or((0, 0), |(t, src, dst, carriers)| {
            let port = |field| {
                self.nth(field, carriers, t)
                    .map_or(0, |v: &str| v.parse::<u16>().unwrap())
            };
            (port(src), port(dst))
        });
        Some(FlowKey {
            src: src.parse::<IpAddr>().unwrap(),
            dst: dst.parse::<IpAddr>().unwrap(),
            src_port,
            dst_port,
            protocol,
        })
    }

    /// Follows the extension chain of the IPv6 layer at `at` through tshark's per-header
    /// next-header fields: each header type consumes its own occurrences, starting after
    /// those of the layers before. Returns the final protocol and whether this is a later
    /// fragment.
    fn ipv6_protocol(&self, at: usize) -> Option<(u8, bool)> {
        let byte = |v: &str| v.parse::<u8>().unwrap();
        let mut next = byte(self.nth("ipv6.nxt", &["ipv6"], at)?);
        let mut consumed: BTreeMap<&str, usize> = BTreeMap::new();
        let mut take = |field: &'static str, carrier: &'static str| {
            let taken = consumed.entry(field).or_insert(0);
            *taken += 1;
            self.from(field, &[carrier], at).get(*taken - 1).copied()
        };
        loop {
            let (field, carrier) = match next {
                0 => ("ipv6.hopopts.nxt", "ipv6.hopopts"),
                43 => ("ipv6.routing.nxt", "ipv6.routing"),
                60 => ("ipv6.dstopts.nxt", "ipv6.dstopts"),
                51 => ("ah.next_header", "ah"),
                44 => {
                    let offset = take("ipv6.fraghdr.offset", "ipv6.fraghdr");
                    let Some(after) = take("ipv6.fraghdr.nxt", "ipv6.fraghdr") else {
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
            match take(field, carrier) {
                Some(after) => next = byte(after),
                // tshark stopped inside the chain (cut capture): the last header is the protocol.
                None => return Some((next, false)),
            }
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

/// Frame timestamps in seconds since the epoch, from tshark, in frame order.
pub fn frame_times(path: &Path) -> Vec<f64> {
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "frame.time_epoch"])
        .output()
        .unwrap_or_else(|e| panic!("tshark must be installed to run this test: {e}"));
    assert!(output.status.success(), "tshark -r {}", path.display());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}
