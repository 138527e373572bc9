//! `hhmon::telemetry::sflow` against tshark on every shipped sFlow capture
//! (`captures/flow-telemetry/sflow-*.pcap`, one datagram each).
//!
//! libpcap reads each frame, `udp_payload` takes the datagram out and the decoder decodes it;
//! tshark dissects the same file as sFlow (`-T json`, read in document order), and its fields
//! (the datagram header, each flow sample's sequence number, source, sampling rate, drops,
//! frame length and header protocol, and the five-tuple of the packet header it dissects
//! itself, or of the sampled IPv4/IPv6 record) become the expected flow records, in order.
//! The sequence numbers are checked by what the decoder makes of them: the datagram is decoded
//! again with its sequence numbers and drops moved on (at offsets computed from tshark's
//! sample lengths, and checked to hold tshark's values), and the gaps must come out exactly.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hhmon::decode::{DecodeOptions, FlowKey, LinkType};
use hhmon::telemetry::sflow::{DatagramHeader, SflowDecoder};
use hhmon::telemetry::{udp_payload, FlowRecord, InterfaceCounters};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::util::repo;
use crate::util::tshark::dissect;

/// The UDP port tshark is told is sFlow, whatever port a capture uses.
const PORT: u16 = 6343;

/// The shipped sFlow captures, in name order.
fn captures() -> Vec<PathBuf> {
    let dir = repo::path("captures/flow-telemetry");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("sflow-") && name.ends_with(".pcap")
        })
        .collect();
    found.sort();
    assert!(found.len() >= 9, "sFlow captures in {}", dir.display());
    found
}

/// A JSON value with objects kept in document order (tshark's sample subtrees are keyed by
/// text, and serde_json's map would sort them).
enum Node {
    Leaf(String),
    List(Vec<Node>),
    Tree(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("tshark JSON")
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_owned()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Leaf(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Tree(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl Node {
    fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Tree(entries) => entries,
            _ => &[],
        }
    }

    fn get(&self, name: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v)
    }

    fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Node::Leaf(text) => Some(text),
            _ => None,
        }
    }

    fn number(&self, name: &str) -> u32 {
        let text = self.text(name).unwrap_or_else(|| panic!("no {name}"));
        text.parse()
            .unwrap_or_else(|e| panic!("{name} = {text}: {e}"))
    }

    fn address(&self, name: &str) -> IpAddr {
        self.text(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    }

    /// The subtrees that carry `field`, in order: the samples of a datagram, the records of
    /// a sample.
    fn children_with(&self, field: &str) -> impl Iterator<Item = &Node> {
        let field = field.to_owned();
        self.entries()
            .iter()
            .map(|(_, v)| v)
            .filter(move |v| v.get(&field).is_some())
    }
}

/// One flow sample as tshark dissected it.
#[derive(Debug)]
struct Sample {
    /// Where its sequence number is in the datagram.
    offset: usize,
    expanded: bool,
    sequence: u32,
    source: (u32, u32),
    rate: u32,
    drops: u32,
    /// The flow of its raw packet header (or of its sampled IPv4/IPv6 record) and the bytes
    /// of one packet.
    flow: Option<(FlowKey, u32)>,
}

/// One datagram as tshark dissected it.
#[derive(Debug)]
struct Datagram {
    header: DatagramHeader,
    /// Where its sequence number is.
    sequence_offset: usize,
    samples: Vec<Sample>,
    counter_samples: usize,
}

/// The five-tuple of the packet tshark dissected in a raw packet header: its first IP layer
/// and the transport layer right after it.
fn header_key(tree: &Node) -> Option<FlowKey> {
    let entries = tree.entries();
    let at = entries.iter().position(|(k, _)| k == "ip" || k == "ipv6")?;
    let (name, ip) = &entries[at];
    let (src, dst, protocol, later_fragment) = if name == "ip" {
        let offset = ip.text("ip.frag_offset").unwrap_or("0");
        (
            ip.address("ip.src"),
            ip.address("ip.dst"),
            ip.number("ip.proto"),
            offset != "0",
        )
    } else {
        assert!(
            !ip.entries()
                .iter()
                .any(|(k, _)| k.starts_with("ipv6.hopopts")
                    || k.starts_with("ipv6.routing")
                    || k.starts_with("ipv6.fraghdr")
                    || k.starts_with("ipv6.dstopts")),
            "IPv6 extension headers: teach this test to follow them"
        );
        (
            ip.address("ipv6.src"),
            ip.address("ipv6.dst"),
            ip.number("ipv6.nxt"),
            false,
        )
    };
    let ports = match entries.get(at + 1) {
        _ if later_fragment => (0, 0),
        Some((name, transport))
            if ["tcp", "udp", "udplite", "sctp", "dccp"].contains(&name.as_str()) =>
        {
            let prefix = if name == "udplite" { "udp" } else { name };
            (
                transport.number(&format!("{prefix}.srcport")),
                transport.number(&format!("{prefix}.dstport")),
            )
        }
        _ => (0, 0),
    };
    Some(FlowKey {
        src,
        dst,
        src_port: u16::try_from(ports.0).unwrap(),
        dst_port: u16::try_from(ports.1).unwrap(),
        protocol: u8::try_from(protocol).unwrap(),
    })
}

/// The flow of a sampled IPv4 or IPv6 record.
fn sampled_key(record: &Node, v6: bool) -> FlowKey {
    let (src, dst) = if v6 {
        (
            record.address("sflow_245.ipv6_src"),
            record.address("sflow_245.ipv6_dst"),
        )
    } else {
        (
            record.address("sflow_245.ipv4_src"),
            record.address("sflow_245.ipv4_dst"),
        )
    };
    let protocol = u8::try_from(record.number("sflow.ip_protocol")).unwrap();
    let has_ports = [6, 17, 33, 132, 136].contains(&protocol);
    let port = |name| {
        if has_ports {
            u16::try_from(record.number(name)).unwrap()
        } else {
            0
        }
    };
    FlowKey {
        src,
        dst,
        src_port: port("sflow_245.ip.source_port"),
        dst_port: port("sflow.ip.destination_port"),
        protocol,
    }
}

/// What hhmon counts for a flow sample: a raw header of a protocol it decodes (the Ethernet
/// frame's length less its FCS, an IP header's frame length as is) before a sampled IPv4 or
/// IPv6 record.
fn sample_flow(sample: &Node) -> Option<(FlowKey, u32)> {
    let mut raw = None;
    let mut sampled = None;
    for record in sample.children_with("sflow_245.flow_record_format") {
        match record.number("sflow_245.flow_record_format") {
            1 if raw.is_none() => {
                let frame_length = record.number("sflow_245.header.frame_length");
                let length = match record.number("sflow_245.header_protocol") {
                    1 => Some(frame_length.saturating_sub(4)),
                    11 | 12 => Some(frame_length),
                    _ => None,
                };
                raw = Some(length.and_then(|length| {
                    Some((header_key(record.get("sflow_245.header_tree")?)?, length))
                }));
            }
            3 | 4 if sampled.is_none() => {
                let v6 = record.number("sflow_245.flow_record_format") == 4;
                sampled = Some((
                    sampled_key(record, v6),
                    record.number("sflow_245.ip.length"),
                ));
            }
            _ => {}
        }
    }
    raw.flatten().or(sampled)
}

/// tshark's dissection of the one datagram in `path`.
fn tshark_datagram(path: &Path) -> Datagram {
    let decode_as = format!("udp.port=={PORT},sflow");
    let dissection = dissect(path, &["-T", "json", "-d", &decode_as]);
    assert!(dissection.success, "tshark -r {}", path.display());
    let frames: Node = serde_json::from_str(&dissection.stdout).unwrap();
    let Node::List(frames) = frames else {
        panic!("tshark JSON is not a list")
    };
    assert_eq!(frames.len(), 1, "{}: one datagram per file", path.display());
    let layers = frames[0]
        .get("_source")
        .and_then(|s| s.get("layers"))
        .unwrap();
    let sflow = layers.get("sflow").expect("an sflow layer");
    assert_eq!(sflow.number("sflow_245.version"), 5);
    let (agent, sequence_offset) = match sflow.number("sflow_245.agenttype") {
        1 => (Some(sflow.address("sflow_245.agent")), 16),
        2 => (Some(sflow.address("sflow_245.agent.v6")), 28),
        other => panic!("agent address type {other}"),
    };
    let header = DatagramHeader {
        agent,
        sub_agent: sflow.number("sflow_245.sub_agent_id"),
        sequence: sflow.number("sflow_245.sequence_number"),
        uptime_ms: sflow.number("sflow_245.sysuptime"),
        samples: sflow.number("sflow_245.numsamples"),
    };
    // Samples start after the sample count; each is its format, its length and its body.
    let mut offset = sequence_offset + 12;
    let mut samples = Vec::new();
    let mut counter_samples = 0;
    for sample in sflow.children_with("sflow_245.sampletype") {
        let length = usize::try_from(sample.number("sflow_5.sample_length")).unwrap();
        let kind = sample.number("sflow_245.sampletype");
        assert_eq!(sample.number("sflow.enterprise"), 0);
        match kind {
            1 | 3 => {
                let expanded = kind == 3;
                let source = if expanded {
                    (
                        sample.number("sflow.flow_sample.source_id_type"),
                        sample.number("sflow.flow_sample.source_id_index"),
                    )
                } else {
                    (
                        sample.number("sflow.flow_sample.source_id_class"),
                        sample.number("sflow.flow_sample.index"),
                    )
                };
                samples.push(Sample {
                    offset: offset + 8,
                    expanded,
                    sequence: sample.number("sflow.flow_sample.sequence_number"),
                    source,
                    rate: sample.number("sflow.flow_sample.sampling_rate"),
                    drops: sample.number("sflow.flow_sample.dropped_packets"),
                    flow: sample_flow(sample),
                });
            }
            2 | 4 => counter_samples += 1,
            other => panic!("sample type {other}"),
        }
        offset += 8 + length;
    }
    Datagram {
        header,
        sequence_offset,
        samples,
        counter_samples,
    }
}

/// The datagram in `path` (one UDP frame), with its source and capture time.
fn read_datagram(path: &Path) -> (IpAddr, Vec<u8>, u64) {
    let mut capture = pcap::Capture::from_file(path).unwrap();
    let link = LinkType(capture.get_datalink().0);
    let packet = capture.next_packet().unwrap();
    assert_eq!(
        packet.header.caplen,
        packet.header.len,
        "{}: whole datagram",
        path.display()
    );
    let time = u64::try_from(packet.header.ts.tv_sec).unwrap() * 1_000_000_000
        + u64::try_from(packet.header.ts.tv_usec).unwrap() * 1000;
    let (exporter, payload) = udp_payload(link, packet.data).expect("a UDP datagram");
    let datagram = (exporter, payload.to_vec(), time);
    assert!(
        capture.next_packet().is_err(),
        "{}: one frame",
        path.display()
    );
    datagram
}

fn decode(
    decoder: &mut SflowDecoder,
    exporter: IpAddr,
    datagram: &[u8],
    time: u64,
) -> (
    Vec<FlowRecord>,
    Vec<InterfaceCounters>,
    hhmon::telemetry::DatagramSummary,
) {
    let mut flows = Vec::new();
    let mut counters = Vec::new();
    let summary = decoder.decode(
        exporter,
        datagram,
        time,
        &mut |f: &FlowRecord| flows.push(*f),
        &mut |c: &InterfaceCounters| counters.push(*c),
    );
    (flows, counters, summary)
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn add_to_word(bytes: &mut [u8], at: usize, n: u32) {
    let value = word(bytes, at).wrapping_add(n);
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn sflow_captures_decode_as_tshark_dissects_them() {
    let mut total_samples = 0;
    let mut all_tuples: BTreeMap<FlowKey, u64> = BTreeMap::new();
    let mut total_bytes = 0u64;
    let mut expected_bytes = 0u64;
    for path in captures() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (exporter, datagram, time) = read_datagram(&path);
        let reference = tshark_datagram(&path);
        assert_eq!(
            DatagramHeader::read(&datagram),
            Ok(reference.header),
            "{name}"
        );
        assert_eq!(
            usize::try_from(reference.header.samples).unwrap(),
            reference.samples.len() + reference.counter_samples,
            "{name}: tshark found every sample"
        );

        // Every flow sample gives the flow tshark sees in it, in order.
        let expected: Vec<FlowRecord> = reference
            .samples
            .iter()
            .map(|sample| {
                let (key, length) = sample
                    .flow
                    .unwrap_or_else(|| panic!("{name}: a sample without a flow: {sample:?}"));
                FlowRecord {
                    key,
                    packets: u64::from(sample.rate),
                    bytes: u64::from(length) * u64::from(sample.rate),
                    sampling_rate: sample.rate,
                    time_nanos: time,
                }
            })
            .collect();
        assert!(!expected.is_empty(), "{name}");
        let mut decoder = SflowDecoder::new(DecodeOptions::default());
        let (flows, counters, summary) = decode(&mut decoder, exporter, &datagram, time);
        assert_eq!(flows, expected, "{name}");
        assert_eq!(counters.len(), reference.counter_samples, "{name}");
        assert_eq!(summary.malformed, None, "{name}");
        assert_eq!(
            summary.records,
            u64::try_from(expected.len()).unwrap(),
            "{name}"
        );
        assert_eq!(
            (summary.lost_datagrams, summary.lost_records),
            (0, 0),
            "{name}: first"
        );
        for flow in &flows {
            *all_tuples.entry(flow.key).or_default() += 1;
            total_bytes += flow.bytes;
        }
        expected_bytes += expected.iter().map(|f| f.bytes).sum::<u64>();
        total_samples += reference.samples.len();

        // The same datagram again is a duplicate: nothing lost, the flows counted again.
        let (again, _, summary) = decode(&mut decoder, exporter, &datagram, time);
        assert_eq!(again, expected, "{name}");
        assert_eq!(
            (summary.lost_datagrams, summary.lost_records),
            (0, 0),
            "{name}: again"
        );

        // Moved on: datagram sequence + 5 (4 lost), each sample's sequence + 3 and drops + 2.
        // Per source, the first sample moved on is 3 past its first before, so 2 minus how
        // far the source's last sample before was past its first are lost, and 2 dropped.
        let mut later = datagram.clone();
        assert_eq!(
            word(&later, reference.sequence_offset),
            reference.header.sequence,
            "{name}"
        );
        add_to_word(&mut later, reference.sequence_offset, 5);
        let mut sources: BTreeMap<(u32, u32), (u32, u32, u32)> = BTreeMap::new();
        for sample in &reference.samples {
            assert_eq!(word(&later, sample.offset), sample.sequence, "{name}");
            add_to_word(&mut later, sample.offset, 3);
            // Drops: after sequence, source (two words expanded), rate and pool.
            let drops_at = sample.offset + if sample.expanded { 20 } else { 16 };
            assert_eq!(word(&later, drops_at), sample.drops, "{name}");
            add_to_word(&mut later, drops_at, 2);
            let (first, last, drops) = sources.entry(sample.source).or_insert((
                sample.sequence,
                sample.sequence,
                sample.drops,
            ));
            assert_eq!(
                sample.sequence,
                *last + u32::from(*last != sample.sequence),
                "{name}"
            );
            assert_eq!(sample.drops, *drops, "{name}");
            *last = sample.sequence;
            assert!(*last - *first < 2, "{name}: teach this test longer runs");
        }
        let lost_records: u64 = sources
            .values()
            .map(|(first, last, _)| u64::from(2 - (last - first)) + 2)
            .sum();
        let (_, _, summary) = decode(&mut decoder, exporter, &later, time);
        assert_eq!(
            (summary.lost_datagrams, summary.lost_records),
            (4, lost_records),
            "{name}"
        );
    }
    assert_eq!(total_bytes, expected_bytes);
    eprintln!(
        "sflow: {} captures, {total_samples} flow samples, {} five-tuples, {total_bytes} scaled bytes",
        captures().len(),
        all_tuples.len()
    );
}
