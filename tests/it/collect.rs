//! `hhmon collect` against a real exporter: softflowd (Debian's) reads a shipped capture and
//! exports its flows as NetFlow v5, v9 and IPFIX to the collector over loopback. Unsampled, the
//! collector's totals and its complete (exact) flow list must equal what tshark counts in the
//! capture itself, with no datagram or record lost. The shipped exports read from files count
//! every record they decode into the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::util::collector::{start_when, stop_for_summary, EXACT_COLLECT, LISTENING};
use crate::util::flows::{exact_flows, summed};
use crate::util::hhmon::{hhmon, BINARY};
use crate::util::http::free_port;
use crate::util::repo::capture;
use crate::util::tshark::dissect;

const CAPTURE: &str = "ddos-synflood-spoofed.pcap";
/// What softflowd counts as a flow's bytes: the frame after its 14-byte Ethernet header, the
/// padding of short frames included (the IP total length would leave the padding out).
const ETHERNET_HEADER: u64 = 14;

/// The figure before `what` in a collector's summary line (`hhmon: N datagrams (...), N records
/// in ...; ...`): the first word of the first `,`- or `;`-separated part that holds `what`.
fn summary_count(summary: &str, what: &str) -> u64 {
    summary
        .trim_start_matches("hhmon: ")
        .split([';', ','])
        .find(|part| part.contains(what))
        .and_then(|part| part.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {what} in {summary}"))
}

/// Runs a collector on a free loopback port, has softflowd export `path` to it as NetFlow
/// `version`, stops the collector once the export is done; returns its summary line.
fn collect_from_softflowd(path: &Path, version: &str, dir: &Path) -> String {
    collect_from_softflowd_beside(path, version, dir, |_| {})
}

/// [`collect_from_softflowd`], with `beside` run on a thread of its own, given the port, while
/// softflowd exports.
fn collect_from_softflowd_beside(
    path: &Path,
    version: &str,
    dir: &Path,
    beside: impl FnOnce(u16) + Send,
) -> String {
    let port = free_port();
    let (collector, stderr) = start_when(
        Command::new(BINARY)
            .args(EXACT_COLLECT)
            .args([
                "--netflow-listen",
                &format!("127.0.0.1:{port}"),
                "--snapshot-dir",
            ])
            .arg(dir),
        LISTENING,
    );
    let softflowd = std::thread::scope(|scope| {
        scope.spawn(|| beside(port));
        Command::new("softflowd")
            .arg("-r")
            .arg(path)
            .args(["-n", &format!("127.0.0.1:{port}"), "-v", version])
            .output()
            .expect("softflowd runs (scripts/install-deps.sh --test installs it)")
    });
    assert!(
        softflowd.status.success(),
        "{}",
        String::from_utf8_lossy(&softflowd.stderr)
    );
    stop_for_summary(collector, stderr)
}

#[test]
fn softflowd_exports_count_exactly_what_the_capture_holds() {
    let path = capture(CAPTURE);
    let exact = exact_flows(&path, "frame.len", ETHERNET_HEADER);
    let packets: u64 = exact.values().map(|counts| counts.0).sum();
    let bytes: u64 = exact.values().map(|counts| counts.1).sum();
    assert!(exact.len() > 30_000, "{}", exact.len());
    for version in ["5", "9", "10"] {
        let dir = tempfile::tempdir().unwrap();
        let summary = collect_from_softflowd(&path, version, dir.path());
        assert!(
            summary.contains(&format!("{} records", exact.len())),
            "v{version}: {summary}"
        );
        assert!(
            summary.contains("lost 0 datagrams, 0 records"),
            "v{version}: {summary}"
        );
        assert!(
            summary.contains("0 template misses; 0 malformed"),
            "v{version}: {summary}"
        );
        let (totals, flows) = summed(dir.path());
        assert_eq!(totals, (packets, bytes), "v{version}");
        assert_eq!(flows.len(), exact.len(), "v{version}");
        assert!(flows == exact, "v{version}: the flows differ from tshark's");
    }
}

#[test]
fn the_shipped_exports_read_from_files_count_every_record() {
    // Templates before the data they describe, as an exporter sends them.
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "netflow-nfv5.pcap",
        "netflow-template.pcap",
        "netflow-options-template.pcap",
        "netflow-options-data.pcap",
        "netflow-data.pcap",
        "sflow-data-qinq.pcap",
        "sflow-data-sflow-ipv4-data.pcap",
    ];
    let ran = hhmon([
        "collect",
        "--quiet",
        "--exact",
        "--top",
        "1000",
        "--interval",
        "3600s",
    ])
    .arg("--snapshot-dir")
    .arg(dir.path())
    .args(files.map(|name| capture(&format!("flow-telemetry/{name}"))))
    .output()
    .succeeded();
    let summary = ran
        .stderr
        .lines()
        .find(|line| line.starts_with("hhmon: "))
        .unwrap()
        .to_owned();
    assert!(
        summary.contains("7 datagrams (2 sFlow, 5 NetFlow/IPFIX)"),
        "{summary}"
    );
    assert!(
        summary.contains("0 template misses; 0 malformed; 0 not flow telemetry"),
        "{summary}"
    );
    // Every record becomes a flow entry (the exact list holds them all) and the totals are
    // their sums: no record is dropped between the decoders and the report.
    let records = summary_count(&summary, " records in ");
    let (totals, flows) = summed(dir.path());
    assert!(
        records >= flows.len() as u64 && !flows.is_empty(),
        "{summary}: {} flows",
        flows.len()
    );
    let summed = flows
        .values()
        .fold((0, 0), |sum, counts| (sum.0 + counts.0, sum.1 + counts.1));
    assert_eq!(totals, summed);
}

#[test]
fn a_flood_of_garbage_does_not_keep_a_real_exporter_from_being_counted() {
    let path = capture(CAPTURE);
    let exact = exact_flows(&path, "frame.len", ETHERNET_HEADER);
    let dir = tempfile::tempdir().unwrap();
    const GARBAGE: u64 = 20_000;
    let summary = collect_from_softflowd_beside(&path, "9", dir.path(), |port| {
        // Datagrams of random bytes, some dressed as NetFlow v9 and sFlow headers, from
        // another source port, as fast as the socket takes them.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut datagram = [0u8; 512];
        for i in 0..GARBAGE {
            for byte in datagram.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            match i % 3 {
                0 => datagram[..2].copy_from_slice(&[0, 9]),
                1 => datagram[..4].copy_from_slice(&[0, 0, 0, 5]),
                _ => datagram[..2].copy_from_slice(&[0xff, 0xff]),
            }
            let length = 20 + (state as usize % 490);
            let _ = socket.send_to(&datagram[..length], ("127.0.0.1", port));
        }
    });
    assert!(
        summary.contains(&format!("{} records", exact.len())),
        "{summary}"
    );
    assert!(summary.contains("lost 0 datagrams, 0 records"), "{summary}");
    let (_, flows) = summed(dir.path());
    assert!(
        flows == exact,
        "the real exporter's flows differ from tshark's: {summary}"
    );
    // The garbage was read and set aside, not silently dropped by the socket.
    let count = |what: &str| summary_count(&summary, what);
    assert_eq!(count("not flow telemetry"), GARBAGE / 3, "{summary}");
    assert!(count("malformed") > 0, "{summary}");

    // The snapshot's per-exporter counts: one exporter (softflowd and the flood share
    // 127.0.0.1), every datagram that looked like telemetry, and the malformed ones by reason.
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("latest.json")).unwrap()).unwrap();
    let validator = crate::snapshot_schema::validator();
    assert!(
        validator.is_valid(&latest),
        "{:?}",
        validator.iter_errors(&latest).next()
    );
    let telemetry = &latest["telemetry"];
    assert_eq!(telemetry["exporters_seen"], 1);
    let exporter = &telemetry["exporters"][0];
    assert_eq!(exporter["exporter"], "127.0.0.1");
    assert_eq!(exporter["records"].as_u64().unwrap(), exact.len() as u64);
    let datagrams = count("datagrams");
    assert_eq!(
        exporter["datagrams"].as_u64().unwrap(),
        datagrams,
        "{summary}"
    );
    let malformed: u64 = exporter["malformed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(malformed, count("malformed"), "{exporter}");
}

/// The drop counter of the UDP socket bound to `port`, as `/proc/net/udp` shows it: the
/// kernel's own count, beside the one hhmon reads from its datagrams.
fn proc_udp_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let local = format!(":{port:04X}");
    let line = table
        .lines()
        .find(|line| {
            line.split_whitespace()
                .nth(1)
                .is_some_and(|address| address.ends_with(&local))
        })
        .unwrap_or_else(|| panic!("no socket on port {port} in {table}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn datagrams_a_stalled_collectors_socket_dropped_are_counted() {
    let payload = dissect(
        &capture("flow-telemetry/netflow-nfv5.pcap"),
        &["-T", "fields", "-e", "udp.payload"],
    );
    let hex = payload.stdout.trim();
    let datagram: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert!(datagram.len() > 1_000);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (mut collector, stderr) = start_when(
        Command::new(BINARY)
            .args(EXACT_COLLECT)
            .args(["--netflow-listen", &format!("127.0.0.1:{port}")])
            .arg("--snapshot-dir")
            .arg(dir.path()),
        LISTENING,
    );
    let pid = collector.child().id().to_string();
    let signal = |name: &str| {
        assert!(Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap()
            .success());
    };
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0u64;
    let mut send = |count: u64| {
        for _ in 0..count {
            socket.send_to(&datagram, ("127.0.0.1", port)).unwrap();
            sent += 1;
        }
    };
    // Stopped, the collector reads nothing: more than its 32 MiB buffer holds overflows.
    signal("-STOP");
    send(60_000);
    let dropped = proc_udp_drops(port);
    assert!(dropped > 0, "nothing dropped; the buffer held {sent}");
    signal("-CONT");
    std::thread::sleep(std::time::Duration::from_secs(2));
    // The kernel stamps its drop count on the datagrams it queues: those sent once the
    // collector has caught up carry every drop.
    send(10);
    let summary = stop_for_summary(collector, stderr);
    let count = |what: &str| summary_count(&summary, what);
    assert_eq!(count("dropped by the sockets"), dropped, "{summary}");
    assert_eq!(count("datagrams (") + dropped, sent, "{summary}");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["telemetry"]["socket_drops"], dropped, "{summary}");
}

#[test]
fn sflow_interface_counters_are_each_agents_last_reading() {
    let path = capture("flow-telemetry/pmacct-sfprobe-counters.pcapng");
    // tshark's reading of every generic interface counters record, in datagram order.
    let dissection = dissect(
        &path,
        &[
            "-d",
            "udp.port==16343,sflow",
            "-Y",
            "sflow_245.ifindex",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=;",
            "-e",
            "sflow_245.agent",
            "-e",
            "sflow_245.ifindex",
            "-e",
            "sflow_245.ifinoct",
            "-e",
            "sflow_245.ifinpkt",
            "-e",
            "sflow_245.ifinmcast",
            "-e",
            "sflow_245.ifinbcast",
            "-e",
            "sflow_245.ifoutoct",
            "-e",
            "sflow_245.ifoutpkt",
            "-e",
            "sflow_245.ifoutmcast",
            "-e",
            "sflow_245.ifoutbcast",
        ],
    );
    assert!(dissection.success);
    let mut last = BTreeMap::new();
    let mut readings = 0;
    for line in dissection.stdout.lines() {
        let fields: Vec<Vec<u64>> = line
            .split('\t')
            .skip(1)
            .map(|f| f.split(';').map(|n| n.parse().unwrap()).collect())
            .collect();
        let agent = line.split('\t').next().unwrap().to_owned();
        // One record per index of the aggregated columns.
        for (record, _) in fields[0].iter().enumerate() {
            let value = |column: usize| fields[column][record];
            last.insert(
                (agent.clone(), value(0)),
                serde_json::json!({
                    "agent": agent,
                    "if_index": value(0),
                    "in_octets": value(1),
                    "in_packets": value(2) + value(3) + value(4),
                    "out_octets": value(5),
                    "out_packets": value(6) + value(7) + value(8),
                }),
            );
            readings += 1;
        }
    }
    assert!(readings >= 2, "{}", dissection.stdout);
    let dir = tempfile::tempdir().unwrap();
    hhmon([
        "collect",
        "--quiet",
        "--interval",
        "3600s",
        "--snapshot-dir",
    ])
    .arg(dir.path())
    .arg(&path)
    .output()
    .succeeded();
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("latest.json")).unwrap()).unwrap();
    let validator = crate::snapshot_schema::validator();
    assert!(validator.is_valid(&latest));
    let expected: Vec<serde_json::Value> = last.into_values().collect();
    assert_eq!(
        latest["telemetry"]["interfaces"],
        serde_json::json!(expected)
    );
    assert_eq!(latest["telemetry"]["interfaces_untracked_records"], 0);
    // Files have no sockets to drop anything.
    assert!(latest["telemetry"].get("socket_drops").is_none());
}
