//! Issue #4's acceptance test: the real `hhmon replay --exact` binary on every shipped capture,
//! with one interval spanning the whole file and a top list longer than the flow count, so that
//! its snapshot holds the complete flow table. That table must equal the one built from
//! tshark's fields (see `util::tshark`), key for key and count for count, in the default
//! mode (outermost IP flow) and with `--decap` (innermost IP flow); the unparsed counts must
//! match, reason class by reason class, the packets tshark could not key; and the packets
//! `--decap` counted under an outer flow because their tunnel could not be opened must be
//! those whose tunnel tshark could not see into either.
//!
//! A capture libpcap refuses outright (by the manifest, `util::captures`) need only make hhmon
//! name libpcap's reason; every other disagreement fails the test: there are none to allow.
//!
//! Nothing expected here comes from hhmon's own output. tshark must be installed: a missing
//! tool fails the test. Captures are checked on a few threads at once to keep the file fast.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use hhmon::decode::FlowKey;
use hhmon::report::{Counting, FlowEntry, IntervalReport};

use crate::util::captures::{self, Reading};
use crate::util::hhmon::replay_into;
use crate::util::repo;
use crate::util::tshark::{add, tshark, Counts, TsharkPacket};

/// Intervals are aligned to multiples of their length since the epoch, so this one,
/// [1970, 2286), holds every capture's timestamps in its first interval; the test checks that
/// exactly one interval, starting at 0, was written.
const ONE_INTERVAL_SECONDS: u64 = 10_000_000_000;

/// More entries than any capture has flows (the largest has under 40 000); a list this long
/// is reported as possibly cut. Exact counting sizes its tables by `--top`: at 10^6 each of the
/// 82 replays took 2 s and 3 GB, at 10^5 a tenth of both.
const ALL_FLOWS: usize = 100_000;

/// The first layer tshark names for each link type hhmon reads (Ethernet, Linux cooked v1
/// and v2, BSD null and loopback, raw IP and the raw IPv4/IPv6 types, PPP and Cisco HDLC).
const SUPPORTED_LINKS: &[&str] = &["eth", "sll", "null", "raw", "ip", "ipv6", "ppp", "chdlc"];

/// Layers below IP: a frame whose last layer is one of these ended before any payload.
const BELOW_IP: &[&str] = &[
    "eth",
    "ethertype",
    "vlan",
    "sll",
    "null",
    "mpls",
    "pppoes",
    "ppp",
    "raw",
];

/// Why a packet has no flow, in the classes tshark can tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Unkeyed {
    /// hhmon's `unsupported_link_type`.
    LinkType,
    /// hhmon's `truncated` or `malformed`: the frame ends (or breaks) before a readable IP
    /// header.
    Damaged,
    /// hhmon's `not_ip` or `unsupported_encapsulation`: the frame carries something else.
    NotIp,
}

impl Unkeyed {
    /// The class tshark's layer list puts an unkeyed packet in.
    fn of(packet: &TsharkPacket) -> Unkeyed {
        let layers = packet.row().layers;
        if !SUPPORTED_LINKS.contains(&layers[0]) {
            Unkeyed::LinkType
        } else if layers.iter().any(|l| *l == "ip" || *l == "ipv6")
            || layers.last().is_some_and(|l| BELOW_IP.contains(l))
        {
            Unkeyed::Damaged
        } else {
            Unkeyed::NotIp
        }
    }

    /// The class of one of hhmon's unparsed reasons.
    fn of_reason(reason: &str) -> Unkeyed {
        match reason {
            "unsupported_link_type" => Unkeyed::LinkType,
            "truncated" | "malformed" => Unkeyed::Damaged,
            "not_ip" | "unsupported_encapsulation" => Unkeyed::NotIp,
            other => panic!("unknown unparsed reason {other}"),
        }
    }
}

/// What tshark says one capture holds, in one mode.
#[derive(Debug, PartialEq)]
struct Table {
    packets: u64,
    bytes: u64,
    flows: Counts<FlowKey>,
    unkeyed: BTreeMap<Unkeyed, u64>,
    /// Packets keyed by an IP header whose tunnel could not be opened (0 in the default mode).
    decap_fallback: u64,
}

fn reference(packets: &[TsharkPacket], decap: bool) -> Table {
    let mut table = Table {
        packets: 0,
        bytes: 0,
        flows: Counts::new(),
        unkeyed: BTreeMap::new(),
        decap_fallback: 0,
    };
    for packet in packets {
        table.packets += 1;
        table.bytes += u64::from(packet.wire_len);
        table.decap_fallback += u64::from(decap && packet.tunnel_unopened());
        match if decap {
            packet.inner_key()
        } else {
            packet.key()
        } {
            Some(key) => add(&mut table.flows, key, packet.wire_len),
            None => *table.unkeyed.entry(Unkeyed::of(packet)).or_default() += 1,
        }
    }
    table
}

/// The same table from hhmon's snapshot.
fn reported(report: &IntervalReport) -> Table {
    let mut unkeyed = BTreeMap::new();
    for (reason, count) in report.totals.unparsed_by_reason.iter() {
        if count > 0 {
            *unkeyed
                .entry(Unkeyed::of_reason(reason.as_str()))
                .or_default() += count;
        }
    }
    Table {
        packets: report.totals.packets,
        bytes: report.totals.bytes,
        flows: flow_table(&report.top_flows),
        unkeyed,
        decap_fallback: report.totals.decap_fallback_by_reason.total(),
    }
}

fn flow_table(entries: &[FlowEntry]) -> Counts<FlowKey> {
    entries
        .iter()
        .map(|f| {
            let key = FlowKey {
                src: f.src,
                dst: f.dst,
                src_port: f.src_port,
                dst_port: f.dst_port,
                protocol: f.protocol,
            };
            (key, (f.packets, f.bytes))
        })
        .collect()
}

/// Runs the binary on `capture` in one mode; returns its only snapshot, or the problems.
fn replay(capture: &Path, decap: bool) -> Result<IntervalReport, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut run = replay_into(dir.path())
        .args(["--exact", "--interval"])
        .arg(format!("{ONE_INTERVAL_SECONDS}s"))
        .args(["--top", &ALL_FLOWS.to_string()]);
    if decap {
        run = run.arg("--decap");
    }
    let output = run.arg(capture).output();
    // A damaged capture is counted up to the damage and exits 2 (partly read).
    let expected = capture
        .file_name()
        .and_then(|name| captures::reading(name.to_str()?))
        .map_or(0, Reading::exit_status);
    match (output.status.code(), expected) {
        (Some(0), 0) | (Some(2), 2) => {}
        _ => {
            return Err(format!(
                "hhmon failed ({}, expected exit status {expected}): {}",
                output.status, output.stderr
            ))
        }
    }
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "latest.json")
        .collect();
    let [file] = &files[..] else {
        return Err(format!(
            "one interval expected, the snapshots are {files:?}"
        ));
    };
    let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
    let report: IntervalReport = serde_json::from_str(&text).unwrap();
    let span = &report.interval;
    if (span.start_unix, span.seconds) != (0, ONE_INTERVAL_SECONDS) {
        return Err(format!("the interval is {span:?}"));
    }
    Ok(report)
}

/// Compares one capture in both modes; returns the figures printed, or the problems.
fn check(name: &str, reading: Reading) -> Result<String, Vec<String>> {
    let path = repo::capture(name);
    let packets = tshark(&path);
    if let Reading::Refused { reason, .. } = reading {
        let mut problems = Vec::new();
        match replay(&path, false) {
            Ok(_) => problems.push("hhmon read a file libpcap refuses".to_string()),
            Err(e) if !e.contains(reason) => problems.push(format!("expected {reason:?}: {e}")),
            Err(_) => {}
        }
        if packets.iter().any(|p| p.key().is_some()) {
            problems.push("tshark finds IP in a file hhmon cannot read".to_string());
        }
        return if problems.is_empty() {
            Ok(format!("{name:<32} refused by libpcap, as expected"))
        } else {
            Err(problems)
        };
    }
    let mut problems = Vec::new();
    let mut figures = format!("{name:<32}");
    for decap in [false, true] {
        let mode = if decap { "decap" } else { "outer" };
        let expected = reference(&packets, decap);
        let report = match replay(&path, decap) {
            Ok(report) => report,
            Err(e) => {
                problems.push(format!("{mode}: {e}"));
                continue;
            }
        };
        let got = reported(&report);
        figures += &format!(
            " {mode}: {:>6} packets {:>6} flows {:>3} fallback {:?}",
            got.packets,
            got.flows.len(),
            got.decap_fallback,
            got.unkeyed
        );
        if report.counting != Counting::Exact {
            problems.push(format!("{mode}: counting {}", report.counting));
        }
        if flow_table(&report.top_flows_by_bytes) != got.flows {
            problems.push(format!("{mode}: the by-bytes list holds other flows"));
        }
        if got.flows.len() != report.top_flows.len() {
            problems.push(format!("{mode}: a flow is listed twice"));
        }
        if report.top_flows.len() >= ALL_FLOWS {
            problems.push(format!(
                "{mode}: the list is full, so it may be cut: raise ALL_FLOWS"
            ));
        }
        for (what, a, b) in [
            ("packets", got.packets, expected.packets),
            ("bytes", got.bytes, expected.bytes),
            (
                "decap fallback packets",
                got.decap_fallback,
                expected.decap_fallback,
            ),
        ] {
            if a != b {
                problems.push(format!("{mode}: {what} {a}, tshark {b}"));
            }
        }
        if got.unkeyed != expected.unkeyed {
            problems.push(format!(
                "{mode}: unparsed {:?}, tshark could not key {:?}",
                got.unkeyed, expected.unkeyed
            ));
        }
        let differing: Vec<_> = got
            .flows
            .keys()
            .chain(expected.flows.keys())
            .filter(|key| got.flows.get(key) != expected.flows.get(key))
            .collect();
        if let Some(key) = differing.first() {
            problems.push(format!(
                "{mode}: {} flows differ, e.g. {key:?}: hhmon (packets, bytes) {:?}, tshark {:?}",
                differing.len(),
                got.flows.get(key),
                expected.flows.get(key)
            ));
        }
    }
    if problems.is_empty() {
        Ok(figures)
    } else {
        Err(problems)
    }
}

#[test]
fn exact_flow_tables_equal_tsharks_on_every_capture_with_and_without_decap() {
    let shipped = captures::all();
    for capture in shipped {
        if let Reading::Refused { why, .. } = capture.reading {
            eprintln!("{}: {why}", capture.name);
        }
    }
    let queue = Mutex::new(shipped.iter());
    let results = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some(capture) = queue.lock().unwrap().next() else {
                    break;
                };
                let result = check(capture.name, capture.reading);
                results.lock().unwrap().push((capture.name, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(name, _)| *name);
    let mut failures = Vec::new();
    for (name, result) in results {
        match result {
            Ok(figures) => eprintln!("{figures}"),
            Err(problems) => failures.push(format!("{name}: {}", problems.join("; "))),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
