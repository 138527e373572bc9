//! `hhmon::telemetry::netflow` against tshark's cflow dissector on the NetFlow v5, v9 and
//! IPFIX exports in `captures/flow-telemetry/`.
//!
//! Each case is a list of one-datagram captures from one exporter, templates first. libpcap
//! reads them, `udp_payload` takes each datagram, and one decoder is fed them in order.
//! tshark dissects the same datagrams, concatenated by `mergecap -a` so that its dissector
//! sees the templates before the data, as JSON. The test derives from tshark's fields alone
//! what each flow record must become: the five-tuple (ports only for the protocols a
//! `FlowKey` holds them for), the sampling rate the records and the options records state
//! (sampler ID to rate, else the record's own interval, else the exporter default, else v5's
//! header rate, else 1), and packets and bytes multiplied by it. The multisets must be equal.
//! Records with a data-link frame section (RFC 7133) instead of addresses are keyed by the
//! outermost IP header tshark finds in the section, compared on addresses only (the ports of
//! the inner frame come from `hhmon::decode`, checked against tshark elsewhere).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use hhmon::decode::LinkType;
use hhmon::telemetry::netflow::{Limits, NetflowDecoder};
use hhmon::telemetry::{udp_payload, DatagramSummary, FlowRecord};
use serde_json::Value;

use crate::util::repo;

/// One export: the captures fed in order, the UDP port tshark must decode as cflow, and what
/// the test expects beyond tshark's agreement.
struct Case {
    files: &'static [&'static str],
    port: u16,
    /// Records hhmon keys (a check that the comparison is not vacuous).
    flows: usize,
    /// Sampling rates the flow records carry, sorted, deduplicated.
    rates: &'static [u32],
    /// Frame-section records hhmon does not key: the ones whose IP header sits behind an
    /// Ethernet pseudowire inside MPLS, which `hhmon::decode` does not open (tshark does),
    /// and the ones neither finds an IP header in.
    unkeyed_frames: usize,
    /// Data sets before their template, in all the datagrams.
    template_misses: u64,
}

const CASES: &[Case] = &[
    Case {
        files: &["netflow-nfv5.pcap"],
        port: 9990,
        flows: 29,
        rates: &[1],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &[
            "netflow-template.pcap",
            "netflow-options-template.pcap",
            "netflow-options-data.pcap",
            "netflow-data.pcap",
        ],
        port: 2055,
        flows: 4,
        rates: &[30000],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &["netflow-data+templates.pcap"],
        port: 2055,
        flows: 10,
        rates: &[100],
        unkeyed_frames: 0,
        // The export starts with a data set, then the templates, then data again.
        template_misses: 1,
    },
    Case {
        files: &[
            "netflow-multiplesamplingrates-template.pcap",
            "netflow-multiplesamplingrates-options-template.pcap",
            "netflow-multiplesamplingrates-options-data.pcap",
            "netflow-multiplesamplingrates-data.pcap",
        ],
        port: 2055,
        flows: 12,
        rates: &[2000, 4000],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &[
            "netflow-samplingrate-template.pcap",
            "netflow-samplingrate-data.pcap",
        ],
        port: 8096,
        flows: 6,
        rates: &[2048],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &["netflow-icmp-template.pcap", "netflow-icmp-data.pcap"],
        port: 2100,
        flows: 4,
        rates: &[1],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &["netflow-nat.pcap"],
        port: 2055,
        flows: 0,
        rates: &[],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &["netflow-mpls.pcap"],
        port: 2055,
        flows: 2,
        rates: &[10],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &["netflow-physicalinterfaces.pcap"],
        port: 2055,
        flows: 8,
        rates: &[1000],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &[
            "netflow-datalink-template.pcap",
            "netflow-datalink-data.pcap",
        ],
        port: 2055,
        flows: 1,
        rates: &[1],
        unkeyed_frames: 0,
        template_misses: 0,
    },
    Case {
        files: &[
            "netflow-ethernet-over-mpls-with-control-word-template.pcap",
            "netflow-ethernet-over-mpls-with-control-word-data.pcap",
        ],
        port: 2055,
        flows: 8,
        rates: &[1],
        unkeyed_frames: 2,
        template_misses: 0,
    },
    Case {
        files: &[
            "netflow-ipfix-srv6-template.pcap",
            "netflow-ipfix-srv6-data.pcap",
        ],
        port: 2055,
        flows: 1,
        rates: &[1],
        unkeyed_frames: 0,
        template_misses: 0,
    },
];

/// What is compared of one flow record: addresses, protocol and ports (`None` for a
/// frame-section record), packets and bytes after sampling.
type Row = (IpAddr, IpAddr, Option<(u8, u16, u16)>, u64, u64);

fn capture(name: &str) -> PathBuf {
    repo::path("captures/flow-telemetry").join(name)
}

/// hhmon's records for a case, with the summaries of its datagrams.
fn hhmon(case: &Case) -> (Vec<FlowRecord>, Vec<DatagramSummary>) {
    let mut decoder = NetflowDecoder::new(Limits::default());
    let mut records = Vec::new();
    let mut summaries = Vec::new();
    for name in case.files {
        let mut file = pcap::Capture::from_file(capture(name)).unwrap();
        let link = LinkType(file.get_datalink().0);
        while let Ok(packet) = file.next_packet() {
            let (exporter, payload) = udp_payload(link, packet.data).expect(name);
            let arrival = u64::try_from(packet.header.ts.tv_sec).unwrap() * 1_000_000_000;
            let summary = decoder.decode(exporter, payload, arrival, &mut |record| {
                records.push(*record);
            });
            summaries.push(summary);
        }
    }
    (records, summaries)
}

/// tshark's dissection of the case's datagrams as JSON, one element per frame.
fn tshark_json(case: &Case) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("merged.pcap");
    let status = Command::new("mergecap")
        .arg("-a")
        .arg("-w")
        .arg(&merged)
        .args(case.files.iter().map(|name| capture(name)))
        .status()
        .unwrap_or_else(|e| panic!("mergecap (wireshark-common) must be installed: {e}"));
    assert!(status.success(), "mergecap {:?}", case.files);
    let dissection = crate::util::tshark::dissect(
        Path::new(&merged),
        &[
            "-d",
            &format!("udp.port=={},cflow", case.port),
            "-T",
            "json",
            "-J",
            "cflow",
        ],
    );
    assert!(dissection.success, "tshark on {:?}", case.files);
    serde_json::from_str(&dissection.stdout).unwrap()
}

fn number(object: &serde_json::Map<String, Value>, field: &str) -> Option<u64> {
    object.get(field)?.as_str()?.parse().ok()
}

/// The first of `fields` that holds an address other than the unspecified one (exporters
/// send both families, zeros in the one a flow is not of), else the unspecified one.
fn address(object: &serde_json::Map<String, Value>, fields: &[&str]) -> Option<IpAddr> {
    let all: Vec<IpAddr> = fields
        .iter()
        .filter_map(|field| object.get(*field)?.as_str()?.parse().ok())
        .collect();
    all.iter()
        .find(|a| !a.is_unspecified())
        .or(all.first())
        .copied()
}

/// Every flow object ("Flow N" of a v9/IPFIX set, "pdu N/M" of v5) under `value`.
fn flows<'a>(value: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    if let Value::Object(map) = value {
        for (name, child) in map {
            match child {
                Value::Object(flow) if name.starts_with("Flow ") || name.starts_with("pdu ") => {
                    out.push(flow);
                }
                Value::Object(_) => flows(child, out),
                _ => {}
            }
        }
    }
}

/// The sampling rate an options record states, and the sampler it names (0: none).
fn options_rate(flow: &serde_json::Map<String, Value>) -> Option<(u64, u64)> {
    let rate = match number(flow, "cflow.sampling_packet_interval") {
        Some(interval) if interval > 0 => {
            (interval + number(flow, "cflow.sampling_packet_space").unwrap_or(0)) / interval
        }
        _ => number(flow, "cflow.sampling_interval")
            .or_else(|| number(flow, "cflow.sampler_random_interval"))?,
    };
    let sampler = number(flow, "cflow.sampler_id")
        .or_else(|| number(flow, "cflow.selector_id"))
        .unwrap_or(0);
    Some((sampler, rate))
}

/// The outermost IP addresses tshark found in a record's data-link frame section.
fn frame_addresses(flow: &serde_json::Map<String, Value>) -> Option<Option<(IpAddr, IpAddr)>> {
    let tree = flow
        .get("cflow.data_link_frame_section_tree")?
        .as_object()?;
    // The JSON object is unordered; the captures hold IPv4 inside IPv6 (SRv6) at most, so
    // an IPv6 header, when there is one, is the outer one.
    let ip = tree
        .get("ipv6")
        .map(|ip| (ip, "ipv6.src", "ipv6.dst"))
        .or_else(|| tree.get("ip").map(|ip| (ip, "ip.src", "ip.dst")));
    Some(ip.and_then(|(ip, src, dst)| {
        let ip = ip.as_object()?;
        Some((address(ip, &[src])?, address(ip, &[dst])?))
    }))
}

/// The rows tshark's fields say hhmon must produce, and the frame-section records tshark
/// keys.
fn expected(frames: &[Value]) -> (Vec<Row>, Vec<u32>, usize) {
    let mut samplers: BTreeMap<u64, u64> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    let mut frame_records = 0;
    for frame in frames {
        let cflow = &frame["_source"]["layers"]["cflow"];
        let header_rate = cflow
            .as_object()
            .and_then(|c| number(c, "cflow.samplerate"))
            .filter(|&r| r > 0);
        let mut all = Vec::new();
        flows(cflow, &mut all);
        // Options first: in these captures they precede the data they describe.
        for flow in &all {
            let is_flow = flow.contains_key("cflow.srcaddr")
                || flow.contains_key("cflow.srcaddrv6")
                || flow.contains_key("cflow.data_link_frame_section");
            if !is_flow {
                if let Some((sampler, rate)) = options_rate(flow) {
                    samplers.insert(sampler, rate);
                }
            }
        }
        for flow in &all {
            let packets = number(flow, "cflow.packets").or(number(flow, "cflow.post_packets"));
            let octets = number(flow, "cflow.octets").or(number(flow, "cflow.post_octets"));
            let own_rate = number(flow, "cflow.sampling_interval")
                .or(number(flow, "cflow.sampler_random_interval"))
                .filter(|&r| r > 0);
            let rate = number(flow, "cflow.sampler_id")
                .filter(|&id| id != 0)
                .and_then(|id| samplers.get(&id).copied())
                .or(own_rate)
                .or(samplers.get(&0).copied())
                .or(header_rate)
                .unwrap_or(1);
            if let Some(frame_key) = frame_addresses(flow) {
                frame_records += 1;
                let Some((src, dst)) = frame_key else {
                    continue;
                };
                let size = number(flow, "cflow.data_link_frame_size").unwrap();
                rows.push((
                    src,
                    dst,
                    None,
                    packets.unwrap_or(1) * rate,
                    octets.unwrap_or(size) * rate,
                ));
                rates.push(u32::try_from(rate).unwrap());
                continue;
            }
            let src = address(flow, &["cflow.srcaddr", "cflow.srcaddrv6"]);
            let dst = address(flow, &["cflow.dstaddr", "cflow.dstaddrv6"]);
            let (Some(src), Some(dst)) = (src, dst) else {
                continue;
            };
            if packets.is_none() && octets.is_none() {
                continue;
            }
            let protocol = u8::try_from(number(flow, "cflow.protocol").unwrap_or(0)).unwrap();
            let ports = if matches!(protocol, 6 | 17 | 33 | 132 | 136) {
                let port = |f| u16::try_from(number(flow, f).unwrap_or(0)).unwrap();
                (port("cflow.srcport"), port("cflow.dstport"))
            } else {
                (0, 0)
            };
            rows.push((
                src,
                dst,
                Some((protocol, ports.0, ports.1)),
                packets.unwrap_or(0) * rate,
                octets.unwrap_or(0) * rate,
            ));
            rates.push(u32::try_from(rate).unwrap());
        }
    }
    (rows, rates, frame_records)
}

#[test]
fn netflow_records_match_tshark() {
    let mut compared = 0;
    for case in CASES {
        let frames = tshark_json(case);
        let (mut want, mut want_rates, frame_records) = expected(&frames);
        let (records, summaries) = hhmon(case);
        for summary in &summaries {
            assert_eq!(summary.malformed, None, "{:?}: {summary:?}", case.files);
        }
        let misses: u64 = summaries.iter().map(|s| s.template_misses).sum();
        assert_eq!(
            misses, case.template_misses,
            "{:?}: {summaries:?}",
            case.files
        );
        let frame_case = frame_records > 0;
        let mut got: Vec<Row> = records
            .iter()
            .map(|r| {
                let ports =
                    (!frame_case).then_some((r.key.protocol, r.key.src_port, r.key.dst_port));
                (r.key.src, r.key.dst, ports, r.packets, r.bytes)
            })
            .collect();
        got.sort();
        want.sort();
        let mut got_rates: Vec<u32> = records.iter().map(|r| r.sampling_rate).collect();
        got_rates.sort_unstable();
        got_rates.dedup();
        want_rates.sort_unstable();
        want_rates.dedup();
        assert_eq!(got.len(), case.flows, "{:?}: records", case.files);
        assert_eq!(got_rates, case.rates, "{:?}: hhmon's rates", case.files);
        if case.unkeyed_frames == 0 {
            assert_eq!(got, want, "{:?}", case.files);
            assert_eq!(want_rates, case.rates, "{:?}: tshark's rates", case.files);
        } else {
            // Every record hhmon keys is one tshark keys; the rest are the pseudowires.
            let mut left = want.clone();
            for row in &got {
                let at = left.iter().position(|w| w == row);
                let at = at.unwrap_or_else(|| panic!("{:?}: {row:?} not in {want:?}", case.files));
                left.remove(at);
            }
            assert_eq!(
                frame_records - got.len(),
                case.unkeyed_frames,
                "{:?}: {left:?}",
                case.files
            );
        }
        compared += got.len();
    }
    assert!(compared >= 70, "{compared} records compared");
}
