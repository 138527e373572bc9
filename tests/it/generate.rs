//! `hhmon generate` as a whole program: the same flags give the same bytes, and the truth file
//! it writes agrees with independent recounts of the capture — tshark's on a small trace,
//! libpcap's and etherparse's on a larger one — and with `hhmon replay --exact`. A sketch-mode
//! replay of the same trace is held to the truth as the accuracy reference the generator exists
//! for. tshark must be installed: a missing tool fails the test.

use std::fmt::Debug;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use hhmon::decode::FlowKey;
use hhmon::report::{AddressEntry, FlowEntry, IntervalReport};
use hhmon::synth::{Truth, ATTACK_VICTIM, SCANNER};

use crate::util::hhmon::{hhmon, replay_into};
use crate::util::tshark::{add, tshark, Counts};

/// Runs `hhmon generate` with `args`, writing `<dir>/<name>.pcap` and `<dir>/<name>.json`.
fn generate(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let pcap = dir.join(format!("{name}.pcap"));
    let truth = dir.join(format!("{name}.json"));
    let output = hhmon(["generate"])
        .args(args)
        .arg("--out")
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output();
    assert!(output.status.success(), "{args:?}: {}", output.stderr);
    (pcap, truth)
}

fn read_truth(path: &Path) -> Truth {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Counts of a capture made without the generator's help.
#[derive(Default)]
struct Recount {
    packets: u64,
    bytes: u64,
    ipv6_packets: u64,
    attack_packets: u64,
    scan_packets: u64,
    timestamps: Vec<u64>,
    flows: Counts<FlowKey>,
    sources: Counts<IpAddr>,
    destinations: Counts<IpAddr>,
}

impl Recount {
    fn add(&mut self, key: FlowKey, wire_len: u32) {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        self.ipv6_packets += u64::from(key.src.is_ipv6());
        self.attack_packets += u64::from(key.dst == IpAddr::V4(ATTACK_VICTIM));
        self.scan_packets += u64::from(key.src == IpAddr::V4(SCANNER));
        add(&mut self.flows, key, wire_len);
        add(&mut self.sources, key.src, wire_len);
        add(&mut self.destinations, key.dst, wire_len);
    }
}

/// Reads the capture with libpcap and dissects every frame with etherparse.
fn recount_with_etherparse(path: &Path) -> Recount {
    let mut capture = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).unwrap();
    let mut recount = Recount::default();
    while let Ok(packet) = capture.next_packet() {
        let sliced = LaxSlicedPacket::from_ethernet(packet.data).unwrap();
        let (src, dst, protocol) = match sliced.net.unwrap() {
            LaxNetSlice::Ipv4(ip) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
                ip.header().protocol().0,
            ),
            LaxNetSlice::Ipv6(ip) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
                ip.header().next_header().0,
            ),
            LaxNetSlice::Arp(_) => panic!("ARP in a generated trace"),
        };
        let (src_port, dst_port) = match sliced.transport.unwrap() {
            TransportSlice::Tcp(tcp) => (tcp.source_port(), tcp.destination_port()),
            TransportSlice::Udp(udp) => (udp.source_port(), udp.destination_port()),
            other => panic!("unexpected transport {other:?}"),
        };
        let key = FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            protocol,
        };
        recount.add(key, packet.header.len);
        let ts = &packet.header.ts;
        recount
            .timestamps
            .push(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_usec as u64);
    }
    recount
}

fn recount_with_tshark(path: &Path) -> Recount {
    let mut recount = Recount::default();
    for packet in tshark(path) {
        recount.add(packet.key().expect("every frame is IP"), packet.wire_len);
    }
    recount
}

/// The `n` largest entries, largest first, ties by ascending key.
fn top<K: Ord + Clone>(counts: &Counts<K>, n: usize, by_bytes: bool) -> Vec<(K, u64, u64)> {
    let mut entries: Vec<(K, u64, u64)> = counts
        .iter()
        .map(|(key, &(packets, bytes))| (key.clone(), packets, bytes))
        .collect();
    let rank = |e: &(K, u64, u64)| if by_bytes { e.2 } else { e.1 };
    entries.sort_by(|a, b| rank(b).cmp(&rank(a)).then_with(|| a.0.cmp(&b.0)));
    entries.truncate(n);
    entries
}

fn flows(entries: &[FlowEntry]) -> Vec<(FlowKey, u64, u64)> {
    entries
        .iter()
        .map(|e| {
            let key = FlowKey {
                src: e.src,
                dst: e.dst,
                src_port: e.src_port,
                dst_port: e.dst_port,
                protocol: e.protocol,
            };
            (key, e.packets, e.bytes)
        })
        .collect()
}

fn addresses(entries: &[AddressEntry]) -> Vec<(IpAddr, u64, u64)> {
    entries
        .iter()
        .map(|e| (e.address, e.packets, e.bytes))
        .collect()
}

/// Checks every figure of `truth` against `recount`.
fn assert_truth_matches(truth: &Truth, recount: &Recount) {
    let n = truth.config.top;
    assert_eq!(truth.packets, recount.packets);
    assert_eq!(truth.packets, truth.config.packets);
    assert_eq!(truth.bytes, recount.bytes);
    assert_eq!(truth.ipv6_packets, recount.ipv6_packets);
    assert_eq!(truth.attack_packets, recount.attack_packets);
    assert_eq!(truth.scan_packets, recount.scan_packets);
    assert_eq!(truth.distinct_flows, recount.flows.len() as u64);
    assert_eq!(truth.distinct_sources, recount.sources.len() as u64);
    assert_eq!(
        truth.distinct_destinations,
        recount.destinations.len() as u64
    );
    for by_bytes in [false, true] {
        let (flow_list, source_list, destination_list) = if by_bytes {
            (
                &truth.top_flows_by_bytes,
                &truth.top_sources_by_bytes,
                &truth.top_destinations_by_bytes,
            )
        } else {
            (
                &truth.top_flows,
                &truth.top_sources,
                &truth.top_destinations,
            )
        };
        assert_eq!(flows(flow_list), top(&recount.flows, n, by_bytes));
        assert_eq!(addresses(source_list), top(&recount.sources, n, by_bytes));
        assert_eq!(
            addresses(destination_list),
            top(&recount.destinations, n, by_bytes)
        );
    }
}

#[test]
fn the_same_flags_give_the_same_bytes_and_the_seed_changes_them() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--packets", "50000", "--flows", "2000", "--attack", "0.1"];
    let (pcap_a, truth_a) = generate(dir.path(), "a", &args);
    let (pcap_b, truth_b) = generate(dir.path(), "b", &args);
    let seeded: Vec<&str> = args.iter().copied().chain(["--seed", "2"]).collect();
    let (pcap_c, _) = generate(dir.path(), "c", &seeded);
    let read = |path: &Path| std::fs::read(path).unwrap();
    assert_eq!(read(&pcap_a), read(&pcap_b));
    assert_eq!(read(&truth_a), read(&truth_b));
    assert_ne!(read(&pcap_a), read(&pcap_c));
    // 24-byte file header, then 16 bytes of record header and at most 128 captured per frame.
    let size = read(&pcap_a).len();
    assert!(size > 24 + 50_000 * (16 + 60) && size <= 24 + 50_000 * (16 + 128));
}

#[test]
fn truth_agrees_with_tshark_on_a_small_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = generate(
        dir.path(),
        "small",
        &[
            "--packets",
            "20000",
            "--flows",
            "500",
            "--zipf",
            "1.1",
            "--ipv6-share",
            "0.3",
            "--attack",
            "0.1",
            "--scan",
            "0.05",
            "--top",
            "30",
        ],
    );
    let truth = read_truth(&truth);
    let recount = recount_with_tshark(&pcap);
    assert_truth_matches(&truth, &recount);
    // The mix asked for is there: IPv6, the attack and the scanner.
    assert!(truth.ipv6_packets > 2_000 && truth.attack_packets > 1_500);
    assert!(truth.scan_packets > 700);
    let victim = IpAddr::V4(ATTACK_VICTIM);
    assert!(truth.top_destinations.iter().any(|e| e.address == victim));
    let scanner = IpAddr::V4(SCANNER);
    assert!(truth.top_sources.iter().any(|e| e.address == scanner));
}

#[test]
fn truth_agrees_with_libpcap_and_etherparse_on_a_larger_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = generate(
        dir.path(),
        "large",
        &["--packets", "300000", "--flows", "50000", "--rate", "20000"],
    );
    let truth = read_truth(&truth);
    let recount = recount_with_etherparse(&pcap);
    assert_truth_matches(&truth, &recount);
    // Evenly spaced at 20,000 packets per second: 15 s of trace.
    let step = 1_000_000_000 / 20_000;
    let first = truth.config.start_unix * 1_000_000_000;
    assert_eq!(recount.timestamps.first(), Some(&first));
    assert_eq!(truth.first_timestamp_nanos, first);
    assert_eq!(truth.last_timestamp_nanos, first + 299_999 * step);
    assert!(recount
        .timestamps
        .windows(2)
        .all(|pair| pair[1] - pair[0] == step));
}

fn replay(pcap: &Path, dir: &Path, extra: &[&str]) -> IntervalReport {
    let output = replay_into(dir)
        .args(["--interval", "1000000000s", "--top", "20"])
        .args(extra)
        .arg(pcap)
        .output();
    assert!(output.status.success(), "{}", output.stderr);
    serde_json::from_slice(&std::fs::read(dir.join("latest.json")).unwrap()).unwrap()
}

/// Each reported entry of a sketch's top list is within `tolerance` of its true count and is
/// truly among the heaviest: at least as heavy as the true entry `slack` places below the end
/// of the list (near-ties at the cut may swap).
fn assert_close<K: PartialEq + Debug>(
    what: &str,
    reported: &[(K, u64, u64)],
    truth: &[(K, u64, u64)],
    by_bytes: bool,
) {
    let (tolerance, slack) = (0.01, 5);
    assert_eq!(reported.len(), 20, "{what}");
    let rank = |e: &(K, u64, u64)| if by_bytes { e.2 } else { e.1 };
    let cut = rank(&truth[reported.len() + slack - 1]);
    for entry in reported {
        let real = truth
            .iter()
            .find(|t| t.0 == entry.0)
            .unwrap_or_else(|| panic!("{what}: {:?} is not among the true top", entry.0));
        assert!(rank(real) >= cut, "{what}: {:?} ranks too low", entry.0);
        for (estimate, exact) in [(entry.1, real.1), (entry.2, real.2)] {
            let error = estimate.abs_diff(exact) as f64 / exact as f64;
            assert!(
                error <= tolerance,
                "{what}: {:?} {estimate} vs {exact}",
                entry.0
            );
        }
    }
}

#[test]
fn exact_replay_reproduces_the_truth_and_the_sketches_stay_close() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = generate(
        dir.path(),
        "mixed",
        &[
            "--packets",
            "400000",
            "--flows",
            "100000",
            "--attack",
            "0.05",
            "--scan",
            "0.02",
            "--top",
            "100",
        ],
    );
    let truth = read_truth(&truth);

    let exact_dir = dir.path().join("exact");
    let exact = replay(&pcap, &exact_dir, &["--exact"]);
    assert_eq!(exact.totals.packets, truth.packets);
    assert_eq!(exact.totals.bytes, truth.bytes);
    assert_eq!(exact.totals.unparsed_packets, 0);
    let sources = truth.distinct_sources as f64;
    assert!((exact.distinct_sources as f64 - sources).abs() < 0.03 * sources);
    let first = |list: &[FlowEntry]| flows(&list[..20]);
    let first_addresses = |list: &[AddressEntry]| addresses(&list[..20]);
    assert_eq!(flows(&exact.top_flows), first(&truth.top_flows));
    assert_eq!(
        flows(&exact.top_flows_by_bytes),
        first(&truth.top_flows_by_bytes)
    );
    assert_eq!(
        addresses(&exact.top_sources),
        first_addresses(&truth.top_sources)
    );
    assert_eq!(
        addresses(&exact.top_sources_by_bytes),
        first_addresses(&truth.top_sources_by_bytes)
    );
    assert_eq!(
        addresses(&exact.top_destinations),
        first_addresses(&truth.top_destinations)
    );
    assert_eq!(
        addresses(&exact.top_destinations_by_bytes),
        first_addresses(&truth.top_destinations_by_bytes)
    );

    let sketch_dir = dir.path().join("sketch");
    let sketch = replay(&pcap, &sketch_dir, &[]);
    assert_eq!(sketch.totals.packets, truth.packets);
    assert_close(
        "flows",
        &flows(&sketch.top_flows),
        &flows(&truth.top_flows),
        false,
    );
    assert_close(
        "flows by bytes",
        &flows(&sketch.top_flows_by_bytes),
        &flows(&truth.top_flows_by_bytes),
        true,
    );
    for (what, reported, real, by_bytes) in [
        ("sources", &sketch.top_sources, &truth.top_sources, false),
        (
            "sources by bytes",
            &sketch.top_sources_by_bytes,
            &truth.top_sources_by_bytes,
            true,
        ),
        (
            "destinations",
            &sketch.top_destinations,
            &truth.top_destinations,
            false,
        ),
        (
            "destinations by bytes",
            &sketch.top_destinations_by_bytes,
            &truth.top_destinations_by_bytes,
            true,
        ),
    ] {
        assert_close(what, &addresses(reported), &addresses(real), by_bytes);
    }
}
