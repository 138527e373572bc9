//! `hhmon::decode` against tshark, packet by packet, on every capture in `captures/`.
//!
//! libpcap reads the frames and `decode` keys them; tshark dissects the same file with
//! reassembly off and its outermost IP fields become the reference key. The two must agree on
//! every packet (key, or "no IP"), and therefore on the flow tables, except for the few
//! packets listed in `ALLOWED`, each with the reason tshark and hhmon legitimately differ.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use hhmon::decode::{decode, FlowKey, LinkType, UnparsedReason};

/// How one packet came out on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Disagreement {
    /// Both found IP but built different keys.
    KeyDiffers,
    /// tshark found an IP layer, `decode` rejected the frame.
    OnlyTshark,
    /// `decode` produced a key, tshark found no IP layer.
    OnlyDecode,
}

/// Packets on which hhmon and tshark are allowed to differ, per file and kind, with the count.
struct Allowance {
    file: &'static str,
    kind: Disagreement,
    packets: usize,
    why: &'static str,
}

const ALLOWED: &[Allowance] = &[];

/// Files libpcap reads only part of (or none of): the error it reports, in a few words.
const DAMAGED: &[(&str, &str)] = &[];

/// One packet as tshark dissected it.
#[derive(Debug)]
struct TsharkPacket {
    wire_len: u32,
    key: Option<FlowKey>,
}

/// One packet as libpcap read it and `decode` keyed it.
#[derive(Debug)]
struct HhmonPacket {
    wire_len: u32,
    decoded: Result<FlowKey, UnparsedReason>,
}

/// What libpcap gave for one file: the packets read, and the error that stopped it, if any.
struct HhmonRead {
    packets: Vec<HhmonPacket>,
    error: Option<String>,
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

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// Runs tshark on `path`. Every value of a field is kept (occurrence=a), outermost first, so
/// that the IPv6 extension chain can be followed; the single-valued fields use the first.
fn tshark(path: &Path) -> Vec<TsharkPacket> {
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
        key: tshark_key(&first("frame.protocols").unwrap_or(""), &all, &first),
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
        (first("ipv6.src")?, first("ipv6.dst")?, protocol, later_fragment)
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

/// Reads `path` with libpcap and decodes every frame.
fn hhmon(path: &Path) -> Result<HhmonRead, pcap::Error> {
    let mut capture = pcap::Capture::from_file(path)?;
    let link = LinkType(capture.get_datalink().0);
    let mut packets = Vec::new();
    let error = loop {
        match capture.next_packet() {
            Ok(packet) => packets.push(HhmonPacket {
                wire_len: packet.header.len,
                decoded: decode(link, packet.data).map(|d| d.key),
            }),
            Err(pcap::Error::NoMorePackets) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    Ok(HhmonRead { packets, error })
}

/// A flow table: key -> (packets, wire bytes).
type Flows = BTreeMap<FlowKey, (u64, u64)>;

fn add(flows: &mut Flows, key: FlowKey, wire_len: u32) {
    let entry = flows.entry(key).or_default();
    entry.0 += 1;
    entry.1 += u64::from(wire_len);
}

/// Per-file figures, printed as a table (`cargo test -- --nocapture` shows it).
#[derive(Debug, Default)]
struct Figures {
    packets: usize,
    flows: usize,
    rejected: usize,
    disagreements: BTreeMap<Disagreement, usize>,
}

/// Compares one file; returns its figures or the list of problems found.
fn compare(name: &str, path: &Path) -> Result<Figures, Vec<String>> {
    let mut problems = Vec::new();
    let expected_error = DAMAGED.iter().find(|(file, _)| *file == name);
    let tshark_packets = tshark(path);
    let read = match hhmon(path) {
        Ok(read) => read,
        Err(e) => {
            // libpcap refused the whole file: that must be expected, reported as an error, and
            // lose nothing tshark would have keyed.
            if expected_error.is_none_or(|(_, what)| !e.to_string().contains(what)) {
                problems.push(format!("libpcap refused the file unexpectedly: {e}"));
            }
            if tshark_packets.iter().any(|p| p.key.is_some()) {
                problems.push("libpcap refused a file in which tshark finds IP".to_string());
            }
            return if problems.is_empty() {
                Ok(Figures::default())
            } else {
                Err(problems)
            };
        }
    };
    match (&read.error, expected_error) {
        (None, None) => {}
        (Some(e), Some((_, what))) if e.contains(what) => {}
        (got, expected) => problems.push(format!(
            "libpcap read error {got:?}, expected {:?}",
            expected.map(|(_, what)| what)
        )),
    }
    if read.packets.len() != tshark_packets.len() {
        problems.push(format!(
            "libpcap read {} packets, tshark {}",
            read.packets.len(),
            tshark_packets.len()
        ));
        return Err(problems);
    }

    let mut figures = Figures {
        packets: read.packets.len(),
        ..Figures::default()
    };
    let mut ours = Flows::new();
    let mut theirs = Flows::new();
    let mut tshark_without_ip = 0;
    for (number, (hh, ts)) in read.packets.iter().zip(&tshark_packets).enumerate() {
        if hh.wire_len != ts.wire_len {
            problems.push(format!(
                "packet {}: libpcap wire length {}, tshark {}",
                number + 1,
                hh.wire_len,
                ts.wire_len
            ));
        }
        let kind = match (&hh.decoded, &ts.key) {
            (Ok(a), Some(b)) if a == b => None,
            (Err(_), None) => None,
            (Ok(_), Some(_)) => Some(Disagreement::KeyDiffers),
            (Err(_), Some(_)) => Some(Disagreement::OnlyTshark),
            (Ok(_), None) => Some(Disagreement::OnlyDecode),
        };
        if let Some(kind) = kind {
            *figures.disagreements.entry(kind).or_default() += 1;
            eprintln!(
                "{name} packet {}: {kind:?}: hhmon {:?}, tshark {:?}",
                number + 1,
                hh.decoded,
                ts.key
            );
            continue;
        }
        match hh.decoded {
            Ok(key) => add(&mut ours, key, hh.wire_len),
            Err(_) => figures.rejected += 1,
        }
        match ts.key {
            Some(key) => add(&mut theirs, key, ts.wire_len),
            None => tshark_without_ip += 1,
        }
    }
    figures.flows = ours.len();

    let allowed: BTreeMap<Disagreement, usize> = ALLOWED
        .iter()
        .filter(|a| a.file == name)
        .map(|a| (a.kind, a.packets))
        .collect();
    if figures.disagreements != allowed {
        problems.push(format!(
            "disagreements {:?}, allowed {allowed:?}",
            figures.disagreements
        ));
    }
    if ours != theirs {
        let only_ours: BTreeSet<_> = ours.iter().filter(|f| theirs.get(f.0) != Some(f.1)).collect();
        problems.push(format!("flow tables differ, e.g. hhmon-only {:?}", only_ours.first()));
    }
    if figures.rejected != tshark_without_ip {
        problems.push(format!(
            "hhmon rejected {} agreed packets, tshark found no IP in {tshark_without_ip}",
            figures.rejected
        ));
    }
    if problems.is_empty() {
        Ok(figures)
    } else {
        Err(problems)
    }
}

/// libpcap cannot read gzip; the file is decompressed next to the test's other temporary files.
fn readable_copy(path: &Path, dir: &Path) -> PathBuf {
    let Some(stem) = path.file_name().unwrap().to_str().unwrap().strip_suffix(".gz") else {
        return path.to_path_buf();
    };
    let output = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(output.status.success(), "gzip -dc {}", path.display());
    let copy = dir.join(stem);
    std::fs::write(&copy, output.stdout).unwrap();
    copy
}

#[test]
fn decode_agrees_with_tshark_on_every_capture() {
    let temp = tempfile::tempdir().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    names.sort();
    assert!(names.len() >= 40, "captures/ has only {} files", names.len());
    for name in ALLOWED.iter().map(|a| a.file).chain(DAMAGED.iter().map(|d| d.0)) {
        assert!(names.iter().any(|n| n == name), "allow-list names missing file {name}");
    }

    let mut failures = Vec::new();
    eprintln!("{:<36} {:>7} {:>6} {:>8}  disagreements", "file", "packets", "flows", "rejected");
    for name in &names {
        let path = readable_copy(&captures_dir().join(name), temp.path());
        match compare(name, &path) {
            Ok(f) => eprintln!(
                "{name:<36} {:>7} {:>6} {:>8}  {:?}",
                f.packets, f.flows, f.rejected, f.disagreements
            ),
            Err(problems) => failures.push(format!("{name}: {}", problems.join("; "))),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
