//! The metrics endpoint of the real binary under churn and stalls: label cardinality stays
//! bounded while the top talkers change every interval, departed series vanish at the next
//! close, and `/healthz` follows the packet loop (503 while it is stuck reading, 200 while it
//! moves and once a replay has finished, with the final values). With `--decap`, packets of
//! tunnels that cannot be opened show by reason in the snapshot and on `/metrics`.
//!
//! The traffic is synthetic (`pcap_file`) so that who is on top in every interval, and which
//! tunnel cannot be opened, is known from what was written, not from hhmon.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{ChildStdin, Stdio};
use std::time::{Duration, Instant};

use hhmon::sinks::prometheus::Metric;
use pcap_file::Udp;

use crate::util::hhmon::{hhmon, replay_into};
use crate::util::http;
use crate::util::prometheus::{samples, Sample};

/// Whether a series names a talker (carries an address), so is bounded by `--prom-top`.
fn names_a_talker(labels: &BTreeMap<String, String>) -> bool {
    labels.contains_key("address")
        || labels.contains_key("src")
        || labels.contains_key("prefix")
        || labels.contains_key("key")
}

const START: u64 = 1_700_000_000;
const INTERVALS: u64 = 100;
/// Talkers per interval; talker `j` sends `40 - 2j` packets, so every rank is strict.
const TALKERS: u8 = 12;
const PROM_TOP: usize = 5;

fn source(interval: u64, talker: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, u8::try_from(interval).unwrap(), talker + 1)
}

fn destination(interval: u64, talker: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 16, u8::try_from(interval).unwrap(), talker + 1)
}

/// Every second a new set of talkers, none of them seen before: the worst case for label
/// churn. Packets of one second are interleaved and spread over the second.
fn churning_traffic() -> Vec<Udp> {
    let mut packets = Vec::new();
    for interval in 0..INTERVALS {
        let mut second = Vec::new();
        for talker in 0..TALKERS {
            for _ in 0..(40 - 2 * u32::from(talker)) {
                second.push(talker);
            }
        }
        // A fixed interleaving: sort by a scrambled position.
        let count = second.len() as u64;
        let mut order: Vec<(u64, u8)> = second
            .iter()
            .enumerate()
            .map(|(i, &talker)| ((i as u64).wrapping_mul(0x9E37_79B9) % 1_000_003, talker))
            .collect();
        order.sort_unstable();
        for (position, (_, talker)) in order.into_iter().enumerate() {
            packets.push(Udp {
                micros: (START + interval) * 1_000_000 + position as u64 * 1_000_000 / count,
                src: source(interval, talker),
                dst: destination(interval, talker),
                src_port: 40_000 + u16::from(talker),
                dst_port: 53,
            });
        }
    }
    packets
}

#[test]
fn label_cardinality_stays_bounded_while_talkers_churn_every_interval() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("churn.pcap");
    std::fs::write(&capture, pcap_file::file(&churning_traffic())).unwrap();
    let port = http::free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let prom_top = PROM_TOP.to_string();
    let mut hhmon = hhmon(["replay", "--quiet", "--exact", "--interval", "1s"])
        .args([
            "--speed",
            "10",
            "--stall-timeout",
            "2s",
            "--prom-top",
            &prom_top,
        ])
        .args(["--listen", &port.to_string()])
        .arg(&capture)
        .spawn(Stdio::null(), Stdio::null());

    // The bound promised in the README: the series without a talker label (a fixed set), plus
    // `--prom-top` series of each of the two lists (by packets, by bytes) for each metric that
    // names talkers, and of each prefix length (six by default) for each that names prefixes.
    let talker_metrics = Metric::ALL
        .iter()
        .filter(|m| m.labels().contains(&"address") || m.labels().contains(&"src"))
        .count();
    let prefix_metrics = Metric::ALL
        .iter()
        .filter(|m| m.labels().contains(&"prefix"))
        .count();
    let mut fixed: Option<BTreeSet<(String, BTreeMap<String, String>)>> = None;
    let mut seen = BTreeSet::new();
    let mut most_series = 0;
    let started = Instant::now();
    while !seen.contains(&(INTERVALS - 1)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the last interval never showed; saw {seen:?}"
        );
        let Some((status, text)) = http::get(address, "/metrics") else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        assert_eq!(status, 200);
        assert_eq!(
            http::get(address, "/healthz").map(|r| r.0),
            Some(200),
            "a paced replay beats on every packet, so it is never stalled"
        );
        let all = samples(&text);
        let Some(start) = all
            .iter()
            .find(|s| s.0 == "hhmon_interval_start_timestamp_seconds")
            .map(|s| s.2 as u64)
        else {
            assert!(!all.iter().any(|s| names_a_talker(&s.1)), "{text}");
            continue;
        };
        let interval = start - START;
        assert!(interval < INTERVALS, "{start}");
        seen.insert(interval);

        let (talkers, rest): (Vec<&Sample>, Vec<&Sample>) =
            all.iter().partition(|s| names_a_talker(&s.1));
        let rest: BTreeSet<_> = rest.iter().map(|s| (s.0.clone(), s.1.clone())).collect();
        match &fixed {
            None => fixed = Some(rest),
            Some(fixed) => assert_eq!(&rest, fixed, "series without talkers changed"),
        }
        // Hierarchical heavy prefixes: conditioned counts are disjoint shares of at least
        // 5%, so at most 20 per direction; rises: `--prom-top` for each of the two metrics.
        let bound = fixed.as_ref().unwrap().len()
            + 2 * talker_metrics * PROM_TOP
            + 2 * prefix_metrics * 6 * PROM_TOP
            + 2 * 20
            + 2 * PROM_TOP;
        assert!(
            all.len() <= bound,
            "{} series > {bound}:\n{text}",
            all.len()
        );
        most_series = most_series.max(all.len());

        // Every talker series belongs to this interval's top: the departed are gone.
        let mut by_metric: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut prefixes: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let mut hierarchical = 0;
        let mut rises: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, labels, _) in talkers {
            if labels.contains_key("key") {
                *rises.entry(name.as_str()).or_default() += 1;
                continue;
            }
            if name == "hhmon_hierarchical_prefix_packets" {
                hierarchical += 1;
                continue;
            }
            if let (Some(_), Some(length)) = (labels.get("prefix"), labels.get("length")) {
                *prefixes
                    .entry((name.as_str(), length.as_str()))
                    .or_default() += 1;
                continue;
            }
            let address = labels.get("address").or(labels.get("src")).unwrap();
            by_metric
                .entry(name.as_str())
                .or_default()
                .insert(address.clone());
        }
        let top = |address: fn(u64, u8) -> Ipv4Addr| -> BTreeSet<String> {
            (0..PROM_TOP as u8)
                .map(|talker| address(interval, talker).to_string())
                .collect()
        };
        assert!(hierarchical <= 40, "{text}");
        assert!(rises.values().all(|&count| count <= PROM_TOP), "{rises:?}");
        // Prefixes: at most `--prom-top` of each length in each of the two lists.
        assert!(!prefixes.is_empty(), "{text}");
        for (key, count) in &prefixes {
            assert!(*count <= 2 * PROM_TOP, "{key:?}: {count}");
        }
        for (name, addresses) in &by_metric {
            assert!(addresses.len() <= PROM_TOP, "{name}: {addresses:?}");
            let of_this_interval = top(source).union(&top(destination)).cloned().collect();
            assert!(
                addresses.is_subset(&of_this_interval),
                "{name} in interval {interval}: {addresses:?}"
            );
        }
        for (name, expected) in [
            ("hhmon_top_source_packets", top(source)),
            ("hhmon_top_source_bytes", top(source)),
            ("hhmon_top_destination_packets", top(destination)),
            ("hhmon_top_destination_bytes", top(destination)),
            ("hhmon_top_flow_packets", top(source)),
            ("hhmon_top_flow_bytes", top(source)),
        ] {
            assert_eq!(by_metric.get(name), Some(&expected), "{name}: {text}");
        }
    }
    eprintln!(
        "saw {} of {INTERVALS} intervals, at most {most_series} series",
        seen.len()
    );
    assert!(seen.len() >= 30, "too few intervals observed: {seen:?}");

    // Finished and serving its final values: healthy even after the stall timeout.
    std::thread::sleep(Duration::from_millis(2_500));
    let (status, body) = http::get(address, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("finished"), "{body}");
    assert!(hhmon.stop(Duration::from_secs(5)).success());
}

/// Polls `/healthz` until it answers `status`; returns the body and how long it took.
fn await_health(address: SocketAddr, status: u16, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    loop {
        if let Some((got, body)) = http::get(address, "/healthz") {
            if got == status {
                return (body, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < limit,
            "/healthz never answered {status}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn feed(stdin: &mut ChildStdin, packets: impl Iterator<Item = Udp>) {
    for packet in packets {
        stdin.write_all(&pcap_file::record(&packet)).unwrap();
    }
    stdin.flush().unwrap();
}

fn packet(n: u64) -> Udp {
    Udp {
        micros: START * 1_000_000 + n,
        src: Ipv4Addr::new(192, 0, 2, 1),
        dst: Ipv4Addr::new(192, 0, 2, 2),
        src_port: 1000,
        dst_port: 2000,
    }
}

#[test]
fn healthz_follows_the_packet_loop_through_a_stall_on_standard_input() {
    const STALL: Duration = Duration::from_secs(2);
    let port = http::free_port();
    // A bare port: the server must be on loopback.
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    // The health clock starts in hhmon, after this instant; the ten packets below are too few
    // for an unpaced loop to beat again. Taken after feeding them instead, the instant can
    // fall after hhmon's clock started when other tests keep this thread waiting.
    let started = Instant::now();
    let mut hhmon = hhmon(["replay", "--quiet", "--stall-timeout", "2s", "--listen"])
        .arg(port.to_string())
        .arg("-")
        .stdin(Stdio::piped())
        .spawn(Stdio::null(), Stdio::null());
    let mut stdin = hhmon.child().stdin.take().unwrap();

    stdin.write_all(&pcap_file::header()).unwrap();
    feed(&mut stdin, (0..10).map(packet));
    // The loop now blocks reading standard input: no progress, so after the timeout, 503.
    let (body, _) = await_health(address, 503, Duration::from_secs(10));
    assert!(
        started.elapsed() >= STALL,
        "503 after only {:?}",
        started.elapsed()
    );
    assert!(body.starts_with("stalled"), "{body}");
    assert_eq!(http::get(address, "/metrics").map(|r| r.0), Some(200));
    for path in ["/nope", "/metrics/x", "/api/v1/nope"] {
        assert_eq!(http::get(address, path).map(|r| r.0), Some(404));
    }

    // An unpaced loop beats every 8192 packets: enough packets bring it back.
    feed(&mut stdin, (10..8_300).map(packet));
    let (body, _) = await_health(address, 200, Duration::from_secs(5));
    assert_eq!(body, "ok\n");
    // And stuck again, stalled again.
    await_health(address, 503, Duration::from_secs(10));

    // End of input: the replay finishes and serves its final values, healthy for good.
    drop(stdin);
    let (body, _) = await_health(address, 200, Duration::from_secs(5));
    assert!(body.contains("finished"), "{body}");
    std::thread::sleep(STALL + Duration::from_millis(500));
    assert_eq!(http::get(address, "/healthz").map(|r| r.0), Some(200));
    let (_, text) = http::get(address, "/metrics").unwrap();
    assert!(text.contains("\nhhmon_packets_total 8300\n"), "{text}");
    assert!(hhmon.stop(Duration::from_secs(5)).success());
}

/// Outer source and destination of the synthetic VXLAN and GRE tunnels.
const VXLAN_OUTER: ([u8; 4], [u8; 4]) = ([192, 0, 2, 10], [192, 0, 2, 20]);
const GRE_OUTER: ([u8; 4], [u8; 4]) = ([198, 51, 100, 1], [198, 51, 100, 2]);
const VXLAN_SOURCE_PORT: u16 = 40_000;
const PROTOCOL_GRE: u8 = 47;

/// An Ethernet header (destination, source, EtherType).
fn ethernet(ethertype: u16) -> Vec<u8> {
    [
        &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1][..],
        &ethertype.to_be_bytes(),
    ]
    .concat()
}

fn ethernet_ipv4(
    src: [u8; 4],
    dst: [u8; 4],
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64)
}

/// A VXLAN datagram (UDP port 4789) carrying `inner`, an Ethernet frame.
fn vxlan(inner: &[u8]) -> Vec<u8> {
    let header = [0x08, 0, 0, 0, 0, 0, 1, 0];
    let mut frame = Vec::new();
    ethernet_ipv4(VXLAN_OUTER.0, VXLAN_OUTER.1)
        .udp(VXLAN_SOURCE_PORT, 4789)
        .write(&mut frame, &[&header[..], inner].concat())
        .unwrap();
    frame
}

/// An IPv4/UDP packet from 10.1.0.1:5000 to 10.1.0.2:53.
fn inner_ipv4() -> Vec<u8> {
    let mut packet = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 1, 0, 1], [10, 1, 0, 2], 64)
        .udp(5000, 53)
        .write(&mut packet, b"query")
        .unwrap();
    packet
}

/// Tunnels `--decap` cannot open: 2 VXLAN frames carrying ARP (`not_ip`), 3 GRE frames whose
/// inner IPv4 header is cut (`truncated`), 1 IP-in-IP nested one level deeper than
/// decapsulation follows (`unsupported_encapsulation`); then 4 VXLAN frames carrying
/// IPv4/UDP, which it opens.
fn tunnel_traffic() -> Vec<Vec<u8>> {
    // An ARP request (hardware Ethernet, protocol IPv4, operation request, sender, target).
    let arp_request: [&[u8]; 5] = [
        &[0, 1, 0x08, 0, 6, 4, 0, 1],
        &[2, 0, 0, 0, 0, 3],
        &[10, 1, 0, 1],
        &[0; 6],
        &[10, 1, 0, 2],
    ];
    let arp = [ethernet(0x0806), arp_request.concat()].concat();
    // GRE carrying IPv4 whose header ends after 10 of its 20 bytes.
    let mut cut_gre = Vec::new();
    let payload = [&[0, 0, 0x08, 0x00][..], &inner_ipv4()[..10]].concat();
    ethernet_ipv4(GRE_OUTER.0, GRE_OUTER.1)
        .write(&mut cut_gre, PROTOCOL_GRE.into(), &payload)
        .unwrap();
    // IPv4 in IPv4 one level deeper than decapsulation follows.
    let mut nested = inner_ipv4();
    for _ in 0..=hhmon::decode::MAX_TUNNELS {
        let mut outer = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 9, 0, 1], [10, 9, 0, 2], 64)
            .write(&mut outer, etherparse::IpNumber::IPV4, &nested)
            .unwrap();
        nested = outer;
    }
    let nested = [ethernet(0x0800), nested].concat();

    let carrying_ip = vxlan(&[ethernet(0x0800), inner_ipv4()].concat());
    let mut frames = vec![vxlan(&arp); 2];
    frames.extend(vec![cut_gre; 3]);
    frames.push(nested);
    frames.extend(vec![carrying_ip; 4]);
    frames
}

/// Every unparsed reason label with the fallback counts `tunnel_traffic` was built with.
fn fallbacks(decap: bool) -> BTreeMap<String, u64> {
    let counts = [
        ("not_ip", 2),
        ("truncated", 3),
        ("unsupported_encapsulation", 1),
    ];
    hhmon::decode::UnparsedReason::ALL
        .iter()
        .map(|reason| {
            let label = reason.as_str();
            let count = counts.iter().find(|(l, _)| *l == label).map_or(0, |c| c.1);
            (label.to_owned(), if decap { count } else { 0 })
        })
        .collect()
}

/// Counts by reason label, as [`fallbacks`] gives them.
fn labelled(counts: &hhmon::report::ReasonCounts) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(reason, count)| (reason.as_str().to_owned(), count))
        .collect()
}

/// `--decap` keeps the packets of tunnels it cannot open under their outer flow, and says so
/// by reason in the snapshot and on `/metrics`; without `--decap` nothing is a fallback.
#[test]
fn decap_fallbacks_show_by_reason_in_snapshots_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("tunnels.pcap");
    let mut file = pcap_file::header();
    for frame in tunnel_traffic() {
        file.extend(pcap_file::frame_record(START * 1_000_000, &frame));
    }
    std::fs::write(&capture, file).unwrap();

    for decap in [false, true] {
        let snapshots = dir.path().join(format!("snapshots-{decap}"));
        let port = http::free_port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut run = replay_into(&snapshots).args(["--exact", "--listen", &port.to_string()]);
        if decap {
            run = run.arg("--decap");
        }
        let mut hhmon = run.arg(&capture).spawn(Stdio::null(), Stdio::null());
        let started = Instant::now();
        while !http::get(address, "/healthz").is_some_and(|r| r.1.contains("finished")) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never finished"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, text) = http::get(address, "/metrics").unwrap();
        assert!(hhmon.stop(Duration::from_secs(5)).success());

        let report: hhmon::report::IntervalReport =
            serde_json::from_slice(&std::fs::read(snapshots.join("latest.json")).unwrap()).unwrap();
        let expected = fallbacks(decap);
        assert_eq!(report.totals.packets, 10);
        assert_eq!(report.totals.unparsed_packets, 0, "decap={decap}");
        assert_eq!(
            labelled(&report.totals.decap_fallback_by_reason),
            expected,
            "decap={decap}"
        );
        assert_eq!(
            labelled(&report.cumulative.decap_fallback_by_reason),
            expected
        );

        let metric = Metric::DecapFallbackPacketsTotal.name();
        let exported: BTreeMap<String, u64> = samples(&text)
            .into_iter()
            .filter(|s| s.0 == metric)
            .map(|s| (s.1["reason"].clone(), s.2 as u64))
            .collect();
        assert_eq!(exported, expected, "decap={decap}: {text}");

        // The fallbacks count under their outer flow; the VXLAN packets carrying IP under the
        // inner one.
        let flows: BTreeMap<(String, u16, u8), u64> = report
            .top_flows
            .iter()
            .map(|f| ((f.src.to_string(), f.src_port, f.protocol), f.packets))
            .collect();
        let vxlan_outer = (String::from("192.0.2.10"), VXLAN_SOURCE_PORT, 17);
        let gre_outer = (String::from("198.51.100.1"), 0, PROTOCOL_GRE);
        let inner = (String::from("10.1.0.1"), 5000, 17);
        if decap {
            assert_eq!(flows[&vxlan_outer], 2, "{flows:?}");
            assert_eq!(flows[&gre_outer], 3, "{flows:?}");
            assert_eq!(flows[&inner], 4, "{flows:?}");
        } else {
            assert_eq!(flows[&vxlan_outer], 6, "{flows:?}");
            assert_eq!(flows[&gre_outer], 3, "{flows:?}");
            assert!(!flows.contains_key(&inner), "{flows:?}");
        }
    }
}

mod pcap_file {
    //! Writes small synthetic pcap files for whole-program tests that need traffic with a known
    //! shape (who talks how much in which second). Knows nothing of hhmon: the expected answers
    //! come from the schedule the test wrote, not from hhmon's decoder.

    use std::io::Write;
    use std::net::Ipv4Addr;

    /// One UDP/IPv4 packet in Ethernet.
    #[derive(Clone, Copy, Debug)]
    pub struct Udp {
        /// Capture time, microseconds since the epoch.
        pub micros: u64,
        /// Source address.
        pub src: Ipv4Addr,
        /// Destination address.
        pub dst: Ipv4Addr,
        /// Source port.
        pub src_port: u16,
        /// Destination port.
        pub dst_port: u16,
    }

    /// UDP payload bytes per frame: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 58 = 100 wire bytes.
    pub const PAYLOAD: usize = 58;
    /// Wire length of every frame written.
    pub const FRAME_LEN: u32 = 100;

    /// The pcap global header: microsecond timestamps, little-endian, Ethernet.
    pub fn header() -> Vec<u8> {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes
    }

    /// One pcap record holding `packet`.
    pub fn record(packet: &Udp) -> Vec<u8> {
        let mut frame = Vec::with_capacity(FRAME_LEN as usize);
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(packet.src.octets(), packet.dst.octets(), 64)
            .udp(packet.src_port, packet.dst_port)
            .write(&mut frame, &[0u8; PAYLOAD])
            .unwrap();
        assert_eq!(frame.len(), FRAME_LEN as usize);
        frame_record(packet.micros, &frame)
    }

    /// One pcap record holding the whole Ethernet `frame`, captured at `micros` since the epoch.
    pub fn frame_record(micros: u64, frame: &[u8]) -> Vec<u8> {
        let len = u32::try_from(frame.len()).unwrap();
        let mut bytes = Vec::with_capacity(16 + frame.len());
        bytes.extend_from_slice(&u32::try_from(micros / 1_000_000).unwrap().to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(micros % 1_000_000).unwrap().to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(frame);
        bytes
    }

    /// A whole pcap file of `packets`, in the order given.
    pub fn file(packets: &[Udp]) -> Vec<u8> {
        let mut bytes = header();
        for packet in packets {
            bytes.write_all(&record(packet)).unwrap();
        }
        bytes
    }
}
